"""The bypass media engine (issue 8; docs/bypass.md "The engine"), end to end.

sbcd runs `media = bypass` on both zones: the public zone owns 203.0.113.2
and the private zone 10.20.0.2, addresses the kernel of the sbc namespace
does not have (its SIP addresses stay 203.0.113.1 and 10.20.0.1). Frames
for them come through a packet ring; lwIP answers ARP and ping.

Calls are made by a small SIP UA in this file (`python3 test_bypass.py
uac|uas ...`, run inside a namespace): a phone in pub (203.0.113.11) calls
alice at the core (10.20.0.10), which answers with SDP; RTP is sent and
counted by `python3 test_bypass.py rtp ...` on both ends at once, from the
ports their SDP named (symmetric RTP, as phones do). The senders' transmit
checksum offload is off (as in test_ring.py): on veth a kernel UDP socket
leaves only a partial checksum, which a wire never carries.

  test_rtp_both_ways           (a) RTP both directions, counted and relayed,
                               and what each far side got equals what was sent
  test_arp_and_ping            (b) ARP and ping to the media addresses answered
  test_wrong_source_dropped    (c) RTP from another pub address: dropped, `source`
  test_policing                (d) one stream at 10x its rate policed, another kept whole
  test_reinvite_moves_port     (e) a re-INVITE moves the phone's port: packets follow
  test_sipp_pcap_call          (g) real peers: sipp plays RTP from a pcap, a sipp UAS
                               echoes it; both far sides get it, calls.get and the
                               call record count it
  test_fallback_*              (f) bypass refused (the address is on the kernel):
                               status says socket + why, calls still relay
  test_mixed_bypass_and_socket ring->socket and socket->ring relay every packet
  test_media_thread_pinned     [media] cpu pins the media thread; a CPU sbcd may
                               not use is logged and left unpinned
  test_partial_checksums_completed  senders with checksum offload on: every
                               relayed frame's UDP checksum verifies (tshark)
"""
import argparse
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import uuid

if __name__ != "__main__":
    import pytest

    import netns
    from conftest_netns import sbcd_problems
    from ctlclient import ok
    from netns import SBC_WAN, wait_for
    from test_metrics import parse as metrics_parse, value as metric
    from test_sbcctl import control_socket, sbcctl
    from test_sbcctl import ok as sbcctl_ok, rows as sbcctl_rows

PHONE = "203.0.113.11"
OTHER = "203.0.113.12"            # another public address: an injector
PBX_IP = "10.20.0.10"
MEDIA_PUB = "203.0.113.2"
MEDIA_PRIV = "10.20.0.2"
SIP_PORT = 5060
PHONE_RTP = 7000
PBX_RTP = 8000

BYPASS = {
    "public": {"media": "bypass", "media_address": MEDIA_PUB},
    "private": {"media": "bypass", "media_address": MEDIA_PRIV},
}

TX_CSUM_OFF = r"""
import array, fcntl, socket, struct, sys
buf = array.array("B", struct.pack("II", 0x17, 0))
ifr = struct.pack("16sP", sys.argv[1].encode(), buf.buffer_info()[0])
fcntl.ioctl(socket.socket(socket.AF_INET, socket.SOCK_DGRAM), 0x8946, ifr)
"""

HERE = os.path.abspath(__file__)


# ---------------------------------------------------------------------------
# the helpers run inside a namespace (standard library only)

def _parse(data):
    text = data.decode("latin-1")
    head, _, body = text.partition("\r\n\r\n")
    lines = head.split("\r\n")
    hdrs = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        hdrs.setdefault(k.strip().lower(), []).append(v.strip())
    return lines[0], hdrs, body


def _sdp(ip, port, version):
    return ("v=0\r\no=- 1 %d IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\n"
            "m=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\n"
            % (version, ip, ip, port))


def _sdp_media(body):
    c = re.search(r"c=IN IP4 (\S+)", body)
    m = re.search(r"m=audio (\d+)", body)
    return (c.group(1), int(m.group(1))) if c and m else None


def _say(obj):
    print(json.dumps(obj), flush=True)


def uas_main(a):
    """Answer every INVITE 200 with SDP (a port per call, from --ports),
    every BYE and OPTIONS 200; print what each INVITE offered; exit after
    --calls BYEs or --timeout."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((a.ip, SIP_PORT))
    s.settimeout(0.5)
    calls, byes, deadline = {}, 0, time.monotonic() + a.timeout
    ports = [int(p) for p in a.ports.split(",")]
    while byes < a.calls and time.monotonic() < deadline:
        try:
            data, src = s.recvfrom(65535)
        except socket.timeout:
            continue
        first, h, body = _parse(data)
        if first.startswith("SIP/2.0") or first.startswith("ACK"):
            continue
        method = first.split()[0]
        cid = h.get("call-id", [""])[0]
        to = h.get("to", [""])[0]
        if ";tag=" not in to:
            to += ";tag=uas%d" % (len(calls) + 1)
        resp = ["SIP/2.0 200 OK"] + ["Via: " + v for v in h.get("via", [])] + \
            ["From: " + h["from"][0], "To: " + to, "Call-ID: " + cid,
             "CSeq: " + h["cseq"][0], "Contact: <sip:pbx@%s:%d>" % (a.ip, SIP_PORT)]
        sdp = ""
        if method == "INVITE":
            idx = calls.setdefault(cid, len(calls))
            sdp = _sdp(a.ip, ports[min(idx, len(ports) - 1)], 1)
            _say({"invite": cid, "call": idx, "offer": _sdp_media(body)})
            resp.append("Content-Type: application/sdp")
        elif method == "BYE":
            byes += 1
        resp.append("Content-Length: %d" % len(sdp))
        s.sendto(("\r\n".join(resp) + "\r\n\r\n" + sdp).encode("latin-1"), src)
    _say({"done": byes})


def _transact(s, dst, req, timeout):
    """Send req (retransmitted every 0.5 s) until a final response; returns it."""
    deadline = time.monotonic() + timeout
    s.sendto(req.encode("latin-1"), dst)
    last = time.monotonic()
    while time.monotonic() < deadline:
        try:
            data, _ = s.recvfrom(65535)
        except socket.timeout:
            if time.monotonic() - last > 0.5:
                s.sendto(req.encode("latin-1"), dst)
                last = time.monotonic()
            continue
        first, h, body = _parse(data)
        if first.startswith("SIP/2.0 ") and int(first.split()[1]) >= 200:
            return first, h, body
    raise SystemExit("no final response")


def uac_main(a):
    """INVITE alice through sbcd with SDP (this address, --port), ACK the 200,
    print the answer's c= and port; then follow the control folder: a file
    "reinvite" (a port) sends a re-INVITE with that port, "bye" ends the call."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((a.ip, a.sip_port))
    s.settimeout(0.1)
    dst = (a.sbc, SIP_PORT)
    cid, ftag = uuid.uuid4().hex, uuid.uuid4().hex[:8]
    uri = "sip:alice@%s:%d" % (a.sbc, SIP_PORT)
    to_hdr = "<%s>" % uri

    def req(method, cseq, body="", ruri=uri, to=None):
        lines = ["%s %s SIP/2.0" % (method, ruri),
                 "Via: SIP/2.0/UDP %s:%d;branch=z9hG4bK%s;rport" % (a.ip, a.sip_port,
                                                                    uuid.uuid4().hex[:12]),
                 "Max-Forwards: 70", "From: <sip:phone@%s>;tag=%s" % (a.ip, ftag),
                 "To: %s" % (to or to_hdr), "Call-ID: %s" % cid,
                 "CSeq: %d %s" % (cseq, method),
                 "Contact: <sip:phone@%s:%d>" % (a.ip, a.sip_port)]
        if body:
            lines.append("Content-Type: application/sdp")
        lines.append("Content-Length: %d" % len(body))
        return "\r\n".join(lines) + "\r\n\r\n" + body

    first, h, body = _transact(s, dst, req("INVITE", 1, _sdp(a.ip, a.port, 1)), a.timeout)
    if not first.startswith("SIP/2.0 200"):
        _say({"failed": first})
        return
    to = h["to"][0]
    contact = re.search(r"<([^>]+)>", h.get("contact", ["<%s>" % uri])[0]).group(1)
    s.sendto(req("ACK", 1, ruri=contact, to=to).encode("latin-1"), dst)
    _say({"answered": _sdp_media(body)})
    cseq, version = 1, 1
    deadline = time.monotonic() + a.timeout
    while time.monotonic() < deadline:
        rf, bf = os.path.join(a.ctl, "reinvite"), os.path.join(a.ctl, "bye")
        if os.path.exists(rf):
            with open(rf) as f:
                port = int(f.read().strip())
            os.unlink(rf)
            cseq += 1
            version += 1
            first, h, body = _transact(s, dst, req("INVITE", cseq, _sdp(a.ip, port, version),
                                                   ruri=contact, to=to), a.timeout)
            s.sendto(req("ACK", cseq, ruri=contact, to=to).encode("latin-1"), dst)
            _say({"reinvited": first, "answer": _sdp_media(body)})
        elif os.path.exists(bf):
            first, _, _ = _transact(s, dst, req("BYE", cseq + 1, ruri=contact, to=to),
                                    a.timeout)
            _say({"bye": first})
            return
        time.sleep(0.05)


def rtp_main(a):
    """Send --count RTP packets (PCMU, 172 bytes) every --interval s from
    --bind to --to, receiving meanwhile and for --linger s after; print
    {"sent", "received", "from": {"ip:port": n}}."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((a.bind.rsplit(":", 1)[0], int(a.bind.rsplit(":", 1)[1])))
    s.setblocking(False)
    if a.barrier:
        # every party has bound its port before anyone sends (bounded)
        open(os.path.join(a.barrier, "ready-%d" % os.getpid()), "w").close()
        deadline = time.monotonic() + 10
        while (len([f for f in os.listdir(a.barrier) if f.startswith("ready-")]) < a.parties
               and time.monotonic() < deadline):
            time.sleep(0.01)
    ip, port = a.to.rsplit(":", 1)
    dst = (ip, int(port))
    got, sources = 0, {}
    t0 = time.monotonic()

    def drain():
        nonlocal got
        while True:
            try:
                data, src = s.recvfrom(4096)
            except BlockingIOError:
                return
            got += 1
            k = "%s:%d" % src
            sources[k] = sources.get(k, 0) + 1

    sent = 0
    for i in range(a.count):
        pkt = struct.pack("!BBHII", 0x80, 0, i & 0xffff, 160 * i, a.ssrc) + b"\xff" * 160
        try:
            s.sendto(pkt, dst)
            sent += 1
        except OSError:
            pass
        drain()
        next_t = t0 + (i + 1) * a.interval
        while time.monotonic() < next_t:
            drain()
            time.sleep(min(0.002, max(0.0, next_t - time.monotonic())))
    end = time.monotonic() + a.linger
    while time.monotonic() < end:
        drain()
        time.sleep(0.01)
    drain()
    _say({"sent": sent, "received": got, "from": sources})


def helper_main(argv):
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    u = sub.add_parser("uas")
    u.add_argument("--ip", required=True)
    u.add_argument("--ports", required=True)
    u.add_argument("--calls", type=int, default=1)
    u.add_argument("--timeout", type=float, default=60)
    c = sub.add_parser("uac")
    c.add_argument("--ip", required=True)
    c.add_argument("--sip-port", type=int, default=SIP_PORT)
    c.add_argument("--sbc", required=True)
    c.add_argument("--port", type=int, required=True)
    c.add_argument("--ctl", required=True)
    c.add_argument("--timeout", type=float, default=60)
    r = sub.add_parser("rtp")
    r.add_argument("--bind", required=True)
    r.add_argument("--to", required=True)
    r.add_argument("--count", type=int, default=100)
    r.add_argument("--interval", type=float, default=0.02)
    r.add_argument("--linger", type=float, default=1.0)
    r.add_argument("--ssrc", type=int, default=0x1234)
    r.add_argument("--barrier")
    r.add_argument("--parties", type=int, default=1)
    a = p.parse_args(argv)
    {"uas": uas_main, "uac": uac_main, "rtp": rtp_main}[a.cmd](a)


if __name__ == "__main__":
    helper_main(sys.argv[1:])
    sys.exit(0)


# ---------------------------------------------------------------------------
# the tests

def lines(proc):
    out = []
    for ln in proc.output().splitlines():
        try:
            out.append(json.loads(ln))
        except ValueError:
            pass
    return out


def wait_key(proc, key, n=1, timeout=20):
    def got():
        v = [o for o in lines(proc) if key in o]
        return v if len(v) >= n else None
    return wait_for(got, timeout, "%s from %s (%s)" % (key, proc.name, proc.errors()[-500:]))[n - 1]


class Call:
    """A call from a phone in pub to the core, both ends helpers of this file."""

    def __init__(self, net, uas, phone=PHONE, port=PHONE_RTP, sip_port=SIP_PORT, n=1):
        self.net = net
        self.ctl = os.path.join(net.tmpdir, "uac-%s-%d" % (phone, sip_port))
        os.makedirs(self.ctl, exist_ok=True)
        self.uac = net.popen("pub", [netns.PYTHON, HERE, "uac", "--ip", phone, "--sip-port",
                                     str(sip_port), "--sbc", SBC_WAN, "--port", str(port),
                                     "--ctl", self.ctl], name="uac")
        self.answer = wait_key(self.uac, "answered")["answered"]
        self.offer = wait_key(uas, "invite", n)["offer"]
        self.phone, self.port = phone, port

    def reinvite(self, port):
        with open(os.path.join(self.ctl, "reinvite.tmp"), "w") as f:
            f.write(str(port))
        os.rename(os.path.join(self.ctl, "reinvite.tmp"), os.path.join(self.ctl, "reinvite"))
        r = wait_key(self.uac, "reinvited")
        assert r["reinvited"].startswith("SIP/2.0 200"), r
        self.port = port
        return r

    def bye(self):
        open(os.path.join(self.ctl, "bye"), "w").close()
        r = wait_key(self.uac, "bye")
        assert r["bye"].startswith("SIP/2.0 200"), r


def start_uas(net, ports=(PBX_RTP,), calls=1):
    return net.popen("priv", [netns.PYTHON, HERE, "uas", "--ip", PBX_IP, "--ports",
                              ",".join(str(p) for p in ports), "--calls", str(calls)],
                     name="uas")


def barrier(net):
    """A fresh folder for rtp helpers that start sending together."""
    d = os.path.join(net.tmpdir, "barrier-%s" % uuid.uuid4().hex[:8])
    os.makedirs(d)
    return d


def rtp(net, ns, bind, to, count=100, interval=0.02, linger=1.0, ssrc=0x1234, sync=None):
    """An rtp helper; sync=(folder, parties): send only once every party has bound."""
    argv = [netns.PYTHON, HERE, "rtp", "--bind", bind, "--to", to, "--count", str(count),
            "--interval", str(interval), "--linger", str(linger), "--ssrc", str(ssrc)]
    if sync:
        argv += ["--barrier", sync[0], "--parties", str(sync[1])]
    return net.popen(ns, argv, name="rtp-" + ns)


def rtp_result(proc):
    proc.wait(60)
    return wait_key(proc, "sent")


def cdrs(net):
    path = os.path.join(net.tmpdir, "data", "calls.jsonl")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(ln) for ln in f if ln.strip()]


def last_cdr(net, n=1):
    """The n-th call record once written (sbcd writes it when the call ends)."""
    return wait_for(lambda: cdrs(net)[n - 1] if len(cdrs(net)) >= n else None, 10,
                    "call record %d" % n)


def guard_reason(net, reason):
    return ok(net, "guard.stats")["reasons"][reason]["packets"]


def wait_guard_reason(net, reason, want):
    """The guard takes the media drops once a second: wait for want (bounded),
    then make sure a later hand-over does not add more."""
    wait_for(lambda: guard_reason(net, reason) >= want or None, 10,
             "guard.stats %s reaching %d (%d)" % (reason, want, guard_reason(net, reason)))
    time.sleep(1.2)
    return guard_reason(net, reason)


def the_call(net):
    calls = ok(net, "calls")["calls"]
    assert len(calls) >= 1, calls
    return calls


def streams(net, cid):
    return ok(net, "calls.get", {"id": cid})["streams"]


@pytest.fixture
def bnet(testnet):
    for ns in ("pub", "priv"):
        testnet.run(ns, [netns.PYTHON, "-c", TX_CSUM_OFF, "eth0"], check=True)
    return testnet


def zone_media(net):
    return {z["name"]: (z["media"], z["media_fallback"]) for z in ok(net, "status")["zones"]}


def media_threads(net):
    """sbcd's threads named sbc-media: {tid: the CPUs it may run on}."""
    pid = ok(net, "status")["pid"]
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        base = "/proc/%d/task/%s/" % (pid, tid)
        with open(base + "comm") as f:
            if f.read().strip() != "sbc-media":
                continue
        with open(base + "status") as f:
            out[int(tid)] = re.search(r"^Cpus_allowed_list:\s*(\S+)", f.read(), re.M).group(1)
    return out


pytestmark = pytest.mark.sbc_config(BYPASS)


def test_status_and_sdp(bnet, sbcd):
    """Both zones run the bypass engine; the SDP on each side names the
    zone's media_address."""
    assert zone_media(bnet) == {"public": ("bypass", None), "private": ("bypass", None)}
    # the rings run on the media thread, not pinned by default ([media] cpu = any)
    assert ok(bnet, "status")["media_thread"] == {"cpu": None}
    assert len(media_threads(bnet)) == 1, media_threads(bnet)
    uas = start_uas(bnet)
    c = Call(bnet, uas)
    assert c.answer[0] == MEDIA_PUB and c.offer[0] == MEDIA_PRIV, (c.answer, c.offer)
    c.bye()


def relay_both_ways(net, c, count=100):
    """RTP both ways at once through the call's relay ports; returns both results."""
    sync = (barrier(net), 2)
    a = rtp(net, "pub", "%s:%d" % (c.phone, c.port), "%s:%d" % tuple(c.answer), count, sync=sync)
    b = rtp(net, "priv", "%s:%d" % (PBX_IP, PBX_RTP), "%s:%d" % tuple(c.offer), count, sync=sync)
    return rtp_result(a), rtp_result(b)


def test_rtp_both_ways(bnet, sbcd):
    """(a) 100 packets each way: each far side receives all of them, from
    the relay port its SDP named on the zone's media address; calls.get
    counts them received and relayed."""
    uas = start_uas(bnet)
    c = Call(bnet, uas)
    ra, rb = relay_both_ways(bnet, c)
    assert ra["sent"] == 100 and rb["sent"] == 100
    assert rb["from"] == {"%s:%d" % tuple(c.offer): 100}, rb
    assert ra["from"] == {"%s:%d" % tuple(c.answer): 100}, ra
    call = the_call(bnet)[0]
    st = streams(bnet, call["id"])[0]
    pub, priv = st["public"], st["private"]
    assert pub["packets"] == 100 and pub["relayed"] == 100, st
    assert priv["packets"] == 100 and priv["relayed"] == 100, st
    for side in (pub, priv):
        assert side["dropped"] == {"source": 0, "policing": 0, "no_dest": 0,
                                   "no_neighbour": 0}, st
    media = ok(bnet, "stats")["media"]
    assert media["packets_relayed"] >= 200 and media["dropped_no_neighbour"] == 0, media
    # the rings and lwIP of both bypass zones: every relayed frame came in and went out by a ring
    assert set(media["zones"]) == {"public", "private"}, media
    for z in ("public", "private"):
        ring, stack = media["zones"][z]["ring"], media["zones"][z]["stack"]
        assert ring["rx_frames"] >= 100 and ring["tx_frames"] >= 100, (z, ring)
        assert ring["rx_drops"] == 0 and ring["tx_full"] == 0, (z, ring)
        assert stack["arp_requests"] >= 1 or stack["arp_replies"] >= 1, (z, stack)
    fams = metrics_parse(ok(bnet, "metrics")["text"])
    for z in ("public", "private"):
        assert metric(fams, "sbc_media_ring_rx_drops_total", zone=z) == 0
        assert metric(fams, "sbc_media_stack_frames_total", zone=z, what="received") >= 1
    c.bye()
    # the call record: per stream and zone what calls.get said, RTP of 172 bytes
    rec = last_cdr(bnet)
    assert rec["final"] == 200 and len(rec["media"]) == 1, rec
    m = rec["media"][0]
    assert m["packets"] == [100, 100] and m["bytes"] == [100 * 172, 100 * 172], m
    assert m["rtcp_packets"] == [0, 0] and m["lost"] == [0, 0], m
    assert m["dropped"] == {"source": [0, 0], "policing": [0, 0], "no_dest": [0, 0],
                            "no_neighbour": [0, 0]}, m
    assert all(0 <= j < 100 for j in m["jitter_ms"]), m
    check_ingress_drop(bnet)


def ingress_rule(net, zone):
    """(packets, bytes) of the bypass zone's nftables ingress drop, or None
    when its table is not there."""
    r = net.run("sbc", [netns.NFT, "list", "table", "netdev", "sbc_media_%s" % zone])
    if r.returncode != 0:
        return None
    m = re.search(r"ip daddr (\S+) counter packets (\d+) bytes (\d+) drop", r.stdout)
    assert m, r.stdout
    return m.group(1), int(m.group(2))


def check_ingress_drop(net):
    """Each bypass zone's table drops the media frames at ingress, after the
    ring took them (the kernel never routes them); it leaves with sbcd."""
    for zone, own in (("public", MEDIA_PUB), ("private", MEDIA_PRIV)):
        rule = ingress_rule(net, zone)
        assert rule is not None and rule[0] == own and rule[1] >= 100, (zone, rule)
    assert net.stop_sbcd() == 0
    for zone in ("public", "private"):
        assert ingress_rule(net, zone) is None, zone


def test_arp_and_ping(bnet, sbcd):
    """(b) pub and priv ping the media addresses (raw ICMP: no ping here);
    their neighbour tables then show the sbc interface's MAC."""
    for ns, ip, iface in (("pub", MEDIA_PUB, "wan"), ("priv", MEDIA_PRIV, "lan")):
        r = bnet.run(ns, [netns.PYTHON, "-c", PING, ip], timeout=20)
        assert r.returncode == 0, (ns, r.stdout, r.stderr)
        mac = bnet.link("sbc", iface)["address"]
        neigh = bnet.run(ns, ["ip", "neigh", "show", ip], check=True).stdout
        assert mac.lower() in neigh.lower(), (neigh, mac)


PING = r"""
import socket, struct, sys, time
dst = sys.argv[1]
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
s.settimeout(0.5)
def csum(b):
    b += b"\0" * (len(b) % 2)
    c = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while c >> 16: c = (c & 0xffff) + (c >> 16)
    return ~c & 0xffff
got = 0
for seq in range(20):
    body = struct.pack("!BBHHH", 8, 0, 0, 0x4242, seq) + b"x" * 32
    s.sendto(body[:2] + struct.pack("!H", csum(body)) + body[4:], (dst, 0))
    try:
        while True:
            data, src = s.recvfrom(2048)
            ihl = (data[0] & 15) * 4
            if src[0] == dst and data[ihl] == 0 and data[ihl + 6:ihl + 8] == struct.pack("!H", seq):
                got += 1
                break
    except socket.timeout:
        pass
    if got >= 3:
        break
print(got)
sys.exit(0 if got >= 3 else 1)
"""


def test_wrong_source_dropped(bnet, sbcd):
    """(c) once the phone latched, RTP to its relay port from another
    public address is dropped and counted as source; the phone's own
    packets all go through."""
    uas = start_uas(bnet)
    c = Call(bnet, uas)
    ra, rb = relay_both_ways(bnet, c, count=50)
    assert rb["from"] == {"%s:%d" % tuple(c.offer): 50}, rb
    before = wait_guard_reason(bnet, "rtp_source", 0)
    inj = rtp(bnet, "pub", "%s:%d" % (OTHER, 7100), "%s:%d" % tuple(c.answer), 30,
              interval=0.005, linger=0.5, ssrc=0x6666)
    r = rtp_result(inj)
    assert r["sent"] == 30
    st = streams(bnet, the_call(bnet)[0]["id"])[0]
    assert st["public"]["dropped"]["source"] == 30, st
    assert st["public"]["relayed"] == 50, st
    # the guard's statistics count them too, exactly, under rtp_source
    assert wait_guard_reason(bnet, "rtp_source", before + 30) == before + 30
    tl = ok(bnet, "guard.timeline", {"scale": "second"})["reasons"]
    assert sum(tl["rtp_source"]) == before + 30, [x for x in tl["rtp_source"] if x]
    fams = metrics_parse(ok(bnet, "metrics")["text"])
    assert metric(fams, "sbc_guard_blocked_packets_total", reason="rtp_source") == before + 30
    assert ok(bnet, "guard.bans") == [], "a media source was banned"
    out = sbcctl_ok(sbcctl(control_socket(bnet), "guard", "stats"))
    row = [r for r in sbcctl_rows(out) if r[0] == "rtp_source"]
    assert row and row[0][1:3] == [str(before + 30), "0"], out
    c.bye()
    rec = last_cdr(bnet)
    assert rec["media"][0]["dropped"]["source"] == [30, 0], rec
    assert rec["media"][0]["packets"] == [50 + 30, 50], rec


def test_policing(bnet, sbcd):
    """(d) two calls: one phone sends at 10 times its SDP rate (500 packets
    a second for a ptime of 20 ms), the other at its rate: the first is
    policed (dropped.policing > 0), the second keeps every packet."""
    uas = start_uas(bnet, ports=(PBX_RTP, PBX_RTP + 2), calls=2)
    c1 = Call(bnet, uas)
    c2 = Call(bnet, uas, phone=OTHER, port=PHONE_RTP + 2, n=2)
    sync = (barrier(bnet), 4)
    flood = rtp(bnet, "pub", "%s:%d" % (c1.phone, c1.port), "%s:%d" % tuple(c1.answer),
                1000, interval=0.002, linger=0.5, sync=sync)
    calm = rtp(bnet, "pub", "%s:%d" % (c2.phone, c2.port), "%s:%d" % tuple(c2.answer),
               100, interval=0.02, linger=0.5, ssrc=0x7777, sync=sync)
    sink1 = rtp(bnet, "priv", "%s:%d" % (PBX_IP, PBX_RTP), "%s:%d" % tuple(c1.offer), 0,
                linger=3.0, sync=sync)
    sink2 = rtp(bnet, "priv", "%s:%d" % (PBX_IP, PBX_RTP + 2), "%s:%d" % tuple(c2.offer), 0,
                linger=3.0, sync=sync)
    rf, rc = rtp_result(flood), rtp_result(calm)
    s1, s2 = rtp_result(sink1), rtp_result(sink2)
    by_call = {}
    for call in the_call(bnet):
        by_call[call["id"]] = streams(bnet, call["id"])[0]["public"]
    flooded = [v for v in by_call.values() if v["packets"] == rf["sent"]]
    calmed = [v for v in by_call.values() if v["packets"] == rc["sent"]]
    assert flooded and calmed, by_call
    assert flooded[0]["dropped"]["policing"] > 0, by_call
    assert flooded[0]["relayed"] + flooded[0]["dropped"]["policing"] == rf["sent"], by_call
    assert s1["received"] == flooded[0]["relayed"], (s1, by_call)
    assert calmed[0]["dropped"]["policing"] == 0 and s2["received"] == rc["sent"] == 100, \
        (s2, by_call)
    policed = sum(v["dropped"]["policing"] for v in by_call.values())
    assert wait_guard_reason(bnet, "rtp_policing", policed) == policed, by_call
    c1.bye()
    c2.bye()


SIPP_MEDIA_PORT = 6000


def test_sipp_pcap_call(bnet, sbcd):
    """(g) real peers: sipp in pub plays 1 s of PCMU from a pcap
    (rtp_uac.xml, play_pcap_audio), a sipp UAS at the core echoes it
    (-rtp_echo). Each far side receives the packets from the zone's media
    address and the relay port its SDP named; calls.get counts both ways
    during the call, and the call record's counts equal what arrived."""
    pytest.importorskip("scapy")
    from test_calls import RTP_PACKETS, _udp_flows, write_rtp_pcap
    pcap = write_rtp_pcap(os.path.join(bnet.tmpdir, "g711.pcap"))
    callee = bnet.sipp_bg("priv", ["-sf", netns.sipp_scenario("call_uas.xml"), "-m", "1",
                                   "-t", "u1", "-i", PBX_IP, "-p", str(SIP_PORT), "-mi", PBX_IP,
                                   "-rtp_echo", "-mp", str(SIPP_MEDIA_PORT),
                                   "-timeout", "60s", "-timeout_error"], name="callee")
    argv = ["-sf", netns.sipp_scenario("rtp_uac.xml"), "-s", "alice",
            "-key", "dest", "%s:%d" % (SBC_WAN, SIP_PORT), "-key", "pcap", pcap,
            "-m", "1", "-t", "u1", "-i", PHONE, "-p", str(SIP_PORT), "-mi", PHONE,
            "-mp", str(SIPP_MEDIA_PORT), "%s:%d" % (SBC_WAN, SIP_PORT)]
    rtp_filter = "udp and not port 5060"
    seen = []
    with bnet.tshark("pub", "eth0", rtp_filter, name="rtp-phone") as at_phone, \
            bnet.tshark("priv", "eth0", rtp_filter, name="rtp-pbx") as at_pbx:
        done = threading.Event()

        def watch():
            # calls.get while the call is up (bounded by the caller's run)
            while not done.is_set():
                for call in ok(bnet, "calls")["calls"]:
                    try:
                        st = streams(bnet, call["id"])
                    except AssertionError:
                        continue
                    if st:
                        seen.append(st[0])
                time.sleep(0.2)
        t = threading.Thread(target=watch, daemon=True)
        t.start()
        try:
            caller = bnet.sipp("pub", argv, timeout=30, name="caller")
        finally:
            done.set()
            t.join(10)
        callee_res = callee.result(timeout=60)
    assert caller.rc == 0, "caller: " + caller.describe()
    assert callee_res.rc == 0, "callee: " + callee_res.describe()
    rec = last_cdr(bnet)
    m = rec["media"][0]
    flows_pbx, flows_phone = _udp_flows(at_pbx.path), _udp_flows(at_phone.path)
    # what reached each far side came from the zone's media address (the bypass engine)
    to_pbx = {k: v for k, v in flows_pbx.items()
              if k[0] == MEDIA_PRIV and k[2] == PBX_IP and k[3] == str(SIPP_MEDIA_PORT)}
    to_phone = {k: v for k, v in flows_phone.items()
                if k[0] == MEDIA_PUB and k[2] == PHONE and k[3] == str(SIPP_MEDIA_PORT)}
    assert len(to_pbx) == 1 and len(to_phone) == 1, (flows_pbx, flows_phone)
    got_pbx, got_phone = sum(to_pbx.values()), sum(to_phone.values())
    assert got_pbx == RTP_PACKETS, flows_pbx
    assert got_phone >= RTP_PACKETS * 0.8, flows_phone
    # nothing came from the kernel's addresses (the socket engine)
    assert not [k for k in flows_pbx if k[0] == "10.20.0.1"], flows_pbx
    assert not [k for k in flows_phone if k[0] == SBC_WAN], flows_phone
    # calls.get during the call counted both ways; the record equals what arrived
    assert seen and max(s["public"]["packets"] for s in seen) > 0, seen[-1:]
    assert max(s["private"]["packets"] for s in seen) > 0, seen[-1:]
    assert m["packets"] == [got_pbx, got_phone], (m, got_pbx, got_phone)
    assert m["dropped"]["source"] == [0, 0] and m["dropped"]["no_neighbour"] == [0, 0], m


def test_reinvite_moves_port(bnet, sbcd):
    """(e) after a re-INVITE moving the phone's RTP port, what the core
    sends reaches the new port (from the same relay port)."""
    uas = start_uas(bnet)
    c = Call(bnet, uas)
    ra, rb = relay_both_ways(bnet, c, count=20)
    assert ra["received"] == 20, ra
    c.reinvite(PHONE_RTP + 10)
    ra, rb = relay_both_ways(bnet, c, count=30)
    assert ra["from"] == {"%s:%d" % tuple(c.answer): 30}, ra
    assert rb["from"] == {"%s:%d" % tuple(c.offer): 30}, rb
    c.bye()


def test_fallback_address_on_kernel(testnet):
    """(f) the public media_address is configured on the kernel's wan: the
    zone falls back to the socket engine, status says why, the warning is
    logged once, and a call relays RTP both ways."""
    testnet.run("sbc", ["ip", "addr", "add", "203.0.113.3/24", "dev", "wan"], check=True)
    for ns in ("pub", "priv"):
        testnet.run(ns, [netns.PYTHON, "-c", TX_CSUM_OFF, "eth0"], check=True)
    cfg = testnet.write_config(overrides={
        "public": {"media": "bypass", "media_address": "203.0.113.3"}})
    testnet.start_sbcd(cfg)
    zm = zone_media(testnet)
    assert zm["private"] == ("socket", None), zm
    assert zm["public"][0] == "socket" and "configured on the kernel" in zm["public"][1], zm
    # no bypass zone runs: no media thread
    assert ok(testnet, "status")["media_thread"] is None
    assert media_threads(testnet) == {}
    log = testnet.sbcd_log()
    assert log.count("media: public zone: bypass unavailable (") == 1, log[-2000:]
    uas = start_uas(testnet)
    c = Call(testnet, uas)
    assert c.answer[0] == SBC_WAN, c.answer    # the zone address after a fallback
    ra, rb = relay_both_ways(testnet, c, count=30)
    assert ra["received"] == 30 and rb["received"] == 30, (ra, rb)
    c.bye()
    assert not sbcd_problems(testnet), testnet.sbcd_log()[-3000:]


def test_mixed_bypass_and_socket(bnet):
    """Public zone bypass, private zone socket: ring->socket and
    socket->ring both relay every packet."""
    cfg = bnet.write_config(overrides={
        "public": {"media": "bypass", "media_address": MEDIA_PUB},
        "private": {"media": "socket", "media_address": None}})
    bnet.start_sbcd(cfg)
    assert zone_media(bnet) == {"public": ("bypass", None), "private": ("socket", None)}
    assert len(media_threads(bnet)) == 1, media_threads(bnet)
    uas = start_uas(bnet)
    c = Call(bnet, uas)
    assert c.answer[0] == MEDIA_PUB and c.offer[0] == "10.20.0.1", (c.answer, c.offer)
    ra, rb = relay_both_ways(bnet, c, count=50)
    assert rb["from"] == {"%s:%d" % tuple(c.offer): 50}, rb
    assert ra["from"] == {"%s:%d" % tuple(c.answer): 50}, ra
    c.bye()
    assert not sbcd_problems(bnet), bnet.sbcd_log()[-3000:]


def test_media_thread_pinned(bnet):
    """[media] cpu = 1: the media thread may run on CPU 1 only, stats says
    so, and a call relays every packet both ways through it; a CPU sbcd
    may not use is logged once and the thread runs unpinned."""
    cfg = bnet.write_config(overrides=dict(BYPASS, media={"cpu": "1"}))
    bnet.start_sbcd(cfg)
    assert ok(bnet, "status")["media_thread"] == {"cpu": 1}
    assert list(media_threads(bnet).values()) == ["1"], media_threads(bnet)
    assert "media thread, pinned to CPU 1" in bnet.sbcd_log()
    uas = start_uas(bnet)
    c = Call(bnet, uas)
    ra, rb = relay_both_ways(bnet, c, count=50)
    assert ra["received"] == 50 and rb["received"] == 50, (ra, rb)
    c.bye()
    bnet.stop_sbcd()
    cfg = bnet.write_config(overrides=dict(BYPASS, media={"cpu": "1000"}))
    bnet.start_sbcd(cfg)
    assert ok(bnet, "status")["media_thread"] == {"cpu": None}
    assert len(media_threads(bnet)) == 1
    assert bnet.sbcd_log().count("CPU 1000 is not available to sbcd") == 1
    assert not sbcd_problems(bnet), bnet.sbcd_log()[-3000:]


def capture(net, ns, port, name):
    """tshark on ns's eth0 for UDP to port, into a pcap; returns (proc, path) once it captures."""
    path = os.path.join(net.tmpdir, name + ".pcap")
    proc = net.popen(ns, ["tshark", "-q", "-i", "eth0", "-f", "udp dst port %d" % port,
                          "-w", path], name=name, merge=True)
    wait_for(lambda: "Capturing on" in open(proc.out_path).read() or None, 20,
             "tshark capturing in " + ns)
    return proc, path


def udp_checksums(path):
    """tshark's verdict on each captured UDP checksum: a list of 'good'/'bad'/..."""
    out = subprocess.run(["tshark", "-r", path, "-o", "udp.check_checksum:TRUE", "-T", "fields",
                          "-e", "udp.checksum.status"], capture_output=True, text=True,
                         check=True).stdout
    names = {"0": "bad", "1": "good", "2": "unverified"}
    return [names.get(v.strip(), v.strip()) for v in out.splitlines() if v.strip()]


def test_partial_checksums_completed(testnet):
    """Senders keep transmit checksum offload on (veth's default), so the
    frames reach the rings with partial UDP checksums: the engine completes
    them (media.csum_completed) and every relayed frame captured on either
    far side carries a UDP checksum that verifies."""
    cfg = testnet.write_config(overrides=BYPASS)
    testnet.start_sbcd(cfg)
    uas = start_uas(testnet)
    c = Call(testnet, uas)
    cap_priv, pcap_priv = capture(testnet, "priv", PBX_RTP, "cap-priv")
    cap_pub, pcap_pub = capture(testnet, "pub", c.port, "cap-pub")
    ra, rb = relay_both_ways(testnet, c, count=50)
    assert ra["received"] == 50 and rb["received"] == 50, (ra, rb)
    c.bye()
    for proc in (cap_priv, cap_pub):
        proc.stop(sig=signal.SIGINT, timeout=10)
    assert udp_checksums(pcap_priv) == ["good"] * 50
    assert udp_checksums(pcap_pub) == ["good"] * 50
    assert ok(testnet, "stats")["media"]["csum_completed"] == 100


def test_daemon_keeps_its_threads(bnet):
    """sbcd -d forks before it starts anything: the daemon has the media
    thread and lwIP's (which a fork after the start would lose), so its
    media addresses answer ping and a call relays RTP both ways; the
    parent exits 0 only once the daemon runs."""
    pid_file = os.path.join(bnet.rundir, "run", "sbcd.pid")
    cfg = bnet.write_config(overrides=BYPASS)
    parent = bnet.start_sbcd(cfg, ready=None, args=("-d", "-p", pid_file))
    assert parent.wait(20) == 0, netns.log_tail(parent.out_path)
    with open(pid_file) as f:
        pid = int(f.read())
    try:
        assert ok(bnet, "status")["pid"] == pid != parent.pid
        assert len(media_threads(bnet)) == 1, media_threads(bnet)
        r = bnet.run("pub", [netns.PYTHON, "-c", PING, MEDIA_PUB], timeout=20)
        assert r.returncode == 0, (r.stdout, r.stderr)
        uas = start_uas(bnet)
        c = Call(bnet, uas)
        ra, rb = relay_both_ways(bnet, c, count=30)
        assert ra["received"] == 30 and rb["received"] == 30, (ra, rb)
        c.bye()
    finally:
        os.kill(pid, signal.SIGTERM)
        wait_for(lambda: not os.path.exists(pid_file) or None, 20, "the daemon's exit")


def test_daemon_start_failure_reaches_the_parent(bnet):
    """sbcd -d that cannot start (its SIP port is taken): the parent exits
    1, as in the foreground, and no pid file is left."""
    pid_file = os.path.join(bnet.rundir, "run", "sbcd.pid")
    holder = bnet.popen("sbc", [netns.PYTHON, "-c",
                                "import socket, time\n"
                                "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                                "s.bind(('203.0.113.1', 5060)); print('bound', flush=True)\n"
                                "time.sleep(60)\n"], name="holder")
    wait_for(lambda: "bound" in open(holder.out_path).read() or None, 10, "the port holder")
    cfg = bnet.write_config(overrides=BYPASS)
    parent = bnet.start_sbcd(cfg, ready=None, args=("-d", "-p", pid_file))
    assert parent.wait(20) == 1, netns.log_tail(parent.out_path)
    assert not os.path.exists(pid_file)
    holder.stop()
