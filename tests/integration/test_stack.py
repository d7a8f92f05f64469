"""The owned media address in lwIP (src/media/stack.c), on a real veth pair.

Two namespaces made here, sbcstk-SFX-own and sbcstk-SFX-peer, joined by one
veth pair (made inside them, never in the root namespace). In "own",
tools/stack-probe owns 192.0.2.1/24 in user space: the kernel there has no
address on its veth, so only lwIP can answer. "peer" is an ordinary kernel
host, 192.0.2.2/24. Everything is deleted at the end, whatever happens.

The ping is the kernel's own (a raw ICMP socket, as ping(8) does: iputils
is not among the project's dependencies); ARP is the peer kernel's
resolution of 192.0.2.1; the malformed frames are made with scapy.
"""
import json
import os
import queue
import secrets
import shutil
import signal
import subprocess
import threading
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
IP = shutil.which("ip", path="/usr/sbin:/usr/bin:/sbin:/bin") or "ip"
PYTHON = "/usr/bin/python3"

OWNED = "192.0.2.1"
PEER = "192.0.2.2"
GW = "192.0.2.254"       # an on-link gateway route in "own" (no host behind it)
DEFGW = "192.0.2.253"    # "own"'s default route
WAIT = 10                # seconds: upper bound of every wait, never asserted on

PING = r"""
import os, select, socket, struct, sys, time
dst, count = sys.argv[1], int(sys.argv[2])
def csum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
ident, got = os.getpid() & 0xffff, 0
for seq in range(1, count + 1):
    data = b"stack-test-%d" % seq
    hdr = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
    s.sendto(struct.pack("!BBHHH", 8, 0, csum(hdr + data), ident, seq) + data, (dst, 0))
    end = time.monotonic() + 3
    while time.monotonic() < end:
        r, _, _ = select.select([s], [], [], max(0, end - time.monotonic()))
        if not r: break
        pkt = s.recv(2048)
        hl = (pkt[0] & 15) * 4
        t, _, _, i, q = struct.unpack("!BBHHH", pkt[hl:hl + 8])
        if t == 0 and i == ident and q == seq and pkt[hl + 8:] == data:
            got += 1
            break
print(got)
"""

# A UDP datagram to a port nobody has (one small, one fragmented by the
# kernel), then a ping: an ICMP port unreachable would have come back before
# the echo reply (lwIP handles frames in order), so the socket's pending
# error tells whether one was sent.
UDP_THEN_PING = r"""
import socket, subprocess, sys
dst, ping = sys.argv[1], sys.argv[2]
res = {}
for name, size in (("small", 100), ("fragmented", 3000)):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.connect((dst, 40000))
    u.send(b"x" * size)
    res[name + "_ping"] = int(subprocess.run([sys.executable, "-c", ping, dst, "1"],
                                             stdout=subprocess.PIPE, text=True).stdout)
    res[name + "_refused"] = u.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != 0
import json; print(json.dumps(res))
"""

MALFORMED = r"""
import sys
from scapy.all import ARP, Ether, ICMP, IP, UDP, Raw, conf, sendp
iface, mac, dst, src = sys.argv[1:5]
conf.verb = 0
e = Ether(dst=mac)
frames = []
# a fragment flood: 300 first fragments that never complete, tiny and far ones
frames += [e / IP(src=src, dst=dst, id=i, flags="MF", frag=0, proto=17) / Raw(b"F" * 64)
           for i in range(1, 301)]
frames += [e / IP(src=src, dst=dst, id=5000 + i, flags="MF", frag=8190, proto=17) / Raw(b"G" * 16)
           for i in range(50)]
frames += [e / IP(src=src, dst=dst, id=6000, frag=8191, proto=17) / Raw(b"H" * 64)]
# overlapping fragments of one datagram
frames += [e / IP(src=src, dst=dst, id=7000, flags="MF", frag=0, proto=17) / Raw(b"A" * 64),
           e / IP(src=src, dst=dst, id=7000, flags="MF", frag=4, proto=17) / Raw(b"B" * 64),
           e / IP(src=src, dst=dst, id=7000, frag=2, proto=17) / Raw(b"C" * 8)]
# malformed frames (raw bytes, so scapy fixes nothing)
raw = [bytes(e)[:12] + b"\x08\x00",                                   # Ethernet header only
       bytes(e)[:12] + b"\x08\x00" + b"\x45\x00\x00",                 # 3 bytes of IPv4
       bytes(e / IP(src=src, dst=dst, ihl=15) / ICMP())[:40],         # IHL past the end
       bytes(e / IP(src=src, dst=dst, len=1400) / ICMP()),            # total length lies
       bytes(e / IP(src=src, dst=dst, ihl=2) / ICMP()),               # IHL too small
       bytes(e / IP(src=src, dst=dst, version=6) / ICMP()),           # version 6 in IPv4
       bytes(e / ARP(op=1, psrc=src, pdst=dst, plen=16)),             # ARP with bad lengths
       bytes(e / ARP(op=1, psrc=src, pdst=dst))[:30],                 # truncated ARP
       bytes(e / IP(src=src, dst=dst) / ICMP(chksum=0x1234) / Raw(b"bad")),   # bad ICMP checksum
       bytes(e / IP(src=src, dst=dst) / ICMP())[:38]]                 # ICMP cut to 4 bytes
frames += [Ether(r) for r in raw]
sendp(frames, iface=iface)
print(len(frames))
"""


def run(*args, check=True, timeout=WAIT, **kw):
    return subprocess.run([str(a) for a in args], check=check, timeout=timeout,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def ns_run(ns, *args, **kw):
    return run(IP, "netns", "exec", ns, *args, **kw)


def link_mac(ns, ifname):
    out = run(IP, "-n", ns, "-j", "link", "show", ifname).stdout
    return json.loads(out)[0]["address"]


def probe_bin():
    build = os.environ.get("SBC_BUILD") or os.path.join(REPO, "build")
    path = os.path.join(build, "tools", "stack-probe")
    if not os.access(path, os.X_OK):
        pytest.skip("%s is not built (make all, or set SBC_BUILD)" % path)
    return path


class Probe:
    """tools/stack-probe in a namespace, its stdout lines in a queue."""

    def __init__(self, ns, args):
        self.proc = subprocess.Popen([IP, "netns", "exec", ns, probe_bin(), *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        self.lines = queue.Queue()
        self.seen = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_for(self, prefix):
        """The first line starting with prefix (bounded wait)."""
        for line in self.seen:
            if line.startswith(prefix):
                return line
        end = time.monotonic() + WAIT
        while time.monotonic() < end:
            try:
                line = self.lines.get(timeout=max(0.01, end - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                break
            self.seen.append(line)
            if line.startswith(prefix):
                return line
        raise AssertionError("stack-probe never printed %r; got %r; stderr %r"
                             % (prefix, self.seen, self._stderr()))

    def _stderr(self):
        if self.proc.poll() is None:
            return ""
        return self.proc.stderr.read()

    def stop(self):
        """SIGTERM; its final stats line as a dict."""
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=WAIT)
        line = self.wait_for("stats ")
        err = self.proc.stderr.read()
        assert self.proc.returncode == 0 and "Sanitizer" not in err and "runtime error" not in err, \
            "stack-probe exited %s: %s" % (self.proc.returncode, err)
        return {k: int(v) for k, v in (f.split("=") for f in line.split()[1:])}

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=WAIT)


@pytest.fixture
def pair():
    """Namespaces own and peer, a veth pair between them; always deleted."""
    if os.geteuid() != 0:
        pytest.skip("needs root (network namespaces)")
    sfx = "%06x%04x" % (os.getpid() & 0xffffff, secrets.randbits(16))
    own, peer = "sbcstk-%s-own" % sfx, "sbcstk-%s-peer" % sfx
    vown, vpeer = "sk%so" % sfx, "sk%sp" % sfx
    made = []
    try:
        for ns in (own, peer):
            run(IP, "netns", "add", ns)
            made.append(ns)
            ns_run(ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
            ns_run(ns, "sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1")
        run(IP, "-n", own, "link", "add", vown, "type", "veth", "peer", "name", vpeer,
            "netns", peer)
        run(IP, "-n", own, "link", "set", vown, "up")
        run(IP, "-n", own, "link", "set", "lo", "up")
        run(IP, "-n", peer, "addr", "add", PEER + "/24", "dev", vpeer)
        run(IP, "-n", peer, "link", "set", vpeer, "up")
        run(IP, "-n", peer, "link", "set", "lo", "up")
        # routes for stack_next_hop(): the kernel of "own" has them, not the address
        run(IP, "-n", own, "route", "add", "198.51.100.0/24", "via", GW, "dev", vown, "onlink")
        run(IP, "-n", own, "route", "add", "default", "via", DEFGW, "dev", vown, "onlink")
        yield {"own": own, "peer": peer, "vown": vown, "vpeer": vpeer}
    finally:
        for ns in made:
            pids = run(IP, "netns", "pids", ns, check=False).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            run(IP, "netns", "del", ns, check=False)
    left = set(run(IP, "netns", "list").stdout.split()) & {own, peer}
    assert not left, "namespaces left behind: %s" % left


def ping(pair, count):
    return int(ns_run(pair["peer"], PYTHON, "-c", PING, OWNED, count, timeout=WAIT + 3 * count)
               .stdout)


def test_stack_arp_ping_resolve_nexthop(pair):
    """lwIP answers ARP and ping for an address the kernel does not have, and resolves the peer."""
    own_mac = link_mac(pair["own"], pair["vown"])
    peer_mac = link_mac(pair["peer"], pair["vpeer"])
    probe = Probe(pair["own"], ["-i", pair["vown"], "-a", OWNED + "/24", "-r", PEER,
                                "-n", PEER, "-n", "198.51.100.9", "-n", "203.0.113.5",
                                "-t", "120"])
    try:
        assert probe.wait_for("ready ") == "ready mac=%s" % own_mac
        assert probe.wait_for("nexthop %s " % PEER) == "nexthop %s %s" % (PEER, PEER)
        assert probe.wait_for("nexthop 198.51.100.9 ") == "nexthop 198.51.100.9 %s" % GW
        assert probe.wait_for("nexthop 203.0.113.5 ") == "nexthop 203.0.113.5 %s" % DEFGW
        # stack_resolve(): lwIP's ARP request, answered by the peer's kernel
        assert probe.wait_for("resolved ") == "resolved %s %s" % (PEER, peer_mac)

        # the peer's kernel forgets what it learnt from that request, so it must ask
        run(IP, "-n", pair["peer"], "neigh", "flush", "dev", pair["vpeer"])
        assert ping(pair, 3) == 3
        neigh = json.loads(run(IP, "-n", pair["peer"], "-j", "neigh", "show", OWNED,
                               "dev", pair["vpeer"]).stdout)
        assert neigh and neigh[0].get("lladdr") == own_mac, neigh

        # the kernel in "own" has no address: without the probe nothing answers
        addrs = json.loads(run(IP, "-n", pair["own"], "-j", "addr", "show", "dev",
                               pair["vown"]).stdout)
        assert not [a for a in addrs[0].get("addr_info", []) if a.get("family") == "inet"]
    finally:
        stats = probe.stop() if probe.proc.poll() is None else None
        probe.kill()
    assert stats is not None, "stack-probe died: %r" % probe.seen
    assert stats["echo_replies"] == 3
    assert stats["arp_replies"] >= 1
    assert stats["arp_requests"] >= 2        # the announcement and the resolution
    assert stats["resolved"] == 1
    assert stats["resolve_failed"] == 0
    assert stats["tx_errors"] == 0
    assert stats["tx_frames"] == stats["arp_replies"] + stats["arp_requests"] + stats["echo_replies"]


def test_stack_malformed_and_fragments(pair):
    """A fragment flood and malformed frames are counted and dropped; no ICMP for unknown UDP."""
    own_mac = link_mac(pair["own"], pair["vown"])
    probe = Probe(pair["own"], ["-i", pair["vown"], "-a", OWNED + "/24", "-t", "120"])
    try:
        probe.wait_for("ready ")
        assert ping(pair, 1) == 1
        sent = int(ns_run(pair["peer"], PYTHON, "-c", MALFORMED, pair["vpeer"], own_mac,
                          OWNED, PEER, timeout=60).stdout)
        assert sent > 360
        assert probe.proc.poll() is None, "stack-probe died: %r" % probe.seen
        # still answering after all that
        assert ping(pair, 2) == 2
        res = json.loads(ns_run(pair["peer"], PYTHON, "-c", UDP_THEN_PING, OWNED, PING,
                                timeout=30).stdout)
        assert res == {"small_ping": 1, "small_refused": False,
                       "fragmented_ping": 1, "fragmented_refused": False}, res
    finally:
        stats = probe.stop() if probe.proc.poll() is None else None
        probe.kill()
    assert stats is not None, "stack-probe died: %r" % probe.seen
    assert stats["rx_malformed"] >= 8
    assert stats["rx_l4"] >= 1               # the small UDP datagram, dropped before lwIP
    assert stats["udp_reassembled"] >= 1     # the fragmented one, reassembled by lwIP
    assert stats["echo_replies"] == 5
    assert stats["tx_errors"] == 0
    # lwIP's ICMP time exceeded for the abandoned reassemblies was not sent
    assert stats["tx_suppressed"] >= 1
    assert stats["tx_frames"] == stats["arp_replies"] + stats["arp_requests"] + stats["echo_replies"]
