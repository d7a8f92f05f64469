"""qemubox: a firmware image booted under tools/qemu-run, for tests/image.

The network is a netns.TestNet (namespaces pub, sbc, priv; see
tests/integration/netns.py) whose two veth pairs are deleted: the box's NICs
take their place. qemu-run runs inside the sbc namespace (so the TestNet's
clean-up kills it with everything else there) and makes its taps as eth0 of
pub (the WAN side, 203.0.113.10/24) and of priv (the LAN side,
10.20.0.10/24):

    sbc-pub-SFX                 sbc-sbc-SFX (qemu)             sbc-priv-SFX
    eth0 (tap) ------------ guest eth0=wan  eth1=lan ------------ eth0 (tap)
    203.0.113.10/24           203.0.113.1     10.20.0.1           10.20.0.10/24

    box = Box(board, image_copy, tmpdir)       # boots, nothing waited for yet
    box.wait_console(r"setup token", timeout=180)
    box.shell("pidof sbcd")                    # the hvc0 maintenance shell
    box.close()                                 # qemu, taps, namespaces

Every wait is bounded; the serial console goes to TMPDIR/serial.log.
"""
import os
import re
import shlex
import signal
import socket
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

import netns  # noqa: E402

QEMU_RUN = os.path.join(REPO, "tools", "qemu-run")
ARTEFACTS = os.path.join(REPO, "build", "test-artefacts", "image")
ESP_NAME = "sbc-esp"
SHELL_OPTION = "sbc.shell=hvc0"


class BoxError(AssertionError):
    """The box did not do what was waited for; the message says what."""


def boards():
    """The board names: folders of board/ with a board.conf."""
    d = os.path.join(REPO, "board")
    return sorted(b for b in os.listdir(d) if os.path.isfile(os.path.join(d, b, "board.conf")))


def board_conf(board):
    conf = {}
    with open(os.path.join(REPO, "board", board, "board.conf")) as f:
        for ln in f:
            ln = ln.strip()
            if ln and not ln.startswith("#") and "=" in ln:
                k, v = ln.split("=", 1)
                conf[k.strip()] = v.strip().strip("\"'")
    return conf


# ---------------------------------------------------------------------------
# the image's ESP, through mtools

def gpt_partitions(path):
    """[(name, first byte, size in bytes)] of the GPT of a disk image (512-byte
    sectors)."""
    with open(path, "rb") as f:
        f.seek(512)
        hdr = f.read(92)
        if hdr[:8] != b"EFI PART":
            raise BoxError("%s: no GPT header" % path)
        entries_lba, count, esize = struct.unpack_from("<QII", hdr, 72)
        f.seek(entries_lba * 512)
        table = f.read(count * esize)
    parts = []
    for i in range(count):
        e = table[i * esize:(i + 1) * esize]
        if e[:16] == b"\0" * 16:
            continue
        first, last = struct.unpack_from("<QQ", e, 32)
        name = e[56:128].decode("utf-16-le").rstrip("\0")
        parts.append((name, first * 512, (last - first + 1) * 512))
    return parts


def _mtools(argv, input=None):
    r = subprocess.run(argv, input=input, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=60)
    if r.returncode != 0:
        raise BoxError("%s: exit %d: %s" % (" ".join(argv), r.returncode,
                                          r.stderr.decode(errors="replace").strip()))
    return r.stdout


def add_kernel_option(image, option=SHELL_OPTION, tmpdir="/tmp"):
    """Append option to the options line of every loader entry in the
    image's ESP (mcopy -o through the partition offset). Returns
    {entry: new options line}."""
    esp = [p for p in gpt_partitions(image) if p[0] == ESP_NAME]
    if len(esp) != 1:
        raise BoxError("%s: %d partitions named %s" % (image, len(esp), ESP_NAME))
    disk = "%s@@%d" % (image, esp[0][1])
    names = _mtools(["mdir", "-b", "-i", disk, "::/loader/entries"]).decode().split()
    entries = [n.rsplit("/", 1)[-1] for n in names if n.endswith(".conf")]
    if not entries:
        raise BoxError("%s: no loader entries in the ESP" % image)
    done = {}
    for e in entries:
        path = "::/loader/entries/" + e
        text = _mtools(["mtype", "-i", disk, path]).decode()
        lines = text.splitlines()
        idx = [i for i, ln in enumerate(lines) if ln.split()[:1] == ["options"]]
        if len(idx) != 1:
            raise BoxError("%s: %d options lines:\n%s" % (e, len(idx), text))
        lines[idx[0]] += " " + option
        local = os.path.join(tmpdir, e)
        with open(local, "w") as f:
            f.write("\n".join(lines) + "\n")
        _mtools(["mcopy", "-o", "-i", disk, local, path])
        again = _mtools(["mtype", "-i", disk, path]).decode()
        if option not in again:
            raise BoxError("%s: the option did not reach the ESP:\n%s" % (e, again))
        done[e] = lines[idx[0]]
    return done


# ---------------------------------------------------------------------------
# the booted box

class Box:
    """The image booted under qemu-run with the test network around it."""

    def __init__(self, board, image, tmpdir, timelog=None):
        self.board = board
        self.image = image
        self.tmpdir = str(tmpdir)
        self.conf = board_conf(board)
        self.timelog = timelog
        self.t0 = time.monotonic()
        self.net = netns.TestNet(tmpdir=self.tmpdir)
        self.proc = None
        self.sock = None
        self._buf = b""
        self._seq = 0
        self.serial_log = os.path.join(self.tmpdir, "serial.log")
        self.shell_path = None
        self._panic_offset = 0

    # -- life cycle -----------------------------------------------------------

    def start(self):
        self.net.setup()
        try:
            for role in ("pub", "priv"):        # their peers (sbc/wan, sbc/lan) go too
                self.net.run(role, [netns.IP, "link", "del", "eth0"], check=True)
            self.shell_path = os.path.join(self.net.rundir, "hvc0.sock")
            argv = [netns.PYTHON, QEMU_RUN, "--board", self.board, "--image", self.image,
                    "--wan-ns", self.net.ns["pub"], "--lan-ns", self.net.ns["priv"],
                    "--wan-addr", netns.PUB + "/24", "--lan-addr", netns.PBX + "/24",
                    "--shell-socket", self.shell_path, "--serial-log", self.serial_log]
            self.proc = self.net.popen("sbc", argv, name="qemu-run")
            netns.wait_for(lambda: self._taps_up() or self._dead(), timeout=30,
                           what="the taps of qemu-run")
            self._check_alive()
        except BaseException:
            self.close()
            raise
        self.step("qemu started")
        return self

    def _taps_up(self):
        try:
            return all(self.net.link(r, "eth0").get("operstate") in ("UP", "UNKNOWN")
                       for r in ("pub", "priv"))
        except netns.NetError:          # not made yet
            return False

    def _dead(self):
        return self.proc is not None and self.proc.poll() is not None

    def _check_alive(self):
        """BoxError if qemu has exited or the guest kernel panicked."""
        if self._dead():
            raise BoxError("qemu-run exited with status %s:\n%s%s"
                           % (self.proc.returncode, netns.log_tail(self.proc.out_path),
                              netns.log_tail(self.proc.err_path)))
        try:
            with open(self.serial_log, "rb") as f:
                f.seek(self._panic_offset)
                data = f.read()
        except OSError:
            return
        i = data.find(b"Kernel panic")
        if i >= 0:
            raise BoxError("%s: kernel panic; the console:\n%s"
                           % (self.board,
                              data[max(0, i - 1500):i + 2500].decode(errors="replace")))
        self._panic_offset += max(0, len(data) - 64)

    def close(self):
        """Stop qemu (SIGTERM via qemu-run), delete taps and namespaces, keep
        the serial log among the artefacts."""
        try:
            self.diagnose()
            if self.sock:
                self.sock.close()
                self.sock = None
            if self.proc is not None and self.proc.poll() is None:
                self.proc.stop(signal.SIGTERM, timeout=20)
        finally:
            self.net.close(raise_errors=False)
            self.save_artefacts()

    DIAG = ("cat /proc/cmdline", "ps", "ip addr", "cat /etc/sbc/sbc.ini", "logread | tail -n 100")

    def diagnose(self):
        """What the box says about itself (processes, addresses, config,
        log) into the artefacts as BOARD-diag.log, when the shell answers."""
        if self.proc is None or self._dead() or not self.shell_path:
            return
        out = []
        for cmd in self.DIAG:
            try:
                rc, text = self.shell(cmd, timeout=10)
            except (BoxError, OSError) as e:
                out.append("# %s\n(no answer: %s)\n" % (cmd, str(e)[:200]))
                break
            out.append("# %s (exit %d)\n%s\n" % (cmd, rc, text))
        os.makedirs(ARTEFACTS, exist_ok=True)
        with open(os.path.join(ARTEFACTS, "%s-diag.log" % self.board), "w") as f:
            f.write("\n".join(out))

    def save_artefacts(self):
        os.makedirs(ARTEFACTS, exist_ok=True)
        try:
            with open(self.serial_log, "rb") as src, \
                    open(os.path.join(ARTEFACTS, "%s-serial.log" % self.board), "wb") as dst:
                dst.write(src.read())
        except OSError:
            pass

    def step(self, what):
        """One line in the time log: seconds since the box was made, what."""
        if self.timelog:
            with open(self.timelog, "a") as f:
                f.write("%s %7.1f s  %s\n" % (self.board, time.monotonic() - self.t0, what))

    # -- the serial console ------------------------------------------------------

    def console(self, offset=0):
        """What the serial console printed from byte offset on."""
        try:
            with open(self.serial_log, "rb") as f:
                f.seek(offset)
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def console_size(self):
        try:
            return os.path.getsize(self.serial_log)
        except OSError:
            return 0

    def wait_console(self, pattern, timeout, offset=0):
        """The first match of regex pattern in the console from offset on."""
        rx = re.compile(pattern, re.M)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.console(offset))
            if m:
                return m
            self._check_alive()
            if time.monotonic() >= deadline:
                raise BoxError("%s: the console did not show /%s/ within %s s; its end:\n%s"
                               % (self.board, pattern, timeout, self.console(offset)[-3000:]))
            time.sleep(0.5)

    # -- readiness ------------------------------------------------------------

    def boot_timeout(self):
        """Bound of one boot (TCG is slow, arm64 more so): board.conf
        QEMU_BOOT_TIMEOUT, else 180 s (x86_64) or 300 s (arm64)."""
        default = 300 if self.conf.get("ARCH") == "arm64" else 180
        return float(self.conf.get("QEMU_BOOT_TIMEOUT", default))

    def wait_ready(self, timeout=None):
        """Wait (bounded) until the box has booted: the hvc0 shell answers,
        sbcd answers OPTIONS on the WAN address, sbc-webd answers HTTPS on
        the LAN address."""
        timeout = timeout or self.boot_timeout()
        deadline = time.monotonic() + timeout
        self.wait_shell(timeout)
        self.step("hvc0 shell answers")
        self.net.wait_options([("pub", netns.SBC_WAN, 5060, netns.PUB)],
                              timeout=max(30.0, deadline - time.monotonic()), proc=self.proc)
        self.step("OPTIONS answered on WAN")
        netns.wait_for(lambda: self.https_status("priv", netns.SBC_LAN, max_time=5)[0] != 0
                       or self._dead(), timeout=max(30.0, deadline - time.monotonic()),
                       what="HTTPS on %s" % netns.SBC_LAN, interval=1.0)
        self._check_alive()
        self.step("HTTPS answered on LAN")

    def https_status(self, ns, addr, path="/", max_time=10):
        """(HTTP status or 0, curl's exit status) of GET https://addr/path from ns."""
        r = self.net.run(ns, ["curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}",
                              "--max-time", str(max_time), "https://%s%s" % (addr, path)],
                         timeout=max_time + 10)
        code = r.stdout.strip()
        return (int(code) if code.isdigit() else 0), r.returncode

    # -- the hvc0 maintenance shell ----------------------------------------------

    def _connect(self):
        if self.sock is None:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(self.shell_path)
            self.sock = s
            self._buf = b""

    def shell(self, cmd, timeout=30.0):
        """Run cmd in the box's root shell on hvc0; (exit status, output).
        The connection to the socket stays open between commands and across
        reboots: closing it hangs up the guest's hvc0, which kills the shell
        (init starts a new one, but what is sent meanwhile is lost).
        One line is sent (cmd runs through eval, so it may hold ; or &); the
        markers are printed with printf so that the terminal's echo of the
        line cannot be mistaken for them."""
        self._seq += 1
        begin, end = "@@B%d" % self._seq, "@@E%d" % self._seq
        line = "printf '@@%%s\\n' B%d; eval %s; printf '\\n@@%%s:%%d\\n' E%d $?\n" \
            % (self._seq, shlex.quote(cmd), self._seq)
        deadline = time.monotonic() + timeout
        rx = re.compile(r"^%s\r?\n(.*?)^%s:(\d+)\r?$" % (begin, end), re.M | re.S)
        while True:
            try:
                self._connect()
                self.sock.sendall(line.encode())
                break
            except OSError:
                if self.sock:
                    self.sock.close()
                    self.sock = None
                self._check_alive()
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.5)
        while True:
            m = rx.search(self._buf.decode(errors="replace"))
            if m:
                self._buf = b""
                return int(m.group(2)), m.group(1).replace("\r", "")[:-1]
            left = deadline - time.monotonic()
            if left <= 0:
                raise BoxError("%s: no answer from the hvc0 shell to %r within %s s; got %r"
                               % (self.board, cmd, timeout, self._buf[-500:]))
            self.sock.settimeout(min(left, 1.0))
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                self.sock.close()
                self.sock = None
                raise
            if not data:
                self.sock.close()
                self.sock = None
                raise BoxError("%s: the hvc0 socket closed" % self.board)
            self._buf += data

    def wait_shell(self, timeout):
        """Wait until the shell answers (it starts after the services)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                left = max(1.0, deadline - time.monotonic())
                rc, out = self.shell("echo ok", timeout=min(5.0, left))
                if rc == 0 and "ok" in out:
                    return
            except (BoxError, OSError):
                pass        # keep the connection: a hang-up would kill the shell
            self._check_alive()
            if time.monotonic() >= deadline:
                raise BoxError("%s: the hvc0 shell did not answer within %s s" % (self.board,
                                                                                  timeout))
