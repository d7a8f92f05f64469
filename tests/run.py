#!/usr/bin/python3
"""run: the whole test suite of sbc, as `make test` runs it.

Phases: unit tests (cmocka), the same unit tests under ASan+UBSan, every
libFuzzer harness for FUZZ_SECONDS (at least 20), then the integration tests
(pytest), then the image tests (pytest on tests/image: each board's
firmware image built and booted under qemu). Each phase's own output is
shown; the last line is the total, "N passed, N failed", and the exit
status is non-zero if anything failed.
"""
import glob
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("SBC_BUILD", os.path.join(ROOT, "build"))
FUZZ_SECONDS = max(20, int(os.environ.get("FUZZ_SECONDS", "20")))
MAKE = ["make", "--no-print-directory", "-C", ROOT]

totals = {"passed": 0, "failed": 0}


def banner(text):
    print("\n=== %s" % text, flush=True)


def count_cmocka(output, rc, name):
    """Count one cmocka binary's results from its summary lines."""
    passed = sum(int(n) for n in re.findall(r"\[  PASSED  \] (\d+) test", output))
    failed = sum(int(n) for n in re.findall(r"\[  FAILED  \] (\d+) test", output))
    if rc != 0 and failed == 0:
        # crashed or aborted before cmocka could report: that is a failure
        print("%s: exit status %d without a failure report" % (name, rc))
        failed = 1
    return passed, failed


def run_unit(build_dir, label):
    bins = sorted(glob.glob(os.path.join(build_dir, "tests", "test_*")))
    bins = [b for b in bins if os.access(b, os.X_OK) and not b.endswith(".d")]
    if not bins:
        print("%s: no unit test binaries in %s" % (label, build_dir))
        totals["failed"] += 1
        return
    for b in bins:
        proc = subprocess.run([b], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, errors="replace")
        sys.stdout.write(proc.stdout)
        p, f = count_cmocka(proc.stdout, proc.returncode, os.path.basename(b))
        totals["passed"] += p
        totals["failed"] += f


def phase_make(args, label):
    proc = subprocess.run(MAKE + args)
    if proc.returncode != 0:
        print("%s: build failed" % label)
        totals["failed"] += 1
        return False
    return True


def run_fuzz():
    if not phase_make(["fuzz-build"], "fuzz"):
        return
    bins = sorted(glob.glob(os.path.join(ROOT, "build-fuzz", "fuzz_*")))
    bins = [b for b in bins if os.access(b, os.X_OK) and not b.endswith((".log", ".d"))]
    proc = subprocess.run([os.path.join(ROOT, "tools", "run-fuzz"),
                           os.path.join(ROOT, "build-fuzz"), str(FUZZ_SECONDS)] + bins,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          errors="replace")
    sys.stdout.write(proc.stdout)
    m = re.search(r"fuzz: (\d+) passed, (\d+) failed", proc.stdout)
    if not m:
        totals["failed"] += 1
        return
    totals["passed"] += int(m.group(1))
    totals["failed"] += int(m.group(2))


def run_pytest(folder="integration", junit_name="pytest.xml"):
    junit = os.path.join(BUILD, junit_name)
    env = dict(os.environ, SBC_BUILD=BUILD)
    proc = subprocess.run(["/usr/bin/python3", "-m", "pytest", "-q", "-rfE",
                           "--junitxml=" + junit, os.path.join(ROOT, "tests", folder)],
                          cwd=ROOT, env=env)
    if proc.returncode == 5:
        print("%s: no tests collected" % folder)
        totals["failed"] += 1
        return
    try:
        suite = ET.parse(junit).getroot()
        if suite.tag == "testsuites":
            suite = suite[0]
        n = int(suite.get("tests", 0))
        bad = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        skipped = int(suite.get("skipped", 0))
        totals["passed"] += n - bad - skipped
        totals["failed"] += bad
    except (OSError, ET.ParseError, ValueError):
        totals["failed"] += 1
    if proc.returncode not in (0, 1):
        totals["failed"] += 1


def main():
    banner("unit tests")
    run_unit(BUILD, "unit")
    banner("unit tests under ASan+UBSan")
    if phase_make(["BUILD=build-asan", "SAN=1", "unit-build"], "asan"):
        run_unit(os.path.join(ROOT, "build-asan"), "asan")
    banner("fuzzers, %d s each" % FUZZ_SECONDS)
    run_fuzz()
    banner("integration tests")
    run_pytest()
    banner("image tests")
    run_pytest("image", "pytest-image.xml")
    print("\n%d passed, %d failed" % (totals["passed"], totals["failed"]))
    return 0 if totals["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
