"""The guard of the public zone, from the wire (issue 6 item 7).

sbcd's guard (src/guard/: scanners, floods, enumeration, cracking, bans;
the control API's guard.* commands) is attacked here with
the tools an attacker uses and with floods, and the control socket is read
to see what it decided. The harness allow-lists the whole public test
network ([guard] allow = 203.0.113.0/24 in netns.default_config(), so that
call and registration tests are not policed); every test here overrides
allow: empty (nobody) or one address.

Attackers run in pub, each from its own address, against sbcd's public
address 203.0.113.1:5060 only:

  - sipvicious 0.3.3 (Debian): svmap, svwar, svcrack. All three send
    User-Agent: friendly-scanner (banned on the first packet, reason
    scanner); with -c (compact headers) they send none, which leaves the
    behavioural detections: enumeration (svwar) and cracking (svcrack).
    svwar and svcrack ignore -b (their main() never passes the binding
    address on), so each tool runs under a small shim (SV_SHIM) that binds
    its socket to the chosen source (-x names it in the Via) and caps its
    socket timeouts at 3 s (svcrack waits 10 s for an answer that a banned
    source never gets). Never -R or -A (they contact the internet).
  - sipp floods (sipp/flood_{invite,register,options}_uac.xml: one request
    per call, sent and forgotten), from one address per class and from many
    addresses (more are added to pub's eth0).
  - tools/flood-gen (raw socket, spoofed random sources from
    198.18.0.0/15; sbcd's namespace routes that range back to pub, which
    drops the answers).

The core is a fake registrar written here (start_core: this file run as a
script, core_main, in priv at 10.20.0.10:5060): REGISTER for a known user 401 (or 200
with --accept), unknown 404 (a PBX that tells users apart, which is what
svwar exploits); INVITE 486; anything else 200. Or sipp (call_uas.xml) for
the calls of test_calls_survive_floods.

What a test counts comes from a capture on sbcd's wan (requests a source
sent, answers sbcd sent it) and from the control socket (guard.stats,
guard.bans, guard.top, guard.timeline, guard.unban; ctlclient.py). Nothing
asserts on time: waits are bounded, "no answer" means none within 1 s, and
counts are bounded by the configured thresholds plus a stated slack.
"""
import argparse
import collections
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time

import pytest

import ctlclient
import netns
from netns import PBX, PUB, PUB_EXTRA, SBC_WAN, sipp_scenario

SIP_PORT = 5060
SBC = "%s:%d" % (SBC_WAN, SIP_PORT)
REALM = "sbc.guard.test"
SBC_PASSWD = os.path.join(netns.REPO, "tools", "sbc-passwd")
SPOOF_NET = "198.18.0.0/15"         # flood-gen's default source range (RFC 2544 bench range)

ALLOWED = PUB_EXTRA[5]              # 203.0.113.16: allow-listed where a test says so
# The harness allow-lists 203.0.113.0/24; None removes the key: nobody.
NOBODY = {"guard": {"allow": None}}

SV_SHIM = r"""
import os, runpy, socket, sys
src, tool = sys.argv[1], sys.argv[2]
sys.path.insert(0, os.path.dirname(os.path.realpath(tool)))   # as running it would
_bind = socket.socket.bind
def bind(self, addr):
    if isinstance(addr, tuple) and addr[0] in ("", "0.0.0.0"):
        addr = (src,) + tuple(addr[1:])
    return _bind(self, addr)
socket.socket.bind = bind
_settimeout = socket.socket.settimeout
def settimeout(self, t):   # sbcd answers in milliseconds: svcrack's 10 s wait is dead time
    return _settimeout(self, t if t is None else min(t, 3.0))
socket.socket.settimeout = settimeout
sys.argv = [tool] + sys.argv[3:]
runpy.run_path(tool, run_name="__main__")
"""

_seq = iter(range(1, 1 << 30))


# ---------------------------------------------------------------------------
# the control socket

def control_socket(net):
    return os.path.join(net.rundir, "sbcd.sock")


def ctl(net, cmd, args=None):
    """The whole response of one control request."""
    return ctlclient.call(control_socket(net), cmd, args)


def guard(net, cmd, args=None):
    """The result of a guard command that must succeed."""
    resp = ctl(net, cmd, args)
    assert resp.get("ok") is True, "%s %s: %s" % (cmd, args, resp)
    return resp.get("result")


def bans(net):
    """{source: ban} of guard.bans."""
    out = {}
    for b in guard(net, "guard.bans"):
        assert b["source"] not in out, "two bans for %s" % b["source"]
        out[b["source"]] = b
    return out


def wait_banned(net, sources, timeout=10.0):
    """{source: ban} once every source is in guard.bans (bounded wait)."""
    deadline = time.monotonic() + timeout
    while True:
        now = bans(net)
        if all(s in now for s in sources):
            return {s: now[s] for s in sources}
        if time.monotonic() >= deadline:
            pytest.fail("not banned within %s s: %s\nguard.bans: %s\nguard.stats: %s"
                        % (timeout, sorted(set(sources) - set(now)), json.dumps(now, indent=1),
                           json.dumps(guard(net, "guard.stats"), indent=1)), pytrace=False)
        time.sleep(0.1)


def reason_packets(stats, reason):
    return stats["reasons"][reason]["packets"]


# ---------------------------------------------------------------------------
# probes and captures

def options_text(src, ua="sbc-guard-test", ruri=None):
    n = next(_seq)
    return ("OPTIONS %s SIP/2.0\r\n"
            "Via: SIP/2.0/UDP %s:5060;branch=z9hG4bK-gd%d-%d;rport\r\n"
            "Max-Forwards: 70\r\n"
            "From: <sip:probe@%s>;tag=gd%d\r\n"
            "To: <sip:%s>\r\n"
            "Call-ID: guard-%d-%d@%s\r\n"
            "CSeq: 1 OPTIONS\r\n"
            "User-Agent: %s\r\n"
            "Content-Length: 0\r\n\r\n"
            % (ruri or "sip:%s" % SBC, src, os.getpid(), n, src, n, SBC, os.getpid(), n, src,
               ua))


def probe(net, src, ua="sbc-guard-test", count=1, wait=1.0):
    """count OPTIONS to the SBC itself from src (one socket, an ephemeral
    port), then listen wait s: the status lines that came back."""
    steps = [{"send": options_text(src, ua)} for _ in range(count)]
    steps.append({"expect": count, "timeout": wait})
    r = net.sip_exchange("pub", "udp", SBC_WAN, SIP_PORT, steps, src=src, timeout=20)
    return [m.split("\r\n", 1)[0] for m in r["messages"]]


def assert_silenced(net, src, count=3):
    """A banned source's clean requests (no scanner User-Agent) get nothing."""
    got = probe(net, src, count=count)
    assert got == [], "banned %s still answered: %s" % (src, got)


def assert_served(net, src):
    got = probe(net, src)
    assert got == ["SIP/2.0 200 OK"], "%s not answered: %s" % (src, got)


def sip_frames(pcap):
    """[(src, dst, call_id, status)] of a capture's SIP frames (status None
    for a request)."""
    r = subprocess.run([netns.TSHARK, "-n", "-r", pcap, "-Y", "sip", "-T", "fields",
                        "-E", "separator=\t", "-e", "ip.src", "-e", "ip.dst", "-e", "sip.Call-ID",
                        "-e", "sip.Status-Code"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    out = []
    for line in r.stdout.splitlines():
        f = line.split("\t")
        f += [""] * (4 - len(f))
        out.append((f[0], f[1], f[2], int(f[3]) if f[3] else None))
    return out


class Traffic:
    """Per source: requests it sent to sbcd, answers (responses) sbcd sent it,
    and the Call-IDs answered, from a capture on sbcd's wan."""

    def __init__(self, pcap):
        self.sent = collections.Counter()
        self.answers = collections.Counter()
        self.answered = collections.defaultdict(set)
        self.statuses = collections.defaultdict(collections.Counter)
        for src, dst, cid, status in sip_frames(pcap):
            if status is None and dst == SBC_WAN:
                self.sent[src] += 1
            elif status is not None and src == SBC_WAN:
                self.answers[dst] += 1
                self.answered[dst].add(cid)
                self.statuses[dst][status] += 1

    def describe(self, src):
        return "%s sent %d requests, got %d answers %s" % (
            src, self.sent[src], self.answers[src], dict(self.statuses[src]))


def vm_rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for pid %d" % pid)


# ---------------------------------------------------------------------------
# peers

def start_core(net, known=(), accept=(), timeout=60):
    """The fake core at 10.20.0.10:5060 (this file as a script, in priv)."""
    p = net.popen("priv", [netns.PYTHON, os.path.abspath(__file__), "core", "--bind",
                           "%s:%d" % (PBX, SIP_PORT), "--known", ",".join(known),
                           "--accept", ",".join(accept), "--timeout", str(timeout)],
                  name="core", merge=True)
    net.wait_listening("priv", "udp", PBX, SIP_PORT, proc=p)
    return p


def sipvicious(net, tool, src, args, name=None):
    """Start a sipvicious tool from src against sbcd's public address."""
    path = shutil.which(tool, path="/usr/bin:/usr/local/bin")
    assert path, "%s is missing (Debian package sipvicious)" % tool
    argv = [netns.PYTHON, "-c", SV_SHIM, src, path, "-x", src] + list(args) + [SBC_WAN]
    return net.popen("pub", argv, name=name or "%s-%s" % (tool, src), merge=True)


def tool_output(proc, timeout):
    """Wait for a tool (bounded), return its output (stdout and stderr)."""
    try:
        proc.wait(timeout)
    except netns.NetError:
        proc.stop()
        pytest.fail("%s outlived %s s:\n%s" % (proc.name, timeout, proc.output()[-3000:]),
                    pytrace=False)
    return proc.output()


def flood(net, method, src, count, rate, ruri=None, touser=None, ua="sbc-guard-test",
          port=5062, name=None):
    """A sipp flood of count requests (flood_METHOD_uac.xml) from src:port
    at rate/s, in the background; returns the SippProc."""
    m = method.lower()
    user = "f" + src.rsplit(".", 1)[1]     # a user per source: no user_flood across sources
    ruri = ruri or ("sip:%s" % SBC if method in ("OPTIONS", "REGISTER") else
                    "sip:%s@%s" % (user, SBC))
    touser = touser or ("sip:%s@%s" % (user, SBC_WAN))
    args = ["-sf", sipp_scenario("flood_%s_uac.xml" % m), "-key", "ruri", ruri,
            "-key", "touser", touser, "-key", "ua", ua, "-m", str(count), "-r", str(rate),
            "-t", "u1", "-i", src, "-p", str(port),
            "-timeout", "%ds" % (count // rate + 20), SBC]
    return net.sipp_bg("pub", args, name=name or "flood-%s-%s" % (m, src), trace_msg=False)


def flood_gen_path():
    return os.path.join(os.path.dirname(netns.sbcd_binary()), "tools", "flood-gen")


def flood_gen(net, args, timeout=60):
    """Run tools/flood-gen in pub (bounded); its summary as a dict."""
    path = flood_gen_path()
    assert os.access(path, os.X_OK), "%s is not built (make all)" % path
    r = net.run("pub", [path, "--dst", SBC] + list(args), timeout=timeout)
    assert r.returncode == 0, "flood-gen %s: %d\n%s%s" % (args, r.returncode, r.stdout, r.stderr)
    return dict(kv.split("=", 1) for kv in r.stdout.split() if "=" in kv)


def route_spoofed_back(net):
    """sbcd's answers to spoofed sources go to pub (which drops them), not
    into ENETUNREACH."""
    net.add_route("sbc", SPOOF_NET, PUB)


def write_users(net, users):
    """<data_dir>/users with {user: password} (tools/sbc-passwd, MD5 and SHA-256)."""
    path = os.path.join(net.tmpdir, "data", "users")
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    lines = []
    for user, pw in users.items():
        r = subprocess.run([sys.executable, SBC_PASSWD, user, REALM], input=pw + "\n",
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=10, check=True)
        lines.append(r.stdout.strip())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def extra_sources(net, first, n):
    """n more addresses on pub's eth0 (203.0.113.FIRST...) for many-source floods."""
    out = []
    for i in range(first, first + n):
        a = "203.0.113.%d" % i
        net.add_address("pub", "%s/24" % a)
        out.append(a)
    return out


# ---------------------------------------------------------------------------
# 1. sipvicious

SV_EXT = "150"           # the one extension the core knows: svwar's 51st guess of 100-199
SV_CONF = netns.merge_config(NOBODY, {"guard": {"allow": ALLOWED, "enum_threshold": 20}})
ENUM_SLACK = 5           # answers to requests already at the core when the ban came


@pytest.mark.sbc_config(SV_CONF)
def test_sipvicious_svmap_svwar(testnet, sbcd):
    """svmap, svwar and svwar -c against sbcd, each from its own address,
    all at once; the core answers REGISTER 404 for unknown users and 401
    for extension 150 (so svwar, which looks for an answer that differs
    from the one to a random user, would find 150: the allow-listed
    control run from 203.0.113.16 does).

      - svmap (203.0.113.11) and svwar (.12) send User-Agent
        friendly-scanner: banned on the first packet, reason scanner;
        sbcd sends them nothing; svmap finds no device, svwar nothing.
      - svwar -c -t 0.1 (.13, no User-Agent, a slow scan: at most 10
        REGISTERs/s, under rate_register 20, so only its behaviour gives
        it away) is answered until enum_threshold (20) distinct users have
        had a 401/403/404: banned, reason enumeration, after at most
        20 + 5 answers; it finds no extension. (At full speed svwar is
        banned as a REGISTER flood first.)
      - each banned source's clean OPTIONS afterwards get nothing, and
        guard.bans counts them (packets >= 3, at most what it sent);
        guard.stats counts scanner and enumeration sources.
    """
    start_core(testnet, known=[SV_EXT], timeout=90)
    svmap_src, svwar_src, enum_src = PUB_EXTRA[0], PUB_EXTRA[1], PUB_EXTRA[2]
    with testnet.tshark("sbc", "wan", "udp port 5060", name="wan") as cap:
        tools = {
            "svmap": sipvicious(testnet, "svmap", svmap_src, []),
            "svwar": sipvicious(testnet, "svwar", svwar_src,
                                ["-e", "100-199", "--maximumtime", "2"]),
            "svwar-c": sipvicious(testnet, "svwar", enum_src,
                                  ["-c", "-t", "0.1", "-e", "100-199", "--maximumtime", "2"],
                                  name="svwar-c"),
            "control": sipvicious(testnet, "svwar", ALLOWED,
                                  ["-e", "100-199", "--maximumtime", "2"], name="svwar-allowed"),
        }
        out = {k: tool_output(p, 60) for k, p in tools.items()}
        banned = wait_banned(testnet, [svmap_src, svwar_src, enum_src])
        for src in banned:
            assert_silenced(testnet, src)
    t = Traffic(cap.path)
    after = bans(testnet)
    stats = guard(testnet, "guard.stats")

    # the control: without the guard svwar finds the extension
    assert re.search(r"\|\s*%s\s*\|\s*reqauth" % SV_EXT, out["control"]), out["control"]
    assert ALLOWED not in after, after[ALLOWED]

    assert "found nothing" in out["svmap"] and SBC not in out["svmap"], out["svmap"]
    for k in ("svwar", "svwar-c"):
        assert "found nothing" in out[k], "%s:\n%s" % (k, out[k])
        assert not re.search(r"\|\s*%s\s*\|" % SV_EXT, out[k]), "%s found %s" % (k, SV_EXT)

    for src, reason in ((svmap_src, "scanner"), (svwar_src, "scanner"),
                        (enum_src, "enumeration")):
        b = after[src]
        assert b["reason"] == reason, (src, b)
        assert 3 <= b["packets"] <= t.sent[src], (t.describe(src), b)
        assert b["strikes"] == 1 and b["expires"] > b["first_seen"], b
    assert t.answers[svmap_src] == 0, t.describe(svmap_src)
    assert t.answers[svwar_src] == 0, t.describe(svwar_src)
    assert 1 <= t.answers[enum_src] <= 20 + ENUM_SLACK, t.describe(enum_src)
    assert t.sent[enum_src] > t.answers[enum_src], t.describe(enum_src)
    assert stats["reasons"]["scanner"]["sources"] >= 2, stats
    assert stats["reasons"]["enumeration"]["sources"] == 1, stats
    assert stats["bans"] == 3, stats


CRACK_USERS = {"1000": "150", "2000": "150", "3000": "120"}
CRACK_THRESHOLD = 10
CRACK_CONF = netns.merge_config(NOBODY, {
    "auth": {"open": "no", "local": "yes", "realm": REALM,
             # svcrack 0.3.3 computes MD5 only and takes the first challenge
             "algorithms": "md5"},
    "guard": {"allow": ALLOWED, "auth_fail_threshold": CRACK_THRESHOLD}})


@pytest.fixture
def crack_users(testnet):
    return write_users(testnet, CRACK_USERS)


@pytest.mark.sbc_config(CRACK_CONF)
def test_sipvicious_svcrack(testnet, crack_users, sbcd):
    """svcrack against sbcd's own digest ([auth] local = yes, MD5, users
    made with tools/sbc-passwd), each attacker on its own user and address,
    at once; the core accepts their REGISTERs (200), so a right password
    would show (the allow-listed control run from 203.0.113.16 cracks
    user 3000, password 120, its 22nd guess).

      - svcrack (203.0.113.14, User-Agent friendly-scanner) on user 1000:
        banned on the first packet (scanner), nothing sent back, nothing
        found.
      - svcrack -c -t 0.1 (.15, no User-Agent, at most 10 REGISTERs/s:
        under rate_register) on user 2000, whose password 150 is its 52nd
        guess: after auth_fail_threshold (10) failures banned (cracking),
        with at most 10 + 2 403s sent to it; nothing found.
    """
    start_core(testnet, accept=list(CRACK_USERS), timeout=90)
    scan_src, crack_src = PUB_EXTRA[3], PUB_EXTRA[4]
    with testnet.tshark("sbc", "wan", "udp port 5060", name="wan") as cap:
        tools = {
            "svcrack": sipvicious(testnet, "svcrack", scan_src,
                                  ["-u", "1000", "-r", "100-199", "--maximumtime", "2"]),
            "svcrack-c": sipvicious(testnet, "svcrack", crack_src,
                                    ["-c", "-t", "0.1", "-u", "2000", "-r", "100-199",
                                     "--maximumtime", "2"], name="svcrack-c"),
            "control": sipvicious(testnet, "svcrack", ALLOWED,
                                  ["-u", "3000", "-r", "100-199", "--maximumtime", "2"],
                                  name="svcrack-allowed"),
        }
        out = {k: tool_output(p, 60) for k, p in tools.items()}
        banned = wait_banned(testnet, [scan_src, crack_src])
        for src in banned:
            assert_silenced(testnet, src)
    t = Traffic(cap.path)
    after = bans(testnet)
    stats = guard(testnet, "guard.stats")

    assert re.search(r"\|\s*3000\s*\|\s*120\s*\|", out["control"]), out["control"]
    assert ALLOWED not in after, after[ALLOWED]
    for k in ("svcrack", "svcrack-c"):
        assert "found nothing" in out[k] and "The password" not in out[k], \
            "%s:\n%s" % (k, out[k])
    assert after[scan_src]["reason"] == "scanner", after[scan_src]
    assert after[crack_src]["reason"] == "cracking", after[crack_src]
    for src in (scan_src, crack_src):
        assert 3 <= after[src]["packets"] <= t.sent[src], (t.describe(src), after[src])
    assert t.answers[scan_src] == 0, t.describe(scan_src)
    fails = t.statuses[crack_src][403]
    assert 1 <= fails <= CRACK_THRESHOLD + 2, t.describe(crack_src)
    assert t.statuses[crack_src][200] == 0, t.describe(crack_src)
    assert stats["reasons"]["cracking"]["sources"] == 1, stats


# ---------------------------------------------------------------------------
# 2. sipp floods

FLOOD_RATE = 20          # rate_invite = rate_register = rate_options
FLOOD_BOUND = 3 * FLOOD_RATE   # answers before the ban: a second's worth, twice, and slack
FLOOD_CONF = netns.merge_config(NOBODY, {
    "auth": {"open": "no"},
    "guard": {"rate_invite": FLOOD_RATE, "rate_register": FLOOD_RATE,
              "rate_options": FLOOD_RATE, "rate_user": 50}})


def check_flood_bans(net, traffic, sources, reason="flood"):
    after = bans(net)
    for src in sources:
        b = after.get(src)
        assert b is not None, "%s not banned: %s" % (src, traffic.describe(src))
        assert b["reason"] == reason, (src, b)
        assert len(traffic.answered[src]) <= FLOOD_BOUND, traffic.describe(src)
        dropped = traffic.sent[src] - len(traffic.answered[src])
        assert b["packets"] <= traffic.sent[src], (traffic.describe(src), b)
        assert b["packets"] >= dropped - FLOOD_BOUND, (traffic.describe(src), b)
    return after


@pytest.mark.sbc_config(FLOOD_CONF)
def test_flood_one_source_per_class(testnet, sbcd):
    """An INVITE flood (203.0.113.11), a REGISTER flood (.12, one AOR, the
    core answers 404) and an OPTIONS flood to the SBC (.13), 800 requests
    each at 400/s, at once: each source is banned (reason flood) having
    been answered for at most 3 x rate_<class> (60) requests; its ban
    counts the rest as dropped; a clean OPTIONS from it then gets nothing;
    a quiet source (.14) is still served."""
    start_core(testnet, timeout=60)
    srcs = {"INVITE": PUB_EXTRA[0], "REGISTER": PUB_EXTRA[1], "OPTIONS": PUB_EXTRA[2]}
    with testnet.tshark("sbc", "wan", "udp port 5060", name="wan") as cap:
        procs = [flood(testnet, m, s, 800, 400) for m, s in srcs.items()]
        for p in procs:
            r = p.result(timeout=60)
            assert r.stats.get("successful") == 800, r.describe()
        wait_banned(testnet, list(srcs.values()))
    t = Traffic(cap.path)
    for src in srcs.values():
        assert t.sent[src] == 800, t.describe(src)
    check_flood_bans(testnet, t, srcs.values())
    for src in srcs.values():
        assert_silenced(testnet, src)
    assert_served(testnet, PUB_EXTRA[3])
    stats = guard(testnet, "guard.stats")
    assert stats["reasons"]["flood"]["sources"] == 3, stats
    assert reason_packets(stats, "flood") >= 3 * (800 - FLOOD_BOUND), stats


@pytest.mark.sbc_config(FLOOD_CONF)
def test_flood_many_sources(testnet, sbcd):
    """Many sources (addresses 203.0.113.100-119 added to pub):

      - 12 sources flood at once, 4 each with INVITE, REGISTER (the same
        AOR) and OPTIONS, 400 requests at 200/s each: every one banned
        (flood), each answered for at most 60 requests;
      - then 10 other sources each send 30 INVITEs at 10/s (half the
        per-source INVITE rate) to one user, 100/s in all, over
        rate_user (50): none of them is banned, and what sbcd did not
        answer it dropped as user_flood (answered + user_flood drops =
        sent, with some dropped)."""
    start_core(testnet, timeout=90)
    flooders = extra_sources(testnet, 100, 12)
    spread = extra_sources(testnet, 112, 10)
    methods = ["INVITE", "REGISTER", "OPTIONS"]
    with testnet.tshark("sbc", "wan", "udp port 5060", name="wan") as cap:
        procs = [flood(testnet, methods[i % 3], s, 400, 200) for i, s in enumerate(flooders)]
        for p in procs:
            r = p.result(timeout=60)
            assert r.stats.get("successful") == 400, r.describe()
        wait_banned(testnet, flooders)
        before = guard(testnet, "guard.stats")
        procs = [flood(testnet, "INVITE", s, 30, 10, ruri="sip:alice@%s" % SBC,
                       touser="sip:alice@%s" % SBC_WAN, name="spread-%s" % s) for s in spread]
        for p in procs:
            r = p.result(timeout=60)
            assert r.stats.get("successful") == 30, r.describe()
        time.sleep(1.0)        # the last answers on the wire
    t = Traffic(cap.path)
    for src in flooders:
        assert t.sent[src] == 400, t.describe(src)
    after = check_flood_bans(testnet, t, flooders)
    stats = guard(testnet, "guard.stats")
    assert stats["reasons"]["flood"]["sources"] == len(flooders), stats
    sent = sum(t.sent[s] for s in spread)
    answered = sum(len(t.answered[s]) for s in spread)
    dropped = reason_packets(stats, "user_flood") - reason_packets(before, "user_flood")
    assert sent == 300, [t.describe(s) for s in spread]
    assert not [s for s in spread if s in after], "spread sources banned: %s" % [
        after[s] for s in spread if s in after]
    assert dropped > 0, "nothing dropped as user_flood: %s" % [t.describe(s) for s in spread]
    assert answered + dropped == sent, (answered, dropped, sent, stats["reasons"])


# ---------------------------------------------------------------------------
# 3. spoofed sources: memory stays bounded

SPOOF_TABLE = 4096
SPOOF_MAX_BANS = 16              # the schema's minimum
SPOOF_CONF = netns.merge_config(NOBODY, {
    "general": {"log_level": "info"},
    "guard": {"table_size": SPOOF_TABLE, "max_bans": SPOOF_MAX_BANS, "rate_options": 20}})
RSS_MARGIN_KB = 4 * 1024         # idle -> after all floods: tables of 4096 sources and 16 bans
RSS_STEADY_KB = 1024             # between two equal floods once the tables are full


@pytest.mark.sbc_config(SPOOF_CONF)
def test_spoofed_flood_memory_bounded(testnet, sbcd):
    """tools/flood-gen from pub with spoofed sources (198.18.0.0/15, routed
    back to pub from sbcd's namespace), guard table_size 4096, max_bans 16:

      1. 60,000 OPTIONS from 60,000 distinct sources (198.18.0.0/16, one
         packet each), at 20,000/s;
      2. 45,000 OPTIONS cycling over 400 other sources (198.18.240.0/20,
         about 110/s each, over rate_options 20): flood bans, far more
         than 16 over the phase;
      3. as 1 with 60,000 sources never seen before (198.19.0.0/16).

    After each: guard.stats sources <= 4096, bans <= 16 (guard.bans lists
    as many), and the guard saw the packets (passed + blocked rose by at
    least half of what flood-gen sent). After 2 the ban table is full (16)
    and at least 300 sources were counted under flood. VmRSS of sbcd: at
    most 4 MB above idle after everything, and at most 1 MB more after 3
    than after 1 (60,000 more sources: an unbounded table would grow by
    several MB). sbcd still answers a real source afterwards."""
    route_spoofed_back(testnet)
    pid = sbcd.pid
    for _ in range(3):
        assert_served(testnet, PUB_EXTRA[0])
    idle = vm_rss_kb(pid)
    samples = []
    phases = [("distinct-1", ["-s", "198.18.0.0/16", "-n", "60000", "-r", "20000",
                              "-c", "60000", "-t", "20"], 60000),
              ("banned", ["-s", "198.18.240.0/20", "-n", "400", "-r", "15000", "-c", "45000",
                          "-t", "20"], 45000),
              ("distinct-2", ["-s", "198.19.0.0/16", "-n", "60000", "-r", "20000",
                              "-c", "60000", "-t", "20"], 60000)]
    for name, args, count in phases:
        before = guard(testnet, "guard.stats")
        summary = flood_gen(testnet, args)
        sent = int(summary["sent"])      # a sender that fell behind gives the excess up
        assert sent >= 0.9 * count, summary
        time.sleep(0.5)                   # sbcd drains its socket
        stats = guard(testnet, "guard.stats")
        seen = (stats["passed"] + stats["blocked"]) - (before["passed"] + before["blocked"])
        active = guard(testnet, "guard.bans")
        samples.append((name, vm_rss_kb(pid), stats["sources"], stats["bans"], len(active), seen))
        assert stats["sources"] <= SPOOF_TABLE, (name, stats)
        assert stats["bans"] <= SPOOF_MAX_BANS and len(active) == stats["bans"], (name, stats)
        assert seen >= sent // 2, "the guard saw %d of %d packets (%s)" % (seen, sent, name)
        if name == "banned":
            assert stats["bans"] == SPOOF_MAX_BANS, (name, stats)
            assert stats["reasons"]["flood"]["sources"] >= 300, stats
    print("VmRSS idle %d kB; after (phase, kB, sources, bans, listed, seen): %s" % (idle, samples))
    assert samples[-1][1] - idle <= RSS_MARGIN_KB, (idle, samples)
    assert samples[2][1] - samples[0][1] <= RSS_STEADY_KB, (idle, samples)
    assert_served(testnet, PUB_EXTRA[1])


# ---------------------------------------------------------------------------
# 4. calls go on under a flood

PHONE = PUB_EXTRA[0]             # registers through sbcd, then calls from 203.0.113.11:5060
CARRIER = PUB                    # [trunk:carrier] 203.0.113.10
CALLS_EACH = 500
CALLS_RATE = 50
CALLS_CONF = netns.merge_config(NOBODY, {
    "auth": {"open": "no"},
    "trunk:carrier": {"zone": "public", "address": CARRIER},
    "guard": {"capacity_pps": 5000, "trusted_reserve_pct": 30},
    "general": {"log_level": "info"}})


@pytest.mark.sbc_config(CALLS_CONF)
def test_calls_survive_floods(testnet, sbcd):
    """A phone registered through sbcd (203.0.113.11:5060; the core's 200
    makes it trusted) and a public trunk ([trunk:carrier] 203.0.113.10)
    each place 500 calls at 50/s (call_uac.xml to call_uas.xml at the core)
    while an INVITE flood (.12) and an OPTIONS flood (.13) run from real
    addresses (400/s each) and flood-gen sends OPTIONS from spoofed random
    sources at 10,000/s (capacity_pps 5000: 70 % of it for untrusted
    traffic). At least 99.9 % of the 1000 calls succeed (at the callers
    and at the core); the flooders are banned, the spoofed excess is
    dropped under capacity, and neither the phone nor the trunk is
    banned."""
    route_spoofed_back(testnet)
    core = testnet.sipp_bg("priv", ["-sf", sipp_scenario("access_core_uas.xml"), "-m", "1",
                                    "-t", "u1", "-i", PBX, "-p", str(SIP_PORT), "-mi", PBX,
                                    "-timeout", "20s", "-timeout_error"], name="core-register")
    reg = testnet.sipp("pub", ["-sf", sipp_scenario("access_register_uac.xml"), "-s", "alice",
                               "-key", "domain", SBC_WAN, "-key", "expires", "300", "-m", "1",
                               "-t", "u1", "-i", PHONE, "-p", str(SIP_PORT), SBC],
                       timeout=20, name="register")
    assert reg.rc == 0, reg.describe()
    assert core.result(timeout=30).rc == 0

    total = 2 * CALLS_EACH
    duration = CALLS_EACH // CALLS_RATE
    core = testnet.sipp_bg("priv", ["-sf", sipp_scenario("call_uas.xml"), "-m", str(total),
                                    "-t", "u1", "-i", PBX, "-p", str(SIP_PORT), "-mi", PBX,
                                    "-timeout", "%ds" % (duration + 40)], name="core-calls",
                           trace_msg=False)
    floods = [flood(testnet, "INVITE", PUB_EXTRA[1], 400 * (duration + 4), 400),
              flood(testnet, "OPTIONS", PUB_EXTRA[2], 400 * (duration + 4), 400)]
    spoof = testnet.popen("pub", [flood_gen_path(), "--dst", SBC, "-r", "10000",
                                  "-t", str(duration + 4)], name="flood-gen")
    callers = []
    for src, name in ((PHONE, "phone"), (CARRIER, "trunk")):
        callers.append(testnet.sipp_bg("pub", [
            "-sf", sipp_scenario("call_uac.xml"), "-s", "alice", "-key", "dest", SBC,
            "-m", str(CALLS_EACH), "-r", str(CALLS_RATE), "-t", "u1", "-i", src,
            "-p", str(SIP_PORT), "-mi", src, "-timeout", "%ds" % (duration + 30), SBC],
            name="calls-" + name, trace_msg=False))
    results = [c.result(timeout=duration + 60) for c in callers]
    core_res = core.result(timeout=60)
    for f in floods:
        r = f.result(timeout=60)
        assert r.stats.get("successful", 0) >= 400 * duration, r.describe()
    spoof.wait(60)
    summary = dict(kv.split("=", 1) for kv in spoof.output().split() if "=" in kv)
    assert int(summary.get("sent", 0)) >= 0.9 * 10000 * duration, spoof.output()
    ok = sum(r.stats.get("successful", 0) for r in results)
    assert ok >= 0.999 * total, "%d of %d calls succeeded:\n%s" % (
        ok, total, "\n".join(r.describe() for r in results))
    assert core_res.stats.get("successful", 0) >= 0.999 * total, core_res.describe()
    after = bans(testnet)
    assert PHONE not in after and CARRIER not in after, after
    assert PUB_EXTRA[1] in after and PUB_EXTRA[2] in after, after
    assert after[PUB_EXTRA[1]]["reason"] == "flood" and after[PUB_EXTRA[2]]["reason"] == "flood"
    stats = guard(testnet, "guard.stats")
    assert reason_packets(stats, "capacity") > 0, stats
    print("calls %d of %d; guard.stats blocked %d passed %d reasons %s" % (
        ok, total, stats["blocked"], stats["passed"],
        {k: v for k, v in stats["reasons"].items() if v["packets"]}))


# ---------------------------------------------------------------------------
# 5. allow list, expiry, unban, restart, counters

@pytest.mark.sbc_config(netns.merge_config(NOBODY, {
    "auth": {"open": "no"}, "guard": {"allow": "%s/32" % ALLOWED}}))
def test_allow_listed_never_banned(testnet, sbcd):
    """allow = 203.0.113.16/32: that source sends OPTIONS and INVITEs with
    User-Agent friendly-scanner, 1000 OPTIONS at 500/s and 400 INVITEs at
    200/s (25 and 10 times rate_options and rate_invite): every request is
    answered (200, 403), it is never in guard.bans nor in guard.top, and
    nothing is counted as blocked. The same scanner OPTIONS from
    203.0.113.17 (not allow-listed) is dropped and banned (scanner)."""
    other = PUB_EXTRA[6]
    with testnet.tshark("sbc", "wan", "udp port 5060", name="wan") as cap:
        assert probe(testnet, ALLOWED, ua="friendly-scanner") == ["SIP/2.0 200 OK"]
        procs = [flood(testnet, "OPTIONS", ALLOWED, 1000, 500, ua="friendly-scanner"),
                 flood(testnet, "INVITE", ALLOWED, 400, 200, ua="friendly-scanner", port=5064)]
        for p in procs:
            r = p.result(timeout=60)
            assert r.stats.get("successful") in (1000, 400), r.describe()
        assert probe(testnet, other, ua="friendly-scanner") == []
        wait_banned(testnet, [other])
        assert probe(testnet, ALLOWED, ua="friendly-scanner") == ["SIP/2.0 200 OK"]
        time.sleep(1.0)        # the last answers on the wire
    t = Traffic(cap.path)
    assert t.sent[ALLOWED] == 1 + 1000 + 400 + 1, t.describe(ALLOWED)
    assert len(t.answered[ALLOWED]) == t.sent[ALLOWED], t.describe(ALLOWED)
    assert bans(testnet)[other]["reason"] == "scanner"
    assert ALLOWED not in bans(testnet)
    top = guard(testnet, "guard.top", {"n": 100})
    assert ALLOWED not in [e["source"] for e in top], top
    stats = guard(testnet, "guard.stats")
    assert stats["blocked"] == reason_packets(stats, "scanner") == 1, stats


@pytest.mark.sbc_config(netns.merge_config(NOBODY, {"guard": {"ban_time_s": 2}}))
def test_ban_expires(testnet, sbcd):
    """ban_time_s = 2: a scanner OPTIONS bans 203.0.113.11 (strikes 1, for
    about 2 s by its expires); its clean OPTIONS get nothing; within 15 s
    the ban is gone from guard.bans and the source is answered again. A
    second scanner packet bans it again with strikes 2 and a longer ban
    (doubled)."""
    src = PUB_EXTRA[0]
    assert probe(testnet, src, ua="friendly-scanner") == []
    b1 = wait_banned(testnet, [src])[src]
    assert b1["reason"] == "scanner" and b1["strikes"] == 1, b1
    assert 1 <= b1["expires"] - b1["last_seen"] <= 3, b1
    assert_silenced(testnet, src, count=1)
    deadline = time.monotonic() + 15
    while src in bans(testnet):
        assert time.monotonic() < deadline, "the 2 s ban still listed after 15 s: %s" % bans(
            testnet)
        time.sleep(0.2)
    assert_served(testnet, src)
    assert probe(testnet, src, ua="friendly-scanner") == []
    b2 = wait_banned(testnet, [src])[src]
    assert b2["strikes"] == 2 and b2["reason"] == "scanner", b2
    assert b2["expires"] - b2["last_seen"] >= 3, "the second ban is not longer: %s" % b2


@pytest.mark.sbc_config(NOBODY)
def test_unban(testnet, sbcd):
    """A scanner-banned source (203.0.113.11) is unbanned with guard.unban
    {"source": ...}: ok, it is gone from guard.bans and its OPTIONS are
    answered again; a second unban of it is refused ({"ok": false} with a
    message: not banned). Another banned source (.12) stays banned."""
    a, b = PUB_EXTRA[0], PUB_EXTRA[1]
    for s in (a, b):
        assert probe(testnet, s, ua="friendly-scanner") == []
    wait_banned(testnet, [a, b])
    assert_silenced(testnet, a, count=1)
    resp = ctl(testnet, "guard.unban", {"source": a})
    assert resp.get("ok") is True, resp
    assert a not in bans(testnet) and b in bans(testnet)
    assert_served(testnet, a)
    assert_silenced(testnet, b, count=1)
    again = ctl(testnet, "guard.unban", {"source": a})
    assert again.get("ok") is False and isinstance(again.get("error"), str) and again["error"], \
        again


@pytest.mark.sbc_config(NOBODY)
def test_banned_source_tcp_refused(testnet, sbcd):
    """A banned source's TCP connections are reset as they are accepted:
    none stays open to hold a slot (counted in stats sip.policed_conns and
    as blocked packets of its ban's reason); a source that is not banned
    opens the same connections and its OPTIONS are answered."""
    a, b = PUB_EXTRA[0], PUB_EXTRA[1]
    assert probe(testnet, a, ua="friendly-scanner") == []
    wait_banned(testnet, [a])
    scanner = guard(testnet, "guard.stats")["reasons"]["scanner"]["packets"]
    # keep=0: siptool waits until sbcd has closed (reset) every one of them
    r = testnet.tcp_burst("pub", SBC_WAN, 5060, a, count=3, keep=0, src2=b, count2=2,
                          timeout=10)
    # reset at once: while connecting or right after, never left open
    resets = [e for e in r["connect_errors"] if "reset" in e.lower()]
    assert r["open"] == 0 and r["closed"] + len(resets) == 3, r
    assert r["src2"]["open"] == 2 and r["src2"]["answers"] == ["SIP/2.0 200 OK"] * 2, r
    assert ctl(testnet, "stats")["result"]["sip"]["policed_conns"] == 3
    assert guard(testnet, "guard.stats")["reasons"]["scanner"]["packets"] == scanner + 3


def nft_set(net):
    """The addresses in sbcd's kernel ban set (sbc namespace), or None without the table."""
    r = net.run("sbc", [netns.NFT, "list", "set", "inet", "sbc_guard", "ban4"], timeout=10)
    if r.returncode != 0:
        return None
    m = re.search(r"elements = \{([^}]*)\}", r.stdout)
    return set(re.findall(r"(\d+\.\d+\.\d+\.\d+)", m.group(1))) if m else set()


def nft_dropped(net):
    """Packets the kernel rule dropped from banned IPv4 sources."""
    r = net.run("sbc", [netns.NFT, "list", "chain", "inet", "sbc_guard", "input"], timeout=10,
                check=True)
    m = re.search(r"ip saddr @ban4 counter packets (\d+)", r.stdout)
    assert m, r.stdout
    return int(m.group(1))


def wait_nft(net, pred, what, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        cur = nft_set(net)
        if pred(cur):
            return cur
        if time.monotonic() >= deadline:
            pytest.fail("kernel ban set: %s not reached within %s s: %s" % (what, timeout, cur),
                        pytrace=False)
        time.sleep(0.2)


@pytest.mark.skipif(netns.NFT is None, reason="nft is not installed")
@pytest.mark.sbc_config(netns.merge_config(NOBODY, {"guard": {"kernel_drop": "nftables"}}))
def test_kernel_drop_nftables(testnet, sbcd):
    """[guard] kernel_drop = nftables: a ban goes into sbcd's own table
    (inet sbc_guard, set ban4) in its namespace; the banned source's packets
    are then dropped by the kernel (the rule's counter rises, the guard's
    count of them does not); unban takes it out of the set and the source
    is served; at shutdown sbcd removes its table."""
    src, other = PUB_EXTRA[0], PUB_EXTRA[1]
    assert nft_set(testnet) == set(), "the table is made at start, empty"
    assert probe(testnet, src, ua="friendly-scanner") == []
    wait_banned(testnet, [src])
    wait_nft(testnet, lambda cur: cur is not None and src in cur, "%s in the set" % src)
    before_guard = bans(testnet)[src]["packets"]
    before_kernel = nft_dropped(testnet)
    assert_silenced(testnet, src, count=3)
    assert nft_dropped(testnet) >= before_kernel + 3
    assert bans(testnet)[src]["packets"] == before_guard, "the kernel dropped them, not sbcd"
    assert_served(testnet, other)
    resp = ctl(testnet, "guard.unban", {"source": src})
    assert resp.get("ok") is True, resp
    wait_nft(testnet, lambda cur: cur is not None and src not in cur, "%s out of the set" % src)
    assert_served(testnet, src)
    assert testnet.stop_sbcd() == 0
    assert nft_set(testnet) is None, "sbcd left its nftables table behind"


@pytest.mark.sbc_config(NOBODY)
def test_unban_bad_requests(testnet, sbcd):
    """guard.unban without a source, with a source that is no address, with
    a number, with an address and a port, and with no args at all: each
    {"ok": false, "error": "<a message>"}; sbcd goes on (a banned source
    stays banned, guard.stats answers)."""
    src = PUB_EXTRA[0]
    assert probe(testnet, src, ua="friendly-scanner") == []
    wait_banned(testnet, [src])
    for args in ({}, {"source": "not-an-address"}, {"source": "203.0.113.300"},
                 {"source": 203}, {"source": ""}, {"source": "%s:5060" % src},
                 {"address": src}, None):
        resp = ctl(testnet, "guard.unban", args)
        assert resp.get("ok") is False, (args, resp)
        assert isinstance(resp.get("error"), str) and resp["error"].strip(), (args, resp)
    assert src in bans(testnet)
    assert guard(testnet, "guard.stats")["bans"] == 1


@pytest.mark.sbc_config(netns.merge_config(NOBODY, {"auth": {"open": "no"},
                                                     "guard": {"rate_options": FLOOD_RATE}}))
def test_bans_survive_restart(testnet, sbc_config, sbcd):
    """Bans of 203.0.113.11 (scanner) and .12 (flood) are written to
    <data_dir>/bans.json; after sbcd stops (exit 0) and starts again with
    the same data_dir, guard.bans lists both with the same reason, strikes
    and expiry (to the second), and their clean OPTIONS still get nothing,
    while .13 is served."""
    scan, flooder = PUB_EXTRA[0], PUB_EXTRA[1]
    assert probe(testnet, scan, ua="friendly-scanner") == []
    r = flood(testnet, "OPTIONS", flooder, 200, 200).result(timeout=30)
    assert r.rc == 0, r.describe()
    first = wait_banned(testnet, [scan, flooder])
    rc = testnet.stop_sbcd()
    assert rc == 0, "sbcd exited with %d:\n%s" % (rc, testnet.sbcd_log()[-3000:])
    path = os.path.join(testnet.tmpdir, "data", "bans.json")
    assert os.path.exists(path), "no bans.json in data_dir: %s" % os.listdir(
        os.path.dirname(path))
    with open(path) as f:
        text = f.read()
    assert scan in text and flooder in text, text
    testnet.start_sbcd(sbc_config)
    again = bans(testnet)
    for s in (scan, flooder):
        assert s in again, "the ban of %s did not survive the restart: %s" % (s, again)
        for k in ("reason", "strikes"):
            assert again[s][k] == first[s][k], (k, first[s], again[s])
        # the same end (whole seconds: a stored millisecond end may round either way)
        assert abs(again[s]["expires"] - first[s]["expires"]) <= 1, (first[s], again[s])
        assert_silenced(testnet, s, count=1)
    assert_served(testnet, PUB_EXTRA[2])


@pytest.mark.sbc_config(netns.merge_config(NOBODY, {"auth": {"open": "no"},
                                                     "guard": {"rate_options": FLOOD_RATE}}))
def test_counters_top_timeline(testnet, sbcd):
    """Blocked packets under the right reason in every view: 50 OPTIONS
    with User-Agent friendly-scanner from 203.0.113.11 (all dropped:
    scanner) and an OPTIONS flood of 600 at 300/s from .12 (banned: flood;
    what was not answered was dropped).

      - guard.stats: scanner packets 50, sources 1; flood (+ rate) packets =
        the flood's unanswered requests, flood sources 1; blocked = the sum
        of the reasons; passed >= the answered requests.
      - guard.top {"n": 10}: .11 with 50 packets, reason scanner, banned;
        .12 with its dropped count, reason flood, banned; most first.
      - guard.timeline {"scale": "second"} (step 1, 600 slots) and
        {"scale": "minute"} (step 60, 1440 slots): the scanner counts add
        up to 50 and the flood ones to the flood's drops; end is near now.
    """
    scan, flooder = PUB_EXTRA[0], PUB_EXTRA[1]
    before = guard(testnet, "guard.stats")
    with testnet.tshark("sbc", "wan", "udp port 5060", name="wan") as cap:
        assert probe(testnet, scan, ua="friendly-scanner", count=50) == []
        r = flood(testnet, "OPTIONS", flooder, 600, 300).result(timeout=30)
        assert r.rc == 0, r.describe()
        wait_banned(testnet, [scan, flooder])
        time.sleep(0.5)
    t = Traffic(cap.path)
    assert t.sent[scan] == 50 and t.answers[scan] == 0, t.describe(scan)
    assert t.sent[flooder] == 600, t.describe(flooder)
    flood_dropped = 600 - len(t.answered[flooder])
    assert 600 - FLOOD_BOUND <= flood_dropped < 600, t.describe(flooder)

    stats = guard(testnet, "guard.stats")
    assert reason_packets(stats, "scanner") == 50, stats
    assert stats["reasons"]["scanner"]["sources"] == 1, stats
    assert reason_packets(stats, "flood") + reason_packets(stats, "rate") == flood_dropped, stats
    assert stats["reasons"]["flood"]["sources"] == 1, stats
    assert stats["blocked"] == sum(v["packets"] for v in stats["reasons"].values()), stats
    assert stats["blocked"] - before["blocked"] == 50 + flood_dropped, (before, stats)
    assert stats["passed"] - before["passed"] >= len(t.answered[flooder]), (before, stats)
    assert stats["bans"] == 2 and stats["enabled"] is True, stats

    top = guard(testnet, "guard.top", {"n": 10})
    by = {e["source"]: e for e in top}
    assert by[scan]["packets"] == 50 and by[scan]["reason"] == "scanner" and by[scan]["banned"]
    assert by[flooder]["packets"] == flood_dropped and by[flooder]["reason"] == "flood", by
    assert by[flooder]["banned"] is True, by
    assert [e["packets"] for e in top] == sorted((e["packets"] for e in top), reverse=True), top
    assert top[0]["source"] == flooder, top

    now = time.time()
    for scale, step, slots in (("second", 1, 600), ("minute", 60, 1440)):
        tl = guard(testnet, "guard.timeline", {"scale": scale})
        assert tl["scale"] == scale and tl["step"] == step, tl.keys()
        assert abs(tl["end"] - now) <= 2 * step + 5, (scale, tl["end"], now)
        series = tl["reasons"]
        assert all(len(v) == slots for v in series.values()), {k: len(v) for k, v in
                                                               series.items()}
        assert sum(series["scanner"]) == 50, (scale, [x for x in series["scanner"] if x])
        assert sum(series["flood"]) + sum(series.get("rate", [])) == flood_dropped, scale


# ---------------------------------------------------------------------------
# the fake core (this file run as a script in priv: start_core)

def core_main(argv):
    """A fake core over UDP until --timeout. REGISTER: 200 when the To user
    is in --accept, 401 (a Digest challenge) when in --known, else 404;
    INVITE: 486; ACK: nothing; anything else: 200. One line per request on
    stdout: METHOD USER STATUS."""
    p = argparse.ArgumentParser(prog="test_guard.py core")
    p.add_argument("--bind", required=True)
    p.add_argument("--known", default="")
    p.add_argument("--accept", default="")
    p.add_argument("--timeout", type=float, default=60)
    a = p.parse_args(argv)
    host, _, port = a.bind.rpartition(":")
    known = {x for x in a.known.split(",") if x}
    accept = {x for x in a.accept.split(",") if x}
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((host, int(port)))
    compact = {"v": "via", "f": "from", "t": "to", "i": "call-id", "m": "contact"}
    end = time.monotonic() + a.timeout
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return 0
        s.settimeout(left)
        try:
            data, peer = s.recvfrom(65535)
        except socket.timeout:
            return 0
        head = data.decode("latin-1").split("\r\n\r\n", 1)[0].split("\r\n")
        first = head[0].split()
        if len(first) < 3 or first[0].startswith("SIP/"):
            continue
        method = first[0]
        hdrs = []
        for line in head[1:]:
            n, _, v = line.partition(":")
            n = n.strip().lower()
            hdrs.append((compact.get(n, n), v.strip()))

        def get(name):
            return [v for k, v in hdrs if k == name]

        to = (get("to") or [""])[0]
        m = re.search(r"sips?:([^@;>]+)@", to)
        user = m.group(1) if m else "-"
        if method == "ACK":
            continue
        extra = []
        if method == "REGISTER" and user in accept:
            code = (200, "OK")
            extra = ["Contact: %s;expires=60" % c for c in get("contact")]
        elif method == "REGISTER":
            code = (401, "Unauthorized") if user in known else (404, "Not Found")
        elif method == "INVITE":
            code = (486, "Busy Here")
        else:
            code = (200, "OK")
        out = ["SIP/2.0 %d %s" % code]
        out += ["Via: %s" % v for v in get("via")]
        out += ["From: %s" % v for v in get("from")]
        out += ["To: %s;tag=core%s" % (to, secrets.token_hex(4))]
        out += ["Call-ID: %s" % v for v in get("call-id")]
        out += ["CSeq: %s" % v for v in get("cseq")]
        out += extra
        if code[0] == 401:
            out.append('WWW-Authenticate: Digest realm="core.test", nonce="%s", '
                       'algorithm=MD5, qop="auth"' % secrets.token_hex(16))
        out.append("Content-Length: 0")
        s.sendto(("\r\n".join(out) + "\r\n\r\n").encode("latin-1"), peer)
        print("%s %s %d" % (method, user, code[0]), flush=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "core":
        sys.exit(core_main(sys.argv[2:]))
    sys.exit("usage: test_guard.py core --bind IP:PORT [--known U,..] [--accept U,..]")
