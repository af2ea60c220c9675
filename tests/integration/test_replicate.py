"""Increments from the agent ([replicate] enabled), applied by hand.

The agent captures a busy database's changes as increments; the chain is
then replayed with nothing but gunzip and the sqlite3 shell, exactly as the
README's recipe says: the snapshot, then each increment as DB-wal, let SQLite
recover and checkpoint it.  Every state reached is one the writer committed,
its state checksum is the one the increment's metadata records, and the last
is the live database."""
import glob
import json
import os
import signal
import sqlite3
import subprocess
import time

from harness import (CbsyncTest, Writer, consistent_counts, dump, integrity, main, make_db,
                     start_cbsync, write_agent_config)
from test_state_checksum import state_checksum

def by_hand(src_gz, dst):
    with open(dst, "wb") as out:
        subprocess.run(["gunzip", "-c", src_gz], stdout=out, check=True)


def live_state(db, scratch):
    """A consistent copy of the live database, as a file, through the backup
    API (which rewrites page 1's change counter, schema cookie and
    version-valid-for number: its state checksum equals a chain's only when
    the chain's page 1 came from a page diff or a snapshot, as after the
    writer's close removed the WAL)."""
    if os.path.exists(scratch):
        os.remove(scratch)
    src = sqlite3.connect(db)
    dst = sqlite3.connect(scratch)
    src.backup(dst)
    dst.close()
    src.close()
    with open(scratch, "rb") as f:
        return f.read()


class ReplicateTest(CbsyncTest):
    def chain(self):
        path = os.path.join(self.w.backups, ".cbsync-chain", "cloudbrain.json")
        if not os.path.exists(path):
            return None
        with open(path) as f:
            return json.load(f)

    def settle(self, timeout=60):
        """Wait until the chain stops moving: the agent has caught up.  (Its
        state checksum cannot be compared with a copy of the live database:
        increments from WAL frames carry the live page 1, whose header the
        backup API rewrites in a copy.  The content is compared instead.)"""
        last, since = None, time.time()
        deadline = time.time() + timeout
        while time.time() < deadline:
            c = self.chain()
            if c != last:
                last, since = c, time.time()
            elif c and time.time() - since > 3:
                return c
            time.sleep(0.3)
        self.fail("the chain kept moving")

    def increments(self, snapshot):
        folder = os.path.join(self.w.backups, "increments", snapshot[:-len(".db.gz")])
        return sorted(glob.glob(os.path.join(folder, "*.wal.gz")))

    def test_chain_applied_by_hand(self):
        make_db(self.w.db, rows=300)
        base_m, base_i, _ = consistent_counts(self.w.db, 0)
        conf = write_agent_config(self.w.path("cbsync.conf"), self.w.db, self.w.backups,
                                  rebase_share="off")
        agent = start_cbsync(self.w.root, "agent", "--config", conf)
        self.addCleanup(lambda: agent.poll() is None and agent.kill())

        writer = Writer(self.w.db)
        try:
            deadline = time.time() + 90
            while time.time() < deadline:
                c = self.chain()
                if c and len(self.increments(c["snapshot"])) >= 4:
                    break
                time.sleep(0.2)
        finally:
            n = writer.stop()
        c = self.chain()
        self.assertIsNotNone(c, "the agent started no chain")
        self.assertGreaterEqual(len(self.increments(c["snapshot"])), 4)

        # Once the writer stops, the chain reaches the live state.
        self.settle()
        agent.send_signal(signal.SIGTERM)
        self.assertEqual(agent.wait(timeout=60), 0)

        # The page-hash table was written whole once, at the chain's start;
        # each increment appended its pages' hashes to the log beside it.
        table = os.path.join(self.w.backups, ".cbsync-chain", "cloudbrain.pagesum")
        log = table + "-log"
        # A record is 56 bytes plus 12 a page, after a 48-byte header; the
        # log holds the newest increments (one that changed over half the
        # pages saves the table whole instead).
        pages = []
        for inc in self.increments(self.chain()["snapshot"]):
            with open(inc + ".json") as f:
                pages.append(json.load(f)["pages"])
        self.assertTrue(os.path.exists(log), os.listdir(os.path.dirname(table)))
        size = os.path.getsize(log)
        held = [k for k in range(1, len(pages) + 1)
                if size == 48 + sum(56 + 12 * p for p in pages[-k:])]
        self.assertTrue(held and held[0] >= 2, (size, pages))
        self.assertLessEqual(os.path.getmtime(table), os.path.getmtime(log))

        # The recipe: gunzip the snapshot, then each increment as DB-wal.
        c = self.chain()
        work = self.w.path("by-hand")
        os.makedirs(work)
        db = os.path.join(work, "cloudbrain.db")
        by_hand(os.path.join(self.w.backups, c["snapshot"]), db)
        seen = []
        for inc in self.increments(c["snapshot"]):
            with open(inc + ".json") as f:
                meta = json.load(f)
            by_hand(inc, db + "-wal")
            out = subprocess.run(["sqlite3", db, "PRAGMA wal_checkpoint(TRUNCATE);"],
                                 capture_output=True, text=True, check=True)
            self.assertEqual(out.stdout.strip(), "0|0|0", inc)
            for side in ("-wal", "-shm"):
                if os.path.exists(db + side):
                    os.remove(db + side)
            with open(db, "rb") as f:
                self.assertEqual(state_checksum(f.read(), meta["page_size"]),
                                 meta["state_checksum"], inc)
            self.assertEqual(integrity(db), "ok")
            m, i, k = consistent_counts(db, base_m, base_i)
            self.assertEqual((m, i), (k, k), f"{inc}: not a committed state")
            seen.append(k)
        self.assertEqual(seen, sorted(seen))
        self.assertEqual(seen[-1], n)
        with open(db, "rb") as f:
            self.assertEqual(state_checksum(f.read(), 4096), c["checksum"])
        self.assertEqual(dump(db), dump(self.w.db))

        # The chain's metadata links each increment to the one before.
        prev = None
        for k, inc in enumerate(self.increments(c["snapshot"]), 1):
            with open(inc + ".json") as f:
                meta = json.load(f)
            self.assertEqual(meta["seq_first"], k)
            self.assertEqual(meta["prev"], prev)
            self.assertEqual(meta["snapshot"], c["snapshot"])
            prev = meta["name"]
        # None of it is taken for a backup by the seed's list view.
        names = [b["name"] for b in self.w.list_json()]
        self.assertEqual(names, [c["snapshot"]])

    def test_kill_loop(self):
        """kill -9 at random moments while a writer commits: every restart
        continues the chain or starts a new one from a snapshot, and the
        newest chain still replays by hand to the live database."""
        import random
        make_db(self.w.db, rows=300)
        base_m, base_i, _ = consistent_counts(self.w.db, 0)
        conf = write_agent_config(self.w.path("cbsync.conf"), self.w.db, self.w.backups,
                                  rebase_share="off")
        rng = random.Random(12)
        writer = Writer(self.w.db)
        try:
            for _ in range(6):
                agent = start_cbsync(self.w.root, "agent", "--config", conf)
                time.sleep(rng.uniform(0.5, 3.0))
                agent.kill()
                agent.wait(timeout=30)
        finally:
            n = writer.stop()
        agent = start_cbsync(self.w.root, "agent", "--config", conf)
        self.addCleanup(lambda: agent.poll() is None and agent.kill())
        self.settle()
        agent.send_signal(signal.SIGTERM)
        self.assertEqual(agent.wait(timeout=60), 0)
        c = self.chain()

        work = self.w.path("by-hand")
        os.makedirs(work)
        db = os.path.join(work, "cloudbrain.db")
        by_hand(os.path.join(self.w.backups, c["snapshot"]), db)
        for k, inc in enumerate(self.increments(c["snapshot"]), 1):
            with open(inc + ".json") as f:
                meta = json.load(f)
            self.assertEqual(meta["seq_first"], k, "a gap or a repeat in the chain")
            by_hand(inc, db + "-wal")
            subprocess.run(["sqlite3", db, "PRAGMA wal_checkpoint(TRUNCATE);"],
                           capture_output=True, check=True)
            for side in ("-wal", "-shm"):
                if os.path.exists(db + side):
                    os.remove(db + side)
            with open(db, "rb") as f:
                self.assertEqual(state_checksum(f.read(), 4096), meta["state_checksum"])
            m, i, k2 = consistent_counts(db, base_m, base_i)
            self.assertEqual((m, i), (k2, k2))
        with open(db, "rb") as f:
            self.assertEqual(state_checksum(f.read(), 4096), c["checksum"])
        self.assertEqual(consistent_counts(db, base_m, base_i)[2], n)
        self.assertEqual(dump(db), dump(self.w.db))
        # Nothing half-written stayed behind.
        for root, _, files in os.walk(self.w.backups):
            self.assertEqual([f for f in files if f.startswith(".cbsync-tmp-")], [], root)


if __name__ == "__main__":
    main()
