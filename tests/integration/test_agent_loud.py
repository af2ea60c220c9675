"""The agent never goes quiet: a remote it cannot use stops it at start, a
remote that fails later shows in status, /metrics and /healthz, a closed log
pipe neither kills it nor goes unrecorded, restarts keep the pending change's
time, and catch-up counts what the remotes hold."""
import os
import signal
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request

from harness import CBSYNC, CbsyncTest, Writer, free_port, main, make_db
from test_agent import Agent

CONF = """
[database]
path = {db}
[local]
dir = {dir}
[schedule]
daily = {daily}
weekly = {weekly}
monthly = {monthly}
catch_up = {catch_up}
[watch]
quiet = {quiet}
min_interval = 1s
max_delay = {max_delay}
# change backups, as with increments off
[replicate]
enabled = false
[sync]
retry_min = 1s
retry_max = 2s
"""


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


class LoudAgentTest(CbsyncTest):
    def config(self, extra="", daily="off", weekly="off", monthly="off", catch_up="false",
               quiet="0.5s", max_delay="2s"):
        path = self.w.path("cbsync.conf")
        with open(path, "w") as f:
            f.write(CONF.format(db=self.w.db, dir=self.w.backups, daily=daily, weekly=weekly,
                                monthly=monthly, catch_up=catch_up, quiet=quiet,
                                max_delay=max_delay) + extra)
        os.chmod(path, 0o600)
        return path

    def write_rows(self, n=1):
        con = sqlite3.connect(self.w.db)
        with con:
            for _ in range(n):
                con.execute("INSERT INTO ai_messages(content) VALUES ('x')")
        con.close()

    def test_a_remote_that_cannot_work_stops_the_agent_at_start(self):
        make_db(self.w.db, rows=5)
        config = self.config('[remote "offsite"]\ntype = s3\nbucket = b\n'
                             'endpoint = http://127.0.0.1:9\npath_style = true\n')
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("CBSYNC_") and not k.startswith("AWS_")}
        env["ASAN_OPTIONS"] = "detect_leaks=1"
        p = subprocess.run([CBSYNC, "agent", "--config", config], cwd=self.w.root, env=env,
                           capture_output=True, text=True, timeout=60)
        self.assertFails(p, 3, "remote 'offsite'")
        self.assertIn("the agent does not run with a remote that cannot work", p.stderr)
        self.assertNotIn("started:", p.stderr)

    def test_a_failing_remote_shows_in_status_metrics_and_health(self):
        make_db(self.w.db, rows=5)
        mirror = self.w.path("usb")
        port = free_port()
        config = self.config(f'[metrics]\nlisten = 127.0.0.1:{port}\n'
                             f'[remote "usb"]\ntype = local\npath = {mirror}\n')
        agent = Agent(self, config)
        agent.wait_for("remote 'usb'")
        deadline = time.time() + 30
        while time.time() < deadline:
            code, body = get(f"http://127.0.0.1:{port}/healthz")
            if code == 503:
                break
            time.sleep(0.2)
        self.assertEqual(code, 503, body)
        self.assertIn("failing: remote 'usb':", body)
        self.assertIn("does not exist", body)
        self.assertEqual(get(f"http://127.0.0.1:{port}/livez"), (200, "ok\n"))
        _, metrics = get(f"http://127.0.0.1:{port}/metrics")
        self.assertIn('cbsync_remote_up{remote="usb"} 0', metrics)
        status = self.w.ok("status", "--config", config).stdout
        self.assertIn("usb          FAILING", status)
        # Mounted again: the next retry makes it healthy.
        os.makedirs(mirror)
        deadline = time.time() + 30
        while time.time() < deadline and get(f"http://127.0.0.1:{port}/healthz")[0] != 200:
            time.sleep(0.2)
        self.assertEqual(get(f"http://127.0.0.1:{port}/healthz"), (200, "ok\n"))
        self.assertEqual(agent.stop(), 0)

    def test_the_agent_outlives_its_log_pipe(self):
        make_db(self.w.db, rows=5)
        config = self.config()
        env = {k: v for k, v in os.environ.items() if not k.startswith("CBSYNC_")}
        env["ASAN_OPTIONS"] = "detect_leaks=1"
        proc = subprocess.Popen([CBSYNC, "agent", "--config", config], cwd=self.w.root,
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        first = proc.stderr.readline()
        self.assertIn(b"started:", first)
        proc.stderr.close()          # `| head -1`: the reader is gone
        self.write_rows(3)
        deadline = time.time() + 30
        while time.time() < deadline and not any("_change_" in f
                                                  for f in self.w.backup_files()):
            time.sleep(0.1)
        self.assertTrue(any("_change_" in f for f in self.w.backup_files()))
        self.assertIsNone(proc.poll(), "the agent died with its log pipe")
        deadline = time.time() + 10
        status = ""
        while time.time() < deadline and "Log:        LOST" not in status:
            status = self.w.ok("status", "--config", config).stdout
            time.sleep(0.1)
        self.assertIn("Log:        LOST since", status)
        self.assertIn("Broken pipe", status)
        self.assertIn("Agent:      running", status)
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(timeout=60), 0)

    def test_restarts_keep_the_time_of_the_first_unbacked_change(self):
        make_db(self.w.db, rows=5)
        # The writer never lets 4 s of quiet pass: only max_delay can trigger.
        config = self.config(quiet="4s", max_delay="4s")
        writer = Writer(self.w.db)
        try:
            for _ in range(6):
                agent = Agent(self, config)
                time.sleep(2.0)
                self.assertEqual(agent.stop(), 0)
                if any("_change_" in f for f in self.w.backup_files()):
                    break
        finally:
            writer.stop()
        self.assertTrue(any("_change_" in f for f in self.w.backup_files()),
                        "an agent restarted every 2 s never made a change backup")

    def test_catch_up_counts_the_backups_a_remote_holds(self):
        make_db(self.w.db, rows=20)
        mirror = self.w.path("usb")
        os.makedirs(mirror)
        remote = f'[remote "usb"]\ntype = local\npath = {mirror}\n'
        config = self.config(remote, daily="00:00:01", weekly="sun 00:00:01",
                             monthly="1 00:00:01", catch_up="true")
        for t in ("daily", "weekly", "monthly"):
            self.w.ok("backup", "--type", t, "--config", config)
        on_remote = sorted(os.listdir(mirror))
        # The machine dies; a new one restores from the remote and starts.
        os.unlink(self.w.db)
        for f in os.listdir(self.w.backups):
            os.unlink(os.path.join(self.w.backups, f))
        self.w.ok("restore", "--latest", "--if-db-not-exists", "--config", config)
        agent = Agent(self, config)
        time.sleep(3.0)
        self.assertEqual(agent.count("catching up"), 0, "\n".join(agent.lines))
        self.assertEqual(agent.stop(), 0)
        self.assertEqual(sorted(os.listdir(mirror)), on_remote)


if __name__ == "__main__":
    main()
