"""The SIP trace (docs/trace.md): trace.start, trace.stop, trace.status on
the control socket (docs/control.md), and the pcap file tshark reads back.

A phone in pub (203.0.113.11) registers through sbcd with a core in priv
(a sipp UAS at 10.20.0.10 that answers every REGISTER 200): the REGISTER
and its 200 cross both zones, so the trace must hold four SIP messages
with the addresses of both sides. The file is checked with tshark, IP
and UDP checksums validated.
"""
import os
import stat
import subprocess

import pytest

import netns
from ctlclient import ctl, ok
from netns import PBX, PUB, PUB_EXTRA, SBC_LAN, SBC_WAN, wait_for

PHONE = PUB_EXTRA[0]             # 203.0.113.11
SIP_PORT = 5060
MIB = 1048576


def refused(net, cmd, args, words):
    resp = ctl(net, cmd, args)
    assert resp.get("ok") is False, (cmd, args, resp)
    for w in words:
        assert w in resp.get("error", ""), (cmd, args, resp)
    return resp["error"]


def default_file(net):
    return os.path.join(net.tmpdir, "data", "trace.pcap")


def frames(path, display_filter=""):
    """[(ip.src, ip.dst, udp.srcport, udp.dstport, ip/udp checksum status, sip first line)]
    of every frame tshark reads in path (checksums validated)."""
    argv = [netns.TSHARK, "-n", "-r", path, "-o", "ip.check_checksum:TRUE",
            "-o", "udp.check_checksum:TRUE", "-T", "fields", "-E", "separator=\t",
            "-e", "ip.src", "-e", "ipv6.src", "-e", "ip.dst", "-e", "ipv6.dst",
            "-e", "udp.srcport", "-e", "udp.dstport", "-e", "ip.checksum.status",
            "-e", "udp.checksum.status", "-e", "sip.Request-Line", "-e", "sip.Status-Line"]
    if display_filter:
        argv += ["-Y", display_filter]
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=60)
    assert r.returncode == 0, "tshark -r %s: %s" % (path, r.stderr)
    out = []
    for line in r.stdout.splitlines():
        f = line.split("\t")
        out.append({"src": f[0] or f[1], "dst": f[2] or f[3], "sport": int(f[4]),
                    "dport": int(f[5]), "ip_ck": f[6], "udp_ck": f[7],
                    "line": f[8] or f[9]})
    return out


def options_text(src, sport, dst, n, pad=0, proto="UDP"):
    """An OPTIONS to the SBC itself; pad adds 4000-byte X-Pad lines."""
    return ("OPTIONS sip:%s SIP/2.0\r\n"
            "Via: SIP/2.0/%s %s:%d;branch=z9hG4bK-tr%d-%d;rport\r\n"
            "Max-Forwards: 70\r\nFrom: <sip:probe@%s>;tag=tr%d\r\nTo: <sip:%s>\r\n"
            "Call-ID: trace-%d-%d@%s\r\nCSeq: 1 OPTIONS\r\n%s"
            "Content-Length: 0\r\n\r\n"
            % (dst, proto, src, sport, os.getpid(), n, src, n, dst, os.getpid(), n, src,
               "".join("X-Pad: %s\r\n" % ("p" * 4000) for _ in range(pad))))


def test_trace_register_both_zones(testnet, sbcd):
    """Traced: the REGISTER and its 200 on both zones with the right
    addresses and ports, an OPTIONS over TCP (written as UDP between the
    same ends) and its 200. The file is 0600, tshark decodes every frame
    as SIP with good IP and UDP checksums, and trace.status counts exactly
    the frames and bytes of the file."""
    st = ok(testnet, "trace.status")
    assert st["running"] is False and st["started"] is None and st["reason"] is None, st
    assert st["file"] == default_file(testnet) and st["zone"] == "both", st
    assert st["max_bytes"] == 50 * MIB and st["max_s"] == 600, st

    st = ok(testnet, "trace.start")
    assert st["running"] is True and st["file"] == default_file(testnet), st
    assert st["started"] is not None and st["stopped"] is None and st["reason"] is None, st
    testnet.register_through(PHONE, SIP_PORT)
    r = testnet.sip_exchange("pub", "tcp", SBC_WAN, SIP_PORT,
                             [{"send": options_text(PUB, 5060, SBC_WAN, 1, proto="TCP")},
                              {"expect": 1, "timeout": 5}], src=PUB, timeout=20)
    assert r["messages"] and r["messages"][0].startswith("SIP/2.0 200"), r
    tcp_port = r["local"][1]
    st = ok(testnet, "trace.stop")
    assert st["running"] is False and st["reason"] == "operator", st
    assert st["stopped"] is not None and st["stopped"] >= st["started"], st

    path = st["file"]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert os.path.getsize(path) == st["bytes"], st
    got = frames(path)
    assert len(got) == st["packets"] > 0, (st, got)
    for f in got:
        assert f["line"], "a frame not decoded as SIP: %s" % f
        assert f["ip_ck"] == "1" and f["udp_ck"] == "1", "bad checksum: %s" % f

    def has(src, sport, dst, dport, start):
        return any(f["src"] == src and f["sport"] == sport and f["dst"] == dst and
                   f["dport"] == dport and f["line"].startswith(start) for f in got)
    assert has(PHONE, SIP_PORT, SBC_WAN, SIP_PORT, "REGISTER "), got
    assert has(SBC_LAN, SIP_PORT, PBX, SIP_PORT, "REGISTER "), got
    assert has(PBX, SIP_PORT, SBC_LAN, SIP_PORT, "SIP/2.0 200"), got
    assert has(SBC_WAN, SIP_PORT, PHONE, SIP_PORT, "SIP/2.0 200"), got
    assert has(PUB, tcp_port, SBC_WAN, SIP_PORT, "OPTIONS "), got
    assert has(SBC_WAN, SIP_PORT, PUB, tcp_port, "SIP/2.0 200"), got
    # the public side never shows a private address
    for f in got:
        if PHONE in (f["src"], f["dst"]):
            assert PBX not in (f["src"], f["dst"]) and SBC_LAN not in (f["src"], f["dst"])

    # stopping again changes nothing and is no error
    again = ok(testnet, "trace.stop")
    assert again == st, (again, st)
    assert ok(testnet, "trace.status") == st


def test_trace_one_zone_and_own_file(testnet, sbcd):
    """zone private and a file of our own: only the private side is
    written; the public side's OPTIONS and answers are not. While the trace
    runs the file is already a capture tshark reads (flushed each second),
    and a second trace.start is refused."""
    path = os.path.join(testnet.tmpdir, "priv-only.pcap")
    st = ok(testnet, "trace.start", {"zone": "private", "file": path, "max_s": 300,
                                     "max_bytes": 2 * MIB})
    assert st["zone"] == "private" and st["file"] == path and st["max_s"] == 300, st
    assert st["max_bytes"] == 2 * MIB, st
    refused(testnet, "trace.start", {}, ["a trace is already running"])
    testnet.wait_options([("pub", SBC_WAN, SIP_PORT, PUB), ("priv", SBC_LAN, SIP_PORT, PBX)])

    def flushed():
        got = frames(path)
        return got if any(f["line"].startswith("SIP/2.0 200") for f in got) else None
    got = wait_for(flushed, 15, "the running trace to be flushed to %s" % path)
    assert ok(testnet, "trace.status")["running"] is True
    st = ok(testnet, "trace.stop")
    got = frames(path)
    assert len(got) == st["packets"], (st, got)
    assert any(f["src"] == PBX and f["dst"] == SBC_LAN and f["line"].startswith("OPTIONS")
               for f in got), got
    for f in got:
        assert {f["src"], f["dst"]} <= {PBX, SBC_LAN}, "not of the private zone: %s" % f


def test_trace_max_bytes(testnet, sbcd):
    """max_bytes 1 MiB and 120 OPTIONS of about 12 KB from priv: the trace
    stops itself (reason max_bytes) with a file no larger than the limit
    that tshark reads whole; traffic after it is not written."""
    path = default_file(testnet)
    ok(testnet, "trace.start", {"max_bytes": MIB, "zone": "both"})
    steps = []
    for i in range(120):
        steps.append({"send": options_text(PBX, 5060, SBC_LAN, i, pad=3)})
    steps.append({"expect": 120, "timeout": 10})
    r = testnet.sip_exchange("priv", "udp", SBC_LAN, SIP_PORT, steps, src=PBX, timeout=30)
    assert len(r["messages"]) == 120, len(r["messages"])
    st = wait_for(lambda: (lambda s: s if not s["running"] else None)(ok(testnet, "trace.status")),
                  10, "the trace to stop at max_bytes")
    assert st["reason"] == "max_bytes", st
    assert MIB - 13000 < st["bytes"] <= MIB, st
    assert os.path.getsize(path) == st["bytes"], st
    got = frames(path)
    assert len(got) == st["packets"], st
    assert all(f["udp_ck"] == "1" for f in got)
    testnet.wait_options([("priv", SBC_LAN, SIP_PORT, PBX)])
    assert ok(testnet, "trace.status") == st
    assert os.path.getsize(path) == st["bytes"]


def test_trace_max_s(testnet, sbcd):
    """max_s 1: the trace stops itself with reason max_s."""
    ok(testnet, "trace.start", {"max_s": 1})
    st = wait_for(lambda: (lambda s: s if not s["running"] else None)(ok(testnet, "trace.status")),
                  15, "the trace to stop at max_s")
    assert st["reason"] == "max_s" and st["max_s"] == 1, st
    assert frames(st["file"]) is not None


def test_trace_arguments(testnet, sbcd):
    """Bad arguments are refused with a message naming what is wrong and
    start nothing; a file that is there and not a capture is not replaced;
    trace.stop without a trace answers the status (running false)."""
    st = ok(testnet, "trace.stop")
    assert st["running"] is False and st["started"] is None and st["reason"] is None, st
    cases = [
        ({"max_bytes": MIB - 1}, ["max_bytes", "1048576", "1073741824"]),
        ({"max_bytes": 1073741825}, ["max_bytes"]),
        ({"max_bytes": "50M"}, ["max_bytes"]),
        ({"max_s": 0}, ["max_s", "86400"]),
        ({"max_s": 86401}, ["max_s"]),
        ({"max_s": 1.5}, ["max_s"]),
        ({"zone": "dmz"}, ["zone", "public", "private", "both"]),
        ({"zone": 1}, ["zone"]),
        ({"file": "trace.pcap"}, ["file", "absolute"]),
        ({"file": "/tmp/"}, ["file"]),
        ({"file": ""}, ["file"]),
        ({"file": 7}, ["file"]),
        ({"file": "/no/such/folder/t.pcap"}, ["/no/such/folder/t.pcap"]),
        ({"x": 1}, ['"x"']),
    ]
    for args, words in cases:
        refused(testnet, "trace.start", args, words)
    cfg = os.path.join(testnet.tmpdir, "sbc.ini")
    before = open(cfg).read()
    refused(testnet, "trace.start", {"file": cfg}, ["not a capture file", "not replaced"])
    assert open(cfg).read() == before
    refused(testnet, "trace.start", {"file": testnet.tmpdir}, ["not a regular file"])
    refused(testnet, "trace.status", {"x": 1}, ['"x"'])
    refused(testnet, "trace.stop", {"x": 1}, ['"x"'])
    assert ok(testnet, "trace.status")["running"] is False
    assert not os.path.exists(default_file(testnet))
    for cmd in ("trace.start", "trace.stop", "trace.status"):
        assert cmd in ok(testnet, "help")


def test_trace_replaces_old_and_stops_at_shutdown(testnet, sbcd):
    """A second trace to the same file replaces the first (a capture); a
    trace still running when sbcd stops is closed as a whole file."""
    path = default_file(testnet)
    ok(testnet, "trace.start")
    testnet.wait_options([("priv", SBC_LAN, SIP_PORT, PBX)])
    first = ok(testnet, "trace.stop")
    assert first["packets"] >= 2
    st = ok(testnet, "trace.start", {"zone": "public"})
    assert st["packets"] == 0 and st["bytes"] == 24, st
    assert os.path.getsize(path) == 24
    testnet.wait_options([("pub", SBC_WAN, SIP_PORT, PUB)])
    assert testnet.stop_sbcd() == 0
    got = frames(path)
    assert len(got) >= 2, got
    assert all(SBC_WAN in (f["src"], f["dst"]) for f in got), got
