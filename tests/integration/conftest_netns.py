"""conftest_netns: pytest fixtures for the test network (see netns.py and
docs/testing.md). tests/integration/conftest.py brings them in with

    from conftest_netns import *  # noqa: F401,F403

Fixtures (all function scope):
  testnet      a fresh TestNet (namespaces pub, sbc, priv), torn down after
               the test whatever its outcome; logs and captures go to the
               test's tmp_path. Skipped when namespaces cannot be made (not
               root, no iproute2), except under CI=true or
               SBC_REQUIRE_NETNS=1, where that is a failure.
  sbc_config   path of an sbc.ini written for the testnet; a test adds or
               changes keys with @pytest.mark.sbc_config({"guard": {...}}).
  sbcd_ready   how the sbcd fixture waits: "options" (default: an answered
               OPTIONS on each zone), "log" ("sbcd ready" in the log) or
               None; set with @pytest.mark.sbcd_ready("log").
  sbcd         sbcd started in the sbc namespace with sbc_config (a NetProc).
               After the test it is stopped with SIGTERM, and the test FAILS
               (an error at teardown) if sbcd died during the test, did not
               exit with status 0, or its log holds a sanitizer report.
  nat_net      opt-in: the NAT namespace sbc-nat-SFX in front of phones,
               added to the testnet (TestNet.add_nat; a netns.Nat: .role,
               .ns, .outside 203.0.113.50, .net 192.168.50.0/24, .phones);
               @pytest.mark.nat_net(**kwargs) passes add_nat() arguments.
               Skipped when nft (Debian package nftables) is missing, except
               under CI=true or SBC_REQUIRE_NETNS=1, where that is a failure.
"""
import os

import pytest

import netns

__all__ = ["pytest_configure", "testnet", "sbc_config", "sbcd_ready", "sbcd", "nat_net"]


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "sbc_config(overrides): {section: {key: value}} merged over the sbc.ini "
        "that the sbc_config fixture writes (None removes a key or section)")
    config.addinivalue_line(
        "markers", "sbcd_ready(mode): how the sbcd fixture waits for sbcd: "
        "'options' (default), 'log' or None")
    config.addinivalue_line(
        "markers", "nat_net(**kwargs): arguments of TestNet.add_nat() for the nat_net fixture "
        "(role, outside, phones, net, masquerade, filter_inbound, udp_timeout, "
        "udp_timeout_stream)")


def _require_netns(check=netns.netns_available):
    ok, why = check()
    if ok:
        return
    if os.environ.get("CI") == "true" or os.environ.get("SBC_REQUIRE_NETNS") == "1":
        pytest.fail("the test network cannot be built here: %s" % why, pytrace=False)
    pytest.skip("the test network cannot be built here: %s" % why)


@pytest.fixture
def testnet(tmp_path):
    _require_netns()
    net = netns.TestNet(tmpdir=tmp_path)
    net.setup()
    try:
        yield net
    finally:
        net.close()


@pytest.fixture
def sbc_config(testnet, request):
    # layered, keeping the None values: write_config is where they remove keys
    overrides = {}
    for m in reversed(list(request.node.iter_markers("sbc_config"))):
        for sec, keys in (m.args[0] if m.args else m.kwargs).items():
            if keys is None:
                overrides[sec] = None
            else:
                overrides[sec] = dict(overrides.get(sec) or {}, **keys)
    return testnet.write_config(overrides=overrides)


@pytest.fixture
def sbcd_ready(request):
    m = request.node.get_closest_marker("sbcd_ready")
    return m.args[0] if m and m.args else "options"


def sbcd_problems(net):
    """What is wrong with the sbcd runs of a TestNet (empty if nothing):
    sbcd died on its own, exited non-zero, or a sanitizer reported."""
    problems = []
    if net.sbcd is not None:
        if net.sbcd_rc is not None:             # the test stopped it itself
            rc = net.sbcd_rc
        elif net.sbcd.poll() is not None:
            rc = net.sbcd.returncode
            problems.append("sbcd died during the test with exit status %d" % rc)
            rc = 0
        else:
            rc = net.stop_sbcd()
        if rc != 0:
            problems.append("sbcd exited with status %d after SIGTERM%s"
                            % (rc, " (had to be killed)" if rc == -9 else ""))
    for p in net.procs:
        if p.name.endswith("-sbcd"):
            with open(p.out_path, errors="replace") as f:
                report = netns.sanitizer_report(f.read())
            if report:
                problems.append("sanitizer report in %s: %s" % (p.out_path, report))
    return problems


@pytest.fixture
def sbcd(testnet, sbc_config, sbcd_ready):
    proc = testnet.start_sbcd(sbc_config, ready=sbcd_ready)
    yield proc
    problems = sbcd_problems(testnet)
    if problems:
        pytest.fail("\n".join(problems) + "\n--- end of sbcd log (%s) ---\n%s"
                    % (proc.out_path, netns.log_tail(proc.out_path)), pytrace=False)


@pytest.fixture
def nat_net(testnet, request):
    _require_netns(netns.nat_available)
    m = request.node.get_closest_marker("nat_net")
    return testnet.add_nat(**(m.kwargs if m else {}))
