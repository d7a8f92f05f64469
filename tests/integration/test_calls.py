"""Calls through sbcd, end to end, with real peers (issue 4 item 8).

Most flows run in both directions of the test network:

  "in"   a phone in pub (203.0.113.11) calls through the public zone
         (203.0.113.1:5060) and sbcd sends the call to the core, a sipp
         UAS at 10.20.0.10:5060 in priv;
  "out"  the PBX in priv (10.20.0.10) calls out through the private zone
         (10.20.0.1:5060) with the trunk's address in the Request-URI;
         sbcd routes it to [trunk:carrier] (zone public, 203.0.113.10),
         a sipp UAS in pub.

Each test checks that sipp's scenarios succeed on both ends, and that the
captures on sbcd's wan (public side) and lan show the topology hidden:
nothing private on the public side in any header or body, Via only the SBC,
different Call-IDs and tags on the two legs, no Record-Route crossing.

Scenarios: tests/integration/sipp/*_uac.xml and *_uas.xml (see
docs/testing.md, "Calls through sbcd").
"""
import concurrent.futures
import hashlib
import json
import os
import re
import shutil
import subprocess
import time

import pytest

import netns
from netns import PBX, PUB, PUB_EXTRA, SBC_LAN, SBC_WAN, read_sip, sipp_scenario, wait_for

PHONE = PUB_EXTRA[0]             # 203.0.113.11: a phone on the internet
CARRIER = PUB                    # 203.0.113.10: the [trunk:carrier] address
CORE_NAME = "pbx.corp.internal"  # [core] hide: the PBX's name
PRIVATE_RE = re.compile(r"10\.20\.0\.\d+|" + re.escape(CORE_NAME), re.I)
SIP_PORT = 5060
RTP_RANGES = {"public": (20000, 29999), "private": (30000, 39999)}   # sbcd's defaults

CALLS_CONFIG = {
    "core": {"hide": CORE_NAME},
    "trunk:carrier": {"zone": "public", "address": CARRIER},
}

pytestmark = pytest.mark.sbc_config(CALLS_CONFIG)


class Direction:
    """Who calls whom through which zone of sbcd."""

    def __init__(self, name, caller_ns, caller_ip, sbc_ip, dest, callee_ns, callee_ip,
                 sbc_callee_ip):
        self.name = name
        self.caller_ns = caller_ns
        self.caller_ip = caller_ip
        self.sbc_ip = sbc_ip                # where the caller sends
        self.dest = dest                    # host:port of the caller's Request-URI
        self.callee_ns = callee_ns
        self.callee_ip = callee_ip
        self.sbc_callee_ip = sbc_callee_ip  # sbcd's address on the callee's side

    def __repr__(self):
        return self.name


IN = Direction("in", "pub", PHONE, SBC_WAN, "%s:%d" % (SBC_WAN, SIP_PORT),
               "priv", PBX, SBC_LAN)
OUT = Direction("out", "priv", PBX, SBC_LAN, "%s:%d" % (CARRIER, SIP_PORT),
                "pub", CARRIER, SBC_WAN)
DIRECTIONS = [pytest.param(IN, id="in"), pytest.param(OUT, id="out")]


# ---------------------------------------------------------------------------
# running a flow

def start_callee(net, d, scenario, args=(), calls=1, name="callee", trace_msg=True):
    """The called side's sipp (background), bound to its address:5060."""
    argv = ["-sf", sipp_scenario(scenario), "-m", str(calls), "-t", "u1",
            "-i", d.callee_ip, "-p", str(SIP_PORT), "-mi", d.callee_ip,
            "-timeout", "60s", "-timeout_error"] + list(args)
    return net.sipp_bg(d.callee_ns, argv, name=name, trace_msg=trace_msg)


def run_caller(net, d, scenario, args=(), calls=1, service="alice", name="caller", timeout=30,
               trace_msg=True):
    """The calling side's sipp, run to its end."""
    argv = ["-sf", sipp_scenario(scenario), "-s", service, "-key", "dest", d.dest,
            "-m", str(calls), "-t", "u1",
            "-i", d.caller_ip, "-p", str(SIP_PORT), "-mi", d.caller_ip] + list(args) + \
           ["%s:%d" % (d.sbc_ip, SIP_PORT)]
    return net.sipp(d.caller_ns, argv, timeout=timeout, name=name, trace_msg=trace_msg)


class Flow:
    """A call flow's outcome: both sipps' results and both captures. The
    messages of both captures are read on first use, the two at once (each
    is a tshark run of its own)."""

    def __init__(self, caller, callee, wan, lan):
        self.caller = caller
        self.callee = callee
        self.wan = wan
        self.lan = lan
        self._wan_msgs = self._lan_msgs = None

    def read_messages(self, pcap):
        return read_sip(pcap)

    def _read_both(self):
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            wan = pool.submit(self.read_messages, self.wan)
            lan = pool.submit(self.read_messages, self.lan)
            self._wan_msgs, self._lan_msgs = wan.result(), lan.result()

    @property
    def wan_msgs(self):
        if self._wan_msgs is None:
            self._read_both()
        return self._wan_msgs

    @property
    def lan_msgs(self):
        if self._lan_msgs is None:
            self._read_both()
        return self._lan_msgs

    def assert_ok(self):
        assert self.caller.rc == 0, "caller: " + self.caller.describe()
        assert self.callee.rc == 0, "callee: " + self.callee.describe()


def run_flow(net, d, uac, uas, uac_args=(), uas_args=(), calls=1, capfilter="udp port 5060",
             timeout=30):
    """Start the callee, capture on wan and lan, run the caller to its end,
    wait for the callee; returns a Flow (assert_ok() not yet called)."""
    callee = start_callee(net, d, uas, uas_args, calls=calls)
    with net.tshark("sbc", "wan", capfilter, name="wan") as wan, \
            net.tshark("sbc", "lan", capfilter, name="lan") as lan:
        caller = run_caller(net, d, uac, uac_args, calls=calls, timeout=timeout)
        callee_res = callee.result(timeout=timeout + 30)
    return Flow(caller, callee_res, wan.path, lan.path)


# ---------------------------------------------------------------------------
# topology hiding, as seen in the captures

def _tags(msgs):
    out = set()
    for m in msgs:
        for h in (m.from_, m.to):
            t = re.search(r";\s*tag=([^;>\s]+)", h or "")
            if t:
                out.add(t.group(1))
    return out


def _via_host(v):
    m = re.match(r"\s*SIP/2\.0/\w+\s+([^;:\s]+)", v)
    return m.group(1) if m else v


def raw_payloads(pcap, src):
    """(frame number, UDP/TCP payload as text) of every frame src sent, SIP or not."""
    r = subprocess.run([netns.TSHARK, "-n", "-r", pcap, "-Y", "ip.src==%s" % src, "-T", "fields",
                        "-e", "frame.number", "-e", "udp.payload", "-e", "tcp.payload"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60,
                       check=True)
    out = []
    for ln in r.stdout.splitlines():
        parts = ln.split("\t")
        hexes = "".join(p for p in parts[1:] if p).replace(":", "")
        try:
            out.append((int(parts[0]), bytes.fromhex(hexes).decode("latin-1")))
        except ValueError:
            continue
    return out


def hiding_problems(flow):
    """Everything in the captures that breaks topology hiding (a list of
    strings; empty when all is well)."""
    wan, lan = flow.wan_msgs, flow.lan_msgs
    problems = []
    if not wan or not lan:
        return ["no SIP captured (wan %d, lan %d messages)" % (len(wan), len(lan))]
    for frame, payload in raw_payloads(flow.wan, SBC_WAN):
        hit = PRIVATE_RE.search(payload)
        if hit:
            problems.append("wan frame %d from sbcd names the private side: %r in %r"
                            % (frame, hit.group(0), payload[:200]))
    for m in wan:
        if m.src != SBC_WAN:
            continue                            # what the public peers sent
        if m.is_request:
            hosts = [_via_host(v) for v in m.via]
            if hosts != [SBC_WAN]:
                problems.append("wan frame %d (%s) from sbcd has Via %s"
                                % (m.frame, m.first_line, m.via))
        else:
            for v in m.via:
                if not _via_host(v).startswith("203.0.113."):
                    problems.append("wan frame %d (%s) has a foreign Via %r"
                                    % (m.frame, m.first_line, v))
        for c in m.contact:
            if "@%s:" % SBC_WAN not in c and "@%s>" % SBC_WAN not in c:
                problems.append("wan frame %d (%s) from sbcd has Contact %r"
                                % (m.frame, m.first_line, c))
        for rr in m.record_route:
            # the public peer's own Record-Route, echoed in our responses, is fine
            if SBC_WAN in rr or not rr.strip().startswith("<sip:203.0.113."):
                problems.append("wan frame %d (%s) from sbcd has Record-Route %r"
                                % (m.frame, m.first_line, rr))
    if not any(PRIVATE_RE.search(m.raw) for m in lan):
        problems.append("nothing private was said on lan: the check above proves nothing")
    wan_ids = {m.call_id for m in wan if m.call_id}
    lan_ids = {m.call_id for m in lan if m.call_id}
    if wan_ids & lan_ids:
        problems.append("Call-IDs on both legs: %s" % sorted(wan_ids & lan_ids))
    common = _tags(wan) & _tags(lan)
    if common:
        problems.append("tags on both legs: %s" % sorted(common))
    return problems


def assert_hidden(flow):
    problems = hiding_problems(flow)
    assert not problems, "\n".join(problems)


def assert_no_leak_blocked(net):
    """sbcd's leak checker never had to stop a message (it stays at zero)."""
    log = net.sbcd_log()
    assert "names the private side" not in log, [
        ln for ln in log.splitlines() if "names the private side" in ln]


def cdrs(net):
    path = os.path.join(net.tmpdir, "data", "calls.jsonl")
    try:
        with open(path) as f:
            return [json.loads(ln) for ln in f if ln.strip()]
    except FileNotFoundError:
        return []


def wait_cdrs(net, n, timeout=10.0):
    """The call records once at least n are written (or what there is at timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        recs = cdrs(net)
        if len(recs) >= n or time.monotonic() >= deadline:
            return recs
        time.sleep(0.05)


def first(msgs, method=None, status=None, cseq=None):
    for m in msgs:
        if method and m.method != method:
            continue
        if status and m.status != status:
            continue
        if cseq and (not m.cseq or cseq not in m.cseq):
            continue
        return m
    return None


def header(raw, name):
    """Every value of header name in a raw message (unfolded)."""
    head = raw.split("\r\n\r\n", 1)[0]
    head = re.sub(r"\r\n[ \t]+", " ", head)
    return [ln.split(":", 1)[1].strip() for ln in head.split("\r\n")[1:]
            if ln.split(":", 1)[0].strip().lower() == name.lower()]


# ---------------------------------------------------------------------------
# 1. call flows

def run_checked(net, d, uac, uas, **kw):
    """A flow whose sipps must both succeed, with the topology hidden and the
    leak checker never needed."""
    flow = run_flow(net, d, uac, uas, **kw)
    flow.assert_ok()
    assert_hidden(flow)
    assert_no_leak_blocked(net)
    return flow


def legs(flow, d):
    """(the caller's leg, the callee's leg): the messages of each capture."""
    return (flow.wan_msgs, flow.lan_msgs) if d is IN else (flow.lan_msgs, flow.wan_msgs)


def one_cdr(net):
    recs = wait_cdrs(net, 1)
    assert len(recs) == 1, recs
    return recs[0]


@pytest.mark.parametrize("d", DIRECTIONS)
def test_basic_call_caller_hangs_up(testnet, sbcd, d):
    """INVITE/100/180/200/ACK/BYE; session timers and the BYE's Reason end to end."""
    flow = run_checked(testnet, d, "call_uac.xml", "call_uas.xml")
    a, b = legs(flow, d)
    # Session-Expires / Min-SE: the caller's on the b-leg INVITE, the callee's on the a-leg 200
    inv = first([m for m in b if m.src == d.sbc_callee_ip], method="INVITE")
    assert header(inv.raw, "Session-Expires") == ["1800;refresher=uac"]
    assert header(inv.raw, "Min-SE") == ["90"]
    ok = first([m for m in a if m.src == d.sbc_ip], status=200, cseq="INVITE")
    assert header(ok.raw, "Session-Expires") == ["1800;refresher=uac"]
    assert header(ok.raw, "Min-SE") == ["90"]
    assert header(ok.raw, "Require") == ["timer"]
    # the caller's BYE, its Reason carried to the callee
    bye = first([m for m in b if m.src == d.sbc_callee_ip], method="BYE")
    assert header(bye.raw, "Reason") == ['Q.850;cause=16;text="NORMAL_CLEARING"']
    # the call record: both legs' Call-IDs, answered, ended by the caller
    rec = one_cdr(testnet)
    assert rec["a_call_id"] == first(a, method="INVITE").call_id
    assert rec["b_call_id"] == inv.call_id
    assert (rec["final"], rec["cause"]) == (200, "BYE from the caller")
    assert rec["source"] == "%s:%d" % (d.caller_ip, SIP_PORT)


@pytest.mark.parametrize("d", DIRECTIONS)
def test_basic_call_callee_hangs_up(testnet, sbcd, d):
    """The callee's BYE (with its Reason) goes to the caller, answered at once."""
    flow = run_checked(testnet, d, "hangup_uac.xml", "hangup_uas.xml")
    a, _ = legs(flow, d)
    bye = first([m for m in a if m.src == d.sbc_ip], method="BYE")
    assert bye is not None, "no BYE reached the caller"
    assert header(bye.raw, "Reason") == ['Q.850;cause=16;text="NORMAL_CLEARING"']
    assert one_cdr(testnet)["cause"] == "BYE from the callee"


@pytest.mark.sbc_config({"trunk:carrier": {"max_calls": "1"}})
def test_trunk_max_calls(testnet, sbcd):
    """[trunk:carrier] max_calls = 1: while one call to the carrier is up, the
    PBX's second gets 503 with Retry-After from sbcd and never reaches the
    carrier; the first call is untouched."""
    d = OUT
    callee = start_callee(testnet, d, "stream_hangup_late_uas.xml",
                          ["-d", "3000", "-key", "contact", "%s:%d" % (CARRIER, SIP_PORT),
                           "-key", "vt", "UDP"])
    with testnet.tshark("sbc", "wan", "udp port 5060", name="wan") as wan, \
            testnet.tshark("sbc", "lan", "udp port 5060", name="lan") as lan:
        caller = run_caller(testnet, d, "hangup_uac.xml", ["-l", "2", "-r", "10"], calls=2)
        callee_res = callee.result(timeout=30)
    assert callee_res.rc == 0, callee_res.describe()
    assert caller.stats.get("successful") == 1 and caller.stats.get("failed") == 1, \
        caller.describe()
    refused = [m for m in read_sip(lan.path) if m.src == SBC_LAN and m.status == 503]
    assert len(refused) == 1 and header(refused[0].raw, "Retry-After") == ["5"], refused
    invites = [m for m in read_sip(wan.path) if m.method == "INVITE" and m.src == SBC_WAN]
    assert len({m.call_id for m in invites}) == 1, [m.first_line for m in invites]


@pytest.mark.parametrize("d", DIRECTIONS)
def test_late_offer(testnet, sbcd, d):
    """INVITE without SDP; the offer in the 200, the answer in the ACK."""
    flow = run_checked(testnet, d, "lateoffer_uac.xml", "lateoffer_uas.xml")
    _, b = legs(flow, d)
    inv = first([m for m in b if m.src == d.sbc_callee_ip], method="INVITE")
    assert "\r\n\r\n" in inv.raw and inv.raw.split("\r\n\r\n", 1)[1] == ""
    ack = first([m for m in b if m.src == d.sbc_callee_ip], method="ACK")
    assert "m=audio" in ack.raw and d.sbc_callee_ip in ack.raw


@pytest.mark.parametrize("d", DIRECTIONS)
def test_early_media_183(testnet, sbcd, d):
    """183 with SDP then 200: the early answer already names the relay."""
    flow = run_checked(testnet, d, "early_uac.xml", "early_uas.xml")
    a, _ = legs(flow, d)
    p183 = first([m for m in a if m.src == d.sbc_ip], status=183)
    assert p183 is not None and "c=IN IP4 %s" % d.sbc_ip in p183.raw


@pytest.mark.parametrize("d", DIRECTIONS)
def test_cancel_before_answer(testnet, sbcd, d):
    """CANCEL while ringing: the b-leg is CANCELed (Reason carried), 487 to the caller."""
    flow = run_checked(testnet, d, "cancel_uac.xml", "cancel_uas.xml")
    a, b = legs(flow, d)
    cancel = first([m for m in b if m.src == d.sbc_callee_ip], method="CANCEL")
    assert cancel is not None
    assert header(cancel.raw, "Reason") == ['SIP;cause=200;text="Call completed elsewhere"']
    assert first([m for m in a if m.src == d.sbc_ip], status=487) is not None
    rec = one_cdr(testnet)
    assert rec["cause"] == "cancelled" and not rec.get("answer"), rec


@pytest.mark.parametrize("d", DIRECTIONS)
def test_hold_unhold_both_sides(testnet, sbcd, d):
    """re-INVITE a=sendonly c=0.0.0.0 and back, from either side."""
    flow = run_checked(testnet, d, "hold_uac.xml", "hold_uas.xml")
    _, b = legs(flow, d)
    holds = [m for m in b if m.method == "INVITE" and m.src == d.sbc_callee_ip
             and "a=sendonly" in m.raw]
    assert len(holds) == 1
    # the hold keeps its meaning on the other leg: 0.0.0.0, not a relay address
    assert "c=IN IP4 0.0.0.0\r\n" in holds[0].raw, holds[0].raw


@pytest.mark.parametrize("d", DIRECTIONS)
def test_update_both_ways(testnet, sbcd, d):
    run_checked(testnet, d, "update_uac.xml", "update_uas.xml")


@pytest.mark.parametrize("d", DIRECTIONS)
def test_reinvite_glare_491(testnet, sbcd, d):
    """A re-INVITE that crosses one under way gets 491 from sbcd; both then complete."""
    flow = run_checked(testnet, d, "glare_uac.xml", "glare_uas.xml")
    _, b = legs(flow, d)
    assert first([m for m in b if m.src == d.sbc_callee_ip], status=491) is not None


@pytest.mark.parametrize("d", DIRECTIONS)
def test_info_message_options_in_dialog(testnet, sbcd, d):
    """INFO (DTMF), MESSAGE and OPTIONS inside the dialog, bodies intact (sipp checks)."""
    run_checked(testnet, d, "info_uac.xml", "info_uas.xml")


@pytest.mark.parametrize("d", DIRECTIONS)
def test_refer_notify_in_dialog(testnet, sbcd, d):
    """REFER answered 202, the NOTIFYs (message/sipfrag) relayed back."""
    run_checked(testnet, d, "refer_uac.xml", "refer_uas.xml")


@pytest.mark.parametrize("d", DIRECTIONS)
def test_refer_to_carried(testnet, sbcd, d):
    """The REFER that reaches the other side still says whom to call."""
    flow = run_checked(testnet, d, "refer_uac.xml", "refer_uas.xml")
    _, b = legs(flow, d)
    refer = first([m for m in b if m.src == d.sbc_callee_ip], method="REFER")
    assert refer is not None
    rt = header(refer.raw, "Refer-To")
    assert len(rt) == 1 and rt[0].startswith("<sip:carol@"), refer.raw


def _transfer_script(d, ids):
    """A phone (siptool, one UDP socket) with two calls through sbcd: it
    transfers the first attended (REFER with Replaces naming the second),
    then sends an INVITE with Replaces naming the second, and one whose
    Replaces names no dialog; then hangs up."""
    me, host = d.caller_ip, d.dest.split(":")[0]
    sdp = "v=0\r\no=- 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\n" \
          "m=audio 4000 RTP/AVP 0\r\n" % (me, me)

    def req(method, cid, cseq, to_tag=True, extra="", body=""):
        return ("%s sip:100@%s SIP/2.0\r\n"
                "Via: SIP/2.0/UDP %s:5062;branch=z9hG4bK-%s-%d-%s;rport\r\n"
                "Max-Forwards: 70\r\nFrom: <sip:alice@%s>;tag=f-%s\r\n"
                "To: <sip:100@%s>%s\r\nCall-ID: %s\r\nCSeq: %d %s\r\n"
                "Contact: <sip:alice@%s:5062>\r\n%s%s"
                "Content-Length: %d\r\n\r\n%s"
                % (method, d.dest, me, cid, cseq, method, me, cid, host,
                   ";tag=$TO_TAG[%s]" % cid if to_tag else "", cid, cseq, method, me, extra,
                   "Content-Type: application/sdp\r\n" if body else "", len(body), body))

    c1, c2, c3, c4 = ids
    rep = "%s;to-tag=$TO_TAG[%s];from-tag=f-%s" % (c2, c2, c2)
    esc = c2.replace("@", "%40")
    refer_to = "<sip:200@%s?Replaces=%s%%3Bto-tag%%3D$TO_TAG[%s]%%3Bfrom-tag%%3Df-%s>" \
        % (host, esc, c2, esc)
    return [
        {"send": req("INVITE", c1, 1, False, body=sdp)}, {"expect": 2, "timeout": 5},
        {"send": req("ACK", c1, 1)},
        {"send": req("INVITE", c2, 1, False, body=sdp)}, {"expect": 4, "timeout": 5},
        {"send": req("ACK", c2, 1)},
        {"send": req("REFER", c1, 2, extra="Refer-To: %s\r\nReferred-By: <sip:alice@%s>\r\n"
                     % (refer_to, me))}, {"expect": 5, "timeout": 5},
        {"send": req("INVITE", c3, 1, False, extra="Replaces: %s\r\n" % rep, body=sdp)},
        {"expect": 7, "timeout": 5},
        {"send": req("ACK", c3, 1)},
        {"send": req("INVITE", c4, 1, False, body=sdp,
                     extra="Replaces: nosuch-%s;to-tag=x;from-tag=y\r\n" % c4)},
        {"expect": 9, "timeout": 5},
        {"send": req("BYE", c1, 3)}, {"send": req("BYE", c2, 2)}, {"send": req("BYE", c3, 2)},
        {"expect": 12, "timeout": 5},
    ]


def _replaces_of(refer_to):
    """The Replaces URI header of a Refer-To value, unescaped (or None)."""
    from urllib.parse import unquote
    m = re.search(r"[?&]Replaces=([^&>]*)", refer_to, re.I)
    return unquote(m.group(1)) if m else None


@pytest.mark.parametrize("d", DIRECTIONS)
def test_attended_transfer_replaces_mapped(testnet, sbcd, d):
    """Replaces (RFC 3891), in a REFER's Refer-To and in an INVITE, names a
    dialog on the sender's side: sbcd names the same call's dialog on the
    other side instead (Call-ID, to-tag = the far end's tag, from-tag =
    ours there); a Replaces naming no dialog gets 481 and goes nowhere."""
    tag = "%d" % (time.time() * 1000)
    ids = ["xfer%d-%s@%s" % (i, tag, d.caller_ip) for i in range(1, 5)]
    callee = start_callee(testnet, d, "transfer_uas.xml", calls=3)
    with testnet.tshark("sbc", "wan", "udp port 5060", name="wan") as wan, \
            testnet.tshark("sbc", "lan", "udp port 5060", name="lan") as lan:
        out = testnet.sip_exchange(d.caller_ns, "udp", d.sbc_ip, SIP_PORT,
                                   _transfer_script(d, ids), src=d.caller_ip, timeout=40)
        callee_res = callee.result(timeout=60)
    flow = Flow(None, callee_res, wan.path, lan.path)
    assert callee_res.rc == 0, "callee: " + callee_res.describe()
    got = out["messages"]

    def status(cid, method):
        return [m.split(" ", 2)[1] for m in got if m.startswith("SIP/2.0")
                and header(m, "Call-ID") == [cid] and header(m, "CSeq")[0].endswith(method)]

    assert "202" in status(ids[0], "REFER"), got
    assert "200" in status(ids[2], "INVITE"), got
    assert "481" in status(ids[3], "INVITE"), got

    _, b = legs(flow, d)
    invites = [m for m in b if m.method == "INVITE" and m.src == d.sbc_callee_ip]
    assert len(invites) == 3, [m.first_line for m in invites]   # the bad Replaces went nowhere
    b2 = invites[1]
    ok2 = first([m for m in b if m.call_id == b2.call_id and m.src == d.callee_ip],
                status=200, cseq="INVITE")
    assert ok2 is not None
    far_tag = re.search(r";\s*tag=([^;>\s]+)", ok2.to).group(1)
    our_tag = re.search(r";\s*tag=([^;>\s]+)", b2.from_).group(1)
    want = "%s;to-tag=%s;from-tag=%s" % (b2.call_id, far_tag, our_tag)

    refer = first([m for m in b if m.src == d.sbc_callee_ip], method="REFER")
    assert refer is not None
    rt = header(refer.raw, "Refer-To")
    assert len(rt) == 1 and _replaces_of(rt[0]) == want, (rt, want)
    if d is OUT:
        assert rt[0].startswith("<sip:200@%s?" % SBC_WAN), rt
    assert header(invites[2].raw, "Replaces") == [want], invites[2].raw
    assert_hidden(flow)
    assert_no_leak_blocked(testnet)


@pytest.mark.parametrize("d", DIRECTIONS)
def test_prack_100rel(testnet, sbcd, d):
    """Reliable 183 (Require: 100rel, RSeq) and its PRACK, RAck mapped to the b-leg INVITE CSeq."""
    flow = run_checked(testnet, d, "prack_uac.xml", "prack_uas.xml")
    _, b = legs(flow, d)
    inv = first([m for m in b if m.src == d.sbc_callee_ip], method="INVITE")
    prack = first([m for m in b if m.src == d.sbc_callee_ip], method="PRACK")
    assert header(prack.raw, "RAck") == ["1 %s INVITE" % inv.cseq.split()[0]]


def _final_at_caller(flow, d):
    """The final response to the INVITE that reached the caller."""
    msgs = flow.wan_msgs if d is IN else flow.lan_msgs
    finals = [m for m in msgs if m.status and m.status >= 200 and m.dst == d.caller_ip
              and "INVITE" in (m.cseq or "")]
    assert finals, "no final response reached the caller"
    return finals[0]


@pytest.mark.parametrize("code", ["486", "404"])
@pytest.mark.parametrize("d", DIRECTIONS)
def test_rejected_relayed(testnet, sbcd, d, code):
    flow = run_flow(testnet, d, "reject_uac.xml", "reject%s_uas.xml" % code)
    flow.assert_ok()
    assert_hidden(flow)
    assert _final_at_caller(flow, d).status == int(code)
    recs = wait_cdrs(testnet, 1)
    assert [r["final"] for r in recs] == [int(code)], recs


def test_redirect_from_private_side_not_carried_out(testnet, sbcd):
    """A 302 from the PBX naming another private host (not the core): its
    Contact must not reach the public side; sbcd answers 480 instead."""
    d = IN
    flow = run_flow(testnet, d, "reject_uac.xml", "reject302_uas.xml",
                    uas_args=["-key", "moved", "%s:5060" % netns.PRIV2])
    flow.assert_ok()
    assert first(flow.lan_msgs, status=302), "the PBX's 302 was not captured on lan"
    assert netns.PRIV2 in first(flow.lan_msgs, status=302).raw
    assert_hidden(flow)
    assert _final_at_caller(flow, d).status == 480
    assert_no_leak_blocked(testnet)


def test_redirect_to_core_followed(testnet, sbcd):
    """A 302 from the PBX whose Contact names the core itself (another of its
    users): sbcd follows it, the caller sees one normal call."""
    flow = run_flow(testnet, IN, "call_uac.xml", "redirect_uas.xml")
    flow.assert_ok()
    assert_hidden(flow)
    invites = [m for m in flow.lan_msgs if m.method == "INVITE"]
    assert len(invites) == 2, [str(m) for m in invites]
    assert invites[1].first_line.startswith("INVITE sip:bob@%s:5060 " % PBX), invites[1].first_line
    assert invites[0].call_id == invites[1].call_id
    assert not [m for m in flow.wan_msgs if m.status and 300 <= m.status < 400]


def test_redirect_from_public_side_relayed(testnet, sbcd):
    """A 302 from the carrier reaches the PBX as a 302."""
    d = OUT
    flow = run_flow(testnet, d, "reject_uac.xml", "reject302_uas.xml",
                    uas_args=["-key", "moved", "%s:5060" % PUB_EXTRA[1]])
    flow.assert_ok()
    assert_hidden(flow)
    assert _final_at_caller(flow, d).status == 302


def test_redirect_from_public_side_keeps_contact(testnet, sbcd):
    """The carrier's 302 is of use to the PBX only with the target it names."""
    d = OUT
    target = "%s:5060" % PUB_EXTRA[1]
    flow = run_flow(testnet, d, "reject_uac.xml", "reject302_uas.xml",
                    uas_args=["-key", "moved", target])
    flow.assert_ok()
    r302 = first([m for m in flow.lan_msgs if m.src == SBC_LAN], status=302)
    assert r302 is not None
    assert header(r302.raw, "Contact") == ["<sip:moved@%s>" % target], r302.raw


# ---------------------------------------------------------------------------
# 2. media through the relay

RTP_PACKETS = 50                 # 1 s of G.711 at 20 ms
MEDIA_PORT = 6000                # sipp's -mp on both sides


def write_rtp_pcap(path, packets=RTP_PACKETS, pt=0):
    """A pcap of RTP/G.711 packets (20 ms, 160 bytes of PCMU silence each) for
    sipp's play_pcap_audio, which keeps the payload and timing and
    rewrites addresses and ports."""
    from scapy.all import IP, UDP, Ether, Raw, wrpcap      # Debian python3-scapy
    frames = []
    for i in range(packets):
        rtp = bytes([0x80, pt & 0x7F]) + (1000 + i).to_bytes(2, "big") + \
            (160 * i).to_bytes(4, "big") + (0x5BC0DE01).to_bytes(4, "big")
        f = Ether() / IP(src="192.0.2.1", dst="192.0.2.2") / UDP(sport=4000, dport=4002) / \
            Raw(rtp + b"\xff" * 160)
        f.time = 1000000000 + i * 0.020
        frames.append(f)
    wrpcap(path, frames)
    return path


def _sdp_port(raw):
    m = re.search(r"\r\nm=audio (\d+) ", raw)
    return int(m.group(1)) if m else None


def _udp_flows(pcap_path):
    """{(src, sport, dst, dport): packets} of a capture."""
    r = subprocess.run([netns.TSHARK, "-n", "-r", pcap_path, "-T", "fields", "-e", "ip.src",
                        "-e", "udp.srcport", "-e", "ip.dst", "-e", "udp.dstport"],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, check=True)
    out = {}
    for ln in r.stdout.splitlines():
        k = tuple(ln.split("\t"))
        out[k] = out.get(k, 0) + 1
    return out


def run_media_flow(net, d, uac, uas):
    """A flow whose caller plays RTP_PACKETS of RTP ([pcap]) and whose
    callee echoes it (-rtp_echo), captured at both phones too. Returns the
    Flow and how many relayed packets arrived at the callee and at the
    caller, from the relay port that sbcd's SDP gave each of them."""
    pytest.importorskip("scapy")
    pcap = write_rtp_pcap(os.path.join(net.tmpdir, "g711.pcap"))
    callee = start_callee(net, d, uas, ["-rtp_echo", "-mp", str(MEDIA_PORT)])
    rtp = "udp and not port 5060"
    with net.tshark("sbc", "wan", "udp port 5060", name="wan") as wan, \
            net.tshark("sbc", "lan", "udp port 5060", name="lan") as lan, \
            net.tshark(d.caller_ns, "eth0", rtp, name="rtp-caller") as at_caller, \
            net.tshark(d.callee_ns, "eth0", rtp, name="rtp-callee") as at_callee:
        caller = run_caller(net, d, uac, ["-key", "pcap", pcap, "-mp", str(MEDIA_PORT)])
        callee_res = callee.result(timeout=60)
    flow = Flow(caller, callee_res, wan.path, lan.path)
    flow.assert_ok()
    assert_hidden(flow)
    a, b = legs(flow, d)
    ok200 = first([m for m in a if m.src == d.sbc_ip], status=200, cseq="INVITE")
    invite = first([m for m in b if m.src == d.sbc_callee_ip], method="INVITE")
    port_to_caller, port_to_callee = _sdp_port(ok200.raw), _sdp_port(invite.raw)
    assert port_to_caller and port_to_callee
    # caller -> relay -> callee, from the relay port of the callee's SDP; the echo back likewise
    to_callee = _udp_flows(at_callee.path).get(
        (d.sbc_callee_ip, str(port_to_callee), d.callee_ip, str(MEDIA_PORT)), 0)
    to_caller = _udp_flows(at_caller.path).get(
        (d.sbc_ip, str(port_to_caller), d.caller_ip, str(MEDIA_PORT)), 0)
    return flow, to_callee, to_caller, (at_callee.path, at_caller.path)


@pytest.mark.parametrize("d", DIRECTIONS)
def test_rtp_relayed_both_ways(testnet, sbcd, d):
    """The caller plays 1 s of RTP, the callee echoes it: packets arrive at
    each side from sbcd's relay port that its SDP named, and the call
    record counts what each zone received."""
    flow, to_callee, to_caller, caps = run_media_flow(testnet, d, "rtp_uac.xml", "call_uas.xml")
    assert to_callee >= RTP_PACKETS * 0.8, _udp_flows(caps[0])
    assert to_caller >= RTP_PACKETS * 0.8, _udp_flows(caps[1])
    rec = one_cdr(testnet)
    assert len(rec["media"]) == 1, rec
    caller_zone, callee_zone = (0, 1) if d is IN else (1, 0)
    received = rec["media"][0]["packets"]
    # everything sbcd received on one zone reached the other side, and no more
    assert received[caller_zone] == to_callee, (received, to_callee)
    assert received[callee_zone] == to_caller, (received, to_caller)
    # 172 bytes of RTP a packet, no RTCP, nothing dropped, nothing lost
    m = rec["media"][0]
    assert m["bytes"] == [172 * n for n in received], m
    assert m["rtcp_packets"] == [0, 0] and m["lost"] == [0, 0], m
    assert m["dropped"] == {"source": [0, 0], "policing": [0, 0], "no_dest": [0, 0],
                            "no_neighbour": [0, 0]}, m


def test_rtp_resumes_after_hold(testnet, sbcd):
    """1 s of RTP, hold (c=0.0.0.0, sendonly), unhold, 1 s more: the
    second second is relayed and echoed too."""
    d = IN
    flow, to_callee, to_caller, caps = run_media_flow(testnet, d, "rtphold_uac.xml",
                                                      "rtphold_uas.xml")
    # more than one round arrived each way: the media came back after the hold
    assert to_callee >= 2 * RTP_PACKETS * 0.8, _udp_flows(caps[0])
    assert to_caller >= 2 * RTP_PACKETS * 0.8, _udp_flows(caps[1])
    rec = one_cdr(testnet)
    assert rec["media"][0]["packets"] == [to_callee, to_caller], rec


# ---------------------------------------------------------------------------
# 3. the seed flow: FreeSWITCH's 407 challenge and the phone's credentials

PASSWORD = "seed-secret-1234"
LWS = "\r\n    "      # a header folded as in fixture 07 (sipp strips indentation)


def _digest_params(value):
    """The parameters of a Digest credentials value (unfolded)."""
    value = re.sub(r"\r\n[ \t]+", " ", value).strip()
    assert value.lower().startswith("digest "), value
    return {k.lower(): v.strip('"') for k, v in
            re.findall(r'([A-Za-z-]+)\s*=\s*("[^"]*"|[^,\s]+)', value[7:])}


def test_seed_407_challenge_and_proxy_authorization(testnet, sbcd):
    """Fixtures 05-22: the PBX challenges with 407 like FreeSWITCH (07), the
    phone ACKs (08) and retries with Proxy-Authorization (09); the PBX gets
    the credentials intact, with a digest uri equal to the Request-URI it
    received, and answers. Both INVITEs become b-legs of their own."""
    d = IN
    callee = start_callee(testnet, d, "auth_uas.xml", ["-key", "lws", LWS], calls=2)
    with testnet.tshark("sbc", "wan", "udp port 5060", name="wan") as wan, \
            testnet.tshark("sbc", "lan", "udp port 5060", name="lan") as lan:
        caller = run_caller(testnet, d, "auth_uac.xml", ["-au", "bob", "-ap", PASSWORD,
                                                         "-auth_uri", "alice@%s" % d.dest])
        callee_res = callee.result(timeout=60)
    flow = Flow(caller, callee_res, wan.path, lan.path)
    flow.assert_ok()
    assert callee_res.stats["successful"] == 2, callee_res.describe()
    assert_hidden(flow)

    # the 407 crossed whole: challenge, folded headers unfolded or not, realm
    c407 = first(flow.wan_msgs, status=407)
    assert c407 and c407.src == SBC_WAN, "no 407 relayed to the phone"
    chal = _digest_params(header(c407.raw, "Proxy-Authenticate")[0])
    assert chal == {"realm": SBC_WAN, "nonce": "31c5c3e0-cc6e-46c8-a661-599b0c7f87d8",
                    "algorithm": "MD5", "qop": "auth"}, chal
    # the phone's ACK for the 407 is absorbed by sbcd's transaction; sbcd ACKs the PBX's
    assert first(flow.lan_msgs, method="ACK", cseq="ACK") is not None

    # the credentials: byte for byte the same on both legs, digest uri = Request-URI
    sent = [m for m in flow.wan_msgs if m.method == "INVITE" and m.src == PHONE]
    got = [m for m in flow.lan_msgs if m.method == "INVITE" and m.dst == PBX]
    assert len(sent) == 2 and len(got) == 2, ([str(m) for m in sent], [str(m) for m in got])
    assert not header(got[0].raw, "Proxy-Authorization")
    pa_sent = header(sent[1].raw, "Proxy-Authorization")
    pa_got = header(got[1].raw, "Proxy-Authorization")
    assert pa_sent and pa_got == pa_sent, (pa_sent, pa_got)
    cred = _digest_params(pa_got[0])
    ruri = got[1].first_line.split()[1]
    assert cred["uri"] == ruri == sent[1].first_line.split()[1], (cred, ruri)
    assert got[0].call_id != got[1].call_id      # two b-legs
    assert sent[0].call_id == sent[1].call_id    # one a-leg Call-ID, as in fixture 09

    # and the digest verifies at the PBX with the password (RFC 2617, qop=auth)
    def md5(s):
        return hashlib.md5(s.encode()).hexdigest()
    ha1 = md5("%s:%s:%s" % (cred["username"], cred["realm"], PASSWORD))
    ha2 = md5("INVITE:%s" % cred["uri"])
    want = md5(":".join([ha1, cred["nonce"], cred["nc"], cred["cnonce"], cred["qop"], ha2]))
    assert cred["response"] == want

    recs = wait_cdrs(testnet, 2)
    assert sorted(r["final"] for r in recs) == [200, 407], recs


# ---------------------------------------------------------------------------
# 4. a real phone (baresip) calling a real PBX front (kamailio) through sbcd

BARESIP = shutil.which("baresip", path="/usr/bin:/usr/local/bin")
KAMAILIO = shutil.which("kamailio", path="/usr/sbin:/usr/bin:/usr/local/sbin")
KAMAILIO_CFG = os.path.join(netns.HERE, "kamailio", "pbx.cfg")
PBX_UA = netns.PRIV2             # 10.20.0.11: the user agent behind kamailio


def write_baresip_config(confdir, addr):
    """A headless baresip that does not register."""
    return netns.write_baresip_config(confdir, addr,
                                      "<sip:phone@%s>;regint=0;audio_codecs=PCMU" % addr)


@pytest.mark.skipif(not BARESIP or not KAMAILIO,
                    reason="baresip and kamailio are needed (tools/install-deps installs "
                           "baresip-core and kamailio)")
def test_baresip_phone_through_kamailio(testnet, sbcd):
    """baresip in pub (headless, -n 203.0.113.10) dials the PBX through
    sbcd; kamailio at the core's address record-routes the call to a sipp
    UAS (10.20.0.11) that answers and echoes the media. baresip hangs up
    after 6 s: both ends saw the call, the media went both ways through the
    relay, and nothing private reached the public side (kamailio's
    Record-Route and Server header included)."""
    phone = PUB          # baresip's RTP leaves by the interface's first address
    krun = os.path.join(testnet.tmpdir, "kamailio-run")
    os.makedirs(krun)
    kam = testnet.popen("priv", [KAMAILIO, "-f", KAMAILIO_CFG, "-DD", "-E", "-x", "tlsf",
                                 "-m", "64", "-M", "8", "-Y", krun], name="kamailio",
                        merge=True)
    testnet.wait_listening("priv", "udp", PBX, SIP_PORT, proc=kam)
    ua = testnet.sipp_bg("priv", ["-sf", sipp_scenario("invite_uas.xml"), "-m", "1", "-t", "u1",
                                  "-i", PBX_UA, "-p", str(SIP_PORT), "-mi", PBX_UA,
                                  "-rtp_echo", "-mp", str(MEDIA_PORT), "-timeout", "60s",
                                  "-timeout_error"], name="pbx-ua")
    conf = write_baresip_config(os.path.join(testnet.tmpdir, "baresip"), phone)
    with testnet.tshark("sbc", "wan", "udp port 5060", name="wan") as wan, \
            testnet.tshark("sbc", "lan", "udp port 5060", name="lan") as lan, \
            testnet.tshark("pub", "eth0", "udp and not port 5060", name="rtp-phone") as rtp:
        r = testnet.run("pub", [BARESIP, "-f", conf, "-n", phone,
                                "-e", "/dial sip:alice@%s" % SBC_WAN, "-t", "6"], timeout=60)
        ua_res = ua.result(timeout=30)
    out = r.stdout + r.stderr
    with open(os.path.join(testnet.tmpdir, "baresip.log"), "w") as f:
        f.write(out)
    assert r.returncode == 0, out[-3000:]
    assert "Call established: sip:alice@%s" % SBC_WAN in out, out[-3000:]
    m = re.search(r"incoming rtp for 'audio' established, receiving from ([\d.]+):(\d+)", out)
    assert m and m.group(1) == SBC_WAN, out[-3000:]
    relay_port = int(m.group(2))
    assert RTP_RANGES["public"][0] <= relay_port <= RTP_RANGES["public"][1]
    stats = re.search(r"packets:\s+(\d+)\s+(\d+)", out)
    assert stats, out[-3000:]
    tx, rx = int(stats.group(1)), int(stats.group(2))
    assert tx >= 100 and rx >= 0.8 * tx, (tx, rx)
    assert ua_res.rc == 0, ua_res.describe()

    flow = Flow(None, ua_res, wan.path, lan.path)
    assert_hidden(flow)
    assert_no_leak_blocked(testnet)
    # kamailio's own Record-Route was on the private leg, and stayed there
    rr = [v for m in flow.lan_msgs for v in m.record_route]
    assert any(PBX in v for v in rr), rr

    # what baresip received came from the relay port; the record counts both ways
    r2 = subprocess.run([netns.TSHARK, "-n", "-r", rtp.path, "-Y",
                         "ip.src==%s && udp.srcport==%d && ip.dst==%s" % (SBC_WAN, relay_port,
                                                                           phone)],
                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, check=True)
    assert len(r2.stdout.splitlines()) >= 0.8 * tx
    recs = wait_cdrs(testnet, 1)
    assert len(recs) == 1 and recs[0]["final"] == 200, recs
    packets = recs[0]["media"][0]["packets"]
    assert packets[0] >= 100 and packets[1] >= 100, recs[0]


# ---------------------------------------------------------------------------
# 5. scale and clean-up

LOAD_CALLS = 10000
LOAD_RATE = 500                  # calls/s: 20 s of calls


def _fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def _rtp_ports_bound(net):
    """UDP ports sbcd has bound inside its RTP ranges (ss -uln in the sbc namespace)."""
    r = net.run("sbc", [netns.SS, "-H", "-uln"], check=True)
    bound = []
    for ln in r.stdout.splitlines():
        parts = ln.split()
        if len(parts) < 4:
            continue
        port = int(parts[3].rsplit(":", 1)[1])
        if any(lo <= port <= hi for lo, hi in RTP_RANGES.values()):
            bound.append(parts[3])
    return bound


def _wait_fd_count(pid, want, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        n = _fd_count(pid)
        if n <= want or time.monotonic() >= deadline:
            return n
        time.sleep(0.1)


ROTATE_CALLS = 12                # about 7 KiB of records: one rotation at 4 KiB


def records(path):
    """(records, bytes, longest line with its newline) of a call records
    file; ([], 0, 0) when there is none."""
    try:
        with open(path, "rb") as f:
            lines = f.read().splitlines(keepends=True)
    except FileNotFoundError:
        return [], 0, 0
    return ([json.loads(ln) for ln in lines if ln.strip()], sum(map(len, lines)),
            max(map(len, lines), default=0))


@pytest.mark.sbc_config({"general": {"call_records_max_kb": "4"}})
def test_call_records_rotate(testnet, sbcd):
    """[general] call_records_max_kb = 4: once calls.jsonl passes 4 KiB it
    becomes calls.jsonl.1 and a new calls.jsonl starts. Twelve calls (about
    7 KiB of records): every record is in one of the two files, in order,
    none twice; the old file ends just past the limit, the new one is under
    it; the rotation is logged once."""
    d = IN
    callee = start_callee(testnet, d, "call_uas.xml", calls=ROTATE_CALLS, name="rot-callee")
    caller = run_caller(testnet, d, "call_uac.xml", ["-r", "10"], calls=ROTATE_CALLS,
                        name="rot-caller", timeout=60)
    assert caller.rc == 0 and caller.stats["successful"] == ROTATE_CALLS, caller.describe()
    assert callee.result(timeout=60).rc == 0
    data = os.path.join(testnet.tmpdir, "data")

    def both():
        old, old_bytes, longest = records(os.path.join(data, "calls.jsonl.1"))
        cur, cur_bytes, _ = records(os.path.join(data, "calls.jsonl"))
        if len(old) + len(cur) >= ROTATE_CALLS:
            return old, old_bytes, longest, cur, cur_bytes
        return None
    old, old_bytes, longest, cur, cur_bytes = wait_for(both, 10,
                                                       "12 call records in the two files")
    assert old and cur, (len(old), len(cur))
    assert 4096 < old_bytes <= 4096 + longest, old_bytes
    assert cur_bytes <= 4096, cur_bytes
    assert [r["id"] for r in old + cur] == list(range(1, ROTATE_CALLS + 1))
    assert testnet.sbcd_log().count("calls.jsonl: rotated to calls.jsonl.1 at 4 KiB") == 1


@pytest.mark.sbc_config({"general": {"log_level": "info"},
                         "guard": {"allow": "203.0.113.0/24, 10.20.0.0/24"}})
def test_10000_calls_leave_nothing_behind(testnet, sbcd):
    """10,000 calls at 500/s (bounded: 20 s of calls, sipp stops at 90 s),
    then: every call has its record, no call is left (a new call works), the
    media ports are all given back (no RTP port bound, sbcd's descriptors
    back to their idle count)."""
    d = IN
    # one call first, so that everything opened lazily is open when counting
    warm = run_flow(testnet, d, "call_uac.xml", "call_uas.xml")
    warm.assert_ok()
    assert len(wait_cdrs(testnet, 1)) == 1
    assert _rtp_ports_bound(testnet) == []
    idle_fds = _fd_count(sbcd.pid)

    callee = start_callee(testnet, d, "call_uas.xml", calls=LOAD_CALLS, name="load-callee",
                          trace_msg=False)
    caller = run_caller(testnet, d, "call_uac.xml",
                        ["-r", str(LOAD_RATE), "-rp", "1000", "-l", "2000"],
                        calls=LOAD_CALLS, name="load-caller", timeout=90, trace_msg=False)
    callee_res = callee.result(timeout=120)
    assert caller.rc == 0, caller.describe()
    assert caller.stats["successful"] == LOAD_CALLS, caller.describe()
    assert callee_res.rc == 0, callee_res.describe()

    # every call has its record, each answered and hung up by the caller
    recs = wait_cdrs(testnet, LOAD_CALLS + 1, timeout=30)
    assert len(recs) == LOAD_CALLS + 1
    assert len({r["a_call_id"] for r in recs}) == LOAD_CALLS + 1
    assert len({r["b_call_id"] for r in recs}) == LOAD_CALLS + 1
    causes = {}
    for r in recs:
        causes[(r["final"], r["cause"])] = causes.get((r["final"], r["cause"]), 0) + 1
    assert causes == {(200, "BYE from the caller"): LOAD_CALLS + 1}, causes

    # nothing left: no relay port bound, descriptors back to idle
    assert _rtp_ports_bound(testnet) == []
    assert _wait_fd_count(sbcd.pid, idle_fds) == idle_fds
    assert_no_leak_blocked(testnet)

    # and a new call still works
    after = run_flow(testnet, d, "call_uac.xml", "call_uas.xml")
    after.assert_ok()
    assert len(wait_cdrs(testnet, LOAD_CALLS + 2)) == LOAD_CALLS + 2
    assert _rtp_ports_bound(testnet) == []
