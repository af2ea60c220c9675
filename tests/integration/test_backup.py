"""cbsync backup: the seed's invocations, the file it makes, and its failures."""
import gzip
import json
import os
import re
import signal
import stat
import subprocess
import time

from harness import (CBSYNC, CbsyncTest, Writer, consistent_counts, db_rows, dump,
                     gunzip_to, hold_lock, integrity, main, make_db, read_bytes,
                     run_on_a_terminal, sha256_file, temp_files)

NAME_RE = re.compile(r"^cloudbrain_(manual|daily|weekly|monthly)_\d{8}_\d{6}\.db\.gz$")


class BackupTest(CbsyncTest):
    def test_seed_invocation_makes_a_plain_gzip_of_the_database(self):
        make_db(self.w.db, rows=300)
        p = self.w.ok("backup", "--type", "manual")
        self.assertIn("Backup created: ai_db/backups/cloudbrain_manual_", p.stdout)
        for word in ("Original size:", "Compressed size:", "Compression:", "Time taken:"):
            self.assertIn(word, p.stdout)
        files = self.w.backup_files()
        self.assertEqual(len(files), 1)
        self.assertRegex(files[0], NAME_RE)
        path = os.path.join(self.w.backups, files[0])
        # Restorable by hand with gunzip, read by the sqlite3 CLI.
        out = self.w.path("by-hand.db")
        gunzip_to(path, out)
        self.assertEqual(integrity(out), "ok")
        self.assertEqual(dump(out), dump(self.w.db))
        # Python's gzip module reads it too.
        with gzip.open(path) as g:
            self.assertEqual(g.read(16), b"SQLite format 3\x00")

    def test_file_modes_and_metadata(self):
        make_db(self.w.db)
        path = self.w.backup()
        self.assertEqual(stat.S_IMODE(os.stat(self.w.backups).st_mode), 0o700)
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        meta_path = path + ".json"
        self.assertEqual(stat.S_IMODE(os.stat(meta_path).st_mode), 0o600)
        with open(meta_path) as f:
            meta = json.load(f)
        self.assertEqual(meta["name"], os.path.basename(path))
        self.assertEqual(meta["type"], "manual")
        self.assertEqual(meta["database"], "cloudbrain")
        self.assertRegex(meta["created"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        stamp = os.path.basename(path)[len("cloudbrain_manual_"):-len(".db.gz")]
        self.assertEqual(meta["created"].replace("-", "").replace(":", "").replace("T", "_")
                         .rstrip("Z"), stamp)
        self.assertEqual(meta["compressed_size"], os.path.getsize(path))
        self.assertEqual(meta["sha256"], sha256_file(path))
        out = self.w.path("x.db")
        gunzip_to(path, out)
        self.assertEqual(meta["original_size"], os.path.getsize(out))
        self.assertEqual(meta["page_size"] * meta["page_count"], meta["original_size"])
        expected_ratio = (1 - meta["compressed_size"] / meta["original_size"]) * 100
        self.assertAlmostEqual(meta["compression_ratio"], expected_ratio, places=1)
        self.assertEqual(meta["tool"], "cbsync")
        self.assertTrue(meta["version"])

    def test_every_scheduled_type(self):
        make_db(self.w.db)
        for t in ("manual", "daily", "weekly", "monthly"):
            path = self.w.backup("--type", t)
            self.assertIn(f"cloudbrain_{t}_", os.path.basename(path))
        self.assertEqual(len(self.w.backup_files()), 4)
        types = sorted(b["type"] for b in self.w.list_json())
        self.assertEqual(types, ["daily", "manual", "monthly", "weekly"])

    def test_two_backups_in_one_second_get_distinct_names(self):
        make_db(self.w.db)
        names = {os.path.basename(self.w.backup()) for _ in range(3)}
        self.assertEqual(len(names), 3)
        self.assertEqual(len(self.w.backup_files()), 3)

    def test_two_processes_at_once_both_succeed(self):
        make_db(self.w.db, rows=2000)
        procs = [subprocess.Popen([CBSYNC, "backup"], cwd=self.w.root,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(2)]
        for p in procs:
            out, errs = p.communicate(timeout=60)
            self.assertEqual(p.returncode, 0, errs)
        self.assertEqual(len(self.w.backup_files()), 2)
        for f in self.w.backup_files():
            gunzip_to(os.path.join(self.w.backups, f), self.w.path("c.db"))
            self.assertEqual(integrity(self.w.path("c.db")), "ok")
            os.unlink(self.w.path("c.db"))

    def test_db_and_dir_flags_and_environment(self):
        other_db = self.w.path("data", "notes_db.db")
        make_db(other_db)
        self.w.ok("backup", "--db", other_db, "--dir", self.w.path("elsewhere"))
        self.assertEqual(len(self.w.backup_files(self.w.path("elsewhere"))), 1)
        self.assertTrue(self.w.backup_files(self.w.path("elsewhere"))[0]
                        .startswith("notes_db_manual_"))
        env = {"CBSYNC_DB": other_db, "CBSYNC_BACKUP_DIR": self.w.path("from-env")}
        self.w.ok("backup", env=env)
        self.assertEqual(len(self.w.backup_files(self.w.path("from-env"))), 1)
        # Flags beat the environment.
        self.w.ok("backup", "--dir", self.w.path("flag-wins"), env=env)
        self.assertEqual(len(self.w.backup_files(self.w.path("flag-wins"))), 1)

    def test_database_not_found(self):
        p = self.w.run("backup", "--type", "manual")
        line = self.assertFails(p, 4)
        self.assertEqual(line, "Error: Database not found: ai_db/cloudbrain.db")
        self.assertFalse(os.path.exists(self.w.backups))

    def test_file_that_is_not_a_database(self):
        os.makedirs(os.path.dirname(self.w.db))
        with open(self.w.db, "wb") as f:
            f.write(b"this is a text file, not a database\n" * 200)
        before = read_bytes(self.w.db)
        p = self.w.run("backup")
        self.assertFails(p, 5, "not a SQLite database")
        self.assertEqual(read_bytes(self.w.db), before)
        self.assertEqual(self.w.backup_files(), [])
        self.assertNoTempFiles()

    def test_unknown_type_and_flags(self):
        make_db(self.w.db)
        self.assertFails(self.w.run("backup", "--type", "hourly"), 2,
                         "unknown backup type 'hourly'")
        self.assertFails(self.w.run("backup", "--type", "restore_point"), 2)
        self.assertFails(self.w.run("backup", "--frobnicate"), 2, "unknown option '--frobnicate'")
        self.assertFails(self.w.run("backup", "--dry-run"), 2, "does not apply to 'backup'")
        self.assertFails(self.w.run("backup", "--type"), 2, "needs a value")
        self.assertFails(self.w.run("backup", "extra"), 2, "unexpected argument")
        self.assertEqual(self.w.backup_files(), [])

    def test_unwritable_backup_directory(self):
        make_db(self.w.db)
        os.makedirs(self.w.backups, mode=0o755)
        os.chmod(os.path.dirname(self.w.db), 0o755)
        os.chmod(self.w.db, 0o644)
        before = read_bytes(self.w.db)
        # Run as an unprivileged user: root ignores permissions.
        p = self.w.run("backup", prefix=("setpriv", "--reuid=65534", "--regid=65534",
                                          "--clear-groups"))
        line = self.assertFails(p, 6)
        self.assertEqual(line, "Error: [Errno 13] Permission denied: 'ai_db/backups'")
        self.assertEqual(read_bytes(self.w.db), before)
        self.assertEqual(os.listdir(self.w.backups), [])

    def test_database_and_wal_untouched_by_a_backup(self):
        make_db(self.w.db, rows=500)
        # Keep a connection open so the WAL holds frames the backup must read.
        import sqlite3
        con = sqlite3.connect(self.w.db, isolation_level=None)
        con.execute("PRAGMA wal_autocheckpoint=0")
        con.execute("INSERT INTO ai_messages(content) VALUES ('only in the wal')")
        db_before = read_bytes(self.w.db)
        wal_before = read_bytes(self.w.db + "-wal")
        path = self.w.backup()
        self.assertEqual(read_bytes(self.w.db), db_before)
        self.assertEqual(read_bytes(self.w.db + "-wal"), wal_before)
        out = self.w.path("x.db")
        gunzip_to(path, out)
        self.assertEqual(db_rows(out), 501)
        con.close()

    def test_consistent_under_a_concurrent_writer(self):
        for journal in ("wal", "delete"):
            with self.subTest(journal=journal):
                db = self.w.path(journal, "cloudbrain.db")
                base = make_db(db, rows=3000, journal=journal)
                writer = Writer(db, journal)
                paths = []
                try:
                    for _ in range(4):
                        p = self.w.run("backup", "--db", db, "--dir", self.w.path(journal, "b"))
                        self.assertEqual(p.returncode, 0, p.stderr)
                        paths.append(p.stdout.split("Backup created: ")[1].split("\n")[0])
                        time.sleep(0.2)
                finally:
                    written = writer.stop()
                self.assertGreater(written, 0)
                seen = set()
                for rel in paths:
                    out = self.w.path(journal, "restored.db")
                    gunzip_to(os.path.join(self.w.root, rel), out)
                    self.assertEqual(integrity(out), "ok")
                    m, i, n = consistent_counts(out, base)
                    self.assertEqual((m, i), (n, n), "snapshot is not one committed state")
                    seen.add(n)
                    os.unlink(out)
                self.assertGreater(max(seen), 0)

    def test_kill_9_during_a_backup_leaves_nothing_listed(self):
        make_db(self.w.db, rows=10, random_bytes=96 << 20)
        proc = subprocess.Popen([CBSYNC, "backup"], cwd=self.w.root,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 30
        while time.time() < deadline:
            if os.path.isdir(self.w.backups) and any(
                    f.startswith(".cbsync-tmp-") and os.path.getsize(
                        os.path.join(self.w.backups, f)) > (1 << 20)
                    for f in os.listdir(self.w.backups)):
                break
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        self.assertEqual(self.w.backup_files(), [])
        self.assertEqual(self.w.list_json(), [])
        self.assertTrue(any(f.startswith(".cbsync-tmp-") for f in self.w.all_files()),
                        "the kill came too late to test anything")
        # The next run tidies up and works.
        path = self.w.backup()
        self.assertNoTempFiles()
        self.assertEqual(len(self.w.backup_files()), 1)
        gunzip_to(path, self.w.path("after.db"))
        self.assertEqual(integrity(self.w.path("after.db")), "ok")

    def test_sigterm_during_a_backup_removes_the_temp_file(self):
        make_db(self.w.db, rows=10, random_bytes=64 << 20)
        proc = subprocess.Popen([CBSYNC, "backup"], cwd=self.w.root,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 30
        while time.time() < deadline and not (os.path.isdir(self.w.backups) and any(
                f.startswith(".cbsync-tmp-") for f in os.listdir(self.w.backups))):
            time.sleep(0.01)
        proc.send_signal(signal.SIGTERM)
        out, errs = proc.communicate(timeout=30)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("interrupted", errs)
        self.assertEqual(self.w.backup_files(), [])
        self.assertNoTempFiles()

    def test_operations_log_and_stderr_line(self):
        make_db(self.w.db)
        p = self.w.ok("backup")
        name = self.w.backup_files()[0]
        self.assertRegex(p.stderr, r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ backup " + re.escape(name)
                         + r" ok \d+\.\d\ds\n$")
        with open(os.path.join(self.w.backups, "operations.log")) as f:
            lines = f.read().splitlines()
        self.assertEqual(len(lines), 1)
        self.assertIn(f"backup {name} ok", lines[0])
        # Failures are logged too.
        os.rename(self.w.db, self.w.db + ".away")
        self.w.run("backup")
        with open(os.path.join(self.w.backups, "operations.log")) as f:
            last = f.read().splitlines()[-1]
        self.assertRegex(last, r"backup - failed \d+\.\d\ds not_found: Database not found: "
                               r"ai_db/cloudbrain.db$")

    def test_progress_only_on_a_terminal(self):
        make_db(self.w.db, rows=10, random_bytes=48 << 20)
        p = self.w.ok("backup")
        self.assertNotIn("\r", p.stderr)
        self.assertNotIn("%", p.stderr)
        # Under a pseudo-terminal a backup of more than a second draws progress.
        # The parallel compressor may finish 48 MiB well within a second, so
        # the backup is paused once it has started writing: it then has run
        # for more than a second, however fast this machine is.
        def writing():
            tmps = temp_files(self.w.backups)
            try:
                return bool(tmps) and os.path.getsize(
                    os.path.join(self.w.backups, tmps[0])) > 0
            except FileNotFoundError:
                return False
        code, shown = run_on_a_terminal(self.w.root, ["backup"], stop_when=writing)
        self.assertEqual(code, 0)
        self.assertIn("\rbackup ", shown)
        self.assertRegex(shown, r"\d+% +\d+\.\d MiB/s +\d+:\d\d left")

    def test_waits_for_another_cbsync_then_proceeds(self):
        make_db(self.w.db)
        fd = hold_lock(self.w.backups)
        proc = subprocess.Popen([CBSYNC, "backup"], cwd=self.w.root, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        time.sleep(1.0)
        self.assertIsNone(proc.poll(), "backup did not wait for the lock")
        os.close(fd)
        out, errs = proc.communicate(timeout=30)
        self.assertEqual(proc.returncode, 0, errs)
        self.assertEqual(len(self.w.backup_files()), 1)

    def test_gives_up_on_a_held_lock_with_a_clear_line(self):
        make_db(self.w.db)
        fd = hold_lock(self.w.backups)
        try:
            p = self.w.run("backup")
        finally:
            os.close(fd)
        self.assertFails(p, 7, "another cbsync is working on 'ai_db/backups' (pid 4242, backup)")
        self.assertEqual(self.w.backup_files(), [])


if __name__ == "__main__":
    main()
