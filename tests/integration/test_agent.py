"""cbsync agent: schedules, debounced change backups, signals, restarts."""
import datetime as dt
import json
import os
import signal
import sqlite3
import subprocess
import threading
import time

from harness import (CBSYNC, CbsyncTest, db_rows, gunzip_to, integrity, main, make_db,
                     read_bytes)

FAST = """
[database]
path = {db}
[local]
dir = {dir}
[schedule]
daily = off
weekly = off
monthly = off
catch_up = false
[watch]
quiet = {quiet}
min_interval = {min_interval}
max_delay = {max_delay}
# These tests are about full change backups: the agent as it is with
# increments off (test_replicate, test_chains and test_history cover them).
[replicate]
enabled = false
[log]
level = {level}
format = {format}
"""


class Agent:
    """A running `cbsync agent`, its stderr collected line by line."""

    def __init__(self, test, config, env=None):
        self.test = test
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("CBSYNC_")}
        full_env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
        full_env.update(env or {})
        self.proc = subprocess.Popen([CBSYNC, "agent", "--config", config], cwd=test.w.root,
                                     env=full_env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.lines = []
        self.cond = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        test.addCleanup(self.kill)
        self.wait_for("started:")

    def _read(self):
        for line in self.proc.stderr:
            with self.cond:
                self.lines.append(line.rstrip("\n"))
                self.cond.notify_all()

    def wait_for(self, text, timeout=30, after=0):
        deadline = time.time() + timeout
        with self.cond:
            while True:
                for line in self.lines[after:]:
                    if text in line:
                        return line
                left = deadline - time.time()
                if left <= 0 or self.proc.poll() is not None and not self.reader.is_alive():
                    raise AssertionError(f"agent never logged {text!r}:\n" + "\n".join(self.lines))
                self.cond.wait(min(left, 0.2))

    def count(self, text):
        with self.cond:
            return sum(text in l for l in self.lines)

    def send(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=60):
        self.proc.send_signal(sig)
        self.proc.wait(timeout=timeout)
        self.reader.join(timeout=10)
        self.proc.stdout.close()
        self.proc.stderr.close()
        return self.proc.returncode

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.reader.join(timeout=10)
        for f in (self.proc.stdout, self.proc.stderr):
            if f and not f.closed:
                f.close()


class AgentTest(CbsyncTest):
    def config(self, name="cbsync.conf", quiet="1s", min_interval="2s", max_delay="8s",
               level="info", format="text", extra=""):
        path = self.w.path(name)
        with open(path, "w") as f:
            f.write(FAST.format(db=self.w.db, dir=self.w.backups, quiet=quiet,
                                min_interval=min_interval, max_delay=max_delay, level=level,
                                format=format) + extra)
        return path

    def config_with(self, section, line):
        """The fast configuration with one more line in an existing section."""
        path = self.config()
        with open(path) as f:
            text = f.read()
        with open(path, "w") as f:
            f.write(text.replace(section + "\n", section + "\n" + line + "\n", 1))
        return path

    def backup_in_progress(self):
        return any(f.startswith(".cbsync-tmp-") and ".db.gz." in f for f in self.w.all_files())

    def changes(self):
        return [f for f in self.w.backup_files() if "_change_" in f]

    def write_rows(self, n, path=None, pause=0.0):
        con = sqlite3.connect(path or self.w.db, timeout=30)
        for i in range(n):
            with con:
                con.execute("INSERT INTO ai_messages(content) VALUES (?)", (f"row {i}",))
            if pause:
                time.sleep(pause)
        con.close()

    def test_writes_make_exactly_one_debounced_change_backup(self):
        make_db(self.w.db, rows=100)
        agent = Agent(self, self.config())
        self.write_rows(20, pause=0.02)
        agent.wait_for("change backup made")
        time.sleep(4)  # quiet + min_interval and more: nothing else may follow
        self.assertEqual(len(self.changes()), 1, agent.lines)
        restored = self.w.path("r.db")
        gunzip_to(os.path.join(self.w.backups, self.changes()[0]), restored)
        self.assertEqual(db_rows(restored), 120)
        self.assertEqual(agent.stop(), 0)

    def test_constant_writes_still_backed_up_by_max_delay(self):
        make_db(self.w.db, rows=10)
        agent = Agent(self, self.config(quiet="2s", min_interval="1s", max_delay="3s"))
        stop = threading.Event()

        def writer():
            con = sqlite3.connect(self.w.db, timeout=30)
            while not stop.is_set():
                with con:
                    con.execute("INSERT INTO ai_messages(content) VALUES ('busy')")
                time.sleep(0.1)
            con.close()

        t = threading.Thread(target=writer)
        start = time.time()
        t.start()
        try:
            agent.wait_for("change backup made", timeout=20)
            took = time.time() - start
        finally:
            stop.set()
            t.join()
        # Writes never paused for the 2 s quiet period: max_delay made it happen.
        self.assertLess(took, 12)
        self.assertGreaterEqual(len(self.changes()), 1)
        self.assertEqual(agent.stop(), 0)

    def test_idle_database_makes_no_backups(self):
        make_db(self.w.db, rows=50)
        # A connection held open, as a server would, keeps -wal and -shm around.
        con = sqlite3.connect(self.w.db)
        con.execute("SELECT count(*) FROM ai_messages").fetchone()
        agent = Agent(self, self.config(quiet="1s", min_interval="1s", max_delay="2s"))
        time.sleep(5)
        self.assertEqual(self.w.backup_files(), [], agent.lines)
        # After one real change and its backup, the agent's own reading of the
        # database must not look like another change.
        with con:
            con.execute("INSERT INTO ai_messages(content) VALUES ('one')")
        agent.wait_for("change backup made")
        time.sleep(6)
        self.assertEqual(len(self.changes()), 1, agent.lines)
        con.close()
        self.assertEqual(agent.stop(), 0)

    def test_rollback_journal_database(self):
        make_db(self.w.db, rows=50, journal="delete")
        agent = Agent(self, self.config())
        self.write_rows(5)
        agent.wait_for("change backup made")
        time.sleep(3)
        self.assertEqual(len(self.changes()), 1)
        self.assertEqual(agent.stop(), 0)

    def test_database_created_after_the_agent_starts(self):
        os.makedirs(os.path.dirname(self.w.db), exist_ok=True)
        agent = Agent(self, self.config())
        time.sleep(1)
        make_db(self.w.db, rows=30)
        agent.wait_for("change backup made")
        restored = self.w.path("r.db")
        gunzip_to(os.path.join(self.w.backups, self.changes()[0]), restored)
        self.assertEqual(db_rows(restored), 30)
        self.assertEqual(agent.stop(), 0)

    def test_directory_created_after_the_agent_starts(self):
        agent = Agent(self, self.config())
        time.sleep(0.5)
        make_db(self.w.db, rows=30)
        agent.wait_for("change backup made")
        self.assertEqual(agent.stop(), 0)

    def test_wal_deleted_and_recreated(self):
        make_db(self.w.db, rows=30)
        agent = Agent(self, self.config(min_interval="1s"))
        self.write_rows(3)
        agent.wait_for("change backup made")
        # The last connection closing checkpoints and deletes the -wal file; a
        # new connection makes a new one.
        self.assertFalse(os.path.exists(self.w.db + "-wal")
                         and os.path.getsize(self.w.db + "-wal") > 0)
        time.sleep(2.5)
        before = len(self.changes())
        self.write_rows(3)
        deadline = time.time() + 20
        while len(self.changes()) == before and time.time() < deadline:
            time.sleep(0.2)
        self.assertGreater(len(self.changes()), before)
        newest = sorted(self.changes())[-1]
        restored = self.w.path("r.db")
        gunzip_to(os.path.join(self.w.backups, newest), restored)
        self.assertEqual(db_rows(restored), 36)
        self.assertEqual(agent.stop(), 0)

    def test_sigterm_during_a_backup_exits_0_without_partial_files(self):
        make_db(self.w.db, rows=10, random_bytes=96 << 20)
        agent = Agent(self, self.config(quiet="1s", min_interval="1s", max_delay="2s"))
        self.write_rows(1)
        deadline = time.time() + 30
        while time.time() < deadline and not self.backup_in_progress():
            time.sleep(0.01)
        self.assertTrue(self.backup_in_progress())
        self.assertEqual(agent.stop(signal.SIGTERM), 0)
        self.assertNoTempFiles()
        self.assertEqual(self.w.backup_files(), [])
        self.assertTrue(any("abandoned the change backup" in l for l in agent.lines),
                        "\n".join(agent.lines))

    def test_kill_9_during_a_backup_then_restart(self):
        make_db(self.w.db, rows=10, random_bytes=96 << 20)
        config = self.config(quiet="1s", min_interval="1s", max_delay="2s")
        agent = Agent(self, config)
        self.write_rows(1)
        deadline = time.time() + 30
        while time.time() < deadline and not self.backup_in_progress():
            time.sleep(0.01)
        agent.proc.kill()
        agent.kill()
        self.assertEqual(self.w.backup_files(), [])
        self.assertTrue(self.backup_in_progress())
        # The restarted agent tidies up, notices the unbacked change, backs it up.
        agent2 = Agent(self, config)
        agent2.wait_for("change backup made", timeout=60)
        self.assertEqual(len(self.changes()), 1)
        self.assertEqual(integrity(self.w.db), "ok")
        self.assertEqual(agent2.stop(), 0)
        self.assertNoTempFiles()

    def test_sighup_with_a_broken_config_keeps_running(self):
        make_db(self.w.db, rows=10)
        config = self.config()
        agent = Agent(self, config)
        with open(config) as f:
            text = f.read()
        with open(config, "w") as f:
            f.write(text.replace("quiet = 1s", "quiet = 5 seconds"))
        agent.send(signal.SIGHUP)
        line = agent.wait_for("configuration not reloaded")
        self.assertIn('"5 seconds" is not a duration', line)
        self.assertIsNone(agent.proc.poll())
        # Still working on the old configuration.
        self.write_rows(2)
        agent.wait_for("change backup made")
        # A good configuration is picked up.
        self.config(quiet="1s", level="debug")
        mark = len(agent.lines)
        agent.send(signal.SIGHUP)
        agent.wait_for("configuration reloaded", after=mark)
        self.assertEqual(agent.stop(), 0)

    def test_missed_schedule_is_caught_up(self):
        make_db(self.w.db, rows=10)
        os.makedirs(self.w.backups, mode=0o700)
        # A daily backup from three days ago: today's run was missed.
        self.w.ok("backup", "--type", "daily")
        old = self.w.backup_files()[0]
        three_days = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=3)).strftime(
            "%Y%m%d_%H%M%S")
        renamed = f"cloudbrain_daily_{three_days}.db.gz"
        os.rename(os.path.join(self.w.backups, old), os.path.join(self.w.backups, renamed))
        os.unlink(os.path.join(self.w.backups, old + ".json"))
        config = self.config()
        with open(config) as f:
            text = f.read().replace("daily = off", "daily = 02:00").replace(
                "catch_up = false", "catch_up = true")
        with open(config, "w") as f:
            f.write(text)
        agent = Agent(self, config)
        agent.wait_for("daily backup made: ")
        dailies = [f for f in self.w.backup_files() if "_daily_" in f]
        self.assertEqual(len(dailies), 2)
        # Weekly and monthly stayed off.
        self.assertFalse(any("_weekly_" in f or "_monthly_" in f for f in self.w.backup_files()))
        self.assertEqual(agent.stop(), 0)

    def test_schedule_fires_at_its_time(self):
        make_db(self.w.db, rows=10)
        at = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=3)
        config = self.config()
        with open(config) as f:
            text = f.read().replace("daily = off", f"daily = {at:%H:%M:%S}").replace(
                "weekly = off", f"weekly = {at:%a} {at:%H:%M:%S}".lower())
        with open(config, "w") as f:
            f.write(text)
        agent = Agent(self, config)
        self.assertEqual(self.w.backup_files(), [])
        agent.wait_for("weekly backup made", timeout=20)
        agent.wait_for("daily backup made", timeout=20)
        time.sleep(1)
        names = self.w.backup_files()
        self.assertEqual(sum("_daily_" in f for f in names), 1)
        self.assertEqual(sum("_weekly_" in f for f in names), 1)
        self.assertEqual(agent.stop(), 0)

    def test_status(self):
        make_db(self.w.db, rows=10)
        config = self.config()
        p = self.w.ok("status", "--config", config)
        self.assertIn("No agent has run", p.stdout)
        agent = Agent(self, config)
        self.write_rows(1)
        agent.wait_for("change backup made")
        time.sleep(0.3)
        st = json.loads(self.w.ok("status", "--json", "--config", config).stdout)
        self.assertTrue(st["running"])
        self.assertEqual(st["state"]["pid"], agent.proc.pid)
        self.assertEqual(st["state"]["last_backup"]["change"]["name"], self.changes()[0])
        self.assertIsNone(st["state"]["last_error"])
        text = self.w.ok("status", "--config", config).stdout
        self.assertIn(f"running (pid {agent.proc.pid}", text)
        self.assertIn(self.changes()[0], text)
        self.assertEqual(agent.stop(), 0)
        st = json.loads(self.w.ok("status", "--json", "--config", config).stdout)
        self.assertFalse(st["running"])
        self.assertIn("not running", self.w.ok("status", "--config", config).stdout)

    def test_json_logs(self):
        make_db(self.w.db, rows=10)
        agent = Agent(self, self.config(format="json"))
        self.write_rows(1)
        agent.wait_for("change backup made")
        self.assertEqual(agent.stop(), 0)
        events = []
        for line in agent.lines:
            doc = json.loads(line)
            # A log line, or an operation's event with its fields.
            if "event" in doc:
                self.assertEqual(set(doc), {"time", "user", "uid", "event", "object", "tier",
                                            "bytes", "outcome", "error", "seconds", "detail"})
                events.append(doc)
            else:
                self.assertEqual(set(doc), {"time", "level", "component", "msg"})
        backups = [e for e in events if e["event"] == "backup"]
        self.assertTrue(backups, agent.lines)
        self.assertTrue(all(e["tier"] == "local" and e["bytes"] > 0 for e in backups))

    def test_retention_runs_after_each_agent_backup(self):
        make_db(self.w.db, rows=10)
        self.w.ok("backup", "--dir", self.w.path("tpl"))
        tpl = self.w.backup_files(self.w.path("tpl"))[0]
        with open(os.path.join(self.w.path("tpl"), tpl + ".json")) as f:
            meta = json.load(f)
        os.makedirs(self.w.backups, mode=0o700)
        now = dt.datetime.now(dt.timezone.utc)
        names = {}
        for kind, age in (("change", dt.timedelta(days=2)), ("daily", dt.timedelta(days=9)),
                          ("daily", dt.timedelta(days=8))):
            created = now - age
            name = f"cloudbrain_{kind}_{created:%Y%m%d_%H%M%S}.db.gz"
            os.link(os.path.join(self.w.path("tpl"), tpl), os.path.join(self.w.backups, name))
            with open(os.path.join(self.w.backups, name + ".json"), "w") as f:
                json.dump(dict(meta, name=name, type=kind,
                               created=created.strftime("%Y-%m-%dT%H:%M:%SZ")), f)
            names[(kind, age.days)] = name
        agent = Agent(self, self.config())
        self.write_rows(1)
        agent.wait_for("change backup made")
        agent.wait_for("retention: deleted 2")
        files = self.w.backup_files()
        self.assertNotIn(names[("change", 2)], files)
        self.assertNotIn(names[("daily", 9)], files)
        self.assertIn(names[("daily", 8)], files)  # the newest daily is never pruned
        self.assertEqual(len(self.changes()), 1)
        self.assertEqual(agent.stop(), 0)

    def test_backs_off_and_retries_while_the_database_is_locked(self):
        make_db(self.w.db, rows=10, journal="delete")
        agent = Agent(self, self.config_with("[local]", "busy_timeout = 1s"))
        holder = sqlite3.connect(self.w.db, isolation_level=None)
        holder.execute("INSERT INTO ai_messages(content) VALUES ('before the lock')")
        holder.execute("BEGIN EXCLUSIVE")
        try:
            agent.wait_for("change backup failed", timeout=20)
            line = agent.wait_for("retrying in")
            self.assertIn("database is locked", line)
            self.assertEqual(self.changes(), [])
        finally:
            holder.execute("COMMIT")
            holder.close()
        agent.wait_for("change backup made", timeout=30)
        restored = self.w.path("r.db")
        gunzip_to(os.path.join(self.w.backups, self.changes()[0]), restored)
        self.assertEqual(db_rows(restored), 11)
        st = json.loads(self.w.ok("status", "--json", "--config", self.w.path("cbsync.conf"))
                        .stdout)
        self.assertIn("database is locked", st["state"]["last_error"]["message"])
        self.assertEqual(agent.stop(), 0)

    def test_never_makes_a_writer_fail(self):
        make_db(self.w.db, rows=10, random_bytes=32 << 20)
        agent = Agent(self, self.config(quiet="0.2s", min_interval="0.5s", max_delay="1s"))
        errors = []
        done = 0
        con = sqlite3.connect(self.w.db, timeout=0, isolation_level=None)
        end = time.time() + 6
        while time.time() < end:
            try:
                con.execute("INSERT INTO ai_messages(content) VALUES ('x')")
                done += 1
            except sqlite3.OperationalError as e:
                errors.append(str(e))
            time.sleep(0.01)
        con.close()
        self.assertEqual(errors, [])
        self.assertGreaterEqual(len(self.changes()), 1)
        self.assertEqual(agent.stop(), 0)


if __name__ == "__main__":
    main()
