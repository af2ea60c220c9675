"""The recorded-history test of issue 12: increments and point-in-time restore.

A writer commits thousands of transactions of varied shapes (history.py)
while another connection runs checkpoints of every mode at random and the
agent, capturing increments every second, is killed with SIGKILL and
restarted at random moments.  Every commit's time and content hash is
logged.  Afterwards:
  - the by-hand recipe (gunzip and the sqlite3 shell only) replays every
    chain the agent made, and each state it reaches is a state the writer
    committed, at or before the time its metadata says it is at, with the
    state checksum its metadata records;
  - `cbsync restore --at T` for 100 random times gives exactly one recorded
    state, never one committed after T, at most interval + 1 s old while the
    agent was running, exactly the state before the pause when the writer
    paused longer than that, and the newest state captured at or before T;
  - `cbsync restore --latest` gives the final state;
  - a copy of the chain with an increment corrupted, missing, or two
    swapped is refused with a line naming the increment.
This test runs alone (RUN_SERIAL in tests/CMakeLists.txt): it holds the
agent to the issue's timing.  Smaller runs (test_history_variants.py) cover
page sizes 512 to 65536, a rollback-journal database, a database deleted and
recreated while the agent runs, and growth past the lock-byte page at 1 GiB.

Randomness is seeded (CBSYNC_HISTORY_SEED, printed); a wrong state fails with
the time asked for, the hash restored and the states that were expected.
CBSYNC_HISTORY_SCALE multiplies the number of commits (for a quick try or a
long soak) and CBSYNC_HISTORY_KEEP=DIR leaves each run's files there."""
import concurrent.futures
import glob
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

from harness import (CBSYNC, CbsyncTest, cbsync_env, error_lines, gunzip_to, integrity, main,
                     make_db)
from history import content_hash, fts_check
from test_state_checksum import state_checksum
from timeline import Timeline, iso

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = int(os.environ.get("CBSYNC_HISTORY_SEED", "1212"))
SCALE = float(os.environ.get("CBSYNC_HISTORY_SCALE", "1"))   # of the number of commits
KEEP = os.environ.get("CBSYNC_HISTORY_KEEP")   # a folder to leave the runs in
INTERVAL = 1.0
LAG = INTERVAL + 1.0      # the bound on a restored state's age

CONFIG = """
[database]
path = {db}
[local]
dir = {dir}
lock_timeout = 120s
[schedule]
daily = off
weekly = off
monthly = off
catch_up = false
[replicate]
enabled = true
interval = 1s
"""


def wait_for(what, cond, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def parse_iso(text):
    """2026-11-29T09:48:00Z or 2026-11-29T09:48:00.250Z as seconds since the epoch."""
    import datetime as dt
    whole, _, frac = text.rstrip("Z").partition(".")
    t = dt.datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=dt.timezone.utc)
    return t.timestamp() + (int(frac) / 10 ** len(frac) if frac else 0)


def live_checksum(db, scratch, page_size):
    """The state checksum of a consistent copy of the live database."""
    for p in (scratch, scratch + "-wal", scratch + "-shm"):
        if os.path.exists(p):
            os.remove(p)
    src, dst = sqlite3.connect(db), sqlite3.connect(scratch)
    src.backup(dst)
    dst.close()
    src.close()
    with open(scratch, "rb") as f:
        sum_ = state_checksum(f.read(), page_size)
    os.remove(scratch)
    return sum_


class Agent:
    """`cbsync agent`, started and killed on demand; remembers when it ran."""

    def __init__(self, root, conf):
        self.root, self.conf = root, conf
        self.proc = None
        self.runs = []      # [start, end]: end None while it runs
        self.logs = []

    def start(self):
        log = os.path.join(self.root, f"agent-{len(self.runs)}.log")
        self.logs.append(log)
        with open(log, "w") as out:
            self.proc = subprocess.Popen([CBSYNC, "agent", "--config", self.conf],
                                         cwd=self.root, env=cbsync_env(), stdout=out,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.runs.append([time.time(), None])

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        self.runs[-1][1] = time.time()
        self.proc.kill()
        self.proc.wait(timeout=60)

    def stop(self):
        """SIGTERM; returns its exit code."""
        self.runs[-1][1] = time.time()
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=120)

    def cleanup(self):
        if self.running():
            self.proc.kill()
            self.proc.wait()

    def settle(self, backups):
        """Find when each run was ready: when it first wrote a snapshot or an
        increment (the files' modification times)."""
        made = sorted(os.stat(p).st_mtime for p in
                      glob.glob(os.path.join(backups, "*.db.gz")) +
                      glob.glob(os.path.join(backups, "increments", "*", "*.wal.gz")))
        self.ready = []
        for s, e in self.runs:
            self.ready.append(next((t for t in made if s < t <= e), None))

    def steady(self, a, b):
        """Was one run up and capturing (past its first capture) from a to b?"""
        return any(r is not None and r <= a and b <= e
                   for (s, e), r in zip(self.runs, self.ready))

    def tail(self, lines=30):
        out = []
        for log in self.logs[-2:]:
            with open(log, errors="replace") as f:
                out += [f"{os.path.basename(log)}: {l.rstrip()}" for l in f.readlines()[-lines:]]
        return "\n".join(out)


class Scenario:
    """One database, its agent, a recorded writer (one per phase: a later
    phase runs on the database deleted and made again) and, in WAL mode, a
    checkpointer; then the checks against the recording."""

    def __init__(self, test, root, name, seed, profiles, page_size=4096, journal="wal",
                 rows=300, checkpoints=True, kills=0, prepare=None, holds=(), timing=True):
        self.test, self.name, self.seed = test, name, seed
        self.profiles, self.page_size, self.journal, self.rows = profiles, page_size, journal, rows
        self.checkpoints = checkpoints and journal == "wal"
        self.rng = random.Random(seed)
        self.kills = [(self.rng.uniform(3.0, 10.0), self.rng.uniform(0.1, 2.0))
                      for _ in range(kills)]
        self.prepare = prepare
        self.holds = list(holds)   # (name, when): the writer waits until when(self)
        # Whether to hold the agent to the timing (a state at most
        # interval + 1 s old, the state before a pause exactly): only where
        # nothing else of ours competes for the machine.
        self.timing = timing
        self.root = os.path.join(root, name)
        os.makedirs(self.root)
        self.db = os.path.join(self.root, "ai_db", "cloudbrain.db")
        self.backups = os.path.join(self.root, "ai_db", "backups")
        self.conf = os.path.join(self.root, "cbsync.conf")
        self.write_conf(self.conf, self.backups)
        self.agent = Agent(self.root, self.conf)
        test.addCleanup(self.agent.cleanup)
        self.logs = []
        self.notes = []     # what happened, for the report
        self.recreated = []

    def write_conf(self, path, backups):
        with open(path, "w") as f:
            f.write(CONFIG.format(db=self.db, dir=backups))
        os.chmod(path, 0o600)

    def say(self, msg):
        line = f"[{self.name}] {msg}"
        self.notes.append(line)
        print(line, file=sys.stderr, flush=True)

    def chain_file(self):
        path = os.path.join(self.backups, ".cbsync-chain", "cloudbrain.json")
        try:
            with open(path) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    # --- recording -------------------------------------------------------

    def make(self):
        make_db(self.db, rows=self.rows, journal=self.journal, page_size=self.page_size)
        if self.prepare:
            self.prepare(self.db)

    def start_helper(self, *args):
        p = subprocess.Popen([sys.executable, os.path.join(HERE, "history.py")] + list(args),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.test.addCleanup(lambda: p.poll() is None and (p.kill(), p.wait()))
        line = p.stdout.readline().strip()
        if line != "ready":
            raise AssertionError(f"{args[0]} did not start: {line} {p.stderr.read()}")
        return p

    def record(self):
        self.make()
        # The agent takes its first snapshot at the first change.
        self.agent.start()
        stop = self.db + ".stop"
        ckpt = None
        if self.checkpoints:
            ckpt = self.start_helper("checkpoint", "--db", self.db, "--seed",
                                     str(self.seed + 1), "--stop", stop)
        kills = list(self.kills)
        for phase, profile in enumerate(self.profiles):
            begin = 0.0
            if phase:
                begin = self.recreate()
            log = os.path.join(self.root, f"writer-{phase}.log")
            self.logs.append(log)
            writer = self.start_helper("write", "--db", self.db, "--log", log, "--seed",
                                       str(self.seed + 2 + phase), "--stop", stop,
                                       "--profile", json.dumps(profile),
                                       "--initial-begin", repr(begin))
            holds = list(self.holds)
            while writer.poll() is None:
                self.check_alive()
                if holds and holds[0][1](self):
                    open(f"{self.db}.go-{holds.pop(0)[0]}", "w").close()
                if not kills:
                    time.sleep(0.1)
                    continue
                up, down = kills[0]
                if time.time() - self.agent.runs[-1][0] < up:
                    time.sleep(0.05)
                    continue
                kills.pop(0)
                self.agent.kill()
                time.sleep(down)
                self.agent.start()
            out, err = writer.communicate()
            self.test.assertEqual(writer.returncode, 0, f"{self.name}: the writer failed: {err}")
        open(stop, "w").close()
        if ckpt:
            out, err = ckpt.communicate(timeout=60)
            self.test.assertEqual(ckpt.returncode, 0, err)
            self.checkpoint_stats = json.loads(out.strip().splitlines()[-1])
            self.say(f"checkpoints run: {self.checkpoint_stats}")
        os.remove(stop)
        self.timeline = Timeline.load(*self.logs)
        if not self.agent.running():
            self.agent.start()
        # Once the writer stops, the chain reaches the live state.
        want = live_checksum(self.db, os.path.join(self.root, "live-copy.db"), self.page_size)
        try:
            wait_for(f"{self.name}: the chain to reach the final state",
                     lambda: self.check_alive() and
                     (self.chain_file() or {}).get("checksum") == want, 300)
        except AssertionError as e:
            raise AssertionError(f"{e}\n{self.agent.tail()}")
        rc = self.agent.stop()
        self.test.assertEqual(rc, 0, f"{self.name}: agent exit\n{self.agent.tail()}")
        self.agent.settle(self.backups)
        for log in self.agent.logs:
            with open(log, errors="replace") as f:
                text = f.read()
            self.test.assertNotIn("AddressSanitizer", text, log)
            self.test.assertNotIn("runtime error", text, log)
        self.test.assertEqual(integrity(self.db), "ok")
        self.test.assertEqual(fts_check(self.db), [])
        for top, _, files in os.walk(self.backups):
            left = [f for f in files if f.startswith(".cbsync-tmp-")]
            self.test.assertEqual(left, [], f"{self.name}: temp files left in {top}")
        lat = sorted(c - b for b, c in zip(self.timeline.begin[1:], self.timeline.commit[1:]))
        self.say(f"{len(self.timeline) - 1} commits in "
                 f"{self.timeline.end - self.timeline.commit[0]:.1f}s, "
                 f"{len(self.timeline.pauses(LAG))} pauses, {len(self.agent.runs)} agent runs; "
                 f"commit latency p50 {lat[len(lat) // 2] * 1000:.1f} ms, "
                 f"p99 {lat[int(len(lat) * 0.99)] * 1000:.1f} ms, max {lat[-1] * 1000:.1f} ms")

    def check_alive(self):
        """The agent runs unless the test stopped it: fail at once if it died."""
        if self.agent.proc.poll() is not None and self.agent.runs[-1][1] is None:
            raise AssertionError(f"{self.name}: the agent died (exit {self.agent.proc.returncode})"
                                 f"\n{self.agent.tail()}")
        return True

    def recreate(self):
        """Delete the database (and its -wal, -shm) while the agent runs, and
        make a new one; returns when the deletion began."""
        time.sleep(LAG + 1.0)   # the old chain captures the last state
        t = time.time()
        for side in ("", "-wal", "-shm", "-journal"):
            if os.path.exists(self.db + side):
                os.remove(self.db + side)
        time.sleep(2.5)   # long enough for the agent to notice
        self.test.assertFalse(os.path.exists(self.db),
                              f"{self.name}: something made the deleted database again")
        # Made aside and renamed into place: it appears whole, in one step.
        real, self.db = self.db, os.path.join(self.root, "new.db")
        try:
            self.make()
        finally:
            self.db = real
        os.rename(os.path.join(self.root, "new.db"), self.db)
        self.recreated.append((t, time.time()))
        return t

    # --- the chains, by hand ---------------------------------------------

    def snapshots(self):
        return sorted(os.path.basename(p) for p in glob.glob(os.path.join(self.backups,
                                                                          "*.db.gz")))

    def increments(self, snapshot, backups=None):
        folder = os.path.join(backups or self.backups, "increments",
                              snapshot[:-len(".db.gz")])
        return sorted(glob.glob(os.path.join(folder, "*.wal.gz")))

    @staticmethod
    def meta(path):
        with open(path + ".json") as f:
            return json.load(f)

    @staticmethod
    def increment_time(meta):
        """When an increment's state is: just after its last transaction,
        whose time is rounded down to the millisecond (so the restore
        planner counts it from the next one)."""
        return parse_iso(meta["last_tx"]) + 0.001

    @staticmethod
    def snapshot_time(meta):
        """When a snapshot's state is: its recorded state time if it has
        one, else its creation time (to the second)."""
        for key in ("state_time", "state"):
            if isinstance(meta.get(key), str):
                return parse_iso(meta[key])
        return parse_iso(meta["created"])

    def judged(self, db, t, name, problems):
        """The content hash of the state by hand in db, judged as the state
        at time t (its metadata's); None if it cannot even be read."""
        try:
            h = content_hash(db)
        except sqlite3.DatabaseError as e:
            problems.append(f"{name} (by hand): the database after it cannot be read: {e}")
            return None
        why = self.timeline.judge(t, h)
        if why:
            problems.append(f"{name} (by hand, at the time its metadata gives): {why}")
        return h

    def by_hand(self, check_every_checksum=True):
        """Replay every chain with the README's recipe; judge each state
        reached.  Returns (captured, problems): captured is a list of
        (time, content hash, object) for every captured state."""
        captured, problems = [], []
        work = os.path.join(self.root, "by-hand")
        os.makedirs(work, exist_ok=True)
        db = os.path.join(work, "restored.db")
        for snap in self.snapshots():
            for side in ("", "-wal", "-shm"):
                if os.path.exists(db + side):
                    os.remove(db + side)
            spath = os.path.join(self.backups, snap)
            smeta = self.meta(spath)
            gunzip_to(spath, db)
            t = self.snapshot_time(smeta)
            h = self.judged(db, t, snap, problems)
            captured.append((t, h, snap))
            prev_seq = 0
            incs = self.increments(snap)
            for n, inc in enumerate(incs):
                m = self.meta(inc)
                if m["seq_first"] != prev_seq + 1:
                    problems.append(f"{inc}: seq {m['seq_first']} after {prev_seq}")
                prev_seq = m["seq_last"]
                # The recipe, exactly.
                gunzip_to(inc, db + "-wal")
                out = subprocess.run(["sqlite3", db, "PRAGMA wal_checkpoint(TRUNCATE);"],
                                     capture_output=True, text=True)
                if out.returncode != 0 or not out.stdout.startswith("0|"):
                    problems.append(f"{inc}: sqlite3 said {out.stdout!r} {out.stderr!r}")
                for side in ("-wal", "-shm"):
                    if os.path.exists(db + side):
                        os.remove(db + side)
                if check_every_checksum or n == len(incs) - 1:
                    with open(db, "rb") as f:
                        image = f.read()
                    if len(image) != m["page_size"] * m["page_count"]:
                        problems.append(f"{inc}: {len(image)} bytes after it, its metadata "
                                        f"says {m['page_count']} pages of {m['page_size']}")
                    got = state_checksum(image, m["page_size"])
                    del image
                    if got != m["state_checksum"]:
                        problems.append(f"{inc}: state checksum {got} after it by hand, "
                                        f"its metadata says {m['state_checksum']}")
                t = self.increment_time(m)
                h = self.judged(db, t, os.path.basename(inc), problems)
                captured.append((t, h, os.path.basename(inc)))
            try:
                if integrity(db) != "ok":
                    problems.append(f"the chain of {snap} by hand: integrity_check failed")
                problems += [f"the chain of {snap} by hand: {p}" for p in fts_check(db)]
            except sqlite3.DatabaseError as e:
                problems.append(f"the chain of {snap} by hand: {e}")
        shutil.rmtree(work)
        captured.sort(key=lambda c: c[0])
        return captured, problems

    # --- restores through the binary -------------------------------------

    def copies(self, n):
        """n copies of the backup directory, each with its own config, so that
        restores (each takes the directory's lock) run side by side."""
        out = []
        for k in range(n):
            d = os.path.join(self.root, f"backups-copy-{k}")
            if not os.path.exists(d):
                shutil.copytree(self.backups, d)
            conf = os.path.join(self.root, f"copy-{k}.conf")
            self.write_conf(conf, d)
            out.append(conf)
        return out

    def restore(self, conf, args, target):
        t0 = time.monotonic()
        p = subprocess.run([CBSYNC, "restore", "--config", conf] + args + ["--to", target],
                           cwd=self.root, env=cbsync_env(), capture_output=True, text=True,
                           timeout=600)
        took = time.monotonic() - t0
        h = None
        if p.returncode == 0 and os.path.exists(target):
            h = content_hash(target)
        for side in ("", "-wal", "-shm"):
            if os.path.exists(target + side):
                os.remove(target + side)
        return p, h, took

    def restore_many(self, jobs, workers=2):
        """Run restores [(key, args)] side by side; returns {key: (proc, hash, seconds)}."""
        confs = self.copies(workers)
        scratch = os.path.join(self.root, "restored")
        os.makedirs(scratch, exist_ok=True)
        out = {}

        def one(k, key, args):
            target = os.path.join(scratch, f"r{k}.db")
            return key, self.restore(confs[k % workers], args, target)

        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            futs = [pool.submit(one, k, key, args) for k, (key, args) in enumerate(jobs)]
            for f in futs:
                key, res = f.result()
                out[key] = res
        return out

    def check_restores(self, times, captured, latest=False):
        """restore --at each time (and --latest, side by side with them);
        returns a list of problems."""
        tl = self.timeline
        pauses = tl.pauses(LAG)
        jobs = [(t, ["--at", iso(t)]) for t in times]
        res = self.restore_many(jobs + ([("latest", ["--latest"])] if latest else []))
        problems, took, in_pause, bounded, stale = [], [], 0, 0, []
        if latest:
            problems += self.judge_latest(*res["latest"])
        for t in times:
            p, h, secs = res[t]
            took.append(secs)
            if p.returncode != 0 or h is None:
                problems.append(f"restore --at {iso(t)} exited {p.returncode}: "
                                f"{p.stderr.strip()[-500:]}")
                continue
            exact = None
            for k, a, b in pauses if self.timing else ():
                if a <= t <= b and self.agent.steady(tl.commit[k], a):
                    exact = k
            lag = LAG if self.timing and self.agent.steady(t - LAG, t) else None
            in_pause += exact is not None
            bounded += lag is not None
            if lag is not None:
                stale.append(tl.staleness(t, h))
            why = tl.judge(t, h, lag=lag, exact=exact)
            # And it is the newest state captured at or before t.
            newest = [c for c in captured if c[0] <= t]
            if not why and newest and newest[-1][1] is not None and h != newest[-1][1]:
                why = (f"restore at {iso(t)} gave content {h}, not that of the newest state "
                       f"captured at or before it, {newest[-1][2]} at {iso(newest[-1][0])} "
                       f"({newest[-1][1]})")
            if why:
                problems.append(why)
        took.sort()
        if latest:
            self.say(f"restore --latest took {res['latest'][2]:.2f}s")
        if took:
            self.say(f"restore --at: {len(times)} times, {in_pause} inside a pause, {bounded} "
                     f"with the {LAG:g}s bound; median {took[len(took) // 2]:.2f}s, "
                     f"max {took[-1]:.2f}s")
        stale = sorted(x for x in stale if x is not None)
        if stale:
            self.say(f"age of the state restored where the bound applies: median "
                     f"{stale[len(stale) // 2]:.2f}s, max {stale[-1]:.2f}s")
        return problems

    def check_latest(self):
        return self.judge_latest(*self.restore_many([("latest", ["--latest"])],
                                                    workers=1)["latest"])

    def judge_latest(self, p, h, secs):
        if p.returncode != 0:
            return [f"restore --latest exited {p.returncode}: {p.stderr.strip()[-500:]}"]
        if h != self.timeline.hash[-1]:
            return [f"restore --latest gave content {h}, the final state is "
                    f"{self.timeline.describe(len(self.timeline) - 1)}"]
        return []

    def random_times(self, n, captured, in_pauses=0):
        """n times from the first captured state to a little after the last
        commit; in_pauses of them inside the writer's pauses."""
        lo, hi = captured[0][0], self.timeline.end + 2 * LAG
        windows = [(a, b) for _, a, b in self.timeline.pauses(LAG) if a >= lo]
        in_pauses = min(in_pauses, n // 2) if windows else 0
        times = [self.rng.uniform(lo, hi) for _ in range(n - in_pauses)]
        for _ in range(in_pauses):
            a, b = self.rng.choice(windows)
            times.append(self.rng.uniform(a, b))
        # Milliseconds are what the command line carries.
        return sorted({round(t, 3) for t in times})


    def check_damage(self):
        """Copies of the newest chain with at least four increments, one
        increment corrupted, missing, or swapped with the next: a restore to
        a time the damage lies before is refused with a line naming it, and
        the state just before the damage still restores."""
        snaps = [sn for sn in self.snapshots() if len(self.increments(sn)) >= 4]
        if not snaps:
            return ["no chain with four increments to damage"]
        snap = snaps[-1]
        incs = [os.path.basename(p) for p in self.increments(snap)]
        mid = len(incs) // 2
        victim, after = incs[mid], incs[mid + 1]
        end = self.increment_time(self.meta(self.increments(snap)[-1]))
        before = self.increment_time(self.meta(self.increments(snap)[mid - 1]))
        folder = os.path.join("increments", snap[:-len(".db.gz")])
        problems = []

        def corrupt(d):
            path = os.path.join(d, folder, victim)
            with open(path, "r+b") as f:
                size = os.fstat(f.fileno()).st_size
                f.seek(size // 2)
                b = f.read(1)
                f.seek(size // 2)
                f.write(bytes([b[0] ^ 0x40]))

        def missing(d):
            os.remove(os.path.join(d, folder, victim))
            os.remove(os.path.join(d, folder, victim + ".json"))

        def swapped(d):
            a, b = os.path.join(d, folder, victim), os.path.join(d, folder, after)
            os.rename(a, a + ".swap")
            os.rename(b, a)
            os.rename(a + ".swap", b)

        seq = victim.split("-")[0]

        def names_it(text):
            """By its name, or (a missing one, whose name nothing tells) its
            sequence number."""
            return any(n in text for n in (victim, seq, f"increment {int(seq)} "))
        v = subprocess.run([CBSYNC, "verify", "--config", self.conf, snap], cwd=self.root,
                           env=cbsync_env(), capture_output=True, text=True, timeout=600)
        if v.returncode != 0:
            problems.append(f"verify {snap} of the intact chain exited {v.returncode}: "
                            f"{(v.stdout + v.stderr).strip()[-500:]}")
        for what, damage in (("corrupted", corrupt), ("missing", missing),
                             ("swapped", swapped)):
            d = os.path.join(self.root, f"damaged-{what}")
            shutil.copytree(self.backups, d)
            # A roll-up that spans the victim is a sound way around it (a
            # history that crossed a minute has one): without them the
            # increments themselves must carry the restore.
            shutil.rmtree(os.path.join(d, folder, "rollups"), ignore_errors=True)
            damage(d)
            conf = os.path.join(self.root, f"damaged-{what}.conf")
            self.write_conf(conf, d)
            target = os.path.join(self.root, f"damaged-{what}.db")
            p, h, _ = self.restore(conf, ["--at", iso(end)], target)
            errs = error_lines(p.stderr)
            if p.returncode in (0, 2) or len(errs) != 1:
                problems.append(f"{what} {victim}: restore --at {iso(end)} exited "
                                f"{p.returncode} (content {h}); stderr: {p.stderr.strip()}")
            elif not names_it(errs[0]):
                problems.append(f"{what} {victim}: the error does not name it: {errs[0]}")
            elif os.path.exists(target):
                problems.append(f"{what}: {target} was made")
            else:
                self.say(f"{what}: exit {p.returncode}, {errs[0]}")
            # verify checks the chain as restore would, and names it too.
            v = subprocess.run([CBSYNC, "verify", "--config", conf, snap], cwd=self.root,
                               env=cbsync_env(), capture_output=True, text=True, timeout=600)
            if v.returncode != 5 or not names_it(v.stdout + v.stderr):
                problems.append(f"{what} {victim}: verify {snap} exited {v.returncode}: "
                                f"{(v.stdout + v.stderr).strip()[-500:]}")
            p, h, _ = self.restore(conf, ["--at", iso(before)], target)
            if p.returncode != 0:
                problems.append(f"{what} {victim}: the state before it, at {iso(before)}, "
                                f"does not restore: {p.returncode} {p.stderr.strip()}")
            else:
                why = self.timeline.judge(before, h)
                if why:
                    problems.append(f"{what} {victim}: {why}")
            shutil.rmtree(d)
        self.say(f"damaged copies of {snap}: {victim} corrupted, missing, swapped with {after}")
        return problems


class HistoryBase(CbsyncTest):
    """Where a run's files go, and failing with every problem at once."""

    def setUp(self):
        super().setUp()
        self.root = self.w.root
        if KEEP:
            os.makedirs(KEEP, exist_ok=True)
            import tempfile
            self.root = tempfile.mkdtemp(prefix=self.id().split(".")[-1] + "-", dir=KEEP)
            print(f"keeping the run in {self.root}", file=sys.stderr)

    def commits(self, n):
        return max(20, int(n * SCALE))

    @classmethod
    def setUpClass(cls):
        print(f"{cls.__module__}: seed {SEED} (set CBSYNC_HISTORY_SEED to repeat another)",
              file=sys.stderr, flush=True)

    def fail_with(self, problems, what):
        """Fail with every problem's first lines (at most 4 per kind of run)."""
        if problems:
            shown, per = [], {}
            for p in problems:
                key = p.split("]")[0] if p.startswith("[") else ""
                per[key] = per.get(key, 0) + 1
                if per[key] <= 4:
                    shown.append(p)
            self.fail(f"{what}: {len(problems)} problems\n" + "\n".join(shown))


class HistoryTest(HistoryBase):
    def test_recorded_history(self):
        s = Scenario(self, self.root, "history", SEED, rows=300, kills=6, profiles=[{
            "commits": self.commits(2000), "pause_every": [120, 320], "pause": [3.0, 4.0],
            "gap": [0.0, 0.012],
            "specials": {"700": "vacuum", "1100": "schema_change", "1600": "purge",
                         "1601": "vacuum"}}])
        s.record()
        with self.subTest("by hand"):
            captured, problems = s.by_hand()
            self.fail_with(problems, "the by-hand recipe")
        with self.subTest("restore --at"):
            times = s.random_times(100, captured, in_pauses=25)
            self.fail_with(s.check_restores(times, captured), "restore --at")
        with self.subTest("restore --latest"):
            self.fail_with(s.check_latest(), "restore --latest")
        with self.subTest("nothing covers the time"):
            t = captured[0][0] - 60
            p, h, _ = s.restore_many([(t, ["--at", iso(t)])], workers=1)[t]
            line = self.assertFails(p, 4)
            self.assertIn(iso(captured[0][0]), line, "the oldest restorable time")
            self.assertIn(iso(captured[-1][0]), line, "the newest restorable time")
        with self.subTest("damaged chains"):
            self.fail_with(s.check_damage(), "damaged chains")


if __name__ == "__main__":
    main()
