"""The control socket's daemon commands (docs/control.md): stats.

The guard's commands are tested in test_guard.py and through sbcctl in
test_sbcctl.py; here the counters sbcd keeps for the SIP transport,
transactions, the B2BUA and media are read back after traffic whose effect
on them is known.
"""
import os
import time

import ctlclient
import netns
from netns import SBC_WAN


def ctl(net, cmd, args=None):
    return ctlclient.call(os.path.join(net.rundir, "sbcd.sock"), cmd, args)


def stats(net):
    resp = ctl(net, "stats")
    assert resp.get("ok") is True, resp
    return resp["result"]


def test_stats_counts_traffic(testnet, sbcd):
    """Readiness sent OPTIONS to both zones: answered and counted. One
    unparsable datagram from pub adds exactly one malformed rejection and no
    request; an OPTIONS adds one answered OPTIONS. Nothing is in a call."""
    before = stats(testnet)
    assert set(before) == {"sip", "transactions", "b2bua", "registrar", "media"}
    assert before["registrar"]["registers"] == 0 and before["registrar"]["bindings"] == 0
    assert before["sip"]["rx_requests"] >= 2
    assert before["b2bua"]["options_answered"] >= 2
    assert before["b2bua"]["calls_active"] == 0 and before["media"]["sessions"] == 0
    r = testnet.sip_exchange("pub", "udp", SBC_WAN, 5060,
                             [{"send": "HELLO WORLD\r\n\r\n"}, {"expect": 0, "timeout": 0.5}],
                             timeout=10)
    assert r["messages"] == []
    deadline = time.monotonic() + 5
    while True:
        mid = stats(testnet)
        if mid["sip"]["rejected"]["malformed"] == before["sip"]["rejected"]["malformed"] + 1:
            break
        assert time.monotonic() < deadline, (before["sip"], mid["sip"])
        time.sleep(0.1)
    assert mid["sip"]["rx_requests"] == before["sip"]["rx_requests"]
    testnet.wait_options([("pub", SBC_WAN, 5060, netns.PUB)], timeout=5)
    after = stats(testnet)
    assert after["b2bua"]["options_answered"] >= mid["b2bua"]["options_answered"] + 1
    assert after["sip"]["tx_messages"] > before["sip"]["tx_messages"]


def test_stats_and_help_requests(testnet, sbcd):
    """help lists stats; stats refuses arguments with a message."""
    resp = ctl(testnet, "help")
    assert resp.get("ok") is True and "stats" in resp["result"], resp
    bad = ctl(testnet, "stats", {"x": 1})
    assert bad.get("ok") is False and "no arguments" in bad.get("error", ""), bad
