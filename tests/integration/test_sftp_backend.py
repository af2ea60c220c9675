"""The SFTP backend against a real OpenSSH sshd (tests/servers/sshd.py).

What runs:
  - the backend contract suite (tests/contract/contract.c, the `contract`
    program: CBSYNC_CONTRACT_BIN under CTest, else found in a build
    directory) against the sshd;
  - single operations through the driver built from tests/unit/sftp/
    (unit_sftp_test_sftp, run as "... drive CMD ARGS"), read back with
    OpenSSH's own `sftp` client and straight from the server's disk:
    byte-identical objects in nested directories with 0600/0700 modes,
    unknown / changed / pinned host keys, a wrong client key, a stopped
    server, kill -9 and SIGTERM in the middle of an upload.

Every test that needs the server fails when sshd cannot start (with its
log); nothing here skips.
"""
import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "servers"))

import sshd  # noqa: E402

DRIVER_NAME = "unit_sftp_test_sftp"


def _newest(paths):
    paths = [p for p in paths if os.path.isfile(p) and os.access(p, os.X_OK)]
    return max(paths, key=os.path.getmtime) if paths else None


def _build_dirs():
    """Where the programs may be: beside CBSYNC_CONTRACT_BIN, in CBSYNC_BIN's
    build tree, else any build directory of the checkout."""
    dirs = []
    if os.environ.get("CBSYNC_CONTRACT_BIN"):
        dirs.append(os.path.dirname(os.environ["CBSYNC_CONTRACT_BIN"]))
    if os.environ.get("CBSYNC_BIN"):
        dirs.append(os.path.join(os.path.dirname(os.environ["CBSYNC_BIN"]), "tests"))
    return dirs


def find_program(name):
    for d in _build_dirs():
        p = os.path.join(d, name)
        if os.path.isfile(p):
            return p
    return _newest(glob.glob(os.path.join(ROOT, "build*", "tests", name)))


CONTRACT = os.environ.get("CBSYNC_CONTRACT_BIN") or find_program("contract")
DRIVER = find_program(DRIVER_NAME)


def sftp_built():
    """False only if cbsync says it was built without the SFTP backend."""
    cbsync = os.environ.get("CBSYNC_BIN")
    if not cbsync or not os.path.exists(cbsync):
        return True
    p = subprocess.run([cbsync, "help", "backends"], capture_output=True, text=True)
    return p.returncode != 0 or "type = sftp" in p.stdout


def result_of(proc):
    m = re.search(r"^result=(\w+)$", proc.stderr, re.M)
    return m.group(1) if m else None


@unittest.skipUnless(sftp_built(), "cbsync was built with CBSYNC_BACKEND_SFTP=OFF")
class SftpBackendTest(unittest.TestCase):
    server = None

    @classmethod
    def setUpClass(cls):
        cls.server = sshd.SshServer().start()
        cls.scratch = tempfile.mkdtemp(prefix="cbsync-sftp-test-")

    @classmethod
    def tearDownClass(cls):
        if cls.server:
            cls.server.stop()
        shutil.rmtree(cls.scratch, ignore_errors=True)

    def setUp(self):
        if not DRIVER:
            self.fail(f"the driver program {DRIVER_NAME} is not built (tests/unit/sftp); "
                      "build the tree first")
        self.sub = self.id().rsplit(".", 1)[-1]
        self.remote_dir = os.path.join(self.server.root, self.sub)

    # -- helpers ---------------------------------------------------------------------
    def env(self, server=None, **keys):
        """The environment defining remote "t" on server (default: the class's),
        with keys (private_key=..., known_hosts=...) overriding the defaults."""
        s = server or self.server
        env = {k: v for k, v in os.environ.items() if not k.startswith("CBSYNC_REMOTE_")}
        values = {"type": "sftp", "url": s.url(self.sub), "private_key": s.client_key,
                  "known_hosts": s.known_hosts}
        values.update(keys)
        for k, v in values.items():
            if v is not None:
                env[f"CBSYNC_REMOTE_T_{k.upper()}"] = v
        return env

    def drive(self, *args, env=None, timeout=60, expect=None):
        """Run one driver command; expect=None: must succeed, else the
        result name it must fail with."""
        p = subprocess.run([DRIVER, "drive"] + [str(a) for a in args], env=env or self.env(),
                           capture_output=True, text=True, timeout=timeout)
        got = "ok" if p.returncode == 0 else result_of(p)
        want = expect or "ok"
        if got != want:
            self.fail(f"driver {args!r}: wanted {want}, got {got} (exit {p.returncode})\n"
                      f"stdout:\n{p.stdout}\nstderr:\n{p.stderr}\n"
                      f"sshd log (tail):\n{self.server.log()[-2000:]}")
        return p

    def file(self, name, size):
        path = os.path.join(self.scratch, f"{self.sub}-{name}")
        with open(path, "wb") as f:
            f.write(os.urandom(size))
        return path

    def read(self, path):
        with open(path, "rb") as f:
            return f.read()

    def server_files(self, server=None):
        """Every file under this test's remote directory, relative, from disk."""
        s = server or self.server
        base = os.path.join(s.root, self.sub)
        out = []
        for d, _, files in os.walk(base):
            out += [os.path.relpath(os.path.join(d, f), base) for f in files]
        return sorted(out)

    def listing(self, prefix="", env=None):
        p = self.drive("list", prefix, env=env)
        rows = [line.split("\t") for line in p.stdout.splitlines() if line]
        return {k: (int(size), int(mtime)) for k, size, mtime in rows}

    # -- the contract ------------------------------------------------------------------
    def test_contract_suite(self):
        if not CONTRACT:
            self.fail("the contract program (tests/contract) is not built: set "
                      "CBSYNC_CONTRACT_BIN or build the tree")
        p = subprocess.run([CONTRACT], env=self.env(), capture_output=True, text=True,
                           timeout=180)
        if p.returncode != 0:
            self.fail(f"{CONTRACT} failed ({p.returncode}) against sshd:\n{p.stdout[-4000:]}\n"
                      f"{p.stderr[-4000:]}\nsshd log (tail):\n{self.server.log()[-2000:]}")
        # It cleans up after itself: no object and no temp file left.
        self.assertEqual(self.server_files(), [])

    # -- what other tools see -------------------------------------------------------------
    def test_read_back_with_openssh_sftp(self):
        big = self.file("big", 3 * 1024 * 1024 + 17)
        meta = self.file("meta", 300)
        self.drive("put", "cloudbrain_daily_20260101_020000.db.gz", big)
        self.drive("put", "nested/deeper/x.db.gz.json", meta)
        out1 = os.path.join(self.scratch, "back1")
        out2 = os.path.join(self.scratch, "back2")
        self.server.sftp([f"get {self.remote_dir}/cloudbrain_daily_20260101_020000.db.gz {out1}",
                          f"get {self.remote_dir}/nested/deeper/x.db.gz.json {out2}"])
        self.assertEqual(self.read(out1), self.read(big))
        self.assertEqual(self.read(out2), self.read(meta))
        # Exactly the two objects, no temp files, private modes.
        self.assertEqual(self.server_files(),
                         ["cloudbrain_daily_20260101_020000.db.gz", "nested/deeper/x.db.gz.json"])
        mode = os.stat(os.path.join(self.remote_dir, "nested/deeper/x.db.gz.json")).st_mode
        self.assertEqual(mode & 0o777, 0o600)
        for d in ("nested", "nested/deeper"):
            self.assertEqual(os.stat(os.path.join(self.remote_dir, d)).st_mode & 0o777, 0o700)

        # The listing: sizes right, times to the minute.
        rows = self.listing()
        self.assertEqual(set(rows), {"cloudbrain_daily_20260101_020000.db.gz",
                                     "nested/deeper/x.db.gz.json"})
        self.assertEqual(rows["nested/deeper/x.db.gz.json"][0], 300)
        self.assertLess(abs(rows["nested/deeper/x.db.gz.json"][1] - time.time()), 120)
        self.assertEqual(set(self.listing("nested/")), {"nested/deeper/x.db.gz.json"})
        self.assertEqual(set(self.listing("cloud")), {"cloudbrain_daily_20260101_020000.db.gz"})

        # Re-uploading metadata replaces it (SFTP renames do not).
        meta2 = self.file("meta2", 123)
        self.drive("put", "nested/deeper/x.db.gz.json", meta2)
        self.server.sftp([f"get {self.remote_dir}/nested/deeper/x.db.gz.json {out2}"])
        self.assertEqual(self.read(out2), self.read(meta2))

        # get, byte for byte; missing objects.
        out3 = os.path.join(self.scratch, "back3")
        self.drive("get", "cloudbrain_daily_20260101_020000.db.gz", out3)
        self.assertEqual(self.read(out3), self.read(big))
        p = self.drive("get", "nested/none.json", out3, expect="not_found")
        self.assertIn("nested/none.json", p.stderr)
        self.drive("remove", "nested/deeper/x.db.gz.json")
        self.drive("remove", "nested/deeper/x.db.gz.json")  # missing: fine
        self.assertEqual(self.server_files(), ["cloudbrain_daily_20260101_020000.db.gz"])

    def test_memory_stays_bounded(self):
        # Objects stream through a fixed buffer, in both directions: a
        # 64 MiB object must not take 64 MiB of memory.  (AddressSanitizer
        # would hold freed memory in quarantine: off for this run.)
        size = 64 * 1024 * 1024
        src = os.path.join(self.scratch, f"{self.sub}-big")
        with open(src, "wb") as f:
            for _ in range(size // (1 << 20)):
                f.write(os.urandom(1 << 20))
        env = self.env()
        env["ASAN_OPTIONS"] = "detect_leaks=0:quarantine_size_mb=0"
        measure = ("import resource, subprocess, sys\n"
                   "rc = subprocess.run(sys.argv[1:]).returncode\n"
                   "print(rc, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")
        out = os.path.join(self.scratch, f"{self.sub}-back")
        for args in (["put", "big.db.gz", src], ["get", "big.db.gz", out]):
            p = subprocess.run([sys.executable, "-c", measure, DRIVER, "drive"] + args,
                               env=env, capture_output=True, text=True, timeout=120)
            rc, rss_kib = map(int, p.stdout.split())
            self.assertEqual(rc, 0, p.stderr)
            self.assertLess(rss_kib, 48 * 1024, f"{args[0]} of 64 MiB used {rss_kib} KiB")
        self.assertEqual(self.read(out), self.read(src))
        os.unlink(src)
        os.unlink(out)

    def test_missing_root_is_an_empty_remote(self):
        self.assertEqual(self.listing(), {})
        self.drive("get", "x.db.gz", os.path.join(self.scratch, "nothing"), expect="not_found")
        self.drive("remove", "x.db.gz")
        self.assertFalse(os.path.exists(self.remote_dir))

    # -- host keys ----------------------------------------------------------------------------
    def assert_nothing_uploaded(self):
        self.assertEqual(self.server_files(), [])

    def test_unknown_host_key(self):
        empty = os.path.join(self.scratch, "known_hosts_empty")
        open(empty, "w").close()
        p = self.drive("put", "x.db.gz", self.file("x", 1000), env=self.env(known_hosts=empty),
                       expect="remote")
        msg = p.stderr
        self.assertIn("host key is unknown", msg)
        self.assertIn(self.server.host_fingerprint, msg)
        self.assertIn(f"127.0.0.1:{self.server.port}", msg)
        self.assertIn("HINT", msg)
        self.assertIn(empty, msg)
        self.assert_nothing_uploaded()
        # No known_hosts file at all: the same, and it says so.
        p = self.drive("list", "", env=self.env(known_hosts=empty + ".missing"), expect="remote")
        self.assertIn("no such file", p.stderr)

    def test_changed_host_key(self):
        other = os.path.join(self.scratch, "other_host_key")
        line = sshd.keygen(other)
        kh = os.path.join(self.scratch, "known_hosts_changed")
        with open(kh, "w") as f:
            f.write(f"{self.server.host_pattern()} {' '.join(line.split()[:2])}\n")
        p = self.drive("put", "x.db.gz", self.file("x", 1000), env=self.env(known_hosts=kh),
                       expect="remote")
        self.assertIn("CHANGED", p.stderr)
        self.assertIn(self.server.host_fingerprint, p.stderr)
        self.assertIn(sshd.fingerprint(other + ".pub"), p.stderr)
        self.assertIn(f"ssh-keygen -R '{self.server.host_pattern()}'", p.stderr)
        self.assert_nothing_uploaded()

    def test_pinned_host_key(self):
        empty = os.path.join(self.scratch, "known_hosts_empty_pin")
        open(empty, "w").close()
        # Right pin: works, whatever known_hosts says.
        src = self.file("pinned", 5000)
        self.drive("put", "pinned.db.gz", src,
                   env=self.env(known_hosts=empty, host_key_sha256=self.server.host_fingerprint))
        self.assertEqual(self.read(os.path.join(self.remote_dir, "pinned.db.gz")), self.read(src))
        # Wrong pin: refused, even with a good known_hosts.
        other = os.path.join(self.scratch, "pin_other_key")
        sshd.keygen(other)
        wrong = sshd.fingerprint(other + ".pub")
        p = self.drive("put", "refused.db.gz", src, env=self.env(host_key_sha256=wrong),
                       expect="remote")
        self.assertIn("does not match host_key_sha256", p.stderr)
        self.assertIn(self.server.host_fingerprint, p.stderr)
        self.assertIn(wrong, p.stderr)
        self.assertEqual(self.server_files(), ["pinned.db.gz"])
        # Not a fingerprint at all: a configuration error.
        self.drive("list", "", env=self.env(host_key_sha256="SHA256:nope"), expect="config")

    def write_known_hosts(self, name, lines, hashed=False):
        path = os.path.join(self.scratch, name)
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        if hashed:
            # As Debian's ssh writes it by default (HashKnownHosts yes).
            subprocess.run(["ssh-keygen", "-q", "-H", "-f", path], check=True,
                           capture_output=True)
            with open(path) as f:
                entries = [x for x in f.read().splitlines() if x and not x.startswith("#")]
            self.assertTrue(entries and all(x.startswith("|1|") for x in entries), entries)
        return path

    def other_key_line(self, name, key_type):
        return " ".join(sshd.keygen(os.path.join(self.scratch, name), key_type).split()[:2])

    def test_real_world_known_hosts(self):
        # A hashed file whose first lines are other hosts' RSA and ECDSA
        # keys: libcurl alone would force their key type on this server.
        ours = f"{self.server.host_pattern()} {self.server.host_pub}"
        kh = self.write_known_hosts("known_hosts_hashed", [
            "# earlier hosts",
            f"github.example {self.other_key_line('kh_rsa', 'rsa')}",
            f"gitlab.example {self.other_key_line('kh_ecdsa', 'ecdsa')}",
            ours,
        ], hashed=True)
        src = self.file("hashed", 4000)
        self.drive("put", "hashed.db.gz", src, env=self.env(known_hosts=kh))
        self.assertEqual(self.read(os.path.join(self.remote_dir, "hashed.db.gz")), self.read(src))
        # Host patterns and markers as OpenSSH reads them.
        kh = self.write_known_hosts("known_hosts_patterns", [
            f"@cert-authority *.example.org {self.other_key_line('kh_ca', 'ed25519')}",
            f"[127.0.0.*]:{self.server.port},!nothing.example {self.server.host_pub}",
        ])
        self.drive("list", "", env=self.env(known_hosts=kh))

    def test_revoked_host_key(self):
        ours = f"{self.server.host_pattern()} {self.server.host_pub}"
        kh = self.write_known_hosts("known_hosts_revoked", [ours, f"@revoked {ours}"])
        p = self.drive("put", "x.db.gz", self.file("x", 100), env=self.env(known_hosts=kh),
                       expect="remote")
        self.assertIn("@revoked", p.stderr)
        self.assertIn(self.server.host_fingerprint, p.stderr)
        self.assert_nothing_uploaded()

    def test_only_an_rsa_key_known(self):
        kh = self.write_known_hosts("known_hosts_rsa", [
            f"{self.server.host_pattern()} {self.other_key_line('kh_rsa_only', 'rsa')}"])
        p = self.drive("list", "", env=self.env(known_hosts=kh), expect="remote")
        self.assertIn("host key is unknown", p.stderr)
        self.assertIn("only an RSA key", p.stderr)

    # -- logins ---------------------------------------------------------------------------------
    def test_wrong_private_key(self):
        stranger = os.path.join(self.scratch, "stranger_key")
        sshd.keygen(stranger)
        p = self.drive("put", "x.db.gz", self.file("x", 1000),
                       env=self.env(private_key=stranger, password="hunter2-not-logged"),
                       expect="remote")
        self.assertIn(f"login as '{self.server.user}' failed", p.stderr)
        self.assertIn(stranger, p.stderr)
        self.assertNotIn("hunter2", p.stderr + p.stdout)
        self.assert_nothing_uploaded()
        # A key file that is not there is a configuration error, found at open.
        p = self.drive("list", "", env=self.env(private_key=stranger + ".none"), expect="config")
        self.assertIn("cannot be read", p.stderr)

    def test_encrypted_private_key(self):
        locked = os.path.join(self.scratch, "locked_key")
        line = sshd.keygen(locked, passphrase="correct horse")
        with open(os.path.join(self.server.dir, "authorized_keys"), "a") as f:
            f.write(line + "\n")
        p = self.drive("list", "", env=self.env(private_key=locked), expect="config")
        self.assertIn("private_key_passphrase", p.stderr)
        src = self.file("locked", 1000)
        self.drive("put", "locked.db.gz", src,
                   env=self.env(private_key=locked, private_key_passphrase="correct horse"))
        self.assertEqual(self.server_files(), ["locked.db.gz"])
        p = self.drive("list", "", env=self.env(private_key=locked,
                                                private_key_passphrase="wrong horse"),
                       expect="remote")
        self.assertNotIn("horse", p.stderr)

    def test_rsa_key_gets_a_hint(self):
        # libssh2 1.10 signs with RSA keys the SHA-1 way (ssh-rsa), which
        # OpenSSH 9 refuses: the error must say so.  Should a newer libssh2
        # log in, that is fine too.
        rsa = os.path.join(self.scratch, "rsa_key")
        line = sshd.keygen(rsa, "rsa")
        with open(os.path.join(self.server.dir, "authorized_keys"), "a") as f:
            f.write(line + "\n")
        p = subprocess.run([DRIVER, "drive", "list", ""], env=self.env(private_key=rsa),
                           capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            self.assertEqual(result_of(p), "remote", p.stderr)
            self.assertIn("RSA key", p.stderr)
            self.assertIn("ed25519", p.stderr)

    # -- the server goes away ---------------------------------------------------------------------
    def test_server_stopped(self):
        s = sshd.SshServer().start()
        try:
            env = self.env(server=s)
            src = self.file("s", 2000)
            self.drive("put", "before.db.gz", src, env=env)
            s.pause()
            p = self.drive("put", "during.db.gz", src, env=env, expect="retry")
            self.assertIn(f"127.0.0.1:{s.port}", p.stderr)
            self.drive("list", "", env=env, expect="retry")
            self.drive("get", "before.db.gz", os.path.join(self.scratch, "g"), env=env,
                       expect="retry")
            s.resume()
            self.drive("put", "after.db.gz", src, env=env)
            self.assertEqual(self.server_files(server=s), ["after.db.gz", "before.db.gz"])
        finally:
            s.stop()

    def test_session_dropped_between_operations(self):
        # One backend instance keeps its SSH session between operations;
        # when the server drops it (restarted here), the next operation
        # notices and logs in again instead of failing.
        s = sshd.SshServer().start()
        try:
            src = self.file("again", 70000)
            go = os.path.join(self.scratch, "go-" + self.sub)
            proc = subprocess.Popen([DRIVER, "drive", "twice", go, "put", "again.db.gz", src],
                                    env=self.env(server=s), stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
            deadline = time.monotonic() + 30
            while not os.path.exists(go + ".ready") and proc.poll() is None:
                self.assertLess(time.monotonic(), deadline)
                time.sleep(0.02)
            s.pause()
            s.resume()
            open(go, "w").close()
            out, errs = proc.communicate(timeout=60)
            self.assertEqual(proc.returncode, 0, errs)
            self.assertEqual(self.read(os.path.join(s.root, self.sub, "again.db.gz")),
                             self.read(src))
            # Same process, two logins: one per server life.
            self.assertEqual(s.log().count("Accepted publickey"), 2, s.log())
        finally:
            s.stop()

    # -- interrupted uploads -------------------------------------------------------------------------
    def start_slow_put(self, key, size):
        src = self.file(key, size)
        proc = subprocess.Popen([DRIVER, "drive", "put-slow", key, src, "15"], env=self.env(),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # Wait for the temp file to appear on the server and start filling.
        deadline = time.monotonic() + 20
        temp = None
        while time.monotonic() < deadline and proc.poll() is None:
            if os.path.isdir(self.remote_dir):
                names = [n for n in os.listdir(self.remote_dir)
                         if n.startswith(f".cbsync-tmp-{key}.")]
                if names and os.path.getsize(os.path.join(self.remote_dir, names[0])) > 0:
                    temp = names[0]
                    break
            time.sleep(0.02)
        if temp is None:
            proc.kill()
            out, errs = proc.communicate()
            self.fail(f"the upload never showed a temp file on the server:\n{out}\n{errs}")
        return proc, temp, src

    def test_kill_9_mid_upload_leaves_only_a_temp_file(self):
        key = "killed.db.gz"
        proc, temp, src = self.start_slow_put(key, 6 * 1024 * 1024)
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        self.assertEqual(proc.returncode, -signal.SIGKILL)
        self.assertFalse(os.path.exists(os.path.join(self.remote_dir, key)))
        self.assertLess(os.path.getsize(os.path.join(self.remote_dir, temp)),
                        os.path.getsize(src))
        # The listing shows the temp file, nothing under the final name.
        rows = self.listing()
        self.assertEqual(set(rows), {temp})
        ls = self.server.sftp([f"ls -a {self.remote_dir}"]).stdout
        self.assertIn(temp, ls)
        self.assertNotIn(f"/{key}\n", ls)

        # remove_stale spares it while it is fresh, removes it once old.
        now = int(time.time())
        self.assertEqual(self.drive("remove-stale", now - 3600).stdout.strip(), "removed 0")
        old = now - 2 * 3600
        os.utime(os.path.join(self.remote_dir, temp), (old, old))
        self.assertEqual(self.drive("remove-stale", now - 3600).stdout.strip(), "removed 1")
        self.assertEqual(self.server_files(), [])

        # The next upload completes it.
        self.drive("put", key, src)
        self.assertEqual(self.read(os.path.join(self.remote_dir, key)), self.read(src))
        self.assertEqual(self.server_files(), [key])

    def test_sigterm_mid_upload_cleans_up(self):
        key = "stopped.db.gz"
        proc, temp, _ = self.start_slow_put(key, 6 * 1024 * 1024)
        proc.send_signal(signal.SIGTERM)
        out, errs = proc.communicate(timeout=30)
        self.assertEqual(proc.returncode, 1, errs)
        self.assertIn("result=interrupted", errs)
        # put_abort removed its temp file; nothing under the final name.
        self.assertEqual(self.server_files(), [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
