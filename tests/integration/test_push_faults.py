"""Pushes that go wrong halfway, and remotes set up wrong, through the real
binary against real servers (OpenStack Swift's s3api, OpenSSH's sshd), read
back with independent clients (boto3, the server's own directory):

  - pushes killed with SIGKILL at random moments leave incomplete multipart
    uploads (billed) or .cbsync-tmp-* files behind; the next push removes
    exactly those, and never another tool's or another host's upload;
  - a lone <name>.db.gz.json (a push stopped between metadata and data) is
    completed by the next push when the backup is still here, and removed
    when it is not;
  - https:// to a plain-HTTP endpoint, an untrusted certificate and a
    certificate for another name give up (exit 10) with a hint;
  - an SFTP path whose parent does not exist (a typo) is refused unless
    create_dir = true; only the last level is created otherwise.

The kill moments come from a seeded generator; the seed is printed, and
CBSYNC_TEST_SEED repeats a run.
"""
import datetime as dt
import http.server
import os
import random
import signal
import subprocess
import sys
import time

from harness import (CbsyncTest, fake_backup, main, read_bytes, serve_http, sha256_file,
                     start_cbsync)
from remotes import S3Case, SftpCase

BUCKET = "cbsync-faults"
KILLS = 8
SEED = int(os.environ.get("CBSYNC_TEST_SEED") or time.time())
print(f"test_push_faults: CBSYNC_TEST_SEED={SEED}", file=sys.stderr)


def journal_records(backups):
    d = os.path.join(backups, ".cbsync-uploads")
    return sorted(f for f in os.listdir(d) if not f.startswith(".")) if os.path.isdir(d) else []


class KillLoop:
    """Start `cbsync push` and kill -9 it, again and again."""

    def __init__(self, test, env):
        self.test = test
        self.env = env
        self.rng = random.Random(SEED)

    def kill(self, wait_until=None, delay=None, limit=60):
        """One push, killed after delay seconds or once wait_until() holds."""
        proc = start_cbsync(self.test.w.root, "push", env=self.env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            if wait_until:
                deadline = time.time() + limit
                while time.time() < deadline and not wait_until() and proc.poll() is None:
                    time.sleep(0.02)
            else:
                time.sleep(delay)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        return proc.returncode


class S3FaultsTest(S3Case):
    BUCKET = BUCKET

    def setUp(self):
        super().setUp()
        self.c = self.s3.client()

    def env(self, **extra):
        return super().env(**dict({"CBSYNC_REMOTE_OFFSITE_PART_SIZE": "5M"}, **extra))

    def uploads(self):
        """{UploadId: key} of every incomplete multipart upload under the prefix."""
        out = self.c.list_multipart_uploads(Bucket=BUCKET, Prefix=self.prefix + "/")
        return {u["UploadId"]: u["Key"] for u in out.get("Uploads", [])}

    def foreign_upload(self, key):
        """Another tool's (or host's) upload in progress, with one part."""
        up = self.c.create_multipart_upload(Bucket=BUCKET, Key=f"{self.prefix}/{key}")
        self.c.upload_part(Bucket=BUCKET, Key=f"{self.prefix}/{key}", PartNumber=1,
                           UploadId=up["UploadId"], Body=b"someone else's part")
        return up["UploadId"]

    def test_killed_pushes_leave_no_multipart_uploads_of_ours(self):
        name = fake_backup(self.w.backups, 40)
        others = {self.foreign_upload("other-tool/blob.bin"),
                  self.foreign_upload("cloudbrain_manual_20200101_000000.db.gz")}
        loop = KillLoop(self, self.env())

        def ours_begun():
            # One the last push began (it ends what earlier ones left).
            return bool(set(self.uploads()) - others - before)

        for i in range(KILLS - 1):
            # A push takes about 0.7 s here; one that finished before its
            # kill is undone, so that the next one uploads again.
            loop.kill(delay=loop.rng.uniform(0.02, 0.8))
            if name in self.keys():
                self.c.delete_object(Bucket=BUCKET, Key=f"{self.prefix}/{name}")
        # The last kill lands while parts are going up, so that there is
        # something to clean up whatever the random moments were.
        before = set(self.uploads())
        loop.kill(wait_until=ours_begun)
        left = set(self.uploads()) - others
        self.assertGreaterEqual(len(left), 1, "the kills left nothing to clean up")
        self.assertNotIn(name, self.keys())

        p = self.w.run("push", env=self.env())
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("uploaded 1 backup", p.stdout)
        self.assertEqual(set(self.uploads()) - others, set(),
                         "incomplete multipart uploads of ours are left")
        self.assertEqual(set(self.uploads()) & others, others, "someone else's upload was aborted")
        got = self.w.path("got")
        self.c.download_file(BUCKET, f"{self.prefix}/{name}", got)
        self.assertEqual(sha256_file(got), sha256_file(os.path.join(self.w.backups, name)))
        self.assertEqual(journal_records(self.w.backups), [])

    def test_lone_metadata_is_completed_or_removed(self):
        old = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)
        here = fake_backup(self.w.backups, 1, created=old)
        gone = "cloudbrain_manual_20240101_000000.db.gz"
        other_db = "otherdb_manual_20240101_000000.db.gz"
        for n, body in ((here, read_bytes(os.path.join(self.w.backups, here + ".json"))),
                        (gone, b'{"name": "gone"}'), (other_db, b'{"name": "other"}')):
            self.c.put_object(Bucket=BUCKET, Key=f"{self.prefix}/{n}.json", Body=body)
        p = self.w.run("push", env=self.env())
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(self.keys(), sorted([here, here + ".json", other_db + ".json"]))

    def test_killed_between_metadata_and_data_then_backup_gone_locally(self):
        old = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)
        name = fake_backup(self.w.backups, 24, created=old)
        loop = KillLoop(self, self.env())
        loop.kill(wait_until=lambda: name + ".json" in self.keys())
        self.assertEqual(self.keys(), [name + ".json"])
        for f in (name, name + ".json"):
            os.unlink(os.path.join(self.w.backups, f))
        p = self.w.run("push", env=self.env())
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(self.keys(), [])
        self.assertEqual(self.uploads(), {})

    def test_https_to_a_plain_http_endpoint_gives_up_with_a_hint(self):
        fake_backup(self.w.backups, 1)
        endpoint = self.s3.endpoint.replace("http://", "https://")
        p = self.w.run("push", env=self.env(CBSYNC_REMOTE_OFFSITE_ENDPOINT=endpoint))
        line = self.assertFails(p, 10, "the endpoint does not speak TLS")
        self.assertIn("HINT: ", line)
        self.assertIn("use http:// for a plain-HTTP endpoint, or check the port", line)


class TlsCertificateTest(CbsyncTest):
    """Certificate failures need a person: exit 10, and what to do."""

    def serve_tls(self, cert, key):
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(500)
                self.end_headers()

            def log_message(self, *a):
                pass

        return serve_http(self, Handler, tls=(cert, key)).server_address[1]

    def test_untrusted_and_misnamed_certificates(self):
        cert, key = self.w.path("cert.pem"), self.w.path("key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                        "-subj", "/CN=backups.example.test",
                        "-addext", "subjectAltName=DNS:backups.example.test",
                        "-keyout", key, "-out", cert], check=True, capture_output=True)
        port = self.serve_tls(cert, key)
        fake_backup(self.w.backups, 1)
        env = {"CBSYNC_REMOTE_OFFSITE_TYPE": "s3",
               "CBSYNC_REMOTE_OFFSITE_ENDPOINT": f"https://127.0.0.1:{port}",
               "CBSYNC_REMOTE_OFFSITE_BUCKET": BUCKET,
               "CBSYNC_REMOTE_OFFSITE_PATH_STYLE": "true",
               "AWS_ACCESS_KEY_ID": "id", "AWS_SECRET_ACCESS_KEY": "secret"}
        p = self.w.run("push", env=env)
        line = self.assertFails(p, 10, "the server's certificate is not trusted")
        self.assertIn("HINT: ", line)
        self.assertIn("ca_file", line)
        env["CBSYNC_REMOTE_OFFSITE_CA_FILE"] = cert
        p = self.w.run("push", env=env)
        line = self.assertFails(p, 10, "the server's certificate is for another host name")
        self.assertIn("endpoint", line.split("HINT: ", 1)[1])


class SftpFaultsTest(SftpCase):
    def remote(self, rel):
        return os.path.join(self.ssh.root, rel)

    def names(self, rel):
        d = self.remote(rel)
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    def test_killed_pushes_leave_no_temp_files_of_ours(self):
        rel = self.id().rsplit(".", 1)[1]
        os.makedirs(self.remote(rel))
        # Another host's upload in flight, under a backup name.
        foreign = ".cbsync-tmp-cloudbrain_manual_20200101_000000.db.gz.0123456789abcdef"
        with open(os.path.join(self.remote(rel), foreign), "wb") as f:
            f.write(b"someone else's upload")
        name = fake_backup(self.w.backups, 40)
        loop = KillLoop(self, self.env(rel))

        def ours():
            return [n for n in self.names(rel) if n.startswith(".cbsync-tmp-") and n != foreign]

        for i in range(KILLS - 1):
            loop.kill(delay=loop.rng.uniform(0.02, 0.8))
            if name in self.names(rel):
                os.unlink(os.path.join(self.remote(rel), name))
        before = set(ours())
        loop.kill(wait_until=lambda: any(n.startswith(".cbsync-tmp-" + name)
                                         for n in set(ours()) - before))
        self.assertGreaterEqual(len(ours()), 1, "the kills left nothing to clean up")

        p = self.w.run("push", env=self.env(rel))
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(ours(), [], "temp files of ours are left")
        self.assertIn(foreign, self.names(rel))
        self.assertEqual(read_bytes(os.path.join(self.remote(rel), name)),
                         read_bytes(os.path.join(self.w.backups, name)))
        self.assertEqual(journal_records(self.w.backups), [])

    def test_lone_metadata_is_completed_or_removed(self):
        rel = self.id().rsplit(".", 1)[1]
        d = self.remote(rel)
        os.makedirs(d)
        old = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)
        here = fake_backup(self.w.backups, 1, created=old)
        gone = "cloudbrain_manual_20240101_000000.db.gz"
        other_db = "otherdb_manual_20240101_000000.db.gz"
        for n, body in ((here, read_bytes(os.path.join(self.w.backups, here + ".json"))),
                        (gone, b'{"name": "gone"}'), (other_db, b'{"name": "other"}')):
            with open(os.path.join(d, n + ".json"), "wb") as f:
                f.write(body)
        p = self.w.run("push", env=self.env(rel))
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(self.names(rel), sorted([here, here + ".json", other_db + ".json"]))
        self.assertEqual(read_bytes(os.path.join(d, here)),
                         read_bytes(os.path.join(self.w.backups, here)))

    def test_missing_parent_is_refused_unless_create_dir(self):
        base = self.id().rsplit(".", 1)[1]
        fake_backup(self.w.backups, 1)
        # A typo: the directory above the configured one does not exist.
        rel = f"{base}-typo/cloudbrain"
        p = self.w.run("push", env=self.env(rel))
        line = self.assertFails(p, 10, "does not exist")
        self.assertIn("HINT: ", line)
        self.assertIn("create_dir = true", line)
        self.assertFalse(os.path.exists(self.remote(f"{base}-typo")))
        # Asked for: the whole tree is made.
        p = self.w.run("push", env=self.env(rel, CBSYNC_REMOTE_OFF_CREATE_DIR="true"))
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(len([n for n in self.names(rel) if n.endswith(".db.gz")]), 1)
        # The last level alone is made when the one above it is there.
        os.makedirs(self.remote(base))
        p = self.w.run("push", env=self.env(f"{base}/cloudbrain"))
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(len([n for n in self.names(f"{base}/cloudbrain")
                              if n.endswith(".db.gz")]), 1)


if __name__ == "__main__":
    main()
