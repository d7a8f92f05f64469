"""The firmware image booted under qemu (issue 9, item 6), for every board.

One boot per board (the image_box fixture, conftest.py) serves the tests
below in their order: the first one sets the web UI's password with the
setup token read from the console, the last one reboots the box. From the
namespaces around the box (pub = WAN side 203.0.113.10, priv = LAN side
10.20.0.10, the PBX): OPTIONS to the WAN address, HTTPS on LAN and not on
WAN, a call with RTP from the WAN side to a sipp PBX through the box, a kill
of sbcd through the hvc0 shell, a configuration change through the API that
survives a reboot. Every wait is bounded (TCG is slow: generous bounds).
"""
import os
import re
import struct

import netns
import qemubox
import webd
from netns import PBX, PUB, SBC_LAN, SBC_WAN, sipp_scenario

PASSWORD = "image-test-password"
URL = "https://%s:443" % SBC_LAN
TOKEN_RE = r"setup token\W+([0-9a-f]{64})\b"
RTP_PACKETS = 50                 # 1 s of G.711 at 20 ms
MEDIA_PORT = 6000                # both sipps' -mp


def state(box):
    if not hasattr(box, "state"):
        box.state = {}
    return box.state


def logged_in(box):
    """A webd.Client from priv, logged in (set up with the console's token
    first if no test did that yet)."""
    c = webd.Client(box.net, URL)
    st = state(box)
    if "password" not in st:
        token = box.wait_console(TOKEN_RE, timeout=30).group(1)
        r = c.setup(token, PASSWORD)
        assert r.status == 200, r
        st["password"] = PASSWORD
        return c
    r = c.login(st["password"])
    assert r.status == 200, r
    return c


def api(c, cmd, args=None, post=False):
    r = c.sbcd(cmd, args, post=post)
    assert r.status == 200, "%s: %r" % (cmd, r)
    body = r.json()
    return body.get("result", body)


def sbcd_pid(box):
    rc, out = box.shell("pidof sbcd")
    pids = out.split()
    return int(pids[0]) if rc == 0 and len(pids) == 1 else None


# ---------------------------------------------------------------------------

def test_first_boot_prints_setup_token_that_works(image_box):
    """The console shows the UI's address and a one-time setup token; the
    token sets the password (POST /api/setup from the LAN side)."""
    box = image_box
    m = box.wait_console(TOKEN_RE, timeout=30)
    console = box.console()
    assert "https://%s" % SBC_LAN in console, console[-3000:]
    c = webd.Client(box.net, URL)
    r = c.get("/api/session")
    assert r.status == 200 and r.json()["setup"] is True, r
    bad = c.setup("0" * 64, PASSWORD)
    assert bad.status == 403, bad
    r = c.setup(m.group(1), PASSWORD)
    assert r.status == 200, r
    state(box)["password"] = PASSWORD
    state(box)["token"] = m.group(1)
    assert c.get("/api/session").json()["logged_in"] is True


def test_options_to_wan_answered_by_sbcd(image_box):
    """OPTIONS from the WAN side to 203.0.113.1:5060 gets sbcd's 200."""
    box = image_box
    answers = box.net.wait_options([("pub", SBC_WAN, 5060, PUB)], timeout=30)
    line = answers[("pub", SBC_WAN, 5060)]
    assert line.startswith("SIP/2.0 200"), line
    assert sbcd_pid(box), "no (single) sbcd in the box: %r" % (box.shell("ps")[1],)


def test_https_on_lan_only(image_box):
    """The web UI answers HTTPS on the LAN address; nothing answers HTTPS on
    the WAN address."""
    box = image_box
    status, rc = box.https_status("priv", SBC_LAN)
    assert status == 200 and rc == 0, (status, rc)
    status, rc = box.https_status("pub", SBC_WAN, max_time=5)
    assert status == 0 and rc != 0, (status, rc)


def write_rtp_pcap(path, packets=RTP_PACKETS):
    """A pcap of RTP/PCMU packets (20 ms, 160 bytes of silence each) for
    sipp's play_pcap_audio (which rewrites addresses and ports)."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
        for i in range(packets):
            rtp = bytes([0x80, 0]) + struct.pack(">HII", 1000 + i, 160 * i, 0x5BC0DE01) + \
                b"\xff" * 160
            udp = struct.pack(">HHHH", 4000, 4002, 8 + len(rtp), 0) + rtp
            ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i, 0, 64, 17, 0,
                             bytes([192, 0, 2, 1]), bytes([192, 0, 2, 2]))
            s = sum(struct.unpack(">10H", ip))
            s = (s & 0xffff) + (s >> 16)
            s = (s & 0xffff) + (s >> 16)
            ip = ip[:10] + struct.pack(">H", ~s & 0xffff) + ip[12:]
            frame = b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip + udp
            f.write(struct.pack("<IIII", 1000000000, i * 20000, len(frame), len(frame)))
            f.write(frame)
    return path


def test_call_with_rtp_through_the_box(image_box):
    """A phone at 203.0.113.10 registers through the box (the PBX, a sipp at
    10.20.0.10, says 200), then calls the PBX: the call completes, the
    caller's RTP is echoed by the PBX's sipp and comes back to the phone
    from the box's relay, and sbcd's stats (through the API) count the
    relayed packets."""
    box = image_box
    net = box.net
    c = logged_in(box)
    before = api(c, "stats")["media"]
    core = net.sipp_bg("priv", ["-sf", sipp_scenario("access_core_uas.xml"), "-m", "1",
                                "-t", "u1", "-i", PBX, "-p", "5060", "-mi", PBX,
                                "-timeout", "60s", "-timeout_error"], name="core-register")
    reg = net.sipp("pub", ["-sf", sipp_scenario("access_register_uac.xml"), "-s", "alice",
                           "-key", "domain", SBC_WAN, "-key", "dest", "%s:5060" % SBC_WAN,
                           "-key", "expires", "300", "-m", "1", "-t", "u1", "-i", PUB,
                           "-p", "5060", "-mi", PUB, "%s:5060" % SBC_WAN],
                   timeout=60, name="register")
    assert reg.rc == 0, "REGISTER: " + reg.describe()
    assert core.result(timeout=70).rc == 0
    box.step("phone registered")

    pcap = write_rtp_pcap(os.path.join(net.tmpdir, "g711.pcap"))
    callee = net.sipp_bg("priv", ["-sf", sipp_scenario("call_uas.xml"), "-m", "1", "-t", "u1",
                                  "-i", PBX, "-p", "5060", "-mi", PBX, "-rtp_echo",
                                  "-mp", str(MEDIA_PORT), "-timeout", "90s", "-timeout_error"],
                         name="pbx")
    with net.tshark("pub", "eth0", "udp and not port 5060", name="rtp-phone") as at_phone, \
            net.tshark("priv", "eth0", "udp and not port 5060", name="rtp-pbx") as at_pbx:
        call = net.sipp("pub", ["-sf", sipp_scenario("rtp_uac.xml"), "-s", "alice",
                                "-key", "dest", "%s:5060" % SBC_WAN, "-key", "pcap", pcap,
                                "-m", "1", "-t", "u1", "-i", PUB, "-p", "5060", "-mi", PUB,
                                "-mp", str(MEDIA_PORT), "%s:5060" % SBC_WAN],
                        timeout=90, name="call")
        pbx = callee.result(timeout=100)
    assert call.rc == 0, "the call: " + call.describe()
    assert pbx.rc == 0, "the PBX: " + pbx.describe()
    box.step("call with RTP done")
    to_pbx = _from(at_pbx.path, SBC_LAN, PBX, MEDIA_PORT)
    to_phone = _from(at_phone.path, SBC_WAN, PUB, MEDIA_PORT)
    assert to_pbx >= RTP_PACKETS * 0.8, "RTP reaching the PBX from the box: %d" % to_pbx
    assert to_phone >= RTP_PACKETS * 0.8, "RTP echoed back to the phone: %d" % to_phone
    after = api(c, "stats")["media"]
    relayed = {k: after[k] - before.get(k, 0) for k in after
               if isinstance(after[k], int) and "relayed" in k}
    assert relayed and max(relayed.values()) >= to_pbx + to_phone - 5, (relayed, after)


def _from(pcap, src, dst, dport):
    """UDP packets src -> dst:dport in a capture."""
    r = netns._run([netns.TSHARK, "-n", "-r", pcap, "-T", "fields", "-e", "ip.src",
                    "-e", "ip.dst", "-e", "udp.dstport"], check=True)
    want = "%s\t%s\t%d" % (src, dst, dport)
    return sum(1 for ln in r.stdout.splitlines() if ln == want)


def test_sbcd_killed_is_restarted(image_box):
    """kill -9 of sbcd (hvc0 shell): init starts a new sbcd, which answers
    OPTIONS on the WAN address again."""
    box = image_box
    old = sbcd_pid(box)
    assert old, box.shell("ps")[1]
    rc, out = box.shell("kill -9 %d" % old)
    assert rc == 0, out
    new = netns.wait_for(lambda: (lambda p: p if p and p != old else None)(sbcd_pid(box)),
                         timeout=60, what="a new sbcd", interval=1.0)
    assert new != old
    answers = box.net.wait_options([("pub", SBC_WAN, 5060, PUB)], timeout=60)
    assert answers[("pub", SBC_WAN, 5060)].startswith("SIP/2.0 200"), answers
    box.step("sbcd restarted after kill -9")


def test_config_change_survives_reboot(image_box):
    """config.apply through the API (a guard limit) survives a reboot
    (`reboot` in the hvc0 shell, the same disk boots again); the second boot
    shows no setup token and the password still works."""
    box = image_box
    c = logged_in(box)
    cfg = api(c, "config.get")
    text, n = re.subn(r"(?m)^(rate_options\s*=\s*)\d+", r"\g<1>37", cfg["text"])
    assert n == 1, cfg["text"]
    assert api(c, "config.apply", {"text": text}, post=True).get("applied") is True
    assert re.search(r"(?m)^rate_options\s*=\s*37$", api(c, "config.get")["text"])
    box.step("config applied")

    rc, boot_id = box.shell("cat /proc/sys/kernel/random/boot_id")
    assert rc == 0 and boot_id.strip(), boot_id
    offset = box.console_size()
    rc, out = box.shell("(sleep 1; reboot) >/dev/null 2>&1 &")
    assert rc == 0, out
    box.step("reboot asked")
    netns.wait_for(lambda: _new_boot(box, boot_id.strip()), timeout=box.boot_timeout(),
                   what="the second boot's shell", interval=2.0)
    box.step("second boot: shell")
    box.wait_ready()
    box.step("second boot: ready")

    second = box.console(offset)
    assert not re.search(TOKEN_RE, second), second[-3000:]
    c2 = webd.Client(box.net, URL)
    assert c2.get("/api/session").json()["setup"] is False
    assert c2.login(PASSWORD if "password" not in state(box) else state(box)["password"]) \
        .status == 200
    if "token" in state(box):
        again = webd.Client(box.net, URL).setup(state(box)["token"], "another-password-1")
        assert again.status in (403, 409), again
    assert re.search(r"(?m)^rate_options\s*=\s*37$", api(c2, "config.get")["text"])


def _new_boot(box, old_id):
    try:
        rc, out = box.shell("cat /proc/sys/kernel/random/boot_id", timeout=10)
    except (qemubox.BoxError, OSError):
        return False
    return rc == 0 and out.strip() not in ("", old_id)
