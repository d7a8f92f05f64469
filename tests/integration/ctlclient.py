#!/usr/bin/python3
"""ctlclient: a small client of sbcd's control socket (docs/control.md), standard library only.

    from ctlclient import call, result
    call("/tmp/x/sbcd.sock", "status")            -> {"ok": True, "result": {...}}
    result("/tmp/x/sbcd.sock", "guard.bans")      -> the result, or raises CtlError
    ok(testnet, "calls")                          -> the result, asserted ok (a TestNet's sbcd)

The socket is a file, so a test can reach an sbcd that runs inside a network
namespace with a plain AF_UNIX connect. Every call is bounded by timeout.
From a shell: `python3 ctlclient.py SOCKET CMD ['{"arg": ...}']` prints the
response and exits 0 when it is ok, 1 when not.
"""
import json
import os
import socket
import sys
import time

MAX_RESPONSE = 64 * 1024 * 1024


class CtlClosed(ConnectionError):
    """The server closed the connection before a whole response line came."""


class CtlError(Exception):
    """A response with "ok": false; .error is its message."""

    def __init__(self, cmd, error):
        super().__init__(f"{cmd}: {error}")
        self.cmd = cmd
        self.error = error


class Conn:
    """One connection for several requests in turn: with Conn(path) as c: c.call(...)."""

    def __init__(self, sock_path, timeout=5.0):
        self.timeout = timeout
        self.buf = b""
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(sock_path)
        except BaseException:
            self.sock.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.sock.close()

    def send_raw(self, data):
        """Send bytes as they are (a test of framing); False if the server has closed."""
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError):
            return False

    def read_line(self, timeout=None):
        """The next response line as a dict; CtlClosed when the server closes first."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no response from the control socket")
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except ConnectionResetError:
                data = b""   # closed with our bytes unread (after a line too long)
            if not data:
                raise CtlClosed("the control socket closed the connection")
            self.buf += data
            if len(self.buf) > MAX_RESPONSE:
                raise ValueError("response longer than %d bytes" % MAX_RESPONSE)
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def call(self, cmd, args=None):
        """Send {"cmd": cmd, "args": args} and return the whole response object."""
        req = {"cmd": cmd}
        if args is not None:
            req["args"] = args
        # an early close is reported by read_line, after any response that came
        self.send_raw(json.dumps(req).encode() + b"\n")
        return self.read_line()


def call(sock_path, cmd, args=None, timeout=5.0):
    """One request on a new connection: the whole response ({"ok": ..., ...}).

    Raises CtlClosed if the connection closes before the response,
    TimeoutError after timeout seconds, OSError if the socket cannot be reached.
    """
    with Conn(sock_path, timeout) as c:
        return c.call(cmd, args)


def result(sock_path, cmd, args=None, timeout=5.0):
    """The result of a command that must succeed; CtlError carries the message otherwise."""
    resp = call(sock_path, cmd, args, timeout)
    if not resp.get("ok"):
        raise CtlError(cmd, resp.get("error"))
    return resp.get("result")


def sock_path(net):
    """The control socket of the sbcd a netns.TestNet started."""
    return os.path.join(net.rundir, "sbcd.sock")


def ctl(net, cmd, args=None, timeout=5.0):
    """call() on the socket of net's sbcd: the whole response."""
    return call(sock_path(net), cmd, args, timeout=timeout)


def ok(net, cmd, args=None):
    """The result of a command of net's sbcd, asserted to be ok."""
    resp = ctl(net, cmd, args)
    assert resp.get("ok") is True, (cmd, args, resp)
    return resp["result"]


def main(argv):
    if len(argv) not in (3, 4):
        print("usage: ctlclient.py SOCKET CMD [ARGS_JSON]", file=sys.stderr)
        return 64
    args = json.loads(argv[3]) if len(argv) == 4 else None
    resp = call(argv[1], argv[2], args)
    print(json.dumps(resp, indent=2))
    return 0 if resp.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
