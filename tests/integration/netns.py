"""netns: the test network of DESIGN.md ("Test network"), for integration tests.

Three network namespaces joined by two veth pairs, with a unique suffix per
TestNet so that runs (and several TestNets in one run) never collide:

    sbc-pub-SFX                 sbc-sbc-SFX                  sbc-priv-SFX
    phones, attackers           sbcd under test              PBX (core)
    eth0 ------------------------ wan      lan ------------------------ eth0
    203.0.113.10/24             203.0.113.1/24  10.20.0.1/24   10.20.0.10/24
    + .11 .. .19 (more sources)                                + 10.20.0.11

There are no routes between pub and priv, and forwarding is off in every
namespace (the SBC is a B2BUA, not a router). IPv6 is off unless asked for.

Opt-in, a NAT in front of phones (issue 5): TestNet.add_nat() adds the
namespace sbc-nat-SFX, whose "wan" (a macvlan on pub's eth0, so on the
public segment) has 203.0.113.50/24 and whose "lan" has the phones'
private addresses 192.168.50.10-19/24; nftables masquerades what the phones
send out of wan (a new random port per flow) and drops what arrives on wan
without a conntrack entry (a pinhole). Phones run inside sbc-nat-SFX, bound
to their private address:

    sbc-nat-SFX   lan  192.168.50.10-19/24   the phones bind these
                  wan  203.0.113.50/24       macvlan of pub's eth0: on the segment
                                             pub eth0 <-> sbc wan (203.0.113.1)

    with TestNet(tmpdir) as net:
        cfg = net.write_config(overrides={"guard": {"rate_packets": "50"}})
        net.start_sbcd(cfg)
        with net.tshark("sbc", "wan", "udp port 5060") as cap:
            rc, stats = net.sipp("pub", ["-sf", sipp_scenario("options_uac.xml"),
                                         "-m", "1", "203.0.113.1:5060"])
        msgs = read_sip(cap.path)

Clean-up guarantees: close() (the with block, the pytest fixture) kills every
process started here and every other process still inside the namespaces,
deletes the namespaces (which deletes their veths) and restores any global
sysctl that was changed. The same runs from atexit and from SIGTERM/SIGHUP
handlers. A run killed with SIGKILL leaves namespaces behind; the next
TestNet sweeps those whose owning process (its pid is in the suffix) is gone.

Python 3.11 (Debian 12) has no os.setns: everything in a namespace runs as a
child process through `ip netns exec`.
"""
import atexit
import configparser
import contextlib
import dataclasses
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SIPP_DIR = os.path.join(HERE, "sipp")
SIPTOOL = os.path.join(HERE, "siptool.py")
PYTHON = "/usr/bin/python3"
SIPP = "/usr/bin/sipp"
TSHARK = "/usr/bin/tshark"
# captures run dumpcap itself: tshark -w only starts it, after loading every
# dissector (0.3-0.8 s per capture here, dumpcap alone 0.02-0.05 s)
DUMPCAP = "/usr/bin/dumpcap"
IP = shutil.which("ip", path="/usr/sbin:/usr/bin:/sbin:/bin") or "ip"
SS = shutil.which("ss", path="/usr/sbin:/usr/bin:/sbin:/bin") or "ss"
NETNS_DIR = "/run/netns"

ROLES = ("pub", "sbc", "priv")

# The addresses of DESIGN.md's test network.
PUB_NET = "203.0.113.0/24"
PRIV_NET = "10.20.0.0/24"
SBC_WAN = "203.0.113.1"           # sbc, interface wan (the public zone)
PUB = "203.0.113.10"              # pub's first address: a phone
PUB_EXTRA = tuple("203.0.113.%d" % i for i in range(11, 20))   # more sources
SBC_LAN = "10.20.0.1"             # sbc, interface lan (the private zone)
PBX = "10.20.0.10"                # priv: the PBX (the [core])
PRIV2 = "10.20.0.11"              # priv: a second private host
IFACES = {"pub": ("eth0",), "sbc": ("wan", "lan"), "priv": ("eth0",)}
ADDRESSES = {
    "pub": {"eth0": [PUB + "/24"] + [a + "/24" for a in PUB_EXTRA]},
    "sbc": {"wan": [SBC_WAN + "/24"], "lan": [SBC_LAN + "/24"]},
    "priv": {"eth0": [PBX + "/24", PRIV2 + "/24"]},
}

# The NAT in front of phones (TestNet.add_nat; issue 5): namespace sbc-nat-SFX
# (role "nat"; more NATs: "nat2", "nat3"...). Its outside address is on the
# public segment, unused by the rest of the network; the LAN behind it is an
# RFC 1918 subnet that is NOT the SBC's private zone (10.20.0.0/24), so a
# phone's private Contact can never be confused with the core's side.
NAT_ROLE = "nat"
NAT_OUT = "203.0.113.50"          # the NAT's public address (wan)
NAT_OUT_EXTRA = tuple("203.0.113.%d" % i for i in range(51, 60))   # for nat2, nat3...
NAT_NET = "192.168.50.0/24"       # the phones' LAN (lan)
NAT_PHONES = tuple("192.168.50.%d" % i for i in range(10, 20))     # phones' addresses
NAT_ROLE_RE = re.compile(r"^nat[0-9]*$")
NFT = shutil.which("nft", path="/usr/sbin:/usr/bin:/sbin:/bin")

# Names: sbc-ROLE-SUFFIX; SUFFIX is the owner's pid (6 hex digits) and 4 random
# hex digits. Veths made in the root namespace (veth_mode="rename") are named
# sv SUFFIX [a-d] (13 characters: interface names have at most 15).
NS_RE = re.compile(r"^sbc-(pub|sbc|priv|nat[0-9]*)-([0-9a-f]{6})([0-9a-f]{4})$")
VETH_RE = re.compile(r"^sv([0-9a-f]{6})([0-9a-f]{4})[a-d]$")
RUNDIR_PREFIX = "sbcnet-"
RUNDIR_RE = re.compile(r"^sbcnet-([0-9a-f]{6})([0-9a-f]{4})-")

# The capture sees a packet once its TPACKET_V3 block is retired: dumpcap asks
# for a 250 ms timeout, so a capture is stopped only after this grace.
TSHARK_SETTLE = 0.6
# A stop asked for within this of another capture's stop (of the same TestNet)
# returning is the same stop (nested `with` blocks left together): see Capture.stop.
TSHARK_CHAIN = 0.02

SANITIZER_RE = re.compile(r"(?:ERROR|WARNING|SUMMARY): (?:Address|Leak|Thread|Memory|UndefinedBehavior)"
                          r"Sanitizer|runtime error: ")


class NetError(RuntimeError):
    """A command of the harness failed; the message says which and why."""


class SbcdError(NetError):
    """sbcd did not start, did not become ready, or exited badly."""


class SippError(NetError):
    """sipp could not be run or did not end within its bound."""


def sbcd_binary():
    """$SBC_BUILD/sbcd (SBC_BUILD defaults to <repo>/build)."""
    return os.path.join(os.environ.get("SBC_BUILD") or os.path.join(REPO, "build"), "sbcd")


def sipp_scenario(name):
    """Path of a scenario file under tests/integration/sipp/."""
    return os.path.join(SIPP_DIR, name)


def wait_for(pred, timeout=10.0, what="", interval=0.1):
    """pred()'s value once it is truthy; AssertionError after timeout
    seconds (bounded), naming what and the last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        assert time.monotonic() < deadline, \
            "timed out after %s s waiting for %s (last: %r)" % (timeout, what, v)
        time.sleep(interval)


def proc_children():
    """{ppid: [pid, ...]} of every process now, read from /proc."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(d))
    return children


def sanitizer_report(text):
    """The first ASan/LSan/UBSan report line in text, or None."""
    m = SANITIZER_RE.search(text)
    if not m:
        return None
    start = text.rfind("\n", 0, m.start()) + 1
    end = text.find("\n", m.end())
    return text[start:end if end >= 0 else len(text)]


def nat_available():
    """(True, "") when a NAT namespace can be made (nft is installed), else
    (False, why)."""
    if not NFT:
        return False, ("nft is not installed (Debian package nftables): the NAT namespace "
                       "needs it")
    return True, ""


@dataclasses.dataclass
class Nat:
    """A NAT namespace made by TestNet.add_nat()."""
    role: str              # "nat", "nat2"...: pass it as ns to run/popen/sipp
    ns: str                # full namespace name, sbc-nat-SFX
    outside: str           # its public address (interface wan)
    net: str               # the phones' subnet (interface lan)
    phones: tuple          # the phones' addresses on lan, first one first
    masquerade: str        # the nft statement used ("masquerade random")

    @property
    def phone(self):
        """The first phone address (the lan interface's first address: the
        one a baresip's RTP leaves from)."""
        return self.phones[0]


def netns_available():
    """(True, "") when this process can make namespaces, else (False, why)."""
    if os.geteuid() != 0:
        return False, "network namespaces need root (euid is %d)" % os.geteuid()
    if not shutil.which(IP):
        return False, "iproute2's ip is not installed"
    r = subprocess.run([IP, "netns", "list"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True)
    if r.returncode != 0:
        return False, "ip netns list failed: %s" % r.stderr.strip()
    return True, ""


# ---------------------------------------------------------------------------
# processes

def _run(argv, timeout=60, input=None, check=False, env=None, cwd=None):
    """Run argv to completion in its own process group; kill the group on timeout."""
    with subprocess.Popen(argv, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          errors="replace", start_new_session=True, env=env, cwd=cwd) as p:
        try:
            out, err = p.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            _killpg(p.pid, signal.SIGKILL)
            p.communicate()
            raise NetError("%s: still running after %s s, killed" % (shlex.join(argv), timeout))
    cp = subprocess.CompletedProcess(argv, p.returncode, out, err)
    if check and cp.returncode != 0:
        raise NetError("%s: exit status %d: %s" % (shlex.join(argv), cp.returncode,
                                                  (err or out).strip()))
    return cp


def _killpg(pgid, sig):
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def log_tail(path, lines=40):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


class NetProc:
    """A background process in a namespace, with its output in files.

    It leads its own process group (so that a stop reaches its children);
    `ip netns exec` execs the command, so pid is the command's own pid.
    """

    def __init__(self, name, ns, argv, popen, out_path, err_path):
        self.name = name
        self.ns = ns
        self.argv = argv
        self.popen = popen
        self.out_path = out_path
        self.err_path = err_path
        self._reaped_elsewhere = False

    @property
    def pid(self):
        return self.popen.pid

    @property
    def returncode(self):
        return self.popen.returncode

    def poll(self):
        return self.popen.poll()

    def running(self):
        return self.popen.poll() is None

    def wait(self, timeout):
        """Exit status; NetError if still running after timeout seconds."""
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            raise NetError("%s (pid %d) still running after %s s" % (self.name, self.pid, timeout))

    def send_signal(self, sig):
        """Send sig to the process group."""
        if self.popen.poll() is None:
            _killpg(self.popen.pid, sig)

    def _exited(self, timeout):
        """Wait up to timeout for the process to exit WITHOUT reaping it: while
        it is an unreaped zombie its pid, and so its process group id, cannot
        be reused, so signalling the group stays safe."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if os.waitid(os.P_PID, self.popen.pid,
                             os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                    return True
            except ChildProcessError:       # reaped elsewhere: the group id may be reused
                self._reaped_elsewhere = True
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)

    def stop(self, sig=signal.SIGTERM, timeout=5.0):
        """Send sig to the group, wait up to timeout, then SIGKILL; then
        SIGKILL what is left of the group (e.g. dumpcap under tshark).
        Returns the exit status (negative: killed by that signal)."""
        if self.popen.returncode is None:
            if not self._exited(0):
                _killpg(self.popen.pid, sig)
                if not self._exited(timeout):
                    _killpg(self.popen.pid, signal.SIGKILL)
                    self._exited(5)
            if not self._reaped_elsewhere:      # not reaped yet: the group id is ours
                _killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(5)
        return self.popen.returncode

    def output(self):
        with open(self.out_path, errors="replace") as f:
            return f.read()

    def errors(self):
        if self.err_path == self.out_path:
            return self.output()
        with open(self.err_path, errors="replace") as f:
            return f.read()

    def __repr__(self):
        return "<NetProc %s pid %d in %s>" % (self.name, self.pid, self.ns or "root")


# ---------------------------------------------------------------------------
# sipp results

@dataclasses.dataclass
class SippResult:
    """What a sipp run ended with. Unpacks as (rc, stats).

    rc (sipp's exit status): 0 every call succeeded; 1 at least one call
    failed; 97 exit on an internal command (calls may have been processed);
    99 normal exit without any call processed; 255 (-1) fatal error; 254 (-2)
    fatal error binding a socket.

    stats: the cumulative counters of the last line of sipp's -trace_stat
    file: "successful", "failed", "created", "retransmissions",
    "failed_max_udp_retrans", "failed_unexpected", "failed_recv_timeout",
    "out_of_call", "dead_call", "auto_answered", "fatal_errors", and "raw":
    every column by its CSV name. Empty if sipp wrote no statistics.
    counts: per-message counters of -trace_counts (e.g. "0_OPTIONS_Sent",
    "0_OPTIONS_Retrans", "2_200_Recv").
    """
    rc: int
    stats: dict
    counts: dict
    dir: str
    argv: list

    def __iter__(self):
        return iter((self.rc, self.stats))

    def file(self, name):
        return os.path.join(self.dir, name)

    def errors(self):
        """sipp's error log (unexpected messages, fatal errors) and stderr."""
        parts = []
        for name in ("errors.log", "stderr.log"):
            try:
                with open(self.file(name), errors="replace") as f:
                    parts.append(f.read())
            except OSError:
                pass
        return "".join(parts)

    def describe(self):
        """One paragraph for assertion messages."""
        return ("sipp rc %d, %s successful, %s failed, %s retransmissions; files in %s\n%s"
                % (self.rc, self.stats.get("successful"), self.stats.get("failed"),
                   self.stats.get("retransmissions"), self.dir, self.errors()[-2000:]))


_STAT_NAMES = {
    "successful": "SuccessfulCall(C)",
    "failed": "FailedCall(C)",
    "created": "TotalCallCreated",
    "retransmissions": "Retransmissions(C)",
    "failed_max_udp_retrans": "FailedMaxUDPRetrans(C)",
    "failed_unexpected": "FailedUnexpectedMessage(C)",
    "failed_recv_timeout": "FailedTimeoutOnRecv(C)",
    "out_of_call": "OutOfCallMsgs(C)",
    "dead_call": "DeadCallMsgs(C)",
    "auto_answered": "AutoAnswered(C)",
    "fatal_errors": "FatalErrors(C)",
}


def _last_csv_row(path):
    try:
        with open(path, errors="replace") as f:
            lines = [ln.rstrip("\n") for ln in f if ln.strip()]
    except OSError:
        return {}
    if len(lines) < 2:
        return {}
    head = lines[0].rstrip(";").split(";")
    row = lines[-1].rstrip(";").split(";")
    return dict(zip(head, row))


def _intish(v):
    try:
        return int(v)
    except (TypeError, ValueError):
        return v


def parse_sipp_stats(path):
    """The friendly counters (see SippResult) from a sipp -trace_stat file."""
    raw = _last_csv_row(path)
    if not raw:
        return {}
    stats = {k: _intish(raw.get(col)) for k, col in _STAT_NAMES.items()}
    stats["raw"] = raw
    return stats


def parse_sipp_counts(path):
    raw = _last_csv_row(path) if path else {}
    return {k: _intish(v) for k, v in raw.items() if k not in ("CurrentTime", "ElapsedTime")}


def _sipp_bound(args):
    return "-m" in args or "-timeout" in args


def _opt(args, name):
    """Value following option name in an argument list, or None."""
    try:
        return args[args.index(name) + 1]
    except (ValueError, IndexError):
        return None


class SippProc(NetProc):
    """A sipp running in the background (sipp_bg); result() waits and parses."""

    def result(self, timeout=30.0):
        """Wait for sipp to end by itself (its -m or -timeout); SippResult."""
        try:
            rc = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop(signal.SIGKILL)
            raise SippError("%s still running after %s s, killed; files in %s"
                            % (self.name, timeout, self.dir))
        return _sipp_result(rc, self.dir, self.argv)


def _sipp_result(rc, d, argv):
    counts = [os.path.join(d, f) for f in os.listdir(d) if f.endswith("_counts.csv")]
    return SippResult(rc=rc, stats=parse_sipp_stats(os.path.join(d, "stat.csv")),
                      counts=parse_sipp_counts(counts[0] if counts else None), dir=d,
                      argv=argv)


# ---------------------------------------------------------------------------
# captures

def pcap_count(path):
    """Packets in a pcap or pcapng file (one still being written: a partial
    record at the end is not counted)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return 0
    if len(data) < 12:
        return 0
    magic = data[:4]
    n = 0
    if magic == b"\x0a\x0d\x0d\x0a":                       # pcapng
        end = "<" if data[8:12] == b"\x4d\x3c\x2b\x1a" else ">"
        off = 0
        while off + 12 <= len(data):
            btype, blen = struct.unpack_from(end + "II", data, off)
            if blen < 12 or off + blen > len(data):
                break
            if btype in (2, 3, 6):                         # packet, simple, enhanced
                n += 1
            off += blen
        return n
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        end = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        end = ">"
    else:
        raise NetError("%s: not a pcap or pcapng file" % path)
    off = 24
    while off + 16 <= len(data):
        incl = struct.unpack_from(end + "I", data, off + 8)[0]
        if off + 16 + incl > len(data):
            break
        n += 1
        off += 16 + incl
    return n


class Capture:
    """A running (then stopped) tshark capture; see TestNet.tshark()."""

    def __init__(self, path, proc, iface, capfilter, last_stop=None):
        self.path = path
        self.proc = proc
        self.iface = iface
        self.capfilter = capfilter
        self.stopped = False
        # [asked, returned] of the last stop among the captures sharing this list
        self.last_stop = last_stop if last_stop is not None else [0.0, float("-inf")]

    def count(self):
        """Packets written to the file so far."""
        return pcap_count(self.path)

    def wait_packets(self, n, timeout=10.0):
        """Wait until at least n packets are in the file (or timeout); returns
        the count, for the caller to assert on."""
        deadline = time.monotonic() + timeout
        while True:
            c = self.count()
            if c >= n or time.monotonic() >= deadline:
                return c
            time.sleep(0.05)

    def stop(self, settle=TSHARK_SETTLE):
        """Let the last packets reach the file, stop dumpcap, return the path.

        The packets sent before the stop was asked for get `settle` seconds
        to reach the file. A stop asked for right as another capture's stop
        returned (TSHARK_CHAIN: nested `with` blocks left together, nothing
        done in between) counts as asked at that one's time: this capture
        ran through the same settle, so it does not wait again."""
        if not self.stopped:
            asked = time.monotonic()
            if asked - self.last_stop[1] < TSHARK_CHAIN:
                asked = self.last_stop[0]
            if self.proc.running() and settle:
                time.sleep(max(0.0, asked + settle - time.monotonic()))
            self.proc.stop(signal.SIGINT, timeout=10)
            self.stopped = True
            self.last_stop[:] = [asked, time.monotonic()]
        return self.path

    def messages(self, **kw):
        """read_sip() of this capture (stops it first)."""
        self.stop()
        return read_sip(self.path, **kw)


@dataclasses.dataclass
class SipMessage:
    """One SIP message seen in a capture (one per frame; list-valued headers
    hold every occurrence). raw is the frame's UDP or TCP payload as text."""
    frame: int
    time: float
    src: str
    sport: int
    dst: str
    dport: int
    transport: str
    method: str            # request method, or None for a response
    status: int            # response status code, or None for a request
    first_line: str
    call_id: str
    cseq: str
    via: list
    contact: list
    from_: str
    to: str
    user_agent: str
    server: str
    record_route: list
    raw: str

    @property
    def is_request(self):
        return self.method is not None

    def __str__(self):
        return "%d %s:%s -> %s:%s %s" % (self.frame, self.src, self.sport, self.dst,
                                         self.dport, self.first_line)


_SIP_FIELDS = ["frame.number", "frame.time_epoch", "ip.src", "ip.dst", "udp.srcport",
               "udp.dstport", "tcp.srcport", "tcp.dstport", "sip.Method", "sip.Status-Code",
               "sip.Request-Line", "sip.Status-Line", "sip.Call-ID", "sip.CSeq", "sip.Via",
               "sip.Contact", "sip.From", "sip.To", "sip.User-Agent", "sip.Server",
               "sip.Record-Route", "udp.payload", "tcp.payload"]


def read_sip(pcap, display_filter="sip", decode_as=(), timeout=60):
    """The SIP messages in a capture file, in frame order.

    decode_as: extra tshark -d rules for SIP on unusual ports, e.g.
    ["udp.port==5070,sip"] (5060 and the heuristic dissectors need none).
    """
    argv = [TSHARK, "-n", "-r", pcap, "-Y", display_filter, "-T", "json"]
    for d in decode_as:
        argv += ["-d", d]
    for f in _SIP_FIELDS:
        argv += ["-e", f]
    r = _run(argv, timeout=timeout, check=True)
    out = r.stdout.strip()
    if not out:
        return []
    msgs = []
    for pkt in json.loads(out):
        la = pkt.get("_source", {}).get("layers", {})

        def one(name, conv=str):
            v = la.get(name)
            return conv(v[0]) if v else None

        def many(name):
            return list(la.get(name, []))

        is_udp = "udp.srcport" in la
        payload = one("udp.payload" if is_udp else "tcp.payload") or ""
        try:
            raw = bytes.fromhex(payload.replace(":", "")).decode("utf-8", "replace")
        except ValueError:
            raw = ""
        msgs.append(SipMessage(
            frame=one("frame.number", int), time=one("frame.time_epoch", float),
            src=one("ip.src"), dst=one("ip.dst"),
            sport=one("udp.srcport" if is_udp else "tcp.srcport", int),
            dport=one("udp.dstport" if is_udp else "tcp.dstport", int),
            transport="udp" if is_udp else "tcp",
            method=one("sip.Method"), status=one("sip.Status-Code", int),
            first_line=one("sip.Request-Line") or one("sip.Status-Line") or "",
            call_id=one("sip.Call-ID"), cseq=one("sip.CSeq"), via=many("sip.Via"),
            contact=many("sip.Contact"), from_=one("sip.From"), to=one("sip.To"),
            user_agent=one("sip.User-Agent"), server=one("sip.Server"),
            record_route=many("sip.Record-Route"), raw=raw))
    return msgs


# ---------------------------------------------------------------------------
# clean-up registry: atexit, signals, stale namespaces

_live = []
_live_lock = threading.RLock()
_handlers_installed = False
_prev_handlers = {}


def _cleanup_all():
    with _live_lock:
        nets = list(_live)
    for net in nets:
        try:
            net.close(raise_errors=False)
        except Exception as e:          # never let one failure stop the rest
            print("netns: clean-up of %s failed: %s" % (net.suffix, e), file=sys.stderr)


def _on_signal(signum, frame):
    _cleanup_all()
    prev = _prev_handlers.get(signum, signal.SIG_DFL)
    if callable(prev):
        prev(signum, frame)
        return
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _install_handlers():
    """SIGTERM and SIGHUP clean up and then do what they did before.
    (SIGINT raises KeyboardInterrupt, which runs the with blocks and fixtures.)"""
    global _handlers_installed
    if _handlers_installed or threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGTERM, signal.SIGHUP):
        prev = signal.getsignal(sig)
        if prev is signal.SIG_IGN:
            continue
        _prev_handlers[sig] = prev
        signal.signal(sig, _on_signal)
    atexit.register(_cleanup_all)
    _handlers_installed = True


def _proc_start_wall(pid):
    """Wall-clock start time of pid, or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        with open("/proc/stat") as f:
            btime = next(int(ln.split()[1]) for ln in f if ln.startswith("btime "))
    except (OSError, StopIteration, IndexError, ValueError):
        return None
    return btime + int(fields[19]) / os.sysconf("SC_CLK_TCK")


def _owner_gone(pid, created):
    """True if the process that made something at time created is gone
    (dead, or its pid now belongs to a process started later)."""
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass
    start = _proc_start_wall(pid)
    return start is not None and created is not None and start > created + 2


def _netns_list():
    r = _run([IP, "netns", "list"], check=True)
    return [ln.split()[0] for ln in r.stdout.splitlines() if ln.strip()]


def _kill_netns_pids(name, wait=5.0):
    """SIGKILL every process inside namespace name and wait for them to go."""
    deadline = time.monotonic() + wait
    while True:
        r = _run([IP, "netns", "pids", name])
        pids = [int(p) for p in r.stdout.split() if p.isdigit()]
        if not pids:
            return []
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if time.monotonic() >= deadline:
            return pids
        time.sleep(0.05)


def sweep_stale():
    """Remove what TestNets of dead processes left behind (after SIGKILL):
    namespaces sbc-{pub,sbc,priv}-SUFFIX, root veths svSUFFIX?, run dirs
    /tmp/sbcnet-SUFFIX-*. Only names of this harness whose owner (the pid
    in SUFFIX) is gone are touched. Returns what was removed."""
    removed = []
    for name in _netns_list():
        m = NS_RE.match(name)
        if not m:
            continue
        try:
            created = os.stat(os.path.join(NETNS_DIR, name)).st_mtime
        except OSError:
            created = None
        if not _owner_gone(int(m.group(2), 16), created):
            continue
        _kill_netns_pids(name)
        if _run([IP, "netns", "del", name]).returncode == 0:
            removed.append(name)
    r = _run([IP, "-o", "link", "show", "type", "veth"])
    for ln in r.stdout.splitlines():
        parts = ln.split(":")
        if len(parts) < 2:
            continue
        ifname = parts[1].strip().split("@")[0]
        m = VETH_RE.match(ifname)
        if m and _owner_gone(int(m.group(1), 16), None):
            if _run([IP, "link", "del", ifname]).returncode == 0:
                removed.append(ifname)
    tmp = tempfile.gettempdir()
    for entry in os.listdir(tmp):
        m = RUNDIR_RE.match(entry)
        if not m:
            continue
        path = os.path.join(tmp, entry)
        try:
            created = os.stat(path).st_mtime
        except OSError:
            continue
        if _owner_gone(int(m.group(1), 16), created):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


# ---------------------------------------------------------------------------
# configuration

def _ini_value(v):
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (list, tuple)):
        v = ", ".join(str(x) for x in v)
    v = str(v)
    if (";" in v or "#" in v) and not (v.startswith('"') and v.endswith('"')):
        v = '"%s"' % v
    return v


def render_ini(sections):
    """INI text of {section: {key: value}} (iniparser syntax of sbc.ini)."""
    out = ["; written by tests/integration/netns.py"]
    for sec, keys in sections.items():
        out.append("")
        out.append("[%s]" % sec)
        for k, v in keys.items():
            out.append("%s = %s" % (k, _ini_value(v)))
    return "\n".join(out) + "\n"


def merge_config(base, overrides):
    """base updated by overrides: a section or key whose value is None is removed."""
    cfg = {sec: dict(keys) for sec, keys in base.items()}
    for sec, keys in (overrides or {}).items():
        if keys is None:
            cfg.pop(sec, None)
            continue
        target = cfg.setdefault(sec, {})
        for k, v in keys.items():
            if v is None:
                target.pop(k, None)
            else:
                target[k] = v
    return cfg


def read_ini(path):
    """{section: {key: value}} of an sbc.ini, for the readiness probe."""
    cp = configparser.ConfigParser(inline_comment_prefixes=(";", "#"), interpolation=None,
                                   strict=False)
    cp.read(path)
    return {s: {k: v.strip().strip('"') for k, v in cp.items(s)} for s in cp.sections()}


# ---------------------------------------------------------------------------
# the test network

def write_baresip_config(confdir, addr, account, port=5060):
    """A headless baresip's folder: listens on addr:port over UDP, no sound
    device (a 440 Hz sine as the microphone, aubridge as a speaker that goes
    nowhere), PCMU only; account is its accounts line. Returns confdir."""
    os.makedirs(confdir, exist_ok=True)
    with open(os.path.join(confdir, "config"), "w") as f:
        f.write("\n".join([
            "poll_method epoll",
            "sip_listen %s:%d" % (addr, port),
            "sip_trans_def udp",
            "call_local_timeout 30",
            "call_max_calls 1",
            "audio_player aubridge,nowhere",
            "audio_alert aubridge,nowhere",
            "audio_source ausine,440",
            # ausine makes 48 kHz stereo only; baresip resamples for PCMU
            "ausrc_srate 48000", "auplay_srate 48000",
            "ausrc_channels 2", "auplay_channels 2",
            "rtp_stats yes",
            "module_path /usr/lib/baresip/modules",
            "module g711.so", "module ausine.so", "module aubridge.so",
            "module_app account.so", "module_app menu.so", ""]))
    with open(os.path.join(confdir, "accounts"), "w") as f:
        f.write(account + "\n")
    with open(os.path.join(confdir, "contacts"), "w") as f:
        f.write("")
    return confdir


# send_rtp's sender, run with python3 -c in a namespace
RTP_SEND = """
import socket, sys
src, sport, dst, dport, n = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((src, sport))
for i in range(n):   # RTP v2, PCMU, 20 ms of payload
    hdr = bytes([0x80, 0]) + (1000 + i).to_bytes(2, "big") + (160 * i).to_bytes(4, "big") + b"\\x12\\x34\\x56\\x78"
    s.sendto(hdr + b"\\xff" * 160, (dst, dport))
"""


class TestNet:
    """Namespaces pub, sbc, priv with veths and addresses; see the module doc.

    tmpdir: where logs, captures, configs and sipp files go (kept); default:
    a new folder under /tmp, removed by close() unless SBC_KEEP_TMP=1.
    veth_mode: "direct" makes each veth pair with its ends already in their
    namespaces (nothing ever appears in the root namespace); "rename" makes
    the pair in the root namespace with temporary names svSUFFIX[a-d], moves
    the ends and renames them.
    ipv6: leave IPv6 on (off by default: no link-local noise in captures).
    """

    __test__ = False        # not a pytest test class

    def __init__(self, tmpdir=None, veth_mode="direct", ipv6=False, sweep=True):
        if veth_mode not in ("direct", "rename"):
            raise ValueError("veth_mode: direct or rename")
        self.veth_mode = veth_mode
        self.ipv6 = ipv6
        self.sweep = sweep
        self.suffix = None
        self.ns = {}
        self.procs = []
        self.configs = {}
        self.sbcd = None
        self.sbcd_rc = None
        self.rundir = None
        self._given_tmpdir = tmpdir
        self.tmpdir = None
        self._made_tmpdir = False
        self._global_sysctl = []    # (key, old value) to restore, in order set
        self._captures = []
        self._last_capture_stop = [0.0, float("-inf")]     # shared by its captures: Capture.stop
        self._seq = 0
        self._closing = False
        self._closed = False
        self.sbcd_log_path = None
        self.nats = {}              # role -> Nat (add_nat)
        self._lock = threading.RLock()

    # -- life cycle ---------------------------------------------------------

    def __enter__(self):
        self.setup()
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close(raise_errors=exc_type is None)
        return False

    def setup(self):
        ok, why = netns_available()
        if not ok:
            raise NetError(why)
        if self.sweep:
            sweep_stale()
        _install_handlers()
        with _live_lock:
            _live.append(self)
        try:
            self._create()
        except BaseException:
            self.close(raise_errors=False)
            raise
        return self

    def _new_suffix(self):
        existing = set(_netns_list())
        for _ in range(100):
            sfx = "%06x%04x" % (os.getpid() & 0xffffff, secrets.randbits(16))
            if not any("sbc-%s-%s" % (r, sfx) in existing for r in ROLES):
                return sfx
        raise NetError("no free namespace suffix")

    def _create(self):
        self.suffix = self._new_suffix()
        if self._given_tmpdir:
            self.tmpdir = str(self._given_tmpdir)
            os.makedirs(self.tmpdir, exist_ok=True)
        else:
            self.tmpdir = tempfile.mkdtemp(prefix="sbc-testnet-%s-" % self.suffix)
            self._made_tmpdir = True
        # short folder for unix sockets (sun_path has 108 bytes)
        self.rundir = tempfile.mkdtemp(prefix="%s%s-" % (RUNDIR_PREFIX, self.suffix))
        for role in ROLES:
            name = "sbc-%s-%s" % (role, self.suffix)
            self.ns[role] = name    # recorded first: close() deletes what exists
            self._ip(None, "netns", "add", name)
        for role in ROLES:
            self._sysctl_quiet(role, "net.ipv4.ip_forward", "0")
            if not self.ipv6:
                self._sysctl_quiet(role, "net.ipv6.conf.all.disable_ipv6", "1")
                self._sysctl_quiet(role, "net.ipv6.conf.default.disable_ipv6", "1")
            else:
                self._sysctl_quiet(role, "net.ipv6.conf.all.forwarding", "0")
            self._ip(role, "link", "set", "lo", "up")
        self._make_veth("sbc", "wan", "pub", "eth0", "a", "b")
        self._make_veth("sbc", "lan", "priv", "eth0", "c", "d")
        for role, ifaces in ADDRESSES.items():
            for ifname, addrs in ifaces.items():
                for a in addrs:
                    self._ip(role, "addr", "add", a, "dev", ifname)
        for role in ROLES:
            for ifname in IFACES[role]:
                self._ip(role, "link", "set", ifname, "up")
        self._wait_links_up()
        fwd = self.sysctl("sbc", "net.ipv4.ip_forward")
        if fwd != "0":
            raise NetError("net.ipv4.ip_forward is %s in %s" % (fwd, self.ns["sbc"]))

    def _make_veth(self, ns_a, if_a, ns_b, if_b, tmp_a, tmp_b):
        na, nb = self.ns[ns_a], self.ns[ns_b]
        if self.veth_mode == "direct":
            self._ip(None, "link", "add", if_a, "netns", na, "type", "veth",
                     "peer", "name", if_b, "netns", nb)
            return
        ta, tb = "sv%s%s" % (self.suffix, tmp_a), "sv%s%s" % (self.suffix, tmp_b)
        self._ip(None, "link", "add", ta, "type", "veth", "peer", "name", tb)
        self._ip(None, "link", "set", ta, "netns", na)
        self._ip(None, "link", "set", tb, "netns", nb)
        self._ip(ns_a, "link", "set", ta, "name", if_a)
        self._ip(ns_b, "link", "set", tb, "name", if_b)

    def _wait_links_up(self, timeout=10.0):
        """veth carrier and operstate come up asynchronously (linkwatch);
        until then the device drops what is sent."""
        deadline = time.monotonic() + timeout
        while True:
            down = []
            for role in ROLES:
                for ifname in IFACES[role]:
                    if self.link(role, ifname).get("operstate") != "UP":
                        down.append("%s/%s" % (role, ifname))
            if not down:
                return
            if time.monotonic() >= deadline:
                raise NetError("links not up after %s s: %s" % (timeout, ", ".join(down)))
            time.sleep(0.02)

    def close(self, raise_errors=True):
        """Tear everything down; safe to call more than once. Errors are
        collected; with raise_errors they are raised at the end."""
        # Every step is idempotent, so a close() interrupted by a signal
        # whose handler closes again simply runs the steps once more.
        if self._closed:
            return
        self._closing = True
        errors = []
        for cap in self._captures:
            if not cap.stopped:
                try:
                    cap.stop(settle=0)
                except Exception as e:
                    errors.append("tshark: %s" % e)
        # SIGTERM to all, a common grace of 3 s, then SIGKILL to every group
        for p in self.procs:
            p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 3
        for p in self.procs:
            if p.popen.returncode is None:
                p._exited(max(0.0, deadline - time.monotonic()))
        for p in self.procs:
            try:
                p.stop(signal.SIGKILL, timeout=5)
            except Exception as e:
                errors.append("%s: %s" % (p.name, e))
        for role in list(self.ns):      # ROLES, then NATs (add_nat)
            name = self.ns.get(role)
            if not name or not os.path.exists(os.path.join(NETNS_DIR, name)):
                continue
            left = _kill_netns_pids(name)
            if left:
                errors.append("%s: processes %s would not die" % (name, left))
            r = _run([IP, "netns", "del", name])
            if r.returncode != 0:
                errors.append("ip netns del %s: %s" % (name, r.stderr.strip()))
        if self.suffix and self.veth_mode == "rename":
            r = _run([IP, "-o", "link", "show", "type", "veth"])
            for ln in r.stdout.splitlines():
                parts = ln.split(":")
                ifname = parts[1].strip().split("@")[0] if len(parts) > 1 else ""
                if ifname.startswith("sv" + self.suffix):
                    _run([IP, "link", "del", ifname])
        for path, old in reversed(self._global_sysctl):
            try:
                with open(path, "w") as f:
                    f.write("%s\n" % old)
            except OSError as e:
                errors.append("restoring %s to %s: %s" % (path, old, e))
        self._global_sysctl = []
        if self.rundir:
            shutil.rmtree(self.rundir, ignore_errors=True)
        if self._made_tmpdir and os.environ.get("SBC_KEEP_TMP") != "1":
            shutil.rmtree(self.tmpdir, ignore_errors=True)
        with _live_lock:
            if self in _live:
                _live.remove(self)
        self._closed = True
        if errors and raise_errors:
            raise NetError("teardown of test network %s: %s" % (self.suffix, "; ".join(errors)))
        if errors:
            print("netns: teardown of %s: %s" % (self.suffix, "; ".join(errors)), file=sys.stderr)

    # -- commands -----------------------------------------------------------

    def nsname(self, ns):
        """Full namespace name of a role (pub, sbc, priv); None/"root" is the
        root namespace; a full name of this TestNet passes through."""
        if ns in (None, "", "root"):
            return None
        if ns in self.ns:
            return self.ns[ns]
        if ns in self.ns.values():
            return ns
        raise ValueError("unknown namespace %r (roles: %s)" % (ns, ", ".join(ROLES)))

    def argv(self, ns, cmd):
        """The argument list that runs cmd (list or shell-like string) in ns."""
        if isinstance(cmd, str):
            cmd = shlex.split(cmd)
        name = self.nsname(ns)
        return ([IP, "netns", "exec", name] if name else []) + [str(c) for c in cmd]

    def run(self, ns, cmd, timeout=60, check=False, input=None, env=None, cwd=None):
        """Run cmd in namespace ns to completion (bounded by timeout).
        Returns a CompletedProcess with text stdout/stderr; check=True raises
        NetError on a non-zero exit."""
        return _run(self.argv(ns, cmd), timeout=timeout, check=check, input=input, env=env,
                    cwd=cwd)

    def _ip(self, ns, *args):
        name = self.nsname(ns)
        return _run([IP] + (["-n", name] if name else []) + list(args), check=True)

    def _next_name(self, base):
        with self._lock:
            self._seq += 1
            return "%02d-%s" % (self._seq, re.sub(r"[^A-Za-z0-9_.-]", "_", base))

    def popen(self, ns, cmd, name=None, env=None, cwd=None, merge=False, proc_class=NetProc):
        """Start cmd in the background in namespace ns. Its stdout and stderr
        go to TMPDIR/NAME.out and NAME.err (one NAME.log with merge=True).
        The process is stopped at teardown (SIGTERM, then SIGKILL)."""
        argv = self.argv(ns, cmd)
        if self._closing:
            raise NetError("test network already closed")
        name = self._next_name(name or os.path.basename(argv[4 if self.nsname(ns) else 0]))
        if merge:
            out_path = err_path = os.path.join(self.tmpdir, name + ".log")
        else:
            out_path = os.path.join(self.tmpdir, name + ".out")
            err_path = os.path.join(self.tmpdir, name + ".err")
        out = open(out_path, "wb")
        err = out if merge else open(err_path, "wb")
        try:
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                 start_new_session=True, env=env, cwd=cwd)
        finally:
            out.close()
            if not merge:
                err.close()
        proc = proc_class(name, self.nsname(ns), argv, p, out_path, err_path)
        self.procs.append(proc)
        return proc

    # -- inspection and small changes ---------------------------------------

    def link(self, ns, ifname):
        """ip -j link show of one interface (dict: ifname, operstate, flags...)."""
        r = _run([IP, "-n", self.nsname(ns), "-j", "link", "show", "dev", ifname], check=True)
        return json.loads(r.stdout)[0]

    def links(self, ns):
        r = _run([IP, "-n", self.nsname(ns), "-j", "link", "show"], check=True)
        return json.loads(r.stdout)

    def addresses(self, ns, ifname=None, family="inet"):
        """["a.b.c.d/len", ...] of namespace ns (one interface, or all)."""
        args = [IP, "-n", self.nsname(ns), "-j", "-f", family, "addr", "show"]
        if ifname:
            args += ["dev", ifname]
        r = _run(args, check=True)
        return ["%s/%d" % (a["local"], a["prefixlen"]) for link in json.loads(r.stdout)
                for a in link.get("addr_info", [])]

    def routes(self, ns):
        r = _run([IP, "-n", self.nsname(ns), "-j", "route", "show"], check=True)
        return json.loads(r.stdout)

    def add_address(self, ns, cidr, dev=None):
        """Add an address (e.g. a trunk's 198.51.100.20/32 in pub)."""
        dev = dev or (IFACES[ns][0] if ns in IFACES else "lan")
        self._ip(ns, "addr", "add", cidr, "dev", dev)

    def add_route(self, ns, dst, via):
        self._ip(ns, "route", "add", dst, "via", via)

    def sysctl(self, ns, key, value=None):
        """Read (value None) or set a sysctl inside namespace ns; returns the
        value before. Keys that the kernel keeps per namespace change nothing
        outside it and vanish with it. On 6.18 net.core.{rmem,wmem}_{max,default}
        are global (read-only inside a namespace): NetError, see set_global_sysctl."""
        path = "/proc/sys/" + key.replace(".", "/")
        old = self.run(ns, ["cat", path], check=True).stdout.strip()
        if value is not None:
            # (sysctl -q -w exits 0 even when the kernel refuses)
            r = self.run(ns, ["sh", "-c", 'printf "%s\\n" "$1" > "$2"', "sh", str(value), path])
            if r.returncode != 0:
                raise NetError("%s cannot be set in namespace %s (%s): not per-namespace on "
                               "this kernel? see set_global_sysctl()"
                               % (key, ns, r.stderr.strip()))
        return old

    def _sysctl_quiet(self, ns, key, value):
        if os.path.exists("/proc/sys/" + key.replace(".", "/")):
            self.sysctl(ns, key, value)

    def set_global_sysctl(self, key, value):
        """Set a sysctl of the root namespace (e.g. net.core.rmem_max for a
        load test) and restore it at close() (and at exit or SIGTERM).
        Affects the whole machine while set: use only where a per-namespace
        key cannot do it."""
        path = "/proc/sys/" + key.replace(".", "/")
        with open(path) as f:
            old = f.read().strip()
        self._global_sysctl.append((path, old))
        with open(path, "w") as f:
            f.write("%s\n" % value)
        return old

    def listening(self, ns, proto, addr, port):
        """True if a socket in ns listens on addr:port (proto udp or tcp)."""
        flag = {"udp": "-lnuH", "tcp": "-lntH"}[proto]
        r = self.run(ns, [SS, flag, "src", "%s:%d" % (addr, port)], check=True)
        return bool(r.stdout.strip())

    def wait_listening(self, ns, proto, addr, port, timeout=10.0, proc=None):
        """Wait until something listens on addr:port in ns (or proc exits)."""
        deadline = time.monotonic() + timeout
        while not self.listening(ns, proto, addr, port):
            if proc is not None and proc.poll() is not None:
                raise NetError("%s exited with status %s before listening on %s:%d/%s:\n%s"
                               % (proc.name, proc.returncode, addr, port, proto,
                                  log_tail(proc.err_path)))
            if time.monotonic() >= deadline:
                raise NetError("nothing listens on %s:%d/%s in %s after %s s"
                               % (addr, port, proto, ns, timeout))
            time.sleep(0.02)

    # -- small UDP probes (siptool.py in the namespace) -----------------------

    def udp_send(self, ns, dst, port, src=None, payload="ping", timeout=2.0):
        """Send a datagram from ns and wait (bounded) for a reply.
        Returns (rc, text): 0 reply, 1 no reply, 2 no route."""
        cmd = [PYTHON, SIPTOOL, "send", "--dst", "%s:%d" % (dst, port), "--payload", payload,
               "--timeout", str(timeout)]
        if src:
            cmd += ["--src", src]
        r = self.run(ns, cmd, timeout=timeout + 30)
        if r.returncode not in (0, 1, 2):
            raise NetError("siptool send: exit %d: %s" % (r.returncode, r.stderr))
        return r.returncode, r.stdout.strip()

    def udp_echo(self, ns, addr, port, count=0, timeout=30.0):
        """Start a UDP echo server in ns on addr:port (background, bounded by
        timeout); returns once it is bound."""
        p = self.popen(ns, [PYTHON, SIPTOOL, "echo", "--bind", "%s:%d" % (addr, port),
                            "--count", str(count), "--timeout", str(timeout)], name="udp-echo")
        self.wait_listening(ns, "udp", addr, port, proc=p)
        return p

    def send_rtp(self, src, sport, port, n, ns="pub", dst=SBC_WAN):
        """Send n RTP packets (v2, PCMU, 160 bytes of payload: 172 bytes of
        UDP payload each, sequence from 1000) from src:sport in ns to
        dst:port, the SBC's public relay port by default."""
        r = self.run(ns, [PYTHON, "-c", RTP_SEND, src, str(sport), dst, str(port), str(n)],
                     timeout=10)
        if r.returncode != 0:
            raise NetError("send_rtp: exit %d: %s" % (r.returncode, r.stderr))

    def options_probe(self, ns, dst, port=5060, src=None, timeout=10.0, interval=0.2):
        """Start (background) a probe that sends OPTIONS from ns to dst:port
        until any SIP response; its exit status is 0 when answered."""
        cmd = [PYTHON, SIPTOOL, "options", "--dst", "%s:%d" % (dst, port),
               "--timeout", str(timeout), "--interval", str(interval)]
        if src:
            cmd += ["--src", src]
        return self.popen(ns, cmd, name="options-%s-%s" % (ns, dst))

    def wait_options(self, targets, timeout=10.0, proc=None):
        """Wait until each (ns, dst, port, src) answers an OPTIONS over UDP.
        proc: a process whose exit aborts the wait (sbcd). Returns the status
        lines {(ns, dst, port): line}; NetError on timeout."""
        probes = [(t, self.options_probe(t[0], t[1], t[2], t[3] if len(t) > 3 else None,
                                         timeout=timeout)) for t in targets]
        answers = {}
        try:
            deadline = time.monotonic() + timeout + 15
            while probes:
                for item in list(probes):
                    t, p = item
                    if p.poll() is None:
                        continue
                    probes.remove(item)
                    line = p.output().strip()
                    if p.returncode != 0:
                        raise NetError("no SIP answer to OPTIONS from %s to %s:%d within %s s (%s)"
                                       % (t[0], t[1], t[2], timeout, line))
                    answers[tuple(t[:3])] = line
                if proc is not None and proc.poll() is not None:
                    raise SbcdError("%s exited with status %s while waiting for readiness:\n%s"
                                    % (proc.name, proc.returncode, log_tail(proc.err_path)))
                if probes and time.monotonic() >= deadline:
                    raise NetError("OPTIONS probes did not end")
                time.sleep(0.02)
        finally:
            for _, p in probes:
                p.stop(signal.SIGKILL)
        return answers

    def sip_exchange(self, ns, proto, dst, port, steps, src=None, timeout=30.0):
        """Run a siptool exchange script in ns over one UDP, TCP or TLS
        socket to dst:port (see siptool.py: steps are dicts such as
        {"send": text}, {"expect": n, "timeout": s}, {"listen": s},
        {"wait_close": s}). Returns siptool's JSON as a dict, with
        "messages": the texts of the SIP messages received, in order."""
        cmd = [PYTHON, SIPTOOL, "exchange", "--proto", proto, "--dst", "%s:%d" % (dst, port),
               "--timeout", str(timeout)]
        if src:
            cmd += ["--src", src]
        r = self.run(ns, cmd, timeout=timeout + 30, input=json.dumps(steps))
        if r.returncode not in (0, 2) or not r.stdout.strip():
            raise NetError("siptool exchange: exit %d: %s" % (r.returncode, r.stderr.strip()))
        out = json.loads(r.stdout)
        out["messages"] = [e["msg"] for e in out["events"] if "msg" in e]
        return out

    def tcp_burst(self, ns, dst, port, src, count, keep, src2=None, count2=1, timeout=10.0):
        """Open count TCP connections from src to dst:port in a burst and
        report (siptool conns, a dict) how many the peer closed, how many
        stayed open, and the answer to an OPTIONS on each one left open;
        with src2, count2 more connections from src2 while those are held."""
        cmd = [PYTHON, SIPTOOL, "conns", "--dst", "%s:%d" % (dst, port), "--src", src,
               "--count", str(count), "--keep", str(keep), "--timeout", str(timeout)]
        if src2:
            cmd += ["--src2", src2, "--count2", str(count2)]
        r = self.run(ns, cmd, timeout=timeout + 30)
        if r.returncode != 0 or not r.stdout.strip():
            raise NetError("siptool conns: exit %d: %s" % (r.returncode, r.stderr.strip()))
        return json.loads(r.stdout)

    # -- NAT in front of phones (issue 5) ---------------------------------------

    def add_nat(self, role=NAT_ROLE, outside=None, phones=NAT_PHONES, net=NAT_NET,
                masquerade="masquerade random", filter_inbound=True, udp_timeout=None,
                udp_timeout_stream=None):
        """Add a NAT namespace sbc-ROLE-SFX between phones and the public
        segment; returns a Nat. Torn down with the rest (close()).

        role: "nat" (default), or "nat2", "nat3"... for more NATs (another
        household: the same private subnet behind another public address).
        outside: its public address (default 203.0.113.50 for "nat",
        203.0.113.51, .52... for "nat2", "nat3"...), on interface wan, a
        macvlan of pub's eth0 (so on the segment of sbcd's wan; pub's own
        addresses cannot reach it, sbcd can).
        phones: the private addresses on interface lan (a veth whose peer
        lan-peer is left unused); net their subnet.
        masquerade: the nft statement for what leaves wan from net
        ("masquerade random": a random public port per flow, never the
        phone's own port; "masquerade": keep the port when free).
        filter_inbound: drop what arrives on wan that is not a reply of a
        known flow (new flows from outside reach nothing, like a home NAT).
        udp_timeout / udp_timeout_stream: the namespace's conntrack UDP
        timeouts in seconds (defaults 30 and 120: a pinhole closes after
        that long without traffic).

        Forwarding stays off: the phones run in this namespace (bound to
        their private address) and the NAT applies to their own packets.
        NetError if nft is missing (Debian package nftables)."""
        ok, why = nat_available()
        if not ok:
            raise NetError(why)
        if not NAT_ROLE_RE.match(role):
            raise ValueError("NAT role: nat, nat2, nat3...")
        if role in self.ns:
            raise NetError("%s already exists" % self.ns[role])
        if outside is None:
            n = int(role[3:] or 1)
            outside = NAT_OUT if n == 1 else NAT_OUT_EXTRA[n - 2]
        phones = tuple(phones)
        prefix = net.split("/")[1]
        name = "sbc-%s-%s" % (role, self.suffix)
        self.ns[role] = name        # recorded first: close() deletes what exists
        self._ip(None, "netns", "add", name)
        self._sysctl_quiet(role, "net.ipv4.ip_forward", "0")
        if not self.ipv6:
            self._sysctl_quiet(role, "net.ipv6.conf.all.disable_ipv6", "1")
            self._sysctl_quiet(role, "net.ipv6.conf.default.disable_ipv6", "1")
        self._ip(role, "link", "set", "lo", "up")
        self._ip("pub", "link", "add", "link", "eth0", "name", "wan", "netns", name,
                 "type", "macvlan", "mode", "bridge")
        self._ip(role, "link", "add", "lan", "type", "veth", "peer", "name", "lan-peer")
        self._ip(role, "addr", "add", "%s/%s" % (outside, PUB_NET.split("/")[1]), "dev", "wan")
        for a in phones:
            self._ip(role, "addr", "add", "%s/%s" % (a, prefix), "dev", "lan")
        for ifname in ("wan", "lan", "lan-peer"):
            self._ip(role, "link", "set", ifname, "up")
        rules = ["table ip sbc_nat {",
                 "  chain postrouting {",
                 "    type nat hook postrouting priority srcnat; policy accept;",
                 '    oifname "wan" ip saddr %s %s' % (net, masquerade),
                 "  }"]
        if filter_inbound:
            rules += ["  chain input {",
                      "    type filter hook input priority filter; policy accept;",
                      '    iifname "wan" ct state established,related accept',
                      '    iifname "wan" drop',
                      "  }"]
        rules += ["}", ""]
        r = self.run(role, [NFT, "-f", "-"], input="\n".join(rules))
        if r.returncode != 0:
            raise NetError("nft in %s: %s" % (name, (r.stderr or r.stdout).strip()))
        for key, v in (("nf_conntrack_udp_timeout", udp_timeout),
                       ("nf_conntrack_udp_timeout_stream", udp_timeout_stream)):
            if v is not None:
                self.sysctl(role, "net.netfilter." + key, str(int(v)))
        deadline = time.monotonic() + 10
        while True:
            down = [i for i in ("wan", "lan") if self.link(role, i).get("operstate") not in
                    ("UP", "UNKNOWN")]
            if not down:
                break
            if time.monotonic() >= deadline:
                raise NetError("%s: links not up after 10 s: %s" % (name, ", ".join(down)))
            time.sleep(0.02)
        nat = Nat(role=role, ns=name, outside=outside, net=net, phones=phones,
                  masquerade=masquerade)
        self.nats[role] = nat
        return nat

    def nat_flows(self, role=NAT_ROLE, proto=None):
        """The NAT's conntrack entries (from /proc/net/nf_conntrack in its
        namespace), each {"proto", "src", "sport", "dst", "dport",
        "public", "public_port"}: a phone's flow src:sport -> dst:dport and
        the address and port it has outside (the reply's destination)."""
        r = self.run(role, ["cat", "/proc/net/nf_conntrack"])
        flows = []
        for ln in r.stdout.splitlines():
            parts = ln.split()
            if len(parts) < 4 or (proto and parts[2] != proto):
                continue
            kv = [p.split("=", 1) for p in parts if "=" in p]
            src = [v for k, v in kv if k == "src"]
            dst = [v for k, v in kv if k == "dst"]
            sport = [v for k, v in kv if k == "sport"]
            dport = [v for k, v in kv if k == "dport"]
            if len(src) < 2 or len(dst) < 2 or len(sport) < 2 or len(dport) < 2:
                continue
            flows.append({"proto": parts[2], "src": src[0], "sport": int(sport[0]),
                          "dst": dst[0], "dport": int(dport[0]), "public": dst[1],
                          "public_port": int(dport[1])})
        return flows

    def nat_mapping(self, src, sport, dst=None, dport=None, role=NAT_ROLE, proto="udp"):
        """(public address, public port) of the phone's flow from src:sport
        (to dst:dport if given) through the NAT, or None if it has none."""
        for f in self.nat_flows(role, proto):
            if f["src"] == src and f["sport"] == int(sport) and \
                    (dst is None or f["dst"] == dst) and \
                    (dport is None or f["dport"] == int(dport)):
                return f["public"], f["public_port"]
        return None

    # -- sbcd -----------------------------------------------------------------

    def default_config(self):
        """The sbc.ini sections for this network (DESIGN.md names)."""
        return {
            "general": {"data_dir": os.path.join(self.tmpdir, "data"), "log_level": "debug",
                        "control_socket": os.path.join(self.rundir, "sbcd.sock")},
            "public": {"interface": "wan", "address": SBC_WAN, "sip_udp": 5060,
                       "sip_tcp": 5060, "sip_tls": 5061},
            "private": {"interface": "lan", "address": SBC_LAN, "sip_udp": 5060,
                        "sip_tcp": 5060, "sip_tls": 0},
            "core": {"address": PBX, "port": 5060, "transport": "udp"},
            # the access policy (only trunks, registered phones or our own
            # challenge may call in) is tested on its own; call-flow tests
            # call from any public address
            "auth": {"open": "yes"},
            # the guard (issue 6) polices the public zone; call and
            # registration tests load it from 203.0.113.x at tens of calls/s,
            # so the test network's public side is allow-listed here.
            # test_guard.py removes it (allow None: nobody allow-listed)
            "guard": {"allow": PUB_NET},
        }

    def write_config(self, path=None, overrides=None, **sections):
        """Write an sbc.ini for sbcd under test; returns its path.

        overrides (and keyword sections, for names that are identifiers):
        {section: {key: value}} merged over default_config(); a value None
        removes the key, a section None removes the section; a new section
        is appended (e.g. {"trunk:carrier1": {"zone": "public", ...}}).
        """
        merged = dict(overrides or {})
        merged.update(sections)
        cfg = merge_config(self.default_config(), merged)
        path = str(path or os.path.join(self.tmpdir, "sbc.ini"))
        with open(path, "w") as f:
            f.write(render_ini(cfg))
        self.configs[path] = cfg
        return path

    def zone_targets(self, config_path):
        """[(ns, address, port, source)] of the UDP SIP listeners of both zones."""
        cfg = self.configs.get(str(config_path)) or read_ini(config_path)
        out = []
        for zone, ns, default, src in (("public", "pub", SBC_WAN, PUB),
                                       ("private", "priv", SBC_LAN, PBX)):
            z = cfg.get(zone, {})
            port = int(z.get("sip_udp", 5060))
            if port:
                out.append((ns, str(z.get("address", default)), port, src))
        return out

    def start_sbcd(self, config_path=None, ready="options", timeout=20.0, args=(), env=None,
                   binary=None):
        """Start `sbcd -c CONFIG` in the sbc namespace, its stdout and stderr
        in TMPDIR/NN-sbcd.log, and wait until it is ready:
          ready="options": an OPTIONS over UDP is answered on each zone
                           (pub -> public address, priv -> private address)
          ready="log":     the log shows "sbcd ready"
          ready=None:      do not wait
        SbcdError (with the log's tail) if it exits or is not ready in time."""
        binary = binary or sbcd_binary()
        if not os.access(binary, os.X_OK):
            raise SbcdError("%s is not built (make all, or set SBC_BUILD)" % binary)
        if self.sbcd is not None and self.sbcd.running():
            raise SbcdError("sbcd already running in %s" % self.ns["sbc"])
        config_path = str(config_path or self.write_config())
        e = dict(os.environ if env is None else env)
        e.setdefault("ASAN_OPTIONS", "abort_on_error=0:detect_leaks=1")
        e.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        self.sbcd_rc = None
        self.sbcd = self.popen("sbc", [binary, "-c", config_path] + list(args), name="sbcd",
                               env=e, merge=True)
        self.sbcd_log_path = self.sbcd.out_path
        try:
            if ready == "options":
                targets = self.zone_targets(config_path)
                if not targets:
                    raise SbcdError("no UDP SIP listener to probe: use ready='log'")
                self.wait_options(targets, timeout=timeout, proc=self.sbcd)
            elif ready == "log":
                self.wait_log("sbcd ready", timeout=timeout)
            elif ready is not None:
                raise ValueError("ready: options, log or None")
        except NetError as e:
            raise SbcdError("%s\n--- sbcd log (%s) ---\n%s"
                            % (e, self.sbcd.out_path, log_tail(self.sbcd.out_path))) from None
        return self.sbcd

    def wait_log(self, text, timeout=10.0):
        """Wait until sbcd's log contains text; SbcdError if sbcd exits first."""
        deadline = time.monotonic() + timeout
        while True:
            if text in self.sbcd_log():
                return
            if self.sbcd.poll() is not None:
                raise SbcdError("sbcd exited with status %s before logging %r"
                                % (self.sbcd.returncode, text))
            if time.monotonic() >= deadline:
                raise SbcdError("sbcd did not log %r within %s s" % (text, timeout))
            time.sleep(0.02)

    def sbcd_log(self):
        """Everything sbcd has written so far."""
        if self.sbcd is None:
            return ""
        with open(self.sbcd.out_path, errors="replace") as f:
            return f.read()

    def stop_sbcd(self, timeout=10.0):
        """SIGTERM sbcd, wait; SIGKILL after timeout. Returns its exit status
        (negative: the signal that ended it, -9 if it had to be killed)."""
        if self.sbcd is None:
            raise SbcdError("sbcd was not started")
        self.sbcd_rc = self.sbcd.stop(signal.SIGTERM, timeout=timeout)
        return self.sbcd_rc

    # -- sipp -------------------------------------------------------------------

    def _sipp_argv(self, args, d, trace_msg):
        args = shlex.split(args) if isinstance(args, str) else [str(a) for a in args]
        for i, a in enumerate(args[:-1]):       # sipp runs in its own folder
            if a in ("-sf", "-inf", "-oocsf") and not os.path.isabs(args[i + 1]):
                args[i + 1] = os.path.abspath(args[i + 1])
        if not _sipp_bound(args):
            raise SippError("sipp needs -m or -timeout so that it ends by itself: %s"
                            % shlex.join(args))
        extra = ["-nostdin", "-trace_err", "-error_file", os.path.join(d, "errors.log"),
                 "-trace_stat", "-stf", os.path.join(d, "stat.csv"),
                 "-trace_screen", "-screen_file", os.path.join(d, "screen.log"),
                 "-trace_counts"]
        if trace_msg and "-trace_msg" not in args:
            extra += ["-trace_msg", "-message_file", os.path.join(d, "messages.log")]
        return [SIPP] + args + extra

    def _sipp_dir(self, name):
        d = os.path.join(self.tmpdir, self._next_name(name))
        os.makedirs(d)
        return d

    def sipp(self, ns, args, timeout=60.0, name="sipp", trace_msg=True):
        """Run sipp in namespace ns until it ends; returns SippResult (which
        unpacks as (rc, stats)). args must bound it (-m and/or -timeout);
        timeout also adds -timeout Ns -timeout_error unless args has -timeout,
        and the process is killed (SippError) if it outlives that by 30 s.
        Files (errors.log, stat.csv, screen.log, messages.log, *_counts.csv,
        stdout.log, stderr.log) go to TMPDIR/NN-NAME/."""
        d = self._sipp_dir(name)
        args = shlex.split(args) if isinstance(args, str) else [str(a) for a in args]
        if "-timeout" not in args:
            args += ["-timeout", "%ds" % max(1, int(timeout)), "-timeout_error"]
        argv = self.argv(ns, self._sipp_argv(args, d, trace_msg))
        with open(os.path.join(d, "stdout.log"), "wb") as out, \
                open(os.path.join(d, "stderr.log"), "wb") as err:
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=d,
                                 start_new_session=True)
            try:
                rc = p.wait(timeout + 30)
            except subprocess.TimeoutExpired:
                _killpg(p.pid, signal.SIGKILL)
                p.wait()
                raise SippError("sipp outlived its bound (%s s), killed; files in %s"
                                % (timeout, d)) from None
        return _sipp_result(rc, d, argv)

    def sipp_bg(self, ns, args, name="sipp-bg", trace_msg=True, wait_listen=True):
        """Start sipp in the background (a UAS, a fake PBX) in ns; returns a
        SippProc whose result() waits for it. args must bound it (-m and/or
        -timeout). With -i ADDR and -p PORT in args the call returns once the
        socket is bound (transport from -t: u1/un udp, t1/tn tcp)."""
        d = self._sipp_dir(name)
        args = shlex.split(args) if isinstance(args, str) else [str(a) for a in args]
        cmd = self._sipp_argv(args, d, trace_msg)
        p = self.popen(ns, cmd, name=name, cwd=d, proc_class=SippProc)
        p.dir = d
        addr, port = _opt(args, "-i"), _opt(args, "-p")
        if wait_listen and addr and port:
            proto = "tcp" if (_opt(args, "-t") or "u1").startswith(("t", "l")) else "udp"
            self.wait_listening(ns, proto, addr, int(port), proc=p)
        return p


    def register_through(self, phone, port=5060, expires=300):
        """One REGISTER (alice, for expires s) from phone in pub through the
        SBC to the core (a sipp UAS at PBX that answers 200), both sipps
        checked to have ended well."""
        core = self.sipp_bg("priv", ["-sf", sipp_scenario("access_core_uas.xml"), "-m", "1",
                                     "-t", "u1", "-i", PBX, "-p", str(port), "-mi", PBX,
                                     "-timeout", "20s", "-timeout_error"], name="core-register")
        reg = self.sipp("pub", ["-sf", sipp_scenario("access_register_uac.xml"), "-s", "alice",
                                "-key", "domain", SBC_WAN, "-key", "expires", str(expires),
                                "-m", "1", "-t", "u1", "-i", phone, "-p", str(port),
                                "%s:%d" % (SBC_WAN, port)], timeout=20, name="register")
        assert reg.rc == 0, reg.describe()
        assert core.result(timeout=30).rc == 0

    def held_call(self, phone, port=5060):
        """A call from phone in pub (caller) to alice at the core (a sipp UAS
        at PBX) through the SBC, that both sides hold until a BYE comes (the
        operator's hang-up): (caller, callee), two SippProcs."""
        callee = self.sipp_bg("priv", ["-sf", sipp_scenario("invite_uas.xml"), "-m", "1",
                                       "-t", "u1", "-i", PBX, "-p", str(port), "-mi", PBX,
                                       "-timeout", "30s", "-timeout_error"], name="callee")
        caller = self.sipp_bg("pub", ["-sf", sipp_scenario("hangup_uac.xml"), "-s", "alice",
                                      "-key", "dest", "%s:%d" % (SBC_WAN, port),
                                      "-m", "1", "-t", "u1", "-i", phone, "-p", str(port),
                                      "-mi", phone, "-timeout", "30s", "-timeout_error",
                                      "%s:%d" % (SBC_WAN, port)], name="caller")
        return caller, callee
    # -- tshark -----------------------------------------------------------------

    @contextlib.contextmanager
    def tshark(self, ns, iface, capfilter="", name=None, timeout=20.0, settle=TSHARK_SETTLE):
        """Capture on iface in namespace ns into TMPDIR/NN-NAME.pcapng.

        Yields a Capture once the capture is really running (dumpcap said
        "Capturing on" and has written the file header). On exit, waits
        `settle` seconds for the last packets to be written, stops dumpcap
        and leaves cap.path complete (cap.wait_packets(n) waits for a known
        count instead). The capture is dumpcap's (pcapng, -n), which is what
        `tshark -w` runs, without tshark's start-up."""
        name = name or "tshark-%s-%s" % (ns, iface)
        path = os.path.join(self.tmpdir, self._next_name(name) + ".pcapng")
        cmd = [DUMPCAP, "-n", "-i", iface, "-w", path]
        if capfilter:
            cmd += ["-f", capfilter]
        proc = self.popen(ns, cmd, name=name)
        cap = Capture(path, proc, iface, capfilter, last_stop=self._last_capture_stop)
        self._captures.append(cap)
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise NetError("dumpcap exited with status %s:\n%s" % (proc.returncode,
                                                                     log_tail(proc.err_path)))
            try:
                started = "Capturing on" in proc.errors() and os.path.getsize(path) > 0
            except OSError:
                started = False
            if started:
                break
            if time.monotonic() >= deadline:
                raise NetError("dumpcap did not start capturing within %s s:\n%s"
                               % (timeout, log_tail(proc.err_path)))
            time.sleep(0.02)
        try:
            yield cap
        finally:
            cap.stop(settle=settle)
