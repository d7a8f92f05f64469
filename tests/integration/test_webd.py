"""sbc-webd, the HTTPS server of the web UI (docs/webd.md).

sbc-webd runs as root in the sbc namespace after sbcd (so the serving
child drops to sbc-web), on the private zone's address 10.20.0.1:443 by
default; curl runs in the priv namespace (10.20.0.10, or 10.20.0.11 as a
second source) with -k (the certificate is self-signed). The web root is
a folder made per test, since the real UI is written elsewhere.
"""
import json
import os
import re
import socket
import stat
import threading

import pytest

import netns
import webd
from netns import PBX, PRIV2, PUB_EXTRA, SBC_LAN, SBC_WAN, wait_for
from sipmsg import scanner_probe

PASSWORD = "correct horse battery staple"
NOBODY = {"guard": {"allow": None}}
HEX64 = re.compile(r"^[0-9a-f]{64}$")
SEALED = re.compile(r"^[A-Za-z0-9_-]{90,160}$")      # a session token: base64url, no padding
PCAP_MAGIC = (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")


def state_dir(net):
    return os.path.join(net.tmpdir, "data", "web")


def read(path, mode="r"):
    with open(path, mode) as f:
        return f.read()


def cookie_attrs(set_cookie):
    """Set-Cookie split into (name, value) and a set of attribute names/pairs."""
    parts = [p.strip() for p in set_cookie.split(";")]
    name, value = parts[0].split("=", 1)
    return name, value, {p if "=" not in p else p.split("=", 1)[0] + "=" + p.split("=", 1)[1]
                         for p in parts[1:]}


def assert_security_headers(r):
    for name, value in webd.SECURITY_HEADERS.items():
        assert r.header(name) == value, (name, r)
    assert r.header("server") is None, r


def need_commands(client, *cmds):
    r = client.sbcd("help")
    assert r.status == 200, r
    have = r.json()["result"]
    missing = [c for c in cmds if c not in have]
    if missing:
        pytest.skip("sbcd has no %s command yet (help lists %s): rerun when it lands"
                    % (", ".join(missing), ", ".join(have)))


@pytest.fixture
def webroot(tmp_path):
    """index.html, js/app.js, a dot file, a file of a type not served, and
    symbolic links leading out of the root (a file and a folder)."""
    root = webd.make_webroot(str(tmp_path / "www"), {
        "index.html": "<!doctype html><title>sbc test</title>\n",
        "js/app.js": "console.log('sbc');\n",
        ".hidden.js": "secret\n",
        "notes.txt": "not served\n",
    })
    os.symlink("/etc/passwd", os.path.join(root, "passwd.js"))
    os.symlink("/etc", os.path.join(root, "etc"))
    return root


@pytest.fixture
def web(testnet, sbc_config, sbcd, webroot):
    """sbc-webd started after sbcd; after the test it must stop with status
    0 on SIGTERM and its log must hold no sanitizer report."""
    w = webd.start(testnet, sbc_config, webroot)
    yield w
    problems = w.problems()
    if problems:
        pytest.fail("\n".join(problems) + "\n--- sbc-webd log ---\n" + w.log(), pytrace=False)


@pytest.fixture
def admin(testnet, web):
    """A client from the PBX's address, logged in through the first-start setup."""
    c = webd.Client(testnet, web.url)
    r = c.setup(web.token, PASSWORD)
    assert r.status == 200, r
    return c


def test_first_start_and_setup(testnet, web):
    """First start prints one line with the URL and a setup token (the log
    names only the file); HTTPS answers on the private address :443 and
    nothing listens on the public one. Setup: wrong token 403, short or long
    password 400, right token 200 with a session cookie (HttpOnly, Secure,
    SameSite=Strict, Path=/); then the token file is gone, the password file
    holds one PBKDF2 line, and a second setup is 409."""
    out = web.output()
    assert out.count("\n") == 1 and out.startswith("sbc-webd: first login: "), out
    m = webd.TOKEN_RE.search(out)
    assert m and m.group(1) == "https://%s/" % SBC_LAN, out
    token_file = os.path.join(state_dir(testnet), "setup-token")
    assert read(token_file).strip() == web.token
    log = web.log()
    assert "setup token written to %s" % token_file in log, log
    assert web.token not in log, log
    assert read(os.path.join(state_dir(testnet), "metrics-token")).strip() not in log

    assert testnet.listening("sbc", "tcp", SBC_LAN, 443)
    assert not testnet.listening("sbc", "tcp", SBC_WAN, 443)
    r = webd.Client(testnet, "https://%s" % SBC_WAN, ns="pub").get("/", max_time=5)
    assert r.rc == 7 and r.status == 0, r            # curl: connection refused

    c = webd.Client(testnet, web.url)
    r = c.get("/api/session")
    assert r.status == 200 and r.json() == {"setup": True, "logged_in": False, "csrf": None}, r
    r = c.login(PASSWORD)
    assert r.status == 409, r
    r = c.setup("0" * 64, PASSWORD)
    assert r.status == 403 and r.json() == {"ok": False, "error": "wrong setup token"}, r
    assert r.header("set-cookie") is None, r
    r = c.setup(web.token, "short")
    assert r.status == 400 and "10 to 128" in r.json()["error"], r
    r = c.setup(web.token, "x" * 129)
    assert r.status == 400, r
    r = c.setup(web.token, PASSWORD)
    assert r.status == 200 and r.json()["ok"] is True and HEX64.match(r.json()["csrf"]), r
    name, value, attrs = cookie_attrs(r.header("set-cookie"))
    assert name == "sbc_session" and SEALED.match(value), r
    assert {"HttpOnly", "Secure", "SameSite=Strict", "Path=/"} <= attrs, attrs
    assert r.header("cache-control") == "no-store", r

    assert not os.path.exists(token_file)
    pw = read(os.path.join(state_dir(testnet), "password"))
    assert re.match(r"^pbkdf2-sha256\$600000\$[A-Za-z0-9+/]{22}==\$[A-Za-z0-9+/]{43}=\n$", pw), pw
    assert PASSWORD not in pw
    assert stat.S_IMODE(os.stat(os.path.join(state_dir(testnet), "password")).st_mode) == 0o600
    r = c.setup(web.token, PASSWORD)
    assert r.status == 409, r
    r = c.get("/api/session")
    assert r.json() == {"setup": False, "logged_in": True, "csrf": c.csrf}, r
    log = web.log()
    assert "password set with the setup token from %s" % PBX in log, log
    assert PASSWORD not in log and value not in log


def test_security_headers(testnet, web, admin):
    """Every answer, static or API, success or error, carries the security
    headers and no Server header; API answers are not cached."""
    c = webd.Client(testnet, web.url)
    for r in (c.get("/"), c.get("/js/app.js"), c.get("/nope.html"), c.get("/api/session"),
              c.get("/api/sbcd/status"), admin.sbcd("status"), c.get("/api/nothing"),
              c.get("/metrics")):
        assert r.status in (200, 401, 404), r
        assert_security_headers(r)
    r = admin.sbcd("status")
    assert r.status == 200 and r.header("cache-control") == "no-store", r
    assert r.header("content-type") == "application/json", r
    r = c.get("/")
    assert r.header("content-type") == "text/html; charset=utf-8", r


def test_static_files(testnet, web):
    """GET/HEAD from the web root without login; "/" is index.html; types
    by extension; traversal, dot files, symbolic links out of the root,
    folders and unknown types are 404; other methods 405; headers over
    8 KiB 400."""
    c = webd.Client(testnet, web.url)
    r = c.get("/")
    assert r.status == 200 and r.body == b"<!doctype html><title>sbc test</title>\n", r
    r = c.get("/js/app.js")
    assert r.status == 200 and r.header("content-type") == "text/javascript; charset=utf-8", r
    r = c.request("HEAD", "/js/app.js")
    assert r.status == 200 and r.header("content-length") == "20", r
    assert r.header("content-type") == "text/javascript; charset=utf-8", r
    for path in ("/../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/js/../../etc/passwd",
                 "/..%2f..%2fetc%2fpasswd", "/.hidden.js", "/passwd.js", "/etc/passwd",
                 "/etc/hostname", "/js/", "/js", "/notes.txt", "/nope.js", "//etc/passwd",
                 "/js/app.js%00.html"):
        r = c.get(path, extra=["--path-as-is"])
        assert r.status == 404, (path, r)
        assert b"root:" not in r.body and b"secret" not in r.body, (path, r)
        assert_security_headers(r)
    r = c.request("POST", "/index.html", body="x", ctype="text/plain")
    assert r.status == 405 and r.header("allow") == "GET, HEAD", r
    r = c.get("/", headers={"X-Big": "a" * 9000})      # headers over 8 KiB: libevent's 400
    assert r.status == 400, r
    assert c.get("/").status == 200


def test_login_rate_limit(testnet, web, admin):
    """A wrong password is 401; after five failures from one source the
    sixth attempt is 429 with Retry-After, even with the right password,
    while another source still logs in. The log has the failures with
    their source, never a password."""
    c2 = webd.Client(testnet, web.url, src=PRIV2)
    r = c2.get("/api/sbcd/status")
    assert r.status == 401 and r.json() == {"ok": False, "error": "login required"}, r
    for i in range(5):
        r = c2.login("wrong password %d" % i)
        assert r.status == 401 and r.json() == {"ok": False, "error": "wrong password"}, (i, r)
        assert r.header("set-cookie") is None
    r = c2.login("wrong password 5")
    assert r.status == 429, r
    retry = int(r.header("retry-after"))
    assert 1 <= retry <= 300, r
    r = c2.login(PASSWORD)
    assert r.status == 429, r
    c3 = webd.Client(testnet, web.url)          # from the PBX's address
    r = c3.login(PASSWORD)
    assert r.status == 200 and HEX64.match(r.json()["csrf"]), r
    assert c3.sbcd("status").status == 200
    log = web.log()
    assert log.count("login failed from %s" % PRIV2) == 5, log
    assert "login from %s" % PBX in log, log
    assert "wrong password" not in log and PASSWORD not in log


@pytest.mark.sbc_config(NOBODY)
def test_changes_need_csrf(testnet, web, admin):
    """A change (guard.unban of a banned source) without X-CSRF-Token, or
    with a wrong one, is 403; without JSON Content-Type 415; with a foreign
    Origin 403; with all right 200 and sbcd's answer as it is. A change
    command by GET and a read command by POST are 405, an unknown command
    404; logout ends the session."""
    src = PUB_EXTRA[0]
    scanner_probe(testnet, src, "webd")
    wait_for(lambda: any(b["source"] == src for b in admin.sbcd("guard.bans").json()["result"]),
             10, "ban of %s" % src)
    r = admin.post("/api/sbcd/guard.unban", {"source": src}, csrf=False)
    assert r.status == 403 and r.json() == {"ok": False, "error": "missing or wrong CSRF token"}, r
    r = admin.post("/api/sbcd/guard.unban", {"source": src}, csrf="0" * 64)
    assert r.status == 403, r
    r = admin.request("POST", "/api/sbcd/guard.unban", body=json.dumps({"source": src}),
                      ctype="text/plain", headers={"X-CSRF-Token": admin.csrf})
    assert r.status == 415, r
    r = admin.post("/api/sbcd/guard.unban", {"source": src},
                   headers={"Origin": "https://evil.example"})
    assert r.status == 403 and r.json()["error"] == "Origin does not match Host", r
    r = admin.post("/api/sbcd/guard.unban", {"source": src},
                   headers={"Origin": "https://%s" % SBC_LAN})
    assert r.status == 200 and r.json() == {"ok": True, "result": {"unbanned": src}}, r
    r = admin.post("/api/sbcd/guard.unban", {"source": src})
    assert r.status == 400 and r.json()["ok"] is False and "not banned" in r.json()["error"], r
    assert "guard.unban from %s" % PBX in web.log()

    r = admin.get("/api/sbcd/guard.unban")
    assert r.status == 405 and r.header("allow") == "POST", r
    r = admin.post("/api/sbcd/status", {})
    assert r.status == 405 and r.header("allow") == "GET", r
    for cmd in ("frobnicate", "ctl.shutdown", "STATUS", "status%2F..%2Fhelp"):
        r = admin.get("/api/sbcd/" + cmd)
        assert r.status == 404 and r.json()["ok"] is False, (cmd, r)
    r = admin.get("/api/nothing")
    assert r.status == 404 and r.json()["ok"] is False, r

    r = admin.sbcd("guard.top", {"n": 2})
    assert r.status == 200 and isinstance(r.json()["result"], list), r
    r = admin.get("/api/sbcd/guard.top?args=%7Bn%3A2%7D")
    assert r.status == 400 and r.json()["error"].startswith("bad JSON in args: "), r
    r = admin.get("/api/sbcd/guard.top?args=%5B%5D")
    assert r.status == 400 and r.json()["error"] == "args must be a JSON object", r
    r = admin.get("/api/sbcd/guard.top?n=2")
    assert r.status == 400, r
    r = admin.post("/api/sbcd/guard.unban", '{"source": ')
    assert r.status == 400 and r.json()["error"].startswith("bad JSON: "), r
    assert "column" in r.json()["error"], r
    r = admin.post("/api/sbcd/guard.unban", "[1, 2]")
    assert r.status == 400 and r.json()["error"] == "the body must be a JSON object", r
    r = admin.post("/api/sbcd/config.validate", '{"text": "%s"}' % ("x" * 200000),
                   headers={"Expect": None})
    assert r.status == 413, r

    r = admin.post("/api/logout", {})
    assert r.status == 200 and r.json() == {"ok": True}, r
    _, value, attrs = cookie_attrs(r.header("set-cookie"))
    assert value == "" and "Max-Age=0" in attrs, r
    r = admin.sbcd("status")
    assert r.status == 401, r


def test_metrics(testnet, web, admin):
    """/metrics: 401 with WWW-Authenticate: Bearer without credentials or
    with a wrong token; 200 in the Prometheus text format with the metrics
    token as a bearer token or with a session; sbcd's text then webd's."""
    need_commands(admin, "metrics")
    token = read(os.path.join(state_dir(testnet), "metrics-token")).strip()
    assert HEX64.match(token)
    c = webd.Client(testnet, web.url)
    r = c.get("/metrics")
    assert r.status == 401 and r.header("www-authenticate") == "Bearer", r
    r = c.get("/metrics", headers={"Authorization": "Bearer " + "0" * 64})
    assert r.status == 401, r
    r = c.get("/metrics", headers={"Authorization": "Bearer " + token})
    assert r.status == 200, r
    assert r.header("content-type") == "text/plain; version=0.0.4; charset=utf-8", r
    text = r.text
    assert "# TYPE sbc_" in text and 'sbc_webd_logins_total{result="ok"} 1\n' in text, text
    assert text.index("# TYPE sbc_") < text.index("sbc_webd_"), text
    r = admin.get("/metrics")
    assert r.status == 200 and "sbc_webd_sessions 1\n" in r.text, r
    assert token not in web.log()


def test_trace_download(testnet, web, admin):
    """No trace yet: 404. trace.start from the web refuses a "file"
    argument; a trace started and stopped from the web downloads as
    sbc-trace.pcap, byte for byte the file in data_dir."""
    need_commands(admin, "trace.start", "trace.stop", "trace.status")
    pcap = os.path.join(testnet.tmpdir, "data", "trace.pcap")
    if not os.path.exists(pcap):
        r = admin.get("/api/trace.pcap")
        assert r.status == 404 and r.json() == {"ok": False, "error": "no trace file"}, r
    r = admin.sbcd("trace.start", {"file": "/tmp/elsewhere.pcap"}, post=True)
    assert r.status == 400 and "file" in r.json()["error"], r
    r = admin.sbcd("trace.start", {}, post=True)
    assert r.status == 200 and r.json()["ok"] is True, r
    testnet.options_probe("priv", SBC_LAN, src=PBX)
    r = admin.sbcd("trace.stop", {}, post=True)
    assert r.status == 200 and r.json()["result"]["running"] is False, r
    r = webd.Client(testnet, web.url).get("/api/trace.pcap")
    assert r.status == 401, r
    r = admin.get("/api/trace.pcap")
    assert r.status == 200, r
    assert r.header("content-type") == "application/vnd.tcpdump.pcap", r
    assert r.header("content-disposition") == 'attachment; filename="sbc-trace.pcap"', r
    assert r.body[:4] in PCAP_MAGIC and r.body == read(pcap, "rb"), r


def test_sbcd_down_and_back(testnet, sbc_config, web, admin):
    """sbcd stopped: 502 "sbcd is not reachable"; started again: 200."""
    assert admin.sbcd("status").status == 200
    testnet.stop_sbcd()
    r = admin.sbcd("status")
    assert r.status == 502 and r.json() == {"ok": False, "error": "sbcd is not reachable"}, r
    r = admin.get("/metrics")
    assert r.status == 502, r
    testnet.start_sbcd(sbc_config)
    r = admin.sbcd("status")
    assert r.status == 200 and r.json()["result"]["zones"][1]["address"] == SBC_LAN, r


def test_sbcd_silent_504(testnet, sbc_config, webroot):
    """A control socket that takes requests and never answers: 504 after
    10 s, and the next request gets a fresh connection (504 again, not a
    reply meant for the first)."""
    path = netns.read_ini(sbc_config)["general"]["control_socket"]
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(8)
    held, stop = [], threading.Event()

    def accept():
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(srv.accept()[0])
            except OSError:
                pass
    t = threading.Thread(target=accept, daemon=True)
    t.start()
    w = webd.start(testnet, sbc_config, webroot)
    try:
        c = webd.Client(testnet, w.url)
        assert c.setup(w.token, PASSWORD).status == 200
        r = c.get("/api/sbcd/status", max_time=30)
        assert r.status == 504, r
        assert r.json() == {"ok": False, "error": "sbcd did not answer within 10 s"}, r
        r = c.get("/api/sbcd/help", max_time=30)
        assert r.status == 504, r
        assert len(held) == 2, held          # the first connection was dropped, a new one made
        assert "sbcd did not answer within 10 s" in w.log()
    finally:
        stop.set()
        t.join(5)
        for s in held:
            s.close()
        srv.close()
        problems = w.problems()
    assert not problems, problems


def status_ids(pid):
    fields = {}
    for line in read("/proc/%d/status" % pid).splitlines():
        k, _, v = line.partition(":")
        fields[k] = v.split()
    return fields


def test_privilege_separation(testnet, web, admin):
    """The parent stays root; the serving child runs as sbc-web (real,
    effective, saved and file-system ids), no other groups, no new
    privileges. The state folder belongs to sbc-web, 0700; files 0600."""
    user = webd.ensure_user()
    parent = status_ids(web.pid)
    assert parent["Uid"] == ["0"] * 4, parent["Uid"]
    child = status_ids(web.child_pid())
    assert child["Uid"] == [str(user.pw_uid)] * 4, child["Uid"]
    assert child["Gid"] == [str(user.pw_gid)] * 4, child["Gid"]
    assert child["Groups"] in ([], [str(user.pw_gid)]), child["Groups"]
    assert child["NoNewPrivs"] == ["1"], child["NoNewPrivs"]
    assert child["CapEff"] == ["0000000000000000"], child["CapEff"]
    st = os.stat(state_dir(testnet))
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (user.pw_uid, user.pw_gid, 0o700)
    for name in ("password", "metrics-token", "cert.pem", "key.pem", "session.key"):
        st = os.stat(os.path.join(state_dir(testnet), name))
        assert stat.S_IMODE(st.st_mode) == 0o600, (name, oct(st.st_mode))
        assert (st.st_uid, st.st_gid) == (user.pw_uid, user.pw_gid), name
    # the child reaches sbcd only through the parent: sbcd answers all the same
    assert admin.sbcd("status").status == 200


def session_cookie(client):
    """The sbc_session value in a client's cookie jar (None when it has none)."""
    if not os.path.exists(client.jar):
        return None
    for line in read(client.jar).splitlines():
        f = line.split("\t")
        if len(f) == 7 and f[5] == "sbc_session":
            return f[6]
    return None


def with_cookie(client, value, path="/api/sbcd/status"):
    """GET path with exactly this session cookie (not the jar's)."""
    return client.get(path, cookies=False, headers={"Cookie": "sbc_session=" + value})


def metric(text, name):
    m = re.search(r"^%s (\d+)$" % re.escape(name), text, re.M)
    assert m, (name, text)
    return int(m.group(1))


def refused_count(w, reason):
    token = read(os.path.join(state_dir(w.net), "metrics-token")).strip()
    r = webd.Client(w.net, w.url).get("/metrics", headers={"Authorization": "Bearer " + token})
    assert r.status == 200, r
    return metric(r.text, 'sbc_webd_session_refused_total{reason="%s"}' % reason)


def test_restart_keeps_password_cert_and_sessions(testnet, sbc_config, sbcd, webroot):
    """The certificate is made once and served again after a restart; the
    password survives the restart (no new first-login line), and so does
    the session: the cookie still works, with the same CSRF token."""
    w1 = webd.start(testnet, sbc_config, webroot)
    w2 = None
    try:
        c = webd.Client(testnet, w1.url)
        assert c.setup(w1.token, PASSWORD).status == 200
        cookie = session_cookie(c)
        assert cookie and SEALED.match(cookie), cookie
        cert = read(os.path.join(state_dir(testnet), "cert.pem"))
        served = webd.served_cert(testnet, SBC_LAN, 443)
        assert served and served.strip() == cert.strip(), served
        assert w1.stop() == 0
        w2 = webd.start(testnet, sbc_config, webroot)
        assert w2.token is None and w2.output() == "", w2.output()
        assert read(os.path.join(state_dir(testnet), "cert.pem")) == cert
        assert webd.served_cert(testnet, SBC_LAN, 443).strip() == cert.strip()
        assert "made a self-signed certificate" not in w2.log()
        r = c.get("/api/session")
        assert r.json() == {"setup": False, "logged_in": True, "csrf": c.csrf}, r
        assert c.sbcd("status").status == 200
        assert with_cookie(c, cookie).status == 200
        r = c.post("/api/sbcd/config.validate", {"text": "[general]\n"})
        assert r.status in (200, 400) and r.json()["ok"] in (True, False), r   # past the CSRF check
        assert c.login(PASSWORD).status == 200
        assert c.sbcd("status").status == 200
        assert cookie not in w2.log() and cookie not in w1.log()
    finally:
        problems = w1.problems() + (w2.problems() if w2 else [])
    assert not problems, problems


def test_logout_and_password_change_survive_restart(testnet, sbc_config, sbcd, webroot):
    """A logged-out cookie is 401, and still 401 after a restart, while
    another browser stays logged in. A password change logs out every
    other session for good; the browser that changed it keeps its session
    and CSRF token."""
    ws = [webd.start(testnet, sbc_config, webroot)]
    try:
        a = webd.Client(testnet, ws[0].url)
        assert a.setup(ws[0].token, PASSWORD).status == 200
        b = webd.Client(testnet, ws[0].url, src=PRIV2)
        assert b.login(PASSWORD).status == 200
        gone = session_cookie(a)
        assert a.post("/api/logout", {}).status == 200
        r = with_cookie(a, gone)
        assert r.status == 401 and r.json() == {"ok": False, "error": "login required"}, r
        revoked = os.path.join(state_dir(testnet), "sessions-revoked")
        assert stat.S_IMODE(os.stat(revoked).st_mode) == 0o600
        assert gone not in read(revoked)
        assert refused_count(ws[0], "revoked") == 1
        assert ws[0].stop() == 0

        ws.append(webd.start(testnet, sbc_config, webroot))
        assert with_cookie(a, gone).status == 401
        assert refused_count(ws[1], "revoked") == 1
        assert b.sbcd("status").status == 200          # the other session lives on

        c = webd.Client(testnet, ws[1].url)
        assert c.login(PASSWORD).status == 200
        old_c = session_cookie(c)
        csrf_b = b.csrf
        r = b.post("/api/password", {"old": PASSWORD, "new": PASSWORD + "!"})
        assert r.status == 200 and r.json() == {"ok": True}, r
        assert c.sbcd("status").status == 401
        assert b.sbcd("status").status == 200
        r = b.get("/api/session")
        assert r.json()["csrf"] == csrf_b, r
        assert ws[1].stop() == 0

        ws.append(webd.start(testnet, sbc_config, webroot))
        assert with_cookie(c, old_c).status == 401
        assert with_cookie(a, gone).status == 401
        assert b.sbcd("status").status == 200
        assert b.post("/api/sbcd/config.validate", {"text": "[general]\n"}).status in (200, 400)
        assert c.login(PASSWORD + "!").status == 200
        assert c.sbcd("status").status == 200
    finally:
        problems = [p for w in ws for p in w.problems()]
    assert not problems, problems


def test_foreign_and_bad_cookies(testnet, sbc_config, sbcd, webroot, tmp_path):
    """A cookie from another box (its own session.key) is 401; so are a
    tampered one, a truncated one, and one that is not base64url. Each is
    counted in /metrics by reason; the good cookie still works."""
    other_cfg = testnet.write_config(path=str(tmp_path / "other.ini"),
                                     overrides={"general": {"data_dir": str(tmp_path / "other")}})
    other = webd.start(testnet, other_cfg, webroot)
    try:
        o = webd.Client(testnet, other.url)
        assert o.setup(other.token, PASSWORD).status == 200
        foreign = session_cookie(o)
        assert o.sbcd("status").status in (200, 502)
    finally:
        problems = other.problems()
    assert not problems, problems
    assert read(str(tmp_path / "other" / "web" / "session.key"), "rb") != b""

    w = webd.start(testnet, sbc_config, webroot)
    try:
        c = webd.Client(testnet, w.url)
        assert c.setup(w.token, PASSWORD).status == 200
        good = session_cookie(c)
        assert with_cookie(c, good).status == 200
        r = with_cookie(c, foreign)
        assert r.status == 401 and r.json() == {"ok": False, "error": "login required"}, r
        r = with_cookie(c, foreign, "/api/session")
        assert r.json() == {"setup": False, "logged_in": False, "csrf": None}, r
        assert refused_count(w, "key") == 2
        mid = len(good) // 2
        tampered = good[:mid] + ("A" if good[mid] != "A" else "B") + good[mid + 1:]
        assert with_cookie(c, tampered).status == 401
        assert refused_count(w, "tampered") == 1 and refused_count(w, "malformed") == 0
        # truncated: by whole bytes the tag fails; at a ragged end the base64 is not canonical
        assert with_cookie(c, good[:-4]).status == 401
        assert refused_count(w, "tampered") + refused_count(w, "malformed") == 2
        before = refused_count(w, "malformed")
        for bad in ("!!not*base64!!", good[:-1] + "=", "0" * 64, "A" * 300):
            assert with_cookie(c, bad).status == 401, bad
        assert refused_count(w, "malformed") == before + 4
        assert refused_count(w, "expired") == 0 and refused_count(w, "future") == 0
        assert with_cookie(c, good).status == 200
        assert c.sbcd("status").status == 200
    finally:
        problems = w.problems()
    assert not problems, problems


def snapshot(folder):
    """{name: (mode, uid, gid, mtime_ns, bytes)} of the files in folder."""
    out = {}
    for name in sorted(os.listdir(folder)):
        st = os.stat(os.path.join(folder, name))
        out[name] = (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_mtime_ns,
                     read(os.path.join(folder, name), "rb"))
    return out


def test_init_first_boot(testnet, webroot, tmp_path):
    """--init on a fresh data dir makes the certificate and key, the session
    key and the setup token (0600, owned by sbc-web, in a 0700 folder of
    sbc-web) and prints the URL and the token; a second --init changes
    nothing and prints the same. The server started next keeps that token;
    once the password is set, --init says setup is done and changes
    nothing either."""
    user = webd.ensure_user()
    data = tmp_path / "box"
    cfg = testnet.write_config(path=str(tmp_path / "box.ini"),
                               overrides={"general": {"data_dir": str(data)}})
    exe = webd.binary()
    r = testnet.run("sbc", [exe, "--init", "-c", cfg], timeout=30)
    assert r.returncode == 0, r
    m = webd.TOKEN_RE.search(r.stdout)
    assert m and m.group(1) == "https://%s/" % SBC_LAN, r.stdout
    token = m.group(2)
    lines = r.stdout.splitlines()
    assert len(lines) == 2 and "https://%s/" % SBC_LAN in lines[1] and "setup token" in lines[1], r.stdout
    assert token not in r.stderr, r.stderr
    web = str(data / "web")
    st = os.stat(web)
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o700, user.pw_uid, user.pw_gid)
    first = snapshot(web)
    for name in ("cert.pem", "key.pem", "session.key", "setup-token"):
        assert name in first, (name, sorted(first))
        mode, uid, gid, _, _ = first[name]
        assert (mode, uid, gid) == (0o600, user.pw_uid, user.pw_gid), (name, first[name][:3])
    assert len(first["session.key"][4]) == 32
    assert first["setup-token"][4].decode().strip() == token
    assert not any(".tmp." in n for n in first), sorted(first)

    r2 = testnet.run("sbc", [exe, "--init", "-c", cfg], timeout=30)
    assert r2.returncode == 0 and r2.stdout == r.stdout, (r, r2)
    assert snapshot(web) == first

    w = webd.start(testnet, cfg, webroot)
    try:
        assert w.token == token, (w.token, token)
        c = webd.Client(testnet, w.url)
        assert c.setup(token, PASSWORD).status == 200
    finally:
        problems = w.problems()
    assert not problems, problems
    r3 = testnet.run("sbc", [exe, "--init", "-c", cfg], timeout=30)
    assert r3.returncode == 0, r3
    assert r3.stdout == "sbc-webd: setup done: the web UI is at https://%s/ (log in with the " \
                        "admin password)\n" % SBC_LAN, r3.stdout
    done = snapshot(web)
    assert "setup-token" not in done and "password" in done
    assert done["session.key"] == first["session.key"] and done["cert.pem"] == first["cert.pem"]
    r4 = testnet.run("sbc", [exe, "--init", "-c", cfg], timeout=30)
    assert r4.returncode == 0 and r4.stdout == r3.stdout, r4
    assert snapshot(web) == done


def test_init_errors(testnet, tmp_path):
    """--init: a configuration with errors exits 2 naming them; a data dir
    that cannot be made exits 1 naming it; nothing is printed on stdout."""
    exe = webd.binary()
    webd.ensure_user()
    bad = tmp_path / "bad.ini"
    bad.write_text("[general]\nno such key here\n")
    r = testnet.run("sbc", [exe, "--init", "-c", str(bad)], timeout=30)
    assert r.returncode == 2 and r.stdout == "" and "bad.ini" in r.stderr, r
    blocker = tmp_path / "file"
    blocker.write_text("not a folder\n")
    cfg = testnet.write_config(path=str(tmp_path / "blocked.ini"),
                               overrides={"general": {"data_dir": str(blocker / "data")}})
    r = testnet.run("sbc", [exe, "--init", "-c", cfg], timeout=30)
    assert r.returncode == 1 and r.stdout == "", r
    assert str(blocker / "data") in r.stderr and "Not a directory" in r.stderr, r.stderr
    r = testnet.run("sbc", [exe, "--init", "-t", "-c", cfg], timeout=30)
    assert r.returncode == 64, r


def test_listen_address_and_user_checks(testnet, webroot, tmp_path):
    """-t: without [private] address the listen address is the lan
    interface's (resolved through netlink); an interface that does not
    exist and a missing user are clear errors."""
    exe = webd.binary()
    webd.ensure_user()
    cfg = testnet.write_config(path=str(tmp_path / "noaddr.ini"), overrides={"private": {"address": None}})
    r = testnet.run("sbc", [exe, "-t", "-c", cfg, "-w", webroot])
    assert r.returncode == 0, r
    assert "would listen on https://%s:443/" % SBC_LAN in r.stdout, r.stdout
    cfg = testnet.write_config(path=str(tmp_path / "noif.ini"),
                               overrides={"private": {"address": None, "interface": "nosuch0"}})
    r = testnet.run("sbc", [exe, "-t", "-c", cfg, "-w", webroot])
    assert r.returncode == 1 and "interface nosuch0: not found" in r.stderr, r
    cfg = testnet.write_config(path=str(tmp_path / "nouser.ini"), overrides={"web": {"user": "sbc-nouser"}})
    r = testnet.run("sbc", [exe, "-t", "-c", cfg, "-w", webroot])
    assert r.returncode == 1, r
    assert ("user sbc-nouser does not exist (useradd --system --no-create-home --shell "
            "/usr/sbin/nologin sbc-nouser)") in r.stderr, r.stderr
    r = testnet.run("sbc", [exe, "-c", cfg, "-w", webroot], timeout=20)
    assert r.returncode == 1 and "user sbc-nouser does not exist" in r.stderr, r


CONNS_SCRIPT = r"""
import socket, ssl, sys
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
held, refused = [], 0
for i in range(70):
    s = socket.create_connection((sys.argv[1], 443), timeout=10)
    try:
        held.append(ctx.wrap_socket(s))
    except (ssl.SSLError, OSError):
        refused += 1
        s.close()
for t in held[:10]:
    t.close()
print(len(held), refused)
"""


def test_connection_limit(testnet, web, admin):
    """At most 64 connections: the 65th and later are refused in the TLS
    handshake; once some close, requests are served again."""
    r = testnet.run("priv", [netns.PYTHON, "-c", CONNS_SCRIPT, SBC_LAN], timeout=60)
    assert r.returncode == 0, r
    held, refused = map(int, r.stdout.split())
    assert (held, refused) == (64, 6), r.stdout
    wait_for(lambda: admin.sbcd("status").status == 200, 10, "an answer after the burst")
    assert "connections open: refusing more" in web.log()
