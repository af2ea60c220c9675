"""The parallel gzip pipeline's output: an ordinary gzip of a consistent
snapshot, whatever the page size, size, journal mode and thread count."""
import glob
import gzip
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import zlib

from harness import (CBSYNC, CbsyncTest, gunzip_to, integrity, main, read_bytes,
                     start_cbsync, write_agent_config)

WRITER = r"""
import sqlite3, sys, os
path, start, stop = sys.argv[1], int(sys.argv[2]), sys.argv[3]
con = sqlite3.connect(path, timeout=60, isolation_level=None)
i = start
print("ready", flush=True)
while not os.path.exists(stop):
    con.execute("BEGIN IMMEDIATE")
    con.execute("INSERT INTO t(k, v) VALUES (?, ?)", (i, ("row %d " % i) * (i % 37 + 1)))
    con.execute("UPDATE t SET v = v || '+' WHERE k = ?", (i // 3,))
    con.execute("UPDATE meta SET n = ?", (i + 1,))
    con.execute("COMMIT")
    i += 1
"""


def make(path, page_size, journal, rows, blob_size=300):
    con = sqlite3.connect(path)
    con.execute(f"PRAGMA page_size={page_size}")
    con.execute(f"PRAGMA journal_mode={journal}")
    con.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)")
    con.execute("CREATE INDEX t_v ON t(v)")
    con.execute("CREATE TABLE meta (n INTEGER)")
    con.execute("INSERT INTO meta VALUES (0)")
    with con:
        con.executemany("INSERT INTO t(k, v) VALUES (?, ?)",
                        [(-i - 1, os.urandom(blob_size // 2).hex() if i % 4 == 0 else
                          ("text %d " % i) * 20) for i in range(rows)])
    con.close()


def replay(base, n_from, n_to, out):
    """The committed state after the writer's transactions n_from..n_to-1,
    made by replaying them on a copy of the base database."""
    shutil.copyfile(base, out)
    con = sqlite3.connect(out, isolation_level=None)
    for i in range(n_from, n_to):
        con.execute("BEGIN")
        con.execute("INSERT INTO t(k, v) VALUES (?, ?)", (i, ("row %d " % i) * (i % 37 + 1)))
        con.execute("UPDATE t SET v = v || '+' WHERE k = ?", (i // 3,))
        con.execute("UPDATE meta SET n = ?", (i + 1,))
        con.execute("COMMIT")
    con.close()


def dump(path):
    return subprocess.run(["sqlite3", path, ".dump"], capture_output=True, text=True,
                          check=True).stdout


class FormatTest(CbsyncTest):
    def backup(self, db, threads="auto", level="6"):
        out = self.w.path("b-" + os.path.basename(db))
        p = self.w.run("backup", "--db", db, "--dir", out, "--no-sync",
                       env={"CBSYNC_LOCAL_THREADS": threads, "CBSYNC_LOCAL_COMPRESSION": level})
        self.assertEqual(p.returncode, 0, p.stderr)
        path = p.stdout.split("Backup created: ")[1].split("\n")[0]
        return path if os.path.isabs(path) else os.path.join(self.w.root, path)

    def assert_plain_gzip_of(self, gz, expected_bytes):
        raw = read_bytes(gz)
        by_python = gzip.decompress(raw)
        by_zlib = zlib.decompress(raw, 31)   # one member: one-shot zlib reads it all
        out = self.w.path("gunzipped.db")
        gunzip_to(gz, out)
        by_gunzip = read_bytes(out)
        os.unlink(out)
        by_igzip = subprocess.run(["igzip", "-d", "-c", gz], capture_output=True,
                                  check=True).stdout   # ISA-L's own command
        self.assertEqual(by_python, by_gunzip)
        self.assertEqual(by_zlib, by_gunzip)
        self.assertEqual(by_igzip, by_gunzip)
        if expected_bytes is not None:
            self.assertEqual(by_gunzip, expected_bytes)
        return by_gunzip

    def test_page_sizes_journal_modes_and_threads(self):
        for page_size in (512, 1024, 4096, 16384, 65536):
            for journal in ("wal", "delete"):
                with self.subTest(page_size=page_size, journal=journal):
                    db = self.w.path(f"p{page_size}-{journal}.db")
                    make(db, page_size, journal, rows=700 + page_size // 512)
                    # Not a multiple of the 128 KiB compression block.
                    con = sqlite3.connect(db)
                    extra = 0
                    while (con.execute("PRAGMA page_count").fetchone()[0] * page_size) % (128 * 1024) == 0:
                        with con:
                            con.execute("INSERT INTO t(k, v) VALUES (?, ?)",
                                        (10 ** 6 + extra, "x" * page_size))
                        extra += 1
                    con.close()
                    ref = self.w.path(f"ref-{page_size}-{journal}.db")
                    subprocess.run(["sqlite3", db, f".backup {ref}"], check=True)
                    expected = read_bytes(ref)
                    self.assertNotEqual(len(expected) % (128 * 1024), 0)
                    # Level 6 (zlib) on 1, 2 and 4 threads; the ISA-L
                    # levels (1-3) and 9 on 1 and 2.
                    runs = [(t, "6") for t in ("1", "2", "4")] + \
                        [(t, lvl) for lvl in ("1", "2", "3", "9") for t in ("1", "2")]
                    for threads, level in runs:
                        gz = self.backup(db, threads=threads, level=level)
                        self.assert_plain_gzip_of(gz, expected)
                        os.unlink(gz)
                        os.unlink(gz + ".json")

    def test_increments_at_every_level_are_plain_gzip(self):
        """An increment (a WAL file, gzip'd) at an ISA-L level and a zlib
        one reads back the same with every decoder, and holds a WAL."""
        for level in ("1", "3", "6", "9"):
            with self.subTest(level=level):
                shutil.rmtree(os.path.dirname(self.w.db), ignore_errors=True)
                os.makedirs(os.path.dirname(self.w.db))
                make(self.w.db, 4096, "wal", rows=300)
                conf = write_agent_config(self.w.path(f"agent-{level}.conf"), self.w.db,
                                          self.w.backups)
                agent = start_cbsync(self.w.root, "agent", "--config", conf,
                                     env={"CBSYNC_LOCAL_COMPRESSION": level})
                self.addCleanup(lambda a=agent: a.poll() is None and a.kill())
                con = sqlite3.connect(self.w.db, isolation_level=None)
                found = []
                deadline = time.time() + 60
                i = 0
                while len(found) < 3 and time.time() < deadline:
                    with con:
                        con.execute("INSERT INTO t(k, v) VALUES (?, ?)",
                                    (i, os.urandom(600).hex() + "text " * (200 + i)))
                    i += 1
                    time.sleep(0.4)
                    found = glob.glob(os.path.join(self.w.backups, "increments", "*",
                                                   "*.wal.gz"))
                con.close()
                agent.send_signal(signal.SIGTERM)
                _, err = agent.communicate(timeout=60)
                self.assertEqual(agent.returncode, 0, err)
                self.assertGreaterEqual(len(found), 3, "no increments were made")
                for inc in found:
                    wal = self.assert_plain_gzip_of(inc, None)
                    self.assertIn(wal[:4], (b"\x37\x7f\x06\x82", b"\x37\x7f\x06\x83"), inc)

    def test_one_page_and_empty_databases(self):
        one = self.w.path("one.db")
        con = sqlite3.connect(one)
        con.execute("PRAGMA user_version = 7")
        con.close()
        ref = self.w.path("one-ref.db")
        subprocess.run(["sqlite3", one, f".backup {ref}"], check=True)
        for level in ("1", "2", "3", "6", "9"):
            gz = self.backup(one, level=level)
            data = self.assert_plain_gzip_of(gz, read_bytes(ref))
            self.assertEqual(len(data), 4096)
            os.unlink(gz)
            os.unlink(gz + ".json")
        empty = self.w.path("empty.db")
        open(empty, "wb").close()
        data = self.assert_plain_gzip_of(self.backup(empty), None)
        self.assertEqual(data[:16], b"SQLite format 3\x00")

    def test_levels_trade_size_for_speed(self):
        db = self.w.path("levels.db")
        make(db, 4096, "wal", rows=3000)
        sizes = {lvl: os.path.getsize(self.backup(db, level=lvl))
                 for lvl in ("1", "3", "4", "6", "9")}
        # zlib's levels (4-9): smaller as they go.
        self.assertGreater(sizes["4"], sizes["6"])
        self.assertGreaterEqual(sizes["6"], sizes["9"])
        # ISA-L's (1-3): far less CPU, in size near zlib's 6 (here smaller).
        for lvl in ("1", "3"):
            self.assertLessEqual(sizes[lvl], sizes["6"] * 1.10, lvl)
        # Level 6 is within 2% of gzip -6 of the same image.
        ref = self.w.path("lref.db")
        subprocess.run(["sqlite3", db, f".backup {ref}"], check=True)
        gz6 = len(subprocess.run(["gzip", "-6", "-c", ref], capture_output=True,
                                 check=True).stdout)
        self.assertLessEqual(sizes["6"], gz6 * 1.02)

    def test_consistent_under_concurrent_writers(self):
        for journal in ("wal", "delete"):
            with self.subTest(journal=journal):
                db = self.w.path(f"live-{journal}.db")
                make(db, 4096, journal, rows=2000)
                base = self.w.path(f"base-{journal}.db")
                subprocess.run(["sqlite3", db, f".backup {base}"], check=True)
                stop = db + ".stop"
                writer = subprocess.Popen([sys.executable, "-c", WRITER, db, "0", stop],
                                          stdout=subprocess.PIPE, text=True)
                self.assertEqual(writer.stdout.readline().strip(), "ready")
                try:
                    backups = [self.backup(db) for _ in range(3)]
                finally:
                    open(stop, "w").close()
                    writer.wait(timeout=60)
                    writer.stdout.close()
                for gz in backups:
                    data = self.assert_plain_gzip_of(gz, None)
                    snap = self.w.path("snap.db")
                    with open(snap, "wb") as f:
                        f.write(data)
                    self.assertEqual(integrity(snap), "ok")
                    con = sqlite3.connect(snap)
                    n = con.execute("SELECT n FROM meta").fetchone()[0]
                    con.close()
                    # Exactly the committed state after n transactions.
                    ref = self.w.path(f"replayed-{journal}-{n}.db")
                    replay(base, 0, n, ref)
                    self.assertEqual(dump(snap), dump(ref))
                    os.unlink(snap)


if __name__ == "__main__":
    main()
