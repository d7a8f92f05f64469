"""sbcctl, the command line over sbcd's control socket (docs/sbcctl.md).

sbcctl runs on the host against the socket of an sbcd started by the netns
harness (a unix socket on the file system: no namespace needed to reach
it). A scanner OPTIONS (User-Agent friendly-scanner) from pub bans its
source; sbcctl's tables, --json, call and exit codes are then checked
against that. The harness allow-lists 203.0.113.0/24, so the guard test
removes the allow list (nobody). A call (sipp phone in pub, sipp core in
priv), a REGISTER and a configured trunk are checked in the calls,
registrations and trunks tables (the call also in calls show, with RTP
sent to its relay port); config get/validate/apply against the
fixture's file. The tests of commands other helpers add to sbcd (guard
allow, trace, metrics, restart) skip while `sbcctl call help` does not
list them.
"""
import json
import os
import re
import socket
import subprocess
import time

import pytest

import ctlclient
import netns
from netns import PBX, PUB, PUB_EXTRA, SBC_LAN, SBC_WAN, wait_for
from sipmsg import scanner_probe

SBCCTL = os.path.join(os.environ.get("SBC_BUILD", os.path.join(netns.REPO, "build")), "sbcctl")
SIP_PORT = 5060
NOBODY = {"guard": {"allow": None}}
PHONE = PUB_EXTRA[0]             # 203.0.113.11
TRUNK = {"trunk:carrier": {"zone": "public", "address": PUB, "max_calls": 5}}
COMMAND_WORDS = ["status", "stats", "calls", "calls show", "calls hangup", "registrations", "trunks",
                 "config get", "config validate", "config apply", "guard stats", "guard bans",
                 "guard unban", "guard top", "guard timeline", "guard allow", "guard allow add",
                 "guard allow remove", "trace start", "trace stop", "trace status", "metrics",
                 "restart", "call", "help"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHED, EXIT_MALFORMED = 0, 1, 2, 3, 4


def control_socket(net):
    return os.path.join(net.rundir, "sbcd.sock")


def sbcctl(sock, *args, timeout=20, stdin=None):
    """Run sbcctl -s sock ARGS (stdin: text for its standard input): the
    CompletedProcess (text)."""
    if not os.path.exists(SBCCTL):
        pytest.fail("no sbcctl at %s (make all, or set SBC_BUILD)" % SBCCTL, pytrace=False)
    return subprocess.run([SBCCTL, "-s", sock, "-t", "5"] + list(args), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=timeout, input=stdin,
                          stdin=subprocess.DEVNULL if stdin is None else None)


def ok(r):
    assert r.returncode == EXIT_OK, "exit %d\nstdout: %s\nstderr: %s" % (
        r.returncode, r.stdout, r.stderr)
    return r.stdout


def rows(out):
    """The lines of a table, each split on white space."""
    return [line.split() for line in out.splitlines() if line.strip()]


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


def table(out):
    """The lines of a table, cells split on two spaces or more (the gap
    between columns), so a cell with one space (a local time) stays one."""
    return [re.split(r"\s{2,}", l.strip()) for l in out.splitlines() if l.strip()]


def need_commands(sock, *cmds):
    """Skip unless sbcd has every one of cmds (sbcctl call help)."""
    have = json.loads(ok(sbcctl(sock, "call", "help")))
    missing = [c for c in cmds if c not in have]
    if missing:
        pytest.skip("sbcd has no %s command yet (not in `sbcctl call help`)"
                    % ", ".join(missing))


def read(path):
    with open(path) as f:
        return f.read()


def test_usage_and_unreachable(tmp_path):
    """No sbcd needed: --help exits 0 and documents the exit codes; an
    unknown command, a bad argument and a bad option exit 2 with the usage
    on stderr; a socket that does not exist exits 3 naming the path and
    the errno text; a socket nobody listens on exits 3 too."""
    sock = str(tmp_path / "none.sock")
    r = sbcctl(sock, "--help")
    assert r.returncode == EXIT_OK and "usage: sbcctl" in r.stdout, r
    assert "malformed response" in r.stdout and "cannot reach sbcd" in r.stdout, r.stdout
    r2 = sbcctl(sock, "help")
    assert r2.returncode == EXIT_OK and r2.stdout == r.stdout, r2
    listed = [l.split()[0:3] for l in r.stdout.split("Commands:")[1].split("Options:")[0]
              .splitlines() if l.startswith("  ") and not l.startswith("   ")]
    for words in COMMAND_WORDS:
        n = len(words.split())
        assert words.split() in [l[:n] for l in listed], (words, r.stdout)
    for args in (["frobnicate"], ["guard", "nope"], ["guard", "top", "x"],
                 ["guard", "timeline", "hour"], ["call", "help", "[1]"], ["status", "extra"],
                 ["--bogus", "status"], [], ["help", "me"], ["stats", "x"], ["calls", "bogus"],
                 ["calls", "hangup"], ["calls", "hangup", "x"], ["calls", "hangup", "-1"],
                 ["calls", "hangup", "1", "2"], ["calls", "show"], ["calls", "show", "x"],
                 ["calls", "show", "-1"], ["calls", "show", "1", "2"],
                 ["registrations", "x"], ["trunks", "x"],
                 ["config"], ["config", "get", "x"], ["config", "validate"],
                 ["config", "apply", "a", "b"], ["config", "frob", "a"],
                 ["guard", "allow", "x"], ["guard", "allow", "add"],
                 ["guard", "allow", "add", "10.0.0.1", "note", "extra"],
                 ["guard", "allow", "remove"], ["trace"], ["trace", "start", "--zone", "moon"],
                 ["trace", "start", "--max-bytes"], ["trace", "start", "--max-s", "x"],
                 ["trace", "start", "--max-s=-5"], ["trace", "start", "--bogus", "1"],
                 ["trace", "start", "now"], ["trace", "stop", "now"], ["trace", "status", "x"],
                 ["metrics", "x"], ["restart", "now"]):
        r = sbcctl(sock, *args)
        assert r.returncode == EXIT_USAGE, (args, r)
        assert "usage: sbcctl" in r.stderr and r.stdout == "", (args, r)
    # FILE is read before sbcd is asked: one that cannot be read or sent exits 1
    missing = str(tmp_path / "missing.ini")
    r = sbcctl(sock, "config", "validate", missing)
    assert r.returncode == EXIT_FAILED and missing in r.stderr, r
    assert "No such file or directory" in r.stderr and "usage: sbcctl" not in r.stderr, r
    big = tmp_path / "big.ini"
    big.write_text("; " + "x" * (70 * 1024) + "\n")
    r = sbcctl(sock, "config", "apply", str(big))
    assert r.returncode == EXIT_FAILED and "too large for one request" in r.stderr, r
    latin = tmp_path / "latin1.ini"
    latin.write_bytes(b"; caf\xe9\n")
    r = sbcctl(sock, "config", "validate", str(latin))
    assert r.returncode == EXIT_FAILED and "not UTF-8 text" in r.stderr, r
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
    assert scanner_probe(testnet, src, "ctl") == []
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


@pytest.mark.sbc_config(TRUNK)
def test_calls_table_and_hangup(testnet, sbcd):
    """A call from a phone in pub to the core in priv: calls shows it in
    one row (id, state, duration, caller, callee, no trunk, the public and
    private peers); calls show ID has its fields and its stream's two zone
    rows (check_calls_show); calls hangup ID ends it (both sipps get their
    BYE); then "no calls", and a second hangup exits 1 with sbcd's error,
    as does calls show."""
    sock = control_socket(testnet)
    assert ok(sbcctl(sock, "calls")).strip() == "no calls"
    caller, callee = testnet.held_call(PHONE, SIP_PORT)

    def answered():
        calls = json.loads(ok(sbcctl(sock, "--json", "calls")))["calls"]
        return calls if calls and calls[0]["state"] in ("answered", "confirmed") else None
    call = wait_for(answered, 15, "the call to be answered")[0]

    out = ok(sbcctl(sock, "calls"))
    t = table(out)
    assert t[0] == ["ID", "STATE", "DURATION", "CALLER", "CALLEE", "TRUNK", "PUBLIC-PEER",
                    "PRIVATE-PEER"], out
    assert len(t) == 2, out
    cid, state, duration, src, dst, trunk, pub, priv = t[1]
    assert cid == str(call["id"]) and state in ("answered", "confirmed"), out
    assert re.fullmatch(r"\d+s", duration), out
    assert (src, dst, trunk) == ("caller", "alice", "-"), out
    assert pub.startswith(PHONE + ":") and pub.endswith("/udp"), out
    assert priv.startswith(PBX + ":") and priv.endswith("/udp"), out
    check_calls_show(testnet, sock, call["id"], pub, priv)

    r = sbcctl(sock, "calls", "hangup", cid)
    assert r.returncode == EXIT_OK and r.stdout.strip() == "hung up call %s" % cid, r
    res = caller.result(timeout=40)
    assert res.rc == 0, "caller: " + res.describe()
    res = callee.result(timeout=40)
    assert res.rc == 0, "callee: " + res.describe()
    assert ok(sbcctl(sock, "calls")).strip() == "no calls"
    r = sbcctl(sock, "calls", "hangup", cid)
    assert r.returncode == EXIT_FAILED and r.stdout == "", r
    assert r.stderr.startswith("sbcctl: calls.hangup: ") and "no call %s" % cid in r.stderr, r
    r = sbcctl(sock, "calls", "show", cid)
    assert r.returncode == EXIT_FAILED and r.stdout == "", r
    assert r.stderr.startswith("sbcctl: calls.get: ") and "no call %s" % cid in r.stderr, r


STREAM_HEAD = ["STREAM", "ZONE", "PORT", "PACKETS", "BYTES", "RTCP", "RELAYED", "DROP-SOURCE",
               "DROP-POLICING", "DROP-NODEST", "LOST", "JITTER-MS", "LATCHED"]


def show_streams(sock, cid):
    """calls show CID: (its field lines as {label: value}, its stream rows as
    {zone: {column: cell}}), the header line of the streams checked."""
    out = ok(sbcctl(sock, "calls", "show", str(cid)))
    head, _, rest = out.partition("\n\n")
    fields = dict(l.split(None, 1) for l in head.splitlines())
    t = table(rest)
    assert t and t[0] == STREAM_HEAD, out
    return fields, {row[1]: dict(zip(STREAM_HEAD, row)) for row in t[1:]}, out


def check_calls_show(net, sock, cid, pub_peer, priv_peer):
    """calls show: the call's fields as in calls; one stream in two rows
    (public, private) whose PORT cells are calls.get's ports. Five RTP
    packets from the phone to the public relay port raise its PACKETS to
    5 and latch it on the phone. --json is calls.get's result; 999999
    exits 1 with sbcd's message."""
    fields, zones, out = show_streams(sock, cid)
    assert fields["id"] == str(cid) and fields["state"] in ("answered", "confirmed"), out
    assert re.fullmatch(r"\d+s", fields["duration"]), out
    assert re.fullmatch(r"\d+s", fields["answered"]), out
    assert (fields["caller"], fields["callee"], fields["trunk"]) == ("caller", "alice", "-"), out
    assert (fields["public-peer"], fields["private-peer"]) == (pub_peer, priv_peer), out
    got = ctlclient.ok(net, "calls.get", {"id": cid})
    assert len(got["streams"]) == 1, got
    st = got["streams"][0]
    assert sorted(zones) == ["private", "public"] and len(zones) == 2, out
    for zone in ("public", "private"):
        assert zones[zone]["STREAM"] == str(st["index"]), out
        assert zones[zone]["PORT"] == str(st[zone]["port"]), (zone, out, got)
    assert zones["public"]["PACKETS"] == "0" and zones["public"]["LATCHED"] == "-", out

    net.send_rtp(PHONE, 40000, st["public"]["port"], 5)

    def counted():
        _, rw, o = show_streams(sock, cid)
        return (rw, o) if rw["public"]["PACKETS"] == "5" else None
    zones, out = wait_for(counted, 10, "calls show to count 5 RTP packets")
    pub = zones["public"]
    assert pub["BYTES"] == str(5 * 172) and pub["RTCP"] == "0", out
    assert pub["LATCHED"] == "%s:40000" % PHONE, out
    assert int(pub["RELAYED"]) + int(pub["DROP-NODEST"]) == 5 and pub["DROP-SOURCE"] == "0", out
    assert re.fullmatch(r"\d+\.\d\d", pub["JITTER-MS"]), out

    js = json.loads(ok(sbcctl(sock, "--json", "calls", "show", str(cid))))
    assert js["id"] == cid and js["streams"][0]["public"]["packets"] == 5, js
    r = sbcctl(sock, "calls", "show", "999999")
    assert r.returncode == EXIT_FAILED and r.stdout == "", r
    assert r.stderr.startswith("sbcctl: calls.get: ") and "no call 999999" in r.stderr, r


def test_registrations_table(testnet, sbcd):
    """A phone registered through sbcd (the core answers 200): one row with
    its AOR, its address as contact, no NAT, and time left at phone and core."""
    sock = control_socket(testnet)
    assert ok(sbcctl(sock, "registrations")).strip() == "no registrations"
    testnet.register_through(PHONE, SIP_PORT)

    out = ok(sbcctl(sock, "registrations"))
    t = table(out)
    assert t[0] == ["AOR", "CONTACT", "NAT", "PHONE-EXPIRES", "CORE-EXPIRES"], out
    assert len(t) == 2, out
    aor, contact, nat, phone_exp, core_exp = t[1]
    assert aor == "alice@%s" % SBC_WAN, out
    assert contact == "%s:%d/udp" % (PHONE, SIP_PORT), out
    assert nat == "no", out
    assert re.fullmatch(r"\d+s", phone_exp) and 0 < int(phone_exp[:-1]) <= 300, out
    assert re.fullmatch(r"\d+s", core_exp) and int(core_exp[:-1]) > 0, out
    js = json.loads(ok(sbcctl(sock, "registrations", "--json")))
    assert js["total"] == 1 and js["registrations"][0]["aor"] == aor, js


@pytest.mark.sbc_config(TRUNK)
def test_trunks_table(testnet, sbcd):
    """The configured trunk: name, zone, address:port/transport, no calls
    of its limit of 5, no registration, no last code."""
    sock = control_socket(testnet)
    out = ok(sbcctl(sock, "trunks"))
    t = table(out)
    assert t[0] == ["NAME", "ZONE", "ADDRESS", "CALLS", "REGISTRATION", "LAST-CODE"], out
    assert t[1:] == [["carrier", "public", "%s:5060/udp" % PUB, "0/5", "none", "-"]], out
    js = json.loads(ok(sbcctl(sock, "--json", "trunks")))
    assert [x["name"] for x in js["trunks"]] == ["carrier"], js


def test_config_get_validate_apply(testnet, sbc_config, sbcd, tmp_path):
    """config get prints the running file byte for byte; validate says OK
    for it (from a file and from stdin) and exits 1 for an unknown key with
    sbcd's error line on stderr (also under --json); apply refuses that
    file (exit 1, file unchanged), then applies a log_level change, after
    which config get shows it."""
    sock = control_socket(testnet)
    before = read(sbc_config)
    assert ok(sbcctl(sock, "config", "get")) == before
    got = json.loads(ok(sbcctl(sock, "--json", "config", "get")))
    assert got == {"path": sbc_config, "text": before}, got

    good = tmp_path / "good.ini"
    good.write_text(before)
    assert ok(sbcctl(sock, "config", "validate", str(good))) == \
        "%s: configuration OK\n" % good
    assert ok(sbcctl(sock, "config", "validate", "-", stdin=before)) == \
        "standard input: configuration OK\n"

    bad = tmp_path / "bad.ini"
    bad.write_text(before.replace("[core]\n", "[core]\ncolour = red\n", 1))
    r = sbcctl(sock, "config", "validate", str(bad))
    assert r.returncode == EXIT_FAILED and r.stdout == "", r
    lines = r.stderr.splitlines()
    assert any(l.startswith(sbc_config + ":") and "colour" in l for l in lines), r.stderr
    r = sbcctl(sock, "--json", "config", "validate", str(bad))
    assert r.returncode == EXIT_FAILED, r
    res = json.loads(r.stdout)
    assert res["valid"] is False and any("colour" in e for e in res["errors"]), res

    r = sbcctl(sock, "config", "apply", str(bad))
    assert r.returncode == EXIT_FAILED and r.stdout == "", r
    assert r.stderr.startswith("sbcctl: config.apply: invalid configuration"), r.stderr
    assert "colour" in r.stderr, r.stderr
    assert read(sbc_config) == before

    assert "log_level = debug\n" in before, before
    new = before.replace("log_level = debug\n", "log_level = info\n", 1)
    r = sbcctl(sock, "config", "apply", "-", stdin=new)
    assert r.returncode == EXIT_OK, r
    assert r.stdout == "configuration applied from standard input\n", r
    testnet.wait_log("configuration reloaded", timeout=5)
    assert read(sbc_config) == new
    assert ok(sbcctl(sock, "config", "get")) == new


def test_stats(testnet, sbcd):
    """stats: a COUNTER VALUE table of every counter of the JSON answer,
    named group.counter (nested groups joined with dots), with the
    readiness OPTIONS counted as received requests."""
    sock = control_socket(testnet)
    js = json.loads(ok(sbcctl(sock, "--json", "stats")))
    out = ok(sbcctl(sock, "stats"))
    t = [l.split() for l in out.splitlines() if l.strip()]
    assert t[0] == ["COUNTER", "VALUE"], out
    counters = {name: value for name, value in t[1:]}
    assert len(counters) == len(t) - 1, "a counter twice: " + out

    def leaves(obj, prefix=""):
        for k, v in obj.items():
            if isinstance(v, dict):
                yield from leaves(v, prefix + k + ".")
            else:
                yield prefix + k
    assert sorted(counters) == sorted(leaves(js)), out
    assert {n.split(".")[0] for n in counters} >= {"sip", "transactions", "b2bua", "media"}, out
    assert all(re.fullmatch(r"\d+", v) for v in counters.values()), out
    assert int(counters["sip.rx_requests"]) >= 2, out       # an OPTIONS on each zone
    assert counters["b2bua.calls_active"] == "0", out
    assert "sip.rejected.malformed" in counters, out


# -- commands other helpers add to sbcd; skipped until `call help` lists them --

def test_guard_allow(testnet, sbcd):
    """guard allow lists the harness's configured network; allow add puts a
    runtime entry with its note (exit 1 for a duplicate), allow remove takes
    it away (exit 1 the second time); --json gives the same lists."""
    sock = control_socket(testnet)
    need_commands(sock, "guard.allow", "guard.allow.add", "guard.allow.remove")
    out = ok(sbcctl(sock, "guard", "allow"))
    t = table(out)
    assert t[0] == ["CIDR", "FROM", "NOTE", "ADDED"], out
    assert [netns.PUB_NET, "config", "-", "-"] in t[1:], out

    r = sbcctl(sock, "guard", "allow", "add", "198.51.100.7", "office")
    assert r.returncode == EXIT_OK and r.stdout.strip() == "allowed 198.51.100.7/32", r
    r = sbcctl(sock, "guard", "allow", "add", "198.51.100.7")
    assert r.returncode == EXIT_FAILED and "already allowed" in r.stderr, r
    t = table(ok(sbcctl(sock, "guard", "allow")))
    mine = [row for row in t[1:] if row[0] == "198.51.100.7/32"]
    assert len(mine) == 1 and mine[0][1:3] == ["runtime", "office"], t
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", mine[0][3]), t
    js = json.loads(ok(sbcctl(sock, "--json", "guard", "allow")))
    assert netns.PUB_NET in js["config"], js
    assert [e["cidr"] for e in js["runtime"]] == ["198.51.100.7/32"], js

    r = sbcctl(sock, "guard", "allow", "remove", "198.51.100.7/32")
    assert r.returncode == EXIT_OK and r.stdout.strip() == "removed 198.51.100.7/32", r
    r = sbcctl(sock, "guard", "allow", "remove", "198.51.100.7/32")
    assert r.returncode == EXIT_FAILED and r.stderr.startswith("sbcctl: guard.allow.remove: "), r
    assert not [row for row in table(ok(sbcctl(sock, "guard", "allow")))[1:]
                if row[0] == "198.51.100.7/32"]


def test_trace(testnet, sbcd, tmp_path):
    """trace start with a file, zone and limits: its status says running
    with those; a second start exits 1; trace stop says not running and the
    file is there."""
    sock = control_socket(testnet)
    need_commands(sock, "trace.start", "trace.stop", "trace.status")
    pcap = os.path.join(testnet.tmpdir, "data", "sbcctl-trace.pcap")
    out = ok(sbcctl(sock, "trace", "start", "--file", pcap, "--zone", "public",
                    "--max-bytes=2000000", "--max-s", "120"))
    fields = {l.split()[0]: l.split()[1:] for l in out.splitlines() if l.strip()}
    assert fields["running"] == ["yes"] and fields["file"] == [pcap], out
    assert fields["zone"] == ["public"] and fields["max_bytes"] == ["2000000"], out
    assert fields["max_s"] == ["120s"], out
    st = json.loads(ok(sbcctl(sock, "--json", "trace", "status")))
    assert st["running"] is True and st["file"] == pcap and st["max_s"] == 120, st
    r = sbcctl(sock, "trace", "start")
    assert r.returncode == EXIT_FAILED and r.stderr.startswith("sbcctl: trace.start: "), r
    out = ok(sbcctl(sock, "trace", "stop"))
    fields = {l.split()[0]: l.split()[1:] for l in out.splitlines() if l.strip()}
    assert fields["running"] == ["no"], out
    assert os.path.exists(pcap)
    st = json.loads(ok(sbcctl(sock, "--json", "trace", "status")))
    assert st["running"] is False, st


def test_metrics(testnet, sbcd):
    """metrics prints the exposition text as it is: comment and sample
    lines, sbc_ names, a final newline, no JSON around it."""
    sock = control_socket(testnet)
    need_commands(sock, "metrics")
    out = ok(sbcctl(sock, "metrics"))
    assert out.endswith("\n") and not out.startswith("{"), out[:200]
    lines = out.splitlines()
    assert any(l.startswith("# TYPE sbc_") for l in lines), out[:500]
    samples = [l for l in lines if l and not l.startswith("#")]
    assert samples and all(re.match(r"sbc_[a-z_]+(\{.*\})? \S+$", l) for l in samples), out
    assert any(l.startswith("sbc_calls_active ") for l in samples), out
    js = json.loads(ok(sbcctl(sock, "--json", "metrics")))
    assert isinstance(js.get("text"), str) and "# TYPE sbc_" in js["text"], js


def test_restart(testnet, sbcd):
    """restart: sbcd answers, starts again (its log says "sbcd ready" once
    more) with the same pid, and its control socket answers status again."""
    sock = control_socket(testnet)
    need_commands(sock, "system.restart")
    pid = json.loads(ok(sbcctl(sock, "--json", "status")))["pid"]
    readies = testnet.sbcd_log().count("sbcd ready")
    assert readies >= 1
    r = sbcctl(sock, "restart")
    assert r.returncode == EXIT_OK and r.stdout.strip() == "sbcd is restarting", r
    wait_for(lambda: testnet.sbcd_log().count("sbcd ready") > readies, 20,
             "sbcd to start again")

    def back():
        r = sbcctl(sock, "--json", "status")
        return json.loads(r.stdout) if r.returncode == EXIT_OK else None
    st = wait_for(back, 20, "sbcd to answer after the restart")
    assert st["pid"] == pid, (pid, st)
