"""sbc-netup, the network bring-up of the WAN and LAN ports (docs/netup.md).

The harness's sbc namespace is turned back into a freshly booted box: its
ports "wan" and "lan" are set down, emptied and renamed to the kernel's
names eth0 and eth1 (their peers stay in pub and priv with their
addresses). sbc-netup then runs inside the namespace with --wan eth0
--lan eth1, and the result is read back with `ip -j` (fine in a test; the
program itself never calls ip): names, link state, exactly the configured
addresses, the routes, the sysctls, and pings from the peers. A second run
changes nothing; a changed address replaces the old one; bad configurations
and a missing port change nothing at all; -n changes nothing.
"""
import json
import os
import subprocess

import pytest

import netns
from netns import IP, PBX, PUB, SBC_LAN, SBC_WAN

BUILD = os.environ.get("SBC_BUILD") or os.path.join(netns.REPO, "build")
NETUP = os.path.join(BUILD, "sbc-netup")
SBCD = os.path.join(BUILD, "sbcd")
KERNEL = {"wan": "eth0", "lan": "eth1"}
ARGS = ["--wan", "eth0", "--lan", "eth1"]

# The bring-up keys on top of the harness's config: the public gateway is
# pub's address, the private one the PBX; routes behind each.
NET_KEYS = {
    "public": {"prefix": 24, "gateway": PUB, "routes": "198.51.100.0/24"},
    "private": {"gateway": PBX, "routes": "10.30.0.0/16, 192.168.60.0/24", "mtu": 1400},
}
SYSCTLS = ["net.ipv4.conf.wan.rp_filter", "net.ipv4.conf.wan.accept_redirects",
           "net.ipv4.conf.all.accept_redirects", "net.ipv4.conf.wan.arp_ignore",
           "net.ipv6.conf.wan.accept_ra", "net.ipv6.conf.wan.autoconf",
           "net.ipv6.conf.lan.accept_ra", "net.ipv4.conf.lan.arp_announce"]

# An ICMP echo from inside a namespace, with a bounded wait: exit 0 on a reply.
PING = r"""
import os, socket, struct, sys, time
dst = sys.argv[1]
v6 = ":" in dst
s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_RAW,
                  socket.IPPROTO_ICMPV6 if v6 else socket.IPPROTO_ICMP)
ident = os.getpid() & 0xffff
def csum(b):
    b += b"\0" * (len(b) % 2)
    t = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    t = (t >> 16) + (t & 0xffff)
    return ~(t + (t >> 16)) & 0xffff
body = struct.pack("!BBHHH", 128 if v6 else 8, 0, 0, ident, 1) + b"sbc-netup"
if not v6:
    body = body[:2] + struct.pack("!H", csum(body)) + body[4:]
s.sendto(body, (dst, 0))
deadline = time.monotonic() + 3
while time.monotonic() < deadline:
    s.settimeout(max(0.01, deadline - time.monotonic()))
    try:
        pkt = s.recv(2048)
    except socket.timeout:
        break
    icmp = pkt if v6 else pkt[(pkt[0] & 15) * 4:]
    if len(icmp) >= 8 and icmp[0] == (129 if v6 else 0) and struct.unpack("!H", icmp[4:6])[0] == ident:
        sys.exit(0)
sys.exit(1)
"""


def need_binaries():
    for path in (NETUP, SBCD):
        if not os.path.exists(path):
            pytest.fail("no %s (make all, or set SBC_BUILD)" % path, pytrace=False)


def fresh_box(net):
    """The sbc namespace as the kernel boots it: eth0 and eth1, down, no addresses."""
    for zone_if, kernel in KERNEL.items():
        for cmd in (["link", "set", zone_if, "down"], ["addr", "flush", "dev", zone_if],
                    ["link", "set", zone_if, "name", kernel]):
            net.run("sbc", [IP] + cmd, check=True)


def netup(net, config, *extra, args=ARGS):
    return net.run("sbc", [NETUP, "-c", config] + list(args) + list(extra), timeout=30)


def ip_json(net, *args):
    r = net.run("sbc", [IP, "-j"] + list(args), check=True)
    return json.loads(r.stdout or "[]")


def global_addrs(net, ifname):
    """["ADDRESS/LEN", ...] of the interface's global addresses, both families."""
    return sorted("%s/%d" % (a["local"], a["prefixlen"])
                  for link in ip_json(net, "addr", "show", "dev", ifname)
                  for a in link.get("addr_info", []) if a.get("scope") == "global")


def routes(net, family="-4"):
    return ip_json(net, family, "route", "show", "table", "main")


def route(net, dst, family="-4"):
    """The main-table route to dst ("default" or NET/LEN), or None."""
    found = [r for r in routes(net, family) if r["dst"] == dst]
    assert len(found) <= 1, found
    return found[0] if found else None


def snapshot(net):
    """What sbc-netup may change: links (name, mtu, UP), addresses, routes, sysctls."""
    links = sorted((ln["ifname"], ln.get("mtu"), "UP" in ln.get("flags", []))
                   for ln in ip_json(net, "link", "show"))
    addrs = sorted((ln["ifname"], a["family"], a["local"], a["prefixlen"])
                   for ln in ip_json(net, "addr", "show") for a in ln.get("addr_info", []))
    rts = sorted(json.dumps(r, sort_keys=True) for fam in ("-4", "-6")
                 for r in routes(net, fam))
    names = {ln[0] for ln in links}
    sysctls = {}
    for key in SYSCTLS:
        dev = key.split(".")[3]
        if dev == "all" or dev in names:
            sysctls[key] = net.sysctl("sbc", key)
    return {"links": links, "addrs": addrs, "routes": rts, "sysctls": sysctls}


def ping(net, ns, dst):
    return net.run(ns, [netns.PYTHON, "-c", PING, dst], timeout=15).returncode == 0


def ok(r):
    assert r.returncode == 0, "exit %d\nstdout: %s\nstderr: %s" % (r.returncode, r.stdout, r.stderr)
    return r


@pytest.fixture
def box(testnet):
    need_binaries()
    fresh_box(testnet)
    return testnet


def test_bring_up(box):
    net = box
    cfg = net.write_config(overrides=NET_KEYS)
    before = snapshot(net)

    # -n: the plan, and nothing changed
    r = ok(netup(net, cfg, "-n"))
    assert "wan: would rename eth0 to wan" in r.stdout
    assert "lan: would add address %s/24" % SBC_LAN in r.stdout
    assert "wan: would add route default via %s" % PUB in r.stdout
    assert snapshot(net) == before

    r = ok(netup(net, cfg))
    assert "wan: rename eth0 to wan" in r.stdout
    assert "lan: set mtu 1400 (was 1500)" in r.stdout
    names = {ln["ifname"]: ln for ln in ip_json(net, "link", "show")}
    assert "eth0" not in names and "eth1" not in names
    for ifname in ("lo", "wan", "lan"):
        assert "UP" in names[ifname]["flags"], names[ifname]
    assert names["lan"]["mtu"] == 1400
    assert names["wan"]["mtu"] == 1500
    assert global_addrs(net, "wan") == [SBC_WAN + "/24"]
    assert global_addrs(net, "lan") == [SBC_LAN + "/24"]

    d = route(net, "default")
    assert d and d["gateway"] == PUB and d["dev"] == "wan" and d["protocol"] == "static", d
    for dst, gw, dev in (("198.51.100.0/24", PUB, "wan"), ("10.30.0.0/16", PBX, "lan"),
                         ("192.168.60.0/24", PBX, "lan")):
        rt = route(net, dst)
        assert rt and rt["gateway"] == gw and rt["dev"] == dev, (dst, rt)
    assert net.sysctl("sbc", "net.ipv4.conf.wan.rp_filter") == "1"
    assert net.sysctl("sbc", "net.ipv4.conf.lan.rp_filter") == "0"
    assert net.sysctl("sbc", "net.ipv6.conf.wan.accept_ra") == "0"
    assert net.sysctl("sbc", "net.ipv6.conf.wan.autoconf") == "0"
    assert net.sysctl("sbc", "net.ipv4.conf.all.accept_redirects") == "0"

    assert ping(net, "pub", SBC_WAN)
    assert ping(net, "priv", SBC_LAN)
    # a routes entry in use: 10.30.0.5 lives on the PBX host, reached via it
    net.add_address("priv", "10.30.0.5/32")
    assert ping(net, "sbc", "10.30.0.5")

    # a second and third run: nothing changes, the same words
    after = snapshot(net)
    r2 = ok(netup(net, cfg))
    assert r2.stdout == "sbc-netup: nothing to change\n"
    assert snapshot(net) == after
    r3 = ok(netup(net, cfg))
    assert r3.stdout == r2.stdout
    # without --wan/--lan, the ports are found by their zone names
    assert ok(netup(net, cfg, args=[])).stdout == r2.stdout


def test_changed_address_replaces_the_old(box):
    net = box
    cfg = net.write_config(overrides=NET_KEYS)
    ok(netup(net, cfg))
    # an address and a route of ours left behind by hand
    net.run("sbc", [IP, "addr", "add", "203.0.113.77/24", "dev", "wan"], check=True)
    net.run("sbc", [IP, "route", "add", "172.16.0.0/12", "via", PUB, "proto", "static"], check=True)
    cfg2 = net.write_config(overrides=dict(NET_KEYS, public=dict(
        NET_KEYS["public"], address="203.0.113.2", routes="198.51.100.0/25")))
    r = ok(netup(net, cfg2))
    assert "wan: remove address %s/24" % SBC_WAN in r.stdout
    assert "wan: add address 203.0.113.2/24" in r.stdout
    assert global_addrs(net, "wan") == ["203.0.113.2/24"]
    assert global_addrs(net, "lan") == [SBC_LAN + "/24"]
    d = route(net, "default")
    assert d and d["gateway"] == PUB and d["dev"] == "wan", d
    assert route(net, "198.51.100.0/25")
    assert route(net, "198.51.100.0/24") is None
    assert route(net, "172.16.0.0/12") is None
    assert route(net, "10.30.0.0/16")
    assert ping(net, "pub", "203.0.113.2")
    assert ok(netup(net, cfg2)).stdout == "sbc-netup: nothing to change\n"


BAD = [
    ("gateway_outside", {"public": {"gateway": "198.51.100.1"}}, 2,
     "[public] gateway: 198.51.100.1 is outside 203.0.113.0/24 (address/prefix)"),
    ("routes_without_gateway", {"private": {"routes": "10.30.0.0/16"}}, 2,
     "[private] routes: needs gateway (the next hop of every route)"),
    ("prefix_too_long", {"public": {"prefix": 33}}, 2,
     "[public] prefix: 33 is too long for the IPv4 address 203.0.113.1 (1-32)"),
]


@pytest.mark.parametrize("name,overrides,code,message", BAD, ids=[b[0] for b in BAD])
def test_bad_config_changes_nothing(box, name, overrides, code, message):
    net = box
    cfg = net.write_config(overrides=overrides)
    before = snapshot(net)
    for extra in ((), ("-n",)):
        r = netup(net, cfg, *extra)
        assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
        assert "%s: %s" % (cfg, message) in r.stderr, r.stderr
        assert r.stdout == ""
    assert snapshot(net) == before
    # sbcd -t refuses the same file with the same line
    t = subprocess.run([SBCD, "-t", "-c", cfg], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=30)
    assert t.returncode == 2 and "%s: %s" % (cfg, message) in t.stderr, (t.returncode, t.stderr)


def test_missing_port_changes_nothing(box):
    net = box
    cfg = net.write_config(overrides=NET_KEYS)
    before = snapshot(net)
    r = netup(net, cfg, args=["--wan", "eth9", "--lan", "eth1"])
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "eth9: no such interface (--wan; and there is no interface wan)" in r.stderr
    assert r.stdout == ""
    r = netup(net, cfg, args=["--wan", "eth0"])
    assert r.returncode == 1
    assert "lan: no such interface ([private] interface; name the kernel's port to rename " \
           "with --lan)" in r.stderr
    r = netup(net, cfg, args=["--wan", "eth0", "--lan", "eth0"])
    assert r.returncode == 64 and "--wan and --lan are both eth0" in r.stderr
    assert snapshot(net) == before
    # after a good run, a bad file still changes nothing
    ok(netup(net, cfg))
    after = snapshot(net)
    bad = net.write_config(path=os.path.join(net.tmpdir, "bad.ini"),
                           overrides=dict(NET_KEYS, public={"address": "203.0.113.9",
                                                            "gateway": "10.20.0.10"}))
    r = netup(net, bad)
    assert r.returncode == 2 and "[public] gateway: 10.20.0.10 is outside 203.0.113.0/24" in r.stderr
    assert snapshot(net) == after


def test_ipv6_zone(tmp_path):
    """A public zone on IPv6: the prefix defaults to 64, the gateway is a
    link-local neighbour, no duplicate address detection delays the
    address."""
    need_binaries()
    netns_ok, why = netns.netns_available()
    if not netns_ok:
        pytest.skip(why)
    with netns.TestNet(tmpdir=tmp_path, ipv6=True) as net:
        fresh_box(net)
        pub_ll = [a["local"] for ln in json.loads(net.run("pub", [IP, "-j", "-6", "addr", "show", "dev",
                                                                  "eth0"], check=True).stdout)
                  for a in ln["addr_info"] if a.get("scope") == "link"]
        assert pub_ll, "pub eth0 has no link-local address"
        net.run("pub", [IP, "addr", "add", "2001:db8:1::10/64", "dev", "eth0", "nodad"], check=True)
        cfg = net.write_config(overrides={
            "public": {"address": "2001:db8:1::1", "gateway": pub_ll[0],
                       "routes": "2001:db8:99::/48"},
            "private": {"gateway": PBX, "routes": "10.30.0.0/16"}})
        ok(netup(net, cfg))
        assert global_addrs(net, "wan") == ["2001:db8:1::1/64"]
        d = route(net, "default", "-6")
        assert d and d["gateway"] == pub_ll[0] and d["dev"] == "wan" and d["protocol"] == "static", d
        rt = route(net, "2001:db8:99::/48", "-6")
        assert rt and rt["gateway"] == pub_ll[0], rt
        addr = [a for ln in ip_json(net, "-6", "addr", "show", "dev", "wan") for a in ln["addr_info"]
                if a.get("scope") == "global"][0]
        assert not addr.get("tentative"), addr
        assert ping(net, "pub", "2001:db8:1::1")
        assert ok(netup(net, cfg)).stdout == "sbc-netup: nothing to change\n"
