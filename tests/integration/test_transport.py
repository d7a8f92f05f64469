"""sbcd's SIP transport and transaction layer, seen from the wire (issue 3,
items 7 and 8): OPTIONS on every listener of both zones, retransmissions
absorbed by the transactions, malformed requests answered while sbcd keeps
serving, TCP framing (coalesced, split, CRLF keep-alive), TCP connection
limits and idle timeout, link state following, start-up errors.

Everything runs on the two-zone test network (docs/testing.md): requests go
from pub (203.0.113.10, .11) to the public zone 203.0.113.1 and from priv
(10.20.0.10) to the private zone 10.20.0.1. Raw messages are sent with
siptool.py (exchange, conns) inside the namespaces; sipp where a real UA is
the point. Waits are bounded; nothing asserts on how long something took.
"""
import concurrent.futures
import os
import re
import ssl
import time

import pytest

import netns
from netns import PBX, PUB, PUB_EXTRA, SBC_LAN, SBC_WAN, sipp_scenario

# (namespace of the client, its address, the zone's name and address)
ZONES = [("pub", PUB, "public", SBC_WAN), ("priv", PBX, "private", SBC_LAN)]
ZONE_IDS = ["public", "private"]


# ---------------------------------------------------------------------------
# SIP text helpers

def request(method, ruri, src, proto="UDP", branch="z9hG4bKtest1", call_id="t-1@test",
            cseq=None, from_tag="ft1", to=None, max_forwards="70", body="",
            content_length=None, version="SIP/2.0", drop=(), extra=()):
    """A request as text. drop: header names to leave out; extra: more lines."""
    hdrs = [
        ("Via", "SIP/2.0/%s %s:5060;branch=%s;rport" % (proto, src, branch)),
        ("Max-Forwards", max_forwards),
        ("From", "<sip:tester@%s>;tag=%s" % (src, from_tag)),
        ("To", to or "<%s>" % ruri),
        ("Call-ID", call_id),
        ("CSeq", cseq or "1 %s" % method),
        ("User-Agent", "sbc-test-transport"),
    ]
    lines = ["%s %s %s" % (method, ruri, version)]
    lines += ["%s: %s" % (n, v) for n, v in hdrs if n not in drop and v is not None]
    lines += list(extra)
    clen = len(body.encode("latin-1")) if content_length is None else content_length
    lines.append("Content-Length: %d" % clen)
    return "\r\n".join(lines) + "\r\n\r\n" + body


def options(zone_addr, src, proto="UDP", **kw):
    """An OPTIONS to the SBC itself (Request-URI without a user part)."""
    return request("OPTIONS", "sip:%s:5060" % zone_addr, src, proto=proto, **kw)


def status(msg):
    """(code, reason phrase) of a response text."""
    m = re.match(r"SIP/2\.0 (\d{3}) (.*)", msg.split("\r\n", 1)[0])
    assert m, "not a SIP response: %r" % msg[:200]
    return int(m.group(1)), m.group(2)


def header(msg, name):
    """Values of a header (full name, case-insensitive) in a message text."""
    head = msg.split("\r\n\r\n", 1)[0]
    out = []
    for line in head.split("\r\n")[1:]:
        n, _, v = line.partition(":")
        if n.strip().lower() == name.lower():
            out.append(v.strip())
    return out


def to_tag(msg):
    to = header(msg, "To")
    m = re.search(r";tag=([^;>\s]+)", to[0]) if to else None
    return m.group(1) if m else None


def via_params(msg):
    """The top Via's parameters as a dict (flags map to "")."""
    via = header(msg, "Via")[0]
    params = {}
    for p in via.split(";")[1:]:
        k, _, v = p.partition("=")
        params[k.strip().lower()] = v.strip()
    return params


def codes(messages):
    return [status(m)[0] for m in messages]


def check_rfc3581(resp, src_ip, src_port):
    """The top Via of a response to a request with rport (RFC 3581 4)."""
    p = via_params(resp)
    assert p.get("received") == src_ip, "Via received= should be %s: %s" % (
        src_ip, header(resp, "Via")[0])
    assert p.get("rport") == str(src_port), "Via rport= should be %d: %s" % (
        src_port, header(resp, "Via")[0])


def accepted(net):
    """TCP connections sbcd has accepted (established sockets it owns)."""
    r = net.run("sbc", [netns.SS, "-Htnp", "state", "established"], check=True)
    return sum(1 for line in r.stdout.splitlines() if '"sbcd"' in line)


def wait_accepted(net, n, timeout=10.0):
    """Wait (bounded) until sbcd holds n accepted connections; the count."""
    deadline = time.monotonic() + timeout
    while True:
        c = accepted(net)
        if c >= n or time.monotonic() >= deadline:
            return c
        time.sleep(0.05)


def sipp_messages(res):
    """The messages sipp received (from its messages.log), as texts."""
    with open(res.file("messages.log"), errors="replace") as f:
        text = f.read()
    out = []
    for block in re.split(r"\n-{20,}[^\n]*\n", text):
        m = re.match(r"(?:UDP|TCP|TLS) message received \[\d+\] bytes :\n\n(.*)", block, re.S)
        if m:
            text = m.group(1).replace("\r\n", "\n").strip("\n")
            out.append(text.replace("\n", "\r\n") + "\r\n\r\n")
    return out


# ---------------------------------------------------------------------------
# OPTIONS on every listener

@pytest.mark.parametrize("transport", ["u1", "t1"])
@pytest.mark.parametrize("ns,src,zone,dst", ZONES, ids=ZONE_IDS)
def test_options_sipp(testnet, sbcd, transport, ns, src, zone, dst):
    """sipp's OPTIONS over UDP and TCP gets 200 with Allow, Server, and a
    Via with received= and rport= (the sipp source port, 5070)."""
    res = testnet.sipp(ns, ["-sf", sipp_scenario("options_sbc_uac.xml"), "-m", "1",
                            "-t", transport, "-i", src, "-p", "5070", "%s:5060" % dst],
                       timeout=15)
    assert res.rc == 0, res.describe()
    assert res.stats["successful"] == 1, res.describe()
    finals = [m for m in sipp_messages(res) if status(m)[0] == 200]
    assert finals, "no 200 in sipp's messages.log: %s" % res.dir
    ok = finals[0]
    check_rfc3581(ok, src, 5070)
    assert "OPTIONS" in header(ok, "Allow")[0]
    assert header(ok, "Server") == ["sbc"]
    assert to_tag(ok)


@pytest.mark.sbc_config({"private": {"sip_tls": 5061}})
@pytest.mark.parametrize("ns,src,zone,dst", ZONES, ids=ZONE_IDS)
def test_options_tls(testnet, sbcd, ns, src, zone, dst):
    """OPTIONS over TLS to port 5061 of each zone gets 200, and the server
    presents the certificate sbcd made in data_dir at first start.

    (Debian's sipp is built without OpenSSL: `-t l1` fails with "To use a
    TLS transport you must compile SIPp with OpenSSL", so the client is
    Python's ssl in the namespace.)"""
    r = testnet.sip_exchange(ns, "tls", dst, 5061,
                             [{"send": options(dst, src, proto="TLS")},
                              {"expect": 1, "timeout": 5}], src=src)
    assert r["error"] is None, r
    assert codes(r["messages"]) == [200], r
    ok = r["messages"][0]
    check_rfc3581(ok, src, r["local"][1])
    assert "OPTIONS" in header(ok, "Allow")[0]
    with open(os.path.join(testnet.tmpdir, "data", "tls-%s.crt" % zone)) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    assert r["peer_cert"] == der.hex(), "the TLS listener of zone %s does not present " \
        "data/tls-%s.crt" % (zone, zone)


# ---------------------------------------------------------------------------
# transactions: retransmissions

def test_invite_retransmissions_absorbed(testnet, sbcd):
    """Three copies of one INVITE (same branch) over UDP, then its ACK, then
    a fourth copy: one server transaction. The INVITE comes from the PBX
    side for a host that is no trunk, so there is no route: the first copy
    gets 100 Trying at once and then the 404; each later copy gets the same
    404 again from the transaction (Completed: the final is resent; a new
    transaction would send a new 100 first); after the ACK (Confirmed) a
    copy is absorbed without an answer."""
    ruri = "sip:alice@198.51.100.99"
    inv = request("INVITE", ruri, PBX, branch="z9hG4bKretx1", call_id="retx-1@test",
                  extra=["Contact: <sip:tester@%s:5060>" % PBX,
                         "Content-Type: application/sdp"],
                  body="v=0\r\no=- 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\n"
                       "m=audio 40000 RTP/AVP 0\r\n" % (PBX, PBX))
    # the ACK for the 404 (same branch; To with the 404's tag), then a fourth
    # copy: absorbed in Confirmed, nothing comes back after it
    ack = request("ACK", ruri, PBX, branch="z9hG4bKretx1", call_id="retx-1@test",
                  cseq="1 ACK", to="<%s>;tag=$TO_TAG" % ruri)
    r = testnet.sip_exchange("priv", "udp", SBC_LAN, 5060, [
        {"send": inv}, {"expect": 2, "timeout": 5},
        {"send": inv}, {"expect": 3, "timeout": 5},
        {"send": inv}, {"expect": 4, "timeout": 5},
        {"send": ack}, {"listen": 0.6},
        {"send": inv}, {"listen": 1.0},
    ], src=PBX)
    ev = r["events"]
    sends = [i for i, e in enumerate(ev) if "sent" in e]
    msgs = [e["msg"] for e in ev[:sends[3]] if "msg" in e]     # before the ACK
    assert codes(msgs)[:2] == [100, 404], msgs
    assert codes(msgs).count(100) == 1, "a copy was answered by a new transaction: %s" \
        % codes(msgs)
    finals = [m for m in msgs if status(m)[0] == 404]
    assert len(finals) >= 3, codes(msgs)     # one per copy (Timer G may add more)
    assert all(m == finals[0] for m in finals), "the resent 404 differs from the first"
    assert to_tag(finals[0]), finals[0]
    assert to_tag(msgs[0]) is None, "100 Trying carries a To tag"
    check_rfc3581(finals[0], PBX, r["local"][1])
    after = [e["msg"] for e in ev[sends[4]:] if "msg" in e]
    assert after == [], "the INVITE after the ACK was answered: %s" % codes(after)


def test_options_retransmission_same_200(testnet, sbcd):
    """OPTIONS to the SBC itself is answered before the transaction layer,
    statelessly (docs/transports.md: keep-alives must not fill the
    transaction table): a retransmission (same branch) gets the same 200 byte
    for byte, because the To tag is derived from the request (Call-ID and
    top Via, RFC 3261 8.2.6.2). A copy that
    differs only in its From tag is a different request to a stateless
    responder: its 200 carries its own From tag, not the first one's, which
    shows no transaction answered it. Retransmissions absorbed by a
    transaction are tested with INVITE above."""
    opt = options(SBC_WAN, PUB, branch="z9hG4bKoptretx", call_id="optretx-1@test")
    odd = opt.replace(";tag=ft1", ";tag=ft2")
    assert odd != opt
    r = testnet.sip_exchange("pub", "udp", SBC_WAN, 5060, [
        {"send": opt}, {"expect": 1, "timeout": 5},
        {"send": opt}, {"expect": 2, "timeout": 5},
        {"listen": 0.3},
        {"send": odd}, {"expect": 3, "timeout": 5},
    ], src=PUB)
    msgs = r["messages"]
    assert codes(msgs) == [200, 200, 200], msgs
    assert msgs[0] == msgs[1]
    assert to_tag(msgs[0]) and to_tag(msgs[0]) == to_tag(msgs[1])
    check_rfc3581(msgs[0], PUB, r["local"][1])
    assert ";tag=ft2" in msgs[2] and ";tag=ft1" not in msgs[2], msgs[2]


# ---------------------------------------------------------------------------
# ingress checks: malformed requests

INV_URI = "sip:bob@%s" % SBC_WAN
MALFORMED = [
    # (name, text, expected status or None for no answer, reason phrase)
    ("missing Call-ID",
     request("INVITE", INV_URI, PUB, drop=("Call-ID",), call_id=None),
     400, "Missing Call-ID header"),
    ("missing CSeq",
     request("INVITE", INV_URI, PUB, drop=("CSeq",), call_id="bad-2@test"),
     400, "Missing CSeq header"),
    ("CSeq method mismatch",
     request("OPTIONS", INV_URI, PUB, cseq="1 INVITE", call_id="bad-3@test"),
     400, "CSeq method does not match the request"),
    ("missing From",
     request("OPTIONS", INV_URI, PUB, drop=("From",), call_id="bad-4@test"),
     400, "Missing From header"),
    ("Content-Length beyond the datagram",
     request("MESSAGE", INV_URI, PUB, body="hello", content_length=100,
             call_id="bad-5@test", extra=["Content-Type: text/plain"]),
     400, "Content-Length beyond the end of the datagram"),
    ("bad version",
     request("OPTIONS", INV_URI, PUB, version="SIP/3.0", call_id="bad-6@test"),
     505, "Version Not Supported"),
    ("Max-Forwards 0 to a user",
     request("INVITE", INV_URI, PUB, max_forwards="0", call_id="bad-7@test"),
     483, "Too Many Hops"),
    ("no Via: nobody to answer",
     request("OPTIONS", INV_URI, PUB, drop=("Via",), call_id="bad-8@test"),
     None, None),
    ("pure garbage",
     "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 this is not SIP \x00\xff\r\n\r\n",
     None, None),
]


def test_malformed_requests_answered_daemon_keeps_serving(testnet, sbcd):
    """Each malformed request gets its status with a reason phrase saying
    what is wrong (or no answer where none can be sent); afterwards sbcd
    still answers OPTIONS, also one with Max-Forwards 0 (addressed to it)."""
    problems = []
    for name, text, code, reason in MALFORMED:
        steps = [{"send": text}]
        steps += [{"expect": 1, "timeout": 5}] if code else [{"listen": 1.0}]
        r = testnet.sip_exchange("pub", "udp", SBC_WAN, 5060, steps, src=PUB)
        got = [status(m) for m in r["messages"]]
        if code is None:
            if got:
                problems.append("%s: expected no answer, got %s" % (name, got))
            continue
        if got != [(code, reason)]:
            problems.append("%s: expected %d %s, got %s" % (name, code, reason, got))
            continue
        resp = r["messages"][0]
        check_rfc3581(resp, PUB, r["local"][1])
        if to_tag(resp) is None:
            problems.append("%s: %d without a To tag" % (name, code))
        for h in ("Call-ID", "CSeq", "From"):
            sent = header(text, h)
            if sent and header(resp, h) != sent:
                problems.append("%s: %s not copied: %s" % (name, h, header(resp, h)))
    # the stream of bad input changed nothing: OPTIONS still answered,
    # Max-Forwards 0 to the SBC itself included (not a hop)
    r = testnet.sip_exchange("pub", "udp", SBC_WAN, 5060,
                             [{"send": options(SBC_WAN, PUB, call_id="after-1@test")},
                              {"expect": 1, "timeout": 5},
                              {"send": options(SBC_WAN, PUB, call_id="after-2@test",
                                               branch="z9hG4bKmf0", max_forwards="0")},
                              {"expect": 2, "timeout": 5}], src=PUB)
    assert codes(r["messages"]) == [200, 200], r["messages"]
    assert sbcd.running(), "sbcd exited:\n" + netns.log_tail(sbcd.out_path)
    assert not problems, "\n".join(problems)


def test_malformed_sipp_scenario(testnet, sbc_config, sbcd):
    """The harness's malformed_uac.xml (CSeq x1, a line without a colon,
    Content-Length past the end) from both zones: 400 or silence, never
    anything else; sbcd keeps answering."""
    runs = [testnet.sipp_bg(ns, ["-sf", sipp_scenario("malformed_uac.xml"), "-m", "1",
                                 "-t", "u1", "-i", src, "-timeout", "15s", "-timeout_error",
                                 "%s:5060" % dst], name="sipp-malformed-" + zone,
                            wait_listen=False)
            for ns, src, zone, dst in ZONES]
    for run in runs:
        res = run.result(timeout=30)
        assert res.rc == 0, res.describe()
        assert res.stats["successful"] == 1, res.describe()
    answers = testnet.wait_options(testnet.zone_targets(sbc_config), timeout=5)
    assert all(a.startswith("SIP/2.0 200") for a in answers.values()), answers


# ---------------------------------------------------------------------------
# TCP framing

@pytest.mark.parametrize("ns,src,zone,dst", ZONES, ids=ZONE_IDS)
def test_tcp_coalesced_split_and_ping(testnet, sbcd, ns, src, zone, dst):
    """On one TCP connection: two OPTIONS in one segment get two 200s; one
    OPTIONS written in pieces with pauses (one piece cutting the CRLFCRLF
    that ends the headers) gets one 200; a CRLFCRLF ping gets a CRLF pong;
    a ping and an OPTIONS in one segment get the pong and the 200."""
    a = options(dst, src, proto="TCP", branch="z9hG4bKtcpA", call_id="tcp-a@test")
    b = options(dst, src, proto="TCP", branch="z9hG4bKtcpB", call_id="tcp-b@test")
    c = options(dst, src, proto="TCP", branch="z9hG4bKtcpC", call_id="tcp-c@test")
    d = options(dst, src, proto="TCP", branch="z9hG4bKtcpD", call_id="tcp-d@test")
    cut = c.index("\r\n\r\n") + 2            # between the two CRLFs of the end
    pieces = [c[:9], c[9:60], c[60:cut], c[cut:]]
    steps = [{"send": a + b}, {"expect": 2, "timeout": 5}]
    for p in pieces:
        steps += [{"send": p}, {"sleep": 0.15}]
    steps += [{"expect": 3, "timeout": 5},
              {"send": "\r\n\r\n"}, {"expect_crlf": 2, "timeout": 5},
              {"send": "\r\n\r\n" + d}, {"expect": 4, "timeout": 5},
              {"expect_crlf": 4, "timeout": 2}]
    r = testnet.sip_exchange(ns, "tcp", dst, 5060, steps, src=src)
    assert r["error"] is None and r["closed"] is None, r
    ev = r["events"]
    sends = [i for i, e in enumerate(ev) if "sent" in e]

    def answers_before(send_no):
        return sum(1 for e in ev[:sends[send_no]] if "msg" in e)
    # each phase was answered before the next one was sent (nothing was
    # left waiting in sbcd's buffer for more bytes to arrive)
    assert answers_before(1) == 2, "two OPTIONS in one segment: %d answers" % answers_before(1)
    assert answers_before(1 + len(pieces)) == 3, "OPTIONS in %d pieces: not answered" \
        % len(pieces)
    msgs = r["messages"]
    assert codes(msgs) == [200, 200, 200, 200], msgs
    assert [header(m, "Call-ID")[0] for m in msgs] == \
        ["tcp-a@test", "tcp-b@test", "tcp-c@test", "tcp-d@test"]
    for m in msgs:
        check_rfc3581(m, src, r["local"][1])
    pongs = [e["crlf"] for e in r["events"] if "crlf" in e]
    assert pongs == [2, 2], "expected two CRLF pongs, got %s" % r["events"]


def test_tcp_ping_split_across_segments(testnet, sbcd):
    """A CRLFCRLF ping whose two CRLFs arrive in separate segments is still a
    ping (TCP is a byte stream; RFC 5626 4.4.1): one CRLF pong. And a lone
    CRLF followed by an OPTIONS is no ping: just the 200."""
    r = testnet.sip_exchange("pub", "tcp", SBC_WAN, 5060, [
        {"send": "\r\n"}, {"sleep": 0.2}, {"send": "\r\n"}, {"expect_crlf": 2, "timeout": 3},
        {"send": "\r\n"}, {"sleep": 0.2},
        {"send": options(SBC_WAN, PUB, proto="TCP", call_id="after-crlf@test")},
        {"expect": 1, "timeout": 5}, {"listen": 0.3},
    ], src=PUB)
    assert r["closed"] is None, r
    pongs = [e["crlf"] for e in r["events"] if "crlf" in e]
    assert pongs == [2], "a ping in two segments should get one CRLF pong: %s" % r["events"]
    assert codes(r["messages"]) == [200], r["messages"]


# ---------------------------------------------------------------------------
# TCP connection limits and idle timeout

@pytest.mark.sbc_config({"sip": {"max_connections_per_source": 4}})
def test_tcp_connections_per_source_limit(testnet, sbcd):
    """20 connections from one address in a burst: sbcd keeps 4 and closes
    the rest; OPTIONS on each kept one gets 200; while they are held, 4
    connections from a second address are all served; once the first
    address's connections are gone, it is served again."""
    r = testnet.tcp_burst("pub", SBC_WAN, 5060, PUB, count=20, keep=4,
                          src2=PUB_EXTRA[0], count2=4, timeout=10)
    assert r["opened"] == 20, r
    assert r["open"] <= 4, "more than 4 connections from %s stayed open: %s" % (PUB, r)
    assert r["closed"] == 20 - r["open"], r
    assert r["open"] == 4, "the limit is 4, yet only %d were kept: %s" % (r["open"], r)
    assert r["answers"] == ["SIP/2.0 200 OK"] * 4, r
    s2 = r["src2"]
    assert s2["opened"] == 4 and s2["open"] == 4, s2
    assert s2["answers"] == ["SIP/2.0 200 OK"] * 4, s2
    # the held connections were closed when siptool exited: PUB's count
    # drops back (sbcd sees the FINs) and a new connection is served
    answered = None
    for _ in range(10):
        x = testnet.sip_exchange("pub", "tcp", SBC_WAN, 5060,
                                 [{"send": options(SBC_WAN, PUB, proto="TCP")},
                                  {"expect": 1, "timeout": 2}], src=PUB, timeout=5)
        if x["messages"]:
            answered = x["messages"]
            break
    assert answered and codes(answered) == [200], "no TCP answer to %s after its " \
        "connections closed" % PUB
    assert sbcd.running()


@pytest.mark.sbc_config({"sip": {"max_connections": 3, "max_connections_per_source": 1},
                         "private": {"sip_tls": 5061}})
def test_tcp_max_connections_in_all(testnet, sbcd):
    """max_connections counts TCP and TLS connections in all
    (docs/configuration.md), not per listener: with 3, one connection from
    each of four sources, to public TCP, public TLS, private TCP and private
    TLS in turn, leaves the fourth refused (closed by sbcd) while the first
    three are held and answered."""
    conns = [("pub", "tcp", SBC_WAN, 5060, PUB_EXTRA[2]),
             ("pub", "tls", SBC_WAN, 5061, PUB_EXTRA[3]),
             ("priv", "tcp", SBC_LAN, 5060, PBX),
             ("priv", "tls", SBC_LAN, 5061, netns.PRIV2)]
    results = [None] * len(conns)

    def hold(i, steps):
        ns, proto, dst, port, src = conns[i]
        steps = [{"send": options(dst, src, proto=proto.upper(), call_id="all-%d@test" % i)},
                 {"expect": 1, "timeout": 3}] + steps
        results[i] = testnet.sip_exchange(ns, proto, dst, port, steps, src=src, timeout=20)

    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        # three held open (listening) while the fourth tries
        futs = [pool.submit(hold, i, [{"listen": 4.0}]) for i in range(3)]
        n = wait_accepted(testnet, 3)
        assert n == 3, "sbcd accepted %d connections, expected 3" % n
        hold(3, [{"wait_close": 3.0}])
        for f in futs:
            f.result()
    for i in range(3):
        assert codes(results[i]["messages"]) == [200], (conns[i], results[i])
        assert results[i]["closed"] is None, (conns[i], results[i])
    last = results[3]
    assert last["messages"] == [] and (last["closed"] or last["error"]), \
        "a fourth connection was served with max_connections = 3: %s" % (last,)


@pytest.mark.sbc_config({"sip": {"tcp_idle_s": 2}})
def test_tcp_idle_timeout(testnet, sbcd):
    """tcp_idle_s = 2 (the schema's minimum): a connection that has sent one
    OPTIONS and then stays silent is closed by sbcd (waited for at most
    30 s). The TLS listener does the same."""
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        tcp = pool.submit(testnet.sip_exchange, "pub", "tcp", SBC_WAN, 5060,
                          [{"send": options(SBC_WAN, PUB, proto="TCP")},
                           {"expect": 1, "timeout": 5}, {"wait_close": 30}],
                          src=PUB, timeout=40)
        tls = pool.submit(testnet.sip_exchange, "pub", "tls", SBC_WAN, 5061,
                          [{"wait_close": 30}], src=PUB_EXTRA[1], timeout=40)
        r, t = tcp.result(), tls.result()
    assert codes(r["messages"]) == [200], r
    assert r["closed"] == "eof", "sbcd did not close the idle TCP connection: %s" % r
    assert t["closed"] in ("eof", "reset"), "sbcd did not close the idle TLS connection: %s" % t


# ---------------------------------------------------------------------------
# zones: link state, start-up errors

def test_link_state_followed(testnet, sbcd):
    """wan down in the sbc namespace: sbcd logs it; up again: logged, and
    the public zone answers OPTIONS again."""
    testnet.run("sbc", [netns.IP, "link", "set", "wan", "down"], check=True)
    testnet.wait_log("zone public: link wan is down", timeout=10)
    assert testnet.link("sbc", "wan")["operstate"] == "DOWN"
    testnet.run("sbc", [netns.IP, "link", "set", "wan", "up"], check=True)
    testnet.wait_log("zone public: link wan is up", timeout=10)
    log = testnet.sbcd_log()
    assert log.index("zone public: link wan is down") < log.index("zone public: link wan is up")
    assert "zone private: link" not in log, "the private zone's link did not change"
    answers = testnet.wait_options([("pub", SBC_WAN, 5060, PUB)], timeout=10)
    assert answers[("pub", SBC_WAN, 5060)].startswith("SIP/2.0 200")


@pytest.mark.parametrize("overrides,message", [
    ({"public": {"interface": "nosuch0"}}, "zone public: interface nosuch0 not found"),
    ({"private": {"address": "10.20.0.99"}},
     "zone private: address 10.20.0.99 is not on interface lan"),
    ({"public": {"address": SBC_LAN}, "private": {"address": None}},
     "zone public: address %s is not on interface wan" % SBC_LAN),
], ids=["no-interface", "address-not-on-interface", "other-zones-address"])
def test_startup_errors(testnet, tmp_path, overrides, message):
    """A zone whose interface does not exist, or whose address is not on its
    interface: sbcd says which and exits with status 1 (docs/configuration.md)."""
    path = testnet.write_config(path=tmp_path / "bad.ini", overrides=overrides)
    r = testnet.run("sbc", [netns.sbcd_binary(), "-c", path], timeout=20)
    out = r.stdout + r.stderr
    assert r.returncode == 1, "exit status %d:\n%s" % (r.returncode, out)
    assert message in out, out
    assert "sbcd ready" not in out
    assert netns.sanitizer_report(out) is None, out
