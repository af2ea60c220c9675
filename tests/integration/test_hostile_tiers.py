"""Hostile and shared tiers, through the binary: decompression bombs, other
databases' backups in the same prefix, names cbsync would never write, planted
"newest" backups, control characters in names, and the modes of restored
files.  Remotes are the real Swift (s3api) and sshd, and the local mirror."""
import datetime as dt
import gzip
import hashlib
import http.server
import json
import os
import resource
import zlib

from harness import (CbsyncTest, cbsync_env, db_rows, integrity, main, make_db, read_bytes,
                     serve_http)
from remotes import S3Case, SftpCase

BUCKET = "cbsync-hostile"
MiB = 1 << 20
# A bomb: this many zero bytes, deflated to about a thousandth of that.
BOMB_BYTES = 256 * MiB
# The file size limit cbsync runs under in the bomb tests: writing past it
# kills the process (SIGXFSZ), so a bomb that is written out cannot pass.
FSIZE_LIMIT = 48 * MiB

_bomb = None


def bomb_bytes():
    """A gzip of BOMB_BYTES zeros (made once, a few hundred KiB)."""
    global _bomb
    if _bomb is None:
        c = zlib.compressobj(9, zlib.DEFLATED, 31)
        zeros = bytes(MiB)
        parts = [c.compress(zeros) for _ in range(BOMB_BYTES // MiB)]
        parts.append(c.flush())
        _bomb = b"".join(parts)
    return _bomb


def meta_for(name, data, original_size, db="cloudbrain"):
    stem, kind, d, t = name[:-len(".db.gz")].rsplit("_", 3)
    created = dt.datetime.strptime(d + t, "%Y%m%d%H%M%S")
    return json.dumps({
        "format": 1, "name": name, "database": db, "type": kind,
        "created": created.strftime("%Y-%m-%dT%H:%M:%SZ"), "original_size": original_size,
        "compressed_size": len(data), "compression_ratio": 50.0,
        "sha256": hashlib.sha256(data).hexdigest(), "page_size": 4096,
        "page_count": max(1, original_size // 4096), "tool": "cbsync", "version": "test"})


def stamp(delta=dt.timedelta()):
    return (dt.datetime.now(dt.timezone.utc) + delta).strftime("%Y%m%d_%H%M%S")


def limit_file_size():
    resource.setrlimit(resource.RLIMIT_FSIZE, (FSIZE_LIMIT, FSIZE_LIMIT))


def plant(directory, name, data, meta=None):
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data)
    if meta is not None:
        with open(os.path.join(directory, name + ".json"), "w") as f:
            f.write(meta)


class LocalTierTest(CbsyncTest):
    """The local tier and the local mirror backend."""

    def setUp(self):
        super().setUp()
        self.mirror = self.w.path("mirror")
        os.makedirs(self.mirror)
        self.env = {"CBSYNC_REMOTE_USB_TYPE": "local", "CBSYNC_REMOTE_USB_PATH": self.mirror}

    def limited(self, *args, env=None):
        """Run cbsync with the file size limit (a bomb written out dies of it)."""
        import subprocess
        from harness import CBSYNC
        return subprocess.run([CBSYNC] + list(args), cwd=self.w.root, env=cbsync_env(env),
                              capture_output=True, text=True, timeout=120,
                              preexec_fn=limit_file_size)

    def test_bomb_with_lying_metadata_is_stopped_at_its_size(self):
        make_db(self.w.db, rows=50)
        before = read_bytes(self.w.db)
        data = bomb_bytes()
        name = f"cloudbrain_manual_{stamp()}.db.gz"
        plant(self.w.backups, name, data, meta_for(name, data, 4 * MiB))
        p = self.limited("restore", "--path", os.path.join(self.w.backups, name))
        err = self.assertFails(p, 5, "decompresses to more than the 4194304 bytes its "
                                     "metadata gives")
        self.assertIn(name, err)
        self.assertEqual(read_bytes(self.w.db), before)
        self.assertNoTempFiles()
        p = self.limited("verify", name)
        self.assertEqual(p.returncode, 5, p.stdout + p.stderr)
        self.assertIn("FAILED  " + name, p.stdout)
        self.assertIn("its metadata gives", p.stdout)
        self.assertNoTempFiles()

    def test_bomb_without_metadata_stops_at_the_ceiling(self):
        make_db(self.w.db, rows=50)
        data = bomb_bytes()
        name = f"cloudbrain_manual_{stamp()}.db.gz"
        plant(self.w.backups, name, data)
        target = self.w.path("restored.db")
        p = self.limited("restore", "--path", os.path.join(self.w.backups, name), "--to",
                         target, env={"CBSYNC_RESTORE_MAX_SIZE": "16M"})
        self.assertFails(p, 5, "has no metadata and decompresses to more than 16.0 MiB, the "
                               "ceiling for such a backup")
        self.assertFalse(os.path.exists(target))
        self.assertNoTempFiles(self.w.path())
        # A bad ceiling is a configuration error.
        p = self.w.run("verify", name, env={"CBSYNC_RESTORE_MAX_SIZE": "lots"})
        self.assertFails(p, 3, "CBSYNC_RESTORE_MAX_SIZE: \"lots\" is not a size")

    def test_bomb_on_a_remote_falls_back_and_verify_flags_it(self):
        make_db(self.w.db, rows=120)
        self.w.ok("backup", env=self.env)
        genuine = self.w.backup_files()[0]
        data = bomb_bytes()
        name = f"cloudbrain_manual_{stamp(dt.timedelta(minutes=1))}.db.gz"
        plant(self.mirror, name, data, meta_for(name, data, 4 * MiB))
        target = self.w.path("fresh.db")
        p = self.limited("restore", "--from", "usb", "--latest", "--fallback", "--to", target,
                         env=self.env)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("its metadata gives; stopped there; trying the next candidate",
                      p.stderr)
        self.assertIn(f"Restored {genuine} from remote 'usb'", p.stdout)
        self.assertEqual(db_rows(target), 120)
        p = self.limited("verify", "--tier", "usb", "--all", env=self.env)
        self.assertEqual(p.returncode, 5, p.stdout + p.stderr)
        self.assertIn(f"FAILED  {name} (remote 'usb')", p.stdout)
        self.assertIn(f"ok      {genuine}", p.stdout)
        self.assertNoTempFiles()

    def test_other_databases_backups_are_never_pruned(self):
        make_db(self.w.db, rows=10)
        others = ["otherdb_daily_20200101_000000.db.gz", "otherdb_daily_20200102_000000.db.gz"]
        for d in (self.w.backups, self.mirror):
            for n in others:
                data = gzip.compress(b"not ours")
                plant(d, n, data, meta_for(n, data, 8, db="otherdb"))
        env = dict(self.env, CBSYNC_LOCAL_KEEP_DAILY="1d", CBSYNC_REMOTE_USB_KEEP_DAILY="1d")
        self.w.ok("backup", "--type", "daily", env=env)
        for d in (self.w.backups, self.mirror):
            for n in others:
                self.assertTrue(os.path.exists(os.path.join(d, n)), f"{n} deleted from {d}")
                self.assertTrue(os.path.exists(os.path.join(d, n + ".json")))
        for tier in ("usb", "local"):
            p = self.w.ok("prune", "--tier", tier, env=env)
            self.assertNotIn("otherdb", p.stdout)
        p = self.w.ok("prune", "--tier", "all", "--dry-run", env=env)
        self.assertNotIn("otherdb", p.stdout)
        for d in (self.w.backups, self.mirror):
            self.assertEqual(len([f for f in os.listdir(d) if f.startswith("otherdb")]), 4)

    def test_control_characters_in_names_reach_no_terminal_or_log(self):
        make_db(self.w.db, rows=10)
        self.w.ok("backup", env=self.env)
        evil = "\x1b[2J\x1b[Hcloudbrain_daily_20200101_000000.db.gz"
        plant(self.mirror, evil, gzip.compress(b"x"))
        plant(self.mirror, "cloudbrain\nforged_daily_20200101_000000.db.gz",
              gzip.compress(b"x"))
        for args in (("list", "--tier", "usb"), ("list", "--tier", "all"), ("push",),
                     ("verify", "--tier", "usb"), ("prune", "--tier", "usb")):
            p = self.w.run(*args, env=self.env)
            self.assertEqual(p.returncode, 0, f"{args}: {p.stdout} {p.stderr}")
            self.assertNotIn("\x1b", p.stdout + p.stderr)
            self.assertNotIn("forged", p.stdout, args)
        p = self.w.run("list", "--tier", "usb", env=self.env)
        self.assertIn("ignoring 2 objects whose name cbsync would never write", p.stderr)
        self.assertIn("\\x1b[2J", p.stderr)
        self.assertEqual(sum("would never write" in l for l in p.stderr.splitlines()), 1)
        # Both files are still there: ignored, not deleted.
        self.assertIn(evil, os.listdir(self.mirror))
        # A name with a newline cannot forge a line in operations.log.
        forged = "x\n2026-01-01T00:00:00Z restore forged.db.gz ok 0.01s"
        plant(self.w.backups, forged, b"junk")
        log = os.path.join(self.w.backups, "operations.log")
        before = read_bytes(log).count(b"\n")
        p = self.w.run("verify", forged)
        self.assertEqual(p.returncode, 5, p.stdout + p.stderr)
        lines = read_bytes(log).decode().splitlines()
        self.assertEqual(len(lines), before + 1, lines[-3:])
        self.assertIn("x\\x0a2026-01-01T00:00:00Z restore forged", lines[-1])
        self.assertNotIn("\x1b", read_bytes(log).decode())

    def test_restored_files_are_private_under_umask_000(self):
        make_db(self.w.db, rows=30)
        os.chmod(self.w.db, 0o640)
        path = self.w.backup()
        old = os.umask(0)
        try:
            to = self.w.path("copy.db")
            self.w.ok("restore", "--path", path, "--to", to)
            self.assertEqual(os.stat(to).st_mode & 0o777, 0o600)
            # Over the live database: its mode stays.
            self.w.ok("restore", "--path", path)
            self.assertEqual(os.stat(self.w.db).st_mode & 0o777, 0o640)
            # No database: restored by rename, private.
            os.unlink(self.w.db)
            self.w.ok("restore", "--path", path)
            self.assertEqual(os.stat(self.w.db).st_mode & 0o777, 0o600)
            self.assertEqual(db_rows(self.w.db), 30)
            # ... unless [database] mode says otherwise.
            os.unlink(self.w.db)
            self.w.ok("restore", "--path", path, env={"CBSYNC_DATABASE_MODE": "0660"})
            self.assertEqual(os.stat(self.w.db).st_mode & 0o777, 0o660)
            p = self.w.run("restore", "--path", path, "--to", self.w.path("x.db"),
                           env={"CBSYNC_DATABASE_MODE": "0777"})
            self.assertFails(p, 3, "CBSYNC_DATABASE_MODE: \"0777\" is not a file mode")
        finally:
            os.umask(old)


class _LongerThanListed(http.server.BaseHTTPRequestHandler):
    """An S3 endpoint that lists a 1 KiB backup and then streams 64 MiB."""
    name = None   # the key: prefix/name
    meta = None

    def log_message(self, *a):
        pass

    def do_GET(self):
        if "list-type=2" in self.path:
            body = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult>"
                    f"<Name>b</Name><KeyCount>2</KeyCount><IsTruncated>false</IsTruncated>"
                    f"<Contents><Key>{self.name}</Key><Size>1024</Size>"
                    "<LastModified>2026-01-01T00:00:00.000Z</LastModified></Contents>"
                    f"<Contents><Key>{self.name}.json</Key><Size>{len(self.meta)}</Size>"
                    "<LastModified>2026-01-01T00:00:00.000Z</LastModified></Contents>"
                    "</ListBucketResult>").encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.path.split("?")[0].endswith(".json"):
            self.send_response(200)
            self.send_header("Content-Length", str(len(self.meta)))
            self.end_headers()
            self.wfile.write(self.meta)
        else:
            self.send_response(200)
            self.send_header("Content-Length", str(64 * MiB))
            self.end_headers()
            chunk = bytes(MiB)
            try:
                for _ in range(64):
                    self.wfile.write(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass


class S3Test(S3Case):
    BUCKET = BUCKET

    def test_other_databases_and_odd_names_are_left_alone(self):
        others = ["otherdb_daily_20200101_000000.db.gz", "otherdb_daily_20200102_000000.db.gz"]
        for n in others:
            data = gzip.compress(b"not ours")
            self.put(n, data)
            self.put(n + ".json", meta_for(n, data, 8, db="otherdb").encode())
        odd = "a b_daily_20200101_000000.db.gz"
        self.put(odd, b"x")
        self.put(odd + ".json", b"{}")
        make_db(self.w.db, rows=10)
        env = self.env(CBSYNC_REMOTE_OFFSITE_KEEP_DAILY="1w")
        for _ in range(2):
            p = self.w.run("backup", "--type", "daily", env=env)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        p = self.w.run("push", env=env)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(sum("would never write" in l for l in p.stderr.splitlines()), 1,
                         p.stderr)
        keys = self.keys()
        for n in others + [odd]:
            self.assertIn(n, keys)
            self.assertIn(n + ".json", keys)
        p = self.w.run("prune", "--tier", "offsite", env=env)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(len([k for k in self.keys() if k.startswith("otherdb")]), 4)
        p = self.w.run("list", "--tier", "offsite", env=env)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_a_planted_newest_backup_does_not_win(self):
        make_db(self.w.db, rows=77)
        env = self.env()
        self.w.ok("backup", env=env)
        genuine = self.w.backup_files()[0]
        # A self-consistent database with another content, under names that
        # sort newest: one without metadata, one dated in the future.
        planted_db = self.w.path("planted.db")
        make_db(planted_db, rows=3)
        data = gzip.compress(read_bytes(planted_db))
        no_meta = "cloudbrain_manual_20991231_235959.db.gz"
        self.put(no_meta, data)
        future = f"cloudbrain_manual_{stamp(dt.timedelta(days=2))}.db.gz"
        self.put(future, data)
        self.put(future + ".json", meta_for(future, data, len(read_bytes(planted_db))).encode())
        target = self.w.path("fresh.db")
        p = self.w.run("restore", "--from", "offsite", "--latest", "--to", target, env=env)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn(f"Restored {genuine} from remote 'offsite'", p.stdout)
        self.assertEqual(db_rows(target), 77)
        self.assertIn(f"passing over {no_meta} on remote 'offsite': it has no metadata",
                      p.stderr)
        self.assertIn(f"passing over {future} on remote 'offsite': its date lies in the "
                      "future", p.stderr)
        # The container's first start restores the same way.
        os.unlink(target)
        p = self.w.run("restore", "--latest", "--if-db-not-exists", "--if-backup-exists",
                       "--to", target, env=env)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(db_rows(target), 77)
        # --name still takes it, and says what it could not check.
        other = self.w.path("named.db")
        p = self.w.run("restore", "--from", "offsite", "--name", no_meta, "--to", other,
                       env=env)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("has no metadata: its SHA-256 and size cannot be checked", p.stderr)
        self.assertEqual(db_rows(other), 3)
        self.assertEqual(integrity(other), "ok")

    def test_a_remote_sending_more_than_it_listed_is_cut_off(self):
        name = f"cloudbrain_manual_{stamp()}.db.gz"
        handler = type("H", (_LongerThanListed,), {
            "name": f"{self.prefix}/{name}", "meta": meta_for(name, b"x" * 1024, 4096).encode()})
        srv = serve_http(self, handler)
        env = self.env(CBSYNC_REMOTE_OFFSITE_ENDPOINT=f"http://127.0.0.1:{srv.server_port}")
        p = self.w.run("verify", "--tier", "offsite", env=env)
        self.assertEqual(p.returncode, 5, p.stdout + p.stderr)
        self.assertIn("the remote sent more than the 1024 bytes its listing gave; stopped "
                      "there", p.stdout)
        self.assertNoTempFiles()


class SftpTest(SftpCase):
    def test_other_databases_backups_are_never_pruned(self):
        rel = f"{self.id()}/shared"
        remote = os.path.join(self.ssh.root, rel)
        others = ["otherdb_daily_20200101_000000.db.gz", "otherdb_daily_20200102_000000.db.gz"]
        for n in others:
            data = gzip.compress(b"not ours")
            plant(remote, n, data, meta_for(n, data, 8, db="otherdb"))
        make_db(self.w.db, rows=10)
        env = self.env(rel, CBSYNC_REMOTE_OFF_KEEP_DAILY="1w")
        for _ in range(2):
            p = self.w.run("backup", "--type", "daily", env=env)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        p = self.w.run("prune", "--tier", "off", env=env)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        names = os.listdir(remote)
        for n in others:
            self.assertIn(n, names)
            self.assertIn(n + ".json", names)
        self.assertEqual(len([n for n in names if n.startswith("cloudbrain_daily_")]), 4)


if __name__ == "__main__":
    main()
