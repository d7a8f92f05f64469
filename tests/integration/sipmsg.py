#!/usr/bin/python3
"""sipmsg: SIP requests the integration tests write by hand, and the scanner probe.

    from sipmsg import scanner_probe
    scanner_probe(testnet, "203.0.113.11", "ctl")  -> first lines of what came back

Branch, tag and Call-ID are made unique per test process and call (tag
names the test module in them).
"""
import itertools
import os

from netns import SBC_WAN

SIP_PORT = 5060
_seq = itertools.count(1)


def scanner_options(src, tag, dst=SBC_WAN, port=SIP_PORT):
    """An OPTIONS with User-Agent friendly-scanner (sipvicious' mark) from
    src to dst:port, which the guard bans on its first packet."""
    n = next(_seq)
    return ("OPTIONS sip:%s:%d SIP/2.0\r\n"
            "Via: SIP/2.0/UDP %s:5060;branch=z9hG4bK-%s%d-%d;rport\r\n"
            "Max-Forwards: 70\r\n"
            "From: <sip:probe@%s>;tag=%s%d\r\n"
            "To: <sip:%s:%d>\r\n"
            "Call-ID: %s-%d-%d@%s\r\n"
            "CSeq: 1 OPTIONS\r\n"
            "User-Agent: friendly-scanner\r\n"
            "Content-Length: 0\r\n\r\n"
            % (dst, port, src, tag, os.getpid(), n, src, tag, n, dst, port,
               tag, os.getpid(), n, src))


def scanner_probe(net, src, tag, wait=0.5):
    """Send scanner_options() from src in namespace pub to the SBC's public
    address: the first lines of what came back within wait seconds ([] for
    none: a banned source gets no answer)."""
    r = net.sip_exchange("pub", "udp", SBC_WAN, SIP_PORT,
                         [{"send": scanner_options(src, tag)}, {"expect": 1, "timeout": wait}],
                         src=src, timeout=10)
    return [m.split("\r\n", 1)[0] for m in r["messages"]]
