"""test_ring: the packet ring (src/media/ring.c) through tools/relay-ring, the
bare ring-to-ring relay, between two veths of the test network (netns.py).

sbc owns 203.0.113.2 on wan: the address is NOT configured in its kernel
(pub reaches it through a permanent neighbour entry for wan's MAC), the ring
takes its frames. relay-ring rewrites UDP for ports 20000-20099 to
10.20.0.10:40000 from 10.20.0.2 and sends it out of lan; priv checks every
datagram with a raw socket (IPv4 header and UDP checksums, addresses, ports,
TTL, payload) and with a UDP socket (the kernel drops bad checksums).
"""
import json
import os
import re
import signal
import time

import pytest

import netns

OWNED = "203.0.113.2"          # the ring's address on wan, not the kernel's
OTHER = "203.0.113.3"          # nobody's: ARP for it must not reach the ring
OUT_SRC = "10.20.0.2"          # the relay's source address on lan
SINK_PORT = 40000
PORTS = (20000, 20099)
N = 300                        # datagrams relayed
ARPS = 5                       # ARP requests for OWNED (and as many for OTHER)
PINGS = 2
PAYLOAD = 172

RELAY = os.path.join(os.environ.get("SBC_BUILD") or os.path.join(netns.REPO, "build"),
                     "tools", "relay-ring")

# priv: count UDP on 10.20.0.10:40000 and check each frame seen on eth0.
RECEIVER = r"""
import json, select, socket, struct, sys, time
n, port, payload = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
def csum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return s
raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
raw.bind(("eth0", 0x0800))
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
udp.bind(("10.20.0.10", port))
print("ready", flush=True)
r = {"udp": 0, "frames": 0, "bad_ip": 0, "bad_udp": 0, "bad_len": 0, "src": [], "sports": [],
     "ttl": [], "payload_ok": 0}
deadline = time.monotonic() + 20
while r["udp"] < n and time.monotonic() < deadline:
    rd, _, _ = select.select([raw, udp], [], [], 0.2)
    if udp in rd:
        data = udp.recv(4096)
        r["udp"] += 1
        r["payload_ok"] += data == bytes([0xd5]) * payload
    if raw in rd:
        f, addr = raw.recvfrom(4096)
        if addr[2] == socket.PACKET_OUTGOING or len(f) < 42 or f[23] != 17:
            continue
        ip = f[14:34]
        if struct.unpack("!H", f[36:38])[0] != port:
            continue
        r["frames"] += 1
        tot = struct.unpack("!H", ip[2:4])[0]
        seg = f[34:14 + tot]
        if len(seg) != struct.unpack("!H", seg[4:6])[0]:
            r["bad_len"] += 1
            continue
        r["bad_ip"] += csum(ip) != 0xffff
        pseudo = ip[12:20] + struct.pack("!BBH", 0, 17, len(seg))
        ck = struct.unpack("!H", seg[6:8])[0]
        r["bad_udp"] += ck == 0 or csum(pseudo + seg) != 0xffff
        src = socket.inet_ntoa(ip[12:16])
        if src not in r["src"]: r["src"].append(src)
        sp = struct.unpack("!H", seg[0:2])[0]
        if sp not in r["sports"]: r["sports"].append(sp)
        if ip[8] not in r["ttl"]: r["ttl"].append(ip[8])
time.sleep(0.3)
while select.select([raw], [], [], 0)[0]:
    f, addr = raw.recvfrom(4096)
    if addr[2] != socket.PACKET_OUTGOING and len(f) >= 42 and f[23] == 17 and \
       struct.unpack("!H", f[36:38])[0] == port:
        r["frames"] += 1
print(json.dumps(r), flush=True)
"""

# pub: N datagrams to OWNED over 10 ports of the range, then strays the ring must not see.
SENDER = r"""
import socket, sys, time
owned, n, first, payload = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("203.0.113.10", 0))
for i in range(n):
    s.sendto(bytes([0xd5]) * payload, (owned, first + i % 10))
    if i % 50 == 49:
        time.sleep(0.01)
s.sendto(b"x" * payload, ("203.0.113.1", first))     # the kernel's address: not the ring's
s.sendto(b"x" * payload, (owned, 30000))             # outside the port range
"""

# pub: ARP requests (broadcast) for each target address, count each.
ARPER = r"""
import socket, struct, sys
count, targets = int(sys.argv[1]), sys.argv[2:]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("eth0", 0))
mac = s.getsockname()[4]
for t in targets:
    for _ in range(count):
        arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, mac,
                          socket.inet_aton("203.0.113.10"), b"\0" * 6, socket.inet_aton(t))
        s.send(b"\xff" * 6 + mac + b"\x08\x06" + arp)
"""


# Turn off transmit checksum offload (ETHTOOL_STXCSUM ioctl: ethtool is not installed here).
# On veth a sender's UDP frames otherwise carry only the pseudo-header sum
# (CHECKSUM_PARTIAL, completed by a NIC that veth does not have); a real wire
# carries full checksums, and the ring relays what it gets.
TX_CSUM_OFF = r"""
import array, fcntl, socket, struct, sys
buf = array.array("B", struct.pack("II", 0x17, 0))
ifr = struct.pack("16sP", sys.argv[1].encode(), buf.buffer_info()[0])
fcntl.ioctl(socket.socket(socket.AF_INET, socket.SOCK_DGRAM), 0x8946, ifr)
"""


# pub: ICMP echo requests (ping is not installed here); nobody answers them.
PINGER = r"""
import socket, struct, sys
dst, count = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
for seq in range(count):
    body = struct.pack("!BBHHH", 8, 0, 0, 0x5b5b, seq) + b"p" * 32
    b = body + b"\0" * (len(body) % 2)
    c = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while c >> 16: c = (c & 0xffff) + (c >> 16)
    s.sendto(body[:2] + struct.pack("!H", ~c & 0xffff) + body[4:], (dst, 0))
"""


def mac_of(net, ns, ifname):
    return net.link(ns, ifname)["address"]


def kv(line):
    return {m.group(1): float(m.group(2)) for m in re.finditer(r"(\w+)=([-\d.]+)", line)}


def wait_line(proc, text, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(proc.out_path, errors="replace") as f:
            if text in f.read():
                return
        if not proc.running():
            break
        time.sleep(0.05)
    raise AssertionError("%s: no %r; stderr: %s" % (proc.name, text, proc.errors()[-2000:]))


@pytest.fixture
def ring_net(testnet):
    if not os.path.exists(RELAY):
        pytest.fail("%s missing: make BUILD=... all" % RELAY, pytrace=False)
    testnet.run("pub", [netns.PYTHON, "-c", TX_CSUM_OFF, "eth0"], check=True)
    wan_mac = mac_of(testnet, "sbc", "wan")
    testnet.run("pub", ["ip", "neigh", "replace", OWNED, "lladdr", wan_mac, "dev", "eth0",
                        "nud", "permanent"], check=True)
    return testnet


def start_relay(net, mode, busy):
    argv = [RELAY, "-i", "wan", "-o", "lan", "-a", OWNED, "-p", "%d-%d" % PORTS,
            "-m", mac_of(net, "priv", "eth0"), "-d", "%s:%d" % (netns.PBX, SINK_PORT),
            "-s", OUT_SRC, "-t", mode, "-n", "60"] + (["-b"] if busy else [])
    proc = net.popen("sbc", argv, name="relay-ring-%s" % mode)
    wait_line(proc, "ready tx=%s" % mode)
    return proc


@pytest.mark.parametrize("mode,busy", [("sendmmsg", False), ("ring", False),
                                       ("sendmmsg", True), ("ring", True)])
def test_ring_relays_filters_and_counts(ring_net, mode, busy):
    net = ring_net
    relay = start_relay(net, mode, busy)
    rx = net.popen("priv", [netns.PYTHON, "-c", RECEIVER, str(N), str(SINK_PORT), str(PAYLOAD)],
                   name="receiver")
    wait_line(rx, "ready")
    net.run("pub", [netns.PYTHON, "-c", SENDER, OWNED, str(N), str(PORTS[0]), str(PAYLOAD)],
            check=True)
    net.run("pub", [netns.PYTHON, "-c", ARPER, str(ARPS), OWNED, OTHER], check=True)
    net.run("pub", [netns.PYTHON, "-c", PINGER, OWNED, str(PINGS)], check=True)
    assert rx.wait(30) == 0, rx.errors()
    got = json.loads(rx.output().strip().splitlines()[-1])
    time.sleep(0.2)
    assert relay.stop(signal.SIGTERM) == 0
    r = kv(relay.output().strip().splitlines()[-1])

    # every datagram arrived once, intact, with correct checksums and the new addresses
    assert got["udp"] == N, got
    assert got["frames"] == N, got
    assert got["payload_ok"] == N
    assert (got["bad_ip"], got["bad_udp"], got["bad_len"]) == (0, 0, 0), got
    assert got["src"] == [OUT_SRC]
    assert sorted(got["sports"]) == list(range(PORTS[0], PORTS[0] + 10))
    assert got["ttl"] == [64]
    # the ring saw exactly: the datagrams, ARP for its address, the pings; no strays
    assert r["relayed"] == N, r
    assert r["tx"] == N and r["tx_errors"] == 0 and r["tx_full"] == 0, r
    assert r["arp"] == ARPS, r
    assert r["icmp"] == PINGS, r
    assert r["not_ours"] == 0 and r["other"] == 0, r
    assert r["rx"] == N + ARPS + PINGS, r
    assert r["rx_drops"] == 0, r


def test_relay_ring_reports_missing_interface(ring_net):
    r = ring_net.run("sbc", [RELAY, "-i", "nosuch0", "-o", "lan", "-a", OWNED, "-p", "20000-20099",
                             "-m", "02:00:00:00:00:01", "-d", "10.20.0.10:40000", "-s", OUT_SRC])
    assert r.returncode == 1
    assert "nosuch0" in r.stderr and "No such device" in r.stderr, r.stderr
