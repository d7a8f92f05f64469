"""The runtime allow list (guard.allow, guard.allow.add, guard.allow.remove)
and system.restart on sbcd's control socket (docs/control.md, docs/guard.md).

sbcd runs in the test network (netns.py); the control socket is a file, so
the test reaches it with ctlclient.py. A source is banned by one OPTIONS
with User-Agent friendly-scanner from pub (banned on its first packet, no
answer); the harness allow-lists 203.0.113.0/24, so these tests remove that
([guard] allow None: nobody) unless they need a configured entry.

system.restart is checked in the foreground (the harness's process: the
same pid before and after, its log shows both images) and under -d (the
pid file's pid stays, no second fork). The end of the old image is seen as
the server closing a connection held open across the restart; every wait
is bounded.
"""
import json
import os
import signal
import time

import pytest

import ctlclient
import netns
import sipmsg
from ctlclient import ctl, ok, sock_path
from netns import PUB_EXTRA, wait_for

NOBODY = {"guard": {"allow": None}}


def data_dir(net):
    return os.path.join(net.tmpdir, "data")


def err(net, cmd, args=None):
    resp = ctl(net, cmd, args)
    assert resp.get("ok") is False and isinstance(resp.get("error"), str), (cmd, args, resp)
    return resp["error"]


def scanner_probe(net, src):
    """One OPTIONS with User-Agent friendly-scanner from src to sbcd's public
    address: the first lines of what came back within 1 s ([] for none)."""
    return sipmsg.scanner_probe(net, src, "allow", wait=1.0)


def banned(net):
    return {b["source"]: b for b in ok(net, "guard.bans")}


def wait_banned(net, src, timeout=10.0):
    return wait_for(lambda: banned(net).get(src), timeout, "%s in guard.bans" % src)


def ban(net, src):
    """Ban src the scanner's way: its probe goes unanswered and it is listed."""
    assert scanner_probe(net, src) == []
    return wait_banned(net, src)


def assert_answered(lines):
    assert len(lines) == 1 and lines[0].startswith("SIP/2.0 200"), lines


def restart(net, timeout=30.0):
    """system.restart on a connection kept open: the answer, then the old
    image closing it at shutdown; then wait until the new socket answers
    status. Returns (answer, status)."""
    with ctlclient.Conn(sock_path(net), timeout=5.0) as c:
        resp = c.call("system.restart")
        with pytest.raises(ctlclient.CtlClosed):
            c.read_line(timeout=timeout)
    deadline = time.monotonic() + timeout
    while True:
        try:
            st = ctl(net, "status")
            if st.get("ok"):
                return resp, st["result"]
        except (OSError, ctlclient.CtlClosed):
            pass
        assert time.monotonic() < deadline, "the control socket did not come back"
        time.sleep(0.05)


@pytest.mark.sbc_config(NOBODY)
def test_allow_lifts_ban_remove_bans_again(testnet, sbcd):
    """A banned scanner source allowed at run time: its ban is gone, its
    scanner OPTIONS are answered and it is never banned; guard.allow lists
    the entry with its note; removed, its next scanner OPTIONS bans it
    again. Another banned source outside the block stays banned."""
    src, other = PUB_EXTRA[0], PUB_EXTRA[1]
    ban(testnet, src)
    ban(testnet, other)
    assert ok(testnet, "guard.allow") == {"config": [], "runtime": []}

    t0 = int(time.time())
    assert ok(testnet, "guard.allow.add", {"cidr": src, "note": "office"}) == {
        "added": src + "/32"}
    bans = banned(testnet)
    assert src not in bans and other in bans, bans
    for _ in range(5):
        assert_answered(scanner_probe(testnet, src))
    assert src not in banned(testnet)
    assert scanner_probe(testnet, other) == []
    listed = ok(testnet, "guard.allow")
    assert listed["config"] == [], listed
    assert [(e["cidr"], e["note"]) for e in listed["runtime"]] == [(src + "/32", "office")]
    assert t0 - 1 <= listed["runtime"][0]["added"] <= int(time.time()) + 1, listed
    with open(os.path.join(data_dir(testnet), "allow.json")) as f:
        saved = json.load(f)
    assert [e["cidr"] for e in saved["allow"]] == [src + "/32"], saved

    assert ok(testnet, "guard.allow.remove", {"cidr": src}) == {"removed": src + "/32"}
    assert ok(testnet, "guard.allow")["runtime"] == []
    assert scanner_probe(testnet, src) == []
    assert wait_banned(testnet, src)["reason"] == "scanner"
    log = testnet.sbcd_log()
    assert "guard: %s/32 allowed by the operator (office), 1 ban lifted" % src in log
    assert "guard: %s/32 removed from the runtime allow list by the operator" % src in log


@pytest.mark.sbc_config(NOBODY)
def test_allow_block_and_ipv6_entry(testnet, sbcd):
    """A /28 lifts the bans of every source inside it; an IPv6 entry is
    listed in canonical form; a block is removed by any spelling of it."""
    inside = [a for a in PUB_EXTRA if 16 <= int(a.rsplit(".", 1)[1]) < 32][:2]
    assert inside, PUB_EXTRA
    for a in inside:
        ban(testnet, a)
    assert ok(testnet, "guard.allow.add", {"cidr": "203.0.113.16/28"}) == {
        "added": "203.0.113.16/28"}
    bans = banned(testnet)
    assert not [a for a in inside if a in bans], bans
    for a in inside:
        assert_answered(scanner_probe(testnet, a))
    assert ok(testnet, "guard.allow.add", {"cidr": "2001:DB8:0:0::/32", "note": ""}) == {
        "added": "2001:db8::/32"}
    assert [e["cidr"] for e in ok(testnet, "guard.allow")["runtime"]] == [
        "203.0.113.16/28", "2001:db8::/32"]
    assert ok(testnet, "guard.allow.remove", {"cidr": "2001:db8:0::/32"}) == {
        "removed": "2001:db8::/32"}


def test_allow_bad_requests(testnet, sbcd):
    """Bad requests get their error and change nothing; the harness's
    [guard] allow is listed as config and cannot be removed at run time."""
    assert ok(testnet, "guard.allow") == {"config": [netns.PUB_NET], "runtime": []}
    cases = [
        ("guard.allow", {"x": 1}, 'unknown argument "x"'),
        ("guard.allow.add", {}, 'missing argument "cidr" (an address or ADDRESS/PREFIX)'),
        ("guard.allow.add", {"cidr": 7}, '"cidr" must be a string: an address or ADDRESS/PREFIX'),
        ("guard.allow.add", {"cidr": "198.51.100.7", "colour": "red"}, 'unknown argument "colour"'),
        ("guard.allow.add", {"cidr": "198.51.100.7/24"},
         '"198.51.100.7/24" has host bits set (the block is 198.51.100.0/24)'),
        ("guard.allow.add", {"cidr": "198.51.100.7/33"},
         '"198.51.100.7/33" has a bad prefix length (0-32)'),
        ("guard.allow.add", {"cidr": "sbc.example.com"},
         '"sbc.example.com" is not an address or an address block ADDRESS/PREFIX'),
        ("guard.allow.add", {"cidr": "198.51.100.7", "note": 5},
         '"note" must be a string of at most 64 printable ASCII characters'),
        ("guard.allow.add", {"cidr": "198.51.100.7", "note": "x" * 65},
         "the note must be at most 64 printable ASCII characters"),
        ("guard.allow.add", {"cidr": "198.51.100.7", "note": "B\u00fcro"},
         "the note must be at most 64 printable ASCII characters"),
        ("guard.allow.add", {"cidr": netns.PUB_NET},
         "%s is already allowed (in the configuration, [guard] allow)" % netns.PUB_NET),
        ("guard.allow.remove", {"cidr": "198.51.100.7"},
         "198.51.100.7/32 is not in the runtime allow list"),
        ("guard.allow.remove", {"cidr": netns.PUB_NET},
         "%s is in the configuration ([guard] allow): edit it there" % netns.PUB_NET),
        ("guard.allow.remove", {"cidr": "198.51.100.7", "note": "x"}, 'unknown argument "note"'),
        ("system.restart", {"now": True}, 'unknown argument "now"'),
    ]
    for cmd, args, want in cases:
        assert err(testnet, cmd, args) == want, (cmd, args)
    assert ok(testnet, "guard.allow.add", {"cidr": "198.51.100.7", "note": None}) == {
        "added": "198.51.100.7/32"}
    assert err(testnet, "guard.allow.add", {"cidr": "198.51.100.7/32"}) == \
        "198.51.100.7/32 is already allowed"
    runtime = ok(testnet, "guard.allow")["runtime"]
    assert [(e["cidr"], e["note"]) for e in runtime] == [("198.51.100.7/32", "")], runtime
    # the refused restart did not happen: the same socket answers, no restart logged
    assert "restart requested" not in testnet.sbcd_log()
    assert "system.restart" in ok(testnet, "help")


@pytest.mark.sbc_config(NOBODY)
def test_restart_keeps_pid_bans_and_allow_list(testnet, sbc_config, sbcd):
    """system.restart answers {"restarting": true}, then sbcd shuts down
    (its control connections closed, bans saved) and runs again in the same
    process: status gives the same pid, OPTIONS are answered on both zones,
    the ban and the runtime allow entry are back from bans.json and
    allow.json, and the allowed scanner is still answered. The restarted
    sbcd stops cleanly on SIGTERM (the fixture checks its exit status)."""
    banned_src, allowed_src = PUB_EXTRA[2], PUB_EXTRA[3]
    ban(testnet, banned_src)
    ban(testnet, allowed_src)
    ok(testnet, "guard.allow.add", {"cidr": allowed_src, "note": "kept"})
    before = ok(testnet, "guard.allow")["runtime"]
    pid = ok(testnet, "status")["pid"]
    assert pid == sbcd.pid

    resp, st = restart(testnet)
    assert resp == {"ok": True, "result": {"restarting": True}}, resp
    assert st["pid"] == pid and sbcd.poll() is None
    testnet.wait_options(testnet.zone_targets(sbc_config), timeout=20, proc=sbcd)
    log = testnet.sbcd_log()
    assert "restart requested through the control socket" in log
    assert log.count("sbcd ready") == 2, log[-3000:]
    assert "guard: 1 runtime allow list entries read from" in log
    bans = banned(testnet)
    assert banned_src in bans and allowed_src not in bans, bans
    assert bans[banned_src]["reason"] == "scanner"
    assert ok(testnet, "guard.allow")["runtime"] == before
    assert_answered(scanner_probe(testnet, allowed_src))
    assert scanner_probe(testnet, banned_src) == []

    # a second restart works the same, from the restarted image
    resp, st = restart(testnet)
    assert resp["ok"] is True and st["pid"] == pid
    testnet.wait_options(testnet.zone_targets(sbc_config), timeout=20, proc=sbcd)
    assert testnet.sbcd_log().count("sbcd ready") == 3


def _read_pid(path, timeout=20.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            with open(path) as f:
                text = f.read()
            if text.endswith("\n") and text.strip().isdigit():
                return int(text)
        except FileNotFoundError:
            pass
        assert time.monotonic() < deadline, "no pid file %s" % path
        time.sleep(0.05)


def _alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


def _start_daemon(net, sbc_config):
    """sbcd -d -p PIDFILE: (its pid, the pid file) once the parent has exited 0."""
    pid_file = os.path.join(net.rundir, "run", "sbcd.pid")
    parent = net.start_sbcd(sbc_config, ready=None, args=("-d", "-p", pid_file))
    assert parent.wait(20) == 0, netns.log_tail(parent.out_path)
    return _read_pid(pid_file), pid_file


def _wait_gone(net, pid, pid_file, timeout, what):
    """pid ends within timeout s (what: the failure); then its pid file and
    the control socket are gone too."""
    wait_for(lambda: not _alive(pid), timeout, what, interval=0.05)
    assert not os.path.exists(pid_file)
    assert not os.path.exists(sock_path(net))


def test_restart_daemon_keeps_pid(testnet, sbc_config):
    """Under -d: after system.restart the daemon answers with the pid its
    pid file names (the same as before: no second fork), the pid file is
    there and the same, OPTIONS are answered; SIGTERM then removes the pid
    file and the socket."""
    pid, pid_file = _start_daemon(testnet, sbc_config)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                st = ctl(testnet, "status")
                if st.get("ok"):
                    break
            except (OSError, ctlclient.CtlClosed):
                pass
            assert time.monotonic() < deadline, "the daemon's control socket did not answer"
            time.sleep(0.05)
        assert st["result"]["pid"] == pid
        resp, st = restart(testnet)
        assert resp == {"ok": True, "result": {"restarting": True}}, resp
        assert st["pid"] == pid and _alive(pid)
        assert _read_pid(pid_file) == pid
        testnet.wait_options(testnet.zone_targets(sbc_config), timeout=20)
        os.kill(pid, signal.SIGTERM)
        _wait_gone(testnet, pid, pid_file, 20, "the daemon to stop on SIGTERM")
    finally:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


def _break_config(path):
    with open(path, "a") as f:
        f.write("\n[core]\ncolour = red\n")


def test_restart_with_bad_config_exits(testnet, sbc_config):
    """The configuration file turned invalid on disk before system.restart:
    the new image refuses it as a start would (exit 2, the error in its
    log), the control socket is gone."""
    proc = testnet.start_sbcd(sbc_config)
    _break_config(sbc_config)
    assert ctl(testnet, "system.restart") == {"ok": True, "result": {"restarting": True}}
    assert proc.wait(30) == 2, netns.log_tail(proc.out_path)
    testnet.sbcd_rc = 2
    assert "colour" in testnet.sbcd_log()
    assert not os.path.exists(sock_path(testnet))


def test_restart_daemon_with_bad_config_drops_pid_file(testnet, sbc_config):
    """The same under -d: the daemon is gone and so is the pid file the old
    image had kept for the new one."""
    pid, pid_file = _start_daemon(testnet, sbc_config)
    try:
        deadline = time.monotonic() + 20
        while not os.path.exists(sock_path(testnet)):
            assert time.monotonic() < deadline, "no control socket"
            time.sleep(0.05)
        _break_config(sbc_config)
        with ctlclient.Conn(sock_path(testnet), timeout=5.0) as c:
            assert c.call("system.restart")["ok"] is True
            with pytest.raises(ctlclient.CtlClosed):
                c.read_line(timeout=30)
        _wait_gone(testnet, pid, pid_file, 30, "the restarted daemon to end")
    finally:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
