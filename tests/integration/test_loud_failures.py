"""Nothing fails quietly, and killed runs leave no litter: temp files that a
sweep may and may not remove, restores killed in a loop, verify with nothing
to verify, the closing line of a backup with several remotes, and the hints a
newcomer needs.  Everything through the binary."""
import os
import signal
import time

from harness import (CbsyncTest, db_rows, integrity, main, make_db, read_bytes,
                     run_on_a_terminal, start_cbsync, temp_files as temps)


class TempFileTest(CbsyncTest):
    def start(self, *args, env=None):
        return start_cbsync(self.w.root, *args, env=env)

    def stop_when_temp_appears(self, proc, d, timeout=60):
        """SIGSTOP proc as soon as a temp file in d holds data (its writer
        has claimed it and is writing); the temp files' names."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and proc.poll() is None:
            found = temps(d)
            for f in found:
                try:
                    if os.path.getsize(os.path.join(d, f)) > 0:
                        proc.send_signal(signal.SIGSTOP)
                        return found
                except FileNotFoundError:
                    pass
            time.sleep(0.002)
        self.fail("no temp file with data appeared in " + d)

    def test_a_locked_operation_never_sweeps_a_running_verify(self):
        make_db(self.w.db, rows=100, random_bytes=24 << 20)
        path = self.w.backup()
        proc = self.start("verify", os.path.basename(path))
        try:
            found = self.stop_when_temp_appears(proc, self.w.backups)
            # Its writer alive but stopped, and old enough to be judged.
            time.sleep(5.5)
            self.w.ok("backup")
            self.w.ok("prune")
            self.assertEqual([f for f in found if f not in temps(self.w.backups)], [],
                             "a live verify's scratch file was swept")
        finally:
            proc.send_signal(signal.SIGCONT)
        out, err = proc.communicate(timeout=120)
        self.assertEqual(proc.returncode, 0, out + err)
        self.assertIn("ok      " + os.path.basename(path), out)
        self.assertNoTempFiles()

    def test_killed_restores_leave_nothing_beside_the_database(self):
        make_db(self.w.db, rows=100, random_bytes=16 << 20)
        path = self.w.backup()
        db_dir = os.path.dirname(self.w.db)
        for i in range(5):
            proc = self.start("restore", "--path", path)
            self.stop_when_temp_appears(proc, db_dir)
            proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=60)
            self.assertNotEqual(temps(db_dir), [], "the kill left no temp file to clean")
        self.w.ok("restore", "--path", path)
        self.assertEqual(temps(db_dir), [])
        self.assertEqual(integrity(self.w.db), "ok")

    def test_a_database_that_appears_during_a_restore_is_not_replaced(self):
        make_db(self.w.db, rows=100, random_bytes=16 << 20)
        path = self.w.backup()
        os.unlink(self.w.db)
        proc = self.start("restore", "--path", path)
        try:
            self.stop_when_temp_appears(proc, os.path.dirname(self.w.db))
            make_db(self.w.db, rows=7)
        finally:
            proc.send_signal(signal.SIGCONT)
        out, err = proc.communicate(timeout=120)
        self.assertEqual(proc.returncode, 6, out + err)
        self.assertIn("appeared while restoring; nothing was replaced", err)
        self.assertEqual(db_rows(self.w.db), 7)


class TerminalTest(CbsyncTest):
    def test_each_fact_once_on_a_terminal_and_once_in_a_cron_log(self):
        make_db(self.w.db, rows=10)
        code, shown = run_on_a_terminal(self.w.root, ["backup", "--type", "daily"])
        self.assertEqual(code, 0, shown)
        self.assertEqual(shown.count("Backup created: "), 1, shown)
        self.assertNotIn(" ok ", shown, "the operations-log line was echoed on a terminal")
        # A cron log (not a terminal) gets the summary and the log line.
        p = self.w.ok("backup", "--type", "daily")
        self.assertIn("Backup created: ", p.stdout)
        self.assertRegex(p.stderr, r"Z backup cloudbrain_daily_\d{8}_\d{6}\.db\.gz ok ")
        log = read_bytes(os.path.join(self.w.backups, "operations.log")).decode()
        self.assertEqual(log.count(" backup cloudbrain_daily_"), 2)

    def test_restore_shows_its_integrity_check_phase(self):
        make_db(self.w.db, rows=100, random_bytes=24 << 20)
        path = self.w.backup()
        db_dir = os.path.dirname(self.w.db)
        def decompressing():
            # Data in the temp file: the restore's clock (and progress) runs.
            for f in temps(db_dir):
                try:
                    if os.path.getsize(os.path.join(db_dir, f)) > 0:
                        return True
                except FileNotFoundError:
                    pass
            return False
        code, shown = run_on_a_terminal(self.w.root, ["restore", "--path", path],
                                        stop_when=decompressing)
        self.assertEqual(code, 0, shown)
        self.assertIn("restore: checking integrity (PRAGMA integrity_check)...", shown)


class NewcomerTest(CbsyncTest):
    def test_verify_with_nothing_to_verify_fails(self):
        p = self.w.run("verify")
        self.assertFails(p, 4, "No backups found in ")
        mirror = self.w.path("mirror")
        os.makedirs(mirror)
        env = {"CBSYNC_REMOTE_USB_TYPE": "local", "CBSYNC_REMOTE_USB_PATH": mirror}
        p = self.w.run("verify", "--tier", "usb", env=env)
        self.assertFails(p, 4, "nothing was verified")

    def test_a_corrupt_backup_is_not_hidden_by_an_unreachable_tier(self):
        make_db(self.w.db, rows=10)
        path = self.w.backup("--no-sync")
        with open(path, "r+b") as f:
            f.seek(-12, os.SEEK_END)
            f.write(b"\xff" * 4)
        env = {"CBSYNC_REMOTE_USB_TYPE": "local",
               "CBSYNC_REMOTE_USB_PATH": self.w.path("not-mounted")}
        p = self.w.run("verify", "--tier", "all", env=env)
        # Exit 5 (a backup failed a check), not 9 (the mirror is not mounted).
        self.assertFails(p, 5, "2 of 2 checks failed")
        self.assertIn("FAILED  remote 'usb'", p.stdout)

    def test_restore_path_of_a_remote_backup_suggests_name(self):
        mirror = self.w.path("mirror")
        os.makedirs(mirror)
        env = {"CBSYNC_REMOTE_USB_TYPE": "local", "CBSYNC_REMOTE_USB_PATH": mirror}
        make_db(self.w.db, rows=10)
        path = self.w.backup("--no-sync")
        self.w.ok("push", env=env)
        name = os.path.basename(path)
        os.unlink(path)
        os.unlink(path + ".json")
        p = self.w.run("restore", "--path", name, env=env)
        self.assertFails(p, 4, f"HINT: --path reads the local tier only; if a remote holds "
                               f"it ('cbsync list --tier all'), restore it with --name {name}")
        self.w.ok("restore", "--name", name, env=env)

    def test_a_restore_on_a_fresh_machine_makes_an_ordinary_database_directory(self):
        make_db(self.w.db, rows=10)
        path = self.w.backup()
        target = self.w.path("srv", "data", "cloudbrain.db")
        old = os.umask(0o022)
        try:
            self.w.ok("restore", "--path", path, "--to", target)
        finally:
            os.umask(old)
        self.assertEqual(os.stat(os.path.dirname(target)).st_mode & 0o777, 0o755)
        self.assertEqual(os.stat(self.w.backups).st_mode & 0o777, 0o700)
        self.assertEqual(os.stat(target).st_mode & 0o777, 0o600)

    def test_the_closing_line_names_the_remote_that_failed(self):
        ok_dir = self.w.path("mirror-ok")
        os.makedirs(ok_dir)
        env = {"CBSYNC_REMOTE_OFFSITE_TYPE": "local", "CBSYNC_REMOTE_OFFSITE_PATH": ok_dir,
               "CBSYNC_REMOTE_NAS_TYPE": "local",
               "CBSYNC_REMOTE_NAS_PATH": self.w.path("not-mounted")}
        make_db(self.w.db, rows=10)
        p = self.w.run("backup", env=env)
        line = self.assertFails(p, 9, "but it is not offsite yet on remote 'nas' (the other "
                                      "remotes have it)")
        self.assertNotIn("'offsite' (", line)
        self.assertEqual(len([f for f in os.listdir(ok_dir) if f.endswith(".db.gz")]), 1)
        env["CBSYNC_REMOTE_OFFSITE_PATH"] = self.w.path("also-not-mounted")
        p = self.w.run("backup", env=env)
        line = self.assertFails(p, 9, "not offsite yet on remotes 'nas', 'offsite';")
        self.assertNotIn("the other remotes", line)


if __name__ == "__main__":
    main()
