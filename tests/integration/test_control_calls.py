"""The control socket's calls, calls.hangup, registrations and trunks
commands (docs/control.md), against real calls and registrations.

A phone in pub (203.0.113.11) calls through sbcd to the core (a sipp UAS
at 10.20.0.10 in priv); both sides wait for a BYE, which only the
operator's calls.hangup sends. A phone registers through sbcd with a core
that answers every REGISTER 200 (access_core_uas.xml).
"""
import pytest

from ctlclient import ctl, ok
from netns import PBX, PUB, PUB_EXTRA, SBC_WAN, wait_for

PHONE = PUB_EXTRA[0]             # 203.0.113.11
SIP_PORT = 5060
CONFIG = {
    "core": {"hide": "pbx.corp.internal"},
    "trunk:carrier": {"zone": "public", "address": PUB, "max_calls": 5},
}

pytestmark = pytest.mark.sbc_config(CONFIG)


def test_calls_listed_and_hung_up(testnet, sbcd):
    """An answered call shows in calls (public leg from the phone, private
    leg to the core); calls.hangup sends BYE on both legs, which both sipps
    expect; then calls is empty and calls_active is 0."""
    assert ok(testnet, "calls") == {"calls": [], "total": 0, "truncated": False}
    caller, callee = testnet.held_call(PHONE, SIP_PORT)

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
    check_call_details(testnet, c)

    assert ok(testnet, "calls.hangup", {"id": c["id"]}) == {"hungup": c["id"]}
    res = caller.result(timeout=40)
    assert res.rc == 0, "caller: " + res.describe()
    res = callee.result(timeout=40)
    assert res.rc == 0, "callee: " + res.describe()
    assert ok(testnet, "calls")["calls"] == []
    assert ok(testnet, "stats")["b2bua"]["calls_active"] == 0
    again = ctl(testnet, "calls.hangup", {"id": c["id"]})
    assert again.get("ok") is False and "no call %d" % c["id"] in again.get("error", ""), again


def check_call_details(net, c):
    """calls.get: the entry of calls plus its one audio stream; RTP from the
    phone's address is counted and latched on the public port, RTP from
    another address is dropped as a wrong source."""
    d = ok(net, "calls.get", {"id": c["id"]})
    assert {k: v for k, v in d.items() if k not in ("streams", "duration", "answered")} == \
        {k: v for k, v in c.items() if k not in ("duration", "answered")}, (d, c)
    assert len(d["streams"]) == 1 and d["streams"][0]["index"] == 0, d
    pub, priv = d["streams"][0]["public"], d["streams"][0]["private"]
    assert 20000 <= pub["port"] <= 29999 and 30000 <= priv["port"] <= 39999, d
    assert pub["packets"] == 0 and pub["latched"] is None, pub

    net.send_rtp(PHONE, 40000, pub["port"], 5)
    pub = wait_for(lambda: (lambda p: p if p["packets"] == 5 else None)(
        ok(net, "calls.get", {"id": c["id"]})["streams"][0]["public"]), 10, "5 RTP packets counted")
    assert pub["bytes"] == 5 * 172 and pub["rtcp_packets"] == 0, pub
    assert pub["latched"] == {"address": PHONE, "port": 40000}, pub
    assert pub["relayed"] + pub["dropped"]["no_dest"] == 5 and pub["dropped"]["source"] == 0, pub
    assert pub["lost"] == 0, pub

    net.send_rtp(PUB_EXTRA[1], 40002, pub["port"], 3)    # injection from another address
    pub = wait_for(lambda: (lambda p: p if p["packets"] == 8 else None)(
        ok(net, "calls.get", {"id": c["id"]})["streams"][0]["public"]), 10, "8 packets counted")
    assert pub["dropped"]["source"] == 3 and pub["latched"]["address"] == PHONE, pub
    r = ctl(net, "calls.get", {"id": c["id"] + 1000})
    assert r.get("ok") is False and "no call" in r.get("error", ""), r


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
    for bad in ({}, {"id": "7"}, {"id": -1}, {"id": 1, "x": 1}):
        r = ctl(testnet, "calls.get", bad)
        assert r.get("ok") is False, (bad, r)
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
    testnet.register_through(PHONE, SIP_PORT)
    r = ok(testnet, "registrations")
    assert r["total"] == 1 and r["truncated"] is False, r
    b = r["registrations"][0]
    assert b["aor"] == "alice@%s" % SBC_WAN, b
    assert b["contact"] == {"address": PHONE, "port": SIP_PORT, "transport": "udp"}, b
    assert b["nat"] is False
    assert 0 < b["phone_expires"] <= 300, b
    assert b["core_expires"] is not None and b["core_expires"] > 0, b
