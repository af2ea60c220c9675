"""Hostile and careless set-ups, through the real binary: config input that
would hang or eat memory, credentials written into URLs, set-ups that work but
expose secrets (one warning line each), and a metrics listener under a
slowloris attack."""
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time

from harness import CBSYNC, CbsyncTest, error_lines, free_port, main, make_db
from test_agent import Agent

WARNING = re.compile(r"^\S+ warn +\[config\] (.*)$")

# Runs one command and reports its exit status (None if it had to be killed
# after 30 s), stderr, wall time and peak resident memory (ru_maxrss of the
# one child, in KiB), as JSON.
MEASURE = r"""
import json, resource, subprocess, sys, time
t0 = time.monotonic()
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
try:
    out, err = p.communicate(timeout=30)
    rc = p.returncode
except subprocess.TimeoutExpired:
    p.kill()
    out, err = p.communicate()
    rc = None
print(json.dumps({"rc": rc, "stderr": err[-4000:], "stdout": out[-4000:],
                  "seconds": time.monotonic() - t0,
                  "maxrss_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""

S3_REMOTE = """
[remote "offsite"]
type = s3
bucket = backups
path_style = true
access_key_id = AKIAEXAMPLE
"""


def warnings(stderr):
    return [m.group(1) for m in map(WARNING.match, stderr.splitlines()) if m]


class HostileConfigTest(CbsyncTest):
    def config(self, text, name="cbsync.conf", mode=0o600, dir=None):
        path = os.path.join(dir or self.w.root, name)
        with open(path, "w") as f:
            f.write(f"[database]\npath = {self.w.db}\n[local]\ndir = {self.w.backups}\n")
            f.write(text)
        os.chmod(path, mode)
        return path

    def measure(self, *args):
        env = {k: v for k, v in os.environ.items() if not k.startswith("CBSYNC_")}
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        try:
            p = subprocess.run([sys.executable, "-c", MEASURE, CBSYNC, *args], cwd=self.w.root,
                               env=env, capture_output=True, text=True, timeout=90)
        except subprocess.TimeoutExpired:
            self.fail(f"cbsync {' '.join(args)} did not finish")
        self.assertEqual(p.returncode, 0, p.stderr)
        return json.loads(p.stdout)

    def check(self, *args, env=None, timeout=30):
        """Run cbsync with a safety net: a hang is a failure, not a stuck test."""
        try:
            return self.w.run(*args, env=env, timeout=timeout)
        except subprocess.TimeoutExpired:
            self.fail(f"cbsync {' '.join(args)} hung (no exit in {timeout}s)")

    # ---- bounded input ----

    def assertBoundedFailure(self, result, message):
        """Exit 3 quickly, one clear line, memory bounded (ASan included)."""
        self.assertEqual(result["rc"], 3, result["stderr"])
        errs = error_lines(result["stderr"])
        self.assertEqual(len(errs), 1, result["stderr"])
        self.assertIn(message, errs[0])
        self.assertNotIn("AddressSanitizer", result["stderr"])
        self.assertLess(result["seconds"], 10)
        self.assertLess(result["maxrss_kib"], 200 * 1024, "peak memory")
        return errs[0]

    def test_dev_zero_as_config(self):
        r = self.measure("config", "check", "--config", "/dev/zero")
        line = self.assertBoundedFailure(r, "cannot read config file '/dev/zero': not a "
                                            "regular file (a character device)")
        self.assertIn("HINT: --config must name a regular file", line)

    def test_huge_config_file(self):
        big = self.w.path("big.conf")
        with open(big, "w") as f:
            line = "# " + "x" * 100 + "\n"
            f.write(line * (10 * 1024 * 1024 // len(line) + 1))
        os.chmod(big, 0o600)
        r = self.measure("config", "check", "--config", big)
        self.assertBoundedFailure(r, "it is larger than 1 MiB, far more than a config file "
                                     "needs; HINT: is this the right file?")
        # Not a line at all: the same, before any line is read.
        with open(big, "wb") as f:
            f.write(b"a" * (10 * 1024 * 1024))
        r = self.measure("list", "--config", big)
        self.assertBoundedFailure(r, "it is larger than 1 MiB")

    def test_fifo_is_refused_not_waited_on(self):
        fifo = self.w.path("secret.fifo")
        os.mkfifo(fifo, 0o600)
        config = self.config(f'{S3_REMOTE}endpoint = https://s3.example.com\n'
                             f'secret_access_key_file = {fifo}\n')
        p = self.check("config", "check", "--config", config)
        line = self.assertFails(p, 3, f"secret_access_key_file: cannot read '{fifo}': not a "
                                      "regular file (a FIFO)")
        self.assertIn("HINT: a _file setting names a regular file that holds the value", line)
        self.assertIn("cbsync.conf:12:", line)
        # The same in the environment, for a fixed key.
        p = self.check("list", env={"CBSYNC_LOCAL_DIR_FILE": fifo})
        self.assertFails(p, 3, f"environment CBSYNC_LOCAL_DIR_FILE: cannot read '{fifo}': not "
                               "a regular file (a FIFO)")
        # And as the config itself.
        p = self.check("list", env={"CBSYNC_CONFIG": fifo})
        self.assertFails(p, 3, f"cannot read config file '{fifo}': not a regular file (a "
                               "FIFO); HINT: CBSYNC_CONFIG must name a regular file")

    def test_directory_as_config(self):
        d = self.w.path("etc")
        os.mkdir(d)
        p = self.check("config", "check", "--config", d)
        self.assertFails(p, 3, f"cannot read config file '{d}': it is a directory; HINT: "
                               f"--config names the file itself, e.g. {d}/cbsync.conf")

    def test_large_secret_file(self):
        key = self.w.path("key.txt")
        with open(key, "w") as f:
            f.write("k" * (64 * 1024 + 1))
        os.chmod(key, 0o600)
        config = self.config(f"{S3_REMOTE}secret_access_key_file = {key}\n")
        p = self.check("config", "check", "--config", config)
        self.assertFails(p, 3, f"cannot read '{key}': it is larger than 64 KiB")

    # ---- credentials in URLs ----

    def assertNoSecret(self, p, secret):
        self.assertNotIn(secret, p.stdout + p.stderr)

    def test_credentials_in_s3_endpoint(self):
        config = self.config(f"{S3_REMOTE}endpoint = http://AKIA:hunter2pw@127.0.0.1:9000\n")
        p = self.check("config", "check", "--config", config)
        line = self.assertFails(p, 3, 'cbsync.conf:11: [remote "offsite"] endpoint: '
                                      "credentials do not belong in the URL")
        self.assertIn("HINT: remove \"user:password@\" from it and set access_key_id and "
                      "secret_access_key (or secret_access_key_file)", line)
        self.assertNoSecret(p, "hunter2pw")
        self.assertNotIn("configuration is valid", p.stderr)
        # A user name alone is a credential in an http(s) URL too.
        config = self.config(f"{S3_REMOTE}endpoint = https://AKIAONLY@s3.example.com\n")
        p = self.check("config", "check", "--config", config)
        self.assertFails(p, 3, "credentials do not belong in the URL")
        self.assertNoSecret(p, "AKIAONLY")
        # From the environment as well.
        config = self.config(S3_REMOTE)
        p = self.check("config", "check", "--config", config, env={
            "CBSYNC_REMOTE_OFFSITE_ENDPOINT": "https://k:hunter2pw@s3.example.com"})
        self.assertFails(p, 3, "environment CBSYNC_REMOTE_OFFSITE_ENDPOINT: credentials do "
                               "not belong in the URL")
        self.assertNoSecret(p, "hunter2pw")

    def test_password_in_sftp_url(self):
        config = self.config('[remote "box"]\ntype = sftp\n'
                             'url = sftp://backup:s3cretpw@127.0.0.1/srv/backups\n')
        p = self.check("config", "check", "--config", config)
        line = self.assertFails(p, 3, '[remote "box"] url: a password does not belong in the '
                                      "URL")
        self.assertIn("HINT: keep only the user (sftp://user@host/...) and set password (or "
                      "password_file)", line)
        self.assertNoSecret(p, "s3cretpw")
        # An invalid URL with credentials is not echoed either.
        config = self.config('[remote "box"]\ntype = sftp\n'
                             'url = sftp://backup@127.0.0.1/srv/a b s3cretpw\n')
        p = self.check("config", "check", "--config", config)
        self.assertFails(p, 3, "url: the value is not a URL")
        self.assertNoSecret(p, "s3cretpw")

    def test_user_in_sftp_url_is_fine(self):
        config = self.config('[remote "box"]\ntype = sftp\n'
                             'url = sftp://backup@127.0.0.1/srv/backups\npassword = pw\n')
        p = self.check("config", "check", "--config", config)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("url = sftp://backup@127.0.0.1/srv/backups", p.stdout)
        self.assertEqual(warnings(p.stderr), [])

    # ---- warnings for risky set-ups ----

    def test_clean_config_has_no_warnings(self):
        key = self.w.path("key.txt")
        with open(key, "w") as f:
            f.write("secret\n")
        os.chmod(key, 0o600)
        config = self.config(f"{S3_REMOTE}endpoint = http://127.0.0.1:9000\n"
                             f"secret_access_key_file = {key}\n")
        for args in (("config", "check"), ("list",)):
            p = self.check(*args, "--config", config)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertNotRegex(p.stderr, r"(?m)^\S+ warn ")

    def test_config_readable_by_others(self):
        config = self.config("", mode=0o644)
        expected = (f"config file '{config}' can be read by other users (mode 0644); HINT: "
                    f"chmod 600 '{config}' (or 640 with the service's group)")
        p = self.check("config", "check", "--config", config)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(warnings(p.stderr), [expected])
        # Every command that loads the config says it, once.
        p = self.check("list", "--config", config)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(warnings(p.stderr), [expected])
        p = self.check("list", env={"CBSYNC_CONFIG": config})
        self.assertEqual(warnings(p.stderr), [expected])

    def test_secret_file_readable_by_others(self):
        key = self.w.path("key.txt")
        with open(key, "w") as f:
            f.write("secret\n")
        os.chmod(key, 0o644)
        config = self.config(f"{S3_REMOTE}secret_access_key_file = {key}\n")
        p = self.check("config", "check", "--config", config)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(warnings(p.stderr), [
            f"{config}:11: [remote \"offsite\"] secret_access_key_file: '{key}' can be read "
            f"by other users (mode 0644); HINT: chmod 600 '{key}'"])
        # The secret itself is never shown.
        self.assertIn("secret_access_key = ********", p.stdout)

    def test_config_in_world_writable_directory(self):
        shared = self.w.path("shared")
        os.mkdir(shared)
        os.chmod(shared, 0o1777)
        config = self.config("", dir=shared)
        p = self.check("config", "check", "--config", config)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(warnings(p.stderr), [
            f"config file '{config}' is in a directory other users can write to "
            f"('{os.path.realpath(shared)}', mode 1777), so they could put their own in its "
            f"place; HINT: keep it in a directory only its owner can change, such as "
            f"/etc/cbsync"])
        p = self.check("list", "--config", config)
        self.assertEqual(len(warnings(p.stderr)), 1, p.stderr)

    def test_plain_http_to_another_host(self):
        config = self.config(f"{S3_REMOTE}endpoint = http://minio.invalid:9000\n"
                             "secret_access_key = example\n")
        p = self.check("config", "check", "--config", config)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(warnings(p.stderr), [
            f"{config}:11: [remote \"offsite\"] endpoint: plain http:// to minio.invalid, which "
            "is not this machine: requests and data cross the network unencrypted; HINT: use "
            "https://"])

    def test_all_warnings_one_line_each(self):
        key = self.w.path("key.txt")
        with open(key, "w") as f:
            f.write("secret\n")
        os.chmod(key, 0o604)
        config = self.config(f"{S3_REMOTE}endpoint = http://10.9.8.7\n"
                             f"secret_access_key_file = {key}\n", mode=0o640 | 0o004)
        p = self.check("config", "check", "--config", config)
        self.assertEqual(p.returncode, 0, p.stderr)
        w = warnings(p.stderr)
        self.assertEqual(len(w), 3, p.stderr)
        self.assertIn("config file", w[0])
        self.assertIn("plain http:// to 10.9.8.7", w[1])
        self.assertIn("secret_access_key_file", w[2])


class MetricsUnderAttackTest(CbsyncTest):
    def agent(self, listen):
        make_db(self.w.db, rows=10)
        config = self.w.path("cbsync.conf")
        with open(config, "w") as f:
            f.write(f"[database]\npath = {self.w.db}\n[local]\ndir = {self.w.backups}\n"
                    "[schedule]\ndaily = off\nweekly = off\nmonthly = off\n"
                    f"[metrics]\nlisten = {listen}\n")
        os.chmod(config, 0o600)
        return Agent(self, config)

    def probe(self, port):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", "/healthz")
            r = c.getresponse()
            ok = (r.status, r.read()) == (200, b"ok\n")
            c.close()
            return ok
        except OSError:
            return False

    def test_healthz_survives_slowloris(self):
        port = free_port()
        agent = self.agent(f"127.0.0.1:{port}")
        self.assertTrue(self.probe(port))

        stop = threading.Event()
        stats = {"opened": 0, "dropped": 0, "first_drop": None}
        t0 = time.monotonic()

        def open_slow():
            s = socket.create_connection(("127.0.0.1", port), timeout=2)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
            s.setblocking(False)
            stats["opened"] += 1
            return s

        def dropped(s):
            try:
                return s.recv(4096) == b""
            except BlockingIOError:
                return False
            except OSError:
                return True

        def attack():
            # 40 connections, each sending one more header line every 3 s and
            # never finishing its request; a dropped one is opened again.
            socks = []
            for _ in range(40):
                try:
                    socks.append(open_slow())
                except OSError:
                    socks.append(None)
            while not stop.wait(3):
                for i, s in enumerate(socks):
                    try:
                        if s is None or dropped(s):
                            raise ConnectionResetError
                        s.send(b"X-Slow: 1\r\n")
                    except OSError:
                        if s is not None:
                            stats["dropped"] += 1
                            if stats["first_drop"] is None:
                                stats["first_drop"] = time.monotonic() - t0
                            s.close()
                        try:
                            socks[i] = open_slow()
                        except OSError:
                            socks[i] = None
            for s in socks:
                if s:
                    s.close()

        attacker = threading.Thread(target=attack)
        attacker.start()
        results = []
        try:
            time.sleep(0.5)
            while time.monotonic() - t0 < 14:
                results.append((time.monotonic() - t0, self.probe(port)))
                time.sleep(0.5)
        finally:
            stop.set()
            attacker.join(timeout=30)
        failed = [round(t, 1) for t, ok in results if not ok and t > 1.0]
        self.assertEqual(failed, [], f"/healthz failed at {failed}s of {len(results)} probes")
        self.assertGreaterEqual(len(results), 15)
        # The slow connections were cut, not just outnumbered.
        self.assertGreater(stats["dropped"], 0, stats)
        self.assertLess(stats["first_drop"], 10, stats)
        self.assertEqual(agent.stop(), 0)
        self.assertEqual([l for l in agent.lines if "which other machines can reach" in l], [])

    def test_non_loopback_listen_warns(self):
        port = free_port()
        agent = self.agent(f"0.0.0.0:{port}")
        line = agent.wait_for("which other machines can reach")
        self.assertIn(f"listening on 0.0.0.0:{port}", line)
        self.assertIn("HINT: listen = 127.0.0.1:PORT", line)
        self.assertEqual(agent.count("which other machines can reach"), 1)
        self.assertTrue(self.probe(port))
        self.assertEqual(agent.stop(), 0)


if __name__ == "__main__":
    main()
