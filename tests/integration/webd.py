"""webd: sbc-webd under test (docs/webd.md), and curl as its client.

sbc-webd runs in the sbc namespace of a netns.TestNet, after sbcd, as root
(so with privilege separation: the child drops to the sbc-web user, made
here with useradd when missing). Its stdout (the first-login line) and
its stderr (the log) go to files of the test's folder. Clients are curl
runs inside a namespace (priv by default) with a cookie jar of their own:

    w = webd.start(net, cfg, webroot)           # w.token: the setup token
    c = webd.Client(net, w.url)                 # curl from priv (10.20.0.10)
    r = c.post("/api/setup", {"token": w.token, "password": "..."})
    r.status, r.header("set-cookie"), r.json()

Every run of curl is bounded (--max-time) and so is every wait here.
"""
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import time

import netns

USER = "sbc-web"
TOKEN_RE = re.compile(r"^sbc-webd: first login: (https://\S+/) setup token ([0-9a-f]{64})$", re.M)
READY_RE = re.compile(r"sbc-webd \S+ ready$", re.M)
CURL = shutil.which("curl", path="/usr/bin:/bin") or "curl"
OPENSSL = shutil.which("openssl", path="/usr/bin:/bin") or "openssl"
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
                               "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; "
                               "base-uri 'none'; form-action 'self'",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "strict-transport-security": "max-age=31536000",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
}


def binary():
    """$SBC_BUILD/sbc-webd (SBC_BUILD defaults to <repo>/build)."""
    return os.path.join(os.environ.get("SBC_BUILD") or os.path.join(netns.REPO, "build"),
                        "sbc-webd")


def ensure_user():
    """The unprivileged user sbc-webd drops to; made (system user, no home,
    no shell) when missing. Returns its pwd entry."""
    try:
        return pwd.getpwnam(USER)
    except KeyError:
        pass
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                    USER], check=True, timeout=30, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return pwd.getpwnam(USER)


def make_webroot(path, files=None):
    """A web root at path with files {relative path: text} (default: an
    index.html and js/app.js), folders 0755 and files 0644 so that the
    unprivileged child can read them."""
    files = files or {"index.html": "<!doctype html><title>sbc</title>\n",
                      "js/app.js": "console.log('sbc');\n"}
    os.makedirs(path, exist_ok=True)
    os.chmod(path, 0o755)
    for rel, text in files.items():
        full = os.path.join(path, rel)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        os.chmod(os.path.dirname(full), 0o755)
        with open(full, "w") as f:
            f.write(text)
        os.chmod(full, 0o644)
    return str(path)


class Webd:
    """A running sbc-webd (its NetProc is proc)."""

    def __init__(self, net, config_path, webroot, proc, url, token):
        self.net = net
        self.config_path = config_path
        self.webroot = webroot
        self.proc = proc
        self.url = url              # https://10.20.0.1:443
        self.token = token          # the setup token, None when a password is set

    @property
    def pid(self):
        return self.proc.pid

    def output(self):
        return self.proc.output()

    def log(self):
        return self.proc.errors()

    def child_pid(self, timeout=5.0):
        """The serving child's pid (the process whose parent is sbc-webd)."""
        deadline = time.monotonic() + timeout
        while True:
            kids = netns.proc_children().get(self.pid)
            if kids:
                return kids[0]
            if time.monotonic() >= deadline:
                raise netns.NetError("sbc-webd (pid %d) has no child" % self.pid)
            time.sleep(0.05)

    def stop(self, timeout=10.0):
        """SIGTERM (the parent passes it to the child); the exit status."""
        return self.proc.stop(signal.SIGTERM, timeout=timeout)

    def problems(self):
        """What went wrong with this run: died on its own, bad exit, sanitizer."""
        out = []
        if self.proc.poll() is None:
            rc = self.stop()
            if rc != 0:
                out.append("sbc-webd exited with status %d after SIGTERM" % rc)
        report = netns.sanitizer_report(self.log())
        if report:
            out.append("sanitizer report in %s: %s" % (self.proc.err_path, report))
        return out


def host_port(config_path, default_host=netns.SBC_LAN):
    cfg = netns.read_ini(config_path)
    listen = cfg.get("web", {}).get("listen")
    if listen:
        host, port = str(listen).rsplit(":", 1)
        return host.strip("[]"), int(port)
    return str(cfg.get("private", {}).get("address", default_host)), 443


def start(net, config_path, webroot, args=(), timeout=20.0, env=None):
    """Start `sbc-webd -f -c CONFIG -w WEBROOT` in the sbc namespace and wait
    until it logs that it is ready and listens; read the setup token from
    its stdout (None when a password is already set)."""
    exe = binary()
    if not os.access(exe, os.X_OK):
        raise netns.NetError("%s is not built (make all, or set SBC_BUILD)" % exe)
    ensure_user()
    e = dict(os.environ if env is None else env)
    e.setdefault("ASAN_OPTIONS", "abort_on_error=0:detect_leaks=1")
    proc = net.popen("sbc", [exe, "-c", config_path, "-w", webroot] + list(args),
                     name="sbc-webd", env=e)
    host, port = host_port(config_path)
    deadline = time.monotonic() + timeout
    while not READY_RE.search(proc.errors()):
        if proc.poll() is not None:
            raise netns.NetError("sbc-webd exited with status %s before it was ready:\n%s%s"
                                 % (proc.returncode, proc.output(), netns.log_tail(proc.err_path)))
        if time.monotonic() >= deadline:
            raise netns.NetError("sbc-webd not ready within %s s:\n%s"
                                 % (timeout, netns.log_tail(proc.err_path)))
        time.sleep(0.05)
    net.wait_listening("sbc", "tcp", host, port, timeout=5, proc=proc)
    m = TOKEN_RE.search(proc.output())
    url = "https://%s:%d" % ("[%s]" % host if ":" in host else host, port)
    return Webd(net, config_path, webroot, proc, url, m.group(2) if m else None)


class Response:
    def __init__(self, rc, status, headers, body, size=0):
        self.rc = rc                # curl's exit status
        self.size = size            # body bytes curl received (0 for HEAD: none read)
        self.status = status        # HTTP status, 0 when there was none
        self.headers = headers      # [(lower-case name, value)] of the last response
        self.body = body            # bytes

    def header(self, name):
        """The first value of header name (any case), or None."""
        name = name.lower()
        for k, v in self.headers:
            if k == name:
                return v
        return None

    def header_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k == name]

    def json(self):
        return json.loads(self.body.decode())

    @property
    def text(self):
        return self.body.decode(errors="replace")

    def __repr__(self):
        return "<Response %d (curl %d) %r %r>" % (self.status, self.rc, self.headers,
                                                 self.body[:300])


class Client:
    """curl in namespace ns against url, with its own cookie jar; src picks
    the source address (curl --interface)."""

    _seq = 0

    def __init__(self, net, url, ns="priv", src=None):
        Client._seq += 1
        self.net = net
        self.url = url
        self.ns = ns
        self.src = src
        self.dir = os.path.join(net.tmpdir, "curl-%d" % Client._seq)
        os.makedirs(self.dir, exist_ok=True)
        self.jar = os.path.join(self.dir, "cookies")
        self.csrf = None
        self._n = 0

    def request(self, method, path, body=None, headers=None, ctype="application/json",
                cookies=True, extra=(), max_time=20):
        """One request; body: dict/list (sent as JSON), str or bytes."""
        self._n += 1
        hfile = os.path.join(self.dir, "h%d" % self._n)
        bfile = os.path.join(self.dir, "b%d" % self._n)
        argv = [CURL, "-sk", "--max-time", str(max_time), "-X", method, "-D", hfile,
                "-o", bfile, "-w", "%{http_code} %{size_download}"]
        if method == "HEAD":   # -I: curl reads no body; -o gets the headers then
            argv[argv.index("-X"):argv.index("-X") + 2] = ["-I"]
        if self.src:
            argv += ["--interface", self.src]
        if cookies:
            argv += ["-b", self.jar, "-c", self.jar]
        for k, v in (headers or {}).items():
            argv += ["-H", "%s: %s" % (k, v) if v is not None else "%s:" % k]
        if body is not None:
            if isinstance(body, (dict, list)):
                body = json.dumps(body)
            if isinstance(body, str):
                body = body.encode()
            dfile = os.path.join(self.dir, "d%d" % self._n)
            with open(dfile, "wb") as f:
                f.write(body)
            argv += ["--data-binary", "@" + dfile]
            if ctype:
                argv += ["-H", "Content-Type: " + ctype]
        argv += list(extra)
        argv.append(self.url + path)
        r = self.net.run(self.ns, argv, timeout=max_time + 10)
        w = r.stdout.split()
        status = int(w[0]) if w and w[0].isdigit() else 0
        size = int(w[1]) if len(w) > 1 and w[1].isdigit() else 0
        headers = []
        if os.path.exists(hfile):
            with open(hfile, "rb") as f:
                blocks = [b for b in f.read().decode(errors="replace").split("\r\n\r\n") if b.strip()]
            for line in (blocks[-1].split("\r\n")[1:] if blocks else []):
                if ":" in line:
                    k, v = line.split(":", 1)
                    headers.append((k.strip().lower(), v.strip()))
        data = b""
        if os.path.exists(bfile) and method != "HEAD":
            with open(bfile, "rb") as f:
                data = f.read()
        return Response(r.returncode, status, headers, data, size)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, csrf=True, headers=None, **kw):
        """POST with the CSRF token of the last login (csrf=False: without,
        or a string: that one)."""
        h = dict(headers or {})
        token = csrf if isinstance(csrf, str) else self.csrf if csrf else None
        if token:
            h["X-CSRF-Token"] = token
        return self.request("POST", path, body=body if body is not None else {}, headers=h, **kw)

    def setup(self, token, password):
        r = self.post("/api/setup", {"token": token, "password": password}, csrf=False)
        if r.status == 200:
            self.csrf = r.json()["csrf"]
        return r

    def login(self, password):
        r = self.post("/api/login", {"password": password}, csrf=False)
        if r.status == 200:
            self.csrf = r.json()["csrf"]
        return r

    def sbcd(self, cmd, args=None, post=False):
        """/api/sbcd/<cmd>: GET with ?args= or POST with the body."""
        if post:
            return self.post("/api/sbcd/" + cmd, args or {})
        q = ""
        if args is not None:
            from urllib.parse import quote
            q = "?args=" + quote(json.dumps(args), safe="")
        return self.get("/api/sbcd/" + cmd + q)


def served_cert(net, host, port, ns="priv"):
    """The certificate (PEM) the server at host:port presents."""
    r = net.run(ns, [OPENSSL, "s_client", "-connect", "%s:%d" % (host, port)], input="",
                timeout=20)
    m = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n?", r.stdout, re.S)
    return m.group(0) if m else None
