"""The web UI in a real browser (issue 7 items 6 and 8).

One test network for the whole module (module-scoped: Chromium and the
daemons start once): sbcd in the sbc namespace, sbc-webd beside it on the
private address https://10.20.0.1/ (tests/integration/webd.py), and
Debian's Chromium driven by playwright-core (tests/browser/driver.mjs,
through browser.py) in the priv namespace, so it reaches the UI the way an
operator on the private LAN does. Phones and floods come from pub; the
control socket (ctlclient.py) is the truth the page is compared with.

The tests run in file order and share the browser's session:

  01 first login through the setup page with the token webd printed,
     logout, a wrong password refused (#login-error, and 401 from the API),
     then the right one;
  02 the dashboard shows sbcd's numbers; a phone's REGISTER from pub makes
     the registrations card 1;
  03 an OPTIONS flood from 203.0.113.12 (3,000 at 500/s, the allow list
     removed): the blocked card and the chart's data-total rise and end
     equal to guard.stats / guard.timeline; the README screenshots;
  04 the flooder's Unban button (confirmed in the page's dialog) lifts the
     ban; the Allow button of a scanner-banned source puts it on the runtime
     allow list;
  05 a limit (guard.rate_invite) validated and applied from the form; an
     invalid value shows sbcd's message and changes nothing on disk;
  06 a POST without X-CSRF-Token is refused 403 (the ban stays), with the
     token it is 200;
  07 a held call from pub: its Details button opens #call-details with the
     relay ports of calls.get and the packets RTP from the phone adds; its
     Hang up button (confirmed) ends it: both sipps end well and the
     details say "Call ended";
  08 at 375x667 no horizontal scroll and the menu opens;
  99 no console errors or CSP violations on any page, all along.

Screenshots go to <repo>/build/test-artefacts/web-ui/ (NN-step.png; old
ones are removed at the start). With SBC_UPDATE_SCREENSHOTS=1, a run in
which every test of this module passed copies the two dashboard shots to
docs/screenshots/dashboard.png and dashboard-phone.png.

HTTP error answers of /api/ calls that a test provokes (401 wrong
password, 403 without CSRF token, 400 for a refused config.apply) are
logged by Chromium as "Failed to load resource" console errors; those are
expected and the only console lines allowed. Any other console error, an
uncaught exception, a CSP violation or a failed request fails test 99.
"""
import configparser
import os
import re
import shutil
import sys
import time

import pytest

import browser
import ctlclient
import netns
import sipmsg
from conftest_netns import _require_netns, sbcd_problems
from netns import PUB_EXTRA, SBC_LAN, SBC_WAN, sipp_scenario

try:
    import webd
except ImportError:          # the harness helper of sbc-webd (docs/webd.md)
    webd = None

ARTEFACTS = os.path.join(netns.REPO, "build", "test-artefacts", "web-ui")
SCREENSHOTS = os.path.join(netns.REPO, "docs", "screenshots")
WEBROOT = os.path.join(netns.REPO, "web")
URL = "https://%s/" % SBC_LAN
SIP_PORT = 5060
PASSWORD = "correct horse battery"
WRONG = "wrong password 123"
DESKTOP = (1280, 800)
PHONE_SIZE = (390, 844)
SMALL = (375, 667)

PHONE = PUB_EXTRA[0]            # 203.0.113.11: registers
FLOODER = PUB_EXTRA[1]          # 203.0.113.12: the OPTIONS flood; unbanned from the page
SCANNER = PUB_EXTRA[2]          # 203.0.113.13: scanner-banned; allowed from the page
CSRF_VICTIM = PUB_EXTRA[3]      # 203.0.113.14: scanner-banned; the CSRF test's ban
FLOOD_COUNT, FLOOD_RATE = 3000, 500
RATE_INVITE, RATE_INVITE_NEW = 20, 27

# the harness allow-lists 203.0.113.0/24: removed (nobody), so pub's floods
# are policed; rate_invite is in the file so that the form shows it
CONFIG = {"guard": {"allow": None, "rate_invite": RATE_INVITE}}

API_REFUSALS = re.compile(r"status of (400|401|403|409|429)\b")
_shots = iter(range(1, 100))


# ---------------------------------------------------------------------------
# the module's network, daemons and browser

class Env:
    def __init__(self, net, cfg, web, page, sock):
        self.net = net
        self.cfg = cfg
        self.web = web
        self.b = page
        self.sock = sock
        self.shots = {}

    def ctl(self, cmd, args=None):
        """The result of a control command that must succeed."""
        return ctlclient.result(self.sock, cmd, args)

    def shot(self, step, full_page=False):
        """A screenshot of the page as ARTEFACTS/NN-step.png."""
        path = os.path.join(ARTEFACTS, "%02d-%s.png" % (next(_shots), step))
        self.b.screenshot(path, full_page=full_page)
        self.shots[step] = path
        print("screenshot: %s" % path)
        return path


def _start_webd(net, cfg):
    if webd is None:
        pytest.fail("tests/integration/webd.py (the sbc-webd harness helper) is missing",
                    pytrace=False)
    return webd.start(net, cfg, WEBROOT)


@pytest.fixture(scope="module")
def env(tmp_path_factory, request):
    ok, why = browser.available()
    if not ok:
        if os.environ.get("CI") == "true":
            pytest.fail(why, pytrace=False)
        pytest.skip(why)
    _require_netns()
    os.makedirs(ARTEFACTS, exist_ok=True)
    for name in os.listdir(ARTEFACTS):
        if name.endswith(".png"):
            os.unlink(os.path.join(ARTEFACTS, name))
    print("\nweb UI screenshots: %s" % ARTEFACTS)
    failed_before = request.session.testsfailed
    net = netns.TestNet(tmpdir=tmp_path_factory.mktemp("web-ui"))
    net.setup()
    page = web = None
    try:
        cfg = net.write_config(overrides=CONFIG)
        net.start_sbcd(cfg)
        web = _start_webd(net, cfg)
        page = browser.Browser(net, "priv", viewport=DESKTOP,
                               log_path=os.path.join(net.tmpdir, "browser.log"))
        e = Env(net, cfg, web, page, os.path.join(net.rundir, "sbcd.sock"))
        yield e
        if (request.session.testsfailed == failed_before
                and os.environ.get("SBC_UPDATE_SCREENSHOTS") == "1"):
            _update_screenshots(e)
    finally:
        if page is not None:
            page.close()
        problems = web.problems() if web is not None else []
        problems += sbcd_problems(net)
        net.close(raise_errors=False)
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


def _update_screenshots(e):
    want = {"dashboard.png": "dashboard-desktop", "dashboard-phone.png": "dashboard-phone"}
    if not all(step in e.shots for step in want.values()):
        print("SBC_UPDATE_SCREENSHOTS: the dashboard screenshots were not taken in this run",
              file=sys.stderr)
        return
    os.makedirs(SCREENSHOTS, exist_ok=True)
    for name, step in want.items():
        shutil.copyfile(e.shots[step], os.path.join(SCREENSHOTS, name))
        print("updated %s" % os.path.join(SCREENSHOTS, name))


# ---------------------------------------------------------------------------
# helpers

def number(text):
    """A card's number ("1,234" -> 1234); None if the card shows none."""
    t = text.strip().replace(",", "").replace("\u202f", "").replace("\u00a0", "")
    return int(t) if re.fullmatch(r"-?\d+", t) else None


def card(e, sel, timeout=10.0):
    """The number a dashboard card shows, once it shows one."""
    return number(e.b.wait_text(sel, r"^\s*-?[\d,]+\s*$", timeout=timeout))


def wait_until(pred, timeout, what):
    """pred()'s value once it is truthy (netns.wait_for, polled every 0.2 s)."""
    return netns.wait_for(pred, timeout, what, interval=0.2)


def visible(e, sel):
    return e.b.eval("const n = document.querySelector(arg);"
                    "return !!n && n.getClientRects().length > 0 && !n.closest('[hidden]');",
                    arg=sel)


def confirm_dialog(e, required=True):
    """Accept the page's own confirmation dialog (#confirm-dialog)."""
    if not required:
        time.sleep(0.3)
        if not visible(e, "#confirm-dialog"):
            return False
    e.b.wait_for("#confirm-dialog", "visible")
    e.b.click("#confirm-ok")
    e.b.wait_for("#confirm-dialog", "hidden")
    return True


def ensure_logged_in(e):
    """Log in with PASSWORD unless the page is in already (tests run alone too)."""
    e.b.goto(URL + "#/dashboard")
    e.b.wait_for("#login-view:visible, #app-view:visible", "visible")
    if visible(e, "#app-view"):
        return
    if visible(e, "#setup-form"):
        e.b.fill("#setup-token", e.web.token)
        e.b.fill("#setup-password", PASSWORD)
        e.b.fill("#setup-password2", PASSWORD)
        e.b.click("#setup-form button[type=submit]")
    else:
        e.b.fill("#login-password", PASSWORD)
        e.b.click("#login-form button[type=submit]")
    e.b.wait_for("#app-view", "visible")


def goto_view(e, route, view):
    ensure_logged_in(e)
    e.b.goto(URL + "#/" + route)
    e.b.wait_for("#view-" + view, "visible")


def bans(e):
    return {b["source"]: b for b in e.ctl("guard.bans")}


def wait_banned(e, src, timeout=10.0):
    return wait_until(lambda: bans(e).get(src), timeout, "%s in guard.bans" % src)


def scanner_probe(e, src):
    """One OPTIONS with User-Agent friendly-scanner from src: banned at once."""
    sipmsg.scanner_probe(e.net, src, "webui")
    return wait_banned(e, src)


def timeline_total(e):
    tl = e.ctl("guard.timeline", {"scale": "second"})
    return sum(sum(v) for v in tl["reasons"].values())


def ini(text):
    p = configparser.ConfigParser(interpolation=None, strict=False)
    p.read_string(text)
    return p


# ---------------------------------------------------------------------------
# 1. login

def test_01_setup_logout_wrong_password_login(env):
    """First start: the page shows the setup form; the token webd printed
    and a new password log in (the dashboard shows). Logout returns to the
    password form. A wrong password shows "wrong password" in #login-error
    and stays out; the same wrong password through the API answers 401.
    The right password logs in; /api/session then says logged_in."""
    e = env
    assert re.fullmatch(r"[0-9a-f]{64}", e.web.token or ""), e.web.token
    e.b.goto(URL)
    e.b.wait_for("#setup-form", "visible")
    assert not visible(e, "#login-form") and not visible(e, "#app-view")
    e.shot("setup")
    e.b.fill("#setup-token", e.web.token)
    e.b.fill("#setup-password", PASSWORD)
    e.b.fill("#setup-password2", PASSWORD)
    e.b.click("#setup-form button[type=submit]")
    e.b.wait_for("#app-view", "visible")
    assert not visible(e, "#login-view")
    card(e, "#stat-calls")

    e.b.click("#logout-button")
    e.b.wait_for("#login-form", "visible")
    assert not visible(e, "#app-view") and not visible(e, "#setup-form")
    s = e.b.fetch("/api/session")
    assert s["status"] == 200 and '"logged_in":false' in s["body"].replace(" ", ""), s

    e.b.fill("#login-password", WRONG)
    e.b.click("#login-form button[type=submit]")
    err = e.b.wait_text("#login-error", r"wrong password", flags="i")
    assert "wrong password" in err.lower(), err
    assert not visible(e, "#app-view")
    e.shot("wrong-password")
    r = e.b.fetch("/api/login", "POST", {"Content-Type": "application/json"},
                  '{"password": "%s"}' % WRONG)
    assert r["status"] == 401, r
    assert "wrong password" in r["body"], r

    e.b.fill("#login-password", PASSWORD)
    e.b.click("#login-form button[type=submit]")
    e.b.wait_for("#app-view", "visible")
    assert not visible(e, "#login-view")
    s = e.b.fetch("/api/session")
    assert s["status"] == 200 and '"logged_in":true' in s["body"].replace(" ", ""), s


# ---------------------------------------------------------------------------
# 2. the dashboard

def test_02_dashboard_fills(env):
    """The cards show what the control socket says: active calls (0),
    registrations (0), blocked packets, both links up. A phone at
    203.0.113.11 registers through sbcd (the core answers 200): the
    registrations card becomes 1."""
    e = env
    goto_view(e, "dashboard", "dashboard")
    stats = e.ctl("stats")
    assert card(e, "#stat-calls") == stats["b2bua"]["calls_active"] == 0
    assert card(e, "#stat-registrations") == e.ctl("registrations")["total"] == 0
    assert card(e, "#stat-blocked") == e.ctl("guard.stats")["blocked"]
    assert card(e, "#stat-bans") == len(e.ctl("guard.bans"))
    links = {z["name"]: z["link_up"] for z in e.ctl("status")["zones"]}
    assert links == {"public": True, "private": True}, links
    assert e.b.wait_text("#link-public", r"^\s*up\s*$").strip() == "up"
    assert e.b.wait_text("#link-private", r"^\s*up\s*$").strip() == "up"
    e.shot("dashboard-idle")

    e.net.register_through(PHONE, SIP_PORT, expires=600)
    assert e.ctl("registrations")["total"] == 1
    # the page reads the registrations on every 5th poll (2 s apart)
    e.b.wait_text("#stat-registrations", r"^\s*1\s*$", timeout=30)
    e.shot("dashboard-registered")


# ---------------------------------------------------------------------------
# 3. a flood

def test_03_flood_rises_blocked_and_chart(env):
    """An OPTIONS flood from 203.0.113.12 (3,000 at 500/s; rate_options is
    20/s and the allow list is removed): sbcd bans it. The blocked card
    rises above what it showed before and, once the flood is over, equals
    guard.stats' blocked; the chart's data-total rises above 0 and equals
    the sum of guard.timeline (second scale) over the 600 slots it draws.
    Screenshots of the dashboard at 1280x800 and 390x844."""
    e = env
    goto_view(e, "dashboard", "dashboard")
    before = card(e, "#stat-blocked")
    assert e.b.attr("#blocked-chart", "data-points") is not None
    flood = e.net.sipp_bg("pub", ["-sf", sipp_scenario("flood_options_uac.xml"),
                                  "-key", "ruri", "sip:%s:%d" % (SBC_WAN, SIP_PORT),
                                  "-key", "touser", "sip:flood@%s" % SBC_WAN,
                                  "-key", "ua", "sbc-webui-test",
                                  "-m", str(FLOOD_COUNT), "-r", str(FLOOD_RATE),
                                  "-t", "u1", "-i", FLOODER, "-p", "5062",
                                  "-timeout", "%ds" % (FLOOD_COUNT // FLOOD_RATE + 20),
                                  "%s:%d" % (SBC_WAN, SIP_PORT)],
                          name="flood-options", trace_msg=False)
    ban = wait_banned(e, FLOODER, timeout=20)
    assert ban["reason"] in ("flood", "rate"), ban
    wait_until(lambda: (card(e, "#stat-blocked") or 0) > before, 15,
               "#stat-blocked above %d" % before)
    assert flood.result(timeout=40).rc == 0, flood.result().describe()

    # the flood is over: the counters stand still and the page catches up
    def settled():
        blocked = e.ctl("guard.stats")["blocked"]
        shown = card(e, "#stat-blocked")
        return blocked if shown == blocked else None
    blocked = wait_until(settled, 15, "#stat-blocked equal to guard.stats blocked")
    assert blocked - before >= FLOOD_COUNT // 2, (before, blocked)

    def chart():
        want = timeline_total(e)
        total = e.b.attr("#blocked-chart", "data-total")
        return (want, total) if total is not None and number(total) == want else None
    want, total = wait_until(chart, 15, "#blocked-chart data-total equal to guard.timeline's sum")
    assert number(total) > 0 and want <= blocked, (total, want, blocked)
    assert number(e.b.attr("#blocked-chart", "data-points")) == 600
    e.b.wait_text("#top-offenders", re.escape(FLOODER))
    e.b.wait_text("#stat-bans", r"^\s*[1-9]")
    time.sleep(0.5)        # one more frame of the chart
    e.shot("dashboard-desktop")

    e.b.viewport(*PHONE_SIZE)
    try:
        e.b.goto(URL + "#/dashboard")
        e.b.wait_for("#view-dashboard", "visible")
        card(e, "#stat-blocked")
        wait_until(lambda: number(e.b.attr("#blocked-chart", "data-total") or "") == want, 15,
                   "the chart drawn at phone size")
        e.shot("dashboard-phone")
    finally:
        e.b.viewport(*DESKTOP)


# ---------------------------------------------------------------------------
# 4. bans

def ban_row(src):
    return '#bans-table tbody tr:has-text("%s")' % src


def test_04_unban_from_the_page(env):
    """The flooder is listed in #bans-table; its Unban button, confirmed in
    the page's dialog, lifts the ban: guard.bans no longer has it and the
    row goes away."""
    e = env
    if FLOODER not in bans(e):          # test 03 not run: a ban of our own
        scanner_probe(e, FLOODER)
    goto_view(e, "bans", "bans")
    e.b.wait_for(ban_row(FLOODER), "visible")
    e.shot("bans")
    e.b.click(ban_row(FLOODER) + ' button:has-text("Unban")')
    confirm_dialog(e)
    wait_until(lambda: FLOODER not in bans(e), 10, "%s gone from guard.bans" % FLOODER)
    e.b.wait_for(ban_row(FLOODER), "detached")
    e.shot("bans-unbanned")


def test_04b_allow_from_the_page(env):
    """A scanner-banned source (203.0.113.13): its Allow button puts it on
    the runtime allow list (guard.allow) and lifts its ban; the allow table
    shows it."""
    e = env
    if "guard.allow.add" not in e.ctl("help"):
        pytest.skip("sbcd has no guard.allow.add command yet (help: %s)" % e.ctl("help"))
    scanner_probe(e, SCANNER)
    goto_view(e, "bans", "bans")
    e.b.wait_for(ban_row(SCANNER), "visible")
    e.b.click(ban_row(SCANNER) + ' button:has-text("Allow")')
    confirm_dialog(e, required=False)

    def allowed():
        runtime = e.ctl("guard.allow")["runtime"]
        return [a for a in runtime if a["cidr"] in (SCANNER, SCANNER + "/32")]
    entry = wait_until(allowed, 10, "%s in guard.allow runtime" % SCANNER)
    assert len(entry) == 1, entry
    assert SCANNER not in bans(e)
    e.b.wait_for(ban_row(SCANNER), "detached")
    e.b.wait_text("#allow-table", re.escape(SCANNER))
    e.shot("bans-allowed")


# ---------------------------------------------------------------------------
# 5. configuration

def test_05_change_a_limit(env):
    """guard.rate_invite changed in the form, Validate (no errors), Apply:
    config.get then has the new value and the page says Applied. Then
    "abc": Validate shows sbcd's own message (what config.validate says of
    the same text) in #config-errors, and Apply leaves the file on disk as
    it was."""
    e = env
    goto_view(e, "config", "config")
    field = 'input[name="guard.rate_invite"]'
    e.b.wait_for(field, "visible")
    assert e.b.eval("return document.querySelector(arg).value", arg=field) == str(RATE_INVITE)
    e.b.fill(field, str(RATE_INVITE_NEW))
    e.b.click("#config-validate")
    e.b.wait_text("#config-status", r"^Valid\b")
    assert e.b.count("#config-errors li") == 0, e.b.text("#config-errors")
    e.b.click("#config-apply")
    confirm_dialog(e, required=False)
    e.b.wait_text("#config-status", r"Applied")
    e.shot("config-applied")
    got = e.ctl("config.get")
    assert ini(got["text"])["guard"]["rate_invite"] == str(RATE_INVITE_NEW), got["text"]
    with open(e.cfg) as f:
        on_disk = f.read()
    assert on_disk == got["text"]

    bad_text = re.sub(r"(?m)^(rate_invite\s*=\s*).*$", r"\1abc", on_disk)
    assert bad_text != on_disk
    expected = e.ctl("config.validate", {"text": bad_text})
    assert expected["valid"] is False and expected["errors"], expected
    e.b.fill(field, "abc")
    e.b.click("#config-validate")
    e.b.wait_for("#config-errors li", "visible")
    shown = e.b.text("#config-errors")
    assert expected["errors"][0] in shown, (expected["errors"], shown)
    e.shot("config-invalid")
    e.b.click("#config-apply")
    confirm_dialog(e, required=False)
    e.b.wait_text("#config-status", r"Not applied")
    e.b.wait_for("#config-errors li", "visible")
    assert expected["errors"][0] in e.b.text("#config-errors")
    with open(e.cfg) as f:
        assert f.read() == on_disk
    assert e.ctl("config.get")["text"] == on_disk
    e.b.click("#config-reload")
    confirm_dialog(e, required=False)
    e.b.wait_for(field, "visible")


# ---------------------------------------------------------------------------
# 6. CSRF

def test_06_csrf_token_required(env):
    """From the logged-in page, fetch POST /api/sbcd/guard.unban without
    X-CSRF-Token: 403, and the ban stays; with the token from /api/session:
    200 and the ban is gone."""
    e = env
    ensure_logged_in(e)
    scanner_probe(e, CSRF_VICTIM)
    body = '{"source": "%s"}' % CSRF_VICTIM
    r = e.b.fetch("/api/sbcd/guard.unban", "POST", {"Content-Type": "application/json"}, body)
    assert r["status"] == 403, r
    assert "CSRF" in r["body"], r
    assert CSRF_VICTIM in bans(e)
    s = e.b.eval("const r = await fetch('/api/session'); return await r.json();")
    assert s["logged_in"] is True and re.fullmatch(r"[0-9a-f]+", s["csrf"] or ""), s
    r = e.b.fetch("/api/sbcd/guard.unban", "POST",
                  {"Content-Type": "application/json", "X-CSRF-Token": s["csrf"]}, body)
    assert r["status"] == 200, r
    assert CSRF_VICTIM in r["body"] and '"ok":true' in r["body"].replace(" ", ""), r
    assert CSRF_VICTIM not in bans(e)


# ---------------------------------------------------------------------------
# 7. call details

def call_row(cid):
    return '#calls-table tbody tr[data-key="%d"]' % cid


def stream_cell(zone, label):
    return '#call-streams tbody tr[data-key="0 %s"] td[data-label="%s"]' % (zone, label)


def test_07_call_details_and_hang_up(env):
    """A call from the phone in pub to the core, held until a BYE: its
    Details button opens #call-details with its caller and callee and one
    stream whose public and private Port cells are calls.get's relay ports;
    5 RTP packets from the phone to the public port show as Packets 5 at
    the next poll. The row's Hang up button, confirmed, ends the call:
    calls no longer lists it, both sipps end with 0, and the details say
    "Call ended" without the streams table; Close hides them."""
    e = env
    goto_view(e, "calls", "calls")
    caller, callee = e.net.held_call(PHONE, SIP_PORT)

    def answered():
        cs = [c for c in e.ctl("calls")["calls"] if c["state"] in ("answered", "confirmed")]
        return cs[0] if cs else None
    call = wait_until(answered, 15, "the call to be answered")
    cid = call["id"]
    e.b.wait_for(call_row(cid), "visible")
    e.b.click(call_row(cid) + ' button:has-text("Details")')
    e.b.wait_for("#call-details", "visible")
    e.b.wait_for(stream_cell("private", "Port"), "visible")
    got = e.ctl("calls.get", {"id": cid})
    assert len(got["streams"]) == 1 and got["streams"][0]["index"] == 0, got
    st = got["streams"][0]
    for zone in ("public", "private"):
        assert e.b.text(stream_cell(zone, "Port")).strip() == str(st[zone]["port"]), (zone, got)
    assert e.b.text(stream_cell("public", "Packets")).strip() == "0", got
    assert e.b.text("#call-details-id").strip() == str(cid)
    facts = e.b.text("#call-details-fields")
    assert "caller" in facts and "alice" in facts and PHONE in facts, facts

    e.net.send_rtp(PHONE, 40000, st["public"]["port"], 5)
    e.b.wait_text(stream_cell("public", "Packets"), r"^\s*5\s*$")
    assert e.b.text(stream_cell("public", "Latched")).strip() == "%s:40000" % PHONE
    e.shot("call-details")

    e.b.click(call_row(cid) + ' button:has-text("Hang up")')
    confirm_dialog(e)
    wait_until(lambda: not [c for c in e.ctl("calls")["calls"] if c["id"] == cid], 10,
               "call %d gone from calls" % cid)
    res = caller.result(timeout=40)
    assert res.rc == 0, "caller: " + res.describe()
    res = callee.result(timeout=40)
    assert res.rc == 0, "callee: " + res.describe()
    e.b.wait_text("#call-details-status", r"Call ended")
    e.b.wait_for("#call-streams", "hidden")
    e.b.wait_for(call_row(cid), "detached")
    e.shot("call-ended")
    e.b.click("#call-details-close")
    e.b.wait_for("#call-details", "hidden")


# ---------------------------------------------------------------------------
# 8. a phone-sized screen

def test_08_phone_sized(env):
    """At 375x667 the dashboard (and the bans page) scroll only vertically,
    the nav is folded behind the menu button, and the button opens it."""
    e = env
    e.b.viewport(*SMALL)
    try:
        goto_view(e, "dashboard", "dashboard")
        card(e, "#stat-calls")
        time.sleep(0.3)
        for route, view in (("dashboard", "dashboard"), ("bans", "bans")):
            e.b.goto(URL + "#/" + route)
            e.b.wait_for("#view-" + view, "visible")
            w = e.b.eval("return [document.documentElement.scrollWidth, window.innerWidth]")
            assert w[0] <= w[1], "%s: horizontal scroll at 375 px: %s" % (route, w)
        e.b.goto(URL + "#/dashboard")
        e.b.wait_for("#view-dashboard", "visible")
        e.b.wait_for("#menu-button", "visible")
        assert not visible(e, "#nav a[href='#/bans']"), "the nav is not folded at 375 px"
        e.shot("phone-menu-closed")
        e.b.click("#menu-button")
        e.b.wait_for("#nav a[href='#/bans']", "visible")
        assert e.b.attr("#menu-button", "aria-expanded") == "true"
        e.shot("phone-menu-open")
        e.b.click("#nav a[href='#/bans']")
        e.b.wait_for("#view-bans", "visible")
    finally:
        e.b.viewport(*DESKTOP)


# ---------------------------------------------------------------------------
# 7. the console, all along

def test_99_no_console_errors(env):
    """Across every page the tests visited (each view once more here):
    no console error, uncaught exception, CSP violation or failed request.
    Allowed: Chromium's "Failed to load resource" lines for /api/ answers
    the tests provoked (400, 401, 403, 409, 429)."""
    e = env
    ensure_logged_in(e)
    for view in ("dashboard", "bans", "calls", "registrations", "trunks", "config", "trace",
                 "system"):
        e.b.goto(URL + "#/" + view)
        e.b.wait_for("#view-" + view, "visible")
        time.sleep(0.5)
    seen = e.b.console()
    for p in seen:
        print("console: %s: %s (%s)" % (p["kind"], p["text"], p.get("url", "")))
    bad = [p for p in seen
           if not (p["kind"] == "http" and "/api/" in p.get("url", "")
                   and API_REFUSALS.search(p["text"]))]
    assert not bad, "problems in the page:\n" + "\n".join(
        "%s: %s (%s)" % (p["kind"], p["text"], p.get("url", "")) for p in bad)
