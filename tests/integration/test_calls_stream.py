"""Calls through sbcd over TCP and TLS, end to end (test_calls.py runs them over UDP).

Paths: a call's two legs. sbcd's public zone listens on TCP 5060 and TLS
5061, its private zone on TCP 5060 (and TLS 5061 for in-tls-tls, which turns
it on); [core] transport and [trunk:carrier] transport/port choose the b-leg.

  in-tcp-udp   phone (203.0.113.11) over TCP -> public 5060 -> core (10.20.0.10) over UDP
  in-tcp-tcp   phone over TCP                               -> core over TCP
  in-tls-udp   phone over TLS -> public 5061                -> core over UDP
  in-tls-tcp   phone over TLS                               -> core over TCP
  in-tls-tls   phone over TLS                               -> core over TLS (5061)
  out-udp-tcp  PBX (10.20.0.10) over UDP -> private 5060 -> trunk (203.0.113.10) over TCP
  out-tcp-tcp  PBX over TCP                                -> trunk over TCP
  out-udp-tls  PBX over UDP                                -> trunk over TLS (5061)
  out-tcp-tls  PBX over TCP                                -> trunk over TLS

Peers: sipp (-t t1; -t tn for one connection per call). Debian's sipp has
no TLS (docs/testing.md), so a TLS peer is sipp over TCP behind a TLS relay
run from this file in the peer's namespace (`python3 test_calls_stream.py
relay ...`): a client relay for a calling phone (sipp connects to it in
plain TCP; it connects to sbcd in TLS from the phone's address), a server
relay for a TLS callee (it accepts sbcd's TLS connection with a throwaway
self-signed certificate made by openssl in the test's folder, and connects
to sipp in plain TCP). The relays log their TLS secrets; the captures on
sbcd's wan and lan get them inside (editcap --inject-secrets) and are read
in clear. Messages on a stream are taken from the connection's bytes
(tshark follow) and framed by Content-Length, so that two messages in one
segment, or one message over several, count right.

Scenarios: tests/integration/sipp/stream_*.xml: the flows of test_calls.py
with the Via transport and this side's Contact as keywords ([vt] and
[contact]: behind a relay sipp's own [transport] says TCP), and a few more
(stream_big_*: a 4 KB INVITE; stream_slow_uas, stream_slowack_uac: late
answers; stream_sips_uac; stream_hangup_late_uas, stream_bye_uas).

Every call is checked for:
  - both sipps exit 0 (their ereg checks included);
  - topology hiding (test_calls.hiding_problems over every message of both
    captures, TLS decrypted, plus a scan of every byte sbcd sent on wan over
    TCP or TLS for a private address or name);
  - the transport of each leg: its messages over UDP, TCP or TLS as
    configured; sbcd's Via SIP/2.0/UDP|TCP|TLS with the zone's port for that
    transport (5060, 5061); sbcd's Contact <sip:TOKEN@zone:port> with
    ;transport=tcp or ;transport=tls (none for UDP), what call.c writes (for
    a SIPS Request-URI see test_sips_request_uri_gets_sips_contact); exactly
    one connection per stream leg, carrying both directions (RFC 3261 18.2.2
    responses on the request's connection, 18.1.1 reuse);
  - nothing left: one call record per call with the expected cause, one
    "call N: ended" in sbcd's log per call, no RTP port bound, no TCP/TLS
    connection of sbcd's left once the peers are gone, and sbcd's descriptor
    count back to what it was before the calls. sbcd cannot report its calls
    and transactions itself (no control socket yet: src/ctl is empty), so
    leftover transactions are not seen here.

Tests:
  test_basic_call_caller_hangs_up[every path]   call_*: 100/180/200/ACK/BYE
  test_basic_call_callee_hangs_up[4 paths]       hangup_*: the callee's BYE
  test_cancel_before_answer[4 paths]            cancel_*: CANCEL, 200, 487
  test_hold_unhold_both_sides[4 paths]          hold_*: re-INVITEs both ways
  test_large_invite_split_over_segments[5]      stream_big_*: 4 KB INVITE, 2 KB 200,
                                                one TCP segment per packet (gso_max_segs 1)
  test_invite_in_pieces_with_pauses[tcp, tls]   a 4 KB INVITE in 7 pieces, 0.3 s apart
  test_no_request_retransmission_on_stream[2]   no INVITE/BYE retransmission on streams
  test_no_response_retransmission_on_stream[2]  no 486 retransmission on streams
  test_many_calls_..._leave_nothing_behind[3]   30 calls, one connection each
  test_refused_connection_fails_the_call_fast   a refused trunk connection: 503 at once
  test_core_transport_needs_its_listener        sbcd -t refuses core TLS without a TLS listener
  test_sips_request_uri_gets_sips_contact       a sips: call gets a sips: Contact
  test_bye_reaches_phone_after_idle_close       the BYE reaches a phone whose connection idled out
"""
import os
import re
import signal
import subprocess
import sys
import time

import pytest

import netns
from netns import PBX, PUB, PUB_EXTRA, SBC_LAN, SBC_WAN, read_sip, sipp_scenario
from test_calls import CALLS_CONFIG, Flow, PRIVATE_RE, header, hiding_problems, wait_cdrs

PHONE = PUB_EXTRA[0]             # 203.0.113.11: a phone on the internet
CARRIER = PUB                    # 203.0.113.10: the [trunk:carrier] address
SIP_PORT = 5060
TLS_PORT = 5061
BEHIND_RELAY = 5070              # sipp's own TCP port behind a server relay
RELAY_IN = 5062                  # a client relay's plain TCP port, for sipp
RTP_RANGES = {"public": (20000, 29999), "private": (30000, 39999)}
# SIP ports, and IP fragments (a large datagram's later fragments have no UDP header)
CAPFILTER = "port 5060 or port 5061 or (ip[6:2] & 0x3fff != 0)"

pytestmark = pytest.mark.sbc_config(CALLS_CONFIG)


# ---------------------------------------------------------------------------
# paths

class Side:
    """One end of a call: where it runs, its transport, where it listens."""

    def __init__(self, ns, ip, proto, sbc_ip):
        self.ns = ns
        self.ip = ip
        self.proto = proto          # udp, tcp or tls
        self.sbc_ip = sbc_ip        # sbcd's address on this side

    @property
    def port(self):
        return TLS_PORT if self.proto == "tls" else SIP_PORT

    @property
    def sipp_t(self):
        return "u1" if self.proto == "udp" else "t1"

    @property
    def vt(self):
        return self.proto.upper()

    def contact(self, port=None):
        """host:port;params of the peer's own Contact."""
        p = "" if self.proto == "udp" else ";transport=" + self.proto
        return "%s:%d%s" % (self.ip, port or self.port, p)


class Path:
    """A call's route through sbcd: caller side, callee side, sbc.ini changes."""

    def __init__(self, name, direction, caller, callee):
        self.name = name
        self.direction = direction  # "in" (phone -> core) or "out" (PBX -> trunk)
        self.caller = caller
        self.callee = callee

    def __repr__(self):
        return self.name

    @property
    def dest(self):
        """host:port of the caller's Request-URI."""
        if self.direction == "in":
            return "%s:%d" % (SBC_WAN, self.caller.port)
        return "%s:%d" % (CARRIER, self.callee.port)

    def config(self):
        """What sbc.ini needs over CALLS_CONFIG for this path: the core's or
        the trunk's transport and port, and the private TLS listener for a
        core over TLS."""
        if self.direction == "in":
            cfg = {"core": {"transport": self.callee.proto, "port": self.callee.port}}
            if self.callee.proto == "tls":
                cfg["private"] = {"sip_tls": TLS_PORT}
            return cfg
        return {"trunk:carrier": {"transport": self.callee.proto, "port": self.callee.port}}


def _in(caller, callee):
    return Path("in-%s-%s" % (caller, callee), "in", Side("pub", PHONE, caller, SBC_WAN),
                Side("priv", PBX, callee, SBC_LAN))


def _out(caller, callee):
    return Path("out-%s-%s" % (caller, callee), "out", Side("priv", PBX, caller, SBC_LAN),
                Side("pub", CARRIER, callee, SBC_WAN))


PATHS = {p.name: p for p in [
    _in("tcp", "udp"), _in("tcp", "tcp"), _in("tls", "udp"), _in("tls", "tcp"), _in("tls", "tls"),
    _out("udp", "tcp"), _out("tcp", "tcp"), _out("udp", "tls"), _out("tcp", "tls"),
]}


def paths(*names):
    return [pytest.param(PATHS[n], id=n) for n in names]


ALL_PATHS = paths(*PATHS)
# the flows other than the basic call: TCP and TLS on the public side in both directions
FLOW_PATHS = paths("in-tcp-tcp", "in-tls-udp", "out-udp-tcp", "out-tcp-tls")


@pytest.fixture
def sbc_config(testnet, request):
    """conftest's sbc_config (the markers merged over the test network's
    sbc.ini), then the changes the test's path needs (core or trunk
    transport, the private TLS listener)."""
    overrides = {}
    for m in reversed(list(request.node.iter_markers("sbc_config"))):
        overrides = netns.merge_config(overrides, m.args[0] if m.args else m.kwargs)
    callspec = getattr(request.node, "callspec", None)
    path = callspec.params.get("path") if callspec else None
    if path is not None:
        overrides = netns.merge_config(overrides, path.config())
    return testnet.write_config(overrides=overrides)


# ---------------------------------------------------------------------------
# the TLS relay (run as a script in a namespace: python3 test_calls_stream.py relay ...)

def relay_main(argv):
    """A TCP<->TLS relay for one test. --mode client: accept plain TCP on
    --listen, connect in TLS to --connect from --bind (no certificate
    check); --mode server: accept TLS on --listen (--cert/--key), connect in
    plain TCP to --connect. Each accepted connection gets its own
    connection on the other side; when either closes, so does the other.
    TLS secrets go to --keylog (NSS key log format). Ends after --timeout."""
    import argparse
    import select
    import socket
    import ssl
    import threading

    ap = argparse.ArgumentParser(prog="relay")
    ap.add_argument("--mode", choices=("client", "server"), required=True)
    ap.add_argument("--listen", required=True)
    ap.add_argument("--connect", required=True)
    ap.add_argument("--bind")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--keylog", required=True)
    ap.add_argument("--timeout", type=float, default=60.0)
    a = ap.parse_args(argv)

    def hp(text):
        h, _, p = text.rpartition(":")
        return h, int(p)

    if a.mode == "server":
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.cert, a.key)
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    ctx.keylog_filename = a.keylog
    lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lst.bind(hp(a.listen))
    lst.listen(16)
    print("listening on %s" % a.listen, flush=True)
    deadline = time.monotonic() + a.timeout

    def pump(left, right, tag):
        """Copy both ways until one side closes; then close both."""
        socks = [left, right]
        try:
            while time.monotonic() < deadline:
                ready = [s for s in socks if isinstance(s, ssl.SSLSocket) and s.pending()]
                if not ready:
                    ready, _, _ = select.select(socks, [], [], 0.5)
                for s in ready:
                    s.settimeout(0)     # a TLS record that is no data (a ticket) must not block
                    try:
                        data = s.recv(65536)
                    except (ssl.SSLWantReadError, BlockingIOError):
                        continue
                    finally:
                        s.settimeout(10)
                    if not data:
                        print("%s: %s closed" % (tag, "left" if s is left else "right"),
                              flush=True)
                        return
                    (right if s is left else left).sendall(data)
        except (OSError, ssl.SSLError) as e:
            print("%s: %s" % (tag, e), flush=True)
        finally:
            for s in socks:
                try:
                    s.close()
                except OSError:
                    pass

    def serve(conn, peer):
        tag = "%s:%d" % peer
        try:
            conn.settimeout(10)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if a.mode == "server":
                conn = ctx.wrap_socket(conn, server_side=True)
            out = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            out.settimeout(10)
            out.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if a.bind:
                out.bind((a.bind, 0))
            out.connect(hp(a.connect))
            if a.mode == "client":
                out = ctx.wrap_socket(out, server_hostname=None)
            print("%s: relayed to %s:%d (%s)" % (tag, *out.getpeername()[:2],
                                                 getattr(out, "version", lambda: "tcp")()
                                                 if a.mode == "client" else conn.version()),
                  flush=True)
        except (OSError, ssl.SSLError) as e:
            print("%s: %s" % (tag, e), flush=True)
            conn.close()
            return
        pump(conn, out, tag)

    while time.monotonic() < deadline:
        r, _, _ = select.select([lst], [], [], 0.5)
        if r:
            conn, peer = lst.accept()
            threading.Thread(target=serve, args=(conn, peer), daemon=True).start()
    return 0


def make_cert(net, name, cn):
    """A throwaway self-signed ECDSA pair in the test's folder (never committed)."""
    cert = os.path.join(net.tmpdir, name + ".crt")
    key = os.path.join(net.tmpdir, name + ".key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "1", "-subj", "/CN=" + cn], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=30)
    return cert, key


def keylog_path(net):
    return os.path.join(net.tmpdir, "tls-keys.log")


def start_relay(net, ns, mode, listen, connect, bind=None, cert=None, name="relay",
                timeout=60):
    argv = [netns.PYTHON, os.path.abspath(__file__), "relay", "--mode", mode,
            "--listen", "%s:%d" % listen, "--connect", "%s:%d" % connect,
            "--keylog", keylog_path(net), "--timeout", str(timeout)]
    if bind:
        argv += ["--bind", bind]
    if cert:
        argv += ["--cert", cert[0], "--key", cert[1]]
    p = net.popen(ns, argv, name=name, merge=True)
    net.wait_listening(ns, "tcp", listen[0], listen[1], proc=p)
    return p


# ---------------------------------------------------------------------------
# running a flow

def start_callee(net, path, scenario, args=(), calls=1, name="callee", trace_msg=True):
    """The called side's sipp (background), and its TLS relay if it is TLS."""
    s = path.callee
    port = BEHIND_RELAY if s.proto == "tls" else SIP_PORT
    if s.proto == "tls":
        start_relay(net, s.ns, "server", (s.ip, TLS_PORT), (s.ip, BEHIND_RELAY),
                    cert=make_cert(net, "callee", "callee.test"), name="callee-relay")
    argv = ["-sf", sipp_scenario(scenario), "-m", str(calls), "-t", s.sipp_t,
            "-i", s.ip, "-p", str(port), "-mi", s.ip, "-key", "vt", s.vt,
            "-key", "contact", s.contact(), "-timeout", "40s", "-timeout_error"] + list(args)
    return net.sipp_bg(s.ns, argv, name=name, trace_msg=trace_msg)


def run_caller(net, path, scenario, args=(), calls=1, service="alice", name="caller",
               timeout=30, trace_msg=True, transport=None):
    """The calling side's sipp, run to its end (through a client relay if TLS)."""
    s = path.caller
    target = (path.caller.sbc_ip, s.port)
    if s.proto == "tls":
        start_relay(net, s.ns, "client", (s.ip, RELAY_IN), target, bind=s.ip,
                    name="caller-relay")
        target = (s.ip, RELAY_IN)
    argv = ["-sf", sipp_scenario(scenario), "-s", service, "-key", "dest", path.dest,
            "-key", "vt", s.vt, "-key", "contact", s.contact(),
            "-m", str(calls), "-t", transport or s.sipp_t,
            "-i", s.ip, "-p", str(SIP_PORT), "-mi", s.ip] + list(args) + ["%s:%d" % target]
    return net.sipp(s.ns, argv, timeout=timeout, name=name, trace_msg=trace_msg)


class StreamFlow(Flow):
    """A flow's outcome (test_calls.Flow) on a path. Its wan_msgs and
    lan_msgs are every SIP message of the captures, TCP and TLS ones
    included one by one and in clear (see capture_messages), so that
    test_calls.hiding_problems sees them all."""

    def __init__(self, net, path, caller, callee, wan, lan):
        self.net = net
        self.path = path
        keys = keylog_path(net)
        self.keylog = keys if os.path.exists(keys) else None
        super().__init__(caller, callee, with_secrets(wan, self.keylog),
                         with_secrets(lan, self.keylog))

    def read_messages(self, pcap):
        return capture_messages(pcap)


def run_flow(net, path, uac, uas, uac_args=(), uas_args=(), calls=1, timeout=30):
    """Start the callee, capture on wan and lan, run the caller to its end,
    wait for the callee; returns a StreamFlow (assert_ok() not yet called)."""
    callee = start_callee(net, path, uas, uas_args, calls=calls)
    with net.tshark("sbc", "wan", CAPFILTER, name="wan") as wan, \
            net.tshark("sbc", "lan", CAPFILTER, name="lan") as lan:
        caller = run_caller(net, path, uac, uac_args, calls=calls, timeout=timeout)
        callee_res = callee_result(callee, caller, timeout=timeout + 30)
    return StreamFlow(net, path, caller, callee_res, wan.path, lan.path)


def callee_result(callee, caller, timeout=60):
    """The callee sipp's result once it ends; at once (killed) if the caller
    failed, rather than after the callee's own timeout."""
    if caller.rc != 0:
        try:
            callee.wait(2)
        except netns.NetError:
            callee.stop(signal.SIGKILL)
    return callee.result(timeout=timeout)


def with_secrets(pcap, keylog):
    """The capture with the TLS key log inside (editcap --inject-secrets), so
    that tshark (read_sip, hiding_problems) decrypts it; as is without TLS."""
    if not keylog or not os.path.getsize(keylog):
        return pcap
    out = pcap.replace(".pcapng", "-dsb.pcapng")
    subprocess.run([os.path.join(os.path.dirname(netns.TSHARK), "editcap"), "--inject-secrets",
                    "tls," + keylog, pcap, out], check=True, timeout=60,
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return out


# ---------------------------------------------------------------------------
# what the captures show: streams in clear, connections, transports

def _tshark(args, timeout=60):
    r = subprocess.run([netns.TSHARK, "-n"] + args, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=timeout)
    if r.returncode != 0:
        raise netns.NetError("tshark %s: %s" % (" ".join(args), r.stderr.strip()[-500:]))
    return r.stdout


_READ_CACHE = {}


def _cached(kind, pcap, read):
    """read(pcap), once per capture file as it is now (its size and mtime):
    a stopped capture does not change, and each tshark run costs a start-up."""
    st = os.stat(pcap)
    key = (kind, pcap, st.st_size, st.st_mtime_ns)
    if key not in _READ_CACHE:
        if len(_READ_CACHE) > 64:
            _READ_CACHE.clear()
        _READ_CACHE[key] = read(pcap)
    return _READ_CACHE[key]


def tcp_segments(pcap):
    """[(stream index, src ip, src port, dst ip, dst port, syn, ack)] of every
    TCP segment of a capture, in order (one tshark run, kept per file)."""
    def read(path):
        out = _tshark(["-r", path, "-Y", "tcp", "-T", "fields", "-e", "tcp.stream",
                       "-e", "ip.src", "-e", "tcp.srcport", "-e", "ip.dst", "-e", "tcp.dstport",
                       "-e", "tcp.flags.syn", "-e", "tcp.flags.ack"])
        segs = []
        for ln in out.splitlines():
            idx, src, sport, dst, dport, syn, ack = ln.split("\t")
            segs.append((int(idx), src, int(sport), dst, int(dport),
                         syn in ("1", "True"), ack in ("1", "True")))
        return segs
    return _cached("segments", pcap, read)


def tcp_connections(pcap):
    """[(client ip, client port, server ip, server port)] of every TCP
    connection opened in a capture (SYN without ACK), in order."""
    return [(src, sport, dst, dport) for _, src, sport, dst, dport, syn, ack in tcp_segments(pcap)
            if syn and not ack]


def stream_bytes(pcap):
    """{(sender ip, sender port, receiver ip, receiver port): bytes} of every
    TCP connection in a capture, in clear: TLS (port 5061) decrypted with the
    secrets inside the file (with_secrets), TCP as it is. Kept per file (a
    copy each time: callers may change it)."""
    return dict(_cached("streams", pcap, _stream_bytes))


def _stream_bytes(pcap):
    ends = {}
    for idx, src, sport, dst, dport, _, _ in tcp_segments(pcap):
        ends.setdefault(idx, ((src, sport), (dst, dport)))
    data = {}
    if not ends:
        return data
    args = ["-r", pcap, "-q"]
    for idx, (a, b) in sorted(ends.items()):
        tls = TLS_PORT in (a[1], b[1])
        args += ["-z", "follow,%s,raw,%d" % ("tls" if tls else "tcp", idx)]
    block = None
    for ln in _tshark(args).splitlines():
        m = re.match(r"Filter: tcp\.stream eq (\d+)", ln)
        if m:
            a, b = ends[int(m.group(1))]
            block = {"ends": (a, b), "node0": None}
            continue
        if block is None:
            continue
        m = re.match(r"Node 0: (.*):(\d+)$", ln)
        if m:
            n0 = (m.group(1), int(m.group(2)))
            a, b = block["ends"]
            block["node0"] = n0 if n0 in (a, b) else None
            continue
        if ln.startswith(("Node 1:", "Follow:", "====")) or not ln.strip():
            continue
        if block["node0"] is None:
            raise netns.NetError("tshark follow: cannot tell the ends of %s" % (block["ends"],))
        a, b = block["ends"]
        n0 = block["node0"]
        n1 = b if n0 == a else a
        sender, receiver = (n1, n0) if ln.startswith("\t") else (n0, n1)
        key = sender + receiver
        data[key] = data.get(key, b"") + bytes.fromhex(ln.strip())
    return data


def split_messages(data):
    """SIP messages in a stream's bytes (Content-Length framing), as text."""
    msgs = []
    while data:
        data = data.lstrip(b"\r\n")
        end = data.find(b"\r\n\r\n")
        if end < 0:
            break
        m = re.search(rb"\r\n(?:Content-Length|l)\s*:\s*(\d+)", data[:end + 2], re.I)
        n = end + 4 + (int(m.group(1)) if m else 0)
        msgs.append(data[:n].decode("latin-1"))
        data = data[n:]
    return msgs


COMPACT = {"v": "via", "m": "contact", "i": "call-id", "f": "from", "t": "to",
           "l": "content-length"}


def _split_values(value):
    """Comma-separated header values, commas inside <> or quotes kept."""
    out, cur, depth, quoted = [], "", 0, False
    for ch in value:
        if ch == '"':
            quoted = not quoted
        elif ch == "<" and not quoted:
            depth += 1
        elif ch == ">" and not quoted:
            depth -= 1
        if ch == "," and not quoted and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur.strip())
    return out


def parse_sip(text, src, sport, dst, dport, transport, frame):
    """A netns.SipMessage from a message's text (for messages of a stream)."""
    head = re.sub(r"\r\n[ \t]+", " ", text.split("\r\n\r\n", 1)[0])
    lines = head.split("\r\n")
    hdrs = {}
    for ln in lines[1:]:
        name, _, value = ln.partition(":")
        name = name.strip().lower()
        hdrs.setdefault(COMPACT.get(name, name), []).append(value.strip())
    first = lines[0]
    method = status = None
    if first.startswith("SIP/2.0 "):
        status = int(first.split()[1])
    else:
        method = first.split(" ", 1)[0]

    def one(name):
        v = hdrs.get(name)
        return v[0] if v else None

    def many(name):
        return [x for v in hdrs.get(name, []) for x in _split_values(v)]

    return netns.SipMessage(
        frame=frame, time=0.0, src=src, sport=sport, dst=dst, dport=dport, transport=transport,
        method=method, status=status, first_line=first, call_id=one("call-id"),
        cseq=one("cseq"), via=many("via"), contact=many("contact"), from_=one("from"),
        to=one("to"), user_agent=one("user-agent"), server=one("server"),
        record_route=many("record-route"), raw=text)


def capture_messages(pcap):
    """Every SIP message of a capture: datagrams as read_sip() gives them,
    and each message of each TCP or TLS connection (decrypted), framed by
    Content-Length from the connection's bytes: a segment holding two
    messages (a 200 and a 487 written together) gives two, a message over
    several segments one. A stream message's frame is its rank on its
    connection and direction (1, 2, ...), its transport "tcp" or "tls"."""
    msgs = read_sip(pcap, display_filter="sip && udp")
    for (src, sport, dst, dport), data in stream_bytes(pcap).items():
        proto = "tls" if TLS_PORT in (sport, dport) else "tcp"
        for i, text in enumerate(split_messages(data)):
            msgs.append(parse_sip(text, src, sport, dst, dport, proto, i + 1))
    return msgs


def stream_leak_problems(flow):
    """What sbcd sent on wan over TCP/TLS, in clear, that names the private
    side (hiding_problems scans frame payloads, which for TLS is ciphertext,
    and can miss a name cut across two segments)."""
    problems = []
    for (src, sport, dst, dport), data in stream_bytes(flow.wan).items():
        if src != SBC_WAN:
            continue
        text = data.decode("latin-1")
        for hit in PRIVATE_RE.finditer(text):
            problems.append("sbcd -> %s:%d names the private side: %r in %r"
                            % (dst, dport, hit.group(0),
                               text[max(0, hit.start() - 80):hit.end() + 40]))
    return problems


def assert_hidden(flow):
    """test_calls' topology checks, and the decrypted stream scan."""
    problems = hiding_problems(flow) + stream_leak_problems(flow)
    assert not problems, "\n".join(problems)


def zone_port(proto):
    return TLS_PORT if proto == "tls" else SIP_PORT


def leg_messages(flow, side):
    """The SIP messages of one leg: the capture on the side's interface."""
    return flow.wan_msgs if side.ns == "pub" else flow.lan_msgs


def transport_problems(flow, side, sbcd_connects):
    """How the SIP sbcd exchanged with one side breaks that side's transport:
    the messages must go over it (UDP, or TCP; TLS on 5061); sbcd's Via must
    be SIP/2.0/<T> <zone address>:<zone port for T>; its Contact must carry
    the same address and port and ;transport=tcp or ;transport=tls (none for
    UDP). On a stream exactly one connection carries everything both ways
    (RFC 3261 18.2.2: responses on the request's connection; 18.1.1: a
    request to a peer reuses the open connection): opened by the peer to
    sbcd's listening port, or, toward the callee, by sbcd to the callee's
    address and port."""
    msgs = [m for m in leg_messages(flow, side) if side.ip in (m.src, m.dst)]
    if not msgs:
        return ["no SIP between sbcd and %s captured" % side.ip]
    problems = []
    port = zone_port(side.proto)
    via_want = "SIP/2.0/%s %s:%d;" % (side.vt, side.sbc_ip, port)
    param = "" if side.proto == "udp" else ";transport=" + side.proto
    if side.proto == "udp":
        ends = {(side.ip, SIP_PORT), (side.sbc_ip, SIP_PORT)}
    else:
        pcap = flow.wan if side.ns == "pub" else flow.lan
        conns = [c for c in tcp_connections(pcap) if side.ip in (c[0], c[2])]
        want = (side.sbc_ip, side.ip, side.port) if sbcd_connects else \
            (side.ip, side.sbc_ip, port)
        if len(conns) != 1 or (conns[0][0], conns[0][2], conns[0][3]) != want:
            return problems + ["connections between sbcd and %s: %s; want one from %s to %s:%d"
                               % (side.ip, conns, *want)]
        ends = {(conns[0][0], conns[0][1]), (conns[0][2], conns[0][3])}
    for m in msgs:
        if m.transport != side.proto:
            problems.append("frame %d (%s) went over %s" % (m.frame, m.first_line, m.transport))
        if {(m.src, m.sport), (m.dst, m.dport)} != ends:
            problems.append("frame %d (%s) %s:%d -> %s:%d, not between %s"
                            % (m.frame, m.first_line, m.src, m.sport, m.dst, m.dport, ends))
        if m.src != side.sbc_ip:
            continue
        if m.is_request and (not m.via or not m.via[0].startswith(via_want)):
            problems.append("frame %d (%s): sbcd's Via %r, want %r..."
                            % (m.frame, m.first_line, m.via[:1], via_want))
        for c in m.contact:
            mm = re.match(r"<sip:[^@>]+@([^:;>]+):(\d+)((?:;[^>]*)?)>$", c.strip())
            if not mm or (mm.group(1), int(mm.group(2)), mm.group(3)) != \
                    (side.sbc_ip, port, param):
                problems.append("frame %d (%s): sbcd's Contact %r, want <sip:TOKEN@%s:%d%s>"
                                % (m.frame, m.first_line, c, side.sbc_ip, port, param))
    return problems


def assert_transports(flow):
    problems = []
    problems += transport_problems(flow, flow.path.caller, sbcd_connects=False)
    problems += transport_problems(flow, flow.path.callee, sbcd_connects=True)
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------------------
# nothing left behind

def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def rtp_ports_bound(net):
    """UDP ports bound in the sbc namespace inside the RTP ranges."""
    r = net.run("sbc", [netns.SS, "-H", "-uln"], check=True)
    bound = []
    for ln in r.stdout.splitlines():
        parts = ln.split()
        if len(parts) >= 4:
            port = int(parts[3].rsplit(":", 1)[1])
            if any(lo <= port <= hi for lo, hi in RTP_RANGES.values()):
                bound.append(parts[3])
    return bound


def sbcd_connections(net):
    """sbcd's TCP sockets other than its listeners (ss -tanp in the sbc namespace)."""
    r = net.run("sbc", [netns.SS, "-H", "-tanp"], check=True)
    return [ln for ln in r.stdout.splitlines()
            if "sbcd" in ln and not ln.startswith("LISTEN")]


def wait_for(what, want, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        got = what()
        if got == want or time.monotonic() >= deadline:
            return got
        time.sleep(0.1)


class Baseline:
    """sbcd's descriptors before the calls, to compare with after."""

    def __init__(self, net, sbcd):
        self.net = net
        self.sbcd = sbcd
        assert sbcd_connections(net) == []
        self.fds = fd_count(sbcd.pid)

    def assert_nothing_left(self, calls, causes):
        """Every call has its record with the expected (final, cause)s
        ({(final, cause): count}), its media ports are given back, every
        TCP/TLS connection is closed now that the peers are gone, and sbcd
        holds as many descriptors as before the calls."""
        net = self.net
        recs = wait_cdrs(net, calls)
        got = {}
        for r in recs:
            got[(r["final"], r["cause"])] = got.get((r["final"], r["cause"]), 0) + 1
        assert got == causes, recs
        ended = re.findall(r"call \d+: ended: ", net.sbcd_log())
        assert len(ended) == calls, "sbcd logged %d calls ended, want %d" % (len(ended), calls)
        assert rtp_ports_bound(net) == []
        assert wait_for(lambda: sbcd_connections(net), []) == []
        assert wait_for(lambda: fd_count(self.sbcd.pid), self.fds) == self.fds, \
            os.listdir("/proc/%d/fd" % self.sbcd.pid)
        return recs


def body_of(m):
    return m.raw.split("\r\n\r\n", 1)[1]


def caller_source_ok(rec, path):
    """The record's source is the caller's address (its connection's port on a stream)."""
    host, _, port = rec["source"].rpartition(":")
    return host == path.caller.ip and (path.caller.proto != "udp" or int(port) == SIP_PORT)


def sent_by_sbcd(flow, side, method=None, status=None, cseq=None):
    """Messages sbcd sent to a side (on its leg), filtered like test_calls.first()."""
    out = []
    for m in leg_messages(flow, side):
        if m.src != side.sbc_ip or m.dst != side.ip:
            continue
        if method and m.method != method:
            continue
        if status and m.status != status:
            continue
        if cseq and cseq not in (m.cseq or ""):
            continue
        out.append(m)
    return out


def run_checked(net, sbcd, path, uac, uas, **kw):
    """A flow whose sipps must both succeed, with the topology hidden on
    wan and each leg on its own transport."""
    base = Baseline(net, sbcd)
    flow = run_flow(net, path, uac, uas, **kw)
    flow.assert_ok()
    assert_hidden(flow)
    assert_transports(flow)
    log = net.sbcd_log()
    assert "names the private side" not in log
    return flow, base


# ---------------------------------------------------------------------------
# 1. call flows

@pytest.mark.parametrize("path", ALL_PATHS)
def test_basic_call_caller_hangs_up(testnet, sbcd, path):
    """INVITE with SDP, 100, 180, 200, ACK, BYE from the caller, over the
    path's transports; session timers and the BYE's Reason end to end."""
    flow, base = run_checked(testnet, sbcd, path, "stream_call_uac.xml", "stream_call_uas.xml")
    inv = sent_by_sbcd(flow, path.callee, method="INVITE")
    assert len(inv) == 1, [str(m) for m in inv]
    assert header(inv[0].raw, "Session-Expires") == ["1800;refresher=uac"]
    ok = sent_by_sbcd(flow, path.caller, status=200, cseq="INVITE")
    assert ok and header(ok[0].raw, "Require") == ["timer"]
    bye = sent_by_sbcd(flow, path.callee, method="BYE")
    assert bye and header(bye[0].raw, "Reason") == ['Q.850;cause=16;text="NORMAL_CLEARING"']
    rec = base.assert_nothing_left(1, {(200, "BYE from the caller"): 1})[0]
    assert caller_source_ok(rec, path), rec
    assert rec["b_call_id"] == inv[0].call_id


@pytest.mark.parametrize("path", FLOW_PATHS)
def test_basic_call_callee_hangs_up(testnet, sbcd, path):
    """The callee's BYE, on the connection sbcd opened to it (or over UDP),
    reaches the caller on the caller's own connection, with its Reason."""
    flow, base = run_checked(testnet, sbcd, path, "stream_hangup_uac.xml",
                             "stream_hangup_uas.xml")
    bye = sent_by_sbcd(flow, path.caller, method="BYE")
    assert len(bye) == 1, "no BYE reached the caller"
    assert header(bye[0].raw, "Reason") == ['Q.850;cause=16;text="NORMAL_CLEARING"']
    base.assert_nothing_left(1, {(200, "BYE from the callee"): 1})


@pytest.mark.parametrize("path", FLOW_PATHS)
def test_cancel_before_answer(testnet, sbcd, path):
    """CANCEL while ringing: CANCEL (with Reason) on the b-leg, 200 and 487 to the caller."""
    flow, base = run_checked(testnet, sbcd, path, "stream_cancel_uac.xml",
                             "stream_cancel_uas.xml")
    cancel = sent_by_sbcd(flow, path.callee, method="CANCEL")
    assert len(cancel) == 1
    assert header(cancel[0].raw, "Reason") == \
        ['SIP;cause=200;text="Call completed elsewhere"']
    assert sent_by_sbcd(flow, path.caller, status=487)
    # the b-leg CANCEL has the INVITE's branch (RFC 3261 9.1) and goes where the INVITE went
    inv = sent_by_sbcd(flow, path.callee, method="INVITE")[0]
    assert _branch(inv.via[0]) == _branch(cancel[0].via[0])
    assert (cancel[0].dst, cancel[0].dport) == (inv.dst, inv.dport)
    recs = base.assert_nothing_left(1, {(487, "cancelled"): 1})   # the caller got 487
    assert not recs[0].get("answer"), recs


@pytest.mark.parametrize("path", FLOW_PATHS)
def test_hold_unhold_both_sides(testnet, sbcd, path):
    """re-INVITEs a=sendonly c=0.0.0.0 and back from each side in turn;
    the hold keeps 0.0.0.0 on the other leg; every re-INVITE sbcd sends
    on a stream leg carries that leg's Via and Contact (target refresh)."""
    flow, base = run_checked(testnet, sbcd, path, "stream_hold_uac.xml", "stream_hold_uas.xml")
    holds = [m for m in sent_by_sbcd(flow, path.callee, method="INVITE")
             if "a=sendonly" in body_of(m)]
    assert len(holds) == 1
    assert "c=IN IP4 0.0.0.0\r\n" in body_of(holds[0])
    back = [m for m in sent_by_sbcd(flow, path.caller, method="INVITE")]
    assert len(back) == 2, [str(m) for m in back]     # the callee's hold and unhold
    base.assert_nothing_left(1, {(200, "BYE from the caller"): 1})


def _branch(via):
    m = re.search(r";branch=([^;\s]+)", via)
    return m.group(1) if m else None



# ---------------------------------------------------------------------------
# 2. large messages over streams

BIG_PATHS = paths("in-tcp-tcp", "in-tcp-udp", "in-tls-tcp", "out-tcp-tcp", "out-udp-tls")


def no_gso(net):
    """One TCP segment per packet on every interface of the network (veth
    hands TSO/GSO "super-packets" of several segments over whole: a capture
    would show a 4,000-byte message as one 4,000-byte segment, and the
    receiver would read it in one go)."""
    for ns, ifaces in netns.IFACES.items():
        for ifname in ifaces:
            net.run(ns, [netns.IP, "link", "set", "dev", ifname, "gso_max_segs", "1"],
                    check=True)


def _ends(sizes):
    out, total = [], 0
    for n in sizes:
        total += n
        out.append(total)
    return out


TLS13_AEAD_OVERHEAD = 17         # AES-GCM or ChaCha20-Poly1305 tag (16) and the inner type (1)


def tls_data_records(pcap, src):
    """Lengths of the TLS application-data records src sent, in order (the
    capture decrypted: TLS 1.3 hides the record type otherwise)."""
    out = _tshark(["-r", pcap, "-Y", "ip.src==%s && tls.record" % src, "-T", "fields",
                   "-e", "tls.record.content_type", "-e", "tls.record.length"])
    recs = []
    for ln in out.splitlines():
        types, lengths = ln.split("\t")
        for ty, n in zip(types.split(","), lengths.split(",")):
            if ty == "23":
                recs.append(int(n))
    return recs


def segments_of(pcap, src, dst, method="INVITE"):
    """TCP segments with payload from src to dst, up to the first one from
    dst back to src with payload after the first of src's (for TCP: the
    segments a request took before its first answer)."""
    out = _tshark(["-r", pcap, "-Y", "tcp.len > 0 && ip.addr==%s && ip.addr==%s" % (src, dst),
                   "-T", "fields", "-e", "frame.number", "-e", "ip.src", "-e", "tcp.len"])
    segs = []
    for ln in out.splitlines():
        frame, s, n = ln.split("\t")
        if s == src:
            segs.append((int(frame), int(n)))
        elif segs:
            break
    return segs


@pytest.mark.parametrize("path", BIG_PATHS)
def test_large_invite_split_over_segments(testnet, sbcd, path):
    """A ~4,200-byte INVITE (16 unknown headers, 20 SDP attributes) and a
    ~2,000-byte 200: over a stream they cross as several TCP segments
    (MTU 1500); sbcd frames them by Content-Length and relays them whole
    (the callee checks the first and last pad header and attribute, the
    caller the last attribute of the answer)."""
    no_gso(testnet)
    flow, base = run_checked(testnet, sbcd, path, "stream_big_uac.xml", "stream_big_uas.xml")
    caller, callee = path.caller, path.callee
    sent = [m for m in leg_messages(flow, caller) if m.method == "INVITE" and m.src == caller.ip]
    relayed = sent_by_sbcd(flow, callee, method="INVITE")
    assert len(sent) == 1 and len(relayed) == 1
    assert len(sent[0].raw) > 3000 and len(relayed[0].raw) > 3000, \
        (len(sent[0].raw), len(relayed[0].raw))
    assert header(relayed[0].raw, "Pad-16") == header(sent[0].raw, "Pad-16")
    assert body_of(relayed[0]).count("a=x-pad-") == 20
    ok = sent_by_sbcd(flow, caller, status=200, cseq="INVITE")
    assert ok and body_of(ok[0]).count("a=x-pad-") == 20
    if caller.proto == "tcp":
        pcap = flow.wan if caller.ns == "pub" else flow.lan
        segs = segments_of(pcap, caller.ip, caller.sbc_ip)
        assert len(segs) >= 3 and sum(n for _, n in segs) == len(sent[0].raw), segs
    base.assert_nothing_left(1, {(200, "BYE from the caller"): 1})



# the pad of stream_big_*.xml
PAD = ("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
       "0123456789abcdefghijklmnopqrstuvwxyz")


def big_invite(proto, local_port, call_id, tag):
    """The INVITE of stream_big_uac.xml (what stream_big_uas.xml checks),
    written here for a phone that sends it in pieces (siptool)."""
    sdp = "\r\n".join(["v=0", "o=phone 1 1 IN IP4 %s" % PHONE, "s=-", "c=IN IP4 %s" % PHONE,
                        "t=0 0", "m=audio 6000 RTP/AVP 0 101", "a=rtpmap:0 PCMU/8000",
                        "a=rtpmap:101 telephone-event/8000", "a=ptime:20"] +
                       ["a=x-pad-%02d:offer-%s" % (i, PAD[:64]) for i in range(1, 21)] +
                       ["a=sendrecv", ""])
    port = zone_port(proto)
    head = ["INVITE sip:alice@%s:%d SIP/2.0" % (SBC_WAN, port),
            "Via: SIP/2.0/%s %s:%d;branch=z9hG4bK-split-%s;rport" % (proto.upper(), PHONE,
                                                                     local_port, tag),
            "From: <sip:phone@%s>;tag=%s" % (PHONE, tag),
            "To: <sip:alice@%s:%d>" % (SBC_WAN, port),
            "Call-ID: %s" % call_id, "CSeq: 1 INVITE",
            "Contact: <sip:phone@%s:%d;transport=%s>" % (PHONE, local_port, proto),
            "Max-Forwards: 70"] + \
        ["Pad-%02d: %02d-%s" % (i, i, PAD) for i in range(1, 17)] + \
        ["Content-Type: application/sdp", "Content-Length: %d" % len(sdp), "", ""]
    return "\r\n".join(head) + sdp


def in_dialog(method, proto, local_port, call_id, tag, cseq):
    """ACK or BYE for the split INVITE's dialog. The Request-URI is the first
    one, not sbcd's Contact (siptool cannot copy it): sbcd finds the dialog
    by Call-ID and tags (docs/b2bua.md)."""
    port = zone_port(proto)
    return "\r\n".join([
        "%s sip:alice@%s:%d SIP/2.0" % (method, SBC_WAN, port),
        "Via: SIP/2.0/%s %s:%d;branch=z9hG4bK-split-%s-%d;rport" % (proto.upper(), PHONE,
                                                                   local_port, tag, cseq),
        "From: <sip:phone@%s>;tag=%s" % (PHONE, tag),
        "To: <sip:alice@%s:%d>;tag=$TO_TAG" % (SBC_WAN, port),
        "Call-ID: %s" % call_id, "CSeq: %d %s" % (cseq, method), "Max-Forwards: 70",
        "Content-Length: 0", "", ""])


def pieces(text):
    """Cuts at the awkward places: inside the request line, inside a header
    name, between the CR and the LF ending a header, between the two CRLFs
    ending the headers, inside the body, and before its very last byte."""
    end = text.index("\r\n\r\n")
    cuts = [10, text.index("Pad-08") + 2, text.index("\r\n", text.index("Pad-12")) + 1,
            end + 2, end + 4 + 300, len(text) - 1]
    out, prev = [], 0
    for c in cuts:
        out.append(text[prev:c])
        prev = c
    return out + [text[prev:]]


@pytest.mark.parametrize("path", paths("in-tcp-udp", "in-tls-tcp"))
def test_invite_in_pieces_with_pauses(testnet, sbcd, path):
    """The phone writes its ~4,000-byte INVITE in 7 pieces, 0.3 s apart
    (TCP_NODELAY: one segment, or one TLS record, each): sbcd waits for the
    whole message (Content-Length) and relays it once, intact (the PBX
    checks its pads); 100, 180, 200 come back on the phone's connection;
    the ACK and the BYE (two messages in one segment) end the call."""
    no_gso(testnet)
    base = Baseline(testnet, sbcd)
    callee = start_callee(testnet, path, "stream_big_uas.xml")
    proto = path.caller.proto
    tag, call_id = "split%d" % os.getpid(), "split-%d@phone" % os.getpid()
    # siptool's socket port is not known before it connects: the Via and
    # Contact name port 5060 (rport/received and the connection do the rest)
    invite = big_invite(proto, SIP_PORT, call_id, tag)
    steps = []
    for piece in pieces(invite):
        steps += [{"send": piece}, {"sleep": 0.3}]
    steps += [{"expect": 3, "timeout": 10},
              {"send": in_dialog("ACK", proto, SIP_PORT, call_id, tag, 1) +
               in_dialog("BYE", proto, SIP_PORT, call_id, tag, 2)},
              {"expect": 4, "timeout": 10}]
    with testnet.tshark("sbc", "wan", CAPFILTER, name="wan") as wan, \
            testnet.tshark("sbc", "lan", CAPFILTER, name="lan") as lan:
        if proto == "tls":
            start_relay(testnet, "pub", "client", (PHONE, RELAY_IN), (SBC_WAN, TLS_PORT),
                        bind=PHONE, name="phone-relay")
            r = testnet.sip_exchange("pub", "tcp", PHONE, RELAY_IN, steps, src=PHONE)
        else:
            r = testnet.sip_exchange("pub", "tcp", SBC_WAN, SIP_PORT, steps, src=PHONE)
        callee_res = callee.result(timeout=30)
    assert callee_res.rc == 0, callee_res.describe()
    firsts = [m.split("\r\n", 1)[0] for m in r["messages"]]
    assert firsts == ["SIP/2.0 100 Trying", "SIP/2.0 180 Ringing", "SIP/2.0 200 OK",
                      "SIP/2.0 200 OK"], firsts
    assert "CSeq: 2 BYE" in r["messages"][3]
    flow = StreamFlow(testnet, path, None, callee_res, wan.path, lan.path)
    assert_hidden(flow)
    assert transport_problems(flow, path.callee, sbcd_connects=True) == []
    # the pieces crossed as pieces: each ends a TCP segment (the longest
    # one, past the MSS, takes two), or is one TLS record
    sizes = [len(p) for p in pieces(invite)]
    if proto == "tcp":
        segs = [n for _, n in segments_of(flow.wan, PHONE, SBC_WAN)]
        assert set(_ends(sizes)) <= set(_ends(segs)) and sum(segs) == len(invite), segs
    else:
        recs = tls_data_records(flow.wan, PHONE)
        assert [n - TLS13_AEAD_OVERHEAD for n in recs[:len(sizes)]] == sizes, recs
    relayed = sent_by_sbcd(flow, path.callee, method="INVITE")
    assert len(relayed) == 1 and header(relayed[0].raw, "Pad-16") == ["16-" + PAD]
    base.assert_nothing_left(1, {(200, "BYE from the caller"): 1})


# ---------------------------------------------------------------------------
# 3. reliable transports: no retransmissions (RFC 3261 17.1.1.2, 17.1.2.2, 17.2.1)

@pytest.mark.parametrize("path", paths("in-tcp-tcp", "out-udp-tls"))
def test_no_request_retransmission_on_stream(testnet, sbcd, path):
    """The callee answers the INVITE and the BYE only after 1.5 s (3 x T1):
    over TCP/TLS sbcd sends each once (Timers A and E are for unreliable
    transports), and the call completes."""
    flow, base = run_checked(testnet, sbcd, path, "stream_call_uac.xml", "stream_slow_uas.xml")
    for method in ("INVITE", "ACK", "BYE"):
        sent = sent_by_sbcd(flow, path.callee, method=method)
        assert len(sent) == 1, "%s sent %d times: %s" % (method, len(sent),
                                                        [str(m) for m in sent])
    base.assert_nothing_left(1, {(200, "BYE from the caller"): 1})


@pytest.mark.parametrize("path", paths("in-tcp-udp", "in-tls-udp"))
def test_no_response_retransmission_on_stream(testnet, sbcd, path):
    """The PBX refuses with 486; the phone (TCP/TLS) ACKs only after 1.5 s:
    sbcd sends the 486 once on the phone's connection (Timer G is for
    unreliable transports) and absorbs the ACK."""
    flow, base = run_checked(testnet, sbcd, path, "stream_slowack_uac.xml", "reject486_uas.xml")
    finals = sent_by_sbcd(flow, path.caller, status=486)
    assert len(finals) == 1, [str(m) for m in finals]
    assert not sent_by_sbcd(flow, path.caller, method="BYE")
    base.assert_nothing_left(1, {(486, "rejected"): 1})


# ---------------------------------------------------------------------------
# 4. many calls, many connections: nothing left behind

MANY_CALLS = 30


@pytest.mark.parametrize("path", paths("in-tcp-tcp", "in-tls-udp", "out-tcp-tls"))
def test_many_calls_one_connection_each_leave_nothing_behind(testnet, sbcd, path):
    """30 calls at 10/s, up to 5 at once, the caller opening one connection
    per call (sipp -t tn; through the relay, one TLS connection each): all
    complete; toward the callee sbcd keeps using one connection (RFC 3261
    18.1.1 / docs/transports.md: a request to a peer reuses an open
    connection); afterwards every call has its record, no RTP port is bound,
    sbcd has no connection left once the peers are gone and as many
    descriptors as before the calls."""
    base = Baseline(testnet, sbcd)
    callee = start_callee(testnet, path, "stream_call_uas.xml", calls=MANY_CALLS,
                          name="callee")
    with testnet.tshark("sbc", "wan", CAPFILTER, name="wan") as wan, \
            testnet.tshark("sbc", "lan", CAPFILTER, name="lan") as lan:
        caller = run_caller(testnet, path, "stream_call_uac.xml",
                            ["-r", "10", "-l", "5", "-max_socket", "64"], calls=MANY_CALLS,
                            transport="tn", timeout=40)
        callee_res = callee_result(callee, caller)
    assert caller.rc == 0, caller.describe()
    assert caller.stats["successful"] == MANY_CALLS, caller.describe()
    assert callee_res.rc == 0, callee_res.describe()
    flow = StreamFlow(testnet, path, caller, callee_res, wan.path, lan.path)
    assert_hidden(flow)
    caller_pcap = flow.wan if path.caller.ns == "pub" else flow.lan
    callee_pcap = flow.wan if path.callee.ns == "pub" else flow.lan
    in_conns = [c for c in tcp_connections(caller_pcap) if c[0] == path.caller.ip]
    assert len(in_conns) == MANY_CALLS, in_conns
    out_conns = [c for c in tcp_connections(callee_pcap) if c[2] == path.callee.ip]
    assert len(out_conns) == (0 if path.callee.proto == "udp" else 1), out_conns
    assert transport_problems(flow, path.callee, sbcd_connects=True) == []
    base.assert_nothing_left(MANY_CALLS, {(200, "BYE from the caller"): MANY_CALLS})


# ---------------------------------------------------------------------------
# 5. SIPS

def test_sips_request_uri_gets_sips_contact(testnet, sbcd):
    """A phone over TLS calls sips:alice@203.0.113.1:5061. RFC 3261 8.1.1.8
    and 12.1.1: when the request's Request-URI is a SIPS URI, the Contact
    of the response that makes the dialog MUST be a SIPS URI (else the
    phone's in-dialog requests may leave TLS). RFC 5630 3.1.3: "transport=tls"
    is deprecated and does not mean SIPS."""
    path = PATHS["in-tls-udp"]
    callee = start_callee(testnet, path, "stream_call_uas.xml")
    with testnet.tshark("sbc", "wan", CAPFILTER, name="wan") as wan, \
            testnet.tshark("sbc", "lan", CAPFILTER, name="lan") as lan:
        start_relay(testnet, "pub", "client", (PHONE, RELAY_IN), (SBC_WAN, TLS_PORT),
                    bind=PHONE, name="caller-relay")
        caller = testnet.sipp("pub", [
            "-sf", sipp_scenario("stream_sips_uac.xml"), "-s", "alice",
            "-key", "dest", "%s:%d" % (SBC_WAN, TLS_PORT), "-key", "vt", "TLS",
            "-key", "contact", "%s:%d" % (PHONE, TLS_PORT), "-m", "1", "-t", "t1",
            "-i", PHONE, "-p", str(SIP_PORT), "-mi", PHONE, "%s:%d" % (PHONE, RELAY_IN)],
            timeout=30, name="caller")
        callee_res = callee_result(callee, caller)
    flow = StreamFlow(testnet, path, caller, callee_res, wan.path, lan.path)
    flow.assert_ok()
    ok = sent_by_sbcd(flow, path.caller, status=200, cseq="INVITE")
    assert ok, "no 200 to the phone"
    assert all(c.strip().startswith("<sips:") for c in ok[0].contact), ok[0].contact


# ---------------------------------------------------------------------------
# 6. a call outlives its connection

@pytest.mark.sbc_config({"sip": {"tcp_idle_s": "2"}})
def test_bye_reaches_phone_after_idle_close(testnet, sbcd):
    """A phone over TCP (Contact sip:phone@203.0.113.11:5060;transport=tcp,
    where it listens) calls the PBX, then says nothing for 4 s (no
    in-dialog request, no CRLF keep-alive); tcp_idle_s is 2, so sbcd
    closes the phone's connection. The PBX then hangs up: its BYE must
    still reach the phone, on a connection to the phone's Contact (RFC 3261
    12.2.1.1: in-dialog requests go to the remote target), or the phone keeps
    a call that has ended."""
    path = PATHS["in-tcp-udp"]
    callee = start_callee(testnet, path, "stream_hangup_late_uas.xml", ["-d", "4000"])
    # the phone's listening socket at its Contact
    catcher = testnet.sipp_bg("pub", ["-sf", sipp_scenario("stream_bye_uas.xml"), "-m", "1",
                                      "-t", "t1", "-i", PHONE, "-p", str(SIP_PORT),
                                      "-timeout", "20s"], name="phone-listener")
    tag, call_id = "idle%d" % os.getpid(), "idle-%d@phone" % os.getpid()
    invite = big_invite("tcp", SIP_PORT, call_id, tag)
    steps = [{"send": invite}, {"expect": 3, "timeout": 10},
             {"send": in_dialog("ACK", "tcp", SIP_PORT, call_id, tag, 1)},
             {"expect": 4, "timeout": 8}]
    with testnet.tshark("sbc", "wan", "tcp or " + CAPFILTER, name="wan"):
        r = testnet.sip_exchange("pub", "tcp", SBC_WAN, SIP_PORT, steps, src=PHONE, timeout=30)
        callee_res = callee.result(timeout=30)
        listener = catcher.result(timeout=30)
    assert callee_res.rc == 0, callee_res.describe()
    assert one_cdr_cause(testnet) == "BYE from the callee"
    firsts = [m.split("\r\n", 1)[0] for m in r["messages"]]
    assert firsts[:3] == ["SIP/2.0 100 Trying", "SIP/2.0 180 Ringing", "SIP/2.0 200 OK"], firsts
    # the premise: sbcd closed the idle connection before the BYE
    assert r["closed"] in ("eof", "reset") and len(firsts) == 3, (r["closed"], firsts)
    on_old = firsts[3:4] == ["BYE sip:phone@%s:%d;transport=tcp SIP/2.0" % (PHONE, SIP_PORT)]
    assert on_old or listener.rc == 0, \
        "the BYE reached the phone neither on its connection (%s: %s) nor at its Contact " \
        "(%s)" % (r["closed"], firsts[3:], listener.describe())


def one_cdr_cause(net):
    recs = wait_cdrs(net, 1)
    assert len(recs) == 1, recs
    return recs[0]["cause"]


# ---------------------------------------------------------------------------
# 7. stream transports that cannot work

@pytest.mark.parametrize("path", paths("out-udp-tcp"))
def test_refused_connection_fails_the_call_fast(testnet, sbcd, path):
    """The trunk is reached over TCP and nothing listens there: sbcd's
    connection is refused (RST) at once. RFC 3261 8.1.3.1 and 17.1.4: a
    transport failure ends the client transaction and counts as a 503, so
    the PBX hears 503 within a moment, not 408 after Timer B (64 x T1)."""
    callee_ip = path.callee.ip
    with testnet.tshark("sbc", "wan", "tcp", name="wan") as wan:
        caller = testnet.sipp(path.caller.ns, [
            "-sf", sipp_scenario("reject_uac.xml"), "-s", "alice", "-key", "dest", path.dest,
            "-m", "1", "-t", path.caller.sipp_t, "-i", path.caller.ip, "-p", str(SIP_PORT),
            "-mi", path.caller.ip, "-timeout", "6s", "-timeout_error",
            "%s:%d" % (path.caller.sbc_ip, SIP_PORT)], timeout=6, name="caller")
    refused = _tshark(["-r", wan.path, "-Y", "ip.src==%s && tcp.flags.reset==1" % callee_ip])
    assert refused.strip(), "sbcd's connection to %s was not refused" % callee_ip
    answers = [ln for ln in open(caller.file("messages.log"), errors="replace")
               if ln.startswith("SIP/2.0 ")]
    assert any(a.startswith("SIP/2.0 503") for a in answers), \
        "within 6 s the PBX heard %s" % [a.strip() for a in answers]


def test_core_transport_needs_its_listener(testnet):
    """[core] transport = tls while the private zone has no TLS listener
    (sip_tls = 0, its default): sbcd has no TLS stream on that zone to
    reach the core with. The configuration check must say so (sbcd -t exits
    2 naming [core] transport or [private] sip_tls) rather than sbcd
    starting and answering every call from the public side with 500. (The
    same holds for transport = tcp with sip_tcp = 0, and for a trunk.)"""
    cfg = testnet.write_config(overrides={"core": {"transport": "tls"}})
    r = testnet.run(None, [netns.sbcd_binary(), "-t", "-c", cfg], timeout=30)
    out = r.stdout + r.stderr
    assert r.returncode == 2 and ("sip_tls" in out or "transport" in out), (r.returncode, out)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "relay":
        sys.exit(relay_main(sys.argv[2:]))
    sys.exit("usage: test_calls_stream.py relay --mode client|server ...")
