"""Chains of increments over time: compaction and retention, through the binary.

The agent makes a real chain under a busy writer; the test then moves the
chain back in time (its snapshot's and increments' names and metadata, all
consistent, so it is exactly the chain an agent would have made then) and
lets `cbsync prune` compact and expire it.  After every step the chain is
applied with the README's by-hand recipe and must still reach the live
state, checked by its state checksum."""
import calendar
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import time
from datetime import datetime, timedelta, timezone

from harness import CbsyncTest, Writer, integrity, main, make_db, start_cbsync
from test_replicate import by_hand, live_state
from test_state_checksum import state_checksum

CONFIG = """
[database]
path = {db}
[local]
dir = {dir}
keep_change = 24h
keep_increments = 24h
[schedule]
daily = off
weekly = off
monthly = off
catch_up = false
[replicate]
enabled = true
interval = 1s
rebase_share = off
"""

STAMP = re.compile(r"(?<![0-9])(\d{8}_\d{6})(?![0-9])")


def stamp(t):
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y%m%d_%H%M%S")


def unstamp(s):
    return int(datetime.strptime(s, "%Y%m%d_%H%M%S").replace(tzinfo=timezone.utc).timestamp())


def shift_name(name, seconds):
    return STAMP.sub(lambda m: stamp(unstamp(m.group(1)) - seconds), name)


def shift_chain(backups, snapshot, seconds):
    """Move a snapshot and its chain `seconds` into the past, consistently:
    every name, and every time and name in the metadata.  Returns the
    snapshot's new name."""
    new_snap = shift_name(snapshot, seconds)
    meta_path = os.path.join(backups, snapshot + ".json")
    with open(meta_path) as f:
        meta = json.load(f)
    meta["name"] = new_snap
    meta["created"] = datetime.fromtimestamp(
        unstamp(STAMP.search(new_snap).group(1)), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    os.remove(meta_path)
    with open(os.path.join(backups, new_snap + ".json"), "w") as f:
        json.dump(meta, f)
    os.rename(os.path.join(backups, snapshot), os.path.join(backups, new_snap))
    old_dir = os.path.join(backups, "increments", snapshot[:-len(".db.gz")])
    new_dir = os.path.join(backups, "increments", new_snap[:-len(".db.gz")])
    if not os.path.isdir(old_dir):
        return new_snap
    retime_chain(backups, snapshot, new_snap, lambda k, last: -seconds)
    return new_snap


def iso_ms(t):
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def retime_chain(backups, snapshot, new_snap, delta):
    """Move snapshot's increments (and roll-ups) under new_snap, the times
    of increment k (seq, from 1) moved by delta(k, its last_tx in seconds):
    names and metadata, consistently (a roll-up's first time as its first
    increment's, its last as its last one's)."""
    old_dir = os.path.join(backups, "increments", snapshot[:-len(".db.gz")])
    new_dir = os.path.join(backups, "increments", new_snap[:-len(".db.gz")])
    stem = new_snap[:-len(".db.gz")]
    names = {}
    metas = []
    for sub in ("", "rollups"):
        for data in sorted(glob.glob(os.path.join(old_dir, sub, "*.wal.gz"))):
            with open(data + ".json") as f:
                metas.append((sub, data, json.load(f)))
    def secs(text):
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
            tzinfo=timezone.utc).timestamp()
    moves = {m["seq_first"]: delta(m["seq_first"], secs(m["last_tx"]))
             for sub, _, m in metas if not sub and m["seq_first"] == m["seq_last"]}
    for sub, data, m in metas:
        ts = {}
        for key, k in (("first_tx", m["seq_first"]), ("last_tx", m["seq_last"])):
            move = moves[k] if k in moves else delta(k, secs(m["last_tx"]))
            ts[key] = secs(m[key]) + move
            m[key] = iso_ms(ts[key])
        base = "%010d-%010d_%s_%s.wal.gz" % (m["seq_first"], m["seq_last"],
                                             stamp(int(ts["first_tx"])), stamp(int(ts["last_tx"])))
        names[m["name"]] = "increments/%s/%s%s" % (stem, sub + "/" if sub else "", base)
    os.makedirs(os.path.join(new_dir, "rollups"), exist_ok=True)
    for sub, data, m in metas:
        old = m["name"]
        m["snapshot"] = new_snap
        m["name"] = names[old]
        if m["prev"]:
            m["prev"] = names[m["prev"]]
        target = os.path.join(backups, m["name"])
        os.rename(data, target)
        with open(target + ".json", "w") as f:
            json.dump(m, f)
        os.remove(data + ".json")
    for d in (os.path.join(new_dir, "rollups"), os.path.join(old_dir, "rollups"), old_dir):
        if os.path.isdir(d) and not os.listdir(d):
            os.rmdir(d)



def mergeable_per_minute(paths):
    """What compaction merges of these increments (all older than an hour,
    none protected): each run of two or more whose last transactions fall
    in one minute.  (count of increments merged, count of runs)"""
    minutes = []
    for p in paths:
        stamp = "_".join(os.path.basename(p)[:-len(".wal.gz")].split("_")[3:5])
        minutes.append(calendar.timegm(time.strptime(stamp, "%Y%m%d_%H%M%S")) // 60)
    count = groups = 0
    i = 0
    while i < len(minutes):
        j = i + 1
        while j < len(minutes) and minutes[j] == minutes[i]:
            j += 1
        if j - i >= 2:
            count += j - i
            groups += 1
        i = j
    return count, groups

class ChainsTest(CbsyncTest):
    extra = ""

    def conf(self):
        path = self.w.path("cbsync.conf")
        with open(path, "w") as f:
            f.write(CONFIG.format(db=self.w.db, dir=self.w.backups) + self.extra)
        os.chmod(path, 0o600)
        return path

    def cbsync(self, *args):
        return self.w.run(*args, "--config", self.conf())

    def increments(self, snapshot):
        folder = os.path.join(self.w.backups, "increments", snapshot[:-len(".db.gz")])
        return sorted(glob.glob(os.path.join(folder, "*.wal.gz")))

    def make_chain(self, want):
        """Run the agent under a writer until its chain has `want`
        increments and has caught up with the live database; returns the
        chain's snapshot and the live state's checksum."""
        conf = self.conf()
        agent = start_cbsync(self.w.root, "agent", "--config", conf)
        self.addCleanup(lambda: agent.poll() is None and agent.kill())
        chain_file = os.path.join(self.w.backups, ".cbsync-chain", "cloudbrain.json")
        writer = Writer(self.w.db)
        try:
            deadline = time.time() + 120
            while time.time() < deadline:
                if os.path.exists(chain_file):
                    with open(chain_file) as f:
                        snap = json.load(f)["snapshot"]
                    if len(self.increments(snap)) >= want:
                        break
                time.sleep(0.3)
        finally:
            writer.stop()
        live = state_checksum(live_state(self.w.db, self.w.path("live.db")), 4096)
        deadline = time.time() + 30
        while time.time() < deadline:
            with open(chain_file) as f:
                c = json.load(f)
            if c["checksum"] == live:
                break
            time.sleep(0.2)
        self.assertEqual(c["checksum"], live, "the chain never reached the live state")
        agent.send_signal(signal.SIGTERM)
        self.assertEqual(agent.wait(timeout=60), 0)
        self.assertGreaterEqual(len(self.increments(c["snapshot"])), want)
        return c["snapshot"], live

    def apply_by_hand(self, snapshot):
        """The README's recipe; returns the final state's checksum."""
        work = self.w.path("by-hand")
        shutil.rmtree(work, ignore_errors=True)
        os.makedirs(work)
        db = os.path.join(work, "cloudbrain.db")
        by_hand(os.path.join(self.w.backups, snapshot), db)
        for inc in self.increments(snapshot):
            by_hand(inc, db + "-wal")
            subprocess.run(["sqlite3", db, "PRAGMA wal_checkpoint(TRUNCATE);"],
                           capture_output=True, check=True)
            for side in ("-wal", "-shm"):
                if os.path.exists(db + side):
                    os.remove(db + side)
            with open(inc + ".json") as f:
                meta = json.load(f)
            with open(db, "rb") as f:
                self.assertEqual(state_checksum(f.read(), 4096), meta["state_checksum"], inc)
        self.assertEqual(integrity(db), "ok")
        with open(db, "rb") as f:
            return state_checksum(f.read(), 4096)

    def test_compaction_and_retention(self):
        make_db(self.w.db, rows=300)
        snap, live = self.make_chain(8)
        n = len(self.increments(snap))

        # Two hours ago: older than an hour, so merged per minute.
        snap = shift_chain(self.w.backups, snap, 7200)
        self.assertEqual(self.apply_by_hand(snap), live)
        out = self.cbsync("prune", "--dry-run")
        self.assertEqual(out.returncode, 0, out.stderr)
        # All but the newest, which the agent continues from by name, in
        # runs of one minute of their last transaction; a minute with a
        # single increment has nothing to merge.
        count, groups = mergeable_per_minute(self.increments(snap)[:-1])
        self.assertGreaterEqual(count, n - 3)
        self.assertRegex(out.stdout, r"increments: would merge %d increments into %d\b"
                         % (count, groups))
        self.assertIn("keep    chain %s: %d increments" % (snap, n), out.stdout)
        self.assertEqual(len(self.increments(snap)), n, "a dry run changed the chain")
        out = self.cbsync("prune")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("increments: merged %d increments into" % count, out.stdout)
        merged = self.increments(snap)
        self.assertEqual(len(merged), n - count + groups)
        self.assertEqual(self.apply_by_hand(snap), live)
        with open(os.path.join(self.w.backups, "operations.log")) as f:
            self.assertIn("compact", f.read())

        # A new chain from now on, and the old one 30 hours back: it still
        # serves the window's start, so it and its snapshot (a change backup
        # older than keep_change) stay, for that reason.
        snap = shift_chain(self.w.backups, snap, 28 * 3600)
        new = self.cbsync("backup")
        self.assertEqual(new.returncode, 0, new.stderr)
        out = self.cbsync("prune", "--dry-run")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertRegex(out.stdout, r"keep    %s  \(its increments reach into "
                         r"keep_increments 1d\)" % re.escape(snap))
        self.assertIn("keep    chain %s" % snap, out.stdout)

        # Two days back, with the next base 25 hours back: the window no
        # longer reaches it, its increments go; the snapshot follows its own
        # rules (here: the newest change backup).
        snap2 = shift_chain(self.w.backups, snap, 20 * 3600)
        manual = os.path.basename(glob.glob(os.path.join(self.w.backups,
                                                         "cloudbrain_manual_*.db.gz"))[0])
        shift_chain(self.w.backups, manual, 25 * 3600)
        out = self.cbsync("prune", "--dry-run")
        self.assertIn("delete  chain %s" % snap2, out.stdout)
        self.assertIn("older than keep_increments 1d", out.stdout)
        self.assertRegex(out.stdout, r"Dry run: would delete 1 chain of increments")
        self.assertTrue(self.increments(snap2))
        out = self.cbsync("prune")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("Deleted chain %s" % snap2, out.stdout)
        self.assertEqual(self.increments(snap2), [])
        # The audit trail names the chain that went, with its tier.
        with open(os.path.join(self.w.backups, "operations.log")) as f:
            self.assertRegex(f.read(), r" delete increments/%s/ ok [0-9.]+s chain %s: "
                             % (re.escape(snap2[:-len(".db.gz")]), re.escape(snap2)))
        self.assertFalse(os.path.exists(
            os.path.join(self.w.backups, "increments", snap2[:-len(".db.gz")])))
        self.assertTrue(os.path.exists(os.path.join(self.w.backups, snap2)))
        self.assertIn("keep    %s  (newest change backup)" % snap2,
                      self.cbsync("prune", "--dry-run").stdout)

    def test_each_remote_keeps_its_own_window(self):
        """[remote] keep_increments: a remote with a 1-hour window neither
        gets nor keeps a chain that only times 5 hours back need, which the
        local tier and a remote on the local window (24h) keep."""
        make_db(self.w.db, rows=100)
        snap, _ = self.make_chain(3)
        snap = shift_chain(self.w.backups, snap, 5 * 3600)
        self.assertEqual(self.cbsync("backup").returncode, 0)
        manual = os.path.basename(glob.glob(os.path.join(self.w.backups,
                                                         "cloudbrain_manual_*.db.gz"))[0])
        shift_chain(self.w.backups, manual, 3 * 3600)
        short, wide = self.w.path("short"), self.w.path("wide")
        os.makedirs(short)
        os.makedirs(wide)
        self.extra = (f'[remote "short"]\ntype = local\npath = {short}\nkeep_increments = 1h\n'
                      f'[remote "wide"]\ntype = local\npath = {wide}\n')
        out = self.cbsync("push")
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        stem = snap[:-len(".db.gz")]
        n = len(self.increments(snap))
        self.assertEqual(len(glob.glob(os.path.join(wide, "increments", stem, "*.wal.gz"))), n)
        self.assertEqual(glob.glob(os.path.join(short, "increments", stem, "*")), [])
        # Put there by another hand: the short window's prune removes it.
        shutil.copytree(os.path.join(self.w.backups, "increments", stem),
                        os.path.join(short, "increments", stem))
        out = self.cbsync("prune", "--tier", "short")
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertRegex(out.stdout, r"Deleted chain %s: .*\(older than keep_increments 1h\)"
                         % re.escape(snap))
        self.assertEqual(glob.glob(os.path.join(short, "increments", stem, "*")), [])
        for tier in ("wide", "local"):
            out = self.cbsync("prune", "--tier", tier, "--dry-run")
            self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
            self.assertIn("keep    chain %s" % snap, out.stdout, tier)
        self.assertEqual(len(self.increments(snap)), n)

    def test_orphan_chain_and_foreign_files(self):
        make_db(self.w.db, rows=100)
        snap, _ = self.make_chain(3)
        snap = shift_chain(self.w.backups, snap, 3 * 86400)
        # The snapshot is gone (deleted by hand); a newer base exists; a file
        # that is not cbsync's sits in the chain's folder.
        os.remove(os.path.join(self.w.backups, snap))
        os.remove(os.path.join(self.w.backups, snap + ".json"))
        folder = os.path.join(self.w.backups, "increments", snap[:-len(".db.gz")])
        with open(os.path.join(folder, "notes.txt"), "w") as f:
            f.write("mine\n")
        # Another database's chain, as old, is never touched.
        other = os.path.join(self.w.backups, "increments", "otherdb" + snap[len("cloudbrain"):-6])
        shutil.copytree(folder, other)
        self.assertEqual(self.cbsync("backup").returncode, 0)
        out = self.cbsync("prune")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("Deleted chain %s" % snap, out.stdout)
        self.assertEqual(self.increments(snap), [])
        self.assertTrue(os.path.exists(os.path.join(folder, "notes.txt")))
        self.assertTrue(glob.glob(os.path.join(other, "*.wal.gz")))


    def test_rollups(self):
        """Ended minutes (and ten minutes) of one-second increments are
        rolled up beside them: every state stays restorable, a restore of
        the newest reads fewer bytes, verify checks the roll-ups, a damaged
        one is left out, and retention takes them with their chain."""
        make_db(self.w.db, rows=300)
        snap, live = self.make_chain(12)
        # Half an hour ago (younger than an hour: kept as cut), the
        # increments 20 s apart: three or four to a minute.
        snap0 = snap
        snap = shift_name(snap0, 1800)
        with open(os.path.join(self.w.backups, snap0 + ".json")) as f:
            meta = json.load(f)
        start = unstamp(STAMP.search(snap).group(1))
        meta["name"] = snap
        meta["created"] = datetime.fromtimestamp(start, timezone.utc).strftime(
            "%Y-%m-%dT%H:%M:%SZ")
        meta.pop("state_time", None)
        with open(os.path.join(self.w.backups, snap + ".json"), "w") as f:
            json.dump(meta, f)
        os.remove(os.path.join(self.w.backups, snap0 + ".json"))
        os.rename(os.path.join(self.w.backups, snap0), os.path.join(self.w.backups, snap))
        retime_chain(self.w.backups, snap0, snap, lambda k, last: start + 20 * k - int(last))
        n = len(self.increments(snap))
        self.assertEqual(self.apply_by_hand(snap), live)

        out = self.cbsync("prune")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertNotIn("cannot compact", out.stderr)
        rdir = os.path.join(self.w.backups, "increments", snap[:-len(".db.gz")], "rollups")
        rollups = sorted(glob.glob(os.path.join(rdir, "*.wal.gz")))
        self.assertGreaterEqual(len(rollups), 3, os.listdir(os.path.dirname(rdir)))
        self.assertEqual(len(self.increments(snap)), n, "roll-ups replace nothing")
        self.assertEqual(self.apply_by_hand(snap), live)
        # list counts increments, not roll-ups
        self.assertIn("%s: %d increments" % (snap, n), self.cbsync("list").stdout)

        # The newest state through the roll-ups: fewer bytes, the same state.
        dry = self.cbsync("restore", "--latest", "--dry-run")
        self.assertEqual(dry.returncode, 0, dry.stderr)
        self.assertIn("/rollups/", dry.stdout)
        read = int(re.search(r"Would read: .*\((\d+) bytes\)", dry.stdout).group(1))
        fine = sum(os.path.getsize(p) for p in self.increments(snap))
        fine += os.path.getsize(os.path.join(self.w.backups, snap))
        self.assertLess(read, fine)
        target = self.w.path("latest.db")
        out = self.cbsync("restore", "--latest", "--to", target)
        self.assertEqual(out.returncode, 0, out.stderr)
        with open(target, "rb") as f:
            self.assertEqual(state_checksum(f.read(), 4096), live)

        # Every increment's own state, at its own time, inside rolled-up
        # minutes too.
        for inc in self.increments(snap)[:-1]:
            with open(inc + ".json") as f:
                m = json.load(f)
            target = self.w.path("at-%d.db" % m["seq_first"])
            # its state is at the millisecond after its last transaction
            t = datetime.strptime(m["last_tx"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
                tzinfo=timezone.utc)
            at = (t + timedelta(milliseconds=1)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
            out = self.cbsync("restore", "--at", at, "--to", target)
            self.assertEqual(out.returncode, 0, out.stderr)
            with open(target, "rb") as f:
                self.assertEqual(state_checksum(f.read(), 4096), m["state_checksum"], inc)

        out = self.cbsync("verify")
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertRegex(out.stdout, r"\+ %d increments and \d+ roll-ups" % n)

        # A damaged roll-up on the way: restore goes without it, verify names it.
        used = [l.strip() for l in dry.stdout.splitlines() if "/rollups/" in l][0]
        path = os.path.join(self.w.backups, used)
        with open(path, "r+b") as f:
            f.seek(os.path.getsize(path) // 2)
            b = f.read(1)
            f.seek(-1, 1)
            f.write(bytes([b[0] ^ 0x5A]))
        target = self.w.path("latest2.db")
        out = self.cbsync("restore", "--latest", "--to", target)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("restoring without that roll-up", out.stderr)
        self.assertIn(os.path.basename(used), out.stderr)
        with open(target, "rb") as f:
            self.assertEqual(state_checksum(f.read(), 4096), live)
        out = self.cbsync("verify")
        self.assertEqual(out.returncode, 5, out.stdout + out.stderr)
        self.assertIn("roll-up '%s'" % used, out.stdout)

        # Retention takes the chain with its roll-ups (once a newer base
        # serves the window's start).
        snap = shift_chain(self.w.backups, snap, 3 * 86400)
        self.assertEqual(self.cbsync("backup").returncode, 0)
        manual = os.path.basename(glob.glob(os.path.join(self.w.backups,
                                                         "cloudbrain_manual_*.db.gz"))[0])
        shift_chain(self.w.backups, manual, 2 * 86400)
        out = self.cbsync("prune")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("Deleted chain %s: %d increments" % (snap, n), out.stdout)
        self.assertFalse(os.path.exists(
            os.path.join(self.w.backups, "increments", snap[:-len(".db.gz")])))

    def test_rebase_share(self):
        """A chain that outgrows rebase_share of its snapshot ends: the next
        capture takes a new snapshot, which starts a new chain."""
        make_db(self.w.db, rows=300)
        conf = self.conf()
        with open(conf) as f:
            text = f.read()
        with open(conf, "w") as f:
            f.write(text.replace("rebase_share = off", "rebase_share = 1%"))
        agent = start_cbsync(self.w.root, "agent", "--config", conf,
                             stderr=subprocess.PIPE)
        self.addCleanup(lambda: agent.poll() is None and agent.kill())
        writer = Writer(self.w.db)
        try:
            deadline = time.time() + 60
            while time.time() < deadline:
                snaps = glob.glob(os.path.join(self.w.backups, "cloudbrain_change_*.db.gz"))
                if len(snaps) >= 2:
                    break
                time.sleep(0.3)
        finally:
            writer.stop()
        agent.send_signal(signal.SIGTERM)
        _, err = agent.communicate(timeout=60)
        self.assertEqual(agent.returncode, 0, err)
        snaps = sorted(glob.glob(os.path.join(self.w.backups, "cloudbrain_change_*.db.gz")))
        self.assertGreaterEqual(len(snaps), 2, err)
        self.assertRegex(err, r"a new chain: the increments since cloudbrain_change_\S+ add up "
                              r"to \d+% of it \(rebase_share 1%\)")
        # the first chain has what it had when it ended, and applies
        first = os.path.basename(snaps[0])
        self.assertTrue(self.increments(first))
        self.apply_by_hand(first)


if __name__ == "__main__":
    main()
