"""`cbsync config check` runs every check a command would (the backends'
settings checks included), and `config check --remotes` proves each remote
works -- list, write, read back and delete a probe -- against real servers:
Swift's S3 API, OpenSSH's sshd and a mirror directory, read back with boto3
and os.listdir.  Also: retention rules in unambiguous units, and the message
that says which configuration files were looked for."""
import os
import re
import sys
import unittest

from harness import HERE, CbsyncTest, error_lines, main

sys.path.insert(0, os.path.join(os.path.dirname(HERE), "servers"))
from sshd import SshServer, _free_port  # noqa: E402
from swift import SwiftS3  # noqa: E402

BUCKET = "cbsync-config-check"

# No credentials from the environment the tests run in.
NO_AWS = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": ""}

OK_LINE = re.compile(r"^remote '(\w+)' \((\w+)\): ok: listed (\d+) objects?; wrote, read back "
                     r"and deleted a probe object in \d+\.\d\ds$")


class ConfigCheckOfflineTest(CbsyncTest):
    """The settings each backend checks when a command opens it, without a
    server: every one of these used to pass config check and then fail every
    command with exit 3."""

    def config(self, text, name="cbsync.conf"):
        path = self.w.path(name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o600)
        return path

    def key_file(self):
        path = self.w.path("id_test")
        with open(path, "w") as f:
            f.write("not a real key, but a readable file\n")
        os.chmod(path, 0o600)
        return path

    def test_each_backend_setting_that_cannot_work_fails_the_check(self):
        key = self.key_file()
        s3 = ('[remote "offsite"]\ntype = s3\nbucket = cbsync-test\n'
              "endpoint = http://127.0.0.1:9000\n")
        creds = "access_key_id = AKIDEXAMPLE\nsecret_access_key = example-secret\n"
        sftp = '[remote "nas"]\ntype = sftp\n'
        cases = [
            ("IP endpoint without path_style", s3 + creds,
             "remote 'offsite': endpoint \"http://127.0.0.1:9000\" is an IP address, which "
             "cannot carry the bucket as a subdomain; HINT: set path_style = true"),
            ("no S3 credentials", s3 + "path_style = true\n",
             "remote 'offsite': no S3 credentials; HINT: set access_key_id and "
             "secret_access_key (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the "
             "environment)"),
            ("an ssh:// URL", sftp + f"url = ssh://backup@nas.example/srv\nprivate_key = {key}\n",
             "remote 'nas': url must start with sftp://; HINT: write url = "
             "sftp://user@host[:port]/path"),
            ("a URL without a user", sftp + f"url = sftp://nas.example/srv\nprivate_key = {key}\n",
             "remote 'nas': url names no user; HINT: write url = sftp://user@host[:port]/path"),
            ("no key", sftp + "url = sftp://backup@nas.example/srv\n",
             "remote 'nas': no way to log in as 'backup'; HINT: set private_key (or password)"),
            ("a malformed host_key_sha256", sftp + "url = sftp://backup@nas.example/srv\n"
             f"private_key = {key}\nhost_key_sha256 = SHA256:not-a-fingerprint\n",
             "remote 'nas': host_key_sha256 'SHA256:not-a-fingerprint' is not a SHA-256 "
             "fingerprint; HINT: on the server, ssh-keygen -lf"),
        ]
        for what, text, message in cases:
            with self.subTest(what):
                path = self.config(text)
                p = self.w.run("config", "check", "--config", path, env=NO_AWS)
                self.assertFails(p, 3, message)
                self.assertNotIn("configuration is valid", p.stderr)
                # The same configuration, as a command meets it.
                p = self.w.run("push", "--config", path, env=NO_AWS)
                self.assertFails(p, 3, message)
        # Fixed, it passes (offline: nothing is contacted).
        good = self.config(s3 + creds + "path_style = true\n" + sftp +
                           f"url = sftp://backup@nas.example/srv\nprivate_key = {key}\n"
                           "host_key_sha256 = SHA256:" + "A" * 43 + "\n")
        p = self.w.run("config", "check", "--config", good, env=NO_AWS)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("configuration is valid", p.stderr)
        self.assertNotIn("example-secret", p.stdout + p.stderr)

    def test_several_failing_remotes_get_a_line_each(self):
        key = self.key_file()
        path = self.config(
            '[remote "nas"]\ntype = sftp\nurl = sftp://nas.example/srv\n'
            f"private_key = {key}\n"
            '[remote "usb"]\ntype = local\npath = /mnt/usb\n'
            '[remote "box"]\ntype = sftp\nurl = sftp://backup@box.example/srv\n')
        p = self.w.run("config", "check", "--config", path, env=NO_AWS)
        line = self.assertFails(p, 3)
        self.assertEqual(line, "Error: 2 of 3 remotes failed the check; the first: remote "
                         "'nas': url names no user; HINT: write url = sftp://user@host[:port]/"
                         "path (an absolute path, or /~/path under the login directory)")
        invalid = [l for l in p.stderr.splitlines() if l.startswith("invalid: ")]
        self.assertEqual(len(invalid), 2, p.stderr)
        self.assertTrue(invalid[0].startswith("invalid: remote 'nas': url names no user"))
        self.assertTrue(invalid[1].startswith("invalid: remote 'box': no way to log in"))

    def test_bare_m_in_retention_warns_and_prints_as_months(self):
        path = self.config("[local]\nkeep_change = 30m\nkeep_daily = 30min\n"
                           "[watch]\nmax_delay = 5m\n")
        p = self.w.run("config", "check", "--config", path)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        warnings = [l for l in p.stderr.splitlines() if "warn" in l]
        self.assertEqual(len(warnings), 1, p.stderr)
        self.assertIn(f'{path}:2: [local] keep_change: "30m" means 30 months (in keep_* a bare '
                      '"m" is months, elsewhere minutes); HINT: write 30months, or 30min for '
                      'minutes', warnings[0])
        self.assertRegex(p.stdout, rf"(?m)^keep_change = 30months  # from {re.escape(path)}:2$")
        self.assertRegex(p.stdout, rf"(?m)^keep_daily = 30min  # from {re.escape(path)}:3$")
        self.assertRegex(p.stdout, r"(?m)^keep_monthly = 12months  # default$")
        self.assertRegex(p.stdout, rf"(?m)^max_delay = 5min  # from {re.escape(path)}:5$")
        # What it printed reads back, with nothing left to warn about.
        printed = self.config(p.stdout, "printed.conf")
        p = self.w.run("config", "check", "--config", printed)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertNotIn("warn", p.stderr)
        self.assertRegex(p.stdout, r"(?m)^keep_change = 30months  # from .*printed.conf:\d+$")

    def test_unambiguous_units_everywhere(self):
        path = self.config("[local]\nkeep_change = 30min\nkeep_monthly = 6mo\n"
                           "keep_weekly = 1month\n[watch]\nmax_delay = 30min\n"
                           '[remote "usb"]\ntype = local\npath = /mnt/usb\n'
                           "keep_monthly = 24months\n")
        p = self.w.run("config", "check", "--config", path,
                       env={"CBSYNC_REMOTE_USB_KEEP_CHANGE": "90min"})
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertNotIn("warn", p.stderr)
        for line in ("keep_change = 30min", "keep_monthly = 6months", "keep_weekly = 1month",
                     "max_delay = 30min", "keep_monthly = 24months", "keep_change = 90min"):
            self.assertRegex(p.stdout, rf"(?m)^{line}  # ", line)
        # The environment's bare "m" warns too, naming the variable.
        p = self.w.run("config", "check", "--config", path,
                       env={"CBSYNC_REMOTE_USB_KEEP_CHANGE": "3m"})
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn('environment CBSYNC_REMOTE_USB_KEEP_CHANGE: "3m" means 3 months', p.stderr)

    def test_no_config_file_read_says_where_it_looked(self):
        # A ./cbsync.conf in the server directory is not read unless named.
        self.config('[remote "offsite"]\ntype = local\npath = /mnt/x\n')
        p = self.w.run("config", "check", "--remotes")
        line = self.assertFails(p, 3)
        self.assertEqual(line, "Error: nothing to check: no configuration file was read "
                         "(looked for --config, $CBSYNC_CONFIG, /etc/cbsync/cbsync.conf; "
                         "./cbsync.conf is not read unless named); no remotes are configured; "
                         "HINT: to use ./cbsync.conf, name it: --config ./cbsync.conf (or "
                         "CBSYNC_CONFIG=./cbsync.conf)")
        p = self.w.run("config", "check", "--remotes", "--config", "cbsync.conf")
        self.assertFails(p, 9, "remote 'offsite': mirror directory '/mnt/x' does not exist")

    # Passes once agent/tiers.c and agent/remotes.c append conf_describe_sources
    # to "there is no tier/remote named" and "no remotes are configured";
    # then remove this decorator.
    def test_unknown_tier_says_where_it_looked(self):
        self.config('[remote "offsite"]\ntype = local\npath = /mnt/x\n')
        looked = ("no configuration file was read (looked for --config, $CBSYNC_CONFIG, "
                  "/etc/cbsync/cbsync.conf; ./cbsync.conf is not read unless named); no "
                  "remotes are configured; HINT: to use ./cbsync.conf, name it: --config "
                  "./cbsync.conf (or CBSYNC_CONFIG=./cbsync.conf)")
        for args, code in ((("list", "--tier", "offsite"), 2),
                           (("verify", "--tier", "offsite"), 2),
                           (("restore", "--from", "offsite", "--latest"), 2),
                           (("push", "--remote", "offsite"), 3),
                           (("push",), 3)):
            with self.subTest(args=args):
                p = self.w.run(*args)
                self.assertFails(p, code, looked)
        # With the file named, the message lists the remotes there are.
        p = self.w.run("list", "--tier", "ofsite", "--config", "cbsync.conf")
        self.assertFails(p, 2, "there is no tier named 'ofsite' (local, all, or a configured "
                         "remote); the configuration file is 'cbsync.conf'; configured "
                         "remotes: 'offsite'")


class ConfigCheckRemotesTest(CbsyncTest):
    """config check --remotes against real servers."""

    @classmethod
    def setUpClass(cls):
        cls.s3 = SwiftS3()
        cls.s3.start()
        cls.s3.create_bucket(BUCKET)
        cls.ssh = SshServer()
        cls.ssh.start()

    @classmethod
    def tearDownClass(cls):
        cls.ssh.stop()
        cls.s3.stop()

    def setUp(self):
        super().setUp()
        self.name = self.id().rsplit(".", 1)[1].replace("_", "-")[:60]
        self.mirror = self.w.path("mirror")
        os.makedirs(self.mirror)

    def env(self, **extra):
        e = {"CBSYNC_REMOTE_OFFSITE_TYPE": "s3",
             "CBSYNC_REMOTE_OFFSITE_ENDPOINT": self.s3.endpoint,
             "CBSYNC_REMOTE_OFFSITE_BUCKET": BUCKET,
             "CBSYNC_REMOTE_OFFSITE_PREFIX": self.name,
             "CBSYNC_REMOTE_OFFSITE_PATH_STYLE": "true",
             "CBSYNC_REMOTE_OFFSITE_CONNECT_TIMEOUT": "3s",
             "AWS_ACCESS_KEY_ID": self.s3.access_key,
             "AWS_SECRET_ACCESS_KEY": self.s3.secret_key,
             "AWS_SESSION_TOKEN": "",
             "AWS_REGION": self.s3.region,
             "CBSYNC_REMOTE_NAS_TYPE": "sftp",
             "CBSYNC_REMOTE_NAS_URL": self.ssh.url(self.name),
             "CBSYNC_REMOTE_NAS_PRIVATE_KEY": self.ssh.client_key,
             "CBSYNC_REMOTE_NAS_KNOWN_HOSTS": self.ssh.known_hosts,
             "CBSYNC_REMOTE_NAS_CONNECT_TIMEOUT": "5s",
             "CBSYNC_REMOTE_USB_TYPE": "local",
             "CBSYNC_REMOTE_USB_PATH": self.mirror}
        e.update(extra)
        return {k: v for k, v in e.items() if v is not None}

    def s3_keys(self):
        out = self.s3.client().list_objects_v2(Bucket=BUCKET, Prefix=self.name + "/")
        return sorted(o["Key"][len(self.name) + 1:] for o in out.get("Contents", []))

    def s3_uploads(self):
        out = self.s3.client().list_multipart_uploads(Bucket=BUCKET, Prefix=self.name + "/")
        return out.get("Uploads", [])

    def sftp_names(self):
        d = os.path.join(self.ssh.root, self.name)
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    def lines(self, p):
        return {m.group(1): m for m in map(OK_LINE.match, p.stdout.splitlines()) if m}

    def failed(self, p, remote):
        for line in p.stdout.splitlines():
            if line.startswith(f"remote '{remote}' ") and ": FAILED: " in line:
                return line
        self.fail(f"no FAILED line for {remote}:\n{p.stdout}\n{p.stderr}")

    def test_every_remote_ok_and_nothing_left_behind(self):
        # Something already there is listed and left alone.
        self.s3.client().put_object(Bucket=BUCKET, Key=f"{self.name}/other.txt", Body=b"x")
        with open(os.path.join(self.mirror, "other.txt"), "w") as f:
            f.write("x")
        p = self.w.run("config", "check", "--remotes", env=self.env())
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(error_lines(p.stderr), [])
        lines = self.lines(p)
        self.assertEqual(sorted(lines), ["nas", "offsite", "usb"], p.stdout)
        self.assertEqual(len(p.stdout.splitlines()), 3, p.stdout)
        self.assertEqual(lines["offsite"].group(2), "s3")
        self.assertEqual(lines["offsite"].group(3), "1")
        self.assertEqual(lines["nas"].group(2), "sftp")
        self.assertEqual(lines["nas"].group(3), "0")
        self.assertEqual(lines["usb"].group(2), "local")
        self.assertEqual(lines["usb"].group(3), "1")
        # Nothing left behind: no probe, no temp file, no unfinished upload.
        self.assertEqual(self.s3_keys(), ["other.txt"])
        self.assertEqual(self.s3_uploads(), [])
        self.assertEqual(self.sftp_names(), [])
        self.assertEqual(sorted(os.listdir(self.mirror)), ["other.txt"])
        # No backup was made or uploaded, and nothing written locally.
        self.assertFalse(os.path.exists(self.w.backups))
        self.assertNotIn(self.s3.secret_key, p.stdout + p.stderr)

    def test_wrong_credentials_are_refused(self):
        p = self.w.run("config", "check", "--remotes",
                       env=self.env(AWS_SECRET_ACCESS_KEY="not-the-secret"))
        line = self.assertFails(p, 10, "SignatureDoesNotMatch")
        self.assertTrue(line.startswith("Error: remote 'offsite': "), line)
        self.assertIn("SignatureDoesNotMatch", self.failed(p, "offsite"))
        self.assertEqual(sorted(self.lines(p)), ["nas", "usb"])
        self.assertNotIn("not-the-secret", p.stdout + p.stderr)
        self.assertEqual(self.s3_keys(), [])

    def test_unknown_host_key_is_refused(self):
        empty = self.w.path("known_hosts")
        open(empty, "w").close()
        p = self.w.run("config", "check", "--remotes",
                       env=self.env(CBSYNC_REMOTE_NAS_KNOWN_HOSTS=empty))
        self.assertFails(p, 10, "host key")
        self.assertIn("host key", self.failed(p, "nas"))
        self.assertEqual(sorted(self.lines(p)), ["offsite", "usb"])
        self.assertEqual(self.sftp_names(), [])

    def test_stopped_server_is_worth_retrying(self):
        down = f"http://127.0.0.1:{_free_port()}"
        p = self.w.run("config", "check", "--remotes",
                       env=self.env(CBSYNC_REMOTE_OFFSITE_ENDPOINT=down))
        self.assertFails(p, 9, "remote 'offsite': ")
        self.assertIn("FAILED", self.failed(p, "offsite"))
        self.assertEqual(sorted(self.lines(p)), ["nas", "usb"])
        # An SFTP server that is down: nothing listens on its port.
        p = self.w.run("config", "check", "--remotes", env=self.env(
            CBSYNC_REMOTE_NAS_URL=f"sftp://u@127.0.0.1:{_free_port()}/x"))
        self.assertFails(p, 9, "remote 'nas': ")
        self.assertEqual(sorted(self.lines(p)), ["offsite", "usb"])
        # An unmounted mirror too.
        p = self.w.run("config", "check", "--remotes",
                       env=self.env(CBSYNC_REMOTE_USB_PATH=self.w.path("not-mounted")))
        self.assertFails(p, 9, "remote 'usb': mirror directory")
        self.assertFalse(os.path.exists(self.w.path("not-mounted")))

    def test_the_worst_failure_sets_the_exit_status(self):
        down = f"http://127.0.0.1:{_free_port()}"
        empty = self.w.path("known_hosts")
        open(empty, "w").close()
        # Unreachable (9) and refused (10): 10, and both are listed.
        p = self.w.run("config", "check", "--remotes", env=self.env(
            CBSYNC_REMOTE_OFFSITE_ENDPOINT=down, CBSYNC_REMOTE_NAS_KNOWN_HOSTS=empty))
        line = self.assertFails(p, 10)
        self.assertTrue(line.startswith("Error: 2 of 3 remotes failed the check; the worst: "
                                        "remote 'nas': "), line)
        self.failed(p, "offsite")
        self.failed(p, "nas")
        self.assertEqual(sorted(self.lines(p)), ["usb"])
        # A setting that cannot work (3) is worse still; the others are probed.
        p = self.w.run("config", "check", "--remotes", env=self.env(
            CBSYNC_REMOTE_NAS_KNOWN_HOSTS=empty, CBSYNC_REMOTE_OFFSITE_PATH_STYLE="false"))
        self.assertFails(p, 3, "is an IP address, which cannot carry the bucket")
        self.assertIn("HINT: set path_style = true", self.failed(p, "offsite"))
        self.assertEqual(sorted(self.lines(p)), ["usb"])


if __name__ == "__main__":
    main()
