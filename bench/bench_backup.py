#!/usr/bin/python3
"""Benchmark `cbsync backup` and `cbsync restore` against plain baselines.

One invocation prints one table.  On the same database (generated with
gen_cloudbrain.py unless --db is given) it measures

  backup   cbsync backup
           (a) sqlite3 DB ".backup X" && gzip -6 X
           (b) Python's sqlite3 backup API into a temp .db, then Python's gzip
               module at level 6 (what the seed backup_database.py did), run
               as its own Python process
           (c) pigz -6 -p 2 of the raw database file, if pigz is installed: a
               throughput ceiling only, since it is not a consistent snapshot
  restore  cbsync restore --path B --to NEW (gunzip, SHA-256, integrity_check)
           (a) gunzip -c B > NEW
           (b) gunzip -c B > NEW, then sqlite3 NEW "PRAGMA integrity_check"
  writer   (--writer, or --writer-only) commit latency of a separate process
           doing single-row inserts in WAL mode, with no backup running and
           while cbsync backup runs

For each method: wall time, CPU time (user + system) and peak RSS of the
measured processes, peak extra disk used in the scratch directory during the
run, output size, and cbsync's time and RSS as a multiple of the method's.
With --repeat N every figure is the median of N runs.

Peak RSS is honest for small processes: each measured command is started by
a tiny /bin/sh that forks it and exits, and this script (a child subreaper)
reaps the command itself.  A command started directly from Python would
report Python's own peak RSS as its floor, because Linux carries the
pre-exec memory high-water mark over exec.

Only the standard library is used.  Run it with /usr/bin/python3.
"""

import argparse
import ctypes
import hashlib
import json
import math
import os
import platform
import select
import shlex
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
MIB = 1024 * 1024

# ---------------------------------------------------------------------------
# Baseline (b): the seed tool's way, run as its own Python process.
# ---------------------------------------------------------------------------
PY_BASELINE = r"""
import gzip, os, shutil, sqlite3, sys
db, tmp, out, level = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
src = sqlite3.connect(db)
dst = sqlite3.connect(tmp)
src.backup(dst)
dst.close()
src.close()
with open(tmp, "rb") as f_in, gzip.open(out, "wb", compresslevel=level) as f_out:
    shutil.copyfileobj(f_in, f_out)
os.remove(tmp)
"""

# ---------------------------------------------------------------------------
# The writer: paced single-row commits, one line of results per commit.
# argv: db rate synchronous busy_timeout_ms results_path bench_dir journal
# It prints "ready" once set up, and stops when its stdin reaches EOF.
# ---------------------------------------------------------------------------
WRITER = r"""
import os, random, select, sqlite3, sys, time
db, rate, sync, busy_ms, out, bench_dir, journal = sys.argv[1:8]
rate, busy_ms = float(rate), int(busy_ms)
sys.path.insert(0, bench_dir)
conn = sqlite3.connect(db, timeout=busy_ms / 1000.0, isolation_level=None)
mode = conn.execute("PRAGMA journal_mode=%s" % journal).fetchone()[0]
conn.execute("PRAGMA synchronous=%s" % sync)
cols = {r[1] for r in conn.execute("PRAGMA table_info(ai_messages)")}
if {"conversation_id", "sender_id", "message_type", "content", "metadata",
        "project", "created_at"} <= cols:
    sql = ("INSERT INTO ai_messages(conversation_id, sender_id, message_type, "
           "content, metadata, project, created_at) "
           "VALUES (?, ?, 'message', ?, '{\"bench\": true}', 'bench', "
           "strftime('%Y-%m-%d %H:%M:%f', 'now'))")
    nconv = conn.execute("SELECT coalesce(max(id), 1) FROM ai_conversations").fetchone()[0]
    nai = conn.execute("SELECT coalesce(max(id), 1) FROM ai_profiles").fetchone()[0]
    args = lambda body: (rng.randint(1, nconv), rng.randint(1, nai), body)
else:
    conn.execute("CREATE TABLE IF NOT EXISTS bench_writer "
                 "(id INTEGER PRIMARY KEY, t REAL, payload TEXT)")
    sql = "INSERT INTO bench_writer(t, payload) VALUES (?, ?)"
    args = lambda body: (time.time(), body)
rng = random.Random(4242)
try:
    import gen_cloudbrain
    prose = gen_cloudbrain.Prose(rng)
    bodies = [prose.text(rng.randint(150, 900), 1, 3) for _ in range(256)]
except ImportError:
    bodies = ["benchmark row %d " % i * 20 for i in range(256)]
results = []
print("ready %s" % mode, flush=True)
period = 1.0 / rate
due = time.monotonic()
n = 0
stdin_fd = sys.stdin.fileno()
while True:
    # Sleep until the next commit is due, waking early only if stdin closes.
    r, _, _ = select.select([stdin_fd], [], [], max(due - time.monotonic(), 0))
    if r:
        if not os.read(stdin_fd, 65536):
            break
        continue
    t0 = time.monotonic()
    status = "ok"
    try:
        conn.execute(sql, args(bodies[n % len(bodies)]))
    except sqlite3.OperationalError as e:
        msg = str(e)
        status = "busy" if ("locked" in msg or "busy" in msg) else "error:" + msg
    t1 = time.monotonic()
    results.append("%.6f %.6f %s" % (t0, t1 - t0, status.replace(" ", "_")))
    n += 1
    due += period
    if due < t1 - 1.0:        # fell far behind: do not burst to catch up
        due = t1
conn.close()
with open(out, "w") as f:
    f.write("\n".join(results) + "\n")
"""


# ---------------------------------------------------------------------------
# Process measurement
# ---------------------------------------------------------------------------
PR_SET_CHILD_SUBREAPER = 36
_subreaper = False


def become_subreaper():
    global _subreaper
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        _subreaper = libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        _subreaper = False
    return _subreaper


class Run:
    """What one measured command cost."""

    def __init__(self, argv, wall, user, sys_, maxrss_kib, rc, stdout, stderr):
        self.argv, self.wall, self.user, self.sys = argv, wall, user, sys_
        self.cpu = user + sys_
        self.maxrss = maxrss_kib * 1024
        self.rc, self.stdout, self.stderr = rc, stdout, stderr


def measure(argv, stdout=None, cwd=None, env=None):
    """Run argv to completion and return a Run.  stdout: a path to send the
    command's output to (default: captured).  The command is forked by a
    throwaway /bin/sh so its peak RSS is its own (see the module doc)."""
    fd_out, out_path = tempfile.mkstemp(prefix="bench-out.")
    fd_err, err_path = tempfile.mkstemp(prefix="bench-err.")
    os.close(fd_out)
    os.close(fd_err)
    try:
        e = dict(os.environ if env is None else env)
        e["BENCH_OUT"] = stdout or out_path
        e["BENCH_ERR"] = err_path
        t0 = time.monotonic()
        if _subreaper:
            sh = subprocess.Popen(
                ["/bin/sh", "-c",
                 '"$@" </dev/null >"$BENCH_OUT" 2>"$BENCH_ERR" & echo $!',
                 "sh"] + list(argv),
                stdout=subprocess.PIPE, cwd=cwd, env=e)
            pid_text, _ = sh.communicate()
            pid = int(pid_text.split()[0])
        else:
            with open(e["BENCH_OUT"], "wb") as fo, open(err_path, "wb") as fe:
                p = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL,
                                     stdout=fo, stderr=fe, cwd=cwd, env=e)
            pid = p.pid
        while True:
            try:
                _, status, ru = os.wait4(pid, 0)
                break
            except InterruptedError:
                continue
        wall = time.monotonic() - t0
        if not _subreaper:
            p.returncode = os.waitstatus_to_exitcode(status)
        rc = os.waitstatus_to_exitcode(status)
        with open(out_path, "r", errors="replace") as f:
            out_text = f.read() if stdout is None else ""
        with open(err_path, "r", errors="replace") as f:
            err_text = f.read()
        return Run(argv, wall, ru.ru_utime, ru.ru_stime, ru.ru_maxrss, rc,
                   out_text, err_text)
    finally:
        os.unlink(out_path)
        os.unlink(err_path)


class DiskSampler:
    """Samples the total size of the files under some directories (plus some
    single files) every `interval` seconds from a thread; stop() returns the
    highest total seen minus the total at start()."""

    def __init__(self, dirs, files=(), interval=0.02):
        self.dirs, self.files, self.interval = list(dirs), list(files), interval
        self._stop = threading.Event()
        self._thread = None
        self.base = self.high = 0

    def total(self):
        n = 0
        stack = list(self.dirs)
        while stack:
            d = stack.pop()
            try:
                with os.scandir(d) as it:
                    for ent in it:
                        try:
                            if ent.is_dir(follow_symlinks=False):
                                stack.append(ent.path)
                            elif ent.is_file(follow_symlinks=False):
                                n += ent.stat(follow_symlinks=False).st_size
                        except FileNotFoundError:
                            pass
            except FileNotFoundError:
                pass
        for f in self.files:
            try:
                n += os.stat(f).st_size
            except FileNotFoundError:
                pass
        return n

    def _loop(self):
        while not self._stop.wait(self.interval):
            t = self.total()
            if t > self.high:
                self.high = t

    def start(self):
        self.base = self.high = self.total()
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def stop(self):
        self._stop.set()
        self._thread.join()
        t = self.total()
        if t > self.high:
            self.high = t
        return max(0, self.high - self.base)


class Sample:
    """One run of one method (possibly several commands in sequence)."""

    def __init__(self):
        self.wall = self.cpu = 0.0
        self.maxrss = 0
        self.disk = 0
        self.out_bytes = None
        self.bg = None
        self.ok = True
        self.error = ""

    def add(self, run):
        self.wall += run.wall
        self.cpu += run.cpu
        self.maxrss = max(self.maxrss, run.maxrss)
        if run.rc != 0:
            self.ok = False
            self.error = "%s exited %d: %s" % (
                os.path.basename(run.argv[0]), run.rc,
                (run.stderr.strip() or run.stdout.strip())[-300:])
        return run.rc == 0


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------
def die(msg):
    sys.stderr.write("bench_backup: error: %s\n" % msg)
    sys.exit(2)


def note(msg):
    sys.stderr.write("bench_backup: %s\n" % msg)
    sys.stderr.flush()


def first_line(argv):
    try:
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=20)
        return p.stdout.strip().splitlines()[0] if p.stdout.strip() else "?"
    except (OSError, subprocess.SubprocessError):
        return "?"


def cbsync_settings(cbsync, env, cwd):
    """cbsync's effective compression settings and configured remotes, from
    'cbsync config check' where the binary has that verb."""
    try:
        p = subprocess.run([cbsync, "config", "check"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, env=env, cwd=cwd,
                           timeout=20)
    except (OSError, subprocess.SubprocessError):
        return "", ""
    if p.returncode != 0:
        return "", ""
    keep, remotes, section = [], [], ""
    for line in p.stdout.splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line
            if line.lower().startswith("[remote"):
                remotes.append(line)
        elif section == "[local]" and line.split(" ")[0] in ("compression", "threads"):
            keep.append(line.replace("  #", " #"))
    return "; ".join(keep), " ".join(remotes)


def find_cbsync(arg):
    cands = [arg] if arg else []
    if os.environ.get("CBSYNC"):
        cands.append(os.environ["CBSYNC"])
    root = os.path.dirname(HERE)
    for b in ("build", "build-bench", "build-release"):
        cands.append(os.path.join(root, b, "cbsync"))
    w = shutil.which("cbsync")
    if w:
        cands.append(w)
    for c in cands:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return os.path.abspath(c)
    die("cannot find the cbsync binary; build it (see bench/README.md) or pass "
        "--cbsync PATH")


def clear_dir(d):
    for name in os.listdir(d):
        p = os.path.join(d, name)
        if os.path.isdir(p) and not os.path.islink(p):
            shutil.rmtree(p)
        else:
            os.unlink(p)


def ro_uri(path):
    """A read-only SQLite URI for a file name, whatever characters it has."""
    return "file:%s?mode=ro" % urllib.parse.quote(os.path.abspath(path))


def copy_db(src_path, dst_path):
    """Copy a database through SQLite's backup API (not timed by callers);
    the source is opened read-only."""
    src = sqlite3.connect(ro_uri(src_path), uri=True)
    dst = sqlite3.connect(dst_path)
    src.backup(dst)
    dst.close()
    src.close()


def integrity(path):
    """PRAGMA integrity_check of a file, read-only; returns 'ok' or the
    first complaint."""
    conn = sqlite3.connect(ro_uri(path), uri=True)
    try:
        rows = conn.execute("PRAGMA integrity_check").fetchall()
    finally:
        conn.close()
    return "ok" if rows == [("ok",)] else "; ".join(r[0] for r in rows[:3])


def row_counts(path):
    """{table: rows} for every ordinary table of a database, read-only."""
    conn = sqlite3.connect(ro_uri(path), uri=True)
    try:
        names = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND "
            "sql NOT LIKE 'CREATE VIRTUAL%' ORDER BY name")]
        return {n: conn.execute('SELECT count(*) FROM "%s"' % n.replace('"', '""'))
                .fetchone()[0] for n in names}
    finally:
        conn.close()


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                return h.hexdigest()
            h.update(b)


def db_info(path):
    conn = sqlite3.connect(ro_uri(path), uri=True)
    try:
        ps = conn.execute("PRAGMA page_size").fetchone()[0]
        pc = conn.execute("PRAGMA page_count").fetchone()[0]
        jm = conn.execute("PRAGMA journal_mode").fetchone()[0]
    finally:
        conn.close()
    return ps, pc, jm


def warm(path):
    with open(path, "rb") as f:
        while f.read(8 << 20):
            pass


def cpu_busy_seconds():
    """CPU time the whole machine has spent busy (all cores), from
    /proc/stat; None where that is not available."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    v = [int(x) for x in fields[1:]]
    # user nice system idle iowait irq softirq steal ...: busy excludes idle
    # and iowait; steal is time the hypervisor ran someone else.
    busy = v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] if len(v) > 7 else 0)
    return busy / os.sysconf("SC_CLK_TCK")


def wait_quiet(max_seconds, threshold=0.15):
    """Wait (up to max_seconds) until other processes use less than
    `threshold` of a core, measured over 2 s windows.  Returns the last
    measured figure."""
    deadline = time.monotonic() + max_seconds
    while True:
        b0 = cpu_busy_seconds()
        time.sleep(2.0)
        b1 = cpu_busy_seconds()
        if b0 is None or b1 is None:
            return None
        cores = (b1 - b0) / 2.0
        if cores < threshold or time.monotonic() >= deadline:
            return cores
        note("machine busy (%.2f cores in use by others); waiting..." % cores)
        time.sleep(8.0)


def loadavg():
    try:
        return os.getloadavg()
    except OSError:
        return None


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def percentile(sorted_xs, q):
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_xs:
        return None
    k = math.ceil(q / 100.0 * len(sorted_xs)) - 1
    return sorted_xs[max(0, min(len(sorted_xs) - 1, k))]


# ---------------------------------------------------------------------------
# The methods
# ---------------------------------------------------------------------------
class Bench:
    def __init__(self, a, scratch, db):
        self.a, self.scratch, self.db = a, scratch, db
        self.out = os.path.join(scratch, "out")
        os.makedirs(self.out)
        files = []
        if not os.path.abspath(db).startswith(scratch + os.sep):
            files = [db + "-wal", db + "-shm", db + "-journal"]
        self.sampler = DiskSampler([scratch], files)
        self.cb_env = dict(os.environ)
        for kv in a.cbsync_env:
            k, _, v = kv.partition("=")
            self.cb_env[k] = v

    def _run(self, steps, out_file=None, sync=True):
        """Run steps (callables returning a Run or None) in order, sampling
        disk use around all of them."""
        s = Sample()
        if sync:
            os.sync()
        busy0, me0 = cpu_busy_seconds(), os.times()
        self.sampler.start()
        try:
            for step in steps:
                if not s.add(step()):
                    break
        finally:
            s.disk = self.sampler.stop()
        busy1, me1 = cpu_busy_seconds(), os.times()
        mine = (me1.user - me0.user) + (me1.system - me0.system)
        if busy0 is not None and busy1 is not None:
            s.bg = max(0.0, busy1 - busy0 - s.cpu - mine)
        if s.ok and out_file:
            path = out_file() if callable(out_file) else out_file
            s.out_bytes = os.path.getsize(path) if path and os.path.exists(path) else None
            s.out_path = path
        return s

    # -- backups --------------------------------------------------------------
    def backup_cbsync(self, dest_dir, sync=True, level=None):
        argv = [self.a.cbsync, "backup", "--db", self.db, "--dir", dest_dir,
                "--type", "manual"] + self.a.backup_args
        env = dict(self.cb_env)
        if level is not None:
            env["CBSYNC_LOCAL_COMPRESSION"] = str(level)
        holder = {}

        def step():
            r = measure(argv, cwd=self.scratch, env=env)
            holder["run"] = r
            return r

        def out():
            for line in holder["run"].stdout.splitlines():
                if line.startswith("Backup created:"):
                    p = line.split(":", 1)[1].strip()
                    return p if os.path.isabs(p) else os.path.join(self.scratch, p)
            gz = [f for f in os.listdir(dest_dir) if f.endswith(".db.gz")]
            return os.path.join(dest_dir, gz[0]) if gz else None

        return self._run([step], out, sync)

    def backup_sqlite3(self):
        x = os.path.join(self.out, "a.db")
        return self._run([
            lambda: measure([self.a.sqlite3, "-batch", "-init", "/dev/null", self.db,
                             ".backup '%s'" % x.replace("'", "''")]),
            lambda: measure(["gzip", "-%d" % self.a.level, x]),
        ], x + ".gz")

    def backup_python(self):
        tmp = os.path.join(self.out, "b.db")
        out = os.path.join(self.out, "b.db.gz")
        return self._run([lambda: measure([
            sys.executable, "-c", PY_BASELINE, self.db, tmp, out, str(self.a.level)])],
            out)

    def backup_pigz(self):
        out = os.path.join(self.out, "c.db.gz")
        return self._run([lambda: measure(
            ["pigz", "-%d" % self.a.level, "-p", str(self.a.pigz_threads), "-c",
             self.db], stdout=out)], out)

    def backup_igzip(self):
        out = os.path.join(self.out, "d.db.gz")
        return self._run([lambda: measure(
            ["igzip", "-%d" % self.a.igzip_level, "-T", str(self.a.pigz_threads), "-c",
             self.db], stdout=out)], out)

    def backup_gzip_raw(self):
        out = os.path.join(self.out, "e.db.gz")
        return self._run([lambda: measure(
            ["gzip", "-%d" % self.a.level, "-c", self.db], stdout=out)], out)

    # -- restores -------------------------------------------------------------
    def restore_cbsync(self, backup, target):
        argv = [self.a.cbsync, "restore", "--path", backup, "--to", target,
                "--dir", os.path.dirname(backup)] + self.a.restore_args
        return self._run([lambda: measure(argv, cwd=self.scratch, env=self.cb_env)],
                         target)

    def restore_live(self, backup, live_db, live_dir):
        """Restore over an existing database: cbsync first makes a restore
        point of it, then installs the backup through SQLite."""
        argv = [self.a.cbsync, "restore", "--path", backup, "--db", live_db,
                "--dir", live_dir] + self.a.restore_args
        return self._run([lambda: measure(argv, cwd=self.scratch, env=self.cb_env)],
                         live_db)

    def restore_gunzip(self, backup, target, check=False, tool="gunzip", durable=False):
        argv = ["igzip", "-d", "-c", backup] if tool == "igzip" else ["gunzip", "-c", backup]
        steps = [lambda: measure(argv, stdout=target)]
        if durable:
            # What cbsync does before it reports a restore done: the file
            # on disk, not only in the page cache (coreutils' sync FILE is
            # an fsync of it).
            steps.append(lambda: measure(["sync", target]))
        holder = {}
        if check:
            def chk():
                r = measure([self.a.sqlite3, "-batch", "-init", "/dev/null",
                             ro_uri(target), "PRAGMA integrity_check"])
                holder["r"] = r
                if r.rc == 0 and r.stdout.strip() != "ok":
                    r.rc = 1
                    r.stderr = "integrity_check: " + r.stdout.strip()[:200]
                return r
            steps.append(chk)
        return self._run(steps, target)


# ---------------------------------------------------------------------------
# Writer phases
# ---------------------------------------------------------------------------
def writer_test(a, bench, db, idle_seconds):
    res_path = os.path.join(bench.scratch, "writer.txt")
    dest = os.path.join(bench.scratch, "writer-backups")
    os.makedirs(dest, exist_ok=True)
    w = subprocess.Popen(
        [sys.executable, "-c", WRITER, db, str(a.writer_rate), a.writer_synchronous,
         str(a.writer_busy_timeout), res_path, HERE, a.writer_journal],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    phases = []
    backups = []
    wal_sizes = []          # (time, size of the -wal file), every 50 ms
    stop = threading.Event()

    def watch_wal():
        while not stop.wait(0.05):
            try:
                wal_sizes.append((time.monotonic(), os.stat(db + "-wal").st_size))
            except FileNotFoundError:
                wal_sizes.append((time.monotonic(), 0))

    watcher = threading.Thread(target=watch_wal, daemon=True)
    watcher.start()
    try:
        line = w.stdout.readline().strip()
        if not line.startswith("ready"):
            die("the writer process did not start: %r" % line)
        if line.split()[1].lower() != a.writer_journal:
            die("the writer could not put %s in journal_mode=%s"
                % (db, a.writer_journal))
        time.sleep(1.0)  # let it settle
        for _ in range(a.repeat):
            clear_dir(dest)
            # Start each repeat with an empty -wal file: SQLite never
            # shrinks it by itself, so its size would carry over.
            c = sqlite3.connect(db, timeout=30)
            c.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            c.close()
            os.sync()
            t0 = time.monotonic()
            time.sleep(idle_seconds)
            t1 = time.monotonic()
            s = bench.backup_cbsync(dest, sync=False)
            t2 = time.monotonic()
            # The first checkpoint after the backup has to copy everything
            # the WAL gathered meanwhile: watch that too.
            time.sleep(a.writer_after)
            t3 = time.monotonic()
            phases.append((t0, t1, t2, t3, s))
            if not s.ok:
                break
        # Keep the last backup made under load for the sanity check.
        if phases and phases[-1][4].ok:
            backups.append(phases[-1][4].out_path)
    finally:
        stop.set()
        watcher.join()
        w.stdin.close()
        try:
            w.wait(timeout=60)
        except subprocess.TimeoutExpired:
            w.kill()
            w.wait()
    with open(res_path) as f:
        samples = [l.split(None, 2) for l in f.read().splitlines() if l]
    lat = {"idle": [], "during": [], "after": []}
    wal = {"idle": 0, "during": 0, "after": 0}
    slowest = []            # (latency, seconds since the backup began, its wall)

    def phase(t, t0, t1, t2, t3):
        return ("idle" if t0 <= t < t1 else "during" if t1 <= t < t2 else
                "after" if t2 <= t < t3 else None)

    for t0, t1, t2, t3, _ in phases:
        for st, l, status in samples:
            st, l = float(st), float(l)
            p = phase(st, t0, t1, t2, t3)
            if p:
                lat[p].append((l, status))
            if p in ("during", "after"):
                slowest.append((l, st - t1, t2 - t1))
        for t, size in wal_sizes:
            p = phase(t, t0, t1, t2, t3)
            if p:
                wal[p] = max(wal[p], size)
    slowest.sort(reverse=True)
    return lat, phases, backups, wal, slowest[:5]


def summarize_latency(samples, seconds):
    lat = sorted(l for l, s in samples if s == "ok")
    busy = sum(1 for _, s in samples if s == "busy")
    other = sum(1 for _, s in samples if s not in ("ok", "busy"))
    return {
        "commits": len(lat), "busy": busy, "errors": other,
        "rate": len(samples) / seconds if seconds else None,
        "p50_ms": percentile(lat, 50) * 1e3 if lat else None,
        "p99_ms": percentile(lat, 99) * 1e3 if lat else None,
        "max_ms": lat[-1] * 1e3 if lat else None,
    }


# ---------------------------------------------------------------------------
# Table
# ---------------------------------------------------------------------------
def fmt(v, spec, missing="-"):
    return missing if v is None else format(v, spec)


def times(v):
    return "" if v is None else "%.2fx" % v


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def ratio_notes(rows):
    """cbsync's backups and restore against the baselines beside them:
    wall time against pigz and igzip, CPU time and size against gzip of the
    raw file, as issue 14 sets its targets."""
    by = {(r["op"], r.get("key")): r for r in rows if r.get("ok", True)}
    out = []
    gz = by.get(("backup", "gzipraw"))
    pz = by.get(("backup", "pigz"))
    ig = by.get(("backup", "igzip"))
    for (op, key), r in sorted(by.items(), key=lambda kv: kv[0][1] or ""):
        if op != "backup" or not key.startswith("cbsync"):
            continue
        parts = []
        if pz:
            parts.append("wall %.2fx pigz" % (r["wall"] / pz["wall"]))
        if ig:
            parts.append("wall %.2fx igzip" % (r["wall"] / ig["wall"]))
        if gz:
            parts.append("CPU %.3fx gzip" % (r["cpu"] / gz["cpu"]))
            if r["out"] and gz["out"]:
                parts.append("size %.3fx gzip" % (r["out"] / gz["out"]))
        parts.append("RSS %.1f MiB" % (r["rss"] / MIB))
        out.append("ratios: %-40s %s" % (r["method"], ", ".join(parts)))
    cr = by.get(("restore", "cbsync"))
    if cr:
        parts = []
        for key, name in (("gunzip", "gunzip -c"), ("igzip", "igzip -d -c"),
                          ("igzip+sync", "igzip -d -c + fsync")):
            b = by.get(("restore", key))
            if b:
                parts.append("wall %.2fx %s" % (cr["wall"] / b["wall"], name))
        out.append("ratios: %-40s %s" % (cr["method"], ", ".join(parts)))
    return out


def print_table(header_lines, rows, writer_rows, notes):
    cols = ["op", "method", "wall s", "spread", "CPU s", "RSS MiB", "+disk MiB",
            "out MiB", "saved", "time x", "RSS x", "bg CPU s"]
    body = []
    for r in rows:
        body.append([
            r["op"], r["method"],
            fmt(r["wall"], ".2f"),
            fmt(r["spread"] * 100 if r["spread"] is not None else None, ".0f") +
            ("%" if r["spread"] is not None else ""),
            fmt(r["cpu"], ".2f"),
            fmt(r["rss"] / MIB if r["rss"] is not None else None, ".1f"),
            fmt(r["disk"] / MIB if r["disk"] is not None else None, ".1f"),
            fmt(r["out"] / MIB if r["out"] is not None else None, ".1f"),
            fmt(r["saved"] * 100 if r["saved"] is not None else None, ".1f", "") +
            ("%" if r["saved"] is not None else ""),
            times(r["t_ratio"]), times(r["m_ratio"]),
            fmt(r["bg"], ".2f"),
        ] if r.get("ok", True) else [r["op"], r["method"], "FAILED: " + r["error"]]
            + [""] * 9)
    fine = [b for b in body if not b[2].startswith("FAILED")]
    widths = [max([len(cols[i])] + [len(b[i]) for b in fine]) for i in range(len(cols))]
    widths[1] = max([widths[1]] + [len(b[1]) for b in body])
    out = []
    out.extend(header_lines)
    out.append("")
    line = "  ".join(c.ljust(widths[i]) if i < 2 else c.rjust(widths[i])
                     for i, c in enumerate(cols))
    rule = "-" * len(line)
    out.append(rule)
    out.append(line)
    out.append(rule)
    last_op = None
    for b in body:
        if last_op is not None and b[0] != last_op:
            out.append("")
        last_op = b[0]
        if b[2].startswith("FAILED"):
            out.append("  ".join([b[0].ljust(widths[0]), b[1].ljust(widths[1]), b[2]]))
            continue
        out.append("  ".join(c.ljust(widths[i]) if i < 2 else c.rjust(widths[i])
                             for i, c in enumerate(b)))
    if writer_rows:
        out.append("")
        title, wrows = writer_rows
        wcols = ["commits", "per s", "p50 ms", "p99 ms", "max ms", "BUSY", "errors",
                 "WAL MiB"]
        lw = max([len(r[0]) for r in wrows] + [widths[0] + 2 + widths[1]])
        out.append(title)
        out.append(" " * lw + "  " + "  ".join(c.rjust(8) for c in wcols))
        for r in wrows:
            out.append(r[0].ljust(lw) + "  " + "  ".join(c.rjust(8) for c in r[1:]))
    out.append(rule)
    for n in notes:
        out.append(n)
    print("\n".join(out))
    sys.stdout.flush()


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------
def parse_args(argv):
    ap = argparse.ArgumentParser(
        description="Benchmark cbsync backup/restore against plain baselines.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--size-mib", type=float, default=256,
                    help="size of the generated database")
    ap.add_argument("--db", help="benchmark this existing database instead of "
                    "generating one (it is only read; the writer test uses a copy)")
    ap.add_argument("--seed", type=int, default=1, help="generator seed")
    ap.add_argument("--page-size", type=int, default=4096,
                    help="page size of the generated database")
    ap.add_argument("--journal", choices=["wal", "delete"], default="wal",
                    help="journal mode of the generated database")
    ap.add_argument("--work", default=tempfile.gettempdir(),
                    help="where to make the scratch directory (removed at the end)")
    ap.add_argument("--keep", action="store_true",
                    help="keep the scratch directory (for inspection)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="runs per measurement; the table shows medians")
    ap.add_argument("--cbsync", help="the cbsync binary (default: $CBSYNC, "
                    "../build/cbsync, ../build-bench/cbsync, cbsync on PATH)")
    ap.add_argument("--cbsync-backup-args",
                    default=os.environ.get("CBSYNC_BENCH_BACKUP_ARGS", ""),
                    help="extra arguments for 'cbsync backup', one shell-quoted "
                    "string (env CBSYNC_BENCH_BACKUP_ARGS), e.g. a compression "
                    "level or thread option once cbsync has one")
    ap.add_argument("--cbsync-restore-args",
                    default=os.environ.get("CBSYNC_BENCH_RESTORE_ARGS", ""),
                    help="extra arguments for 'cbsync restore' "
                    "(env CBSYNC_BENCH_RESTORE_ARGS)")
    ap.add_argument("--cbsync-env", action="append", default=[], metavar="KEY=VALUE",
                    help="set an environment variable for cbsync only "
                    "(repeatable), e.g. a config file variable")
    ap.add_argument("--level", type=int, default=6, choices=range(1, 10),
                    metavar="1..9",
                    help="gzip level of the baselines (cbsync's own level is "
                    "whatever its build/config/--cbsync-backup-args say)")
    ap.add_argument("--pigz-threads", type=int, default=2,
                    help="pigz -p for baseline (c)")
    ap.add_argument("--no-pigz", action="store_true", help="skip baseline (c)")
    ap.add_argument("--igzip-level", type=int, default=3, choices=range(0, 4),
                    help="level of ISA-L's igzip baseline (d), if igzip is installed")
    ap.add_argument("--no-igzip", action="store_true", help="skip the igzip baselines")
    ap.add_argument("--no-seed-baselines", action="store_true",
                    help="skip backup baselines (a) and (b), the seed tool's ways")
    ap.add_argument("--gzip-raw", action="store_true",
                    help="add baseline (e): gzip of the raw file, one step, the "
                    "reference for CPU and size")
    ap.add_argument("--levels", default="", metavar="LIST",
                    help="also run cbsync backup at each of these [local] "
                    "compression levels, e.g. 1,2,3,6,9")
    ap.add_argument("--writer", action="store_true",
                    help="also run the concurrent-writer latency test")
    ap.add_argument("--writer-only", action="store_true",
                    help="run only the concurrent-writer latency test")
    ap.add_argument("--writer-rate", type=float, default=100,
                    help="writer commits per second")
    ap.add_argument("--writer-seconds", type=float,
                    help="length of the no-backup phase (default: as long as a "
                    "cbsync backup took, at least 5 s)")
    ap.add_argument("--writer-after", type=float, default=5.0, metavar="SECONDS",
                    help="how long to keep watching commits after each backup "
                    "(the WAL that piled up is checkpointed then)")
    ap.add_argument("--writer-synchronous", default="FULL",
                    choices=["OFF", "NORMAL", "FULL", "EXTRA"],
                    help="the writer's PRAGMA synchronous")
    ap.add_argument("--writer-journal", choices=["wal", "delete"], default="wal",
                    help="journal mode the writer puts the database in; with "
                    "'delete' a backup's read lock holds commits up")
    ap.add_argument("--writer-busy-timeout", type=int, default=5000, metavar="MS",
                    help="the writer's busy timeout; a commit that waits longer "
                    "fails with SQLITE_BUSY and is counted")
    ap.add_argument("--wait-quiet", type=float, default=0, metavar="SECONDS",
                    help="before measuring, wait up to this long for other "
                    "processes to leave the CPUs idle")
    ap.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    a = ap.parse_args(argv)
    a.backup_args = shlex.split(a.cbsync_backup_args)
    try:
        a.levels = [int(x) for x in a.levels.split(",") if x.strip()]
    except ValueError:
        ap.error("--levels wants numbers like 1,3,6")
    if any(x < 1 or x > 9 for x in a.levels):
        ap.error("--levels: each level is 1 to 9")
    a.restore_args = shlex.split(a.cbsync_restore_args)
    if a.repeat < 1:
        ap.error("--repeat must be at least 1")
    for kv in a.cbsync_env:
        if "=" not in kv:
            ap.error("--cbsync-env wants KEY=VALUE, got %r" % kv)
    if a.writer_only:
        a.writer = True
    return a


def main(argv=None):
    a = parse_args(argv)
    a.cbsync = find_cbsync(a.cbsync)
    a.sqlite3 = shutil.which("sqlite3") or die("the sqlite3 command-line shell is "
                                               "needed (apt-get install sqlite3)")
    for tool in ("gzip", "gunzip"):
        if not shutil.which(tool):
            die("%s is needed" % tool)
    have_pigz = bool(shutil.which("pigz")) and not a.no_pigz
    a.have_igzip = bool(shutil.which("igzip")) and not a.no_igzip
    if not become_subreaper():
        note("warning: cannot become a child subreaper; peak RSS figures include "
             "this script's own peak as a floor")

    if a.db:
        a.db = os.path.abspath(a.db)
        if not os.path.isfile(a.db):
            die("database not found: %s" % a.db)
        db_bytes = os.path.getsize(a.db)
    else:
        db_bytes = int(a.size_mib * MIB)

    work = os.path.abspath(a.work)
    os.makedirs(work, exist_ok=True)
    # Room for: the database (if generated) or a copy for the writer, the
    # Python baseline's temp copy, a restored copy, and compressed outputs.
    need = db_bytes * (1 if (not a.db or a.writer) else 0) + db_bytes * 2 \
        + db_bytes + 256 * MIB
    free = shutil.disk_usage(work).free
    if free < need:
        die("not enough free space in %s: %.0f MiB free, about %.0f MiB needed "
            "(use --work DIR elsewhere or a smaller --size-mib)"
            % (work, free / MIB, need / MIB))
    scratch = tempfile.mkdtemp(prefix="cbsync-bench.", dir=work)
    try:
        return run(a, scratch, have_pigz)
    finally:
        if a.keep:
            note("kept scratch directory %s" % scratch)
        else:
            shutil.rmtree(scratch, ignore_errors=True)


def run(a, scratch, have_pigz):
    gen_info = None
    load_start = loadavg()
    if a.db:
        db = a.db
    else:
        db = os.path.join(scratch, "cloudbrain.db")
        note("generating a %.0f MiB CloudBrain-shaped database (seed %d)..."
             % (a.size_mib, a.seed))
        t0 = time.monotonic()
        p = subprocess.run([sys.executable, os.path.join(HERE, "gen_cloudbrain.py"),
                            "--size-mib", str(a.size_mib), "--out", db,
                            "--seed", str(a.seed), "--journal", a.journal,
                            "--page-size", str(a.page_size), "-q"])
        if p.returncode != 0:
            die("gen_cloudbrain.py failed")
        gen_info = time.monotonic() - t0
        note("generated in %.1fs" % gen_info)
    page_size, page_count, journal = db_info(db)
    db_bytes = os.path.getsize(db)
    warm(db)
    if a.wait_quiet:
        busy = wait_quiet(a.wait_quiet)
        if busy is not None and busy >= 0.15:
            note("warning: still %.2f cores busy after waiting %gs; going ahead"
                 % (busy, a.wait_quiet))

    bench = Bench(a, scratch, db)
    keep_dir = os.path.join(scratch, "keep")
    os.makedirs(keep_dir)
    cb_dir = os.path.join(scratch, "cbsync-backups")
    os.makedirs(cb_dir)

    methods_b = [("cbsync", "cbsync backup")]
    if not a.no_seed_baselines:
        methods_b += [("sqlite3", "(a) sqlite3 .backup + gzip -%d" % a.level),
                      ("python", "(b) Python backup API + gzip module -%d" % a.level)]
    if have_pigz:
        methods_b.append(("pigz", "(c) pigz -%d -p %d of the raw file*"
                          % (a.level, a.pigz_threads)))
    if a.have_igzip:
        methods_b.append(("igzip", "(d) igzip -%d -T %d of the raw file*"
                          % (a.igzip_level, a.pigz_threads)))
    if a.gzip_raw:
        methods_b.append(("gzipraw", "(e) gzip -%d of the raw file*" % a.level))
    for lvl in a.levels:
        methods_b.append(("cbsync@%d" % lvl, "cbsync backup, [local] compression = %d" % lvl))
    methods_r = [("cbsync", "cbsync restore --to"),
                 ("gunzip", "(a) gunzip -c > file"),
                 ("gunzip+check", "(b) gunzip -c > file + integrity_check")]
    if a.have_igzip:
        methods_r.append(("igzip", "(c) igzip -d -c > file"))
        methods_r.append(("igzip+sync", "(d) igzip -d -c > file + fsync"))
    methods_r.append(("live", "cbsync restore over the live DB†"))
    results = {("backup", k): [] for k, _ in methods_b}
    results.update({("restore", k): [] for k, _ in methods_r})
    sanity = []
    cb_backup = None

    if not a.writer_only:
        for rep in range(a.repeat):
            note("backup run %d/%d" % (rep + 1, a.repeat))
            # Rotate the order each repeat so no method always runs first
            # (or always right after the two-core pigz run).
            k = rep % len(methods_b)
            for key, label in methods_b[k:] + methods_b[:k]:
                clear_dir(bench.out)
                clear_dir(cb_dir)
                if key == "cbsync":
                    s = bench.backup_cbsync(cb_dir)
                    if s.ok and cb_backup is None:
                        # Keep one cbsync backup (and its metadata) for restores.
                        for f in os.listdir(cb_dir):
                            if f.endswith(".db.gz") or f.endswith(".db.gz.json"):
                                shutil.move(os.path.join(cb_dir, f), keep_dir)
                        cb_backup = os.path.join(keep_dir, os.path.basename(s.out_path))
                elif key == "sqlite3":
                    s = bench.backup_sqlite3()
                elif key == "python":
                    s = bench.backup_python()
                elif key == "igzip":
                    s = bench.backup_igzip()
                elif key == "gzipraw":
                    s = bench.backup_gzip_raw()
                elif key.startswith("cbsync@"):
                    s = bench.backup_cbsync(cb_dir, level=int(key[7:]))
                else:
                    s = bench.backup_pigz()
                results[("backup", key)].append(s)
                note("  %-45s %s" % (label, "%.2fs" % s.wall if s.ok else "FAILED " + s.error))
            clear_dir(bench.out)
            clear_dir(cb_dir)

        if cb_backup:
            target = os.path.join(bench.out, "restored.db")
            source_counts = row_counts(db)
            for rep in range(a.repeat):
                note("restore run %d/%d" % (rep + 1, a.repeat))
                k = rep % len(methods_r)
                for key, label in methods_r[k:] + methods_r[:k]:
                    clear_dir(bench.out)
                    if key == "live":
                        # Not timed: a copy of the source database, in its
                        # journal mode, stands in for the live one.
                        live_db = os.path.join(bench.out, "live.db")
                        live_dir = os.path.join(bench.out, "live-backups")
                        os.makedirs(live_dir)
                        copy_db(db, live_db)
                        s = bench.restore_live(cb_backup, live_db, live_dir)
                        if s.ok and rep == 0:
                            ic = integrity(live_db)
                            same = row_counts(live_db) == source_counts
                            points = [f for f in os.listdir(live_dir)
                                      if "_restore_point_" in f and f.endswith(".db.gz")]
                            sanity.append(("%s: integrity_check %s, row counts %s, "
                                           "%d restore point made" % (
                                               label, ic, "match" if same else "DIFFER",
                                               len(points)),
                                           ic == "ok" and same and len(points) == 1,
                                           None, None))
                    elif key == "cbsync":
                        s = bench.restore_cbsync(cb_backup, target)
                    else:
                        s = bench.restore_gunzip(cb_backup, target,
                                                 check=(key == "gunzip+check"),
                                                 tool=key.split("+")[0],
                                                 durable=(key == "igzip+sync"))
                    results[("restore", key)].append(s)
                    note("  %-45s %s" % (label, "%.2fs" % s.wall if s.ok
                                         else "FAILED " + s.error))
                    if rep == 0 and s.ok and key in ("cbsync", "gunzip"):
                        # Sanity, not timed: the restored file is a sound
                        # database holding what the source holds, and both
                        # routes give the same bytes.
                        ic = integrity(target)
                        same = row_counts(target) == source_counts
                        sanity.append(("%s: integrity_check %s, row counts of "
                                       "all %d tables %s" % (
                                           label, ic, len(source_counts),
                                           "match the source" if same else
                                           "DIFFER from the source"),
                                       ic == "ok" and same, sha256_file(target),
                                       os.path.getsize(target)))
            clear_dir(bench.out)
        else:
            note("no cbsync backup to restore from; restore rows skipped")

    writer_rows = None
    writer_json = None
    writer_notes = []
    if a.writer:
        wdb = db
        if a.db:
            wdb = os.path.join(scratch, "writer-copy.db")
            note("copying %s for the writer test (not timed)..." % a.db)
            copy_db(a.db, wdb)
            bench.db = wdb
        cb_walls = [s.wall for s in results[("backup", "cbsync")] if s.ok]
        idle = a.writer_seconds or max(5.0, median(cb_walls) or 10.0)
        note("writer test: %.0f commits/s, %.1fs without a backup, then during "
             "cbsync backup (x%d)" % (a.writer_rate, idle, a.repeat))
        lat, phases, wbackups, wal, slowest = writer_test(a, bench, wdb, idle)
        si = summarize_latency(lat["idle"], sum(p[1] - p[0] for p in phases))
        sd = summarize_latency(lat["during"], sum(p[2] - p[1] for p in phases))
        sa = summarize_latency(lat["after"], sum(p[3] - p[2] for p in phases))
        for key, s in (("idle", si), ("during", sd), ("after", sa)):
            s["wal_peak_bytes"] = wal[key]
        failed = [p[4] for p in phases if not p[4].ok]
        for b in wbackups:
            # The snapshot taken under writes must be a sound database.
            t = os.path.join(scratch, "writer-restored.db")
            r = measure([a.cbsync, "restore", "--path", b, "--to", t, "--dir",
                         os.path.dirname(b)] + a.restore_args, cwd=scratch,
                        env=bench.cb_env)
            ok = r.rc == 0 and integrity(t) == "ok"
            sanity.append(("backup taken during writes: cbsync restore + "
                           "integrity_check %s" % ("ok" if ok else "FAILED: " +
                                                   r.stderr.strip()[-200:]),
                           ok, None, None))
            if os.path.exists(t):
                os.unlink(t)

        def wrow(label, s):
            return [label, str(s["commits"]), fmt(s["rate"], ".1f"),
                    fmt(s["p50_ms"], ".2f"), fmt(s["p99_ms"], ".2f"),
                    fmt(s["max_ms"], ".2f"), str(s["busy"]), str(s["errors"]),
                    fmt(s["wal_peak_bytes"] / MIB, ".1f")]

        cbw = median([p[4].wall for p in phases if p[4].ok])
        rows = [wrow("writer   no backup running", si),
                wrow("writer   while cbsync backup runs (%ss)" % fmt(cbw, ".1f"), sd),
                wrow("writer   the %gs after it" % a.writer_after, sa),
                ["writer   ratio during / without", "", "",
                 times(ratio(sd["p50_ms"], si["p50_ms"])),
                 times(ratio(sd["p99_ms"], si["p99_ms"])),
                 times(ratio(sd["max_ms"], si["max_ms"])), "", "", ""]]
        if failed:
            rows.append(["writer   cbsync backup FAILED under writes: " + failed[0].error[:120]]
                        + [""] * 8)
        if slowest:
            writer_notes.append(
                "writer: slowest commits during and after the backup (ms @ seconds "
                "since it began / its length): " + ", ".join(
                    "%.1f @ %.1f/%.1f" % (l * 1e3, at, length)
                    for l, at, length in slowest))
        writer_rows = ("writer  separate process, %g commits/s of 1 row each, "
                       "journal_mode=%s, synchronous=%s, busy_timeout %d ms"
                       % (a.writer_rate, a.writer_journal, a.writer_synchronous,
                          a.writer_busy_timeout), rows)
        writer_json = {"without_backup": si, "during_backup": sd, "after_backup": sa,
                       "cbsync_backup_wall_s": cbw,
                       "slowest_during": [{"ms": l * 1e3, "at_s": at, "backup_s": n}
                                          for l, at, n in slowest],
                       "failed": [f.error for f in failed]}

    # ---- assemble the table ----
    def agg(samples):
        ok = [s for s in samples if s.ok]
        if not ok:
            return None
        return {"wall": median([s.wall for s in ok]), "cpu": median([s.cpu for s in ok]),
                "rss": median([s.maxrss for s in ok]), "disk": median([s.disk for s in ok]),
                "out": median([s.out_bytes for s in ok]), "runs": len(ok),
                "bg": median([s.bg for s in ok]),
                "spread": ((max(s.wall for s in ok) - min(s.wall for s in ok))
                           / median([s.wall for s in ok])) if len(ok) > 1 else None}

    rows = []
    for op, methods in (("backup", methods_b), ("restore", methods_r)):
        ref = agg(results[(op, "cbsync")])
        for key, label in methods:
            samples = results[(op, key)]
            if not samples:
                continue
            g = agg(samples)
            if g is None:
                rows.append({"op": op, "method": label, "ok": False,
                             "error": samples[0].error[:100]})
                continue
            row = dict(g, op=op, key=key, method=label, ok=True,
                       saved=(1 - g["out"] / db_bytes) if op == "backup" and g["out"] else None,
                       t_ratio=ratio(ref["wall"], g["wall"]) if ref else None,
                       m_ratio=ratio(ref["rss"], g["rss"]) if ref else None)
            rows.append(row)

    cb_version = first_line([a.cbsync, "version"])
    cb_settings, cb_remotes = cbsync_settings(a.cbsync, bench.cb_env, scratch)
    sq_version = " ".join(first_line([a.sqlite3, "--version"]).split()[:2])
    header = [
        "cbsync benchmark  %s" % time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "machine:  %d cores (os.cpu_count()), %s %s, %s" % (
            os.cpu_count(), platform.system(), platform.release(), platform.machine()),
        "versions: %s; sqlite3 shell %s; Python %s (sqlite %s); %s%s" % (
            cb_version, sq_version, platform.python_version(), sqlite3.sqlite_version,
            first_line(["gzip", "--version"]),
            ("; " + first_line(["pigz", "--version"])) if have_pigz else ""),
        "database: %s  %.1f MiB (%d pages of %d B), journal_mode=%s%s" % (
            "generated by gen_cloudbrain.py --size-mib %g --seed %d" % (a.size_mib, a.seed)
            if not a.db else a.db,
            db_bytes / MIB, page_count, page_size, journal,
            "" if not gen_info else ", generated in %.0fs" % gen_info),
        "runs:     %d per method, medians shown; page cache warm; sync before each run"
        % a.repeat,
    ]
    if cb_settings:
        header.append("cbsync:   " + cb_settings)
    if cb_remotes:
        header.append("cbsync:   WARNING: remotes are configured, so 'cbsync backup' "
                      "also syncs to them: %s" % cb_remotes)
    load_end = loadavg()
    if load_start and load_end:
        header.append("load:     1-min load average %.2f at start, %.2f at end "
                      "(see bg CPU s for disturbance per run)"
                      % (load_start[0], load_end[0]))
    if a.backup_args or a.restore_args or a.cbsync_env:
        header.append("cbsync extra: backup %r, restore %r, env %r" % (
            a.backup_args, a.restore_args, a.cbsync_env))
    notes = [
        "wall and CPU time of a pipeline are summed over its steps, peak RSS is the "
        "largest step's; spread = (slowest - fastest) / median wall time;",
        "RSS = peak resident set (ru_maxrss); +disk = largest growth of the scratch "
        "directory's files, sampled every 20 ms;",
        "saved = 1 - output/database size; time x, RSS x = cbsync's figure divided "
        "by this row's (under 1.00x: cbsync is faster/smaller);",
        "bg CPU s = CPU time other processes on the machine used during the run "
        "(from /proc/stat): well above 0 means the figures are disturbed.",
    ]
    if have_pigz and not a.writer_only:
        notes.append("* pigz compresses the raw file: not a consistent snapshot of a "
                     "live database, a throughput ceiling only.")
    if not a.writer_only:
        notes.append("† cbsync restore --path B --db LIVE into an existing database "
                     "(a fresh copy of the source each run): it first makes a "
                     "restore_point backup of LIVE, then installs B through SQLite.")
    notes.extend(writer_notes)
    notes.extend(ratio_notes(rows))
    for text, ok, digest, size in sanity:
        notes.append("sanity: %s%s" % (text, "" if ok else "   <-- PROBLEM"))
    digests = {d for _, _, d, _ in sanity if d}
    if len(digests) > 1:
        notes.append("sanity: PROBLEM: cbsync restore and gunzip produced different files")
    elif digests:
        notes.append("sanity: cbsync restore and gunzip -c produced identical files "
                     "(sha256 %s...)" % next(iter(digests))[:16])
    print_table(header, rows, writer_rows, notes)

    if a.json:
        with open(a.json, "w") as f:
            json.dump({"header": header, "rows": rows, "writer": writer_json,
                       "sanity": [{"check": t, "ok": ok} for t, ok, _, _ in sanity],
                       "db_bytes": db_bytes, "cores": os.cpu_count()}, f, indent=2)
    bad = [r for r in rows if not r.get("ok", True)] + [s for s in sanity if not s[1]]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
