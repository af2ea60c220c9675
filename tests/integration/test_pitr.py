"""Point-in-time restore through the real binary.

One recorded history is made once: the agent runs with [replicate] enabled
while a writer commits varied transactions (inserts, updates, deletes),
pausing now and then, and logs for each commit the time just before its
COMMIT, the time just after, and a hash of the database's content.  Each
test then works on its own copy of what the agent left:

- restore --at for random times (and at, just before and just after state
  times) gives exactly the newest captured state at or before the time --
  the one the metadata says, whose content is a recorded commit, never one
  committed after the time, and never one that misses a commit made well
  before its state time; a time inside a pause gives the state before it;
  a time before every state is refused naming the oldest and newest;
- --latest gives the final state, --before picks among increments too, a
  restore into the live database makes a restore point first;
- --dry-run says what it would read and touches nothing;
- list and verify show and check the chains;
- an increment corrupted, missing, or swapped with the next is refused
  with a line naming it, and nothing is installed.
"""
import datetime as dt
import glob
import hashlib
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

from harness import CbsyncTest, main, make_db, read_bytes, start_cbsync, write_agent_config

# The writer: varied transactions, each logged with the time just before its
# COMMIT, the time just after, and the hash of the content it committed.
WRITER = r"""
import hashlib, json, random, sqlite3, sys, time
path, logpath, plan, seed = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4])
sys.path.insert(0, sys.argv[5])
from test_pitr import content_hash
rnd = random.Random(seed)
con = sqlite3.connect(path, isolation_level=None, timeout=60)
con.execute("PRAGMA busy_timeout=60000")
log = open(logpath, "w")
t = time.time()
log.write(json.dumps({"t0": t, "t1": t, "h": content_hash(con)}) + "\n")
log.flush()
i = 0
for kind, seconds in plan:
    end = time.time() + seconds
    if kind == "pause":
        time.sleep(seconds)
        continue
    while time.time() < end:
        i += 1
        con.execute("BEGIN IMMEDIATE")
        con.execute("INSERT INTO ai_messages(conversation_id, sender_id, content) VALUES (?, ?, ?)",
                    (i % 7, i % 3, "message %d %s" % (i, "x" * rnd.randrange(10, 900))))
        if rnd.random() < 0.5:
            con.execute("UPDATE ai_messages SET content = content || ' edited' "
                        "WHERE id = (SELECT id FROM ai_messages ORDER BY random() LIMIT 1)")
        if rnd.random() < 0.2:
            con.execute("DELETE FROM ai_messages "
                        "WHERE id = (SELECT id FROM ai_messages ORDER BY random() LIMIT 1)")
        con.execute("UPDATE counter SET n = n + 1")
        h = content_hash(con)
        t0 = time.time()
        con.execute("COMMIT")
        t1 = time.time()
        log.write(json.dumps({"t0": t0, "t1": t1, "h": h}) + "\n")
        log.flush()
        time.sleep(rnd.uniform(0.005, 0.06))
print(i, flush=True)
"""

PLAN = [("write", 4.0), ("pause", 3.5), ("write", 4.0), ("pause", 1.0), ("write", 2.0)]
PAUSE = 1   # the index in PLAN of the pause a test looks into


def content_hash(con):
    """The logical content of a database: its messages and its counter."""
    h = hashlib.sha256()
    for row in con.execute("SELECT id, conversation_id, sender_id, content FROM ai_messages "
                           "ORDER BY id"):
        h.update(repr(row).encode())
    h.update(repr(con.execute("SELECT n FROM counter").fetchone()).encode())
    return h.hexdigest()


def file_hash(path):
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return content_hash(con)
    finally:
        con.close()


def iso_ms(ms):
    t = dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)


def parse_iso(text):
    """Milliseconds since the epoch of "2026-11-29T09:48:00.250Z" or of
    "2026-11-29T09:48:00Z"."""
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{3}))?Z", text)
    assert m, text
    t = dt.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=dt.timezone.utc)
    return int(t.timestamp()) * 1000 + int(m.group(2) or 0)


def state_at(stdout):
    m = re.search(r"^  State at: +(\S+)", stdout, re.M)
    assert m, stdout
    return parse_iso(m.group(1))


class History:
    """What the agent made: every state it can restore, from the metadata."""

    def __init__(self, backups):
        self.backups = backups
        self.chains = {}   # snapshot -> [(meta, path)] in chain order
        self.snapshots = {}
        for path in glob.glob(os.path.join(backups, "*.db.gz")):
            with open(path + ".json") as f:
                meta = json.load(f)
            self.snapshots[meta["name"]] = meta
            folder = os.path.join(backups, "increments", meta["name"][:-len(".db.gz")])
            incs = []
            for inc in sorted(glob.glob(os.path.join(folder, "*.wal.gz"))):
                with open(inc + ".json") as f:
                    incs.append((json.load(f), inc))
            self.chains[meta["name"]] = incs

    def snapshot_ms(self, name, by_created=False):
        meta = self.snapshots[name]
        if by_created or "state_time" not in meta:
            return parse_iso(meta["created"])
        return parse_iso(meta["state_time"])

    def states(self, by_created=False):
        """(time, snapshot, increments applied, bytes read) of every state."""
        out = []
        for name, incs in self.chains.items():
            at = self.snapshot_ms(name, by_created)
            size = os.path.getsize(os.path.join(self.backups, name))
            out.append((at, name, 0, size))
            for k, (meta, path) in enumerate(incs, 1):
                # Just after its last transaction, whose time is rounded
                # down to the millisecond.
                at = max(at, parse_iso(meta["last_tx"]) + 1)
                size += meta["compressed_size"]
                out.append((at, name, k, size))
        return sorted(out)

    def newest_at_or_before(self, t, by_created=False):
        best = None
        for s in self.states(by_created):
            if s[0] <= t and (best is None or s[0] >= best[0]):
                best = s
        return best


class PitrTest(CbsyncTest):
    @classmethod
    def setUpClass(cls):
        base = os.environ.get("CBSYNC_TEST_TMP") or tempfile.gettempdir()
        cls.base = tempfile.mkdtemp(prefix="cbsync-pitr-", dir=base)
        db = os.path.join(cls.base, "ai_db", "cloudbrain.db")
        backups = os.path.join(cls.base, "ai_db", "backups")
        make_db(db, rows=300)
        conf = write_agent_config(os.path.join(cls.base, "cbsync.conf"), db, backups)
        agent = start_cbsync(cls.base, "agent", "--config", conf)
        try:
            # The writer's first commit makes the agent take the snapshot
            # that starts the first chain.
            logpath = os.path.join(cls.base, "commits.jsonl")
            seed = int(os.environ.get("CBSYNC_TEST_SEED") or random.randrange(1 << 30))
            print(f"test_pitr: writer seed {seed}", file=sys.stderr)
            here = os.path.dirname(os.path.abspath(__file__))
            subprocess.run([sys.executable, "-c", WRITER, db, logpath, json.dumps(PLAN),
                            str(seed), here], check=True, stdout=subprocess.DEVNULL,
                           timeout=120)
            with open(logpath) as f:
                cls.log = [json.loads(line) for line in f]
            # Until the agent has captured the last commit: nothing new for
            # a few intervals.
            seen, quiet_since = None, time.time()
            deadline = time.time() + 60
            while time.time() < deadline and time.time() - quiet_since < 3:
                now = sorted(glob.glob(os.path.join(backups, "**", "*.gz"), recursive=True))
                if now != seen:
                    seen, quiet_since = now, time.time()
                time.sleep(0.2)
        finally:
            agent.send_signal(signal.SIGTERM)
            out, err = agent.communicate(timeout=60)
        assert agent.returncode == 0, err
        cls.history = History(backups)
        assert sum(len(c) for c in cls.history.chains.values()) >= 6, cls.history.chains

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.base, ignore_errors=True)

    def setUp(self):
        super().setUp()
        shutil.copytree(os.path.join(self.base, "ai_db"), os.path.join(self.w.root, "ai_db"))
        self.h = History(self.w.backups)

    # ---- helpers ---------------------------------------------------------

    def commit_of(self, digest):
        """The index in the log of the commit whose content this is."""
        for i, c in enumerate(self.log):
            if c["h"] == digest:
                return i
        self.fail(f"not a recorded committed state: {digest}")

    def restore_at(self, t_ms, *extra):
        target = self.w.path("restored-%d.db" % t_ms)
        p = self.w.run("restore", "--at", iso_ms(t_ms), "--to", target, *extra)
        return p, target

    def check_state(self, t_ms, p, target):
        """The restore to t_ms gave exactly what the metadata says it should,
        and that is a committed state no later than t_ms."""
        want = self.h.newest_at_or_before(t_ms)
        self.assertEqual(p.returncode, 0, f"at {iso_ms(t_ms)}: {p.stdout}{p.stderr}")
        got = state_at(p.stdout)
        self.assertEqual(got, want[0], f"at {iso_ms(t_ms)}: state {iso_ms(got)}, "
                         f"expected {iso_ms(want[0])} ({want[1]} + {want[2]})")
        k = self.commit_of(file_hash(target))
        c = self.log[k]
        self.assertLessEqual(c["t0"] * 1000, t_ms,
                             f"at {iso_ms(t_ms)}: restored commit {k}, committed at "
                             f"{iso_ms(int(c['t0'] * 1000))}, after the time")
        # Every commit made well before the state's time is in it.
        for j in range(k + 1, len(self.log)):
            self.assertGreaterEqual(self.log[j]["t1"] * 1000, got - 500,
                                    f"at {iso_ms(t_ms)}: commit {j} of "
                                    f"{iso_ms(int(self.log[j]['t1'] * 1000))} is missing "
                                    f"from the state at {iso_ms(got)}")
        os.unlink(target)
        return k

    # ---- restore --at ----------------------------------------------------

    def test_at_random_and_boundary_times(self):
        states = self.h.states()
        oldest, newest = states[0][0], states[-1][0]
        rnd = random.Random(int(self.log[0]["t0"] * 1000))
        times = [rnd.randrange(oldest, newest + 1500) for _ in range(30)]
        for s in rnd.sample(states, min(6, len(states))):
            times += [s[0], s[0] - 1, s[0] + 1]
        for t in sorted(set(times)):
            if t < oldest:
                continue
            p, target = self.restore_at(t)
            self.check_state(t, p, target)
        self.assertNoTempFiles()

    def test_time_in_a_pause_gives_the_state_before_it(self):
        before = [c for c in self.log if c["t1"] < self.pause_start() + 0.001]
        last = before[-1]
        t = int((last["t1"] + PLAN[PAUSE][1] - 0.3) * 1000)
        p, target = self.restore_at(t)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(file_hash(target), last["h"])

    def pause_start(self):
        """When the writer's pause began: after its last commit before it."""
        gaps = [(self.log[i + 1]["t0"] - self.log[i]["t1"], i) for i in range(1, len(self.log) - 1)]
        gap, i = max(gaps)
        self.assertGreater(gap, PLAN[PAUSE][1] - 0.5)
        return self.log[i]["t1"]

    def test_before_every_state_is_refused_naming_the_range(self):
        states = self.h.states()
        p, target = self.restore_at(states[0][0] - 1)
        self.assertFails(p, 4, f"the oldest restorable state is at {iso_ms(states[0][0])}, "
                         f"the newest at {iso_ms(states[-1][0])}")
        self.assertFalse(os.path.exists(target))
        p = self.w.run("restore", "--at", "yesterday")
        self.assertFails(p, 2, "--at 'yesterday' is not a time")
        p = self.w.run("restore", "--at", "now", "--before", "2026-01-01")
        self.assertFails(p, 2)

    def test_relative_times(self):
        # "-0s" is now: the newest state.
        p = self.w.run("restore", "--at", "-0s", "--dry-run")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(state_at(p.stdout), self.h.states()[-1][0])
        ago = int(time.time() - self.log[0]["t0"]) + 60
        p = self.w.run("restore", "--at", f"{ago} seconds ago", "--dry-run")
        self.assertFails(p, 4, "the oldest restorable state is at")

    # ---- --latest, --before, into the live database ---------------------

    def test_latest_is_the_final_state(self):
        target = self.w.path("latest.db")
        p = self.w.ok("restore", "--latest", "--to", target)
        self.assertEqual(file_hash(target), self.log[-1]["h"])
        want = self.h.states()[-1]
        self.assertEqual(state_at(p.stdout), want[0])
        self.assertIn(f"Restored {want[1]} from local", p.stdout)
        if want[2]:
            self.assertIn(f"+ {want[2]} increment", p.stdout)
            self.assertIn("state checksum after each increment", p.stdout)

    def test_before_picks_among_increments(self):
        states = self.h.states(by_created=True)
        mid = states[len(states) // 2][0]
        t = (mid // 1000 + 1) * 1000   # --before takes whole seconds
        when = dt.datetime.fromtimestamp(t / 1000, dt.timezone.utc)
        target = self.w.path("before.db")
        p = self.w.ok("restore", "--before", when.strftime("%Y-%m-%dT%H:%M:%SZ"), "--to", target)
        want = self.h.newest_at_or_before(t, by_created=True)
        self.assertEqual(state_at(p.stdout), want[0])
        self.commit_of(file_hash(target))

    def test_into_the_live_database(self):
        t = self.h.states()[len(self.h.states()) // 2][0] + 1
        before = file_hash(self.w.db)
        p = self.w.run("restore", "--at", iso_ms(t))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("Restore point:", p.stdout)
        points = [f for f in os.listdir(self.w.backups) if "restore_point" in f and
                  f.endswith(".db.gz")]
        self.assertEqual(len(points), 1)
        self.assertEqual(state_at(p.stdout), self.h.newest_at_or_before(t)[0])
        k = self.commit_of(file_hash(self.w.db))
        self.assertLessEqual(self.log[k]["t0"] * 1000, t)
        self.assertNotEqual(before, file_hash(self.w.db))

    # ---- --dry-run -------------------------------------------------------

    def tree(self):
        out = {}
        for d, _, files in os.walk(os.path.join(self.w.root, "ai_db")):
            for f in files:
                p = os.path.join(d, f)
                st = os.stat(p)
                out[p] = (st.st_size, st.st_mtime_ns, read_bytes(p) if st.st_size < 1 << 20 else b"")
        return out

    def test_dry_run_touches_nothing(self):
        states = self.h.states()
        chained = [s for s in states if s[2] >= 2]
        t = chained[len(chained) // 2][0]
        before = self.tree()
        target = self.w.path("dry.db")
        p = self.w.ok("restore", "--at", iso_ms(t), "--to", target, "--dry-run")
        want = self.h.newest_at_or_before(t)
        self.assertIn(f"Would restore {want[1]} from local", p.stdout)
        self.assertIn(f"then {want[2]} increments from local", p.stdout)
        self.assertEqual(state_at(p.stdout), want[0])
        self.assertIn(f"({want[3]} bytes)", p.stdout)
        self.assertIn("Nothing was restored (--dry-run)", p.stdout)
        incs = self.h.chains[want[1]][:want[2]]
        self.assertIn(os.path.relpath(incs[0][1], self.w.backups), p.stdout)
        self.assertIn(os.path.relpath(incs[-1][1], self.w.backups), p.stdout)
        p = self.w.ok("restore", "--latest", "--dry-run")
        self.assertIn("after a restore point of it", p.stdout)
        self.assertFalse(os.path.exists(target))
        self.assertEqual(self.tree(), before)

    # ---- list, verify ----------------------------------------------------

    def test_list_and_verify_show_the_chains(self):
        p = self.w.ok("list")
        lines = p.stdout.splitlines()
        self.assertRegex(lines[0], r"^NAME +TYPE +CREATED +ORIGINAL +COMPRESSED +RATIO$")
        n = len(self.h.snapshots)
        self.assertEqual(lines[n + 1], f"{n} backup{'s' if n > 1 else ''} in ai_db/backups")
        self.assertEqual(lines[n + 2], "Chains of increments (restore --at reaches their states):")
        for name, incs in self.h.chains.items():
            if incs:
                self.assertIn(f"  {name}: {len(incs)} increment{'s' if len(incs) > 1 else ''}, ",
                              p.stdout)
        for b in self.w.list_json():
            incs = self.h.chains[b["name"]]
            if incs:
                self.assertEqual(b["increments"]["local"]["count"], len(incs))
                self.assertEqual(b["increments"]["local"]["compressed_size"],
                                 sum(os.path.getsize(i[1]) for i in incs))
            else:
                self.assertEqual(b["increments"], {})
        p = self.w.ok("verify")
        chains = [c for c in self.h.chains.values() if c]
        for name, incs in self.h.chains.items():
            if incs:
                self.assertIn(f"ok      {name} + {len(incs)} increment", p.stdout)
        self.assertIn(f"{len(chains)} chain{'s' if len(chains) > 1 else ''} of increments "
                      f"checked: {len(chains)} ok, 0 failed", p.stdout)

    # ---- damaged chains --------------------------------------------------

    def victim(self):
        """An increment in the middle of the longest chain, the state it
        leads to, and the one after it."""
        name, incs = max(self.h.chains.items(), key=lambda kv: len(kv[1]))
        self.assertGreaterEqual(len(incs), 3, self.h.chains)
        k = len(incs) // 2
        return name, incs, k

    def refused(self, key, t):
        live = read_bytes(self.w.db)
        p, target = self.restore_at(t)
        line = self.assertFails(p, 5, key)
        self.assertFalse(os.path.exists(target))
        p = self.w.run("restore", "--at", iso_ms(t))
        self.assertFails(p, 5, key)
        self.assertEqual(read_bytes(self.w.db), live, "the live database changed")
        self.assertEqual([f for f in os.listdir(self.w.backups) if "restore_point" in f], [])
        self.assertNoTempFiles()
        return line

    def test_corrupted_increment_is_refused(self):
        name, incs, k = self.victim()
        meta, path = incs[k]
        data = bytearray(read_bytes(path))
        data[len(data) // 2] ^= 0x01
        with open(path, "wb") as f:
            f.write(data)
        t = self.h.newest_at_or_before(parse_iso(incs[-1][0]["last_tx"]))[0]
        self.refused(meta["name"], t)
        p = self.w.run("verify")
        self.assertEqual(p.returncode, 5, p.stdout)
        self.assertRegex(p.stdout, rf"FAILED  {re.escape(name)} \+ increments: .*"
                         rf"{re.escape(meta['name'])}")
        # An earlier time does not need it.
        prev = parse_iso(incs[k - 1][0]["last_tx"])
        p, target = self.restore_at(prev)
        self.check_state(prev, p, target)
        # --fallback steps back to the state before it, saying why.
        p, target = self.restore_at(t, "--fallback")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(f"increment '{meta['name']}'", p.stderr)
        self.assertIn("trying the next candidate (--fallback)", p.stderr)
        want = [s for s in self.h.states() if s[1] == name and s[2] == k][0]
        self.assertEqual(state_at(p.stdout), want[0])
        self.commit_of(file_hash(target))

    def test_missing_increment_is_refused(self):
        name, incs, k = self.victim()
        meta, path = incs[k]
        os.unlink(path)
        t = parse_iso(incs[-1][0]["last_tx"])
        self.refused(meta["name"], t)
        p = self.w.run("verify")
        self.assertEqual(p.returncode, 5, p.stdout)
        self.assertIn(f"the object of increment '{meta['name']}' is missing", p.stdout)
        # --fallback takes the state before the break.
        p, target = self.restore_at(t, "--fallback")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("breaks before the time asked for", p.stderr)
        prev = self.h.states()
        want = [s for s in prev if s[1] == name and s[2] == k][0]
        self.assertEqual(state_at(p.stdout), want[0])
        self.commit_of(file_hash(target))

    def test_swapped_increments_are_refused(self):
        name, incs, k = self.victim()
        a, b = incs[k][1], incs[k + 1][1]
        da, db = read_bytes(a), read_bytes(b)
        with open(a, "wb") as f:
            f.write(db)
        with open(b, "wb") as f:
            f.write(da)
        t = parse_iso(incs[k + 1][0]["last_tx"])
        self.refused(incs[k][0]["name"], t)


if __name__ == "__main__":
    main()
