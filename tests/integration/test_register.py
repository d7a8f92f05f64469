"""Registration through sbcd, behind a NAT, with digest auth (issue 5 item 9).

The network (docs/testing.md) plus the NAT namespace of TestNet.add_nat()
(the nat_net fixture): phones run in sbc-nat-SFX on the private LAN
192.168.50.0/24 (not the SBC's private zone 10.20.0.0/24) and reach the
public segment through nftables masquerade as 203.0.113.50, a new random
public port per flow; what arrives on the NAT's wan without a conntrack
entry is dropped. A second household ("nat2", 203.0.113.51) has the same
private subnet.

    sbc-nat-SFX                  sbc-sbc-SFX (sbcd)              sbc-priv-SFX
    phones 192.168.50.10-19      wan 203.0.113.1  lan 10.20.0.1  10.20.0.10 kamailio
    wan 203.0.113.50 -(pub's segment)-'              '---------- 10.20.0.11 PBX caller
    (masquerade random)

The registrar is kamailio (tests/integration/kamailio/registrar.cfg) at the
core's address 10.20.0.10:5060: it challenges every REGISTER with 401
(Digest realm="voip.example.com", algorithm=MD5, qop="auth"), checks the
credentials against a db_text subscriber table written per test
(write_subscribers), answers a wrong password or an unknown user with 403
(seed fixture 04), saves the binding and answers 200; an INVITE for a
registered user is forked to its contacts (record-routed), others get 404.

Phones are sipp (register_uac.xml: register with digest, refresh every -d
ms, stay, un-REGISTER; register_uas.xml as its out-of-call scenario answers
calls and OPTIONS on the same socket, i.e. through its NAT pinhole) and a
baresip. The PBX side calls a phone with register_call_uac.xml from
10.20.0.11 to kamailio.

Harness self-tests (no sbcd; they must pass now): kamailio takes sbcd's
place in the sbc namespace (listening on 203.0.113.1 and 10.20.0.1, with
nathelper for the NATed phones), and the same phones and PBX calls run
against it. The end-to-end tests through sbcd follow (each docstring says
what sbcd must do).
"""
import dataclasses
import hashlib
import os
import re
import shutil
import subprocess
import time

import pytest

import netns
from netns import NAT_OUT, NAT_OUT_EXTRA, PBX, PRIV2, SBC_LAN, SBC_WAN, read_sip, sipp_scenario

KAMAILIO = shutil.which("kamailio", path="/usr/sbin:/usr/bin:/usr/local/sbin")
KAMCMD = shutil.which("kamcmd", path="/usr/sbin:/usr/bin:/usr/local/sbin")
BARESIP = shutil.which("baresip", path="/usr/bin:/usr/local/bin")
REGISTRAR_CFG = os.path.join(netns.HERE, "kamailio", "registrar.cfg")
SIP_PORT = 5060
CALLER_PORT = 5070               # the PBX-side caller (10.20.0.11:5070)
REALM = "voip.example.com"       # kamailio's digest realm (public: it crosses sbcd unchanged)
USERS = {                        # the subscriber table of every test
    "alice": "alice-pw-4711",
    "bob": "bob-pw-0815",
    "carol": "carol-pw-1234",
    "dave": "dave-pw-5678",
    "erin": "erin-pw-9012",
}
UNKNOWN_USER = "mallory"         # not in the table


needs_kamailio = pytest.mark.skipif(
    not KAMAILIO or not KAMCMD,
    reason="kamailio and kamcmd are needed (tools/install-deps installs kamailio)")
needs_baresip = pytest.mark.skipif(
    not BARESIP, reason="baresip is needed (tools/install-deps installs baresip-core)")


# ---------------------------------------------------------------------------
# the registrar (kamailio)

def write_subscribers(dbdir, users, realm=REALM):
    """A db_text database for auth_db: the version table and a subscriber
    table with username, domain (the realm), plain password, ha1 and ha1b."""
    os.makedirs(dbdir, exist_ok=True)
    with open(os.path.join(dbdir, "version"), "w") as f:
        f.write("table_name(string) table_version(int) \nsubscriber:7\n")

    def md5(s):
        return hashlib.md5(s.encode()).hexdigest()

    rows = ["id(int,auto) username(string) domain(string) password(string) ha1(string) "
            "ha1b(string) "]
    for i, (user, pw) in enumerate(sorted(users.items()), 1):
        assert ":" not in user + pw and "\n" not in user + pw
        rows.append("%d:%s:%s:%s:%s:%s" % (i, user, realm, pw,
                                           md5("%s:%s:%s" % (user, realm, pw)),
                                           md5("%s@%s:%s:%s" % (user, realm, realm, pw))))
    with open(os.path.join(dbdir, "subscriber"), "w") as f:
        f.write("\n".join(rows) + "\n")
    return dbdir


class Registrar:
    """kamailio with registrar.cfg in a namespace of the test network.

    listens: its UDP addresses (port 5060); nat: the registrar faces NATed
    phones itself (the harness self-test: -A WITH_NAT). Its users are in
    TMP/NAME-db (write_subscribers); its control socket in the TestNet's
    short run folder, for kamcmd (contacts())."""

    def __init__(self, net, ns, listens, users=None, nat=False, name="registrar",
                 cfg=REGISTRAR_CFG, realm=REALM, defines=()):
        self.net = net
        self.ns = ns
        self.listens = tuple(listens)
        self.users = dict(USERS if users is None else users)
        self.dbdir = write_subscribers(os.path.join(net.tmpdir, name + "-db"), self.users,
                                       realm=realm)
        self.ctl = "unix:" + os.path.join(net.rundir, name + ".ctl")
        krun = os.path.join(net.rundir, name)
        os.makedirs(krun, exist_ok=True)
        argv = [KAMAILIO, "-f", cfg, "-DD", "-E", "-x", "tlsf", "-m", "64",
                "-M", "16", "-Y", krun,
                "-A", "LISTEN=udp:%s:%d" % (self.listens[0], SIP_PORT),
                "-A", 'DBURL="text://%s"' % self.dbdir,
                "-A", 'REALM="%s"' % realm,
                "-A", 'CTL="%s"' % self.ctl]
        for d in defines:
            argv += ["-A", d]
        if len(self.listens) > 1:
            argv += ["-A", "LISTEN2=udp:%s:%d" % (self.listens[1], SIP_PORT)]
        if nat:
            argv += ["-A", "WITH_NAT"]
        self.proc = net.popen(ns, argv, name=name, merge=True)
        for a in self.listens:
            net.wait_listening(ns, "udp", a, SIP_PORT, proc=self.proc)
        deadline = time.monotonic() + 10
        while self.rpc("core.version").returncode != 0:
            if time.monotonic() >= deadline or not self.proc.running():
                raise netns.NetError("kamailio's control socket %s does not answer:\n%s"
                                     % (self.ctl, self.log()[-2000:]))
            time.sleep(0.1)

    def rpc(self, *args):
        return subprocess.run([KAMCMD, "-s", self.ctl] + list(args), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, timeout=10)

    def log(self):
        return self.proc.output()

    def contacts(self, user):
        """The bindings of user in usrloc: [{"Address": ..., "Expires": ...,
        "Received": ..., "Socket": ..., "User-Agent": ..., "Call-ID": ...}]."""
        r = self.rpc("ul.lookup", "location", user)
        if r.returncode != 0 or "Contact:" not in r.stdout:
            return []
        out = []
        for chunk in r.stdout.split("Contact: {")[1:]:
            c = {}
            for ln in chunk.splitlines():
                m = re.match(r"^\s*([A-Za-z-]+): (.*)$", ln)
                if m:
                    c[m.group(1)] = m.group(2).strip()
            out.append(c)
        return out

    def wait_contacts(self, user, n=1, timeout=10.0, proc=None):
        """The bindings of user once it has at least n (NetError at timeout,
        or as soon as proc, the phone, has ended without them)."""
        deadline = time.monotonic() + timeout
        while True:
            cs = self.contacts(user)
            if len(cs) >= n:
                return cs
            if proc is not None and proc.poll() is not None:
                res = proc.result(timeout=1) if hasattr(proc, "result") else None
                raise netns.NetError("%s ended (status %s) with %d binding(s) at the registrar: %s"
                                     % (proc.name, proc.returncode, len(cs),
                                        res.describe() if res else log_tail(proc)))
            if time.monotonic() >= deadline:
                raise netns.NetError("%s has %d binding(s) at the registrar after %s s, not %d"
                                     % (user, len(cs), timeout, n))
            time.sleep(0.1)

    def wait_no_contacts(self, user, timeout=10.0):
        deadline = time.monotonic() + timeout
        while self.contacts(user):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)
        return True


def log_tail(proc):
    return netns.log_tail(proc.out_path)


def wait_registered(reg, phones, timeout=10.0):
    """{user: bindings at the registrar} once every phone has one; fails
    early, with the phone's sipp report, if a phone gives up."""
    return {p.user: reg.wait_contacts(p.user, timeout=timeout, proc=p.proc) for p in phones}


def start_registrar(net, through_sbc=True, **kw):
    """The PBX registrar: at the core's address in priv (through_sbc), or,
    for the harness self-test, in sbcd's place (the sbc namespace, on
    203.0.113.1 and 10.20.0.1, nathelper on)."""
    if through_sbc:
        return Registrar(net, "priv", (PBX,), **kw)
    return Registrar(net, "sbc", (SBC_WAN, SBC_LAN), nat=True, **kw)


# ---------------------------------------------------------------------------
# phones and the PBX-side caller

@dataclasses.dataclass
class Phone:
    """A sipp phone (register_uac.xml + register_uas.xml) running in ns."""
    user: str
    ns: str                       # "nat", "nat2" (or "pub")
    addr: str                     # the address it binds (private behind a NAT)
    port: int
    proc: object                  # netns.SippProc
    deadline: float = 0.0         # time.monotonic() by which sipp's own -timeout has ended it

    @property
    def contact(self):
        return "sip:%s@%s:%d" % (self.user, self.addr, self.port)

    def result(self, timeout=None):
        """Wait for the phone's sipp to end (by default until its own
        -timeout, plus 15 s); SippResult."""
        if timeout is None:
            timeout = max(5.0, self.deadline + 15 - time.monotonic())
        return self.proc.result(timeout=timeout)

    def mapping(self, net, dst=SBC_WAN, dport=SIP_PORT):
        """(public address, port) of its flow to dst:dport through its NAT."""
        return net.nat_mapping(self.addr, self.port, dst, dport, role=self.ns)


def start_phone(net, ns, user, addr, port=SIP_PORT, password=None, proxy=SBC_WAN,
                expires=3600, refreshes=0, interval_ms=2000, hold_ms=20000):
    """Start a sipp phone in ns (background): it registers user (digest with
    the subscriber password unless password is given) at proxy:5060 with
    Request-URI and AOR domain proxy, asking for Expires `expires`;
    refreshes `refreshes` times every interval_ms; stays hold_ms; then
    un-registers. Calls and OPTIONS arriving meanwhile are answered
    (register_uas.xml). Returns a Phone; phone.result() waits for its end."""
    life = (refreshes * interval_ms + hold_ms) // 1000 + 30
    media_port = 6000 + 10 * (port - SIP_PORT)
    argv = ["-sf", sipp_scenario("register_uac.xml"), "-s", user,
            "-key", "domain", proxy, "-key", "expires", str(expires),
            "-key", "refreshes", str(refreshes), "-key", "hold", str(hold_ms),
            "-d", str(interval_ms), "-au", user, "-ap", password or USERS[user],
            "-auth_uri", proxy, "-oocsf", sipp_scenario("register_uas.xml"),
            "-m", "1", "-t", "u1", "-i", addr, "-p", str(port), "-mi", addr,
            "-mp", str(media_port), "-timeout", "%ds" % life, "-timeout_error",
            "%s:%d" % (proxy, SIP_PORT)]
    proc = net.sipp_bg(ns, argv, name="phone-%s" % user)
    return Phone(user, ns, addr, port, proc, time.monotonic() + life)


def register_refused(net, ns, user, addr, password, port=SIP_PORT + 1, proxy=SBC_WAN,
                     auth_user=None, name=None):
    """register_wrong.xml: REGISTER, 401, REGISTER with credentials from
    password, which must get 403. Returns the SippResult (rc 0: it did)."""
    argv = ["-sf", sipp_scenario("register_wrong.xml"), "-s", user,
            "-key", "domain", proxy, "-key", "expires", "3600",
            "-au", auth_user or user, "-ap", password, "-auth_uri", proxy,
            "-m", "1", "-t", "u1", "-i", addr, "-p", str(port), "%s:%d" % (proxy, SIP_PORT)]
    return net.sipp(ns, argv, timeout=20, name=name or "refused-%s" % user)


def call_user(net, user, registrar, pause_ms=300, rtp_echo=False, timeout=20):
    """The PBX side (10.20.0.11:5070 in priv) calls user at the registrar
    (register_call_uac.xml): INVITE, 200, ACK, pause, BYE, 200."""
    argv = ["-sf", sipp_scenario("register_call_uac.xml"), "-s", user,
            "-key", "dest", "%s:%d" % (registrar, SIP_PORT), "-d", str(pause_ms),
            "-m", "1", "-t", "u1", "-i", PRIV2, "-p", str(CALLER_PORT), "-mi", PRIV2,
            "-mp", "7000"]
    if rtp_echo:
        argv += ["-rtp_echo"]
    argv += ["%s:%d" % (registrar, SIP_PORT)]
    return net.sipp("priv", argv, timeout=timeout, name="call-%s" % user)


def write_baresip_phone(confdir, addr, user, password, domain=SBC_WAN, regint=60,
                        port=SIP_PORT):
    """A headless baresip that registers user@domain (digest from
    auth_user/auth_pass) every regint s and answers calls by itself; no sound
    device (a 440 Hz sine as microphone), PCMU only."""
    return netns.write_baresip_config(
        confdir, addr, "<sip:%s@%s>;auth_user=%s;auth_pass=%s;regint=%d;answermode=auto;"
        "audio_codecs=PCMU" % (user, domain, user, password, regint), port=port)


def start_baresip(net, nat, user, seconds=60, domain=SBC_WAN, regint=60):
    """baresip as a phone in the NAT namespace, at the LAN's first address
    (its RTP leaves by the interface's first address); quits after seconds."""
    conf = write_baresip_phone(os.path.join(net.tmpdir, "baresip-" + user), nat.phone, user,
                               USERS[user], domain=domain, regint=regint)
    return net.popen(nat.role, [BARESIP, "-f", conf, "-n", nat.phone, "-t", str(seconds)],
                     name="baresip-" + user, merge=True)


# ---------------------------------------------------------------------------
# what the captures show

def sip_user(value):
    m = re.search(r"sips?:([^@;>\s]+)@", value or "")
    return m.group(1) if m else None


def unfolded_headers(raw):
    """[(lower-case name, value)] of a raw message, folded lines joined,
    compact names expanded."""
    head = raw.split("\r\n\r\n", 1)[0]
    head = re.sub(r"\r\n[ \t]+", " ", head)
    compact = {"v": "via", "f": "from", "t": "to", "i": "call-id", "m": "contact",
               "l": "content-length", "c": "content-type", "k": "supported"}
    out = []
    for ln in head.split("\r\n")[1:]:
        name, _, value = ln.partition(":")
        name = name.strip().lower()
        out.append((compact.get(name, name), value.strip()))
    return out


def header(raw, name):
    return [v for n, v in unfolded_headers(raw) if n == name.lower()]


def granted_expires(raw, contact_uri):
    """The expiry a 200 to a REGISTER grants contact_uri: its Contact's
    expires parameter, else the Expires header; None if neither."""
    for c in header(raw, "contact"):
        for one in re.split(r",(?=\s*<)", c):
            if contact_uri in one:
                m = re.search(r";\s*expires\s*=\s*(\d+)", one)
                if m:
                    return int(m.group(1))
    e = header(raw, "expires")
    return int(e[0]) if e else None


def registers(msgs, user, src=None, dst=None):
    return [m for m in msgs if m.method == "REGISTER" and sip_user(m.to) == user
            and (src is None or m.src == src) and (dst is None or m.dst == dst)]


def assert_branch_per_request(msgs):
    """Each REGISTER (CSeq) a phone sent is a transaction of its own: a new
    Via branch per CSeq (retransmissions keep theirs)."""
    seen = {}
    for m in msgs:
        if m.method == "REGISTER":
            b = re.search(r"branch=([^;,\s]+)", m.via[0]).group(1)
            seen.setdefault((m.call_id, m.cseq), set()).add(b)
    branches = [b for bs in seen.values() for b in bs]
    assert all(len(bs) == 1 for bs in seen.values()) and len(set(branches)) == len(seen), seen


def register_answers(msgs, user, status, src=None, dst=None):
    return [m for m in msgs if m.status == status and m.cseq and "REGISTER" in m.cseq
            and sip_user(m.to) == user and (src is None or m.src == src)
            and (dst is None or m.dst == dst)]


def response_shape(raw):
    """A response as the phone sees it, with what differs per request
    masked (Via, From, To, Call-ID, CSeq, Date, the digest nonce): two
    answers with the same shape tell nothing apart."""
    status = raw.split("\r\n", 1)[0]
    out = []
    for name, value in unfolded_headers(raw):
        if name in ("via", "from", "to", "call-id", "cseq", "date"):
            value = "*"
        elif name in ("www-authenticate", "proxy-authenticate"):
            value = re.sub(r'nonce="[^"]*"', 'nonce="*"', value)
        out.append((name, value))
    return status, out


def assert_call_reached(wan_msgs, phone, public):
    """The capture on sbcd's wan shows the INVITE of a call to phone sent
    from 203.0.113.1:5060 to the phone's NAT mapping (public address and
    port), Request-URI for the phone's user, and the phone's 200 coming back
    from there."""
    inv = [m for m in wan_msgs if m.method == "INVITE" and m.src == SBC_WAN
           and (m.dst, m.dport) == public]
    assert inv, "no INVITE from sbcd to %s's NAT mapping %s:%d: %s" % (
        phone.user, public[0], public[1],
        [str(m) for m in wan_msgs if m.method == "INVITE"])
    ruri = inv[0].first_line.split()[1]
    assert ruri.startswith("sip:%s@" % phone.user), ruri
    assert inv[0].sport == SIP_PORT
    ok = [m for m in wan_msgs if m.status == 200 and m.cseq and "INVITE" in m.cseq
          and (m.src, m.sport) == public and m.dst == SBC_WAN]
    assert ok, "no 200 from %s (%s:%d)" % (phone.user, public[0], public[1])


def restart_sbcd(net, config):
    """Stop sbcd (SIGTERM, it must exit 0) and start it again with the same
    configuration (the same data_dir); returns the new NetProc."""
    rc = net.stop_sbcd()
    assert rc == 0, "sbcd exited with %d at the restart:\n%s" % (rc, net.sbcd_log()[-3000:])
    return net.start_sbcd(config)


# ---------------------------------------------------------------------------
# 1. the harness itself (no sbcd)

def test_nat_namespace(testnet, nat_net):
    """The NAT: phones at 192.168.50.x in sbc-nat-SFX reach the public
    segment as 203.0.113.50 with a random port (never their own), replies
    come back through the pinhole, a new flow from outside reaches nothing,
    and a second NAT has its own public address."""
    assert nat_net.ns == "sbc-nat-%s" % testnet.suffix
    assert nat_net.outside == NAT_OUT
    addrs = testnet.addresses("nat")
    assert "%s/24" % NAT_OUT in addrs
    assert all("%s/24" % a in addrs for a in nat_net.phones)
    assert testnet.sysctl("nat", "net.ipv4.ip_forward") == "0"
    echo = testnet.udp_echo("sbc", SBC_WAN, 7000, count=0, timeout=20)
    with testnet.tshark("sbc", "wan", "udp port 7000", name="wan") as cap:
        for a in nat_net.phones[:2]:
            rc, text = testnet.udp_send("nat", SBC_WAN, 7000, src=a)
            assert rc == 0, (a, text)
    srcs = {(m.split()[0], int(m.split()[1])) for m in
            netns._run([netns.TSHARK, "-n", "-r", cap.path, "-T", "fields", "-e", "ip.src",
                        "-e", "udp.srcport", "-Y", "ip.dst==%s" % SBC_WAN],
                       check=True).stdout.split("\n") if m.strip()}
    assert {s for s, _ in srcs} == {NAT_OUT}, srcs
    flows = [f for f in testnet.nat_flows() if f["dport"] == 7000]
    assert {f["src"] for f in flows} == set(nat_net.phones[:2]), flows
    for f in flows:
        assert f["public"] == NAT_OUT and (f["public"], f["public_port"]) in srcs, f
    echo.stop()
    # nothing gets in without a flow: an echo on the NAT's own public address stays unreached
    inside = testnet.udp_echo("nat", NAT_OUT, 7001, timeout=20)
    rc, _ = testnet.udp_send("sbc", NAT_OUT, 7001, src=SBC_WAN, timeout=1)
    assert rc == 1
    inside.stop()
    nat2 = testnet.add_nat("nat2")
    assert nat2.outside == NAT_OUT_EXTRA[0] and nat2.phones == nat_net.phones
    assert testnet.udp_echo("sbc", SBC_WAN, 7002, timeout=20)
    rc, _ = testnet.udp_send("nat2", SBC_WAN, 7002, src=nat2.phone)
    assert rc == 0
    assert [f["public"] for f in testnet.nat_flows("nat2") if f["dport"] == 7002] == \
        [NAT_OUT_EXTRA[0]]


def test_nat_namespace_torn_down(tmp_path):
    if not netns.netns_available()[0] or not netns.nat_available()[0]:
        pytest.skip("needs root, iproute2 and nft")
    with netns.TestNet(tmpdir=tmp_path) as net:
        net.add_nat()
        net.add_nat("nat2")
        names = [net.ns["nat"], net.ns["nat2"]]
        net.popen("nat", ["sleep", "60"], name="sleeper")
        assert all(n in netns._netns_list() for n in names)
    left = netns._netns_list()
    assert not any(n in left for n in names), left
    assert netns.NS_RE.match(names[0]) and netns.NS_RE.match(names[1])


@needs_kamailio
def test_harness_registrar_direct(testnet, nat_net):
    """The registrar and the phones without sbcd: kamailio in sbcd's place
    (203.0.113.1 and 10.20.0.1, nathelper on). Two sipp phones behind the
    NAT (one refreshing, with a 401 each time) register with digest auth;
    a wrong password and an unknown user get 403 and leave no binding; the
    PBX side (10.20.0.11) calls each phone and the call reaches it through
    its pinhole; after the un-REGISTERs no binding is left."""
    reg = start_registrar(testnet, through_sbc=False)
    with testnet.tshark("sbc", "wan", "udp port 5060", name="wan") as cap:
        wrong = register_refused(testnet, "nat", "alice", nat_net.phones[3], "not-her-password")
        assert wrong.rc == 0, wrong.describe()
        unknown = register_refused(testnet, "nat", UNKNOWN_USER, nat_net.phones[3], "whatever",
                                   name="refused-unknown")
        assert unknown.rc == 0, unknown.describe()
        assert reg.contacts("alice") == [] and reg.contacts(UNKNOWN_USER) == []

        alice = start_phone(testnet, "nat", "alice", nat_net.phones[1], refreshes=3,
                            interval_ms=1000, hold_ms=6000)
        bob = start_phone(testnet, "nat", "bob", nat_net.phones[2], hold_ms=8000)
        maps = {}
        for p, cs in zip((alice, bob), wait_registered(reg, (alice, bob)).values()):
            maps[p.user] = p.mapping(testnet)
            assert len(cs) == 1 and cs[0]["Address"] == p.contact, cs
            assert cs[0]["Received"] == "sip:%s:%d" % maps[p.user], cs
        for p in (alice, bob):
            res = call_user(testnet, p.user, SBC_LAN)
            assert res.rc == 0, res.describe()
        none = call_user(testnet, "carol", SBC_LAN)    # known, not registered: 404
        assert none.rc == 1 and "404 Not Found" in none.errors()
        for p in (alice, bob):
            r = p.result(timeout=40)
            assert r.rc == 0, r.describe()
            assert reg.wait_no_contacts(p.user), reg.contacts(p.user)
    msgs = read_sip(cap.path)
    # what the registrar says, as a phone sees it: 401 with the seed's challenge, 200, 403
    c401 = [m for m in msgs if m.status == 401]
    assert c401
    chal = header(c401[0].raw, "www-authenticate")[0]
    assert re.match(r'Digest realm="%s", nonce="[^"]+", qop="auth", algorithm=MD5$'
                    % re.escape(REALM), chal), chal
    # the checks of the tests through sbcd, on what kamailio itself does
    for status in (401, 403):       # kamailio gives nothing away
        a = register_answers(msgs, "alice", status)[0]
        b = register_answers(msgs, UNKNOWN_USER, status)
        assert len(b) == 1 and response_shape(a.raw) == response_shape(b[0].raw)
    assert len(register_answers(msgs, "alice", 403)) == 1
    ok = register_answers(msgs, "alice", 200, src=SBC_WAN)
    assert ok and (ok[0].dst, ok[0].dport) == maps["alice"]
    assert 3590 <= granted_expires(ok[0].raw, alice.contact) <= 3600
    assert granted_expires(ok[-1].raw, alice.contact) is None       # un-REGISTER: no contact
    for p in (alice, bob):
        assert_call_reached(msgs, p, maps[p.user])
    # alice: 2 refused, then 2 (first) + 3 x 2 (refreshes) + 2 (un-REGISTER), all answered
    assert len(registers(msgs, "alice", src=NAT_OUT)) == 2 + 2 + 3 * 2 + 2
    assert_branch_per_request(msgs)
    assert len(register_answers(msgs, "alice", 200)) == 1 + 3 + 1


def test_harness_phone_takes_cached_refreshes(testnet, nat_net):
    """register_uac.xml against a registrar that answers refreshes at once,
    without a challenge (register_cache_uas.xml, in sbcd's place: what
    sbcd's cache will do): the phone registers with digest, refreshes 3
    times, un-registers, all answered 200 with the expiry granted (10 s)."""
    cache = testnet.sipp_bg("sbc", ["-sf", sipp_scenario("register_cache_uas.xml"),
                                    "-key", "expires", "10", "-m", "1", "-t", "u1",
                                    "-i", SBC_WAN, "-p", str(SIP_PORT),
                                    "-timeout", "60s", "-timeout_error"], name="cache")
    with testnet.tshark("sbc", "wan", "udp port 5060", name="wan") as cap:
        phone = start_phone(testnet, "nat", "alice", nat_net.phones[1], refreshes=3,
                            interval_ms=500, hold_ms=500)
        res = phone.result(timeout=30)
        cres = cache.result(timeout=30)
    assert res.rc == 0, res.describe()
    assert cres.rc == 0, cres.describe()
    msgs = read_sip(cap.path)
    assert len(registers(msgs, "alice", src=NAT_OUT)) == 2 + 3 + 1
    assert_branch_per_request(msgs)
    ok = register_answers(msgs, "alice", 200, src=SBC_WAN)
    assert len(ok) == 1 + 3 + 1
    assert all(granted_expires(m.raw, phone.contact) == 10 for m in ok)
    assert all((m.dst, m.dport) == phone.mapping(testnet) for m in ok)


@needs_kamailio
@needs_baresip
def test_harness_baresip_registers_direct(testnet, nat_net):
    """baresip behind the NAT registers (digest) to kamailio in sbcd's
    place, and a call from the PBX side is answered by it."""
    reg = start_registrar(testnet, through_sbc=False)
    bs = start_baresip(testnet, nat_net, "carol", seconds=30)
    try:
        cs = reg.wait_contacts("carol", timeout=15, proc=bs)
        # baresip's Contact user is the AOR user and an instance: sip:carol-0x55...@
        assert re.match(r"sip:carol[^@]*@%s:%d" % (re.escape(nat_net.phone), SIP_PORT),
                        cs[0]["Address"]), cs
        assert cs[0]["Received"].startswith("sip:%s:" % NAT_OUT), cs
        res = call_user(testnet, "carol", SBC_LAN, pause_ms=1000)
        assert res.rc == 0, res.describe()
    finally:
        bs.stop()
    out = bs.output()
    assert "200 OK" in out and "Call established" in out, out[-3000:]


# ---------------------------------------------------------------------------
# 2. through sbcd (issue 5 item 9)

@needs_kamailio
def test_register_through_sbc(testnet, nat_net, sbcd):
    """Three sipp phones behind the NAT (two on one private address, one on
    another port of it) register through sbcd's public zone
    (203.0.113.1:5060) to kamailio at the core (10.20.0.10:5060).

    sbcd must: relay each REGISTER from its private address (10.20.0.1)
    to the core; relay kamailio's 401 to the phone with the challenge
    unchanged (realm voip.example.com, algorithm=MD5, qop="auth") and the
    credentials to kamailio; give kamailio a Contact at sbcd's private
    address with a token (host 10.20.0.1; no 192.168.50.x or 203.0.113.x in
    the Contact or Via of what reaches the core); answer the phone (from
    203.0.113.1:5060 to the NAT's public address and port it came from)
    with 200 listing the phone's own Contact; carry the un-REGISTER
    (Expires: 0) so that kamailio drops the binding; never send anything
    naming 10.20.0.x on wan."""
    reg = start_registrar(testnet)
    with testnet.tshark("sbc", "wan", "udp port 5060", name="wan") as wan, \
            testnet.tshark("sbc", "lan", "udp port 5060", name="lan") as lan:
        phones = [start_phone(testnet, "nat", "alice", nat_net.phones[1], hold_ms=4000),
                  start_phone(testnet, "nat", "bob", nat_net.phones[2], hold_ms=4000),
                  start_phone(testnet, "nat", "carol", nat_net.phones[1], port=SIP_PORT + 2,
                              hold_ms=4000)]
        bindings = wait_registered(reg, phones)
        maps = {p.user: p.mapping(testnet) for p in phones}
        results = {p.user: p.result() for p in phones}
        gone = {p.user: reg.wait_no_contacts(p.user) for p in phones}
    for p in phones:
        assert results[p.user].rc == 0, results[p.user].describe()
        cs = bindings[p.user]
        assert len(cs) == 1, cs
        m = re.match(r"sip:([^@]+)@([\d.]+)(?::(\d+))?", cs[0]["Address"])
        assert m and m.group(2) == SBC_LAN and m.group(3) in (None, "5060"), cs
        assert p.addr not in cs[0]["Address"] and NAT_OUT not in cs[0]["Address"], cs
        assert gone[p.user], "the un-REGISTER of %s did not reach the core" % p.user
        assert maps[p.user] and maps[p.user][0] == NAT_OUT
    tokens = {bindings[u][0]["Address"] for u in bindings}
    assert len(tokens) == 3, tokens                          # one token per binding
    wan_msgs, lan_msgs = read_sip(wan.path), read_sip(lan.path)
    for p in phones:
        public = maps[p.user]
        # to the core: from sbcd's private address, Contact and Via sbcd's own
        to_core = registers(lan_msgs, p.user, src=SBC_LAN, dst=PBX)
        # the first, the one with credentials, the un-REGISTER
        assert len(to_core) >= 3, [str(m) for m in to_core]
        for m in to_core:
            for h in m.contact + m.via:
                assert "192.168.50." not in h and NAT_OUT not in h, (str(m), h)
            assert all(SBC_LAN in c for c in m.contact if c.strip() != "*"), m.contact
        creds = [h for m in to_core for h in header(m.raw, "authorization")]
        assert creds, "the phone's credentials did not reach the core"
        # to the phone: 401 with kamailio's challenge, 200 with its own Contact
        c401 = register_answers(wan_msgs, p.user, 401, src=SBC_WAN)
        assert c401 and all((m.dst, m.dport) == public for m in c401), [str(m) for m in c401]
        chal = header(c401[0].raw, "www-authenticate")[0]
        assert 'realm="%s"' % REALM in chal and "MD5" in chal and 'qop="auth"' in chal, chal
        ok = register_answers(wan_msgs, p.user, 200, src=SBC_WAN)
        assert ok and all((m.dst, m.dport) == public and m.sport == SIP_PORT for m in ok)
        assert any(p.contact in c for c in ok[0].contact), ok[0].contact
    for frame in wan_msgs:
        if frame.src == SBC_WAN:
            assert "10.20.0." not in frame.raw, str(frame)


@needs_kamailio
def test_wrong_password_gets_403(testnet, nat_net, sbcd):
    """A phone with a wrong password, and one with an unknown user, are
    challenged (401 relayed) and their credentials refused: kamailio's 403
    reaches the phone (from 203.0.113.1:5060 to the NAT's public port), and
    no binding is made. A right password from the same place then works."""
    reg = start_registrar(testnet)
    with testnet.tshark("sbc", "wan", "udp port 5060", name="wan") as wan, \
            testnet.tshark("sbc", "lan", "udp port 5060", name="lan") as lan:
        wrong = register_refused(testnet, "nat", "alice", nat_net.phones[1], "not-her-password")
        unknown = register_refused(testnet, "nat", UNKNOWN_USER, nat_net.phones[2], "guess",
                                   name="refused-unknown")
        assert reg.contacts("alice") == [] and reg.contacts(UNKNOWN_USER) == []
        ok = start_phone(testnet, "nat", "alice", nat_net.phones[1], hold_ms=500)
        ok_res = ok.result(timeout=30)
    assert wrong.rc == 0, wrong.describe()
    assert unknown.rc == 0, unknown.describe()
    assert ok_res.rc == 0, ok_res.describe()
    wan_msgs, lan_msgs = read_sip(wan.path), read_sip(lan.path)
    for user in ("alice", UNKNOWN_USER):
        assert register_answers(lan_msgs, user, 403, src=PBX), "kamailio did not refuse " + user
        r403 = register_answers(wan_msgs, user, 403, src=SBC_WAN)
        assert len(r403) == 1 and r403[0].dst == NAT_OUT, [str(m) for m in r403]


@needs_kamailio
def test_calls_from_pbx_to_each_registered_phone(testnet, nat_net, sbcd):
    """Four phones registered through sbcd: alice and carol on one private
    address (ports 5060 and 5062) and bob on another behind the NAT
    203.0.113.50, and dave behind a second NAT (203.0.113.51) at exactly
    alice's private address and port. The PBX side (10.20.0.11) calls each
    one through kamailio; kamailio sends the INVITE to the token Contact at
    10.20.0.1, and sbcd must send it from 203.0.113.1:5060 to that phone's
    own NAT mapping (public address and port of its REGISTERs) with the
    phone's user in the Request-URI, and relay the answer and the BYE.
    Every call must complete at both ends."""
    nat2 = testnet.add_nat("nat2")
    reg = start_registrar(testnet)
    phones = [start_phone(testnet, "nat", "alice", nat_net.phones[1], hold_ms=20000),
              start_phone(testnet, "nat", "bob", nat_net.phones[2], hold_ms=20000),
              start_phone(testnet, "nat", "carol", nat_net.phones[1], port=SIP_PORT + 2,
                          hold_ms=20000),
              start_phone(testnet, "nat2", "dave", nat2.phones[1], hold_ms=20000)]
    wait_registered(reg, phones)
    maps = {p.user: p.mapping(testnet) for p in phones}
    assert maps["dave"][0] == NAT_OUT_EXTRA[0]
    calls = {}
    with testnet.tshark("sbc", "wan", "udp port 5060", name="wan") as wan:
        for p in phones:
            calls[p.user] = call_user(testnet, p.user, PBX)
    wan_msgs = read_sip(wan.path)
    for p in phones:
        assert calls[p.user].rc == 0, "call to %s: %s" % (p.user, calls[p.user].describe())
        assert_call_reached(wan_msgs, p, maps[p.user])
    for p in phones:
        p.proc.stop()


CORE_GRANT = 40     # kamailio's max_expires in test_refresh_absorbed (sbcd asks for 60)
REFRESHES = 25      # each phone's refreshes there, every 2 s: they outlast the calls at 44 s


@needs_kamailio
@pytest.mark.sbc_config({"registration": {"phone_expires": 10, "core_expires": 60}})
def test_refresh_absorbed(testnet, nat_net, sbcd):
    """Registration caching, counted ([registration] phone_expires 10,
    core_expires 60; kamailio grants at most CORE_GRANT = 40 s, its
    max_expires). Three phones ask for 3600 s and refresh every 2 s for
    about 50 s (25 refreshes each). sbcd must: grant the phones at most 10 s
    (the expires of their Contact in the 200, or Expires); register them at
    the core for longer than that (kamailio's binding expires in more than
    15 s right after the first registration); answer the phones' refreshes
    itself, so that kamailio sees per AOR one first registration and
    between 1 and 3 refreshes in the 46 s counted (the core's period, 20 s
    from the 40 s granted, not the phones' 2 s); and keep the core's
    binding alive past the 40 s it was granted: calls from the PBX side at
    44 s still reach every phone."""
    reg = start_registrar(testnet, defines=("MAX_EXPIRES=%d" % CORE_GRANT,))
    with testnet.tshark("sbc", "wan", "udp port 5060", name="wan") as wan, \
            testnet.tshark("sbc", "lan", "udp port 5060", name="lan") as lan:
        phones = [start_phone(testnet, "nat", u, nat_net.phones[i + 1], expires=3600,
                              refreshes=REFRESHES, interval_ms=2000, hold_ms=4000)
                  for i, u in enumerate(("alice", "bob", "carol"))]
        core_expires = {u: int(cs[0]["Expires"]) for u, cs in wait_registered(reg, phones).items()}
        t0 = time.monotonic()
        maps = {p.user: p.mapping(testnet) for p in phones}
        time.sleep(max(0.0, t0 + CORE_GRANT + 4 - time.monotonic()))
        calls = {p.user: call_user(testnet, p.user, PBX) for p in phones}
    results = {p.user: p.result() for p in phones}
    wan_msgs, lan_msgs = read_sip(wan.path), read_sip(lan.path)
    for p in phones:
        assert results[p.user].rc == 0, results[p.user].describe()
        assert 15 < core_expires[p.user] <= CORE_GRANT, core_expires
        assert calls[p.user].rc == 0, "call at %d s to %s: %s" % (
            CORE_GRANT + 4, p.user, calls[p.user].describe())
        assert_call_reached(wan_msgs, p, maps[p.user])
        to_phone = register_answers(wan_msgs, p.user, 200, src=SBC_WAN)
        assert len(to_phone) >= REFRESHES - 5, len(to_phone)
        for m in to_phone:
            granted = granted_expires(m.raw, p.contact)
            assert granted is not None and 0 < granted <= 10, (str(m), granted)
        core_ok = [m for m in register_answers(lan_msgs, p.user, 200, src=PBX)]
        refreshes = len(core_ok) - 1
        assert 1 <= refreshes <= 3, (
            "%s: the core saw %d refreshes in %d s (phones sent %d)"
            % (p.user, refreshes, CORE_GRANT + 6, len(registers(wan_msgs, p.user, dst=SBC_WAN))))
        assert len(registers(lan_msgs, p.user, src=SBC_LAN)) <= 2 + 2 * 3


@needs_kamailio
def test_restart_keeps_bindings(testnet, nat_net, sbcd, sbc_config):
    """Two phones register through sbcd and keep refreshing every 2 s;
    sbcd is stopped (SIGTERM, exit 0) and started again with the same
    configuration and data_dir. sbcd must reload its bindings: calls from
    the PBX side to both phones (to the token Contacts kamailio already
    holds) reach them through their NAT mappings after the restart, and
    the phones' refreshes after the restart are answered (the capture
    after the restart holds a 200 granting each phone's Contact an expiry,
    no 403 or error: the phones' runs end successfully)."""
    reg = start_registrar(testnet)
    phones = [start_phone(testnet, "nat", "alice", nat_net.phones[1], refreshes=8,
                          interval_ms=2000, hold_ms=1000),
              start_phone(testnet, "nat", "bob", nat_net.phones[2], refreshes=8,
                          interval_ms=2000, hold_ms=1000)]
    wait_registered(reg, phones)
    maps = {p.user: p.mapping(testnet) for p in phones}
    before = call_user(testnet, "alice", PBX)
    assert before.rc == 0, before.describe()
    restart_sbcd(testnet, sbc_config)
    with testnet.tshark("sbc", "wan", "udp port 5060", name="wan-after") as wan:
        after = {p.user: call_user(testnet, p.user, PBX) for p in phones}
        results = {p.user: p.result() for p in phones}
    wan_msgs = read_sip(wan.path)
    for p in phones:
        assert after[p.user].rc == 0, "call to %s after the restart: %s" % (
            p.user, after[p.user].describe())
        assert_call_reached(wan_msgs, p, maps[p.user])
    for p in phones:
        refreshed = [m for m in register_answers(wan_msgs, p.user, 200, src=SBC_WAN)
                     if (granted_expires(m.raw, p.contact) or 0) > 0]
        assert refreshed, "no refresh of %s answered 200 after the restart" % p.user
        assert results[p.user].rc == 0, results[p.user].describe()


LOCAL_REALM = "sbc.example.net"
LOCAL_AUTH = {"auth": {"local": "yes", "realm": LOCAL_REALM, "algorithms": "md5"}}


@pytest.fixture
def local_users(testnet):
    """[auth] users file of sbcd (the default <data_dir>/users), written
    before sbcd starts: every USERS entry, HA1 in LOCAL_REALM, MD5 and
    SHA-256 (docs/auth.md)."""
    path = os.path.join(testnet.tmpdir, "data", "users")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        for user, pw in sorted(USERS.items()):
            a1 = ("%s:%s:%s" % (user, LOCAL_REALM, pw)).encode()
            f.write("%s:%s:%s\n" % (user, hashlib.md5(a1).hexdigest(),
                                    hashlib.sha256(a1).hexdigest()))
    return path


@needs_kamailio
@pytest.mark.parametrize("local", [
    pytest.param(False, id="core-challenges"),
    pytest.param(True, id="sbc-challenges", marks=pytest.mark.sbc_config(LOCAL_AUTH))])
def test_enumeration_same_answer(testnet, nat_net, local_users, sbcd, local):
    """An attacker cannot tell an existing extension from an unknown one:
    REGISTERs for alice (exists, wrong password) and for mallory (unknown),
    from the same phone address, get answers of the same shape at each
    step: the same status (401 to the first REGISTER, 403 to the one with
    credentials) and the same headers in the same order with the same
    values, except Via, From, To, Call-ID, CSeq, Date and the nonce.
    core-challenges: [auth] local = no, kamailio's answers relayed;
    sbc-challenges: [auth] local = yes (realm sbc.example.net, md5 only,
    users file with alice), sbcd challenges and refuses by itself, and
    the refused credentials never reach the core."""
    start_registrar(testnet)
    with testnet.tshark("sbc", "wan", "udp port 5060", name="wan") as wan, \
            testnet.tshark("sbc", "lan", "udp port 5060", name="lan") as lan:
        known = register_refused(testnet, "nat", "alice", nat_net.phones[1], "guess-1")
        unknown = register_refused(testnet, "nat", UNKNOWN_USER, nat_net.phones[1], "guess-1",
                                   name="refused-unknown")
    assert known.rc == 0, known.describe()
    assert unknown.rc == 0, unknown.describe()
    wan_msgs = read_sip(wan.path)
    if local:
        c401 = register_answers(wan_msgs, "alice", 401, src=SBC_WAN)
        assert c401 and 'realm="%s"' % LOCAL_REALM in header(c401[0].raw, "www-authenticate")[0]
        assert not [m for m in read_sip(lan.path) if m.method == "REGISTER"
                    and header(m.raw, "authorization")], "refused credentials reached the core"
    for status in (401, 403):
        a = register_answers(wan_msgs, "alice", status, src=SBC_WAN)
        b = register_answers(wan_msgs, UNKNOWN_USER, status, src=SBC_WAN)
        assert len(a) == 1 and len(b) == 1, (status, [str(m) for m in a + b])
        sa, sb = response_shape(a[0].raw), response_shape(b[0].raw)
        assert sa == sb, "the %d for alice and for %s differ:\n%s\n%s" % (
            status, UNKNOWN_USER, sa, sb)


@needs_kamailio
def test_unknown_or_stale_token_rejected(testnet, nat_net, sbcd):
    """An INVITE from the core to a Contact token sbcd never made, and to
    the token of a binding that has been un-registered, gets 404 or 480
    from sbcd (10.20.0.1) and nothing goes out on wan."""
    reg = start_registrar(testnet)
    phone = start_phone(testnet, "nat", "alice", nat_net.phones[1], hold_ms=1000)
    token = wait_registered(reg, [phone])["alice"][0]["Address"]
    assert phone.result(timeout=30).rc == 0
    assert reg.wait_no_contacts("alice")
    bogus = re.sub(r"sip:[^@]+@", "sip:%s@" % ("A" * 52), token)
    with testnet.tshark("sbc", "wan", "udp port 5060", name="wan") as wan:
        for target in (bogus, token):
            invite = ("INVITE %s SIP/2.0\r\n"
                      "Via: SIP/2.0/UDP %s:5090;branch=z9hG4bK-tok-%d;rport\r\n"
                      "Max-Forwards: 70\r\n"
                      "From: <sip:pbx@%s>;tag=tok%d\r\n"
                      "To: <%s>\r\n"
                      "Call-ID: token-%d@%s\r\n"
                      "CSeq: 1 INVITE\r\n"
                      "Contact: <sip:pbx@%s:5090>\r\n"
                      "Content-Length: 0\r\n\r\n"
                      % (target, PBX, len(target), PBX, len(target), target, len(target),
                         PBX, PBX))
            r = testnet.sip_exchange("priv", "udp", SBC_LAN, SIP_PORT,
                                     [{"send": invite}, {"expect": 2, "timeout": 5}],
                                     src=PBX)
            finals = [m.split("\r\n", 1)[0] for m in r["messages"]
                      if not m.startswith("SIP/2.0 1")]
            assert finals and re.match(r"SIP/2.0 (404|480) ", finals[0]), (target, r["messages"])
    assert not [m for m in read_sip(wan.path) if m.method == "INVITE"]


@needs_kamailio
@needs_baresip
def test_baresip_registers_through_sbc(testnet, nat_net, sbcd):
    """baresip behind the NAT (192.168.50.10, the LAN's first address)
    registers as carol through sbcd (digest, regint 60) next to a sipp
    phone (alice); the PBX side calls carol, baresip answers by itself,
    the call is established and ended by the PBX after 3 s, with media
    both ways (the PBX caller echoes baresip's RTP through sbcd's relay)."""
    reg = start_registrar(testnet)
    alice = start_phone(testnet, "nat", "alice", nat_net.phones[1], hold_ms=15000)
    bs = start_baresip(testnet, nat_net, "carol", seconds=40)
    try:
        cs = reg.wait_contacts("carol", timeout=15, proc=bs)
        assert SBC_LAN in cs[0]["Address"] and nat_net.phone not in cs[0]["Address"], cs
        wait_registered(reg, [alice])
        res = call_user(testnet, "carol", PBX, pause_ms=3000, rtp_echo=True)
        assert res.rc == 0, res.describe()
        ares = call_user(testnet, "alice", PBX)
        assert ares.rc == 0, ares.describe()
    finally:
        bs.stop()
        alice.proc.stop()
    out = bs.output()
    assert "Call established" in out, out[-3000:]
    stats = re.search(r"packets:\s+(\d+)\s+(\d+)", out)
    assert stats, out[-3000:]
    tx, rx = int(stats.group(1)), int(stats.group(2))
    assert tx >= 100 and rx >= 0.5 * tx, (tx, rx)
