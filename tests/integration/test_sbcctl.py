"""sbcctl, the command line over sbcd's control socket (docs/sbcctl.md).

sbcctl runs on the host against the socket of an sbcd started by the netns
harness (a unix socket on the file system: no namespace needed to reach
it). A scanner OPTIONS (User-Agent friendly-scanner) from pub bans its
source; sbcctl's tables, --json, call and exit codes are then checked
against that. The harness allow-lists 203.0.113.0/24, so the guard test
removes the allow list (nobody).
"""
import json
import os
import socket
import subprocess
import time

import pytest

import netns
from netns import PUB_EXTRA, SBC_LAN, SBC_WAN

SBCCTL = os.path.join(os.environ.get("SBC_BUILD", os.path.join(netns.REPO, "build")), "sbcctl")
SIP_PORT = 5060
NOBODY = {"guard": {"allow": None}}
_seq = iter(range(1, 1 << 30))

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHED, EXIT_MALFORMED = 0, 1, 2, 3, 4


def control_socket(net):
    return os.path.join(net.rundir, "sbcd.sock")


def sbcctl(sock, *args, timeout=20):
    """Run sbcctl -s sock ARGS: the CompletedProcess (text)."""
    if not os.path.exists(SBCCTL):
        pytest.fail("no sbcctl at %s (make all, or set SBC_BUILD)" % SBCCTL, pytrace=False)
    return subprocess.run([SBCCTL, "-s", sock, "-t", "5"] + list(args), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=timeout)


def ok(r):
    assert r.returncode == EXIT_OK, "exit %d\nstdout: %s\nstderr: %s" % (
        r.returncode, r.stdout, r.stderr)
    return r.stdout


def rows(out):
    """The lines of a table, each split on white space."""
    return [line.split() for line in out.splitlines() if line.strip()]


def scanner_probe(net, src):
    """One OPTIONS with User-Agent friendly-scanner from src to sbcd's public
    address; a scanner is banned on its first packet, so no answer comes."""
    n = next(_seq)
    text = ("OPTIONS sip:%s:%d SIP/2.0\r\n"
            "Via: SIP/2.0/UDP %s:5060;branch=z9hG4bK-ctl%d-%d;rport\r\n"
            "Max-Forwards: 70\r\n"
            "From: <sip:probe@%s>;tag=ctl%d\r\n"
            "To: <sip:%s:%d>\r\n"
            "Call-ID: sbcctl-%d-%d@%s\r\n"
            "CSeq: 1 OPTIONS\r\n"
            "User-Agent: friendly-scanner\r\n"
            "Content-Length: 0\r\n\r\n"
            % (SBC_WAN, SIP_PORT, src, os.getpid(), n, src, n, SBC_WAN, SIP_PORT,
               os.getpid(), n, src))
    r = net.sip_exchange("pub", "udp", SBC_WAN, SIP_PORT,
                         [{"send": text}, {"expect": 1, "timeout": 0.5}], src=src, timeout=10)
    return [m.split("\r\n", 1)[0] for m in r["messages"]]


def wait_ban_json(sock, src, timeout=10.0):
    """guard bans --json once src is listed (bounded wait)."""
    deadline = time.monotonic() + timeout
    while True:
        bans = json.loads(ok(sbcctl(sock, "--json", "guard", "bans")))
        assert isinstance(bans, list), bans
        if any(b.get("source") == src for b in bans):
            return bans
        if time.monotonic() >= deadline:
            pytest.fail("%s not banned within %s s: %s" % (src, timeout, bans), pytrace=False)
        time.sleep(0.1)


def test_usage_and_unreachable(tmp_path):
    """No sbcd needed: --help exits 0 and documents the exit codes; an
    unknown command, a bad argument and a bad option exit 2 with the usage
    on stderr; a socket that does not exist exits 3 naming the path and
    the errno text; a socket nobody listens on exits 3 too."""
    sock = str(tmp_path / "none.sock")
    r = sbcctl(sock, "--help")
    assert r.returncode == EXIT_OK and "usage: sbcctl" in r.stdout, r
    assert "malformed response" in r.stdout and "cannot reach sbcd" in r.stdout, r.stdout
    for args in (["frobnicate"], ["guard", "nope"], ["guard", "top", "x"],
                 ["guard", "timeline", "hour"], ["call", "help", "[1]"], ["status", "extra"],
                 ["--bogus", "status"], []):
        r = sbcctl(sock, *args)
        assert r.returncode == EXIT_USAGE, (args, r)
        assert "usage: sbcctl" in r.stderr and r.stdout == "", (args, r)
    r = sbcctl(sock, "status")
    assert r.returncode == EXIT_UNREACHED, r
    assert sock in r.stderr and "No such file or directory" in r.stderr, r.stderr
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(sock)   # bound, never listening: connection refused
    try:
        r = sbcctl(sock, "guard", "bans")
        assert r.returncode == EXIT_UNREACHED and "Connection refused" in r.stderr, r
    finally:
        s.close()


def test_status(testnet, sbcd):
    """status: version, pid (sbcd's), config path and both zones with
    their interface, address and link up; exit 0. --json gives the same
    as JSON."""
    sock = control_socket(testnet)
    out = ok(sbcctl(sock, "status"))
    lines = rows(out)
    fields = {l[0]: l[1:] for l in lines}
    assert fields.get("pid", ["-"])[0].isdigit(), out
    assert fields.get("version", ["-"])[0] != "-", out
    assert fields.get("config", ["-"])[0].startswith("/"), out
    zones = {l[0]: l[1:] for l in lines if l[0] in ("public", "private")}
    assert zones.get("public") == ["wan", SBC_WAN, "up"], out
    assert zones.get("private") == ["lan", SBC_LAN, "up"], out
    st = json.loads(ok(sbcctl(sock, "--json", "status")))
    assert sorted(z["name"] for z in st["zones"]) == ["private", "public"], st


@pytest.mark.sbc_config(NOBODY)
def test_guard_scanner(testnet, sbcd):
    """A scanner OPTIONS from 203.0.113.11 bans it: guard bans lists it with
    reason scanner (also as JSON); guard stats has a scanner row; guard top
    lists it banned; call guard.top {"n": 1} works and {"n": 0} exits 1
    with sbcd's error; guard unban exits 0 and a second unban exits 1 with
    the error on stderr; then guard bans says "no bans"."""
    sock = control_socket(testnet)
    src = PUB_EXTRA[0]
    assert scanner_probe(testnet, src) == []
    bans = wait_ban_json(sock, src)
    ban = [b for b in bans if b["source"] == src][0]
    assert ban["reason"] == "scanner", ban

    out = ok(sbcctl(sock, "guard", "bans"))
    table = rows(out)
    assert table[0] == ["SOURCE", "REASON", "PACKETS", "STRIKES", "EXPIRES-IN", "FIRST-SEEN"], out
    mine = [r for r in table[1:] if r[0] == src]
    assert len(mine) == 1 and mine[0][1] == "scanner" and mine[0][3] == "1", out
    assert mine[0][4].endswith("s") and int(mine[0][4][:-1]) > 0, out

    out = ok(sbcctl(sock, "guard", "stats"))
    scanner = [r for r in rows(out) if r[0] == "scanner"]
    assert len(scanner) == 1 and int(scanner[0][1]) >= 1 and scanner[0][2] == "1", out
    assert not [r for r in rows(out) if r[0] == "toll_fraud"], "zero row shown: " + out
    assert [r for r in rows(ok(sbcctl(sock, "guard", "stats", "--all"))) if r[0] == "toll_fraud"]

    out = ok(sbcctl(sock, "guard", "top", "5"))
    assert [r for r in rows(out) if r[0] == src and r[2] == "scanner" and r[3] == "yes"], out
    out = ok(sbcctl(sock, "guard", "timeline"))
    assert [r for r in rows(out) if r[0] == "scanner" and int(r[1]) >= 1], out

    top = json.loads(ok(sbcctl(sock, "call", "guard.top", '{"n": 1}')))
    assert isinstance(top, list) and len(top) == 1 and top[0]["source"] == src, top
    r = sbcctl(sock, "call", "guard.top", '{"n": 0}')
    assert r.returncode == EXIT_FAILED and r.stdout == "", r
    assert r.stderr.startswith("sbcctl: guard.top: ") and '"n"' in r.stderr, r.stderr

    r = sbcctl(sock, "guard", "unban", src)
    assert r.returncode == EXIT_OK and r.stdout.strip() == "unbanned %s" % src, r
    r = sbcctl(sock, "guard", "unban", src)
    assert r.returncode == EXIT_FAILED, r
    assert r.stderr.startswith("sbcctl: guard.unban: ") and src in r.stderr, r.stderr
    assert ok(sbcctl(sock, "guard", "bans")).strip() == "no bans"
