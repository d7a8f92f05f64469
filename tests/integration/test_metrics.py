"""The metrics command (docs/control.md): sbcd's counters as Prometheus
text exposition format 0.0.4, read through the control socket after
traffic whose effect is known, and parsed by a strict parser that refuses
anything the format does not allow. Also the stats command's per-method
and per-class SIP counters that the metrics come from.
"""
import math
import os
import re

import pytest

from ctlclient import ctl, ok
from netns import PUB, PUB_EXTRA, SBC_LAN, SBC_WAN, wait_for

SIP_PORT = 5060
PHONE = PUB_EXTRA[0]
SCANNER = PUB_EXTRA[1]
NOBODY = {"guard": {"allow": None}}      # nobody allow-listed: the guard sees every source
METHODS = ["INVITE", "ACK", "BYE", "CANCEL", "REGISTER", "OPTIONS", "PRACK", "UPDATE", "INFO",
           "REFER", "SUBSCRIBE", "NOTIFY", "MESSAGE", "other"]
CLASSES = ["1xx", "2xx", "3xx", "4xx", "5xx", "6xx"]
REQUIRED = {
    "sbc_info": "gauge", "sbc_uptime_seconds": "gauge", "sbc_link_up": "gauge",
    "sbc_calls_active": "gauge", "sbc_calls_total": "counter", "sbc_registrations": "gauge",
    "sbc_sip_requests_total": "counter", "sbc_sip_responses_total": "counter",
    "sbc_sip_rejected_total": "counter", "sbc_guard_packets_total": "counter",
    "sbc_guard_blocked_packets_total": "counter", "sbc_guard_bans": "gauge",
    "sbc_guard_bans_total": "counter", "sbc_media_packets_total": "counter",
    "sbc_media_dropped_packets_total": "counter", "sbc_media_sessions": "gauge",
    "sbc_leaks_blocked_total": "counter", "sbc_transactions_live": "gauge",
}

# ---------------------------------------------------------------------------
# a strict parser of the text format 0.0.4 (as sbcd writes it: no
# timestamps, no histograms, no blank lines)

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL_NAME = r"[a-zA-Z_][a-zA-Z0-9_]*"
LABEL_VALUE = r'(?:[^"\\\n]|\\[\\"n])*'
SAMPLE_RE = re.compile(r"^(%s)(?:\{((?:%s=\"%s\")(?:,%s=\"%s\")*)\})? (\S+)$"
                       % (NAME, LABEL_NAME, LABEL_VALUE, LABEL_NAME, LABEL_VALUE))
LABEL_RE = re.compile(r"(%s)=\"(%s)\"" % (LABEL_NAME, LABEL_VALUE))
HELP_RE = re.compile(r"^# HELP (%s) (.*)$" % NAME)
TYPE_RE = re.compile(r"^# TYPE (%s) (counter|gauge|untyped|summary|histogram)$" % NAME)


def unescape(v):
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "\\": "\\", '"': '"'}[m.group(1)], v)


def parse_value(text):
    if text in ("+Inf", "-Inf", "NaN"):
        return float(text)
    assert re.match(r"^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$", text), "bad value %r" % text
    return float(text)


def parse(text):
    """{name: {"help": str, "type": str, "samples": {frozenset(labels): value}}};
    fails the test on anything out of format."""
    assert text.endswith("\n"), "the text does not end with a line feed"
    fams = {}
    cur = None
    for n, line in enumerate(text[:-1].split("\n"), 1):
        where = "line %d: %r" % (n, line)
        assert line, "blank line at " + where
        m = HELP_RE.match(line)
        if m:
            name = m.group(1)
            assert name not in fams, "second HELP for %s at %s" % (name, where)
            fams[name] = {"help": m.group(2), "type": None, "samples": {}}
            cur = name
            continue
        m = TYPE_RE.match(line)
        if m:
            assert m.group(1) == cur and fams[cur]["type"] is None and not fams[cur]["samples"], \
                "TYPE not right after its HELP at " + where
            fams[cur]["type"] = m.group(2)
            continue
        assert not line.startswith("#"), "unknown comment at " + where
        m = SAMPLE_RE.match(line)
        assert m, "not a sample line at " + where
        name = m.group(1)
        assert name == cur and fams[cur]["type"], \
            "sample of %s outside its HELP/TYPE block at %s" % (name, where)
        labels = {}
        for lm in LABEL_RE.finditer(m.group(2) or ""):
            assert lm.group(1) not in labels, "label twice at " + where
            labels[lm.group(1)] = unescape(lm.group(2))
        key = frozenset(labels.items())
        assert key not in fams[cur]["samples"], "series twice at " + where
        fams[cur]["samples"][key] = parse_value(m.group(3))
    for name, f in fams.items():
        assert name.startswith("sbc_"), name
        assert f["type"] and f["samples"], "%s has no TYPE or no sample" % name
        if f["type"] == "counter":
            assert name.endswith("_total"), "counter %s without _total" % name
            assert all(v >= 0 and not math.isnan(v) for v in f["samples"].values()), name
    return fams


def value(fams, name, **labels):
    return fams[name]["samples"][frozenset(labels.items())]


def label_values(fams, name, label):
    return sorted({dict(k)[label] for k in fams[name]["samples"]})


# ---------------------------------------------------------------------------

def metrics(net):
    r = ok(net, "metrics")
    assert set(r) == {"text"}, r
    return parse(r["text"])


def options_text(src, n, ua):
    return ("OPTIONS sip:%s SIP/2.0\r\n"
            "Via: SIP/2.0/UDP %s:5060;branch=z9hG4bK-mx%d-%d;rport\r\n"
            "Max-Forwards: 70\r\nFrom: <sip:probe@%s>;tag=mx%d\r\nTo: <sip:%s>\r\n"
            "Call-ID: metrics-%d-%d@%s\r\nCSeq: 1 OPTIONS\r\nUser-Agent: %s\r\n"
            "Content-Length: 0\r\n\r\n"
            % (SBC_WAN, src, os.getpid(), n, src, n, SBC_WAN, os.getpid(), n, src, ua))


@pytest.mark.sbc_config(NOBODY)
def test_metrics_count_known_traffic(testnet, sbcd):
    """5 OPTIONS from a phone (one socket) are answered 200; one OPTIONS
    with User-Agent friendly-scanner from another source is dropped and
    bans it. The metrics, before and after, differ by exactly that: 5 more
    OPTIONS received, 5 more 2xx sent, 5 more packets passed by the guard,
    1 blocked for scanner, 1 ban now and 1 more issued. Every metric the
    API promises is there with every label value (guard reasons, methods,
    classes, zones), zeros included."""
    n = 5
    m0 = metrics(testnet)
    r = testnet.sip_exchange("pub", "udp", SBC_WAN, SIP_PORT,
                             [{"send": options_text(PUB, i, "sbc-metrics-test")} for i in range(n)]
                             + [{"expect": n, "timeout": 5}], src=PUB, timeout=20)
    assert [x.split("\r\n", 1)[0] for x in r["messages"]] == ["SIP/2.0 200 OK"] * n, r
    r = testnet.sip_exchange("pub", "udp", SBC_WAN, SIP_PORT,
                             [{"send": options_text(SCANNER, 99, "friendly-scanner")},
                              {"expect": 1, "timeout": 1}], src=SCANNER, timeout=20)
    assert r["messages"] == [], r
    wait_for(lambda: any(b["source"] == SCANNER for b in ok(testnet, "guard.bans")), 10,
             "the scanner's ban")
    m1 = metrics(testnet)

    for name, typ in REQUIRED.items():
        assert name in m1 and m1[name]["type"] == typ, (name, m1.get(name))

    def delta(name, **labels):
        return value(m1, name, **labels) - value(m0, name, **labels)
    assert delta("sbc_sip_requests_total", direction="rx", method="OPTIONS") == n
    assert delta("sbc_sip_requests_total", direction="rx", method="INVITE") == 0
    assert delta("sbc_sip_responses_total", direction="tx", **{"class": "2xx"}) == n
    assert delta("sbc_sip_responses_total", direction="rx", **{"class": "2xx"}) == 0
    assert delta("sbc_guard_packets_total", verdict="passed") == n
    assert delta("sbc_guard_packets_total", verdict="blocked") == 1
    assert delta("sbc_guard_blocked_packets_total", reason="scanner") == 1
    assert value(m1, "sbc_guard_blocked_packets_total", reason="scanner") > 0
    assert delta("sbc_guard_bans_total") == 1
    assert value(m1, "sbc_guard_bans") == 1 and value(m0, "sbc_guard_bans") == 0
    assert value(m1, "sbc_sip_requests_total", direction="rx", method="OPTIONS") >= n

    gstats = ok(testnet, "guard.stats")
    assert label_values(m1, "sbc_guard_blocked_packets_total", "reason") == \
        sorted(gstats["reasons"]), m1["sbc_guard_blocked_packets_total"]
    assert label_values(m1, "sbc_sip_requests_total", "method") == sorted(METHODS)
    assert label_values(m1, "sbc_sip_requests_total", "direction") == ["rx", "tx"]
    assert len(m1["sbc_sip_requests_total"]["samples"]) == 2 * len(METHODS)
    assert label_values(m1, "sbc_sip_responses_total", "class") == CLASSES
    assert len(m1["sbc_sip_responses_total"]["samples"]) == 2 * len(CLASSES)
    assert label_values(m1, "sbc_link_up", "zone") == ["private", "public"]
    assert value(m1, "sbc_link_up", zone="public") == 1
    assert value(m1, "sbc_link_up", zone="private") == 1
    assert label_values(m1, "sbc_calls_total", "result") == ["answered", "failed", "started"]
    assert label_values(m1, "sbc_media_packets_total", "what") == ["received", "relayed"]
    assert {"source", "policing", "no_dest", "truncated"} <= set(
        label_values(m1, "sbc_media_dropped_packets_total", "cause"))
    status = ok(testnet, "status")
    assert value(m1, "sbc_info", version=status["version"]) == 1
    assert value(m1, "sbc_uptime_seconds") >= 0
    assert value(m1, "sbc_calls_active") == 0 and value(m1, "sbc_media_sessions") == 0
    assert value(m1, "sbc_registrations") == 0
    assert value(m1, "sbc_leaks_blocked_total") == 0
    assert value(m1, "sbc_transactions_live") >= 0
    assert set(label_values(m1, "sbc_sip_rejected_total", "reason")) == set(
        ok(testnet, "stats")["sip"]["rejected"])


def test_metrics_agree_with_stats(testnet, sbcd):
    """A REGISTER relayed from a phone to the core: one more REGISTER
    received and sent, one more 2xx received and sent, one binding; the
    metrics and the stats command's methods_rx/methods_tx/classes_rx/
    classes_tx objects show the same figures, with every method and class
    as a key."""
    s0 = ok(testnet, "stats")["sip"]
    testnet.register_through(PHONE, SIP_PORT)
    s1 = ok(testnet, "stats")["sip"]
    m = metrics(testnet)
    for key, names in (("methods_rx", METHODS), ("methods_tx", METHODS),
                       ("classes_rx", CLASSES), ("classes_tx", CLASSES)):
        assert sorted(s1[key]) == sorted(names), (key, s1[key])
    assert s1["methods_rx"]["REGISTER"] - s0["methods_rx"]["REGISTER"] == 1, (s0, s1)
    assert s1["methods_tx"]["REGISTER"] - s0["methods_tx"]["REGISTER"] == 1, (s0, s1)
    assert s1["classes_rx"]["2xx"] - s0["classes_rx"]["2xx"] == 1, (s0, s1)
    assert s1["classes_tx"]["2xx"] - s0["classes_tx"]["2xx"] >= 1, (s0, s1)
    assert sum(s1["methods_rx"].values()) == s1["rx_requests"]
    assert sum(s1["classes_rx"].values()) == s1["rx_responses"]
    for meth in METHODS:
        assert value(m, "sbc_sip_requests_total", direction="rx", method=meth) == \
            s1["methods_rx"][meth], meth
        assert value(m, "sbc_sip_requests_total", direction="tx", method=meth) == \
            s1["methods_tx"][meth], meth
    for cls in CLASSES:
        assert value(m, "sbc_sip_responses_total", direction="rx", **{"class": cls}) == \
            s1["classes_rx"][cls], cls
        assert value(m, "sbc_sip_responses_total", direction="tx", **{"class": cls}) == \
            s1["classes_tx"][cls], cls
    for reason, v in s1["rejected"].items():
        assert value(m, "sbc_sip_rejected_total", reason=reason) == v, reason
    assert value(m, "sbc_registrations") == 1


def test_metrics_arguments(testnet, sbcd):
    """metrics takes no arguments; help lists it."""
    bad = ctl(testnet, "metrics", {"x": 1})
    assert bad.get("ok") is False and "no arguments" in bad.get("error", ""), bad
    assert "metrics" in ok(testnet, "help")


def test_parser_is_strict():
    """The parser above refuses what the format does not allow (so that
    the tests above can fail)."""
    good = ('# HELP sbc_x_total An x.\n# TYPE sbc_x_total counter\n'
            'sbc_x_total{a="q\\"\\\\\\n",b="2"} 3\n')
    f = parse(good)
    assert value(f, "sbc_x_total", a='q"\\\n', b="2") == 3
    bad = [
        "sbc_x_total 1\n",                                              # no HELP/TYPE
        "# HELP sbc_x_total x\n# TYPE sbc_x_total counter\nsbc_x_total 1",   # no final LF
        "# HELP sbc_x_total x\n# TYPE sbc_x_total counter\nsbc_x_total{a=\"\n\"} 1\n",
        "# HELP sbc_x_total x\n# TYPE sbc_x_total counter\nsbc_x_total{a=\"\\q\"} 1\n",
        "# HELP sbc_x_total x\n# TYPE sbc_x_total counter\nsbc_x_total{a=1} 1\n",
        "# HELP sbc_x_total x\n# TYPE sbc_x_total counter\nsbc_x_total one\n",
        "# HELP sbc_x_total x\n# TYPE sbc_x_total counter\nsbc_x_total 1\nsbc_x_total 2\n",
        "# HELP sbc_x x\n# TYPE sbc_x counter\nsbc_x 1\n",               # counter without _total
        "# HELP sbc_x x\n# TYPE sbc_x gauge\nsbc_y 1\n",
        "# HELP sbc_x x\n# TYPE sbc_x gauge\n\nsbc_x 1\n",
        "# HELP sbc_x x\n# TYPE sbc_x gauge\nsbc_x{a=\"1\",a=\"2\"} 1\n",
    ]
    for text in bad:
        with pytest.raises(AssertionError):
            parse(text)
