"""browser: Chromium in a network namespace, for the web UI tests.

Starts tests/browser/driver.mjs (playwright-core driving Debian's
/usr/bin/chromium, headless) under `ip netns exec NS node` and talks to it
with one JSON line per command (see the head of driver.mjs):

    with Browser(net, "priv", viewport=(1280, 800), log_path=...) as b:
        b.goto("https://10.20.0.1/")
        b.fill("#login-password", "secret")
        b.click("#login-submit")
        b.wait_text("#stat-calls", r"^\\d")

Every read is bounded (the command's own timeout plus a margin); a command
the page refuses raises BrowserError with the driver's message; a driver
that dies or hangs raises BrowserError too. close() asks the driver to
exit, then kills its process group.
"""
import json
import os
import select
import shutil
import signal
import subprocess
import time

import netns

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
BROWSER_DIR = os.path.join(REPO, "tests", "browser")
DRIVER = os.path.join(BROWSER_DIR, "driver.mjs")
CHROMIUM = "/usr/bin/chromium"
NODE = shutil.which("node") or "/usr/bin/node"

DEFAULT_TIMEOUT = 10.0      # seconds a waiting command may take in the page
MARGIN = 15.0               # more for the answer to come back
START_TIMEOUT = 60.0        # Chromium's first start can be slow on a loaded machine


class BrowserError(RuntimeError):
    """The driver answered {"ok": false}, died, or did not answer in time."""


def available():
    """(True, "") when the browser tests can run here, else (False, why)."""
    if not os.access(CHROMIUM, os.X_OK):
        return False, "%s is missing (apt-get install chromium; tools/install-deps)" % CHROMIUM
    if not os.access(NODE, os.X_OK):
        return False, "node is missing (apt-get install nodejs npm; tools/install-deps)"
    if not os.path.isfile(os.path.join(BROWSER_DIR, "node_modules", "playwright-core",
                                       "package.json")):
        return False, ("playwright-core is not installed: npm ci --prefix tests/browser "
                       "(tools/install-deps does it)")
    return True, ""


class Browser:
    """One Chromium page in namespace ns (a TestNet role, or None for the
    host), driven through driver.mjs."""

    def __init__(self, net, ns, viewport=(1280, 800), log_path=None):
        self.net = net
        self.ns = ns
        self.log_path = log_path or os.path.join(net.tmpdir, "browser.log")
        self.buf = b""
        self.proc = None
        self.version = None
        argv = [NODE, DRIVER, "--viewport", "%dx%d" % viewport, "--chromium", CHROMIUM]
        argv = net.argv(ns, argv) if net is not None else argv
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.log, cwd=BROWSER_DIR, start_new_session=True)
        try:
            ready = self._read(START_TIMEOUT, "start")
            if not ready.get("ok"):
                raise BrowserError("driver did not start: %s" % ready.get("error"))
            self.version = ready["value"].get("version")
        except BaseException:
            self.kill()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- the line protocol --------------------------------------------------

    def _tail(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def _read(self, timeout, what):
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError("driver: no answer to %s within %.0f s\n--- driver log ---\n%s"
                                   % (what, timeout, self._tail()))
            r, _, _ = select.select([fd], [], [], left)
            if not r:
                continue
            data = os.read(fd, 65536)
            if not data:
                raise BrowserError("driver exited during %s\n--- driver log ---\n%s"
                                   % (what, self._tail()))
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        try:
            return json.loads(line)
        except ValueError:
            raise BrowserError("driver: not a JSON line after %s: %r" % (what, line[:200]))

    def command(self, cmd, timeout=DEFAULT_TIMEOUT, **args):
        """Send one command; its value, or BrowserError with the driver's message."""
        if self.proc is None or not self._alive():
            raise BrowserError("driver is not running")
        req = dict(args, cmd=cmd, timeout=int(timeout * 1000))
        what = "%s %s" % (cmd, json.dumps(args)[:200])
        try:
            self.proc.stdin.write(json.dumps(req).encode() + b"\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            raise BrowserError("driver exited before %s\n%s" % (what, self._tail()))
        resp = self._read(timeout + MARGIN, what)
        if not resp.get("ok"):
            raise BrowserError("%s: %s" % (what, resp.get("error")))
        return resp.get("value")

    # -- the commands -------------------------------------------------------

    def goto(self, url, timeout=20.0):
        return self.command("goto", url=url, timeout=timeout)

    def click(self, selector, timeout=DEFAULT_TIMEOUT):
        return self.command("click", selector=selector, timeout=timeout)

    def fill(self, selector, value, timeout=DEFAULT_TIMEOUT):
        return self.command("fill", selector=selector, value=value, timeout=timeout)

    def select(self, selector, value, timeout=DEFAULT_TIMEOUT):
        return self.command("select", selector=selector, value=value, timeout=timeout)

    def text(self, selector, timeout=DEFAULT_TIMEOUT):
        return self.command("text", selector=selector, timeout=timeout)

    def attr(self, selector, name, timeout=DEFAULT_TIMEOUT):
        return self.command("attr", selector=selector, name=name, timeout=timeout)

    def count(self, selector):
        return self.command("count", selector=selector)

    def wait_for(self, selector, state="visible", timeout=DEFAULT_TIMEOUT):
        return self.command("wait_for", selector=selector, state=state, timeout=timeout)

    def wait_text(self, selector, regexp, flags="", timeout=DEFAULT_TIMEOUT):
        """Wait until the element's innerText matches regexp (JavaScript
        syntax); returns that text."""
        return self.command("wait_text", selector=selector, regexp=regexp, flags=flags,
                            timeout=timeout)

    def screenshot(self, path, full_page=False, timeout=20.0):
        return self.command("screenshot", path=str(path), full_page=full_page, timeout=timeout)

    def eval(self, body, arg=None, timeout=DEFAULT_TIMEOUT):
        """Run `async (arg) => { body }` in the page; its (JSON) result."""
        return self.command("eval", body=body, arg=arg, timeout=timeout)

    def fetch(self, url, method="GET", headers=None, body=None, timeout=DEFAULT_TIMEOUT):
        """window.fetch from the page (its cookies): {"status": N, "body": text}."""
        return self.command("fetch", url=url, method=method, headers=headers or {}, body=body,
                            timeout=timeout)

    def console(self, clear=False):
        """The problems the page had so far (see driver.mjs): a list of
        {"kind", "text", "url"}."""
        return self.command("console", clear=clear)

    def viewport(self, width, height):
        return self.command("viewport", width=width, height=height)

    def url(self):
        return self.command("url")

    # -- the end ------------------------------------------------------------

    def _descendants(self):
        """Pids of the driver's descendants (Chromium runs in its own process
        group: playwright starts it detached), from /proc."""
        children = netns.proc_children()
        out, todo = [], [self.proc.pid]
        while todo:
            for c in children.get(todo.pop(), ()):
                out.append(c)
                todo.append(c)
        return out

    def _alive(self):
        """True while the driver has not exited; does not reap it (so its pid,
        and group id, cannot be reused while we signal them)."""
        try:
            return os.waitid(os.P_PID, self.proc.pid,
                             os.WEXITED | os.WNOHANG | os.WNOWAIT) is None
        except ChildProcessError:
            return False

    def kill(self):
        """SIGKILL the driver's process group, the browser's processes
        (its descendants, by pid) and reap the driver."""
        if self.proc is None:
            return
        if self._alive():
            for pid in self._descendants():
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass
        self.log.close()
        self.proc = None

    def close(self):
        """Ask the driver to close the browser (bounded), then kill the group."""
        if self.proc is None:
            return
        if self._alive():
            try:
                self.command("close", timeout=5.0)
            except BrowserError:
                pass
        self.kill()
