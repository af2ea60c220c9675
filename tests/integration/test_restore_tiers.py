"""restore from any tier: fresh machines, init containers, corrupt remote objects."""
import gzip
import json
import os
import shutil

from harness import CbsyncTest, db_rows, integrity, main, make_db, read_bytes


class RestoreTiersTest(CbsyncTest):
    def setUp(self):
        super().setUp()
        self.mirror = self.w.path("mirror")
        os.makedirs(self.mirror)
        self.env = {"CBSYNC_REMOTE_USB_TYPE": "local", "CBSYNC_REMOTE_USB_PATH": self.mirror}

    def run_env(self, *args, **kw):
        return self.w.run(*args, env=self.env, **kw)

    def ok_env(self, *args, **kw):
        p = self.run_env(*args, **kw)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        return p

    def seed_remote(self, versions=(100, 150)):
        """Backups of growing databases, pushed to the mirror, then the
        machine 'dies': the local database and backup directory are gone."""
        make_db(self.w.db, rows=versions[0])
        names = []
        for extra in versions:
            import sqlite3
            con = sqlite3.connect(self.w.db)
            have = con.execute("SELECT count(*) FROM ai_messages").fetchone()[0]
            with con:
                con.executemany("INSERT INTO ai_messages(content) VALUES (?)",
                                [("v",)] * (extra - have))
            con.close()
            names.append(os.path.basename(self.w.backup()))
            self.ok_env("push")
        shutil.rmtree(os.path.dirname(self.w.db))
        return names

    def test_fresh_machine_restores_the_latest_from_the_remote(self):
        names = self.seed_remote()
        p = self.ok_env("restore", "--latest", "--if-db-not-exists", "--if-backup-exists")
        self.assertIn(f"Restored {names[-1]} from remote 'usb' into ai_db/cloudbrain.db", p.stdout)
        self.assertEqual(db_rows(self.w.db), 150)
        self.assertEqual(integrity(self.w.db), "ok")
        # The database exists now: the init container touches nothing.
        before = read_bytes(self.w.db)
        p = self.ok_env("restore", "--latest", "--if-db-not-exists", "--if-backup-exists")
        self.assertIn("exists; nothing restored", p.stdout)
        self.assertEqual(read_bytes(self.w.db), before)

    def test_name_before_type_and_from(self):
        names = self.seed_remote()
        self.ok_env("restore", "--name", names[0], "--to", self.w.path("first.db"))
        self.assertEqual(db_rows(self.w.path("first.db")), 100)
        created = names[0].split("_manual_")[1][:-len(".db.gz")]
        iso = f"{created[0:4]}-{created[4:6]}-{created[6:8]}T{created[9:11]}:{created[11:13]}:{created[13:15]}Z"
        self.ok_env("restore", "--before", iso, "--from", "usb", "--to", self.w.path("before.db"))
        self.assertEqual(db_rows(self.w.path("before.db")), 100)
        p = self.run_env("restore", "--latest", "--type", "daily")
        self.assertFails(p, 4, "Backup not found: no daily backup of cloudbrain in local, usb")
        p = self.run_env("restore", "--latest", "--from", "nowhere")
        self.assertFails(p, 2, "there is no tier named 'nowhere'")
        p = self.run_env("restore", "--name", "cloudbrain_manual_20200101_000000.db.gz")
        self.assertFails(p, 4, "Backup not found: cloudbrain_manual_20200101_000000.db.gz")

    def test_prefers_the_local_copy(self):
        make_db(self.w.db, rows=30)
        name = os.path.basename(self.w.backup())
        self.ok_env("push")
        p = self.ok_env("restore", "--latest", "--to", self.w.path("x.db"))
        self.assertIn(f"Restored {name} from local", p.stdout)

    def test_first_deployment(self):
        p = self.ok_env("restore", "--latest", "--if-db-not-exists", "--if-backup-exists")
        self.assertIn("No backup of cloudbrain in any tier (local, usb): a first deployment",
                      p.stdout)
        self.assertFalse(os.path.exists(self.w.db))
        p = self.run_env("restore", "--latest")
        self.assertFails(p, 4, "Backup not found")

    def test_unreachable_remote_is_not_a_first_deployment(self):
        env = dict(self.env, CBSYNC_REMOTE_USB_PATH=self.w.path("unplugged"))
        p = self.w.run("restore", "--latest", "--if-backup-exists", env=env)
        self.assertFails(p, 9, "cannot tell whether a backup exists")
        self.assertFalse(os.path.exists(self.w.db))

    def corrupt_newest_and_check(self, damage, message):
        names = self.seed_remote()
        path = os.path.join(self.mirror, names[-1])
        damage(path, names)
        make_db(self.w.db, rows=7)
        before = read_bytes(self.w.db)
        p = self.run_env("restore", "--latest", "--from", "usb")
        line = self.assertFails(p, 5, message)
        self.assertIn(names[-1], line)
        self.assertIn("remote 'usb'", line)
        self.assertEqual(read_bytes(self.w.db), before, "the live database changed")
        self.assertEqual([f for f in self.w.backup_files() if "restore_point" in f], [])
        self.assertNoTempFiles()
        # --fallback takes the next newest good one.
        p = self.ok_env("restore", "--latest", "--from", "usb", "--fallback")
        self.assertIn("trying the next candidate", p.stderr)
        self.assertIn(f"Restored {names[0]} from remote 'usb'", p.stdout)
        self.assertEqual(db_rows(self.w.db), 100)

    def test_flipped_byte_is_refused(self):
        def flip(path, names):
            data = bytearray(read_bytes(path))
            data[len(data) // 2] ^= 0x10
            with open(path, "wb") as f:
                f.write(data)
        self.corrupt_newest_and_check(flip, "is corrupt")

    def test_truncated_object_is_refused(self):
        def cut(path, names):
            data = read_bytes(path)
            with open(path, "wb") as f:
                f.write(data[: len(data) - 100])
        self.corrupt_newest_and_check(cut, "is corrupt")

    def test_swapped_metadata_is_refused(self):
        def swap(path, names):
            other = os.path.join(self.mirror, names[0] + ".json")
            shutil.copyfile(other, path + ".json")
        self.corrupt_newest_and_check(swap, "describes another backup")

    def test_metadata_with_the_wrong_checksum_is_refused(self):
        def resum(path, names):
            with open(path + ".json") as f:
                meta = json.load(f)
            meta["sha256"] = "ab" * 32
            with open(path + ".json", "w") as f:
                json.dump(meta, f)
        self.corrupt_newest_and_check(resum, "does not match its metadata")

    def test_verify_a_remote_tier(self):
        names = self.seed_remote()
        p = self.ok_env("verify", "--tier", "usb")
        self.assertIn(f"ok      {names[-1]}  (remote 'usb'", p.stdout)
        self.assertIn("1 backup checked", p.stdout)
        p = self.ok_env("verify", "--tier", "usb", "--all")
        self.assertIn("2 backups checked: 2 ok", p.stdout)
        path = os.path.join(self.mirror, names[0])
        with gzip.open(path, "wb") as g:
            g.write(b"not a database" * 100)
        p = self.run_env("verify", "--tier", "usb", "--latest", "2")
        self.assertFails(p, 5, "1 of 2 checks failed")
        self.assertIn(f"FAILED  {names[0]} (remote 'usb'):", p.stdout)


if __name__ == "__main__":
    main()
