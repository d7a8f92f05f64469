#!/usr/bin/python3
"""siptool: small SIP helpers (UDP, TCP, TLS) that netns.py runs inside a namespace.

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
  exchange --proto udp|tcp|tls --dst IP:PORT [--src IP] [--timeout S] < STEPS.json
           Run a script of steps over one socket (UDP connected, TCP, or TLS
           without certificate checks) and print, as JSON, what came back:
             {"local": [ip, port], "events": [...], "closed": null|"eof"|"reset",
              "error": null|text, "peer_cert": hex DER (TLS)}
           events, in order: {"sent": n} (bytes of a send step),
           {"msg": text} (a SIP message: a datagram, or one framed by
           Content-Length on a stream), {"crlf": n} (CRLF bytes between
           messages on a stream: a keep-alive pong). Steps (a JSON list):
             {"send": text}                   latin-1 text; on a stream it goes
                                              out as one segment (TCP_NODELAY);
                                              $TO_TAG is replaced by the To tag
                                              of the last message received,
                                              $TO_TAG[CALLID] by that of the last
                                              one with that Call-ID
             {"sleep": s}
             {"expect": n, "timeout": s}      read until n "msg" events in all
             {"expect_crlf": n, "timeout": s} read until n CRLF bytes in all
             {"listen": s}                    read whatever comes for s seconds
             {"wait_close": s}                read until the peer closes
           Exit 0 (the caller judges the events), 2 on a connect error.
  conns    --dst IP:PORT --src IP --count N --keep K [--src2 IP --count2 M] [--timeout S]
           Open N TCP connections from --src in a burst, wait (bounded by
           --timeout) until the peer has closed all but K of them, send an
           OPTIONS on each one left open and read its answer; then the same
           with M connections from --src2. Prints JSON:
             {"opened": n, "connect_errors": [..], "closed": c, "open": k,
              "answers": [status line or null, ...], "src2": {...}}
"""
import argparse
import errno
import json
import re
import secrets
import select
import socket
import ssl
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


def options_text(dst, local, proto):
    """An OPTIONS to the SBC itself (no user part) with rport, over proto."""
    lhost, lport = local
    return ("OPTIONS sip:%s:%d SIP/2.0\r\n"
            "Via: SIP/2.0/%s %s:%d;branch=z9hG4bK%s;rport\r\n"
            "Max-Forwards: 70\r\n"
            "From: <sip:probe@%s>;tag=%s\r\n"
            "To: <sip:%s:%d>\r\n"
            "Call-ID: probe-%s\r\n"
            "CSeq: 1 OPTIONS\r\n"
            "User-Agent: sbc-test-probe\r\n"
            "Content-Length: 0\r\n\r\n"
            % (dst[0], dst[1], proto.upper(), lhost, lport, secrets.token_hex(8), lhost,
               secrets.token_hex(4), dst[0], dst[1], secrets.token_hex(8)))


class StreamParser:
    """Splits a byte stream into SIP messages (Content-Length framing) and
    the CRLF runs between them (keep-alive pongs)."""

    def __init__(self):
        self.buf = b""

    def feed(self, data):
        self.buf += data
        events = []
        while self.buf:
            n = 0
            while n < len(self.buf) and self.buf[n:n + 1] in (b"\r", b"\n"):
                n += 1
            if n:
                events.append({"crlf": n})
                self.buf = self.buf[n:]
                continue
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                break
            head = self.buf[:end + 4]
            clen = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() in (b"content-length", b"l"):
                    try:
                        clen = int(value.strip())
                    except ValueError:
                        clen = 0
            if len(self.buf) < end + 4 + clen:
                break
            events.append({"msg": self.buf[:end + 4 + clen].decode("latin-1")})
            self.buf = self.buf[end + 4 + clen:]
        return events


class Peer:
    """One socket to the SBC (udp, tcp or tls) and what came back on it."""

    def __init__(self, proto, dst, src, timeout):
        self.proto = proto
        self.events = []
        self.closed = None
        self.peer_cert = None
        self.parser = StreamParser()
        kind = socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM
        s = socket.socket(socket.AF_INET, kind)
        if src:
            s.bind((src, 0))
        if proto != "udp":
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.settimeout(timeout)
        s.connect(dst)
        if proto == "tls":
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            s = ctx.wrap_socket(s, server_hostname=None)
            der = s.getpeercert(binary_form=True)
            self.peer_cert = der.hex() if der else None
        self.sock = s
        self.local = list(s.getsockname()[:2])

    def send(self, text):
        data = text.encode("latin-1")
        if self.proto == "udp":
            self.sock.send(data)
        else:
            self.sock.sendall(data)
        self.events.append({"sent": len(data)})

    def last_to_tag(self, call_id=None):
        """The To tag of the last message received (of that Call-ID, if given)."""
        for msg in reversed([e["msg"] for e in self.events if "msg" in e]):
            hdrs = {}
            for line in msg.split("\r\n\r\n", 1)[0].split("\r\n")[1:]:
                name, _, value = line.partition(":")
                hdrs.setdefault(name.strip().lower(), value.strip())
            if call_id is not None and hdrs.get("call-id", hdrs.get("i")) != call_id:
                continue
            m = re.search(r";\s*tag=([^;>\s]+)", hdrs.get("to", hdrs.get("t", "")))
            return m.group(1) if m else ""
        return ""

    def substitute(self, text):
        """$TO_TAG[call-id] and $TO_TAG in a step's text."""
        text = re.sub(r"\$TO_TAG\[([^\]]+)\]", lambda m: self.last_to_tag(m.group(1)), text)
        return text.replace("$TO_TAG", self.last_to_tag())

    def count(self, kind):
        if kind == "msg":
            return sum(1 for e in self.events if "msg" in e)
        return sum(e["crlf"] for e in self.events if "crlf" in e)

    def read(self, until, seconds):
        """Read for up to seconds, or until until() is true or the peer closes."""
        deadline = time.monotonic() + seconds
        while not until() and self.closed is None:
            pending = self.proto == "tls" and self.sock.pending()
            left = deadline - time.monotonic()
            if left <= 0 and not pending:
                return
            if not pending:
                r, _, _ = select.select([self.sock], [], [], left)
                if not r:
                    continue
            try:
                data = self.sock.recv(65535)
            except ssl.SSLWantReadError:
                continue
            except ConnectionRefusedError:      # UDP: ICMP port unreachable
                continue
            except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
                self.closed = "reset"
                return
            if self.proto == "udp":
                self.events.append({"msg": data.decode("latin-1")})
            elif not data:
                self.closed = "eof"
            else:
                self.events.extend(self.parser.feed(data))


def cmd_exchange(a):
    steps = json.load(sys.stdin)
    out = {"local": None, "events": [], "closed": None, "error": None, "peer_cert": None}
    deadline = time.monotonic() + a.timeout
    try:
        p = Peer(a.proto, addr(a.dst), a.src, a.timeout)
    except (OSError, ssl.SSLError) as e:
        out["error"] = "connect: %s" % e
        print(json.dumps(out), flush=True)
        return 2
    out["local"], out["peer_cert"] = p.local, p.peer_cert
    try:
        for st in steps:
            left = max(0.0, deadline - time.monotonic())
            if "send" in st:
                p.send(p.substitute(st["send"]))
            elif "sleep" in st:
                time.sleep(min(st["sleep"], left))
            elif "expect" in st:
                n = st["expect"]
                p.read(lambda: p.count("msg") >= n, min(st.get("timeout", 5), left))
            elif "expect_crlf" in st:
                n = st["expect_crlf"]
                p.read(lambda: p.count("crlf") >= n, min(st.get("timeout", 5), left))
            elif "listen" in st:
                p.read(lambda: False, min(st["listen"], left))
            elif "wait_close" in st:
                p.read(lambda: False, min(st["wait_close"], left))
            else:
                raise ValueError("unknown step %r" % (st,))
    except (OSError, ssl.SSLError) as e:
        out["error"] = "%s" % e
        if p.closed is None and isinstance(e, (ConnectionResetError, BrokenPipeError)):
            p.closed = "reset"
    out["events"], out["closed"] = p.events, p.closed
    print(json.dumps(out), flush=True)
    return 0


def _burst(dst, src, count, keep, deadline):
    """Open count TCP connections from src; wait until all but keep are
    closed by the peer (or the deadline); OPTIONS on each still open."""
    socks, errors = [], []
    for _ in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.bind((src, 0))
        s.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            s.connect(dst)
        except OSError as e:
            errors.append(str(e))
            s.close()
            continue
        socks.append(s)
    open_ = list(socks)
    closed = 0
    while len(open_) > keep and time.monotonic() < deadline:
        r, _, _ = select.select(open_, [], [], max(0.0, deadline - time.monotonic()))
        for s in r:
            try:
                data = s.recv(65535)
            except OSError:
                data = b""
            if not data:
                open_.remove(s)
                s.close()
                closed += 1
    answers = []
    for s in open_:
        parser = StreamParser()
        line = None
        try:
            s.sendall(options_text(dst, s.getsockname(), "tcp").encode())
            while line is None and time.monotonic() < deadline:
                s.settimeout(max(0.1, deadline - time.monotonic()))
                data = s.recv(65535)
                if not data:
                    break
                for e in parser.feed(data):
                    if "msg" in e and line is None:
                        line = e["msg"].split("\r\n", 1)[0]
        except OSError:
            pass
        answers.append(line)
    return {"opened": len(socks), "connect_errors": errors, "closed": closed,
            "open": len(open_), "answers": answers}, open_


def cmd_conns(a):
    dst = addr(a.dst)
    deadline = time.monotonic() + a.timeout
    out, held = _burst(dst, a.src, a.count, a.keep, deadline)
    if a.src2:      # while the first source's connections are still held
        out["src2"], held2 = _burst(dst, a.src2, a.count2, a.count2, deadline)
        held += held2
    for s in held:
        s.close()
    print(json.dumps(out), flush=True)
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
    x = sub.add_parser("exchange")
    x.add_argument("--proto", choices=("udp", "tcp", "tls"), default="udp")
    x.add_argument("--dst", required=True)
    x.add_argument("--src")
    x.add_argument("--timeout", type=float, default=30.0)
    x.set_defaults(func=cmd_exchange)
    c = sub.add_parser("conns")
    c.add_argument("--dst", required=True)
    c.add_argument("--src", required=True)
    c.add_argument("--count", type=int, required=True)
    c.add_argument("--keep", type=int, required=True)
    c.add_argument("--src2")
    c.add_argument("--count2", type=int, default=1)
    c.add_argument("--timeout", type=float, default=10.0)
    c.set_defaults(func=cmd_conns)
    a = p.parse_args(argv)
    return a.func(a)


if __name__ == "__main__":
    sys.exit(main())
