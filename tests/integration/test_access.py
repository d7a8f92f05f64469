"""The access policy of the public zone (docs/registration.md, "Access
policy"; docs/configuration.md, [auth]; docs/auth.md).

sbcd's harness configuration turns the policy off ([auth] open = yes, so
that call-flow tests may call from any public address); every test here
turns it back on with its sbc_config marker (open = no) and checks, from
the wire, who may start a dialog through the public zone:

  - nobody vouches for a source (not a trunk, not registered, no local
    authentication): 403 Forbidden, and nothing reaches the core;
  - [auth] reject = silent: no answer at all, not even 100 Trying; OPTIONS
    to the SBC itself (keep-alives) and REGISTER still work;
  - a public [trunk:NAME] (its allow list, by default its address) calls in;
  - a phone registered through sbcd calls from the address, port and
    transport its REGISTER came from, and only from there;
  - [auth] local = yes: sbcd challenges (407 for a dialog, 401 for REGISTER,
    SHA-256 before MD5, qop="auth"), lets right credentials through and
    refuses wrong ones and replayed nonce counts with 403.

Peers: raw SIP over UDP from pub with siptool (testnet.sip_exchange: one
socket, an ephemeral port) where the test computes something (digest
responses) or looks at headers byte for byte; sipp where a phone needs a
fixed port (-p 5060) or a whole call. The core is a sipp UAS at
10.20.0.10:5060: access_core_uas.xml (REGISTER 200, INVITE 486: the INVITE
got to the core, which is what matters here) or call_uas.xml (a whole
call). Captures on sbcd's wan and lan show what sbcd sent.

Counters: sbcd counts refusals and challenges (struct b2bua_stats
access_denied and auth_challenged, struct auth_stats), but exposes them
nowhere yet (no control API, src/ctl is empty) and logs no line for them,
so nothing here reads them.
"""
import concurrent.futures
import hashlib
import itertools
import os
import re
import subprocess
import sys
import time

import pytest

import ctlclient
import netns
from netns import PBX, PUB, PUB_EXTRA, SBC_LAN, SBC_WAN, read_sip, sipp_scenario

SIP_PORT = 5060
SBC = "%s:%d" % (SBC_WAN, SIP_PORT)
CARRIER = PUB                    # 203.0.113.10: [trunk:carrier]
PHONE = PUB_EXTRA[0]             # 203.0.113.11: a phone (registers in some tests)
STRANGER = PUB_EXTRA[1]          # 203.0.113.12: a source nobody vouches for
SCANNER = PUB_EXTRA[2]           # 203.0.113.13
CALLEE_URI = "sip:bob@%s" % SBC  # whom the public callers call (the core decides)

REALM = "sbc.access.test"        # [auth] realm: set explicitly, the HA1s are bound to it
USERS = {"alice": "alice-pw-31337",     # MD5 and SHA-256 (tools/sbc-passwd)
         "bob": "bob-pw-4242"}          # SHA-256 only (sbc-passwd --no-md5)
SBC_PASSWD = os.path.join(netns.REPO, "tools", "sbc-passwd")

CLOSED = {"auth": {"open": "no"}}
SILENT = {"auth": {"open": "no", "reject": "silent"}}
LOCAL = {"auth": {"open": "no", "local": "yes", "realm": REALM}}

NONCE_RE = r"[A-Za-z0-9_-]{40}"  # docs/auth.md: 30 bytes, base64url without padding

_seq = itertools.count(1)


# ---------------------------------------------------------------------------
# raw SIP from the public side

class Req:
    """One request with its own Call-ID, From tag and branch (a new dialog
    and a new transaction each time), over proto from src."""

    def __init__(self, method, ruri=CALLEE_URI, src=STRANGER, proto="udp", headers=(),
                 body=None, call_id=None, cseq=1, to_uri=None, user="caller", expires=None):
        n = next(_seq)
        self.method = method
        self.ruri = ruri
        self.src = src
        self.proto = proto
        self.call_id = call_id or "acc-%d-%d@%s" % (os.getpid(), n, src)
        self.from_tag = "ft%d" % n
        self.branch = "z9hG4bK-acc-%d-%d" % (os.getpid(), n)
        self.cseq = cseq
        to_uri = to_uri or ruri
        lines = ["%s %s SIP/2.0" % (method, ruri),
                 "Via: SIP/2.0/%s %s:5060;branch=%s;rport" % (proto.upper(), src, self.branch),
                 "Max-Forwards: 70",
                 "From: <sip:%s@%s>;tag=%s" % (user, SBC_WAN if method == "REGISTER" else src,
                                               self.from_tag),
                 "To: <%s>" % to_uri,
                 "Call-ID: %s" % self.call_id,
                 "CSeq: %d %s" % (cseq, method),
                 "Contact: <sip:%s@%s:5060>" % (user, src),
                 "User-Agent: sbc-access-test"]
        if expires is not None:
            lines.append("Expires: %d" % expires)
        if method == "SUBSCRIBE":
            lines += ["Event: presence", "Expires: 60"]
        lines += list(headers)
        if body is None and method == "INVITE":
            body = ("v=0\r\no=caller 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\n"
                    "m=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n" % (src, src))
            lines.append("Content-Type: application/sdp")
        elif body is not None and method == "MESSAGE":
            lines.append("Content-Type: text/plain")
        body = body or ""
        lines.append("Content-Length: %d" % len(body.encode("latin-1")))
        self.text = "\r\n".join(lines) + "\r\n\r\n" + body

    def ack(self):
        """The ACK of a non-2xx final answer (RFC 3261 17.1.1.3): same branch,
        the To tag of the answer (siptool substitutes it)."""
        return ("ACK %s SIP/2.0\r\n"
                "Via: SIP/2.0/%s %s:5060;branch=%s;rport\r\n"
                "Max-Forwards: 70\r\n"
                "From: <sip:caller@%s>;tag=%s\r\n"
                "To: <%s>;tag=$TO_TAG[%s]\r\n"
                "Call-ID: %s\r\n"
                "CSeq: %d ACK\r\n"
                "Content-Length: 0\r\n\r\n"
                % (self.ruri, self.proto.upper(), self.src, self.branch, self.src, self.from_tag,
                   self.ruri, self.call_id, self.call_id, self.cseq))


def status(raw):
    m = re.match(r"SIP/2\.0 (\d{3}) ", raw)
    return int(m.group(1)) if m else None


def headers(raw, name):
    """Values of header name (full name, any case) in order, folded lines joined."""
    out = []
    head = raw.split("\r\n\r\n", 1)[0]
    for line in re.sub(r"\r\n[ \t]+", " ", head).split("\r\n")[1:]:
        n, _, v = line.partition(":")
        if n.strip().lower() == name.lower():
            out.append(v.strip())
    return out


def call_id_of(raw):
    v = headers(raw, "Call-ID") or headers(raw, "i")
    return v[0] if v else None


def ask(net, req, wait=1.5, ack=True, settle=0.0):
    """Send req from its source (an ephemeral port) to sbcd's public zone,
    collect what comes back: the first message (5 s), then up to a second
    one (wait s: a final answer after a 100, or a retransmission); ACK a
    final non-2xx answer to an INVITE. Returns the answers to req (texts)."""
    steps = [{"send": req.text}, {"expect": 1, "timeout": 5}, {"expect": 2, "timeout": wait}]
    if ack and req.method == "INVITE":
        steps.append({"send": req.ack()})
    if settle:
        steps.append({"listen": settle})
    r = net.sip_exchange("pub", req.proto, SBC_WAN, SIP_PORT, steps, src=req.src, timeout=20)
    return [m for m in r["messages"] if call_id_of(m) == req.call_id]


def final(answers):
    """The first final answer, or None."""
    for m in answers:
        s = status(m)
        if s and s >= 200:
            return m
    return None


def finals(answers):
    return [status(m) for m in answers if status(m) and status(m) >= 200]


def describe(answers):
    return [m.split("\r\n", 1)[0] for m in answers]


def sbcd_sent(msgs, method=None):
    """Requests sbcd sent (on lan: to the core), of method if given; ACKs
    (of the core's 486 in access_core_uas.xml) left out."""
    return [m for m in msgs if m.src in (SBC_LAN, SBC_WAN) and m.is_request
            and m.method != "ACK" and (method is None or m.method == method)]


# ---------------------------------------------------------------------------
# the core and the phones (sipp)

def start_core(net, calls, scenario="access_core_uas.xml", timeout=40):
    """The core at 10.20.0.10:5060 (background): calls = how many requests
    must reach it (access_core_uas.xml) or calls to take (call_uas.xml)."""
    return net.sipp_bg("priv", ["-sf", sipp_scenario(scenario), "-m", str(calls), "-t", "u1",
                                "-i", PBX, "-p", str(SIP_PORT), "-mi", PBX,
                                "-timeout", "%ds" % timeout, "-timeout_error"], name="core")


def phone_sipp(net, scenario, src, port=SIP_PORT, args=(), name="phone", timeout=20):
    return net.sipp("pub", ["-sf", sipp_scenario(scenario), "-s", "alice",
                            "-key", "dest", SBC, "-key", "domain", SBC_WAN,
                            "-m", "1", "-t", "u1", "-i", src, "-p", str(port), "-mi", src]
                    + list(args) + [SBC], timeout=timeout, name=name)


# ---------------------------------------------------------------------------
# digest (RFC 7616, RFC 8760)

def h(alg, text):
    return hashlib.new({"MD5": "md5", "SHA-256": "sha256"}[alg], text.encode()).hexdigest()


def challenge_params(value):
    """{param: value} of a Digest challenge (quotes removed)."""
    assert value.startswith("Digest "), value
    pairs = re.findall(r'([A-Za-z-]+)=(?:"([^"]*)"|([^,\s]*))', value[7:])
    return {k.lower(): q or v for k, q, v in pairs}


def credentials(alg, user, password, nonce, method, uri, nc=1, cnonce="0a4f113b", realm=REALM,
                response=None):
    ha1 = h(alg, "%s:%s:%s" % (user, realm, password))
    ha2 = h(alg, "%s:%s" % (method, uri))
    resp = response or h(alg, "%s:%s:%08x:%s:auth:%s" % (ha1, nonce, nc, cnonce, ha2))
    return ('Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s", '
            'algorithm=%s, qop=auth, nc=%08x, cnonce="%s"'
            % (user, realm, nonce, uri, resp, alg, nc, cnonce))


def write_users(net):
    """The users file at sbcd's default place (<data_dir>/users), mode 600:
    alice made with tools/sbc-passwd (MD5 and SHA-256), bob with
    sbc-passwd --no-md5 (SHA-256 only)."""
    path = os.path.join(net.tmpdir, "data", "users")
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    lines = []
    for user, opts in (("alice", []), ("bob", ["--no-md5"])):
        r = subprocess.run([sys.executable, SBC_PASSWD] + opts + [user, REALM],
                           input=USERS[user] + "\n", stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=10, check=True)
        lines.append(r.stdout.strip())
    # the tool's lines are what docs/auth.md says: USER:HA1-MD5:HA1-SHA-256
    assert lines[0] == "alice:%s:%s" % (h("MD5", "alice:%s:%s" % (REALM, USERS["alice"])),
                                        h("SHA-256", "alice:%s:%s" % (REALM, USERS["alice"])))
    assert lines[1] == "bob:-:%s" % h("SHA-256", "bob:%s:%s" % (REALM, USERS["bob"]))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("# written by test_access.py\n" + "\n".join(lines) + "\n")
    return path


@pytest.fixture
def users(testnet):
    """Write the users file before sbcd starts (list it before sbcd)."""
    return write_users(testnet)


def challenge(net, req):
    """Send req without credentials; returns (407/401 answer, [challenge params])."""
    ans = ask(net, req)
    fin = final(ans)
    assert fin is not None, "no answer to %s: %s" % (req.method, describe(ans))
    return fin, [challenge_params(v) for v in
                 headers(fin, "Proxy-Authenticate") + headers(fin, "WWW-Authenticate")]


def nonce_of(net, src=STRANGER):
    fin, chs = challenge(net, Req("INVITE", src=src))
    assert status(fin) == 407, describe([fin])
    return chs[0]["nonce"]


# ---------------------------------------------------------------------------
# 1. nobody vouches for the source: 403, nothing reaches the core

@pytest.mark.sbc_config(CLOSED)
def test_unknown_source_gets_403(testnet, sbcd):
    """An INVITE from 203.0.113.12 (no trunk, not registered, no local
    authentication) gets 403 from sbcd, over UDP and TCP; so do SUBSCRIBE,
    MESSAGE, REFER and an OPTIONS to a user out of dialog (nothing but an
    optional 100 before the 403, which carries sbcd's To tag). Nothing of
    it reaches the core: the capture on lan has no request from sbcd. The
    six are asked at once (each from its own port, with its own Call-ID;
    far below the source's rate limits), each waiting its own 1.5 s for a
    second message."""
    reqs = [Req("INVITE"), Req("INVITE", proto="tcp"), Req("SUBSCRIBE"),
            Req("MESSAGE", body="hello"), Req("REFER", headers=["Refer-To: <sip:carol@%s>" % SBC]),
            Req("OPTIONS", ruri="sip:bob@%s" % SBC)]
    with testnet.tshark("sbc", "lan", "port 5060", name="lan") as lan, \
            concurrent.futures.ThreadPoolExecutor(len(reqs)) as pool:
        asked = [(r, pool.submit(ask, testnet, r)) for r in reqs]
        results = [(r, f.result()) for r, f in asked]
    for r, ans in results:
        assert finals(ans)[:1] == [403], "%s over %s from %s: %s" % (
            r.method, r.proto, r.src, describe(ans))
        fin = final(ans)
        assert re.search(r";\s*tag=\S+", headers(fin, "To")[0]), fin
        assert headers(fin, "CSeq") == ["1 %s" % r.method], fin
        # nothing but an optional 100 before the 403
        assert all(status(m) in (100, 403) for m in ans), describe(ans)
    leaked = sbcd_sent(read_sip(lan.path))
    assert not leaked, "sbcd sent requests to the core: %s" % [str(m) for m in leaked]


@pytest.mark.sbc_config(CLOSED)
def test_unknown_source_sipp_caller_refused(testnet, sbcd):
    """The same with a real caller at a fixed port (sipp,
    access_denied_uac.xml from 203.0.113.12:5060): its INVITE ends with
    403 and its ACK; the lan capture shows no INVITE to the core."""
    with testnet.tshark("sbc", "lan", "port 5060", name="lan") as lan:
        res = phone_sipp(testnet, "access_denied_uac.xml", STRANGER)
    assert res.rc == 0, res.describe()
    assert not sbcd_sent(read_sip(lan.path), "INVITE"), "the INVITE reached the core"


# ---------------------------------------------------------------------------
# 2. [auth] reject = silent

@pytest.mark.sbc_config(SILENT)
def test_silent_reject_sends_nothing(testnet, sbcd):
    """With reject = silent, an INVITE from 203.0.113.13 (sent, then
    retransmitted), a SUBSCRIBE and an OPTIONS to a user get no answer at
    all: the capture on wan shows no frame from sbcd to that source, not
    even a 100 Trying, and the lan capture no request to the core.
    Afterwards, from the same address, an OPTIONS to the SBC itself (no
    user part: a keep-alive) is answered 200, and a REGISTER is still
    relayed to the core and its 200 comes back."""
    inv = Req("INVITE", src=SCANNER)
    sub = Req("SUBSCRIBE", src=SCANNER)
    opt_user = Req("OPTIONS", ruri="sip:bob@%s" % SBC, src=SCANNER)
    with testnet.tshark("sbc", "wan", "host %s" % SCANNER, name="wan-silent") as wan, \
            testnet.tshark("sbc", "lan", "port 5060", name="lan-silent") as lan:
        r = testnet.sip_exchange("pub", "udp", SBC_WAN, SIP_PORT, [
            {"send": inv.text}, {"listen": 1.2},
            {"send": inv.text}, {"listen": 1.2},        # the retransmission sipp would send
            {"send": sub.text}, {"send": opt_user.text}, {"listen": 1.5}], src=SCANNER)
    assert r["messages"] == [], "answers to a scanner: %s" % describe(r["messages"])
    assert netns.pcap_count(wan.path) >= 4, "the capture missed the scanner's requests"
    from_sbc = subprocess.run([netns.TSHARK, "-n", "-r", wan.path, "-Y", "ip.src==%s" % SBC_WAN,
                               "-T", "fields", "-e", "frame.number"], stdout=subprocess.PIPE,
                              text=True, timeout=30).stdout.split()
    assert not from_sbc, "sbcd sent %d frame(s) to the scanner" % len(from_sbc)
    assert not sbcd_sent(read_sip(lan.path)), "a silently refused request reached the core"

    core = start_core(testnet, 1, timeout=20)
    with testnet.tshark("sbc", "lan", "port 5060", name="lan-register") as lan2:
        keepalive = ask(testnet, Req("OPTIONS", ruri="sip:%s" % SBC, src=SCANNER), wait=0.5)
        reg = Req("REGISTER", ruri="sip:%s" % SBC_WAN, to_uri="sip:carol@%s" % SBC_WAN,
                  src=SCANNER, user="carol", expires=60)
        reg_ans = ask(testnet, reg, wait=0.5)
    assert finals(keepalive)[:1] == [200], describe(keepalive)
    assert finals(reg_ans)[:1] == [200], "REGISTER: %s" % describe(reg_ans)
    relayed = sbcd_sent(read_sip(lan2.path), "REGISTER")
    assert relayed and relayed[0].dst == PBX, "the REGISTER did not reach the core"
    assert core.result(timeout=30).rc == 0


@pytest.mark.sbc_config(SILENT)
def test_silent_reject_keepalive_without_port(testnet, sbcd):
    """A keep-alive OPTIONS whose Request-URI is the SBC's address without
    a port (sip:203.0.113.1, the default port 5060 meant) is for the SBC
    too: answered 200 with reject = silent, not dropped as an OPTIONS to
    a user would be."""
    ans = ask(testnet, Req("OPTIONS", ruri="sip:%s" % SBC_WAN, src=SCANNER), wait=0.5)
    assert finals(ans)[:1] == [200], describe(ans)


# ---------------------------------------------------------------------------
# 3. a public trunk calls in

TRUNK_DEFAULT = {"auth": {"open": "no"},
                 "trunk:carrier": {"zone": "public", "address": CARRIER}}
TRUNK_CIDR = {"auth": {"open": "no"},
              "trunk:carrier": {"zone": "public", "address": CARRIER,
                                "allow": "203.0.113.16/30, 203.0.113.12"}}


@pytest.mark.parametrize("caller, refused", [
    pytest.param(CARRIER, STRANGER, id="allow-default",
                 marks=pytest.mark.sbc_config(TRUNK_DEFAULT)),
    pytest.param("203.0.113.17", CARRIER, id="allow-cidr",
                 marks=pytest.mark.sbc_config(TRUNK_CIDR)),
])
def test_trunk_calls_in(testnet, sbcd, caller, refused):
    """[trunk:carrier] (zone public, address 203.0.113.10): a whole call
    (call_uac.xml from the trunk's source to call_uas.xml at the core)
    completes. allow-default: allow is the address, so 203.0.113.10 is
    trusted and 203.0.113.12 is not (403). allow-cidr: allow =
    203.0.113.16/30, 203.0.113.12: a source inside the CIDR calls in, and
    the trunk's own address, not in its explicit allow list, gets 403."""
    core = start_core(testnet, 1, scenario="call_uas.xml", timeout=30)
    with testnet.tshark("sbc", "lan", "port 5060", name="lan") as lan:
        res = phone_sipp(testnet, "call_uac.xml", caller, name="trunk")
        core_res = core.result(timeout=40)
        denied = ask(testnet, Req("INVITE", src=refused))
    assert res.rc == 0, "trunk caller: " + res.describe()
    assert core_res.rc == 0, "core: " + core_res.describe()
    assert finals(denied)[:1] == [403], "%s: %s" % (refused, describe(denied))
    invites = sbcd_sent(read_sip(lan.path), "INVITE")
    assert len(invites) == 1 and invites[0].dst == PBX, [str(m) for m in invites]


# ---------------------------------------------------------------------------
# 4. a phone registered through sbcd

@pytest.mark.sbc_config(CLOSED)
def test_registered_phone_calls_from_its_source_only(testnet, sbcd):
    """A phone at 203.0.113.11:5060 (UDP) registers through sbcd (the core
    says a plain 200); from that address and port its call goes through
    (a whole call, call_uac.xml / call_uas.xml). The same address from
    another port, and over TCP, gets 403. Once it has un-registered
    (Expires 0, 200 from the core), its own port gets 403 again."""
    core = start_core(testnet, 1)
    reg = phone_sipp(testnet, "access_register_uac.xml", PHONE, args=["-key", "expires", "60"],
                     name="register")
    assert reg.rc == 0, "REGISTER: " + reg.describe()
    assert core.result(timeout=30).rc == 0

    core = start_core(testnet, 1, scenario="call_uas.xml", timeout=30)
    call = phone_sipp(testnet, "call_uac.xml", PHONE, name="call")
    assert call.rc == 0, "the registered phone's call: " + call.describe()
    assert core.result(timeout=40).rc == 0

    with testnet.tshark("sbc", "lan", "port 5060", name="lan") as lan:
        other_port = ask(testnet, Req("INVITE", src=PHONE))
        over_tcp = ask(testnet, Req("INVITE", src=PHONE, proto="tcp"))
    assert finals(other_port)[:1] == [403], "another port: %s" % describe(other_port)
    assert finals(over_tcp)[:1] == [403], "TCP: %s" % describe(over_tcp)
    assert not sbcd_sent(read_sip(lan.path), "INVITE")

    core = start_core(testnet, 1)
    unreg = phone_sipp(testnet, "access_register_uac.xml", PHONE, args=["-key", "expires", "0"],
                       name="unregister")
    assert unreg.rc == 0, "un-REGISTER: " + unreg.describe()
    assert core.result(timeout=30).rc == 0
    after = phone_sipp(testnet, "access_denied_uac.xml", PHONE, name="after", timeout=15)
    assert after.rc == 0, "after the un-REGISTER: " + after.describe()


LONG_PHONES = 15


def long_register(i):
    """REGISTER of alice with a Contact URI of 249 bytes, the i-th phone's."""
    user = "alice-%02d-%s" % (i, "x" * 218)   # a Contact URI of 249 bytes: REG_CONTACT_MAX is 256
    return ("REGISTER sip:%s SIP/2.0\r\n"
            "Via: SIP/2.0/UDP %s:5060;branch=z9hG4bK-long%d-%d;rport\r\n"
            "Max-Forwards: 70\r\n"
            "From: <sip:alice@%s>;tag=long%d\r\n"
            "To: <sip:alice@%s>\r\n"
            "Call-ID: long-%d-%d@%s\r\n"
            "CSeq: 1 REGISTER\r\n"
            "Contact: <sip:%s@%s:%d>\r\n"
            "Expires: 120\r\n"
            "Content-Length: 0\r\n\r\n"
            % (SBC_WAN, PHONE, os.getpid(), i, SBC_WAN, i, SBC_WAN, os.getpid(), i, PHONE,
               user, PHONE, 6000 + i))


@pytest.mark.sbc_config(CLOSED)
def test_many_long_contacts_listed(testnet, sbcd):
    """Fifteen phones register alice, each with a Contact URI of 249
    bytes (the core says 200 to each): the 200 to each lists every binding
    so far, the last one all fifteen (over 4 KB of Contact headers, more
    than the answer once had room for: it was a 500)."""
    core = start_core(testnet, LONG_PHONES)
    for i in range(1, LONG_PHONES + 1):
        r = testnet.sip_exchange("pub", "udp", SBC_WAN, SIP_PORT,
                                 [{"send": long_register(i)}, {"expect": 1, "timeout": 5}],
                                 src=PHONE, timeout=10)
        finals = [m for m in r["messages"] if not m.startswith("SIP/2.0 1")]
        assert finals and finals[0].startswith("SIP/2.0 200"), (i, r["messages"][:1])
        contacts = re.findall(r"(?im)^(?:Contact|m):[^\r\n]*alice-(\d\d)-x{218}@",
                              finals[0])
        assert sorted(int(c) for c in contacts) == list(range(1, i + 1)), (i, contacts)
    assert len(finals[0]) > 4096
    assert core.result(timeout=30).rc == 0


def short_register(i, src):
    """REGISTER of alice from src with its own Contact and Call-ID."""
    return long_register(i).replace("x" * 218, "p").replace(PHONE, src)


@pytest.mark.sbc_config(CLOSED)
def test_pending_registers_capped_per_source(testnet, sbcd):
    """The core does not answer (nothing listens at 10.20.0.10): a source's
    REGISTERs wait for it, 16 at most; the 17th gets 503 with Retry-After
    at once, counted (stats registrar.refused_pending); another source's
    REGISTER is still relayed."""
    steps = [{"send": short_register(i, PHONE)} for i in range(1, 18)]
    steps.append({"expect": 1, "timeout": 3})
    r = testnet.sip_exchange("pub", "udp", SBC_WAN, SIP_PORT, steps, src=PHONE, timeout=15)
    assert len(r["messages"]) == 1, [m.split("\r\n", 1)[0] for m in r["messages"]]
    answer = r["messages"][0]
    assert answer.startswith("SIP/2.0 503"), answer
    assert re.search(r"(?m)^Call-ID: long-\d+-17@", answer), answer
    assert re.search(r"(?mi)^Retry-After: 5\r$", answer), answer
    st = stats_of(testnet)["registrar"]
    assert st["refused_pending"] == 1 and st["forwarded"] == 16, st
    r = testnet.sip_exchange("pub", "udp", SBC_WAN, SIP_PORT,
                             [{"send": short_register(18, STRANGER)}, {"listen": 1}],
                             src=STRANGER, timeout=10)
    assert r["messages"] == []       # relayed: waiting for the core, like the first 16
    assert stats_of(testnet)["registrar"]["forwarded"] == 17


def stats_of(net):
    """sbcd's stats (the result of the control command)."""
    resp = ctlclient.call(ctlclient.sock_path(net), "stats")
    assert resp.get("ok") is True, resp
    return resp["result"]


# ---------------------------------------------------------------------------
# 5. [auth] local = yes

LOCAL_TRUNK = netns.merge_config(LOCAL, {"trunk:carrier": {"zone": "public",
                                                           "address": CARRIER}})


@pytest.mark.sbc_config(LOCAL_TRUNK)
def test_local_auth_challenges(testnet, users, sbcd):
    """local = yes: an INVITE from an unknown source gets 407 with two
    Proxy-Authenticate headers, SHA-256 first then MD5, each
    Digest realm="REALM", nonce="<40 base64url>", algorithm=..., qop="auth"
    (docs/auth.md, "Challenge"), the same fresh nonce in both, a new nonce
    for the next challenge; SUBSCRIBE too is challenged with 407; a
    REGISTER gets 401 with WWW-Authenticate in the same form. None of them
    reaches the core. The trunk (203.0.113.10) is not challenged: its
    INVITE reaches the core."""
    core = start_core(testnet, 1, timeout=20)
    with testnet.tshark("sbc", "lan", "port 5060", name="lan") as lan:
        fin, chs = challenge(testnet, Req("INVITE"))
        fin2, chs2 = challenge(testnet, Req("INVITE"))
        sub, _ = challenge(testnet, Req("SUBSCRIBE"))
        reg, regchs = challenge(testnet, Req("REGISTER", ruri="sip:%s" % SBC_WAN,
                                             to_uri="sip:alice@%s" % SBC_WAN, user="alice",
                                             expires=60))
        trunk = ask(testnet, Req("INVITE", src=CARRIER))
    assert status(fin) == 407, describe([fin])
    pa = headers(fin, "Proxy-Authenticate")
    assert len(pa) == 2 and not headers(fin, "WWW-Authenticate"), fin
    for value, alg in zip(pa, ("SHA-256", "MD5")):
        assert re.fullmatch(r'Digest realm="%s", nonce="%s", algorithm=%s, qop="auth"'
                            % (re.escape(REALM), NONCE_RE, alg), value), value
    assert chs[0]["nonce"] == chs[1]["nonce"], pa
    assert chs2[0]["nonce"] != chs[0]["nonce"], "two challenges with one nonce"
    assert status(sub) == 407, describe([sub])
    assert status(reg) == 401, describe([reg])
    wa = headers(reg, "WWW-Authenticate")
    assert [p["algorithm"] for p in regchs] == ["SHA-256", "MD5"] and len(wa) == 2, reg
    assert all(p["realm"] == REALM and p["qop"] == "auth" for p in regchs), wa
    assert not headers(reg, "Proxy-Authenticate"), reg
    assert finals(trunk)[:1] == [486], "the trunk's INVITE: %s" % describe(trunk)
    assert core.result(timeout=30).rc == 0
    sent = sbcd_sent(read_sip(lan.path))
    assert [m.method for m in sent] == ["INVITE"], [str(m) for m in sent]


@pytest.mark.parametrize("alg, user", [pytest.param("MD5", "alice", id="md5"),
                                       pytest.param("SHA-256", "alice", id="sha256"),
                                       pytest.param("SHA-256", "bob", id="sha256-only-user")])
@pytest.mark.sbc_config(LOCAL)
def test_local_auth_right_credentials_reach_core(testnet, users, sbcd, alg, user):
    """local = yes: after the 407, the INVITE again (a new Call-ID, from
    another port) with Proxy-Authorization for the user's password in the
    given algorithm (nc=00000001, qop=auth, uri = the Request-URI) reaches
    the core, and the core's 486 comes back to the caller. Then nc=00000002
    with the same nonce (a client's next request) goes through too."""
    core = start_core(testnet, 2)
    nonce = nonce_of(testnet)
    with testnet.tshark("sbc", "lan", "port 5060", name="lan") as lan:
        answers = []
        for nc in (1, 2):
            cred = credentials(alg, user, USERS[user], nonce, "INVITE", CALLEE_URI, nc=nc)
            answers.append(ask(testnet, Req("INVITE", headers=["Proxy-Authorization: " + cred])))
    for nc, ans in zip((1, 2), answers):
        assert finals(ans)[:1] == [486], "nc=%d: %s" % (nc, describe(ans))
    assert core.result(timeout=30).rc == 0
    invites = sbcd_sent(read_sip(lan.path), "INVITE")
    assert len(invites) == 2 and all(m.dst == PBX for m in invites), [str(m) for m in invites]


@pytest.mark.sbc_config(LOCAL)
def test_local_auth_wrong_or_replayed_credentials_403(testnet, users, sbcd):
    """local = yes, each with a nonce from sbcd's 407, and none reaching
    the core:
      - alice's wrong password (MD5 and SHA-256): 403;
      - an unknown user: 403, the same as a wrong password;
      - bob's right password with MD5, an algorithm he has no secret for
        (users file "-"): 403;
      - right credentials whose digest uri is not the Request-URI: 403;
      - a replay: right credentials with nc=00000001 accepted once (the
        core gets that INVITE), then the same nonce and nonce count in a
        new INVITE: 403 (docs/auth.md: a count that does not rise is
        AUTH_FAIL), and a lower count after a higher one: 403."""
    core = start_core(testnet, 2)
    nonce = nonce_of(testnet)
    bad = {
        "wrong-md5": credentials("MD5", "alice", "guess", nonce, "INVITE", CALLEE_URI),
        "wrong-sha256": credentials("SHA-256", "alice", "guess", nonce, "INVITE", CALLEE_URI),
        "unknown-user": credentials("MD5", "mallory", "guess", nonce, "INVITE", CALLEE_URI),
        "no-md5-secret": credentials("MD5", "bob", USERS["bob"], nonce, "INVITE", CALLEE_URI),
        "other-uri": credentials("MD5", "alice", USERS["alice"], nonce, "INVITE",
                                 "sip:carol@%s" % SBC),
    }
    with testnet.tshark("sbc", "lan", "port 5060", name="lan") as lan:
        refused = {k: ask(testnet, Req("INVITE", headers=["Proxy-Authorization: " + v]))
                   for k, v in bad.items()}
        good = credentials("MD5", "alice", USERS["alice"], nonce, "INVITE", CALLEE_URI, nc=1)
        first = ask(testnet, Req("INVITE", headers=["Proxy-Authorization: " + good]))
        replay = ask(testnet, Req("INVITE", headers=["Proxy-Authorization: " + good]))
        up = credentials("MD5", "alice", USERS["alice"], nonce, "INVITE", CALLEE_URI, nc=5)
        fifth = ask(testnet, Req("INVITE", headers=["Proxy-Authorization: " + up]))
        down = credentials("MD5", "alice", USERS["alice"], nonce, "INVITE", CALLEE_URI, nc=3)
        lower = ask(testnet, Req("INVITE", headers=["Proxy-Authorization: " + down]))
    for k, ans in refused.items():
        assert finals(ans)[:1] == [403], "%s: %s" % (k, describe(ans))
    assert finals(first)[:1] == [486], "nc=1 the first time: %s" % describe(first)
    assert finals(replay)[:1] == [403], "nc=1 replayed: %s" % describe(replay)
    assert finals(fifth)[:1] == [486], "nc=5 (counts may skip): %s" % describe(fifth)
    assert finals(lower)[:1] == [403], "nc=3 after nc=5: %s" % describe(lower)
    assert core.result(timeout=30).rc == 0
    invites = sbcd_sent(read_sip(lan.path), "INVITE")
    assert len(invites) == 2, "INVITEs at the core: %s" % [str(m) for m in invites]


@pytest.mark.sbc_config(LOCAL)
def test_local_auth_register_challenged_before_relay(testnet, users, sbcd):
    """local = yes: a REGISTER gets 401 from sbcd and nothing goes to the
    core; the REGISTER again with Authorization (SHA-256, right password)
    is relayed to the core, whose 200 reaches the phone; a REGISTER with a
    wrong password gets 403 and is not relayed."""
    core = start_core(testnet, 1)

    def register(cred=None):
        return Req("REGISTER", ruri="sip:%s" % SBC_WAN, to_uri="sip:alice@%s" % SBC_WAN,
                   user="alice", expires=60, src=PHONE,
                   headers=["Authorization: " + cred] if cred else [])

    with testnet.tshark("sbc", "lan", "port 5060", name="lan-401") as lan:
        fin, chs = challenge(testnet, register())
        wrong = ask(testnet, register(credentials("SHA-256", "alice", "guess", chs[0]["nonce"],
                                                  "REGISTER", "sip:%s" % SBC_WAN)))
    assert status(fin) == 401, describe([fin])
    assert [p["algorithm"] for p in chs] == ["SHA-256", "MD5"], fin
    assert finals(wrong)[:1] == [403], describe(wrong)
    assert not sbcd_sent(read_sip(lan.path)), "sbcd relayed before authenticating"
    with testnet.tshark("sbc", "lan", "port 5060", name="lan-200") as lan2:
        ok = ask(testnet, register(credentials("SHA-256", "alice", USERS["alice"],
                                               chs[0]["nonce"], "REGISTER",
                                               "sip:%s" % SBC_WAN)), wait=0.5)
    assert finals(ok)[:1] == [200], describe(ok)
    assert core.result(timeout=30).rc == 0
    assert [m.method for m in sbcd_sent(read_sip(lan2.path))] == ["REGISTER"]


@pytest.mark.sbc_config(LOCAL)
def test_local_auth_credentials_not_relayed(testnet, users, sbcd):
    """docs/auth.md: auth_credentials_ours tells the B2BUA which
    Authorization values were meant for the SBC, "so it does not relay
    them to the core". An INVITE that passed sbcd's challenge reaches the
    core without the Proxy-Authorization for sbcd's realm, and a REGISTER
    without the Authorization for it."""
    core = start_core(testnet, 2)
    nonce = nonce_of(testnet)
    inv_cred = credentials("MD5", "alice", USERS["alice"], nonce, "INVITE", CALLEE_URI, nc=1)
    reg_cred = credentials("MD5", "alice", USERS["alice"], nonce, "REGISTER",
                           "sip:%s" % SBC_WAN, nc=2)
    with testnet.tshark("sbc", "lan", "port 5060", name="lan") as lan:
        inv = ask(testnet, Req("INVITE", headers=["Proxy-Authorization: " + inv_cred]))
        reg = ask(testnet, Req("REGISTER", ruri="sip:%s" % SBC_WAN,
                               to_uri="sip:alice@%s" % SBC_WAN, user="alice", expires=60,
                               headers=["Authorization: " + reg_cred]), wait=0.5)
    assert finals(inv)[:1] == [486], describe(inv)
    assert finals(reg)[:1] == [200], describe(reg)
    assert core.result(timeout=30).rc == 0
    sent = {m.method: m for m in sbcd_sent(read_sip(lan.path))}
    assert set(sent) == {"INVITE", "REGISTER"}, list(sent)
    leaked = [(meth, v) for meth, m in sent.items()
              for v in headers(m.raw, "Proxy-Authorization") + headers(m.raw, "Authorization")
              if 'realm="%s"' % REALM in v]
    assert not leaked, "sbcd's own credentials relayed to the core: %s" % leaked


@pytest.mark.sbc_config(netns.merge_config(LOCAL, {"auth": {"nonce_ttl_s": "10"}}))
def test_local_auth_old_nonce_stale(testnet, users, sbcd):
    """nonce_ttl_s = 10 (the schema's minimum): right credentials with a
    nonce older than that get a new 407 whose two challenges end with
    stale=true (not a 403: docs/auth.md, "Nonce"), with a fresh nonce
    that then works."""
    core = start_core(testnet, 1, timeout=30)
    nonce = nonce_of(testnet)
    time.sleep(11)
    cred = credentials("SHA-256", "alice", USERS["alice"], nonce, "INVITE", CALLEE_URI)
    fin, chs = challenge(testnet, Req("INVITE", headers=["Proxy-Authorization: " + cred]))
    assert status(fin) == 407, describe([fin])
    for v in headers(fin, "Proxy-Authenticate"):
        assert v.endswith(", stale=true"), v
    assert chs[0]["nonce"] != nonce
    cred = credentials("SHA-256", "alice", USERS["alice"], chs[0]["nonce"], "INVITE", CALLEE_URI)
    ans = ask(testnet, Req("INVITE", headers=["Proxy-Authorization: " + cred]))
    assert finals(ans)[:1] == [486], describe(ans)
    assert core.result(timeout=30).rc == 0


@pytest.mark.sbc_config(netns.merge_config(LOCAL, {"auth": {"reject": "silent"}}))
def test_local_auth_silent_still_challenges(testnet, users, sbcd):
    """local = yes with reject = silent: a request without credentials is
    still challenged (407; nobody could log in otherwise: silent_deny
    stands aside when sbcd authenticates), and right credentials go
    through to the core."""
    core = start_core(testnet, 1)
    nonce = nonce_of(testnet)
    cred = credentials("SHA-256", "alice", USERS["alice"], nonce, "INVITE", CALLEE_URI)
    ans = ask(testnet, Req("INVITE", headers=["Proxy-Authorization: " + cred]))
    assert finals(ans)[:1] == [486], describe(ans)
    assert core.result(timeout=30).rc == 0


@pytest.mark.sbc_config(netns.merge_config(LOCAL, {"auth": {"reject": "silent"}}))
def test_local_auth_silent_failure(testnet, users, sbcd):
    """local = yes with reject = silent: a failed authentication (wrong
    password) is "what [auth] reject says: 403 or nothing" (docs/auth.md,
    the AUTH_FAIL row; docs/configuration.md, reject: "no trunk, no
    registration, authentication failed"): no final answer at all, the
    403 that would confirm a wrong guess never comes. (A 100 Trying is
    tolerated: the credentials are checked after the transaction layer,
    and the same source was just answered 407 anyway.)"""
    nonce = nonce_of(testnet)
    cred = credentials("MD5", "alice", "guess", nonce, "INVITE", CALLEE_URI)
    r = testnet.sip_exchange("pub", "udp", SBC_WAN, SIP_PORT, [
        {"send": Req("INVITE", headers=["Proxy-Authorization: " + cred]).text},
        {"listen": 1.5}], src=STRANGER)
    assert [status(m) for m in r["messages"] if status(m) != 100] == [], \
        "answered: %s" % describe(r["messages"])
