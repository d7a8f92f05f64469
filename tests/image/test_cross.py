"""The arm64 cross build (docs/cross.md): `make cross BOARD=arm64`.

Builds once per module into $SBC_BUILD/arm64 (default build/arm64) against
the sysroot $SBC_BUILD/sysroot-arm64, then checks the result for real:
every binary of `all` but the tools is an AArch64 ELF, each library it
needs (and its interpreter) is an AArch64 file inside the sysroot, and the
binaries run under qemu-user: sbcd checks a configuration, serves SIP and
its control socket in the test network's namespaces, sbcctl queries it and
sbc-netup changes a namespace's addresses over netlink. Nothing is skipped: a
missing cross toolchain or qemu-user fails with the reason.
"""
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

import netns  # noqa: E402

BUILD = os.path.abspath(os.environ.get("SBC_BUILD") or os.path.join(REPO, "build"))
CROSS_BUILD = os.path.join(BUILD, "arm64")
SYSROOT = os.path.join(BUILD, "sysroot-arm64")
ARTEFACTS = os.path.join(BUILD, "test-artefacts", "cross")
TOOLS = {
    "aarch64-linux-gnu-gcc": "crossbuild-essential-arm64",
    "aarch64-linux-gnu-readelf": "binutils-aarch64-linux-gnu",
    "qemu-aarch64": "qemu-user",
    "file": "file",
}
EM_AARCH64 = 183
LIB_DIRS = ("lib/aarch64-linux-gnu", "usr/lib/aarch64-linux-gnu", "lib", "usr/lib")
MAKE_TIMEOUT = 1800


def sbc_version():
    with open(os.path.join(REPO, "src", "sbcd", "sbcd.h")) as f:
        m = re.search(r'#define SBC_VERSION "([^"]+)"', f.read())
    assert m, "no SBC_VERSION in src/sbcd/sbcd.h"
    return m.group(1)


def all_binaries():
    """The programs `make all` links, but the tools: asked of make itself (-n -B)."""
    fake = "/nonexistent-sbc-build"
    r = subprocess.run(["make", "--no-print-directory", "-C", REPO, "-n", "-B", "BUILD=" + fake,
                        "TOOL_BIN=", "all"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-2000:]
    names = re.findall(r"LD +%s/([^\s\"/]+)" % re.escape(fake), r.stdout)
    assert "sbcd" in names, r.stdout[-2000:]
    return sorted(set(names))


def elf_machine(path):
    """(ELF class, e_machine) of path; (None, None) if it is not an ELF file."""
    with open(path, "rb") as f:
        head = f.read(20)
    if len(head) < 20 or head[:4] != b"\x7fELF":
        return None, None
    return head[4], int.from_bytes(head[18:20], "little")


def qemu(args, timeout=120, **kw):
    return subprocess.run(["qemu-aarch64", "-L", SYSROOT] + args, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=timeout, cwd=REPO, **kw)


@pytest.fixture(scope="module")
def cross():
    """Build with `make cross BOARD=arm64`; the binaries' paths by name."""
    missing = ["%s (Debian package %s)" % (t, p) for t, p in TOOLS.items() if not shutil.which(t)]
    if missing:
        pytest.fail("the cross build needs %s: run tools/install-deps" % ", ".join(missing),
                    pytrace=False)
    os.makedirs(ARTEFACTS, exist_ok=True)
    log = os.path.join(ARTEFACTS, "make-cross.log")
    t0 = time.monotonic()
    with open(log, "wb") as out:
        try:
            r = subprocess.run(["make", "--no-print-directory", "-C", REPO, "cross",
                                "BOARD=arm64", "BUILD=" + BUILD],
                               stdout=out, stderr=subprocess.STDOUT, timeout=MAKE_TIMEOUT)
            rc = r.returncode
        except subprocess.TimeoutExpired:
            rc = "timeout (%d s)" % MAKE_TIMEOUT
    with open(os.path.join(ARTEFACTS, "times.log"), "a") as f:
        f.write("%7.1f s  make cross BOARD=arm64 (exit %s)\n" % (time.monotonic() - t0, rc))
    if rc != 0:
        pytest.fail("make cross BOARD=arm64 failed (exit %s); its output is in %s:\n%s"
                    % (rc, log, netns.log_tail(log, 30)), pytrace=False)
    return {name: os.path.join(CROSS_BUILD, name) for name in all_binaries()}


def test_every_binary_is_aarch64(cross):
    """Each program of `all` (sbcd, sbcctl, sbc-webd, sbc-netup, ...) is a 64-bit
    AArch64 ELF: by its header and by file(1)."""
    assert {"sbcd", "sbcctl", "sbc-webd"} <= set(cross), cross
    for name, path in cross.items():
        assert os.access(path, os.X_OK), "%s was not built" % path
        assert elf_machine(path) == (2, EM_AARCH64), "%s: not a 64-bit AArch64 ELF" % path
        out = subprocess.run(["file", "-b", path], stdout=subprocess.PIPE, text=True).stdout
        assert "ARM aarch64" in out, "%s: file says %s" % (path, out)


def needed(path):
    """The NEEDED libraries and the program interpreter of an ELF file."""
    dyn = subprocess.run(["aarch64-linux-gnu-readelf", "-d", "-l", "-W", path],
                         stdout=subprocess.PIPE, text=True, check=True).stdout
    libs = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dyn)
    interp = re.findall(r"Requesting program interpreter: ([^\]]+)\]", dyn)
    return libs, interp


def in_sysroot(lib):
    """The file lib resolves to inside the sysroot (links followed), or None."""
    root = os.path.realpath(SYSROOT)
    cands = [lib] if lib.startswith("/") else ["%s/%s" % (d, lib) for d in LIB_DIRS]
    for c in cands:
        p = os.path.join(root, c.lstrip("/"))
        if os.path.lexists(p):
            real = os.path.realpath(p)
            if real.startswith(root + os.sep) and os.path.isfile(real):
                return real
    return None


def test_needed_libraries_are_aarch64_files_in_the_sysroot(cross):
    """readelf -d NEEDED (and the interpreter) of each binary, and again of each
    library found, all resolve inside the sysroot to AArch64 ELF files."""
    todo = list(cross.values())
    seen = set()
    checked = 0
    while todo:
        path = todo.pop()
        libs, interp = needed(path)
        for lib in libs + interp:
            if lib in seen:
                continue
            seen.add(lib)
            real = in_sysroot(lib)
            assert real, "%s needs %s: not in %s" % (path, lib, SYSROOT)
            assert elf_machine(real) == (2, EM_AARCH64), "%s (%s) is not AArch64" % (lib, real)
            todo.append(real)
            checked += 1
    assert "libc.so.6" in seen and "/lib/ld-linux-aarch64.so.1" in seen, seen
    assert checked >= 10, seen


def test_sysroot_has_no_absolute_links(cross):
    """Absolute links would point at the host's (amd64) files: all are relative."""
    bad = []
    for dirpath, dirnames, filenames in os.walk(SYSROOT):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            if os.path.islink(p) and os.readlink(p).startswith("/"):
                bad.append("%s -> %s" % (p, os.readlink(p)))
    assert not bad, bad[:20]
    # libdbus-1-dev ships this one as an absolute link to /lib/...: rewritten.
    dev_link = os.path.join(SYSROOT, "usr/lib/aarch64-linux-gnu/libdbus-1.so")
    assert os.path.islink(dev_link) and in_sysroot("libdbus-1.so"), dev_link


def test_versions_under_qemu(cross):
    """sbcd -V (and sbc-webd, sbc-netup -V) print the source's version: the
    binaries run under qemu-aarch64 with the sysroot's libraries."""
    version = sbc_version()
    for name in ("sbcd", "sbc-webd", "sbc-netup"):
        if name not in cross:
            continue
        r = qemu([cross[name], "-V"])
        assert r.returncode == 0 and r.stdout.strip() == "%s %s" % (name, version), r


def test_sbcd_checks_a_configuration_under_qemu(cross, tmp_path):
    """sbcd -t accepts the image's sbc.ini and rejects a bad one with its errors."""
    r = qemu([cross["sbcd"], "-t", "-c", "rootfs/etc/sbc/sbc.ini"])
    assert r.returncode == 0 and "configuration OK" in r.stdout + r.stderr, r
    bad = tmp_path / "bad.ini"
    bad.write_text("[general]\nno_such_key = 1\n")
    r = qemu([cross["sbcd"], "-t", "-c", str(bad)])
    assert r.returncode != 0, r
    assert "no_such_key: unknown key" in r.stderr, r


def require_netns():
    ok, why = netns.netns_available()
    if not ok:
        pytest.fail("this test needs network namespaces: %s" % why, pytrace=False)


def wrapper(tmp_path, binary):
    """An executable that runs binary under qemu-aarch64 (for TestNet.start_sbcd)."""
    w = tmp_path / ("qemu-" + os.path.basename(binary))
    w.write_text('#!/bin/sh\nexec qemu-aarch64 -L "%s" "%s" "$@"\n' % (SYSROOT, binary))
    w.chmod(w.stat().st_mode | stat.S_IXUSR)
    return str(w)


def test_sbcd_serves_and_sbcctl_queries_it_under_qemu(cross, tmp_path):
    """The arm64 sbcd, in the sbc namespace of the test network, answers OPTIONS
    on both zones; the arm64 sbcctl gets its status over the control socket."""
    require_netns()
    with netns.TestNet(str(tmp_path / "net")) as net:
        cfg = net.write_config()
        sbcd = net.start_sbcd(cfg, ready="options", timeout=60,
                              binary=wrapper(tmp_path, cross["sbcd"]))
        sock = net.configs[cfg]["general"]["control_socket"]
        r = qemu([cross["sbcctl"], "-s", sock, "--json", "status"], timeout=60)
        assert r.returncode == 0, r
        status = json.loads(r.stdout)
        assert status["version"] == sbc_version(), status
        assert status["pid"] == sbcd.pid, status
        zones = json.dumps(status)
        assert "203.0.113.1" in zones and "10.20.0.1" in zones, status
        r = qemu([cross["sbcctl"], "-s", sock + ".missing", "status"], timeout=60)
        assert r.returncode == 3 and "cannot connect" in r.stderr, r


def test_netup_changes_addresses_under_qemu(cross, tmp_path):
    """The arm64 sbc-netup, in the sbc namespace, adds the configured address to
    the WAN port over netlink (-n first: it reports, changes nothing)."""
    if "sbc-netup" not in cross:
        pytest.fail("make all builds no sbc-netup (src/netup/)", pytrace=False)
    require_netns()
    with netns.TestNet(str(tmp_path / "net")) as net:
        cfg = net.write_config(public={"address": "203.0.113.2"})
        argv = ["qemu-aarch64", "-L", SYSROOT, cross["sbc-netup"], "-c", cfg]
        r = net.run("sbc", argv + ["-n"], timeout=120)
        assert r.returncode == 0 and "would add address 203.0.113.2/24" in r.stdout, r
        assert "203.0.113.2/24" not in net.addresses("sbc", "wan")
        r = net.run("sbc", argv, timeout=120)
        assert r.returncode == 0, r
        assert "203.0.113.2/24" in net.addresses("sbc", "wan"), r


def fetch_debs(*args):
    return subprocess.run([os.path.join(REPO, "tools", "fetch-debs"), "--arch", "arm64",
                           "--cache", os.path.join(BUILD, "debs")] + list(args),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=600)


def test_fetch_debs_second_run_downloads_nothing(cross):
    """fetch-debs --deps prints one cached .deb per line (the closure: libjansson4,
    libc6, ...); a second run prints the same and downloads nothing."""
    first = fetch_debs("--deps", "libjansson-dev")
    assert first.returncode == 0, first
    paths = first.stdout.split()
    names = [os.path.basename(p).split("_")[0] for p in paths]
    assert names[0] == "libjansson-dev" and {"libjansson4", "libc6"} <= set(names), names
    stamps = {p: os.stat(p).st_mtime_ns for p in paths}
    assert all(p.endswith("_arm64.deb") or p.endswith("_all.deb") for p in paths), paths
    again = fetch_debs("--deps", "libjansson-dev")
    assert again.returncode == 0 and again.stdout.split() == paths, again
    assert "downloading" not in again.stderr, again.stderr
    assert {p: os.stat(p).st_mtime_ns for p in paths} == stamps


def test_fetch_debs_fails_on_a_missing_package(cross):
    """An unknown package: non-zero exit, its name on stderr, nothing on stdout."""
    r = fetch_debs("libjansson-dev", "sbc-no-such-package")
    assert r.returncode != 0, r
    assert "sbc-no-such-package" in r.stderr and r.stdout == "", r
