"""The AF_XDP media engine (`media = xdp`; docs/bypass.md "The AF_XDP engine"), end to end.

The same network and peers as test_bypass.py (its SIP UA and RTP helpers
are reused: they run as `python3 test_bypass.py ...` in the namespaces):
the public zone owns 203.0.113.2, the private one 10.20.0.2, addresses
the sbc namespace's kernel does not have. An XDP program on wan and lan
redirects their frames to AF_XDP sockets; lwIP answers ARP and ping.

  test_status_xdp_mode          status: media "xdp" and the XDP mode, the program attached
  test_rtp_both_ways            RTP both directions, every packet relayed and counted
  test_arp_and_ping             ARP and ping to the media addresses answered (lwIP)
  test_wrong_source_dropped     RTP from another public address: dropped, counted
  test_mixed_xdp_and_socket     one zone xdp, the other socket: both ways relayed
  test_fallback_xdp_taken       an XDP program already on wan: the zone runs the
                                ring bypass, status says why; a call still relays
"""
import json
import os

import pytest

import netns
from conftest_netns import sbcd_problems
from ctlclient import ok
from test_bypass import (MEDIA_PRIV, MEDIA_PUB, OTHER, PBX_IP, PING, TX_CSUM_OFF, Call,
                         bnet, last_cdr, media_threads, relay_both_ways, rtp, rtp_result,
                         start_uas, streams, the_call)

XDP = {
    "public": {"media": "xdp", "media_address": MEDIA_PUB},
    "private": {"media": "xdp", "media_address": MEDIA_PRIV},
}
MODES = ("native-zerocopy", "native-copy", "generic-copy")

pytestmark = pytest.mark.sbc_config(XDP)

__all__ = ["bnet"]     # the fixture, imported from test_bypass


def zones(net):
    return {z["name"]: z for z in ok(net, "status")["zones"]}


def xdp_prog(net, iface):
    """The XDP program attached to iface in the sbc namespace: (mode, name) or None."""
    r = net.run("sbc", ["ip", "-j", "-d", "link", "show", "dev", iface], check=True)
    xdp = json.loads(r.stdout)[0].get("xdp")
    if not xdp:
        return None
    prog = xdp.get("prog") or (xdp.get("attached") or [{}])[0].get("prog") or {}
    return xdp.get("mode"), prog.get("name")


def test_status_xdp_mode(bnet, sbcd):
    """Both zones run the xdp engine: status says so and which XDP mode
    (veth: native, copy); our program is attached to wan and lan, the
    rings run on the media thread, and it all goes when sbcd does."""
    z = zones(bnet)
    for name in ("public", "private"):
        assert z[name]["media"] == "xdp" and z[name]["media_fallback"] is None, z[name]
        assert z[name]["xdp_mode"] in MODES, z[name]
    assert z["public"]["xdp_mode"] == "native-copy", z["public"]      # veth
    for iface in ("wan", "lan"):
        prog = xdp_prog(bnet, iface)
        assert prog and prog[1] == "sbc_media_xdp", (iface, prog)
    assert len(media_threads(bnet)) == 1, media_threads(bnet)
    # no nftables ingress drop: redirected frames never reach the kernel
    r = bnet.run("sbc", [netns.NFT, "list", "table", "netdev", "sbc_media_public"])
    assert r.returncode != 0, r.stdout
    assert bnet.stop_sbcd() == 0
    for iface in ("wan", "lan"):
        assert xdp_prog(bnet, iface) is None, iface


def test_rtp_both_ways(bnet, sbcd):
    """100 packets each way: each far side receives all, from the relay
    port its SDP named; calls.get, the ring counters and the call record
    count them."""
    uas = start_uas(bnet)
    c = Call(bnet, uas)
    assert c.answer[0] == MEDIA_PUB and c.offer[0] == MEDIA_PRIV, (c.answer, c.offer)
    ra, rb = relay_both_ways(bnet, c, count=100)
    assert ra["sent"] == 100 and rb["sent"] == 100, (ra, rb)
    assert ra["received"] == 100 and rb["received"] == 100, (ra, rb)
    assert ra["from"] == {"%s:%d" % tuple(c.answer): 100}, ra
    assert rb["from"] == {"%s:%d" % tuple(c.offer): 100}, rb
    st = streams(bnet, the_call(bnet)[0]["id"])[0]
    for zone in ("public", "private"):
        assert st[zone]["packets"] == 100 and st[zone]["relayed"] == 100, st
    c.bye()
    rec = last_cdr(bnet)
    m = rec["media"][0]
    assert m["packets"] == [100, 100] and m["bytes"] == [100 * 172, 100 * 172], m
    assert m["dropped"] == {"source": [0, 0], "policing": [0, 0], "no_dest": [0, 0],
                            "no_neighbour": [0, 0]}, m
    assert not sbcd_problems(bnet), bnet.sbcd_log()[-3000:]


def test_arp_and_ping(bnet, sbcd):
    """pub and priv ping the media addresses: the XDP program hands ARP and
    ICMP for them to the socket, lwIP answers; the neighbour tables show
    the sbc interface's MAC."""
    for ns, ip, iface in (("pub", MEDIA_PUB, "wan"), ("priv", MEDIA_PRIV, "lan")):
        r = bnet.run(ns, [netns.PYTHON, "-c", PING, ip], timeout=20)
        assert r.returncode == 0, (ns, r.stdout, r.stderr)
        mac = bnet.link("sbc", iface)["address"]
        neigh = bnet.run(ns, ["ip", "neigh", "show", ip], check=True).stdout
        assert mac.lower() in neigh.lower(), (neigh, mac)


def test_wrong_source_dropped(bnet, sbcd):
    """Once the phone latched, RTP to its relay port from another public
    address is dropped and counted as source; the phone's packets pass."""
    uas = start_uas(bnet)
    c = Call(bnet, uas)
    ra, rb = relay_both_ways(bnet, c, count=50)
    assert rb["from"] == {"%s:%d" % tuple(c.offer): 50}, rb
    inj = rtp(bnet, "pub", "%s:%d" % (OTHER, 7100), "%s:%d" % tuple(c.answer), 30,
              interval=0.005, linger=0.5, ssrc=0x6666)
    assert rtp_result(inj)["sent"] == 30
    st = streams(bnet, the_call(bnet)[0]["id"])[0]
    assert st["public"]["dropped"]["source"] == 30, st
    assert st["public"]["relayed"] == 50, st
    c.bye()
    rec = last_cdr(bnet)
    assert rec["media"][0]["dropped"]["source"] == [30, 0], rec
    assert rec["media"][0]["packets"] == [50 + 30, 50], rec


def test_mixed_xdp_and_socket(bnet):
    """Public zone xdp, private zone socket: xsk->socket and socket->xsk
    both relay every packet."""
    cfg = bnet.write_config(overrides={
        "public": {"media": "xdp", "media_address": MEDIA_PUB},
        "private": {"media": "socket", "media_address": None}})
    bnet.start_sbcd(cfg)
    z = zones(bnet)
    assert z["public"]["media"] == "xdp" and z["private"]["media"] == "socket", z
    assert z["private"]["xdp_mode"] is None, z
    uas = start_uas(bnet)
    c = Call(bnet, uas)
    assert c.answer[0] == MEDIA_PUB and c.offer[0] == "10.20.0.1", (c.answer, c.offer)
    ra, rb = relay_both_ways(bnet, c, count=50)
    assert ra["from"] == {"%s:%d" % tuple(c.answer): 50}, ra
    assert rb["from"] == {"%s:%d" % tuple(c.offer): 50}, rb
    c.bye()
    assert not sbcd_problems(bnet), bnet.sbcd_log()[-3000:]


def test_fallback_xdp_taken(testnet):
    """Someone else's XDP program is on wan (generic mode): the public zone
    cannot attach, runs the ring bypass instead, says why in status and
    once in the log; the private zone runs xdp; a call relays both ways.
    The other program is left in place."""
    obj = os.path.join(os.environ.get("SBC_BUILD", "build"), "src", "media", "xdp.bpf.o")
    assert os.path.exists(obj), obj
    testnet.run("sbc", ["ip", "link", "set", "dev", "wan", "xdpgeneric", "obj", obj, "sec",
                        "xdp"], check=True)
    assert xdp_prog(testnet, "wan")[0] in ("generic", 2), xdp_prog(testnet, "wan")
    for ns in ("pub", "priv"):
        testnet.run(ns, [netns.PYTHON, "-c", TX_CSUM_OFF, "eth0"], check=True)
    testnet.start_sbcd(testnet.write_config(overrides=XDP))
    z = zones(testnet)
    assert z["public"]["media"] == "bypass" and z["public"]["xdp_mode"] is None, z["public"]
    assert "another XDP program is attached" in z["public"]["media_fallback"], z["public"]
    assert z["private"]["media"] == "xdp" and z["private"]["media_fallback"] is None, z
    log = testnet.sbcd_log()
    assert log.count("media: public zone: xdp unavailable (") == 1, log[-2000:]
    uas = start_uas(testnet)
    c = Call(testnet, uas)
    assert c.answer[0] == MEDIA_PUB and c.offer[0] == MEDIA_PRIV, (c.answer, c.offer)
    ra, rb = relay_both_ways(testnet, c, count=30)
    assert ra["received"] == 30 and rb["received"] == 30, (ra, rb)
    c.bye()
    assert testnet.stop_sbcd() == 0
    assert xdp_prog(testnet, "wan") is not None    # not ours to remove
    testnet.run("sbc", ["ip", "link", "set", "dev", "wan", "xdpgeneric", "off"], check=True)
