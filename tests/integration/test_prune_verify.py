"""cbsync prune, verify, list and stats on a tier with backups of many ages."""
import datetime as dt
import json
import os
import shutil

from harness import CbsyncTest, main, make_db, read_bytes

UTC = dt.timezone.utc


def stamp(t):
    return t.strftime("%Y%m%d_%H%M%S")


class TierTest(CbsyncTest):
    def setUp(self):
        super().setUp()
        make_db(self.w.db, rows=50)
        self.meta = None
        self.now = dt.datetime.now(UTC).replace(microsecond=0)

    def fabricate(self, kind, age, meta=True, db="cloudbrain"):
        """A real backup file renamed to an older time, with matching metadata."""
        created = self.now - age
        template = self.template_data_path()
        name = f"{db}_{kind}_{stamp(created)}.db.gz"
        path = os.path.join(self.w.backups, name)
        os.makedirs(self.w.backups, mode=0o700, exist_ok=True)
        shutil.copyfile(template, path)
        if meta:
            m = dict(self.meta, name=name, type=kind, database=db,
                     created=created.strftime("%Y-%m-%dT%H:%M:%SZ"))
            with open(path + ".json", "w") as f:
                json.dump(m, f)
        return name

    def template_data_path(self):
        # Keep one pristine copy of the template's bytes outside the tier.
        keep = self.w.path("template.db.gz")
        if not os.path.exists(keep):
            self.w.ok("backup", "--dir", self.w.path("tpl"))
            src = os.path.join(self.w.path("tpl"), self.w.backup_files(self.w.path("tpl"))[0])
            shutil.copyfile(src, keep)
            with open(src + ".json") as f:
                self.meta = json.load(f)
        return keep

    def test_prune_applies_the_seed_policy(self):
        day = dt.timedelta(days=1)
        expect_deleted = {
            self.fabricate("daily", 8 * day),
            self.fabricate("daily", 30 * day),
            self.fabricate("weekly", 29 * day),
            self.fabricate("monthly", 400 * day),
            self.fabricate("change", 25 * dt.timedelta(hours=1)),
        }
        expect_kept = {
            self.fabricate("daily", 1 * day),
            self.fabricate("daily", 6 * day + 23 * dt.timedelta(hours=1)),
            self.fabricate("weekly", 7 * day),
            self.fabricate("monthly", 200 * day),
            self.fabricate("change", 2 * dt.timedelta(hours=1)),
            self.fabricate("manual", 3000 * day),
            self.fabricate("restore_point", 3000 * day),
        }
        p = self.w.ok("prune", "--dry-run")
        for name in expect_deleted:
            self.assertRegex(p.stdout, rf"delete +{name} +\(older than ")
        for name in expect_kept:
            self.assertRegex(p.stdout, rf"keep +{name} +\(")
        self.assertIn("never pruned automatically", p.stdout)
        self.assertIn(f"would delete {len(expect_deleted)} backups", p.stdout)
        self.assertEqual(set(self.w.backup_files()), expect_deleted | expect_kept)

        p = self.w.ok("prune")
        self.assertEqual(set(self.w.backup_files()), expect_kept)
        self.assertIn(f"Pruned {len(expect_deleted)} backups", p.stdout)
        for name in expect_deleted:
            self.assertFalse(os.path.exists(os.path.join(self.w.backups, name + ".json")))
        with open(os.path.join(self.w.backups, "operations.log")) as f:
            self.assertIn(f"prune - ok", f.read())

    def test_newest_of_each_type_survives_when_all_expired(self):
        day = dt.timedelta(days=1)
        newest = self.fabricate("daily", 100 * day)
        older = self.fabricate("daily", 200 * day)
        other_db = self.fabricate("daily", 300 * day, db="other_db")
        self.w.ok("prune")
        self.assertEqual(set(self.w.backup_files()), {newest, other_db})
        self.assertNotIn(older, self.w.backup_files())

    def test_scheduled_backup_rotates(self):
        old = self.fabricate("daily", dt.timedelta(days=9))
        manual = self.fabricate("manual", dt.timedelta(days=90))
        p = self.w.ok("backup", "--type", "daily")
        self.assertIn(f"Deleted {old}", p.stdout)
        files = self.w.backup_files()
        self.assertNotIn(old, files)
        self.assertIn(manual, files)
        # A manual backup never prunes.
        old2 = self.fabricate("weekly", dt.timedelta(days=60))
        self.fabricate("weekly", dt.timedelta(days=1))
        self.w.ok("backup")
        self.assertIn(old2, self.w.backup_files())

    def test_list_and_stats(self):
        self.fabricate("daily", dt.timedelta(days=2))
        self.fabricate("manual", dt.timedelta(days=1))
        seed = self.fabricate("weekly", dt.timedelta(days=3), meta=False)
        listing = self.w.list_json()
        self.assertEqual([b["type"] for b in listing], ["manual", "daily", "weekly"])
        self.assertEqual(listing[2]["name"], seed)
        self.assertIsNone(listing[2]["original_size"])
        self.assertEqual(listing[0]["original_size"], self.meta["original_size"])
        text = self.w.ok("list").stdout
        lines = text.splitlines()
        self.assertTrue(lines[0].startswith("NAME"))
        self.assertIn("3 backups in ai_db/backups", text)
        stats = json.loads(self.w.ok("stats", "--json").stdout)
        self.assertEqual(stats["count"], 3)
        self.assertEqual(stats["types"]["daily"]["count"], 1)
        self.assertEqual(stats["types"]["restore_point"]["count"], 0)
        self.assertEqual(stats["newest"]["name"], listing[0]["name"])
        self.assertEqual(stats["oldest"]["name"], seed)
        self.assertEqual(stats["database"]["size"], os.path.getsize(self.w.db))
        total = sum(os.path.getsize(os.path.join(self.w.backups, f))
                    for f in self.w.backup_files())
        self.assertEqual(stats["total_size"], total)
        self.assertGreater(stats["disk_used"], total)
        self.assertGreater(stats["average_compression_ratio"], 50)
        text = self.w.ok("stats").stdout
        for word in ("Total backups:", "Disk used:", "Oldest backup:", "Newest backup:",
                     "Average compression:", "Database:"):
            self.assertIn(word, text)

    def test_empty_tier(self):
        self.assertEqual(self.w.list_json(), [])
        self.assertIn("No backups found", self.w.ok("list").stdout)
        self.assertEqual(json.loads(self.w.ok("stats", "--json").stdout)["count"], 0)
        self.assertIn("Dry run: would delete 0 backups", self.w.ok("prune", "--dry-run").stdout)
        # Nothing to verify is not a passed verification (a monitoring job
        # must not read it as one): exit 4, not 0.
        p = self.w.run("verify")
        self.assertIn("No backups found", p.stdout)
        self.assertFails(p, 4, "nothing was verified")

    def test_verify_reports_each_backup(self):
        good = self.w.backup()
        seed = self.fabricate("daily", dt.timedelta(days=1), meta=False)
        bad = self.fabricate("weekly", dt.timedelta(days=2))
        path = os.path.join(self.w.backups, bad)
        data = bytearray(read_bytes(path))
        data[-20] ^= 1
        with open(path, "wb") as f:
            f.write(data)
        p = self.w.run("verify")
        self.assertFails(p, 5, "1 of 3 backups failed verification")
        self.assertRegex(p.stdout, rf"ok +{os.path.basename(good)} +\(SHA-256 matches metadata")
        self.assertRegex(p.stdout, rf"ok +{seed} +\(no metadata")
        self.assertRegex(p.stdout, rf"FAILED +{bad}: ")
        self.assertIn("3 backups checked: 2 ok, 1 failed", p.stdout)
        self.assertNoTempFiles()
        # Named files only.
        p = self.w.ok("verify", good)
        self.assertIn("1 backup checked: 1 ok, 0 failed", p.stdout)
        p = self.w.run("verify", "ai_db/backups/nothing_manual_20200101_000000.db.gz")
        self.assertFails(p, 4)
        self.assertIn("Backup not found", p.stdout)

    def test_verify_in_a_read_only_directory(self):
        good = self.w.backup()
        nobody = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")
        os.chmod(good, 0o644)
        os.chmod(good + ".json", 0o644)
        os.chmod(self.w.backups, 0o555)
        self.addCleanup(os.chmod, self.w.backups, 0o700)
        # The throwaway copy goes to TMPDIR when the directory is read-only.
        p = self.w.run("verify", good, prefix=nobody)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("1 ok, 0 failed", p.stdout)
        # A backup the user cannot read is a permission error, not corruption.
        os.chmod(good + ".json", 0o600)
        p = self.w.run("verify", good, prefix=nobody)
        self.assertFails(p, 6)
        self.assertIn("Permission denied", p.stdout)

    def test_stale_temp_files_are_removed_by_the_next_mutating_run(self):
        os.makedirs(self.w.backups, exist_ok=True)
        stale = os.path.join(self.w.backups, ".cbsync-tmp-cloudbrain_manual_x.db.gz.abc123")
        orphan = os.path.join(self.w.backups, "cloudbrain_manual_20200101_000000.db.gz.json")
        for p in (stale, orphan):
            with open(p, "w") as f:
                f.write("x")
        self.assertEqual(self.w.list_json(), [])
        self.w.ok("prune")
        self.assertFalse(os.path.exists(stale))
        self.assertFalse(os.path.exists(orphan))


if __name__ == "__main__":
    main()
