"""cbsync restore: checks first, restore point, install through SQLite."""
import gzip
import json
import os
import sqlite3
import subprocess
import sys

from harness import (CbsyncTest, db_rows, dump, integrity, main, make_db, read_bytes,
                     sha256_file)

HOLDER = r"""
import sqlite3, sys
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("PRAGMA journal_mode=wal")
print(con.execute("SELECT count(*) FROM ai_messages").fetchone()[0], flush=True)
for line in sys.stdin:
    if line.strip() == "count":
        print(con.execute("SELECT count(*) FROM ai_messages").fetchone()[0], flush=True)
    elif line.strip() == "write":
        con.execute("INSERT INTO ai_messages(content) VALUES ('after restore')")
        print("written", flush=True)
"""


class RestoreTest(CbsyncTest):
    def backup_then_change(self, rows=100, extra=50):
        make_db(self.w.db, rows=rows)
        path = self.w.backup()
        con = sqlite3.connect(self.w.db)
        with con:
            con.executemany("INSERT INTO ai_messages(content) VALUES (?)",
                            [("later",)] * extra)
        con.close()
        return path

    def test_seed_invocation_restores_and_makes_a_restore_point(self):
        path = self.backup_then_change()
        rel = os.path.relpath(path, self.w.root)
        p = self.w.ok("restore", "--path", rel)
        self.assertIn(f"Restored {rel} into ai_db/cloudbrain.db", p.stdout)
        self.assertIn("Restore point:   ai_db/backups/cloudbrain_restore_point_", p.stdout)
        self.assertIn("SHA-256 against metadata", p.stdout)
        self.assertEqual(db_rows(self.w.db), 100)
        self.assertEqual(integrity(self.w.db), "ok")
        points = [b for b in self.w.list_json() if b["type"] == "restore_point"]
        self.assertEqual(len(points), 1)
        # The restore point holds the state before the restore.
        rp = os.path.join(self.w.backups, points[0]["name"])
        with gzip.open(rp) as g, open(self.w.path("rp.db"), "wb") as out:
            out.write(g.read())
        self.assertEqual(db_rows(self.w.path("rp.db")), 150)
        self.assertNoTempFiles()
        with open(os.path.join(self.w.backups, "operations.log")) as f:
            log = f.read()
        self.assertIn(f"restore {os.path.basename(path)} ok", log)
        self.assertIn("backup cloudbrain_restore_point_", log)

    def test_the_operations_log_names_who_restored_what_into_where(self):
        import pwd
        who = f"{pwd.getpwuid(os.geteuid()).pw_name}:{os.geteuid()}"
        path = self.backup_then_change()
        self.w.ok("restore", "--path", os.path.basename(path))
        out = self.w.path("copy.db")
        self.w.ok("restore", "--latest", "--to", out)
        with open(os.path.join(self.w.backups, "operations.log")) as f:
            lines = f.read().splitlines()
        restores = [ln for ln in lines if f" {who} restore " in ln]
        self.assertEqual(len(restores), 2, lines)
        self.assertTrue(restores[0].endswith(" into ai_db/cloudbrain.db"), restores[0])
        self.assertIn(f"into {out}", restores[1])
        self.assertTrue(all(f" {who} " in ln for ln in lines), lines)

    def test_bare_name_is_found_in_the_backup_directory(self):
        path = self.backup_then_change()
        self.w.ok("restore", "--path", os.path.basename(path))
        self.assertEqual(db_rows(self.w.db), 100)

    def test_restore_into_a_database_held_open_in_wal_mode(self):
        path = self.backup_then_change(rows=100, extra=25)
        holder = subprocess.Popen([sys.executable, "-c", HOLDER, self.w.db],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            self.assertEqual(holder.stdout.readline().strip(), "125")
            self.w.ok("restore", "--path", path)
            holder.stdin.write("count\n")
            holder.stdin.flush()
            self.assertEqual(holder.stdout.readline().strip(), "100")
            # The server keeps writing into the restored database.
            holder.stdin.write("write\ncount\n")
            holder.stdin.flush()
            self.assertEqual(holder.stdout.readline().strip(), "written")
            self.assertEqual(holder.stdout.readline().strip(), "101")
        finally:
            holder.stdin.close()
            holder.wait(timeout=30)
            holder.stdout.close()
        self.assertEqual(integrity(self.w.db), "ok")
        self.assertEqual(db_rows(self.w.db), 101)
        out = subprocess.run(["sqlite3", self.w.db, "PRAGMA integrity_check;"],
                             capture_output=True, text=True, check=True)
        self.assertEqual(out.stdout.strip(), "ok")

    def test_no_database_installs_by_rename_without_restore_point(self):
        path = self.backup_then_change()
        os.unlink(self.w.db)
        for side in ("-wal", "-shm"):
            if os.path.exists(self.w.db + side):
                os.unlink(self.w.db + side)
        p = self.w.ok("restore", "--path", path)
        self.assertNotIn("Restore point", p.stdout)
        self.assertEqual(db_rows(self.w.db), 100)
        self.assertEqual([b for b in self.w.list_json() if b["type"] == "restore_point"], [])
        self.assertNoTempFiles()

    def test_stray_wal_without_database_is_moved_aside(self):
        path = self.backup_then_change()
        os.unlink(self.w.db)
        with open(self.w.db + "-wal", "wb") as f:
            f.write(b"stale")
        self.w.ok("restore", "--path", path)
        self.assertEqual(db_rows(self.w.db), 100)
        stale = [f for f in os.listdir(os.path.dirname(self.w.db)) if ".stale-" in f]
        self.assertEqual(len(stale), 1)

    def test_to_another_path_leaves_the_live_database_alone(self):
        path = self.backup_then_change()
        before = read_bytes(self.w.db)
        target = self.w.path("copy", "restored.db")
        p = self.w.ok("restore", "--path", path, "--to", target)
        self.assertNotIn("Restore point", p.stdout)
        self.assertEqual(db_rows(target), 100)
        self.assertEqual(read_bytes(self.w.db), before)
        # An existing --to target is refused.
        p = self.w.run("restore", "--path", path, "--to", target)
        self.assertFails(p, 2, "refusing to overwrite")

    def test_backup_not_found(self):
        make_db(self.w.db)
        before = read_bytes(self.w.db)
        missing = "ai_db/backups/cloudbrain_manual_20260202_120000.db.gz"
        line = self.assertFails(self.w.run("restore", "--path", missing), 4)
        self.assertEqual(line, f"Error: Backup not found: {missing}")
        self.assertEqual(read_bytes(self.w.db), before)
        self.assertFails(self.w.run("restore"), 2, "restore needs --path")

    def assertRefused(self, backup_path, message):
        before = read_bytes(self.w.db)
        count_before = len(self.w.backup_files())
        p = self.w.run("restore", "--path", backup_path)
        self.assertFails(p, 5, message)
        self.assertEqual(read_bytes(self.w.db), before, "live database changed")
        self.assertEqual(len(self.w.backup_files()), count_before, "a restore point was made")
        self.assertNoTempFiles()

    def test_truncated_backup_is_refused(self):
        path = self.backup_then_change(rows=2000)
        data = read_bytes(path)
        bad = self.w.path("truncated.db.gz")
        with open(bad, "wb") as f:
            f.write(data[: len(data) // 2])
        self.assertRefused(bad, "truncated")

    def test_flipped_byte_is_refused(self):
        path = self.backup_then_change(rows=2000)
        data = bytearray(read_bytes(path))
        data[len(data) // 2] ^= 0x40
        bad = self.w.path("flipped.db.gz")
        with open(bad, "wb") as f:
            f.write(data)
        self.assertRefused(bad, "is corrupt")
        # With its metadata beside it, the SHA-256 check is what refuses it.
        with open(path, "wb") as f:
            f.write(data)
        self.assertRefused(path, "is corrupt")

    def test_gzip_of_something_else_is_refused(self):
        make_db(self.w.db)
        bad = self.w.path("notes.db.gz")
        with gzip.open(bad, "wb") as g:
            g.write(b"plain text, not a database\n" * 1000)
        self.assertRefused(bad, "not a SQLite database")
        plain = self.w.path("plain.db.gz")
        with open(plain, "wb") as f:
            f.write(b"not even gzip\n" * 100)
        self.assertRefused(plain, "not a gzip file")

    def test_metadata_that_does_not_match_is_refused(self):
        path = self.backup_then_change()
        with open(path + ".json") as f:
            meta = json.load(f)
        meta["sha256"] = "0" * 64
        with open(path + ".json", "w") as f:
            json.dump(meta, f)
        self.assertRefused(path, "does not match its metadata")
        meta["sha256"] = sha256_file(path)
        meta["name"] = "cloudbrain_manual_20200101_000000.db.gz"
        meta["created"] = "2020-01-01T00:00:00Z"
        with open(path + ".json", "w") as f:
            json.dump(meta, f)
        self.assertRefused(path, "describes another backup")
        with open(path + ".json", "w") as f:
            f.write("{not json")
        self.assertRefused(path, "metadata")

    def test_seed_backup_without_metadata_restores(self):
        path = self.backup_then_change()
        os.unlink(path + ".json")
        p = self.w.ok("restore", "--path", path)
        self.assertNotIn("SHA-256", p.stdout)
        self.assertEqual(db_rows(self.w.db), 100)


if __name__ == "__main__":
    main()
