#!/usr/bin/python3
"""What continuous protection costs: increments against full change backups.

  /usr/bin/python3 bench/bench_replicate.py --cbsync build/cbsync \
      [--size-mib 256] [--seconds 1200] [--modes none,increments,changes] \
      [--json out.json] [--work DIR] [--restore-repeat N] [--keep] \
      [--baseline OTHER/cbsync]

One CloudBrain-shaped database is generated (gen_cloudbrain.py, WAL mode).
Then, one mode after another, each on a fresh copy of it and for --seconds,
a writer process commits a ~1 KiB message every 200 ms and updates one row
every second, while:

  none         nothing else runs (the writer's latency baseline)
  increments   `cbsync agent` with [replicate] enabled, interval 1s,
               rebase_share at its default
  changes      `cbsync agent` with [replicate] enabled = false: today's full
               change backups at the [watch] defaults
  baseline     with --baseline: the increments again, with another build (say
               the commit before a change), for its CPU ratio on this machine

Each agent mode starts from a snapshot made before the clock starts (catch-up
and schedules off), so it measures the changes only.  Figures, side by side:

  * bytes the agent put into the backup directory (new objects and their
    metadata) and objects it made, per hour; its CPU seconds per hour and as
    a share of one core, from /proc/<pid>/stat; everything it wrote at all
    (/proc/<pid>/io wchar: also its own state files), per hour;
  * RPO, the age of the oldest commit not yet captured, sampled every 100 ms
    while the writer runs: median, p99, max;
  * the writer's commit latency (BEGIN..COMMIT): p50, p99, max, and p99 as a
    multiple of `none`'s;
  * the floor for bytes: each increment's page images (its WAL frames less
    their headers) gzip'd alone at level 6, per hour; and, stricter, the
    distinct pages the run changed (the final database against the start),
    gzip'd once;
  * after the increments run: `cbsync restore --latest` (the snapshot and its
    increments) against `cbsync restore --path <that snapshot>`, when the
    binary restores through increments;
  * how the agent's captures went, from its `status --json` (from the WAL's
    frames, across a WAL restart, by page diff), when it says;
  * the issue's targets beside each figure, marked met / not met.

How a captured state is timed and read: the sampler polls the backup
directory every 100 ms and a state counts as captured from the first poll
that sees its object (an increment's .wal.gz, a snapshot's .db.gz).  Every
commit writes a counter into what it changes (a marker at the start of the
message, or in the updated row), so after the run the script reads, from
each captured state's own pages, the newest commit it holds: exact, no
reliance on the stamps.  The stamps (an increment's last_tx, a snapshot's
state_time or name time) are checked against that and reported.
"""
import argparse
import bisect
import datetime
import gzip
import json
import math
import os
import random
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gen_cloudbrain  # noqa: E402

MODES = ("none", "increments", "changes")
DB_NAME = "cloudbrain.db"
TICK = 0.1            # the sampler's period, seconds
MESSAGE_EVERY = 0.2   # the writer's
UPDATE_EVERY = 5      # messages per row update (one a second)
GRACE = 3.0           # after the writer stops, for the last capture to land

# The targets.
TARGET_BYTES = 1.5      # x the per-increment floor
TARGET_RPO_P99 = 2.0    # seconds, at interval = 1s
TARGET_CPU = 3.0        # % of one core
TARGET_LATENCY = 1.2    # x none's writer p99
TARGET_RESTORE = 1.3    # x a plain snapshot restore (the issue: with 24 h of increments)

CONFIG = """[database]
path = {db}
[local]
dir = {dir}
[schedule]
daily = off
weekly = off
monthly = off
catch_up = false
[replicate]
enabled = {replicate}
interval = 1s
"""

# Every commit leaves this in the pages it writes; fixed width, so a row
# updated in place keeps its size, and no FTS5 token carries the '#'s.
MARKER = b"cbbench#%010d#"
MARKER_RE = re.compile(rb"cbbench#(\d{10})#")
MARKER_LEN = len(MARKER % 0)


# ---------------------------------------------------------------------------
# The writer: a process of its own, so the sampler's work never shows up in
# its latencies.
# ---------------------------------------------------------------------------

def writer_child(db, log_path, seconds, seed):
    """Commit a message every MESSAGE_EVERY s and update ai_profiles row 1
    every UPDATE_EVERY messages, for `seconds`; write the log as JSON:
    per commit [counter, kind, wall time after COMMIT returned, BEGIN..COMMIT
    seconds]."""
    rng = random.Random(seed)
    prose = gen_cloudbrain.Prose(rng)
    con = sqlite3.connect(db, timeout=60, isolation_level=None)
    senders = con.execute("SELECT id FROM ai_profiles ORDER BY id").fetchall()
    senders = [r[0] for r in senders] or [1]
    top = con.execute("SELECT max(id) FROM ai_conversations").fetchone()[0] or 1
    conversations = list(range(max(1, top - 4), top + 1))   # a few active ones
    info = {"synchronous": con.execute("PRAGMA synchronous").fetchone()[0],
            "journal_mode": con.execute("PRAGMA journal_mode").fetchone()[0]}
    commits, errors, late = [], [], 0
    n = 0

    def commit(kind, sql, params):
        nonlocal n
        n += 1
        t0 = time.perf_counter()
        try:
            con.execute("BEGIN")
            con.execute(sql, params(n))
            con.execute("COMMIT")
        except sqlite3.Error as e:
            errors.append(str(e))
            if con.in_transaction:
                con.execute("ROLLBACK")
            n -= 1
            return
        lat = time.perf_counter() - t0
        commits.append([n, kind, time.time(), lat])

    def now_text():
        return datetime.datetime.now(datetime.timezone.utc).strftime(
            "%Y-%m-%d %H:%M:%S.%f")[:-3]

    start_wall = time.time()
    start = time.monotonic()
    due = start
    k = 0
    while True:
        now = time.monotonic()
        if now - start >= seconds:
            break
        if due > now:
            time.sleep(due - now)
            continue
        body = prose.text(1000)[:1000 - MARKER_LEN - 1]
        commit("message",
               "INSERT INTO ai_messages(conversation_id, sender_id, message_type, content, "
               "metadata, project, created_at) VALUES (?, ?, 'message', ?, NULL, "
               "'cloudbrain', ?)",
               lambda c: (rng.choice(conversations), rng.choice(senders),
                          (MARKER % c).decode() + " " + body, now_text()))
        k += 1
        if k % UPDATE_EVERY == 0:
            commit("update",
                   "UPDATE ai_profiles SET last_active = ?, nickname = ? WHERE id = 1",
                   lambda c: (now_text(), (MARKER % c).decode()))
        due += MESSAGE_EVERY
        if time.monotonic() > due + MESSAGE_EVERY:   # fell behind: no burst
            late += 1
            due = time.monotonic()
    end_wall = time.time()
    con.close()
    out = dict(info, start=start_wall, end=end_wall, commits=commits, errors=errors,
               late_ticks=late)
    tmp = log_path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(out, f)
    os.replace(tmp, log_path)


# ---------------------------------------------------------------------------
# Small readers
# ---------------------------------------------------------------------------

def cpu_seconds(pid):
    """utime + stime (+ reaped children's) of pid, from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return sum(int(x) for x in fields[11:15]) / ticks


def io_written(pid):
    """Bytes pid passed to write() and friends (wchar), or None."""
    try:
        with open(f"/proc/{pid}/io") as f:
            for line in f:
                if line.startswith("wchar:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def machine_busy():
    """CPU seconds the whole machine spent busy (all cores), from /proc/stat."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    busy = v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] if len(v) > 7 else 0)
    return busy / os.sysconf("SC_CLK_TCK")


def disk_written():
    """Bytes written to the machine's disks so far (whole devices in
    /sys/block, from /proc/diskstats), or None."""
    try:
        disks = set(os.listdir("/sys/block"))
        total = 0
        with open("/proc/diskstats") as f:
            for line in f:
                v = line.split()
                if len(v) > 9 and v[2] in disks:
                    total += int(v[9]) * 512
        return total
    except (OSError, ValueError):
        return None


def parse_time_ms(text):
    """An ISO 8601 UTC time ("...Z", fractions optional) in ms, or None."""
    if not isinstance(text, str):
        return None
    try:
        t = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=datetime.timezone.utc)
    return int(round(t.timestamp() * 1000))


NAME_TIME_RE = re.compile(r"_(\d{8}_\d{6})\.db\.gz$")


def snapshot_stamp_ms(path):
    """A snapshot's state time: its metadata's state_time, else created,
    else the name's time; None if none can be read."""
    try:
        with open(path + ".json") as f:
            meta = json.load(f)
        for key in ("state_time", "created"):
            ms = parse_time_ms(meta.get(key))
            if ms is not None:
                return ms
    except (OSError, ValueError):
        pass
    m = NAME_TIME_RE.search(path)
    if m:
        t = datetime.datetime.strptime(m.group(1), "%Y%m%d_%H%M%S")
        return int(t.replace(tzinfo=datetime.timezone.utc).timestamp() * 1000)
    return None


def max_marker(data):
    best = 0
    for m in MARKER_RE.finditer(data):
        best = max(best, int(m.group(1)))
    return best


def snapshot_counter(path):
    """The newest commit a snapshot holds: the largest marker in its pages
    (a gzip stream of any number of members, read in bounded chunks)."""
    best, tail = 0, b""
    with gzip.open(path, "rb") as f:
        while True:
            chunk = f.read(1 << 20)
            if not chunk:
                break
            buf = tail + chunk
            best = max(best, max_marker(buf))
            tail = buf[-(MARKER_LEN - 1):]
    return best


def wal_pages(data):
    """Page images in a WAL file's frames, the last image of each page
    number, in the order first seen; (page size, {pgno: image})."""
    if len(data) < 32:
        return 0, {}
    page_size = int.from_bytes(data[8:12], "big")
    if page_size == 1:
        page_size = 65536
    pages = {}
    if page_size < 512:
        return page_size, pages
    step = 24 + page_size
    for off in range(32, len(data) - step + 1, step):
        pgno = int.from_bytes(data[off:off + 4], "big")
        pages[pgno] = data[off + 24:off + step]
    return page_size, pages


def gzip_size(chunks, level=6):
    """Size of a gzip (Python zlib, one member) of the chunks' concatenation."""
    z = zlib.compressobj(level, zlib.DEFLATED, 31)
    n = 0
    for c in chunks:
        n += len(z.compress(c))
    return n + len(z.flush())


def page_size_of(path):
    with open(path, "rb") as f:
        head = f.read(100)
    ps = int.from_bytes(head[16:18], "big")
    return 65536 if ps == 1 else ps


def distinct_floor(before, after):
    """The pages that differ between two database files (the second may be
    longer), gzip'd together: (pages, bytes)."""
    ps = page_size_of(after)
    changed = []
    with open(before, "rb") as a, open(after, "rb") as b:
        while True:
            pb = b.read(ps)
            if not pb:
                break
            if a.read(ps) != pb:
                changed.append(pb)
    return len(changed), gzip_size(changed)


def percentile(sorted_values, p):
    """Nearest-rank percentile of an already sorted list; None if empty."""
    if not sorted_values:
        return None
    k = max(0, math.ceil(p / 100 * len(sorted_values)) - 1)
    return sorted_values[k]


# ---------------------------------------------------------------------------
# The backup directory, polled
# ---------------------------------------------------------------------------

class Poller:
    """Notes the first time each new object appears in a backup directory:
    snapshots (*.db.gz at the top), increments (increments/*/*.wal.gz) and
    roll-ups (increments/*/rollups/*.wal.gz: bytes and objects, not states)."""

    def __init__(self, backups):
        self.backups = backups
        self.seen = {}       # relative path -> (first seen, wall time; size)
        self.before = set()
        self.before = set(self._list())

    def _list(self):
        out = []
        try:
            top = os.listdir(self.backups)
        except FileNotFoundError:
            return out
        for n in top:
            if n.endswith(".db.gz") and not n.startswith("."):
                out.append(n)
        inc = os.path.join(self.backups, "increments")
        try:
            chains = os.listdir(inc)
        except FileNotFoundError:
            return out
        for c in chains:
            try:
                names = os.listdir(os.path.join(inc, c))
            except (FileNotFoundError, NotADirectoryError):
                continue
            for n in names:
                if n.endswith(".wal.gz") and not n.startswith("."):
                    out.append("increments/%s/%s" % (c, n))
            try:
                rolled = os.listdir(os.path.join(inc, c, "rollups"))
            except (FileNotFoundError, NotADirectoryError):
                continue
            for n in rolled:
                if n.endswith(".wal.gz") and not n.startswith("."):
                    out.append("increments/%s/rollups/%s" % (c, n))
        return out

    def poll(self, now):
        for rel in self._list():
            if rel in self.before or rel in self.seen:
                continue
            try:
                size = os.path.getsize(os.path.join(self.backups, rel))
            except FileNotFoundError:
                continue
            self.seen[rel] = (now, size)


# ---------------------------------------------------------------------------
# One mode
# ---------------------------------------------------------------------------

def clean_env():
    return {k: v for k, v in os.environ.items() if not k.startswith("CBSYNC_")}


def tail(path, n=3):
    """The last n lines of a log, on one line."""
    try:
        with open(path, errors="replace") as f:
            return " | ".join(line.strip() for line in f.readlines()[-n:])
    except OSError:
        return "(no log)"


def wait_settled(pid, limit=60.0):
    """Wait until the agent's CPU use stops moving (it has started and done
    whatever it does first), at least 2 s and at most `limit`."""
    time.sleep(2)
    end = time.monotonic() + limit
    last = cpu_seconds(pid)
    while time.monotonic() < end:
        time.sleep(0.5)
        now = cpu_seconds(pid)
        if now - last < 0.02:
            return
        last = now


def captures_of(cbsync, conf, env):
    """The agent's capture counts by route, from its status (None: it has
    none to tell)."""
    p = subprocess.run([cbsync, "--config", conf, "status", "--json"], capture_output=True,
                       text=True, env=env)
    try:
        return json.loads(p.stdout)["state"].get("captures")
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def run_mode(mode, args, cbsync, work, base_db, problems):
    root = tempfile.mkdtemp(prefix=f"{mode}-", dir=work)
    db = os.path.join(root, DB_NAME)
    backups = os.path.join(root, "backups")
    shutil.copyfile(base_db, db)
    conf = os.path.join(root, "cbsync.conf")
    env = clean_env()
    agent = writer = None
    agent_log = os.path.join(root, "agent.log")
    res = {"mode": mode}
    try:
        if mode != "none":
            with open(conf, "w") as f:
                f.write(CONFIG.format(db=db, dir=backups,
                                      replicate="false" if mode == "changes" else "true"))
                if mode == "changes" and args.changes_max_delay:
                    # Only to try the script in a short run: quiet and
                    # min_interval must fit inside max_delay.
                    d = args.changes_max_delay
                    f.write(f"[watch]\nmax_delay = {d:g}s\nmin_interval = {min(60, d):g}s\n"
                            f"quiet = {min(5, d):g}s\n")
            os.chmod(conf, 0o600)
            # The base: one snapshot, before the clock starts.
            p = subprocess.run([cbsync, "--config", conf, "backup", "--type", "manual"],
                               capture_output=True, text=True, env=env)
            if p.returncode != 0:
                raise SystemExit(f"{mode}: the base snapshot failed (exit {p.returncode}): "
                                 f"{p.stderr.strip()}")
        poller = Poller(backups)
        if mode != "none":
            with open(agent_log, "wb") as logf:
                agent = subprocess.Popen([cbsync, "--config", conf, "agent"], env=env,
                                         stdout=logf, stderr=subprocess.STDOUT)
            wait_settled(agent.pid)
        wal = db + "-wal"
        log_path = os.path.join(root, "writer.json")
        busy0, disk0 = machine_busy(), disk_written()
        self0 = time.process_time()
        if agent:
            cpu0, io0 = cpu_seconds(agent.pid), io_written(agent.pid)
        writer = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--writer-child",
                                   db, log_path, repr(args.seconds)])
        ticks, wal_max = [], 0
        due = time.monotonic()
        writer_rusage = None
        grace_end = None
        while True:
            due += TICK
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            else:
                due = time.monotonic()
            now = time.time()
            poller.poll(now)
            try:
                wal_max = max(wal_max, os.path.getsize(wal))
            except FileNotFoundError:
                pass
            if writer_rusage is None:
                ticks.append(now)
                pid, status, ru = os.wait4(writer.pid, os.WNOHANG)
                if pid:
                    writer_rusage = ru
                    writer.returncode = os.waitstatus_to_exitcode(status)
                    grace_end = time.monotonic() + (GRACE if agent else 0)
            if grace_end is not None and time.monotonic() >= grace_end:
                break
            if agent and agent.poll() is not None:
                # Nothing of this run means anything without it; the
                # writer is stopped in finally.
                problems.append(f"{mode}: the agent exited early ({agent.returncode}): "
                                f"{tail(agent_log)}")
                return res
        if agent and agent.poll() is None:
            cpu = cpu_seconds(agent.pid) - cpu0
            io1 = io_written(agent.pid)
            agent.send_signal(signal.SIGTERM)
            agent.wait(timeout=300)
        else:
            cpu, io1 = None, None
        if writer_rusage is None:
            writer.wait()
        busy1, disk1 = machine_busy(), disk_written()
        self_cpu = time.process_time() - self0
        if writer.returncode != 0 or not os.path.exists(log_path):
            problems.append(f"{mode}: the writer failed ({writer.returncode})")
            return res
        with open(log_path) as f:
            wlog = json.load(f)
        writer_cpu = (writer_rusage.ru_utime + writer_rusage.ru_stime) if writer_rusage else 0
        if wlog["errors"]:
            problems.append(f"{mode}: {len(wlog['errors'])} writer commits failed, "
                            f"first: {wlog['errors'][0]}")
        res.update(measure(mode, args, wlog, poller, ticks, backups))
        if agent:
            res["captures"] = captures_of(cbsync, conf, env)
        res["wal_max_bytes"] = wal_max
        res["writer_cpu_s"] = writer_cpu
        res["agent_cpu_s"] = cpu
        res["agent_wchar_bytes"] = (io1 - io0) if agent and io1 is not None and io0 is not None \
            else None
        if disk0 is not None and disk1 is not None:
            res["disk_written_bytes"] = disk1 - disk0
        if busy0 is not None and busy1 is not None:
            res["other_cpu_s"] = (busy1 - busy0) - (cpu or 0) - writer_cpu - self_cpu
        # The stricter floor: the distinct pages this run changed.
        with sqlite3.connect(db) as con:
            con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        con.close()
        res["distinct_pages"], res["distinct_floor_bytes"] = distinct_floor(base_db, db)
        if mode == "increments":
            res["restore"] = restore_times(args, cbsync, conf, root, backups, res, problems)
        return res
    finally:
        if writer and writer.returncode is None and writer.poll() is None:
            writer.kill()
            writer.wait()
        if agent and agent.poll() is None:
            agent.send_signal(signal.SIGTERM)
            try:
                agent.wait(timeout=60)
            except subprocess.TimeoutExpired:
                agent.kill()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print(f"kept {root}", file=sys.stderr)


def measure(mode, args, wlog, poller, ticks, backups):
    """Bytes, objects, floors, RPO and latency from the run's records."""
    commits = sorted(wlog["commits"])
    ctimes = [c[2] for c in commits]
    lat = sorted(c[3] for c in commits)
    out = {
        "commits": len(commits),
        "messages": sum(1 for c in commits if c[1] == "message"),
        "writer_late_ticks": wlog["late_ticks"],
        "writer_errors": len(wlog["errors"]),
        "synchronous": wlog["synchronous"],
        "latency_p50_ms": 1000 * percentile(lat, 50) if lat else None,
        "latency_p99_ms": 1000 * percentile(lat, 99) if lat else None,
        "latency_max_ms": 1000 * lat[-1] if lat else None,
    }
    if mode == "none":
        return out

    # Every new object: its size and its metadata's; for each state, when it
    # was first seen, the newest commit its pages hold, and what its stamp
    # would claim.
    states = []
    bytes_objects = bytes_meta = 0
    increments = snapshots = rollups = rollup_bytes = 0
    floor = 0
    stamp_ahead = []
    held_before = 0
    for rel, (seen, size) in sorted(poller.seen.items(), key=lambda kv: kv[1][0]):
        path = os.path.join(backups, rel)
        bytes_objects += size
        try:
            bytes_meta += os.path.getsize(path + ".json")
        except FileNotFoundError:
            pass
        stamp = None
        if "/rollups/" in rel:
            # A shortcut through states already captured: it costs bytes
            # and an object, and brings no commit sooner.
            rollups += 1
            rollup_bytes += size
            continue
        if rel.startswith("increments/"):
            increments += 1
            try:
                with open(path + ".json") as f:
                    stamp = parse_time_ms(json.load(f).get("last_tx"))
            except (OSError, ValueError):
                pass
            try:
                with gzip.open(path, "rb") as f:
                    data = f.read()
            except (OSError, EOFError, zlib.error):
                continue   # gone (compaction) or unreadable: not a state we can read
            _, pages = wal_pages(data)
            floor += gzip_size(pages.values())
            counter = max_marker(b"".join(pages.values()))
        else:
            snapshots += 1
            stamp = snapshot_stamp_ms(path)
            try:
                counter = snapshot_counter(path)
            except (OSError, EOFError, zlib.error):
                continue
        # A state with no marker holds no commit of this run: it captured
        # nothing new (or only what a checkpoint moved), so it changes no RPO.
        by_stamp = bisect.bisect_right(ctimes, stamp / 1000) if isinstance(stamp, int) else None
        # An increment's state holds what the states before it held: one
        # whose own pages carry no marker (say only page 1, after the
        # writer closed the database) still holds every earlier commit.
        held = max(counter, held_before) if rel.startswith("increments/") else counter
        held_before = held
        if by_stamp is not None and by_stamp > held:
            # The stamp claims commits the state does not hold: by how long
            # the first missing one had returned before the stamp.
            stamp_ahead.append(stamp / 1000 - ctimes[held])
        states.append((seen, counter, by_stamp))

    scale = 3600 / args.seconds
    out.update({
        "objects": increments + snapshots + rollups,
        "increments": increments,
        "snapshots": snapshots,
        "rollups": rollups,
        "rollup_bytes": rollup_bytes,
        "object_bytes": bytes_objects,
        "meta_bytes": bytes_meta,
        "bytes": bytes_objects + bytes_meta,
        "bytes_per_hour": (bytes_objects + bytes_meta) * scale,
        "objects_per_hour": (increments + snapshots + rollups) * scale,
        "stamps_ahead_of_content": len(stamp_ahead),
        "stamps_ahead_max_ms": 1000 * max(stamp_ahead) if stamp_ahead else 0,
    })
    if mode == "increments":
        out["floor_bytes"] = floor
        out["floor_per_hour"] = floor * scale

    # RPO at each 100 ms tick while the writer ran (from its first commit).
    def rpo(use_stamp):
        samples = []
        order = sorted(states)
        i, held = 0, 0
        if not commits:
            return samples
        for t in ticks:
            if t < ctimes[0] or t > wlog["end"]:
                continue
            while i < len(order) and order[i][0] <= t:
                c = order[i][2] if use_stamp else order[i][1]
                if c is not None:
                    held = max(held, c)
                i += 1
            samples.append(t - ctimes[held] if held < len(ctimes) and ctimes[held] <= t else 0.0)
        return sorted(samples)

    for key, use_stamp in (("rpo", False), ("rpo_by_stamp", True)):
        s = rpo(use_stamp)
        out[key] = {"samples": len(s),
                    "median_s": statistics.median(s) if s else None,
                    "p99_s": percentile(s, 99),
                    "max_s": s[-1] if s else None}
    out["newest_captured_commit"] = max((c for _, c, _ in states), default=0)
    out["last_commit"] = len(commits)
    return out


def restore_counter(path):
    """The newest commit a restored database holds, read through SQLite."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        best = 0
        for (text,) in con.execute("SELECT content FROM ai_messages ORDER BY id DESC LIMIT 1"):
            best = max(best, max_marker(text.encode()))
        for (text,) in con.execute("SELECT nickname FROM ai_profiles WHERE id = 1"):
            best = max(best, max_marker((text or "").encode()))
        return best
    finally:
        con.close()


def restore_times(args, cbsync, conf, root, backups, res, problems):
    """Time `restore --latest` (through the increments) against a plain
    restore of the chain's snapshot, alternating, --restore-repeat times."""
    env = clean_env()
    # Restoring through increments came with --at: the help says so, or
    # else a bad --at is refused as a bad time, not as an unknown option
    # (a usage error either way, before anything is touched).
    help_text = subprocess.run([cbsync, "help", "restore"], capture_output=True, text=True,
                               env=env).stdout
    probe = subprocess.run([cbsync, "--config", conf, "restore", "--at", "not-a-time"],
                           capture_output=True, text=True, env=env)
    out = {"supported": "--at" in help_text or
           (probe.returncode == 2 and "--at" in probe.stderr and
            "unknown option" not in probe.stderr)}
    # The chain's snapshot: the agent's chain file names it; else the newest.
    snapshot = None
    try:
        with open(os.path.join(backups, ".cbsync-chain", "cloudbrain.json")) as f:
            snapshot = json.load(f).get("snapshot")
    except (OSError, ValueError):
        pass
    if not snapshot or not os.path.exists(os.path.join(backups, snapshot)):
        snaps = [n for n in os.listdir(backups) if n.endswith(".db.gz") and not n.startswith(".")]
        snapshot = max(snaps, key=lambda n: os.path.getmtime(os.path.join(backups, n)),
                       default=None)
    if not snapshot:
        problems.append("increments: no snapshot to restore")
        return out
    out["snapshot"] = snapshot
    # Warm the page cache for both alike.
    for dirpath, _, names in os.walk(backups):
        for n in names:
            if n.endswith(".gz"):
                with open(os.path.join(dirpath, n), "rb") as f:
                    while f.read(1 << 20):
                        pass
    runs = {"latest": [], "plain": []}
    cmds = {"plain": ["restore", "--path", os.path.join(backups, snapshot)]}
    if out["supported"]:
        cmds["latest"] = ["restore", "--latest"]
    for rep in range(args.restore_repeat):
        for what in (("plain", "latest") if rep % 2 == 0 else ("latest", "plain")):
            if what not in cmds:
                continue
            target = os.path.join(root, f"restored-{what}.db")
            t0 = time.monotonic()
            p = subprocess.run([cbsync, "--config", conf] + cmds[what] + ["--to", target],
                               capture_output=True, text=True, env=env)
            elapsed = time.monotonic() - t0
            if p.returncode != 0:
                problems.append(f"restore {what}: exit {p.returncode}: "
                                f"{(p.stderr or p.stdout).strip().splitlines()[-1:]}")
                return out
            runs[what].append(elapsed)
            if what == "latest" and rep == 0:
                got = restore_counter(target)
                out["latest_holds_commit"] = got
                if got != res.get("newest_captured_commit"):
                    problems.append(f"restore --latest holds commit {got}, the newest "
                                    f"captured is {res.get('newest_captured_commit')}")
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(target + suffix):
                    os.unlink(target + suffix)
    for what, times in runs.items():
        out[f"{what}_s"] = statistics.median(times) if times else None
    if out.get("latest_s") and out.get("plain_s"):
        out["ratio"] = out["latest_s"] / out["plain_s"]
    return out


# ---------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------

def judge(args, rows):
    """Each mode's figures against the issue's targets, into
    rows[mode]["targets"]: {name: {"value", "limit", "met"}}; a figure that
    cannot be had (no floor, no baseline, nothing made) is left out."""
    floor_h = rows.get("increments", {}).get("floor_per_hour")
    none_p99 = rows.get("none", {}).get("latency_p99_ms")
    for mode, r in rows.items():
        t = {}

        def put(name, value, limit):
            if value is not None:
                t[name] = {"value": value, "limit": limit, "met": value <= limit}

        if mode != "none":
            if floor_h and r.get("objects"):
                put("bytes_x_floor", r["bytes_per_hour"] / floor_h, TARGET_BYTES)
            if r.get("agent_cpu_s") is not None:
                put("agent_cpu_pct", 100 * r["agent_cpu_s"] / args.seconds, TARGET_CPU)
            put("rpo_p99_s", r.get("rpo", {}).get("p99_s"), TARGET_RPO_P99)
        if mode != "none" and none_p99 and r.get("latency_p99_ms") is not None:
            put("latency_p99_x_none", r["latency_p99_ms"] / none_p99, TARGET_LATENCY)
        restore = r.get("restore") or {}
        put("restore_x_plain", restore.get("ratio"), TARGET_RESTORE)
        r["targets"] = t


def report(args, rows, base_info, problems):
    modes = [m for m in args.modes if m in rows]
    scale = 3600 / args.seconds
    inc = rows.get("increments", {})
    floor_h = inc.get("floor_per_hour")
    lines = []
    ps = base_info["page_size"]
    lines.append(f"{base_info['size'] / 2**20:.0f} MiB database ({base_info['size'] // ps} pages "
                 f"of {ps} B, WAL), {args.seconds:g} s per mode, {os.cpu_count()} cores; "
                 f"writer: a ~1 KiB message every {MESSAGE_EVERY * 1000:.0f} ms and a row "
                 f"update every {MESSAGE_EVERY * UPDATE_EVERY:g} s, separate transactions")
    lines.append("per hour = the run's figure x 3600 / seconds; targets from issue 12")
    lines.append("")
    w = 15

    def fmt(v, spec):
        if v is None:
            return "-"
        return format(v, spec)

    def row(label, values, target=""):
        cells = "".join(f"{v:>{w}}" for v in values)
        lines.append(f"{label:34}{cells}  {target}")

    def get(m, *keys):
        v = rows[m]
        for k in keys:
            v = v.get(k) if isinstance(v, dict) else None
        return v

    def judged(m, name, spec):
        """A figure judged against its target: "1.03 met"."""
        t = get(m, "targets", name)
        return "-" if t is None else f"{format(t['value'], spec)} " \
            f"{'met' if t['met'] else 'not met'}"

    row("", modes, "target")
    row("", ["-" * (w - 2)] * len(modes))
    mib = 2 ** 20

    def per_hour_mib(v):
        return None if v is None else v * scale / mib

    row("backup dir MiB/hour", [fmt(per_hour_mib(get(m, "bytes")), ".1f") for m in modes],
        "(objects and their metadata)")
    row("  objects/hour", [fmt(get(m, "objects_per_hour"), ".0f") for m in modes])
    row("  bytes / floor", ["none made" if m != "none" and get(m, "objects") == 0
                            else judged(m, "bytes_x_floor", ".2f") for m in modes],
        f"<= {TARGET_BYTES:g}x the floor")
    row("  bytes / distinct-pages floor",
        [fmt(get(m, "bytes") / get(m, "distinct_floor_bytes"), ".2f")
         if get(m, "bytes") is not None and get(m, "distinct_floor_bytes") else "-"
         for m in modes], "(whole run, not per hour)")
    row("agent CPU s/hour", [fmt(None if get(m, "agent_cpu_s") is None
                                 else get(m, "agent_cpu_s") * scale, ".1f") for m in modes])
    row("  % of one core", [judged(m, "agent_cpu_pct", ".2f") for m in modes],
        f"<= {TARGET_CPU:g}%")
    row("agent write() MiB/hour", [fmt(per_hour_mib(get(m, "agent_wchar_bytes")), ".1f")
                                   for m in modes], "(everything, its state files too)")
    row("RPO median s", [fmt(get(m, "rpo", "median_s"), ".2f") for m in modes])
    row("  p99 s", [judged(m, "rpo_p99_s", ".2f") for m in modes],
        f"<= {TARGET_RPO_P99:g} s")
    row("  max s", [fmt(get(m, "rpo", "max_s"), ".2f") for m in modes])
    row("  p99 s from the stamps", [fmt(get(m, "rpo_by_stamp", "p99_s"), ".2f") for m in modes],
        "(stamps instead of the commits read)")
    row("writer commits", [fmt(get(m, "commits"), "d") for m in modes])
    row("  ticks it fell behind", [fmt(get(m, "writer_late_ticks"), "d") for m in modes],
        "(a commit took longer than 200 ms)")
    row("  latency p50 ms", [fmt(get(m, "latency_p50_ms"), ".2f") for m in modes])
    row("  p99 ms", [fmt(get(m, "latency_p99_ms"), ".2f") for m in modes])
    row("  p99 / none's", ["baseline" if m == "none" else judged(m, "latency_p99_x_none", ".2f")
                           for m in modes],
        f"<= {TARGET_LATENCY:g}x")
    row("  max ms", [fmt(get(m, "latency_max_ms"), ".1f") for m in modes])
    row("largest -wal MiB", [fmt(None if get(m, "wal_max_bytes") is None
                                 else get(m, "wal_max_bytes") / mib, ".2f") for m in modes])
    row("other CPU s on the machine", [fmt(get(m, "other_cpu_s"), ".1f") for m in modes],
        "(others' load during the run)")
    row("disk writes MiB, whole machine", [fmt(None if get(m, "disk_written_bytes") is None
                                               else get(m, "disk_written_bytes") / mib, ".0f")
                                           for m in modes], "(everyone's, during the run)")
    lines.append("")
    if floor_h is not None:
        lines.append(f"floor: the increments' changed pages gzip'd alone (level 6): "
                     f"{floor_h / mib:.2f} MiB/hour ({inc['floor_bytes'] / mib:.2f} MiB "
                     f"in the run, {inc['increments']} increments)")
    else:
        lines.append("floor: n/a (it is read from the increments run)")
    for m in modes:
        if get(m, "distinct_pages") is not None:
            lines.append(f"distinct pages changed in the {m} run: {get(m, 'distinct_pages')}, "
                         f"{get(m, 'distinct_floor_bytes') / mib:.2f} MiB gzip'd")
    for m in modes:
        if m == "none" or get(m, "objects") is None:
            continue
        lines.append(f"{m}: {get(m, 'increments')} increments, {get(m, 'snapshots')} snapshots, "
                     f"{get(m, 'rollups') or 0} roll-ups "
                     f"({(get(m, 'rollup_bytes') or 0) / mib:.2f} MiB) made; metadata {get(m, 'meta_bytes') / 1024:.0f} KiB of the bytes; "
                     f"newest commit captured {get(m, 'newest_captured_commit')} of "
                     f"{get(m, 'last_commit')}; stamps claiming commits their state lacks: "
                     f"{get(m, 'stamps_ahead_of_content')}"
                     + (f" (by up to {get(m, 'stamps_ahead_max_ms'):.0f} ms)"
                        if get(m, "stamps_ahead_of_content") else ""))
    for m in modes:
        c = get(m, "captures")
        if c:
            last = c.get("last_diff") or {}
            lines.append(f"{m}: captures from the WAL's frames {c.get('wal')} (across a WAL "
                         f"restart {c.get('restarts_followed')}), by page diff {c.get('diff')}"
                         + (f"; last diff: {last.get('reason')}" if last else ""))
    b, i = rows.get("baseline", {}), rows.get("increments", {})
    if b.get("agent_cpu_s") and i.get("agent_cpu_s") is not None:
        lines.append(f"increments' agent CPU, this build / the baseline build "
                     f"({args.baseline}): {i['agent_cpu_s'] / b['agent_cpu_s']:.3f}")
    if args.changes_max_delay:
        lines.append(f"changes: [watch] max_delay = {args.changes_max_delay:g} s, not the "
                     f"default (--changes-max-delay): not today's behaviour")
    elif "changes" in modes and args.seconds < 300:
        lines.append("changes: under constant writes a change backup comes every [watch] "
                     "max_delay (5 min), so a run this short shows none or few")
    r = inc.get("restore")
    if r is not None:
        if not r.get("supported"):
            lines.append(f"restore of the newest state: n/a (this cbsync does not restore "
                         f"through increments; plain snapshot restore "
                         f"{fmt(r.get('plain_s'), '.2f')} s)")
        else:
            t = inc["targets"].get("restore_x_plain")
            lines.append(f"restore --latest {fmt(r.get('latest_s'), '.2f')} s against "
                         f"--path {r.get('snapshot')} {fmt(r.get('plain_s'), '.2f')} s: "
                         f"{judged('increments', 'restore_x_plain', '.2f') if t else '-'} "
                         f"(target <= {TARGET_RESTORE:g}x, for 24 h of increments in the "
                         f"issue; this chain holds {args.seconds:g} s)")
    lines.append("RPO: a state counts as captured from the first 100 ms poll that sees its "
                 "object; the commit it holds is read from its pages (markers), not its stamp.")
    for p in problems:
        lines.append("PROBLEM: " + p)
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cbsync", default=os.environ.get("CBSYNC", "build/cbsync"))
    ap.add_argument("--size-mib", type=float, default=256)
    ap.add_argument("--seconds", type=float, default=1200)
    ap.add_argument("--modes", default=",".join(MODES),
                    help="comma list of none, increments, changes (default: all three)")
    ap.add_argument("--json", help="write every figure to this file")
    ap.add_argument("--work", default=tempfile.gettempdir())
    ap.add_argument("--restore-repeat", type=int, default=1,
                    help="restores of each kind, alternating; the median is shown")
    ap.add_argument("--changes-max-delay", type=float,
                    help="[watch] max_delay for the changes run, seconds (default: the "
                         "agent's, 5 min); shorter only to see change backups in a short try")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--baseline", help="another cbsync build: run the increments with it too "
                    "(mode baseline), for the CPU ratio")
    ap.add_argument("--keep", action="store_true", help="keep the scratch directories")
    ap.add_argument("--writer-child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.writer_child:
        db, log_path, seconds = args.writer_child
        writer_child(db, log_path, float(seconds), args.seed + 1)
        return 0
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if args.baseline and "baseline" not in args.modes:
        args.modes.append("baseline")
    bad = [m for m in args.modes if m not in MODES + ("baseline",)]
    if "baseline" in args.modes and not args.baseline:
        ap.error("--modes baseline needs --baseline")
    if bad or not args.modes:
        ap.error(f"--modes: unknown {', '.join(bad) or '(empty)'}; "
                 f"choose from {', '.join(MODES)}")
    if args.seconds <= 0 or args.size_mib <= 0 or args.restore_repeat < 1 or \
            (args.changes_max_delay is not None and args.changes_max_delay <= 0):
        ap.error("--seconds, --size-mib, --restore-repeat and --changes-max-delay must be "
                 "positive")
    # Stopped from outside: clean up as for ^C (the agent, the writer, the
    # scratch directory) rather than leave them behind.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(130))
    cbsync = os.path.abspath(args.cbsync)
    if any(m != "none" for m in args.modes) and not os.access(cbsync, os.X_OK):
        ap.error(f"no cbsync binary at {cbsync}; build it or pass --cbsync")
    work = tempfile.mkdtemp(prefix="cbsync-bench-replicate-", dir=args.work)
    problems = []
    rows = {}
    try:
        base = os.path.join(work, "base.db")
        gen_cloudbrain.generate(base, size_mib=args.size_mib, seed=args.seed, journal="wal")
        base_info = {"size": os.path.getsize(base), "page_size": page_size_of(base)}
        for mode in args.modes:
            print(f"running {mode} for {args.seconds:g} s ...", file=sys.stderr, flush=True)
            binary = os.path.abspath(args.baseline) if mode == "baseline" else cbsync
            rows[mode] = run_mode(mode, args, binary, work, base, problems)
        judge(args, rows)
        print(report(args, rows, base_info, problems))
        if args.json:
            doc = {"size_bytes": base_info["size"], "page_size": base_info["page_size"],
                   "seconds": args.seconds, "cores": os.cpu_count(),
                   "message_every_s": MESSAGE_EVERY,
                   "update_every_s": MESSAGE_EVERY * UPDATE_EVERY,
                   "targets": {"bytes_x_floor": TARGET_BYTES, "rpo_p99_s": TARGET_RPO_P99,
                               "agent_cpu_pct": TARGET_CPU, "latency_p99_x_none": TARGET_LATENCY,
                               "restore_x_plain": TARGET_RESTORE},
                   "changes_max_delay_s": args.changes_max_delay,
                   "modes": rows, "problems": problems}
            tmp = args.json + ".tmp"
            with open(tmp, "w") as f:
                json.dump(doc, f, indent=2)
            os.replace(tmp, args.json)
    finally:
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
