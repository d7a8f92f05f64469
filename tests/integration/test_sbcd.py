"""sbcd as a black box: config check, start-up, signals, reload, daemon mode, tools/run-local."""
import os
import queue
import re
import signal
import socket
import stat
import subprocess
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("SBC_BUILD", ROOT / "build"))
if not BUILD.is_absolute():
    BUILD = ROOT / BUILD
SBCD = BUILD / "sbcd"
DEFAULT_CONF = ROOT / "rootfs" / "etc" / "sbc" / "sbc.ini"
WAIT = 10.0


def local_config(tmp_path, log_level="info", extra=""):
    """A valid configuration on loopback with its state under tmp_path."""
    return f"""[general]
data_dir = {tmp_path}/data
control_socket = {tmp_path}/sbcd.sock
log_level = {log_level}

[public]
interface = lo
address = 127.0.0.1

[private]
interface = lo
address = 127.0.0.2

[core]
address = 127.0.0.3
{extra}"""


BROKEN = """[public]
interface = lo
address = 127.0.0.1
sip_udp = abc

[private]
interface = lo
address = 127.0.0.1
rtp_ports = 25000-26000

[core]
address = 127.0.0.3
colour = blue
"""

BROKEN_ERRORS = [
    '[public] sip_udp: "abc" is not a whole number',
    "[core] colour: unknown key",
    "[private] address: 127.0.0.1 is also the [public] address",
    "[public] rtp_ports: range 20000-29999 overlaps [private] rtp_ports 25000-26000",
]


class Daemon:
    """A running sbcd (or run-local) whose output lines are read by a thread."""

    def __init__(self, args, merge_stdout=False, cwd=None):
        self.proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if merge_stdout else subprocess.DEVNULL,
            stderr=subprocess.STDOUT if merge_stdout else subprocess.PIPE,
            text=True, cwd=cwd, start_new_session=True)
        self.lines = []
        self.q = queue.Queue()
        stream = self.proc.stdout if merge_stdout else self.proc.stderr
        self.reader = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self.reader.start()

    def _read(self, stream):
        for line in stream:
            self.q.put(line.rstrip("\n"))
        self.q.put(None)

    def wait_for(self, pattern, timeout=WAIT):
        """Wait for an output line matching pattern; return it."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no line matching {pattern!r} in {timeout}s:\n" + "\n".join(self.lines))
            try:
                line = self.q.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"output ended before {pattern!r}:\n" + "\n".join(self.lines))
            self.lines.append(line)
            if rx.search(line):
                return line

    def drain(self, seconds):
        """Collect output for a while."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                line = self.q.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                continue
            if line is None:
                break
            self.lines.append(line)

    def stop(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)
        rc = self.proc.wait(timeout=WAIT)
        self.reader.join(timeout=WAIT)
        while not self.q.empty():
            line = self.q.get()
            if line is not None:
                self.lines.append(line)
        return rc

    def kill(self):
        """Kill it and whatever it started (run-local's sbcd and sbc-webd)."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=WAIT)


@pytest.mark.skipif(Path("/sys/class/net/wan").exists() and Path("/sys/class/net/lan").exists(),
                    reason="this machine has wan and lan: run-local would use the board configuration")
def test_run_local_web_port_taken(tmp_path):
    """sbc-webd cannot listen (its port is taken): run-local says so, sbcd
    runs on, and Ctrl-C still stops it cleanly."""
    webd = Path(SBCD).parent / "sbc-webd"
    if not webd.exists():
        pytest.skip("no sbc-webd in the build")
    build = tmp_path / "build"
    build.mkdir()
    (build / "sbcd").symlink_to(SBCD)
    (build / "sbc-webd").symlink_to(webd)
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.bind(("127.0.0.2", 8443))
    holder.listen(1)
    d = Daemon([str(ROOT / "tools" / "run-local"), str(build)], merge_stdout=True, cwd=ROOT)
    try:
        d.wait_for(r"Ctrl-C to stop")
        out = "\n".join(d.lines)
        assert "sbc-webd did not start" in out, out
        assert "first login" not in out, out
        assert (build / "run" / "sbcd.sock").exists()      # sbcd runs on
        assert d.stop(signal.SIGINT) == 0
        assert not (build / "run" / "sbcd.sock").exists()
    finally:
        d.kill()
        holder.close()


@pytest.fixture
def conf(tmp_path):
    path = tmp_path / "sbc.ini"
    path.write_text(local_config(tmp_path))
    return path


@pytest.fixture
def daemon(conf):
    d = Daemon([str(SBCD), "-c", str(conf)])
    yield d
    d.kill()


def run(args, timeout=WAIT):
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def test_check_default_config():
    r = run([str(SBCD), "-t", "-c", str(DEFAULT_CONF)])
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"{DEFAULT_CONF}: configuration OK\n"
    assert r.stderr == ""


def test_check_broken_config(tmp_path):
    path = tmp_path / "broken.ini"
    path.write_text(BROKEN)
    r = run([str(SBCD), "-t", "-c", str(path)])
    assert r.returncode == 2
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    for err in BROKEN_ERRORS:
        assert f"{path}: {err}" in lines
    assert len(lines) == len(BROKEN_ERRORS)
    for line in lines:
        assert re.match(re.escape(str(path)) + r": \[[a-z:]+\] [a-z_]+: ", line), line


def test_check_missing_file(tmp_path):
    r = run([str(SBCD), "-t", "-c", str(tmp_path / "nope.ini")])
    assert r.returncode == 2
    assert r.stderr == f"{tmp_path}/nope.ini: cannot read: No such file or directory\n"


def test_usage_errors():
    for args in (["-x"], ["-l", "loud"], ["extra"], ["-c"]):
        r = run([str(SBCD)] + args)
        assert r.returncode == 64, args
        assert r.stderr


def test_version_and_help():
    r = run([str(SBCD), "-V"])
    assert r.returncode == 0
    assert re.fullmatch(r"sbcd \d+\.\d+\.\d+\n", r.stdout)
    r = run([str(SBCD), "-h"])
    assert r.returncode == 0
    assert "-t" in r.stdout and "-c FILE" in r.stdout


def test_start_with_broken_config(tmp_path):
    path = tmp_path / "broken.ini"
    path.write_text(BROKEN)
    r = run([str(SBCD), "-c", str(path)])
    assert r.returncode == 2
    for err in BROKEN_ERRORS:
        assert f"{path}: {err}" in r.stderr.splitlines()


def test_ready_then_sigterm(daemon, tmp_path):
    daemon.wait_for(r"zone public: interface lo, address 127\.0\.0\.1, sip udp 5060 tcp 5060 tls 5061, "
                    r"rtp 20000-29999, media socket")
    daemon.wait_for(r"zone private: interface lo, address 127\.0\.0\.2")
    daemon.wait_for(r"\[info\] sbcd ready$")
    data = tmp_path / "data"
    assert data.is_dir()
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert daemon.stop(signal.SIGTERM) == 0
    assert any("shutting down" in line for line in daemon.lines)


def test_ready_then_sigint(daemon):
    daemon.wait_for(r"sbcd ready")
    assert daemon.stop(signal.SIGINT) == 0
    assert any("SIGINT: shutting down" in line for line in daemon.lines)


def test_reload_refused_keeps_running(daemon, conf):
    daemon.wait_for(r"sbcd ready")
    conf.write_text(BROKEN)
    daemon.proc.send_signal(signal.SIGHUP)
    daemon.wait_for(r"\[error\] reload refused, keeping the running configuration")
    for err in BROKEN_ERRORS:
        assert any(line.endswith(f"[error] {conf}: {err}") for line in daemon.lines), err
    daemon.drain(0.3)
    assert daemon.proc.poll() is None
    assert daemon.stop(signal.SIGTERM) == 0


def test_reload_applies_log_level(daemon, conf, tmp_path):
    daemon.wait_for(r"sbcd ready")
    daemon.proc.send_signal(signal.SIGHUP)
    daemon.wait_for(r"configuration reloaded")
    assert not any("[debug]" in line for line in daemon.lines)
    conf.write_text(local_config(tmp_path, log_level="debug"))
    daemon.proc.send_signal(signal.SIGHUP)
    daemon.wait_for(r"log level is now debug")
    daemon.wait_for(r"configuration reloaded")
    # the next reload logs at debug level
    daemon.proc.send_signal(signal.SIGHUP)
    daemon.wait_for(r"\[debug\] SIGHUP: reading " + re.escape(str(conf)))
    daemon.wait_for(r"configuration reloaded")
    assert daemon.stop() == 0


def test_log_level_option_overrides(conf):
    d = Daemon([str(SBCD), "-l", "warn", "-c", str(conf)])
    try:
        d.drain(1.0)
        assert d.proc.poll() is None
        assert not any("[info]" in line for line in d.lines)
        assert d.stop() == 0
        assert not any("[info]" in line for line in d.lines)
    finally:
        d.kill()


def test_daemonize_pid_file(conf, tmp_path):
    """-d with relative paths: they are taken from the folder sbcd started in."""
    pidfile = tmp_path / "run" / "sbcd.pid"
    r = subprocess.run([str(SBCD), "-d", "-p", "run/sbcd.pid", "-c", conf.name], cwd=tmp_path,
                       capture_output=True, text=True, timeout=WAIT, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    deadline = time.monotonic() + WAIT
    while not pidfile.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    pid = int(pidfile.read_text())
    try:
        os.kill(pid, 0)
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + WAIT
        while pidfile.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not pidfile.exists()
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.mark.skipif(Path("/sys/class/net/wan").exists() and Path("/sys/class/net/lan").exists(),
                    reason="this machine has wan and lan: run-local would use the board configuration")
def test_run_local(tmp_path):
    """make run's script: a loopback configuration, sbcd and (when built)
    sbc-webd started, the UI's address and first-login token printed, both
    stopped by Ctrl-C."""
    build = tmp_path / "build"
    build.mkdir()
    (build / "sbcd").symlink_to(SBCD)
    webd = Path(SBCD).parent / "sbc-webd"
    if webd.exists():
        (build / "sbc-webd").symlink_to(webd)
    d = Daemon([str(ROOT / "tools" / "run-local"), str(build)], merge_stdout=True, cwd=ROOT)
    try:
        d.wait_for(r"Ctrl-C to stop")
        if not any("sbcd ready" in line for line in d.lines):
            d.wait_for(r"sbcd ready")   # its log and the script's lines interleave
        out = "\n".join(d.lines)
        conf = build / "run" / "sbc.ini"
        assert "no wan/lan interfaces" in out
        assert str(conf) in out
        assert "127.0.0.3:5060" in out
        assert f"{conf}: configuration OK" in out
        if webd.exists():
            token = (build / "run" / "data" / "web" / "setup-token").read_text().strip()
            assert re.fullmatch(r"[0-9a-f]{64}", token), token
            assert "web UI:        https://127.0.0.2:8443/" in out
            assert f"first login:   setup token {token}" in out
        else:
            assert "is not built: no web UI" in out
        text = conf.read_text()
        for line in ("address        = 127.0.0.1", "address        = 127.0.0.2",
                     "address        = 127.0.0.3", "listen         = 127.0.0.2:8443",
                     f'data_dir       = "{build}/run/data"',
                     f'control_socket = "{build}/run/sbcd.sock"'):
            assert line in text.splitlines(), line
        assert (build / "run" / "data").is_dir()
        assert d.stop(signal.SIGINT) == 0
        assert not (build / "run" / "sbcd.sock").exists()   # sbcd stopped with it
    finally:
        d.kill()
