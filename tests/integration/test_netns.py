"""Tests of the test network itself (netns.py, conftest_netns.py, sipp/).

They need root and iproute2, sipp and tshark, but not sbcd's SIP
transports: sipp stands in for sbcd where something must answer. The few
that start sbcd use only what it does today (start, log "sbcd ready", stop).
"""
import os
import re
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

import pytest

import netns
from conftest_netns import sbcd_problems
from netns import PBX, PRIV2, PUB, PUB_EXTRA, SBC_LAN, SBC_WAN, TestNet, sipp_scenario

HERE = os.path.dirname(os.path.abspath(__file__))


def names_of(suffix):
    return ["sbc-%s-%s" % (r, suffix) for r in netns.ROLES]


def netns_list():
    out = subprocess.run([netns.IP, "netns", "list"], stdout=subprocess.PIPE, text=True,
                         check=True).stdout
    return {ln.split()[0] for ln in out.splitlines() if ln.strip()}


def root_veths():
    out = subprocess.run([netns.IP, "-o", "link", "show", "type", "veth"],
                         stdout=subprocess.PIPE, text=True, check=True).stdout
    return [ln.split(":")[1].strip().split("@")[0] for ln in out.splitlines()]


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie of ours counts as gone
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def assert_gone(suffix, pids=(), rundir=None):
    left = netns_list() & set(names_of(suffix))
    assert not left, "namespaces left behind: %s" % left
    veths = [v for v in root_veths() if suffix in v]
    assert not veths, "veths left in the root namespace: %s" % veths
    alive = [p for p in pids if pid_alive(p)]
    assert not alive, "processes left running: %s" % alive
    if rundir:
        assert not os.path.exists(rundir)


def options_uas(net, ns, addr, port=5060, calls=1, name="uas"):
    return net.sipp_bg(ns, ["-sf", sipp_scenario("options_uas.xml"), "-m", calls, "-t", "u1",
                            "-i", addr, "-p", port, "-timeout", "20s"], name=name)


def options_uac(net, ns, src, dst, extra=(), name="uac", timeout=15):
    return net.sipp(ns, ["-sf", sipp_scenario("options_uac.xml"), "-s", "ping", "-m", "1",
                         "-t", "u1", "-i", src, *extra, "%s:5060" % dst],
                    timeout=timeout, name=name)


# --------------------------------------------------------------------------
# the network as built

def test_namespaces_addresses_and_links(testnet):
    existing = netns_list()
    for role in netns.ROLES:
        name = testnet.ns[role]
        assert name == "sbc-%s-%s" % (role, testnet.suffix)
        assert name in existing
    assert re.fullmatch(r"[0-9a-f]{10}", testnet.suffix)
    assert int(testnet.suffix[:6], 16) == os.getpid() & 0xffffff

    want = {
        "pub": {"eth0": {PUB + "/24"} | {a + "/24" for a in PUB_EXTRA}},
        "sbc": {"wan": {SBC_WAN + "/24"}, "lan": {SBC_LAN + "/24"}},
        "priv": {"eth0": {PBX + "/24", PRIV2 + "/24"}},
    }
    for role, ifaces in want.items():
        links = {link["ifname"]: link for link in testnet.links(role)}
        assert set(links) == {"lo"} | set(ifaces), role
        assert links["lo"]["operstate"] in ("UNKNOWN", "UP") and "UP" in links["lo"]["flags"]
        assert testnet.addresses(role, "lo") == ["127.0.0.1/8"]
        for ifname, addrs in ifaces.items():
            link = links[ifname]
            assert link["operstate"] == "UP", (role, ifname)
            assert link.get("link_type") == "ether"
            assert set(testnet.addresses(role, ifname)) == addrs, (role, ifname)
        # IPv6 is off unless asked for: no link-local chatter in captures
        assert testnet.addresses(role, family="inet6") == []
    assert len(PUB_EXTRA) == 9


def test_forwarding_off_and_no_routes_between_zones(testnet):
    for role in netns.ROLES:
        assert testnet.sysctl(role, "net.ipv4.ip_forward") == "0", role
    dsts = {role: sorted(r["dst"] for r in testnet.routes(role)) for role in netns.ROLES}
    assert dsts == {"pub": ["203.0.113.0/24"], "sbc": ["10.20.0.0/24", "203.0.113.0/24"],
                    "priv": ["10.20.0.0/24"]}


def test_pub_cannot_reach_priv(testnet):
    echo = testnet.udp_echo("priv", PBX, 9999)
    # control: the echo answers inside the private zone
    rc, text = testnet.udp_send("priv", PBX, 9999, src=PRIV2)
    assert rc == 0 and "reply: ping" in text
    # pub has no route to the private zone at all
    rc, text = testnet.udp_send("pub", PBX, 9999, src=PUB, timeout=1)
    assert rc == 2 and "ENETUNREACH" in text, text
    # even a host that routes through the SBC gets nothing: sbc does not forward
    testnet.add_route("pub", netns.PRIV_NET, SBC_WAN)
    testnet.add_route("priv", netns.PUB_NET, SBC_LAN)
    rc, text = testnet.udp_send("pub", PBX, 9999, src=PUB, timeout=1.5)
    assert rc == 1 and text == "no reply", text
    assert echo.running()
    assert "203.0.113" not in echo.output()


def test_routing_probe_detects_forwarding(testnet):
    """Positive control for test_pub_cannot_reach_priv: the same probe gets
    an answer once the sbc namespace forwards (only in this throw-away
    network; the harness never enables forwarding)."""
    testnet.udp_echo("priv", PBX, 9999)
    testnet.add_route("pub", netns.PRIV_NET, SBC_WAN)
    testnet.add_route("priv", netns.PUB_NET, SBC_LAN)
    testnet.sysctl("sbc", "net.ipv4.ip_forward", "1")
    rc, text = testnet.udp_send("pub", PBX, 9999, src=PUB, timeout=5)
    assert rc == 0 and "reply: ping" in text, text


def test_sysctl_scope(testnet):
    """Per-namespace keys change only the namespace; the socket buffer
    maxima are global on this kernel and are refused inside one."""
    root = subprocess.run(["sysctl", "-n", "net.core.somaxconn"], stdout=subprocess.PIPE,
                          text=True, check=True).stdout.strip()
    new = str(int(root) + 7)
    assert testnet.sysctl("sbc", "net.core.somaxconn", new) == testnet.sysctl("pub",
                                                                              "net.core.somaxconn")
    assert testnet.sysctl("sbc", "net.core.somaxconn") == new
    assert subprocess.run(["sysctl", "-n", "net.core.somaxconn"], stdout=subprocess.PIPE,
                          text=True).stdout.strip() == root
    if not os.access("/proc/sys/net/core/rmem_max", os.W_OK):
        pytest.skip("cannot write net.core.rmem_max even in the root namespace")
    mode = testnet.run("sbc", ["stat", "-c", "%A", "/proc/sys/net/core/rmem_max"],
                       check=True).stdout.strip()
    if "w" in mode:
        pytest.skip("this kernel keeps net.core.rmem_max per namespace")
    with pytest.raises(netns.NetError, match="not per-namespace"):
        testnet.sysctl("sbc", "net.core.rmem_max", "8388608")


# --------------------------------------------------------------------------
# sipp

@pytest.mark.parametrize("client,src,server,dst", [("pub", PUB, "sbc", SBC_WAN),
                                                   ("priv", PBX, "sbc", SBC_LAN)])
def test_sipp_options_answered(testnet, client, src, server, dst):
    uas = options_uas(testnet, server, dst)
    res = options_uac(testnet, client, src, dst)
    assert res.rc == 0, res.describe()
    rc, stats = res
    assert (rc, stats["successful"], stats["failed"], stats["created"]) == (0, 1, 0, 1)
    assert res.counts["0_OPTIONS_Sent"] == 1 and res.counts["2_200_Recv"] == 1
    u = uas.result(timeout=30)
    assert u.rc == 0 and u.stats["successful"] == 1, u.describe()
    assert os.path.getsize(res.file("messages.log")) > 0


def test_sipp_udp_retransmission_and_failure(testnet):
    """Nothing answers: sipp retransmits (timer A) and the call fails."""
    res = options_uac(testnet, "pub", PUB, SBC_WAN, extra=["-max_retrans", "2"])
    assert res.rc == 1, res.describe()
    assert res.stats["failed"] == 1 and res.stats["successful"] == 0
    assert res.stats["failed_max_udp_retrans"] == 1
    assert res.stats["retransmissions"] == 2
    assert res.counts["0_OPTIONS_Retrans"] == 2


def test_sipp_needs_a_bound(testnet):
    with pytest.raises(netns.SippError, match="-m or -timeout"):
        testnet.sipp_bg("sbc", ["-sf", sipp_scenario("options_uas.xml"), "-i", SBC_WAN])


def test_invite_uas_scenario(testnet):
    """invite_uas.xml (the future fake PBX) against sipp's built-in UAC."""
    pbx = testnet.sipp_bg("priv", ["-sf", sipp_scenario("invite_uas.xml"), "-m", "1",
                                   "-t", "u1", "-i", PBX, "-p", "5060", "-mi", PBX,
                                   "-timeout", "20s"], name="pbx")
    res = testnet.sipp("sbc", ["-sn", "uac", "-m", "1", "-t", "u1", "-i", SBC_LAN,
                               "-d", "100", "%s:5060" % PBX], timeout=20)
    assert res.rc == 0 and res.stats["successful"] == 1, res.describe()
    # sipp's uac receives two 200s: the INVITE's and the BYE's
    assert [v for k, v in res.counts.items() if k.endswith("_200_Recv")] == [1, 1], res.counts
    p = pbx.result(timeout=30)
    assert p.rc == 0 and p.stats["successful"] == 1, p.describe()
    with open(p.file("messages.log")) as f:
        log = f.read()
    assert "SIP/2.0 180 Ringing" in log and "m=audio" in log and "BYE sip:" in log


def test_malformed_scenario(testnet):
    with testnet.tshark("sbc", "wan", "udp port 5060") as cap:
        # silence counts as success ...
        res = testnet.sipp("pub", ["-sf", sipp_scenario("malformed_uac.xml"), "-m", "1",
                                   "-t", "u1", "-i", PUB, "%s:5060" % SBC_WAN], timeout=10,
                           name="malformed-silent")
        assert res.rc == 0 and res.stats["successful"] == 1, res.describe()
        assert cap.wait_packets(1) >= 1
    msgs = [m for m in cap.messages() if "sbc-test-malformed" in m.raw]
    assert len(msgs) == 1
    assert "CSeq: x1 OPTIONS" in msgs[0].raw and "This line is not a header" in msgs[0].raw
    # ... and a 200 to a malformed request is a failure
    options_uas(testnet, "sbc", SBC_WAN)
    res = testnet.sipp("pub", ["-sf", sipp_scenario("malformed_uac.xml"), "-m", "1", "-t", "u1",
                               "-i", PUB, "%s:5060" % SBC_WAN], timeout=10,
                       name="malformed-answered")
    assert res.rc == 1 and res.stats["failed_unexpected"] == 1, res.describe()


# --------------------------------------------------------------------------
# tshark

def test_tshark_captures_options(testnet):
    call_id = "harness-%s-%%u@%%s" % testnet.suffix
    uas = options_uas(testnet, "sbc", SBC_WAN)
    with testnet.tshark("sbc", "wan", "udp port 5060") as wan, \
            testnet.tshark("sbc", "lan", "") as lan:
        res = options_uac(testnet, "pub", PUB, SBC_WAN, extra=["-cid_str", call_id])
        assert res.rc == 0, res.describe()
        assert wan.wait_packets(2) >= 2
    assert uas.result(timeout=30).rc == 0
    want = "harness-%s-1@%s" % (testnet.suffix, PUB)
    msgs = netns.read_sip(wan.path)
    reqs = [m for m in msgs if m.method == "OPTIONS"]
    resps = [m for m in msgs if m.status == 200]
    assert reqs and resps, [str(m) for m in msgs]
    req, resp = reqs[0], resps[0]
    assert (req.call_id, resp.call_id) == (want, want)
    assert (req.src, req.sport, req.dst, req.dport, req.transport) == (PUB, 5060, SBC_WAN, 5060,
                                                                       "udp")
    assert (resp.src, resp.dst) == (SBC_WAN, PUB)
    assert req.is_request and not resp.is_request
    assert req.via and req.via[0].startswith("SIP/2.0/UDP %s:5060;branch=z9hG4bK" % PUB)
    assert resp.via == req.via
    assert req.contact == ["<sip:probe@%s:5060;transport=UDP>" % PUB]
    assert resp.server == "sbc-test-uas" and req.user_agent == "sbc-test-uac"
    assert req.cseq == "1 OPTIONS" and req.raw.startswith("OPTIONS sip:ping@")
    # nothing of it crossed to the private side
    assert netns.read_sip(lan.path) == []


def test_pcap_count_reads_pcap_and_pcapng(testnet, tmp_path):
    with testnet.tshark("pub", "eth0", "udp port 9") as cap:
        for _ in range(3):
            testnet.udp_send("pub", SBC_WAN, 9, src=PUB, timeout=0.1)
        n = cap.wait_packets(3)
    assert n >= 3 and netns.pcap_count(cap.path) == n
    legacy = str(tmp_path / "legacy.pcap")
    subprocess.run([netns.TSHARK, "-r", cap.path, "-F", "pcap", "-w", legacy],
                   stderr=subprocess.DEVNULL, check=True)
    assert netns.pcap_count(legacy) == n


# --------------------------------------------------------------------------
# readiness probe and sbcd

def test_options_readiness_probe(testnet):
    cfg = testnet.write_config()
    targets = testnet.zone_targets(cfg)
    assert targets == [("pub", SBC_WAN, 5060, PUB), ("priv", SBC_LAN, 5060, PBX)]
    options_uas(testnet, "sbc", SBC_WAN, name="uas-wan")
    options_uas(testnet, "sbc", SBC_LAN, name="uas-lan")
    answers = testnet.wait_options(targets, timeout=10)
    assert set(answers) == {t[:3] for t in targets}
    assert all(line == "SIP/2.0 200 OK" for line in answers.values()), answers
    with pytest.raises(netns.NetError, match="no SIP answer"):
        testnet.wait_options([("pub", SBC_WAN, 5099, PUB)], timeout=1)


def test_write_config(testnet):
    path = testnet.write_config(overrides={"guard": {"rate_packets": 50},
                                           "trunk:carrier1": {"zone": "public",
                                                              "address": "198.51.100.20",
                                                              "allow": "198.51.100.0/28"},
                                           "private": {"sip_tls": None}},
                                core={"port": 5070})
    cfg = netns.read_ini(path)
    assert cfg["general"]["log_level"] == "debug"
    assert cfg["general"]["data_dir"].startswith(testnet.tmpdir)
    assert cfg["general"]["control_socket"].startswith(testnet.rundir)
    assert len(cfg["general"]["control_socket"]) < 108
    assert cfg["public"] == {"interface": "wan", "address": SBC_WAN, "sip_udp": "5060",
                             "sip_tcp": "5060", "sip_tls": "5061"}
    assert cfg["private"] == {"interface": "lan", "address": SBC_LAN, "sip_udp": "5060",
                              "sip_tcp": "5060"}
    assert cfg["core"] == {"address": PBX, "port": "5070", "transport": "udp"}
    assert cfg["guard"] == {"rate_packets": "50", "allow": netns.PUB_NET}
    assert cfg["trunk:carrier1"]["address"] == "198.51.100.20"
    assert list(cfg)[:4] == ["general", "public", "private", "core"]


def test_generated_config_passes_sbcd_check(testnet):
    binary = netns.sbcd_binary()
    assert os.access(binary, os.X_OK), "%s is not built (make all)" % binary
    for path in (testnet.write_config(),
                 testnet.write_config(os.path.join(testnet.tmpdir, "guard.ini"),
                                      overrides={"guard": {"rate_packets": "50"},
                                                 "trunk:carrier1": {"zone": "public",
                                                                    "address": "198.51.100.20"}})):
        r = testnet.run("sbc", [binary, "-t", "-c", path], timeout=30)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "configuration OK" in r.stdout


@pytest.mark.sbcd_ready("log")
@pytest.mark.sbc_config({"guard": {"rate_packets": "50"}})
@pytest.mark.sbc_config({"guard": {"allow": None}, "auth": {"open": None}})
def test_sbc_config_none_removes_a_key(testnet, sbc_config):
    """A None in a marker reaches write_config, which removes the harness's key."""
    cfg = netns.read_ini(sbc_config)
    assert cfg["guard"] == {"rate_packets": "50"}
    assert "open" not in cfg.get("auth", {})


@pytest.mark.sbcd_ready("log")
@pytest.mark.sbc_config({"guard": {"rate_packets": "50"}})
def test_sbcd_fixture_starts_and_stops(testnet, sbc_config, sbcd):
    assert netns.read_ini(sbc_config)["guard"] == {"rate_packets": "50", "allow": netns.PUB_NET}
    assert sbcd.running()
    assert sbcd.ns == testnet.ns["sbc"]
    log = testnet.sbcd_log()
    assert "sbcd ready" in log and sbc_config in log
    assert os.path.dirname(sbcd.out_path) == testnet.tmpdir
    # the fixture stops it after the test and checks the exit status


INNER_TESTS = """
import signal
import pytest

pytestmark = pytest.mark.sbcd_ready("log")


def test_sbcd_lives(sbcd):
    assert sbcd.running()


def test_sbcd_dies(sbcd):
    sbcd.send_signal(signal.SIGKILL)
    sbcd.wait(10)
"""


def test_sbcd_fixture_fails_the_test_when_sbcd_dies(tmp_path):
    """The sbcd fixture turns a dead sbcd into an error of the test (run in
    an inner pytest so that the failure can be looked at)."""
    (tmp_path / "conftest.py").write_text(
        "import sys\nsys.path.insert(0, %r)\nfrom conftest_netns import *  # noqa\n" % HERE)
    (tmp_path / "test_inner.py").write_text(INNER_TESTS)
    junit = tmp_path / "junit.xml"
    r = subprocess.run([netns.PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        "--junitxml=%s" % junit, str(tmp_path / "test_inner.py")],
                       cwd=str(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=120)
    assert r.returncode == 1, r.stdout
    assert "ERROR at teardown of test_sbcd_dies" in r.stdout, r.stdout
    assert "sbcd died during the test with exit status -9" in r.stdout, r.stdout
    # as tests/run.py counts: the test case carries an error
    cases = {c.get("name"): c for c in ET.parse(junit).getroot().iter("testcase")}
    assert cases["test_sbcd_dies"].find("error") is not None
    assert len(cases["test_sbcd_lives"]) == 0


def test_stop_sbcd_returns_exit_status(testnet):
    testnet.start_sbcd(testnet.write_config(), ready="log")
    assert testnet.stop_sbcd() == 0
    assert "shutting down" in testnet.sbcd_log()
    assert sbcd_problems(testnet) == []


def test_sbcd_problems_reports_a_death(testnet):
    testnet.start_sbcd(testnet.write_config(), ready="log")
    testnet.sbcd.send_signal(signal.SIGKILL)
    testnet.sbcd.wait(10)
    problems = sbcd_problems(testnet)
    assert problems and "died during the test" in problems[0]


def test_start_sbcd_reports_config_errors(testnet):
    path = testnet.write_config(overrides={"public": {"no_such_key": "1"}})
    with pytest.raises(netns.SbcdError, match="exited with status 2") as e:
        testnet.start_sbcd(path, ready="log", timeout=10)
    assert "no_such_key" in str(e.value)


def test_sanitizer_report():
    assert netns.sanitizer_report("sbcd: info: ready\n") is None
    asan = "x\n==12==ERROR: AddressSanitizer: heap-use-after-free on address 0x1\n"
    assert netns.sanitizer_report(asan).startswith("==12==ERROR: AddressSanitizer")
    ubsan = "src/sip/msg.c:10:5: runtime error: signed integer overflow\n"
    assert "runtime error" in netns.sanitizer_report(ubsan)
    assert netns.sanitizer_report("SUMMARY: LeakSanitizer: 10 byte(s) leaked")


# --------------------------------------------------------------------------
# clean-up guarantees

def test_teardown_removes_everything(tmp_path):
    with TestNet(tmpdir=tmp_path) as net:
        suffix, rundir = net.suffix, net.rundir
        echo = net.udp_echo("priv", PBX, 9999)
        uas = options_uas(net, "sbc", SBC_WAN, calls=100)
        with net.tshark("sbc", "wan", "udp") as cap:
            pass
        tsh = cap.proc
        # a stray started behind the harness's back is found by `ip netns pids`
        stray = subprocess.Popen([netns.IP, "netns", "exec", net.ns["pub"], "sleep", "60"],
                                 start_new_session=True)
        assert set(names_of(suffix)) <= netns_list()
    stray.wait(10)
    assert_gone(suffix, [echo.pid, uas.pid, tsh.pid, stray.pid], rundir)
    assert os.path.exists(cap.path)          # logs and captures are kept


def test_exception_inside_with_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError, match="boom"):
        with TestNet(tmpdir=tmp_path) as net:
            suffix, rundir = net.suffix, net.rundir
            echo = net.udp_echo("pub", PUB, 9999)
            raise RuntimeError("boom")
    assert_gone(suffix, [echo.pid], rundir)


def test_rename_mode(tmp_path):
    """veth made in the root namespace with temporary names, moved, renamed."""
    with TestNet(tmpdir=tmp_path, veth_mode="rename") as net:
        suffix = net.suffix
        assert [v for v in root_veths() if suffix in v] == []
        assert {link["ifname"] for link in net.links("sbc")} == {"lo", "wan", "lan"}
        assert net.addresses("sbc", "wan") == [SBC_WAN + "/24"]
        options_uas(net, "sbc", SBC_LAN)
        assert options_uac(net, "priv", PBX, SBC_LAN).rc == 0
    assert_gone(suffix)


def test_two_testnets_do_not_collide(tmp_path):
    with TestNet(tmpdir=tmp_path / "a") as a, TestNet(tmpdir=tmp_path / "b") as b:
        assert a.suffix != b.suffix
        assert not set(a.ns.values()) & set(b.ns.values())
        options_uas(a, "sbc", SBC_WAN)
        # b's pub reaches b's sbc, where nothing listens ...
        with pytest.raises(netns.NetError, match="no SIP answer"):
            b.wait_options([("pub", SBC_WAN, 5060, PUB)], timeout=1.5)
        # ... while a's pub gets a's answer
        assert a.wait_options([("pub", SBC_WAN, 5060, PUB)], timeout=10)
        sa, sb = a.suffix, b.suffix
    assert_gone(sa)
    assert_gone(sb)


CHILD = r"""
import sys, time
sys.path.insert(0, %r)
import netns
net = netns.TestNet(tmpdir=sys.argv[1])
net.setup()
echo = net.udp_echo("priv", netns.PBX, 9999, timeout=120)
print(net.suffix, echo.pid, net.rundir, flush=True)
time.sleep(120)
""" % HERE


def start_child(tmp_path):
    p = subprocess.Popen([netns.PYTHON, "-c", CHILD, str(tmp_path)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline().split()
    assert len(line) == 3, p.stderr.read() if p.poll() is not None else line
    return p, line[0], int(line[1]), line[2]


def test_sigterm_cleans_up(tmp_path):
    p, suffix, echo_pid, rundir = start_child(tmp_path)
    try:
        assert set(names_of(suffix)) <= netns_list()
        p.send_signal(signal.SIGTERM)
        assert p.wait(30) == -signal.SIGTERM
        assert_gone(suffix, [echo_pid], rundir)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        netns.sweep_stale()


def test_sigkill_leftovers_are_swept(tmp_path):
    p, suffix, echo_pid, rundir = start_child(tmp_path)
    fake = "sv%06x%04xa" % (0xffffff, 0xbeef)      # pid 0xffffff is above pid_max
    try:
        p.kill()
        p.wait(10)
        assert set(names_of(suffix)) <= netns_list()   # SIGKILL cannot clean up
        assert pid_alive(echo_pid)
        subprocess.run([netns.IP, "link", "add", fake, "type", "veth", "peer", "name",
                        fake[:-1] + "b"], check=True)
        # (a concurrent test run may sweep some of it first: look at the result)
        netns.sweep_stale()
        deadline = time.monotonic() + 10
        while pid_alive(echo_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert_gone(suffix, [echo_pid], rundir)
        assert not {fake, fake[:-1] + "b"} & set(root_veths())
    finally:
        subprocess.run([netns.IP, "link", "del", fake], stderr=subprocess.DEVNULL)
        netns.sweep_stale()


def test_sweep_leaves_live_owners_alone(testnet):
    removed = netns.sweep_stale()
    assert not set(testnet.ns.values()) & set(removed)
    assert set(testnet.ns.values()) <= netns_list()
    assert os.path.isdir(testnet.rundir)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
