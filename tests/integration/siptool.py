#!/usr/bin/python3
"""siptool: tiny UDP helpers that netns.py runs inside a namespace.

Run as `ip netns exec NS /usr/bin/python3 siptool.py COMMAND ...` (Python 3.11
has no os.setns, so a helper process is the way into a namespace). Standard
library only; every command is bounded by --timeout.

  options  --dst IP:PORT [--src IP] [--timeout S] [--interval S]
           Send a SIP OPTIONS over UDP every --interval seconds (a new
           Call-ID and branch each time) until any SIP response arrives.
           Prints the response's status line. Exit 0 answered, 1 no answer.
  send     --dst IP:PORT [--src IP] [--payload TEXT] [--timeout S] [--interval S]
           Send a datagram every --interval seconds until a reply arrives.
           Prints the reply. Exit 0 reply, 1 no reply, 2 the kernel refused
           to send (no route: the errno name is printed).
  echo     --bind IP:PORT [--count N] [--timeout S]
           Echo datagrams back to their sender; exit after N datagrams
           (0: until the timeout). Prints "listening" once bound.
"""
import argparse
import errno
import secrets
import socket
import sys
import time

# errno values meaning "the kernel has no way there" (no route, no address)
UNREACH = (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL)


def addr(text):
    host, _, port = text.rpartition(":")
    return host, int(port)


def udp_socket(src):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    if src:
        s.bind((src, 0))
    return s


def options_request(dst, local):
    branch = "z9hG4bK" + secrets.token_hex(8)
    call_id = "probe-" + secrets.token_hex(8)
    lhost, lport = local
    return ("OPTIONS sip:%s:%d SIP/2.0\r\n"
            "Via: SIP/2.0/UDP %s:%d;branch=%s;rport\r\n"
            "Max-Forwards: 70\r\n"
            "From: <sip:probe@%s>;tag=%s\r\n"
            "To: <sip:%s:%d>\r\n"
            "Call-ID: %s\r\n"
            "CSeq: 1 OPTIONS\r\n"
            "Accept: application/sdp\r\n"
            "User-Agent: sbc-test-probe\r\n"
            "Content-Length: 0\r\n\r\n"
            % (dst[0], dst[1], lhost, lport, branch, lhost, secrets.token_hex(4),
               dst[0], dst[1], call_id)).encode()


def send_until_reply(s, dst, make_payload, accept, timeout, interval):
    """Send, wait up to interval for a reply, repeat until timeout.

    s is connected to dst. Returns (reply bytes or None, errno name or None). ICMP port unreachable
    (ECONNREFUSED) counts as no answer yet: the listener may not be bound.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            s.send(make_payload())
        except OSError as e:
            if e.errno in UNREACH:
                return None, errno.errorcode[e.errno]
            if e.errno != errno.ECONNREFUSED:
                raise
        wait_end = min(deadline, time.monotonic() + interval)
        while True:
            left = wait_end - time.monotonic()
            if left <= 0:
                break
            s.settimeout(left)
            try:
                data = s.recv(65535)
            except socket.timeout:
                break
            except ConnectionRefusedError:
                continue
            if accept(data):
                return data, None
        if time.monotonic() >= deadline:
            return None, None


def connect(s, dst):
    """Connect a UDP socket; the errno name if the kernel has no route."""
    try:
        s.connect(dst)
    except OSError as e:
        if e.errno in UNREACH:
            return errno.errorcode[e.errno]
        raise
    return None


def cmd_options(a):
    dst = addr(a.dst)
    s = udp_socket(a.src)
    err = connect(s, dst)
    if err:
        print("no answer (%s)" % err, flush=True)
        return 1
    local = s.getsockname()
    reply, err = send_until_reply(s, dst, lambda: options_request(dst, local),
                                  lambda d: d.startswith(b"SIP/2.0 "), a.timeout, a.interval)
    if reply is None:
        print("no answer" + (" (%s)" % err if err else ""), flush=True)
        return 1
    print(reply.split(b"\r\n", 1)[0].decode("latin-1"), flush=True)
    return 0


def cmd_send(a):
    dst = addr(a.dst)
    s = udp_socket(a.src)
    payload = a.payload.encode()
    err = connect(s, dst)
    if err:
        print("refused: %s" % err, flush=True)
        return 2
    reply, err = send_until_reply(s, dst, lambda: payload, lambda d: True, a.timeout, a.interval)
    if err:
        print("refused: %s" % err, flush=True)
        return 2
    if reply is None:
        print("no reply", flush=True)
        return 1
    print("reply: %s" % reply.decode("latin-1"), flush=True)
    return 0


def cmd_echo(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(addr(a.bind))
    print("listening", flush=True)
    deadline = time.monotonic() + a.timeout
    n = 0
    while a.count == 0 or n < a.count:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        s.settimeout(left)
        try:
            data, peer = s.recvfrom(65535)
        except socket.timeout:
            break
        s.sendto(data, peer)
        n += 1
        print("echoed %d bytes to %s:%d" % (len(data), peer[0], peer[1]), flush=True)
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(prog="siptool")
    sub = p.add_subparsers(dest="cmd", required=True)
    o = sub.add_parser("options")
    o.add_argument("--dst", required=True)
    o.add_argument("--src")
    o.add_argument("--timeout", type=float, default=10.0)
    o.add_argument("--interval", type=float, default=0.2)
    o.set_defaults(func=cmd_options)
    s = sub.add_parser("send")
    s.add_argument("--dst", required=True)
    s.add_argument("--src")
    s.add_argument("--payload", default="ping")
    s.add_argument("--timeout", type=float, default=2.0)
    s.add_argument("--interval", type=float, default=0.25)
    s.set_defaults(func=cmd_send)
    e = sub.add_parser("echo")
    e.add_argument("--bind", required=True)
    e.add_argument("--count", type=int, default=0)
    e.add_argument("--timeout", type=float, default=30.0)
    e.set_defaults(func=cmd_echo)
    a = p.parse_args(argv)
    return a.func(a)


if __name__ == "__main__":
    sys.exit(main())
