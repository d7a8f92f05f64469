"""benchlib: what the network benchmarks under tools/ share (bench-calls,
bench-reg): core pinning and receive steering, CPU accounting from
/proc/stat and /proc/PID/stat, sipp's periodic statistics, and a process's
memory (VmRSS, smaps_rollup, and glibc's heap in use through gdb).

Core 1 is the target's (the process under test and the receive work of its
interfaces), core 0 the load generator's (sipp and everything else).
"""
import csv
import os
import re
import shutil
import subprocess
import sys
import threading
import time

TARGET_CORE, GEN_CORE = 1, 0


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def pin(net, pid, core):
    net.run(None, ["taskset", "-a", "-pc", str(core), str(pid)], check=True)


def steer_rx(net, ns, ifname, core):
    """RPS: the receive work of ifname in ns on core (as a NIC's IRQ would)."""
    net.run(ns, ["sh", "-c", 'printf "%x\\n" "$1" > /sys/class/net/"$2"/queues/rx-0/rps_cpus',
                 "sh", str(1 << core), ifname], check=True)


def integer(v):
    try:
        return int(v)
    except (TypeError, ValueError):
        return 0


def stat_rows(path):
    """The rows of a sipp -trace_stat file as dicts (periodic with -fd)."""
    try:
        with open(path, errors="replace", newline="") as f:
            rows = list(csv.reader(f, delimiter=";"))
    except OSError:
        return []
    if len(rows) < 2:
        return []
    head = rows[0]
    return [dict(zip(head, r)) for r in rows[1:] if len(r) >= len(head) - 1]


def epoch(field):
    """CurrentTime is 'date<TAB>time<TAB>epoch'."""
    return float(field.split("\t")[-1])


def cpu_times():
    """{core: (idle s, irq+softirq s)} from /proc/stat. Idle time is exact
    with NOHZ, busy time is sampled at ticks: a core's load is taken as
    1 - idle / wall time."""
    out = {}
    hz = os.sysconf("SC_CLK_TCK")
    with open("/proc/stat") as f:
        for line in f:
            parts = line.split()
            if parts[0].startswith("cpu") and parts[0] != "cpu":
                v = [int(x) for x in parts[1:]] + [0] * 8
                out[int(parts[0][3:])] = ((v[3] + v[4]) / hz, (v[5] + v[6]) / hz)
    return out


def proc_jiffies(pids):
    """utime + stime of the processes (threads included); None once all are gone."""
    total, seen = 0, False
    for pid in pids:
        try:
            with open("/proc/%d/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        seen = True
        total += int(fields[11]) + int(fields[12])
    return total if seen else None


def children_of(pid):
    """Direct children of pid (kamailio's workers)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid:
            out.append(int(d))
    return out


class Sampler(threading.Thread):
    """Samples /proc/stat, the target's CPU time and the load generator's
    (sipp) CPU time every 0.1 s."""

    def __init__(self, pids):
        super().__init__(daemon=True)
        self.pids = pids
        self.gen = []
        self.samples = []
        self.done = threading.Event()

    def run(self):
        while not self.done.is_set():
            self.samples.append((time.time(), cpu_times(), proc_jiffies(self.pids),
                                 proc_jiffies(list(self.gen))))
            self.done.wait(0.1)

    def stop(self):
        self.done.set()
        self.join(5)

    def load(self, t0, t1):
        """Between epochs t0 and t1: {"wall", "core1", "core0" (busy s), "proc"
        (target CPU s), "other" (busy s on either core that is neither the
        target, sipp, nor interrupt work: other processes on the machine)}."""
        inside = [s for s in self.samples if t0 <= s[0] <= t1]
        if len(inside) < 2:
            return None
        (a_t, a_cpu, a_p, a_g), (b_t, b_cpu, b_p, b_g) = inside[0], inside[-1]
        wall = b_t - a_t
        hz = os.sysconf("SC_CLK_TCK")

        def busy(core):
            return max(0.0, wall - (b_cpu.get(core, (0, 0))[0] - a_cpu.get(core, (0, 0))[0]))

        def irq(core):
            return b_cpu.get(core, (0, 0))[1] - a_cpu.get(core, (0, 0))[1]
        proc = (b_p - a_p) / hz if a_p is not None and b_p is not None else float("nan")
        gen = (b_g - a_g) / hz if a_g is not None and b_g is not None else 0.0
        c1, c0 = busy(TARGET_CORE), busy(GEN_CORE)
        other = max(0.0, c1 + c0 - irq(TARGET_CORE) - irq(GEN_CORE) - (proc if proc == proc else 0)
                    - gen)
        return {"wall": wall, "core1": c1, "core0": c0, "proc": proc, "other": other,
                "irq1": irq(TARGET_CORE)}


def active_periods(path, calls):
    """From one UAC's periodic statistics: (seconds, created, first epoch,
    last epoch) over the periods in which it was starting calls, leaving out
    the period in which it reached its last call (partly idle) unless that
    is the only one."""
    rows = stat_rows(path)
    spans = []
    for prev, row in zip(rows, rows[1:]):
        created = integer(row.get("OutgoingCall(P)"))
        if created <= 0:
            continue
        spans.append((epoch(prev["CurrentTime"]), epoch(row["CurrentTime"]), created,
                      integer(row.get("OutgoingCall(C)")) >= calls))
    if len(spans) > 1 and spans[-1][3]:
        spans = spans[:-1]
    if not spans:
        return 0.0, 0, 0.0, 0.0
    return (sum(s[1] - s[0] for s in spans), sum(s[2] for s in spans), spans[0][0],
            spans[-1][1])


def smaps(pid):
    """Memory of a process: VmRSS and the smaps_rollup fields, in bytes."""
    out = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:", "VmData:")):
                    out[line.split(":")[0]] = int(line.split()[1]) * 1024
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                parts = line.split()
                if len(parts) == 3 and parts[2] == "kB":
                    out[parts[0].rstrip(":")] = int(parts[1]) * 1024
    except OSError:
        pass
    return out


def heap_in_use(pid, log_path):
    """glibc's own count of the bytes malloc has handed out and not had back
    (malloc_stats(), called in the process through gdb; it prints on the
    process's stderr, which is its log). None without gdb or on failure.
    Unlike RSS, it falls when memory is freed."""
    gdb = shutil.which("gdb")
    if not gdb:
        return None
    try:
        start = os.path.getsize(log_path)
        subprocess.run([gdb, "-p", str(pid), "-batch", "-nx", "-ex", "call (void)malloc_stats()"],
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=60, check=False)
        time.sleep(0.1)
        with open(log_path, errors="replace") as f:
            f.seek(start)
            text = f.read()
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"Total \(incl\. mmap\):\s*system bytes\s*=\s*\d+\s*in use bytes\s*=\s*(\d+)", text)
    return int(m.group(1)) if m else None


def fd_count(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return 0


def nofile_limit(pid):
    try:
        with open("/proc/%d/limits" % pid) as f:
            for line in f:
                if line.startswith("Max open files"):
                    return int(line.split()[3])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def netdev(pid):
    """{interface: (rx packets, tx packets)} of the network namespace pid runs in."""
    return {name: (v["rx"], v["tx"]) for name, v in netdev_stats(pid).items()}


def udp_drops(net):
    """{role: UDP RcvbufErrors} of the three namespaces (/proc/net/snmp)."""
    out = {}
    for ns in ("pub", "sbc", "priv"):
        r = net.run(ns, ["cat", "/proc/net/snmp"])
        lines = [ln.split() for ln in (r.stdout or "").splitlines() if ln.startswith("Udp:")]
        if len(lines) >= 2 and "RcvbufErrors" in lines[0]:
            out[ns] = int(lines[1][lines[0].index("RcvbufErrors")])
    return out


def machine_busy(seconds=1.0):
    """Busy % of each core over a second before the bench starts."""
    a = cpu_times()
    time.sleep(seconds)
    b = cpu_times()
    return {c: max(0.0, 100 * (1 - (b[c][0] - a[c][0]) / seconds)) for c in b if c in a}


# -- bench-flood ---------------------------------------------------------------

def netdev_stats(pid):
    """{interface: {"rx", "rx_drop", "tx", "tx_drop"}} (packets) of the network
    namespace pid runs in, from /proc/PID/net/dev. On a veth, tx_drop counts
    what the peer's receive backlog refused (netif_rx: the core that does the
    receive work was full) and the peer's rx what it accepted."""
    out = {}
    try:
        with open("/proc/%d/net/dev" % pid) as f:
            for line in f:
                if ":" not in line:
                    continue
                name, rest = line.split(":", 1)
                v = [int(x) for x in rest.split()]
                out[name.strip()] = {"rx": v[1], "rx_drop": v[3], "tx": v[9], "tx_drop": v[11]}
    except (OSError, ValueError, IndexError):
        pass
    return out


def udp_stats(pid):
    """The Udp: counters (InDatagrams, RcvbufErrors, InCsumErrors, NoPorts...)
    of the network namespace pid runs in, from /proc/PID/net/snmp."""
    try:
        with open("/proc/%d/net/snmp" % pid) as f:
            lines = [ln.split() for ln in f if ln.startswith("Udp:")]
    except OSError:
        return {}
    if len(lines) < 2:
        return {}
    return {k: integer(v) for k, v in zip(lines[0][1:], lines[1][1:])}


def softnet_dropped():
    """{core: packets dropped because its receive backlog was full}
    (/proc/net/softnet_stat, second column; machine-wide, all namespaces)."""
    out = {}
    try:
        with open("/proc/net/softnet_stat") as f:
            for i, line in enumerate(f):
                v = line.split()
                core = int(v[12], 16) if len(v) >= 13 else i
                out[core] = int(v[1], 16)
    except (OSError, ValueError, IndexError):
        pass
    return out


def kv_line(text):
    """The last line of text made of key=value words, as a dict (flood-gen's,
    drop-bare's summaries); {} if there is none."""
    for line in reversed((text or "").splitlines()):
        words = line.split()
        if words and all("=" in w for w in words):
            return dict(w.split("=", 1) for w in words)
    return {}


def ctl_result(sock_path, cmd, args=None, timeout=2.0):
    """The result of one control-socket command of sbcd (docs/control.md,
    tests/integration/ctlclient.py), or None when the socket is missing,
    does not answer within timeout, or answers with an error: a bench reads
    what it can and goes on."""
    try:
        import ctlclient
        r = ctlclient.call(sock_path, cmd, args, timeout=timeout)
    except Exception:        # no socket yet, no such command, a busy daemon
        return None
    if not isinstance(r, dict) or not r.get("ok"):
        return None
    return r.get("result")
