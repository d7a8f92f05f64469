"""sbcd registers to a provider on the PBX's behalf (issue 5 item 6).

The provider is kamailio (tests/integration/kamailio/provider.cfg) on the
public side at 203.0.113.20 (an address of the pub namespace no other test
uses), the registrar and proxy of an ITSP: it challenges REGISTER with a
digest (MD5 or SHA-256, qop=auth or none), keeps the binding in usrloc and
relays its incoming calls to the registered Contact. sbcd has
[trunk:prov] at that address with register = yes, username and password:

    sbc-pub-SFX                     sbc-sbc-SFX (sbcd)               sbc-priv-SFX
    203.0.113.20 kamailio <-------- wan 203.0.113.1   lan 10.20.0.1  10.20.0.10 PBX (sipp UAS)
    203.0.113.10:5070 PSTN caller     REGISTER sip:acme@203.0.113.1
                                      (Contact) with digest

What the tests show:
  - the binding at the provider is sip:acme@203.0.113.1:5060;transport=udp,
    with the expiry asked for; MD5, SHA-256, and RFC 2617 without qop;
  - nothing sbcd sends on wan names the private side, nor the password;
  - a wrong password fails (the provider answers with a new 401, not a
    403) and is retried after the trunk's retry_s, then twice that (30 s
    and 60 s by default; the test sets retry_s = 4): two REGISTERs per
    attempt, no flood;
  - with the provider granting a short expiry (6 s), sbcd refreshes at
    half of it, with the kept challenge (one REGISTER per refresh, nc
    rising), and the binding never lapses;
  - a call from the provider to sip:acme@203.0.113.1 passes the access
    policy (the trunk's allow list, [auth] open = no) and reaches the core;
  - at shutdown sbcd un-registers (Expires: 0) and the binding is gone.

Kamailio's helpers (the db_text subscriber table, usrloc lookups through
kamcmd) come from test_register.py, the wan leak scan from test_calls.py.
"""
import os
import re
import time

import pytest

import netns
from conftest_netns import sbcd_problems
from netns import PBX, PUB, SBC_LAN, SBC_WAN, read_sip, sipp_scenario
from test_calls import PRIVATE_RE, raw_payloads
from test_register import KAMAILIO, Registrar, header, needs_kamailio, write_subscribers

PROVIDER = "203.0.113.20"          # the provider's registrar and proxy (pub)
PROVIDER_CFG = os.path.join(netns.HERE, "kamailio", "provider.cfg")
PROVIDER_REALM = "provider.example"
SIP_PORT = 5060
CALLER_PORT = 5070                 # the PSTN caller behind the provider (203.0.113.10:5070)
USER = "acme"
PASSWORD = "acme-Trunk-pw-7f3a"
WRONG_PASSWORD = "acme-Wrong-pw-0000"
CONTACT = "sip:%s@%s:%d;transport=udp" % (USER, SBC_WAN, SIP_PORT)
TO_PROVIDER = "udp and src host %s and dst host %s" % (SBC_WAN, PROVIDER)
GRANTED = 6                        # the provider's max_expires in the refresh test
RETRY_S = 4                        # [trunk:prov] retry_s of the backoff test (sbcd's default 30)

pytestmark = needs_kamailio


class Provider(Registrar):
    """kamailio with provider.cfg at PROVIDER in pub; the subscriber table
    holds USER with PASSWORD. The lookups (contacts, wait_contacts,
    wait_no_contacts) are test_register.Registrar's."""

    def __init__(self, net, algorithm="MD5", qop=True, max_expires=3600, name="provider"):
        super().__init__(net, "pub", (PROVIDER,), users={USER: PASSWORD}, name=name,
                         cfg=PROVIDER_CFG, realm=PROVIDER_REALM,
                         defines=('ALGORITHM="%s"' % algorithm, 'QOP="%s"' % ("1" if qop else "0"),
                                  "MAX_EXPIRES=%d" % max_expires))


@pytest.fixture
def pnet(testnet):
    """The test network with the provider's address in pub; sbcd is started
    by the test (after the provider: its first REGISTER goes out at start)
    and checked like the sbcd fixture does (exit 0, no sanitizer report)."""
    testnet.add_address("pub", PROVIDER + "/24")
    yield testnet
    problems = sbcd_problems(testnet)
    if problems:
        pytest.fail("\n".join(problems) + "\n--- end of sbcd log ---\n"
                    + testnet.sbcd_log()[-4000:], pytrace=False)


def start_sbcd(net, password=PASSWORD, domain=None, expires=3600, auth_open=False, retry_s=None):
    """sbcd with [trunk:prov] registering USER to the provider. The access
    policy is on (no [auth] open) unless auth_open; retry_s: the trunk's
    first backoff (default: sbcd's, 30 s)."""
    trunk = {"zone": "public", "address": PROVIDER, "register": "yes", "username": USER,
             "password": password, "expires": str(expires)}
    if retry_s is not None:
        trunk["retry_s"] = str(retry_s)
    if domain:
        trunk["domain"] = domain
    cfg = net.write_config(overrides={"trunk:prov": trunk,
                                      "auth": {"open": "yes"} if auth_open else None})
    return net.start_sbcd(cfg)


def sbcd_registers(msgs):
    return [m for m in msgs if m.method == "REGISTER" and m.src == SBC_WAN and m.dst == PROVIDER]


def answers(msgs, status):
    return [m for m in msgs if m.status == status and m.src == PROVIDER and m.dst == SBC_WAN
            and m.cseq and "REGISTER" in m.cseq]


def digest_param(value, name):
    m = re.search(r'(?:^|[\s,])%s="?([^",]*)"?' % name, value or "")
    return m.group(1) if m else None


def wan_problems(pcap, password):
    """What sbcd sent on wan that it must not: the private side, the password."""
    out = []
    for frame, payload in raw_payloads(pcap, SBC_WAN):
        hit = PRIVATE_RE.search(payload)
        if hit:
            out.append("frame %d names the private side: %r" % (frame, hit.group(0)))
        if password in payload:
            out.append("frame %d carries the password" % frame)
    return out


FLAVORS = [
    pytest.param("MD5", True, None, id="md5"),
    pytest.param("SHA-256", True, PROVIDER_REALM, id="sha256-domain"),
    pytest.param("MD5", False, None, id="md5-no-qop"),
]


@pytest.mark.parametrize("algorithm,qop,domain", FLAVORS)
def test_registers_and_unregisters(pnet, algorithm, qop, domain):
    """The binding at the provider is our public Contact with the expiry
    asked for; the REGISTER pair (none, then digest credentials for the
    offered algorithm, qop=auth or RFC 2617 without) is clean of anything
    private and of the password; at shutdown an un-REGISTER removes it."""
    prov = Provider(pnet, algorithm=algorithm, qop=qop)
    with pnet.tshark("sbc", "wan", "udp port 5060", name="wan") as cap:
        start_sbcd(pnet, domain=domain)
        bindings = prov.wait_contacts(USER, timeout=10)
        pnet.wait_log("trunk prov: registered at %s:5060 (udp) for 3600 s" % PROVIDER, timeout=5)
    assert len(bindings) == 1, bindings
    assert bindings[0]["Address"] == CONTACT, bindings
    assert 3500 < int(bindings[0]["Expires"]) <= 3600, bindings

    msgs = read_sip(cap.path)
    regs = sbcd_registers(msgs)
    assert len(regs) == 2, [m.first_line for m in msgs]
    first, second = regs
    want_ruri = "sip:%s" % (domain or PROVIDER)
    aor = "sip:%s@%s" % (USER, domain or PROVIDER)
    for m in regs:
        assert m.first_line == "REGISTER %s SIP/2.0" % want_ruri, m.first_line
        assert aor in m.from_ and aor in m.to, (m.from_, m.to)
        assert m.contact == ["<%s>" % CONTACT], m.contact
        assert header(m.raw, "expires") == ["3600"], m.raw
        assert len(m.via) == 1 and m.via[0].startswith("SIP/2.0/UDP %s:5060;" % SBC_WAN), m.via
    assert first.call_id == second.call_id
    assert int(second.cseq.split()[0]) == int(first.cseq.split()[0]) + 1
    assert not header(first.raw, "authorization"), first.raw
    cred = header(second.raw, "authorization")
    assert len(cred) == 1 and cred[0].startswith("Digest "), second.raw
    assert digest_param(cred[0], "username") == USER
    assert digest_param(cred[0], "realm") == PROVIDER_REALM
    assert digest_param(cred[0], "uri") == want_ruri
    assert len(digest_param(cred[0], "response")) == (64 if algorithm == "SHA-256" else 32)
    if qop:
        assert digest_param(cred[0], "qop") == "auth"
        assert digest_param(cred[0], "nc") == "00000001"
        assert re.fullmatch(r"[0-9a-f]{32}", digest_param(cred[0], "cnonce") or "")
    else:
        assert digest_param(cred[0], "qop") is None and digest_param(cred[0], "nc") is None
    assert (digest_param(cred[0], "algorithm") or "MD5") == algorithm
    assert len(answers(msgs, 401)) == 1 and len(answers(msgs, 200)) == 1
    assert wan_problems(cap.path, PASSWORD) == []
    assert PASSWORD not in pnet.sbcd_log()

    # shutdown: Expires 0 with the kept credentials, the provider drops the binding
    with pnet.tshark("sbc", "wan", TO_PROVIDER, name="unreg") as cap2:
        assert pnet.stop_sbcd() == 0
    assert prov.wait_no_contacts(USER, timeout=5), prov.contacts(USER)
    unreg = sbcd_registers(read_sip(cap2.path))
    assert len(unreg) == 1, unreg
    assert header(unreg[0].raw, "expires") == ["0"]
    assert header(unreg[0].raw, "authorization"), unreg[0].raw
    assert unreg[0].call_id == first.call_id
    assert "trunk prov: un-REGISTER sent" in pnet.sbcd_log()


def test_refresh_and_incoming_call(pnet):
    """The provider grants GRANTED = 6 s (its max_expires) where sbcd asked
    for 60: sbcd refreshes every ~3 s with one REGISTER each (the kept
    SHA-256 challenge, nc rising, answered 200 without a new 401), so the
    binding never lapses. Meanwhile a PSTN call through the provider to
    sip:acme@203.0.113.1 reaches the core through the access policy."""
    prov = Provider(pnet, algorithm="SHA-256", max_expires=GRANTED)
    pbx = pnet.sipp_bg("priv", ["-sf", sipp_scenario("invite_uas.xml"), "-m", "1", "-t", "u1",
                                "-i", PBX, "-p", str(SIP_PORT), "-mi", PBX,
                                "-timeout", "60s", "-timeout_error"], name="pbx")
    with pnet.tshark("sbc", "wan", "udp port 5060", name="wan") as wan, \
            pnet.tshark("sbc", "lan", "udp port 5060", name="lan") as lan:
        t0 = time.monotonic()
        start_sbcd(pnet, expires=60)
        prov.wait_contacts(USER, timeout=10)
        pnet.wait_log("trunk prov: registered at %s:5060 (udp) for %d s" % (PROVIDER, GRANTED),
                      timeout=5)
        caller = pnet.sipp("pub", ["-sf", sipp_scenario("register_call_uac.xml"), "-s", USER,
                                   "-key", "dest", "%s:%d" % (PROVIDER, SIP_PORT), "-d", "500",
                                   "-m", "1", "-t", "u1", "-i", PUB, "-p", str(CALLER_PORT),
                                   "-mi", PUB, "-mp", "7000", "%s:%d" % (PROVIDER, SIP_PORT)],
                           timeout=20, name="pstn-caller")
        pbx_res = pbx.result(timeout=30)
        # the binding holds through two more of its lifetimes
        while time.monotonic() - t0 < 2.2 * GRANTED:
            assert prov.contacts(USER), "binding lapsed at %.1f s" % (time.monotonic() - t0)
            time.sleep(0.5)
    assert caller.rc == 0, caller.describe()
    assert pbx_res.rc == 0, pbx_res.describe()

    msgs = read_sip(wan.path)
    regs = sbcd_registers(msgs)
    assert not header(regs[0].raw, "authorization")
    refreshes = regs[2:]
    assert len(refreshes) >= 3, [(round(m.time - regs[0].time, 1), m.first_line) for m in regs]
    assert len(answers(msgs, 401)) == 1, "a refresh was challenged again"
    ncs = [digest_param(header(m.raw, "authorization")[0], "nc") for m in regs[1:]]
    assert ncs == ["%08x" % (i + 1) for i in range(len(ncs))], ncs
    gaps = [b.time - a.time for a, b in zip(regs[1:], regs[2:])]
    assert all(GRANTED / 2 - 1.0 <= g <= GRANTED / 2 + 1.5 for g in gaps), gaps
    for m in regs:
        assert header(m.raw, "expires") == ["60"], m.raw
    assert wan_problems(wan.path, PASSWORD) == []

    # the provider's INVITE came from the trunk's address to our Contact, and went on to the core
    inv_in = [m for m in msgs if m.method == "INVITE" and m.src == PROVIDER and m.dst == SBC_WAN]
    assert inv_in and inv_in[0].first_line.startswith("INVITE %s" % CONTACT), \
        [m.first_line for m in inv_in]
    inv_core = [m for m in read_sip(lan.path) if m.method == "INVITE" and m.src == SBC_LAN
                and m.dst == PBX]
    assert inv_core and inv_core[0].first_line.startswith("INVITE sip:%s@%s" % (USER, SBC_WAN)), \
        [m.first_line for m in inv_core]
    assert not [m for m in msgs if m.status == 403], "the access policy refused something"


def test_wrong_password_backs_off(pnet):
    """A wrong password: the provider answers the credentials with a new
    401 (no stale=true), sbcd stops answering (state failed) and tries again
    after retry_s (4 s here; 30 s by default), then twice that (plus up to a
    tenth each time): two REGISTERs per attempt, six in about 13 s, never
    more."""
    prov = Provider(pnet)
    with pnet.tshark("sbc", "wan", TO_PROVIDER, name="wan") as cap:
        start_sbcd(pnet, password=WRONG_PASSWORD, retry_s=RETRY_S)
        got = cap.wait_packets(6, timeout=40)
        assert got == 6, "%d REGISTERs in 40 s" % got
        time.sleep(3)
    regs = sbcd_registers(read_sip(cap.path))
    assert len(regs) == 6, [(m.time, m.first_line) for m in regs]
    starts = regs[0::2]
    for first, second in zip(regs[0::2], regs[1::2]):
        assert not header(first.raw, "authorization"), first.raw
        assert header(second.raw, "authorization"), second.raw
        assert second.time - first.time < 1.0
    gaps = [b.time - a.time for a, b in zip(starts, starts[1:])]
    # retry_s plus up to a tenth, then twice that (with the 0.5 s / 1 s slack of the capture)
    assert RETRY_S - 0.5 <= gaps[0] <= RETRY_S * 1.1 + 1.0, gaps
    assert 2 * RETRY_S - 0.5 <= gaps[1] <= 2 * RETRY_S * 1.1 + 1.0, gaps
    log = pnet.sbcd_log()
    assert re.search(r"trunk prov: registration failed \(401, credentials refused\); "
                     r"next try in %d s" % RETRY_S, log), log[-3000:]
    assert re.search(r"next try in %d s" % (2 * RETRY_S), log), log[-3000:]
    assert WRONG_PASSWORD not in log
    assert not prov.contacts(USER)
    assert wan_problems(cap.path, WRONG_PASSWORD) == []
    # nothing to un-register at shutdown
    assert pnet.stop_sbcd() == 0
    assert "un-REGISTER" not in pnet.sbcd_log()


def test_unanswered_register_retransmitted(pnet):
    """The provider's address is there but nothing answers: the first
    REGISTER (sent at start, before anything else reached sbcd) is
    retransmitted at 0.5, 1, 2 s... (Timer E), then fails with 408 after
    Timer F and is retried with backoff."""
    with pnet.tshark("sbc", "wan", TO_PROVIDER, name="wan") as cap:
        start_sbcd(pnet)
        got = cap.wait_packets(4, timeout=6)
    regs = sbcd_registers(read_sip(cap.path))
    assert got >= 4 and len({m.via[0] for m in regs}) == 1, [(m.time, m.via) for m in regs]
