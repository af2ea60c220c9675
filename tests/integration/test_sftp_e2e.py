"""cbsync against a real OpenSSH sshd: push, read back with OpenSSH's sftp,
restore on a fresh machine, and the failures users meet."""
import os
import shutil

from harness import CbsyncTest, db_rows, integrity, main, make_db, read_bytes
from remotes import SftpCase
from sshd import SshServer  # on the path once remotes is imported


class SftpTest(SftpCase):
    def remote_names(self, path):
        d = os.path.join(self.ssh.root, path)
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    def test_push_read_back_and_restore_on_a_fresh_machine(self):
        env = self.env(f"{self.id()}/cloudbrain", CBSYNC_REMOTE_OFF_CREATE_DIR="true")
        make_db(self.w.db, rows=250)
        p = self.w.run("backup", env=env)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("remote 'off': uploaded 1 backup", p.stdout)
        name = self.w.backup_files()[0]
        # OpenSSH's own client reads back exactly the local file and metadata.
        got = self.w.path("got.db.gz")
        remote_dir = os.path.join(self.ssh.root, self.id(), "cloudbrain")
        self.ssh.sftp([f"get {remote_dir}/{name} {got}", f"get {remote_dir}/{name}.json {got}.json"])
        self.assertEqual(read_bytes(got), read_bytes(os.path.join(self.w.backups, name)))
        self.assertEqual(read_bytes(got + ".json"),
                         read_bytes(os.path.join(self.w.backups, name + ".json")))
        listing = self.ssh.sftp([f"ls -1 {remote_dir}"]).stdout
        self.assertNotIn(".cbsync-tmp-", listing)
        expected = read_bytes(self.w.db)
        # The machine dies; a new one has only the configuration.
        shutil.rmtree(os.path.dirname(self.w.db))
        p = self.w.run("restore", "--latest", "--if-db-not-exists", "--if-backup-exists",
                       env=env)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn(f"Restored {name} from remote 'off'", p.stdout)
        self.assertEqual(integrity(self.w.db), "ok")
        self.assertEqual(db_rows(self.w.db), 250)
        self.assertEqual(len(read_bytes(self.w.db)), len(expected))

    def test_unknown_host_key_uploads_nothing(self):
        empty = self.w.path("known_hosts")
        open(empty, "w").close()
        env = self.env(f"{self.id()}/x", CBSYNC_REMOTE_OFF_KNOWN_HOSTS=empty)
        make_db(self.w.db, rows=10)
        p = self.w.run("backup", env=env)
        line = self.assertFails(p, 10)
        self.assertIn("host key", line)
        self.assertIn("not offsite yet", line)
        self.assertEqual(self.remote_names(self.id()), [])
        self.assertEqual(len(self.w.backup_files()), 1)

    def test_wrong_key_is_refused(self):
        other = self.w.path("other_key")
        import subprocess
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", other], check=True)
        env = self.env(f"{self.id()}/x", CBSYNC_REMOTE_OFF_PRIVATE_KEY=other)
        make_db(self.w.db, rows=10)
        p = self.w.run("push", env=env)
        self.assertFails(p, 10)
        self.assertEqual(self.remote_names(self.id()), [])

    def test_corrupt_remote_object_is_refused_then_fallback(self):
        env = self.env(f"{self.id()}/db", CBSYNC_REMOTE_OFF_CREATE_DIR="true")
        make_db(self.w.db, rows=40)
        first = os.path.basename(self.w.backup("--no-sync"))
        import sqlite3
        con = sqlite3.connect(self.w.db)
        with con:
            con.execute("INSERT INTO ai_messages(content) VALUES ('second')")
        con.close()
        second = os.path.basename(self.w.backup("--no-sync"))
        self.assertEqual(self.w.run("push", env=env).returncode, 0)
        path = os.path.join(self.ssh.root, self.id(), "db", second)
        data = bytearray(read_bytes(path))
        data[len(data) // 3] ^= 0x01
        with open(path, "wb") as f:
            f.write(data)
        before = read_bytes(self.w.db)
        p = self.w.run("restore", "--latest", "--from", "off", env=env)
        line = self.assertFails(p, 5)
        self.assertIn(second, line)
        self.assertEqual(read_bytes(self.w.db), before)
        p = self.w.run("restore", "--latest", "--from", "off", "--fallback", env=env)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn(f"Restored {first} from remote 'off'", p.stdout)
        self.assertEqual(db_rows(self.w.db), 40)


class SftpOutageTest(CbsyncTest):
    def test_server_down_then_one_sync_catches_up(self):
        ssh = SshServer()
        ssh.start()
        self.addCleanup(ssh.stop)
        env = {"CBSYNC_REMOTE_OFF_TYPE": "sftp", "CBSYNC_REMOTE_OFF_URL": ssh.url("b"),
               "CBSYNC_REMOTE_OFF_PRIVATE_KEY": ssh.client_key,
               "CBSYNC_REMOTE_OFF_KNOWN_HOSTS": ssh.known_hosts,
               "CBSYNC_REMOTE_OFF_CONNECT_TIMEOUT": "3s"}
        make_db(self.w.db, rows=10)
        self.assertEqual(self.w.run("backup", env=env).returncode, 0)
        ssh.pause()
        for _ in range(2):
            p = self.w.run("backup", env=env)
            self.assertFails(p, 9, "not offsite yet")
        self.assertEqual(len(self.w.backup_files()), 3)
        ssh.resume()
        p = self.w.run("push", env=env)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("uploaded 2 backups", p.stdout)
        self.assertIn("1 already there", p.stdout)
        names = sorted(f for f in os.listdir(os.path.join(ssh.root, "b")) if f.endswith(".db.gz"))
        self.assertEqual(names, self.w.backup_files())


if __name__ == "__main__":
    main()
