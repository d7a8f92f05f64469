"""The control socket's calls, calls.hangup, registrations and trunks
commands (docs/control.md), against real calls and registrations.

A phone in pub (203.0.113.11) calls through sbcd to the core (a sipp UAS
at 10.20.0.10 in priv); both sides wait for a BYE, which only the
operator's calls.hangup sends. A phone registers through sbcd with a core
that answers every REGISTER 200 (access_core_uas.xml).
"""
import os
import time

import pytest

from netns import PBX, PUB, PUB_EXTRA, SBC_WAN, sipp_scenario

PHONE = PUB_EXTRA[0]             # 203.0.113.11
SIP_PORT = 5060
CONFIG = {
    "core": {"hide": "pbx.corp.internal"},
    "trunk:carrier": {"zone": "public", "address": PUB, "max_calls": 5},
}

pytestmark = pytest.mark.sbc_config(CONFIG)


def ctl(net, cmd, args=None):
    import ctlclient
    return ctlclient.call(os.path.join(net.rundir, "sbcd.sock"), cmd, args)


def ok(net, cmd, args=None):
    resp = ctl(net, cmd, args)
    assert resp.get("ok") is True, (cmd, args, resp)
    return resp["result"]


def wait_for(pred, timeout=10.0, what=""):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        assert time.monotonic() < deadline, "timed out waiting for " + what
        time.sleep(0.1)


def test_calls_listed_and_hung_up(testnet, sbcd):
    """An answered call shows in calls (public leg from the phone, private
    leg to the core); calls.hangup sends BYE on both legs, which both sipps
    expect; then calls is empty and calls_active is 0."""
    assert ok(testnet, "calls") == {"calls": [], "total": 0, "truncated": False}
    callee = testnet.sipp_bg("priv", ["-sf", sipp_scenario("invite_uas.xml"), "-m", "1",
                                      "-t", "u1", "-i", PBX, "-p", str(SIP_PORT), "-mi", PBX,
                                      "-timeout", "30s", "-timeout_error"], name="callee")
    caller = testnet.sipp_bg("pub", ["-sf", sipp_scenario("hangup_uac.xml"), "-s", "alice",
                                     "-key", "dest", "%s:%d" % (SBC_WAN, SIP_PORT),
                                     "-m", "1", "-t", "u1", "-i", PHONE, "-p", str(SIP_PORT),
                                     "-mi", PHONE, "-timeout", "30s", "-timeout_error",
                                     "%s:%d" % (SBC_WAN, SIP_PORT)], name="caller")

    def confirmed():
        r = ok(testnet, "calls")
        return r if r["calls"] and r["calls"][0]["state"] in ("answered", "confirmed") else None
    r = wait_for(confirmed, 15, "the call to be answered")
    assert r["total"] == 1 and r["truncated"] is False
    c = r["calls"][0]
    pub, priv = c["legs"]
    assert pub["zone"] == "public" and pub["peer"]["address"] == PHONE
    assert pub["peer"]["address"].startswith("203.0.113.")
    assert pub["peer"]["transport"] == "udp"
    assert priv["zone"] == "private" and priv["peer"]["address"] == PBX
    assert c["caller"] == "caller", c
    assert c["callee"] == "alice", c
    assert c["trunk"] == "" and c["media"] is True
    assert c["duration"] >= 0 and c["answered"] is not None
    assert ok(testnet, "stats")["b2bua"]["calls_active"] == 1

    assert ok(testnet, "calls.hangup", {"id": c["id"]}) == {"hungup": c["id"]}
    res = caller.result(timeout=40)
    assert res.rc == 0, "caller: " + res.describe()
    res = callee.result(timeout=40)
    assert res.rc == 0, "callee: " + res.describe()
    assert ok(testnet, "calls")["calls"] == []
    assert ok(testnet, "stats")["b2bua"]["calls_active"] == 0
    again = ctl(testnet, "calls.hangup", {"id": c["id"]})
    assert again.get("ok") is False and "no call %d" % c["id"] in again.get("error", ""), again


def test_hangup_and_listing_arguments(testnet, sbcd):
    """Unknown ids, missing or malformed ids and unknown arguments are refused."""
    r = ctl(testnet, "calls.hangup", {"id": 999999})
    assert r.get("ok") is False and "no call 999999" in r.get("error", ""), r
    r = ctl(testnet, "calls.hangup", {})
    assert r.get("ok") is False and "id" in r.get("error", ""), r
    r = ctl(testnet, "calls.hangup", {"id": "7"})
    assert r.get("ok") is False and "id" in r.get("error", ""), r
    r = ctl(testnet, "calls.hangup", {"id": 1, "force": True})
    assert r.get("ok") is False and "force" in r.get("error", ""), r
    for cmd in ("calls", "registrations", "trunks"):
        r = ctl(testnet, cmd, {"x": 1})
        assert r.get("ok") is False and "\"x\"" in r.get("error", ""), (cmd, r)
    assert "calls.hangup" in ok(testnet, "help")


def test_trunks(testnet, sbcd):
    """The configured trunk, with its limit, no calls, no registration."""
    r = ok(testnet, "trunks")
    assert r["total"] == 1 and r["truncated"] is False
    t = r["trunks"][0]
    assert t["name"] == "carrier" and t["zone"] == "public" and t["address"] == PUB
    assert t["max_calls"] == 5 and t["active"] == 0
    assert t["registration"] == "none" and t["last_code"] is None


def test_registrations(testnet, sbcd):
    """A phone registered through sbcd (the core answers 200) is listed with
    its AOR, its address as the contact, and time left on both sides."""
    assert ok(testnet, "registrations")["registrations"] == []
    core = testnet.sipp_bg("priv", ["-sf", sipp_scenario("access_core_uas.xml"), "-m", "1",
                                    "-t", "u1", "-i", PBX, "-p", str(SIP_PORT), "-mi", PBX,
                                    "-timeout", "20s", "-timeout_error"], name="core-register")
    reg = testnet.sipp("pub", ["-sf", sipp_scenario("access_register_uac.xml"), "-s", "alice",
                               "-key", "domain", SBC_WAN, "-key", "expires", "300", "-m", "1",
                               "-t", "u1", "-i", PHONE, "-p", str(SIP_PORT),
                               "%s:%d" % (SBC_WAN, SIP_PORT)], timeout=20, name="register")
    assert reg.rc == 0, reg.describe()
    assert core.result(timeout=30).rc == 0
    r = ok(testnet, "registrations")
    assert r["total"] == 1 and r["truncated"] is False, r
    b = r["registrations"][0]
    assert b["aor"] == "alice@%s" % SBC_WAN, b
    assert b["contact"] == {"address": PHONE, "port": SIP_PORT, "transport": "udp"}, b
    assert b["nat"] is False
    assert 0 < b["phone_expires"] <= 300, b
    assert b["core_expires"] is not None and b["core_expires"] > 0, b
