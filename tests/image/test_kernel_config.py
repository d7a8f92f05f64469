"""test_kernel_config: kernel-config/ fragments and tools/check-kernel-config (issue 9).

Debian's kernel of each board (board/*/board.conf KERNEL_PKG, the metapackage
resolved to linux-image-6.1.0-NN-<arch> through its Depends) is fetched with
tools/fetch-debs into $SBC_BUILD/debs (the build's cache: a second run
downloads nothing); only its /boot/config-* is extracted. The checker must
pass on it, fail on copies with options taken out, refuse unreadable input,
and choose the fragments of the config's arch. The fragment notation is
tested with fragments written here (kernel-config/README.md).

Fixtures of this file are named kconfig_* (tests/image/ is shared).
"""
import gzip
import os
import re
import subprocess

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
CHECK = os.path.join(REPO, "tools", "check-kernel-config")
FETCH = os.path.join(REPO, "tools", "fetch-debs")
FRAGMENTS = os.path.join(REPO, "kernel-config")
BUILD = os.environ.get("SBC_BUILD", os.path.join(REPO, "build"))
PYTHON = "/usr/bin/python3"

LINE = re.compile(r"^(missing|wrong|optional) (CONFIG_\w+) want=(\S+) have=(\S+) "
                  r"\(([\w.-]+\.config)\) (.+)$")
SUMMARY = re.compile(r"^summary: (\d+) options from (\d+) fragments \(([^)]*)\) against (.+) "
                     r"\(([\w ]+)\): (\d+) missing, (\d+) wrong, (\d+) optional not set: "
                     r"(OK|FAIL)$")
KERNEL_ARCH = {"amd64": "x86_64", "arm64": "arm64"}


def board_conf(board):
    conf = {}
    with open(os.path.join(REPO, "board", board, "board.conf"), encoding="utf-8") as f:
        for line in f:
            m = re.match(r"^([A-Z_][A-Z0-9_]*)=(.*)$", line.strip())
            if m:
                conf[m.group(1)] = m.group(2).strip("\"'")
    return conf


BOARDS = sorted(d for d in os.listdir(os.path.join(REPO, "board"))
                if os.path.isfile(os.path.join(REPO, "board", d, "board.conf")))


def run_check(*args, stdin=None, user=None):
    return subprocess.run([CHECK] + [str(a) for a in args], input=stdin,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=60, user=user)


def parse(out):
    """The checker's stdout -> (the option lines' matches, the summary's match); asserts the format."""
    lines = out.splitlines()
    assert lines, "no output"
    opts = []
    for line in lines[:-1]:
        m = LINE.match(line)
        assert m, "not an option line: %r" % line
        opts.append(m)
    s = SUMMARY.match(lines[-1])
    assert s, "not a summary line: %r" % lines[-1]
    kinds = [m.group(1) for m in opts]
    assert (int(s.group(6)), int(s.group(7)), int(s.group(8))) == \
        (kinds.count("missing"), kinds.count("wrong"), kinds.count("optional"))
    return opts, s


def fetch(arch, pkg):
    """tools/fetch-debs one package (no --deps) into the build's cache; its .deb path."""
    if not os.access(FETCH, os.X_OK):
        pytest.fail("tools/fetch-debs is missing: it fetches Debian's kernel (issue 9)")
    r = subprocess.run([FETCH, "--arch", arch, "--cache", os.path.join(BUILD, "debs"), pkg],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=900)
    assert r.returncode == 0, "fetch-debs %s %s: %s" % (arch, pkg, r.stderr.strip())
    debs = [line for line in r.stdout.splitlines() if line.endswith(".deb")]
    assert len(debs) == 1, r.stdout
    return debs[0]


def kernel_package(meta_deb):
    """linux-image-6.1.0-NN-<arch> from the metapackage's Depends."""
    r = subprocess.run(["dpkg-deb", "-f", meta_deb, "Depends"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, check=True)
    names = re.findall(r"\b(linux-image-\d[\w.+-]*)", r.stdout)
    assert names, "%s: no linux-image-<version> in Depends: %s" % (meta_deb, r.stdout)
    return names[0]


def extract_config(deb, dest):
    """Only ./boot/config-* of the kernel package into dest; its path."""
    os.makedirs(dest, exist_ok=True)
    deb_p = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", deb], stdout=subprocess.PIPE)
    tar = subprocess.run(["tar", "-x", "-C", dest, "--wildcards", "./boot/config-*"],
                         stdin=deb_p.stdout, stderr=subprocess.PIPE, text=True)
    deb_p.stdout.close()
    deb_p.wait()
    assert tar.returncode == 0 and deb_p.returncode == 0, tar.stderr
    found = os.listdir(os.path.join(dest, "boot"))
    assert len(found) == 1, found
    return os.path.join(dest, "boot", found[0])


@pytest.fixture(scope="module")
def kconfig_debian(tmp_path_factory):
    """board -> (its kernel arch, the path of Debian's config of its kernel), fetched once."""
    cache = {}

    def get(board):
        if board not in cache:
            conf = board_conf(board)
            meta = fetch(conf["ARCH"], conf["KERNEL_PKG"])
            deb = fetch(conf["ARCH"], kernel_package(meta))
            path = extract_config(deb, str(tmp_path_factory.mktemp("kconfig-" + board)))
            cache[board] = (KERNEL_ARCH[conf["ARCH"]], path)
        return cache[board]
    return get


def edited(src, dst, drop=(), unset=()):
    """A copy of config src at dst with the lines of drop removed and unset turned off."""
    out = []
    with open(src, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"^(CONFIG_\w+)=", line)
            if m and m.group(1) in drop:
                continue
            if m and m.group(1) in unset:
                line = "# %s is not set\n" % m.group(1)
            out.append(line)
    with open(dst, "w", encoding="utf-8") as f:
        f.writelines(out)
    return dst


def fragment_names(summary):
    return set(summary.group(3).split(", "))


def arch_fragments(arch):
    """The fragments that apply to arch: the general ones and NAME-<arch>."""
    names = set()
    for f in os.listdir(FRAGMENTS):
        if not f.endswith(".config"):
            continue
        stem = f[:-len(".config")]
        for_arch = [a for a in KERNEL_ARCH.values() if stem.endswith("-" + a)]
        if not for_arch or for_arch == [arch]:
            names.add(stem)
    return names


@pytest.mark.parametrize("board", BOARDS)
def test_debian_kernel_has_every_option(kconfig_debian, board):
    arch, config = kconfig_debian(board)
    r = run_check("--board", board, config)
    opts, s = parse(r.stdout)
    missing = [m.group(0) for m in opts if m.group(1) != "optional"]
    assert r.returncode == 0 and not missing, \
        "Debian's kernel of board %s lacks:\n%s" % (board, "\n".join(missing) or r.stderr)
    assert s.group(9) == "OK" and s.group(5) == arch
    assert fragment_names(s) == arch_fragments(arch)
    assert "nic-" + arch in fragment_names(s)


@pytest.mark.parametrize("board", BOARDS)
def test_without_packet_and_nf_tables_fails(kconfig_debian, board, tmp_path):
    _, config = kconfig_debian(board)
    bad = edited(config, str(tmp_path / "config"), drop={"CONFIG_PACKET"},
                 unset={"CONFIG_NF_TABLES"})
    r = run_check(bad)
    opts, s = parse(r.stdout)
    assert r.returncode == 1 and s.group(9) == "FAIL"
    got = {(m.group(1), m.group(2), m.group(4), m.group(5)) for m in opts}
    assert got == {("missing", "CONFIG_PACKET", "absent", "packet.config"),
                   ("missing", "CONFIG_NF_TABLES", "n", "netfilter.config")}
    # the same from stdin
    with open(bad, encoding="utf-8") as f:
        r2 = run_check("-", stdin=f.read())
    assert r2.returncode == 1 and [m.group(2) for m in parse(r2.stdout)[0]] == \
        [m.group(2) for m in opts]


def test_gzip_config_is_read(kconfig_debian, tmp_path):
    _, config = kconfig_debian(BOARDS[0])
    with open(config, "rb") as f:
        data = f.read()
    gz = tmp_path / "config.gz"
    gz.write_bytes(gzip.compress(data))
    assert run_check(gz).returncode == 0
    gz.write_bytes(gzip.compress(data.replace(b"\nCONFIG_PACKET=y\n", b"\n")))
    r = run_check(gz)
    assert r.returncode == 1 and "missing CONFIG_PACKET " in r.stdout


def test_unreadable_input_exits_2(tmp_path):
    cases = {"nonexistent": tmp_path / "no-such-config",
             "directory": tmp_path}
    junk = tmp_path / "not-a-config"
    junk.write_text("just some text\nno options here\n")
    cases["not a config"] = junk
    badgz = tmp_path / "bad.gz"
    badgz.write_bytes(b"\x1f\x8b\x08\x00garbage")
    cases["bad gzip"] = badgz
    for what, path in cases.items():
        r = run_check(path)
        assert r.returncode == 2, what
        assert r.stdout == "", what
        assert "check-kernel-config: error: %s" % path in r.stderr, (what, r.stderr)


def test_file_without_read_permission_exits_2(tmp_path):
    path = tmp_path / "config"
    path.write_text("CONFIG_PACKET=y\n")
    path.chmod(0)
    # root reads any file: run as nobody (who cannot read it) when we are root
    r = run_check(path, user=65534 if os.geteuid() == 0 else None)
    assert r.returncode == 2 and r.stdout == ""
    assert "%s: cannot read" % path in r.stderr


def test_arm64_config_is_checked_against_nic_arm64(kconfig_debian, tmp_path):
    arm = [b for b in BOARDS if board_conf(b)["ARCH"] == "arm64"]
    x86 = [b for b in BOARDS if board_conf(b)["ARCH"] == "amd64"]
    assert arm and x86, "need an arm64 and an amd64 board"
    _, config = kconfig_debian(arm[0])
    r = run_check(config)                  # no --board: the arch from CONFIG_ARM64=y
    _, s = parse(r.stdout)
    assert r.returncode == 0 and s.group(5) == "arm64"
    assert "nic-arm64" in fragment_names(s) and "nic-x86_64" not in fragment_names(s)
    # an option only nic-x86_64 wants is not asked of an arm64 kernel ...
    assert "CONFIG_E1000=" in open(os.path.join(FRAGMENTS, "nic-x86_64.config")).read()
    assert "CONFIG_E1000=" not in open(os.path.join(FRAGMENTS, "nic-arm64.config")).read()
    r = run_check(edited(config, str(tmp_path / "no-e1000"), drop={"CONFIG_E1000"}))
    assert r.returncode == 0, r.stdout
    # ... one of nic-arm64 is
    r = run_check(edited(config, str(tmp_path / "no-stmmac"), unset={"CONFIG_STMMAC_ETH"}))
    opts, _ = parse(r.stdout)
    assert r.returncode == 1
    assert [(m.group(2), m.group(5)) for m in opts] == [("CONFIG_STMMAC_ETH", "nic-arm64.config")]


def test_board_chooses_the_arch(kconfig_debian):
    x86 = [b for b in BOARDS if board_conf(b)["ARCH"] == "amd64"]
    arm = [b for b in BOARDS if board_conf(b)["ARCH"] == "arm64"]
    _, config = kconfig_debian(x86[0])
    # an x86_64 kernel checked for the arm64 board: not that board's arch, not its console
    r = run_check("--board", arm[0], config)
    opts, s = parse(r.stdout)
    assert r.returncode == 1 and s.group(5) == "arm64"
    names = {(m.group(2), m.group(5)) for m in opts}
    assert ("CONFIG_ARM64", "base-arm64.config") in names
    assert ("CONFIG_SERIAL_AMBA_PL011", "base-arm64.config") in names
    r = run_check("--board", "no-such-board", config)
    assert r.returncode == 2 and "no-such-board" in r.stderr
    r = run_check("--board", x86[0], "--arch", "arm64", config)
    assert r.returncode == 2


def write(path, text):
    path.write_text(text)
    return path


@pytest.fixture
def kconfig_scratch(tmp_path):
    """A fragment folder and a config written here, for the notation."""
    frag = tmp_path / "frags"
    frag.mkdir()
    write(frag / "one.config", "\n".join([
        "## one.config: the notation",
        "# built in, nothing else",
        "CONFIG_STRICT=y",
        "# built in preferred [modular-ok]",
        "CONFIG_MODOK=y",
        "# a module, or built in",
        "CONFIG_MOD=m",
        "# must be off, set here",
        "# CONFIG_OFF is not set",
        "# must be off and is",
        "# CONFIG_OFF2 is not set",
        "# a string",
        'CONFIG_STR="rtc0"',
        "# only nice to have [optional]",
        "CONFIG_OPT=m",
        "# a reason over",
        "# two lines",
        "CONFIG_TWO=y",
        ""]))
    write(frag / "only-arm64.config", "# arm64 only\nCONFIG_ARMONLY=y\n")
    config = write(tmp_path / "config", "\n".join([
        "CONFIG_X86_64=y",
        "CONFIG_STRICT=m",
        "CONFIG_MODOK=m",
        "CONFIG_MOD=y",
        "CONFIG_OFF=y",
        'CONFIG_STR="rtc1"',
        "# CONFIG_OPT is not set",
        ""]))
    return frag, config


def test_notation(kconfig_scratch):
    frag, config = kconfig_scratch
    r = run_check("--dir", frag, config)
    opts, s = parse(r.stdout)
    got = {m.group(2): (m.group(1), m.group(3), m.group(4)) for m in opts}
    assert got == {
        "CONFIG_STRICT": ("wrong", "y", "m"),        # =m does not do for =y ...
        "CONFIG_OFF": ("wrong", "n", "y"),
        "CONFIG_STR": ("wrong", '"rtc0"', '"rtc1"'),
        "CONFIG_OPT": ("optional", "m", "n"),
        "CONFIG_TWO": ("missing", "y", "absent"),
    }                                                 # ... but does with [modular-ok]
    assert r.returncode == 1
    assert s.group(3) == "one" and s.group(5) == "x86_64"   # only-arm64: not for x86_64
    reason = [m.group(6) for m in opts if m.group(2) == "CONFIG_TWO"]
    assert reason == ["a reason over two lines"]
    # fixed, only the optional one is left: exit 0
    write(config, "CONFIG_ARM64=y\nCONFIG_STRICT=y\nCONFIG_MODOK=y\nCONFIG_MOD=m\n"
          'CONFIG_STR="rtc0"\nCONFIG_TWO=y\nCONFIG_ARMONLY=y\n')
    r = run_check("--dir", frag, config)
    opts, s = parse(r.stdout)
    assert r.returncode == 0 and s.group(9) == "OK"
    assert [m.group(2) for m in opts] == ["CONFIG_OPT"]
    assert s.group(3) == "one, only-arm64" and s.group(5) == "arm64"


def test_bad_fragments_exit_2(kconfig_scratch):
    frag, config = kconfig_scratch
    write(frag / "noreason.config", "## heading only\nCONFIG_X=y\n")
    r = run_check("--dir", frag, config)
    assert r.returncode == 2 and "noreason.config:2: CONFIG_X has no reason" in r.stderr
    (frag / "noreason.config").unlink()
    write(frag / "other.config", "# disagrees with one.config\nCONFIG_MOD=y\n")
    r = run_check("--dir", frag, config)
    assert r.returncode == 2 and "fragments disagree: CONFIG_MOD" in r.stderr
    r = run_check("--dir", frag, "-f", "no-such-fragment", config)
    assert r.returncode == 2 and "no-such-fragment" in r.stderr
    # -f picks fragments by name, an arch's one too
    r = run_check("--dir", frag, "-f", "only-arm64", config)
    opts, s = parse(r.stdout)
    assert r.returncode == 1 and [m.group(2) for m in opts] == ["CONFIG_ARMONLY"]


def test_running_kernel():
    """This machine's kernel is not the image's: the checker runs and its output parses."""
    r = run_check()
    has = os.path.exists("/proc/config.gz") or \
        os.path.exists("/boot/config-" + os.uname().release)
    if not has:
        assert r.returncode == 2 and "no config of the running kernel" in r.stderr
        return
    assert r.returncode in (0, 1), r.stderr
    opts, s = parse(r.stdout)
    assert s.group(4) in ("/proc/config.gz", "/boot/config-" + os.uname().release)
    assert (r.returncode == 0) == (s.group(9) == "OK")
    # the host runs the tests: what test.config says it lacks is worth seeing in the log
    for m in opts:
        if m.group(5) == "test.config":
            print(m.group(0))
