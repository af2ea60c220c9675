"""cbsync against S3 (OpenStack Swift's s3api, which checks SigV4 and payload
hashes as AWS does), read back with awscli and boto3."""
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import time

from harness import CBSYNC, db_rows, fake_backup, integrity, main, make_db, read_bytes, sha256_file
from remotes import S3Case

BUCKET = S3Case.BUCKET


class S3Test(S3Case):
    def aws_get(self, key, dest):
        env = dict(os.environ, AWS_ACCESS_KEY_ID=self.s3.access_key,
                   AWS_SECRET_ACCESS_KEY=self.s3.secret_key, AWS_DEFAULT_REGION=self.s3.region,
                   AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")
        p = subprocess.run(["/usr/bin/aws", "--endpoint-url", self.s3.endpoint, "s3", "cp",
                            f"s3://{BUCKET}/{self.prefix}/{key}", dest],
                           env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_push_read_back_with_awscli_and_restore_on_a_fresh_machine(self):
        make_db(self.w.db, rows=400)
        p = self.w.run("backup", env=self.env())
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        name = self.w.backup_files()[0]
        self.assertEqual(self.keys(), [name, name + ".json"])
        self.aws_get(name, self.w.path("aws.db.gz"))
        self.assertEqual(read_bytes(self.w.path("aws.db.gz")),
                         read_bytes(os.path.join(self.w.backups, name)))
        meta = json.loads(self.s3.client().get_object(
            Bucket=BUCKET, Key=f"{self.prefix}/{name}.json")["Body"].read())
        self.assertEqual(meta["sha256"], sha256_file(os.path.join(self.w.backups, name)))
        shutil.rmtree(os.path.dirname(self.w.db))
        p = self.w.run("restore", "--latest", "--if-db-not-exists", "--if-backup-exists",
                       env=self.env())
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn(f"Restored {name} from remote 'offsite'", p.stdout)
        self.assertEqual(integrity(self.w.db), "ok")
        self.assertEqual(db_rows(self.w.db), 400)
        p = self.w.run("verify", "--tier", "offsite", env=self.env())
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_wrong_secret_uploads_nothing(self):
        make_db(self.w.db, rows=10)
        p = self.w.run("backup", env=self.env(AWS_SECRET_ACCESS_KEY="not-the-secret"))
        line = self.assertFails(p, 10, "SignatureDoesNotMatch")
        self.assertNotIn("not-the-secret", p.stdout + p.stderr)
        self.assertEqual(self.keys(), [])
        self.assertEqual(len(self.w.backup_files()), 1)
        self.assertIn("not offsite yet", line)

    def test_kill_9_during_a_multipart_upload(self):
        name = fake_backup(self.w.backups, 48)
        env = {k: v for k, v in os.environ.items() if not k.startswith("CBSYNC_")}
        env.update(self.env(CBSYNC_REMOTE_OFFSITE_PART_SIZE="5M"))
        proc = subprocess.Popen([CBSYNC, "push"], cwd=self.w.root, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        c = self.s3.client()
        deadline = time.time() + 60
        started = False
        while time.time() < deadline and not started:
            ups = c.list_multipart_uploads(Bucket=BUCKET, Prefix=self.prefix + "/")
            for u in ups.get("Uploads", []):
                parts = c.list_parts(Bucket=BUCKET, Key=u["Key"], UploadId=u["UploadId"])
                started = started or len(parts.get("Parts", [])) >= 2
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        self.assertTrue(started, "the kill came too late to test anything")
        self.assertNotIn(name, self.keys())     # no partial object is visible
        p = self.w.run("push", env=self.env(CBSYNC_REMOTE_OFFSITE_PART_SIZE="5M"))
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("uploaded 1 backup", p.stdout)
        got = self.w.path("got")
        self.aws_get(name, got)
        self.assertEqual(sha256_file(got), sha256_file(os.path.join(self.w.backups, name)))

    def test_down_then_one_sync_catches_up_and_deleted_objects_return(self):
        make_db(self.w.db, rows=10)
        self.assertEqual(self.w.run("backup", env=self.env()).returncode, 0)
        self.s3.stop_proxy()
        try:
            for _ in range(2):
                self.assertFails(self.w.run("backup", env=self.env()), 9, "not offsite yet")
        finally:
            self.s3.start_proxy()
        p = self.w.run("push", env=self.env())
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("uploaded 2 backups", p.stdout)
        self.assertEqual([k for k in self.keys() if k.endswith(".db.gz")], self.w.backup_files())
        victim = self.w.backup_files()[0]
        self.s3.client().delete_object(Bucket=BUCKET, Key=f"{self.prefix}/{victim}")
        p = self.w.run("push", env=self.env())
        self.assertIn("uploaded 1 backup", p.stdout)
        self.assertIn(victim, self.keys())

    def test_remote_retention_and_foreign_objects(self):
        c = self.s3.client()
        c.put_object(Bucket=BUCKET, Key=f"{self.prefix}/someone-elses.tar", Body=b"x")
        c.put_object(Bucket=BUCKET, Key=f"{self.prefix}/cloudbrain_daily_broken.db.gz", Body=b"x")
        make_db(self.w.db, rows=10)
        env = self.env(CBSYNC_REMOTE_OFFSITE_KEEP_DAILY="2d")
        for _ in range(2):
            self.assertEqual(self.w.run("backup", "--type", "daily", env=env).returncode, 0)
        dailies = [k for k in self.keys() if "_daily_" in k and k.endswith(".db.gz")
                   and "broken" not in k]
        self.assertEqual(len(dailies), 2)
        later = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=5)).strftime(
            "%Y-%m-%dT%H:%M:%SZ")
        p = self.w.run("prune", "--tier", "offsite", "--now", later, "--dry-run", env=env)
        self.assertIn("delete  " + min(dailies), p.stdout)
        self.assertIn("keep    " + max(dailies) + "  (newest daily backup)", p.stdout)
        p = self.w.run("prune", "--tier", "offsite", "--now", later, env=env)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        keys = self.keys()
        self.assertNotIn(min(dailies), keys)
        self.assertNotIn(min(dailies) + ".json", keys)
        self.assertIn(max(dailies), keys)
        self.assertIn("someone-elses.tar", keys)
        self.assertIn("cloudbrain_daily_broken.db.gz", keys)


if __name__ == "__main__":
    main()
