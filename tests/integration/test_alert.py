"""Freshness and health per tier ([alert]), through a running agent.

A remote that goes away while the database is written is failing, then
stale once it lacks a change for longer than max_lag: /healthz answers 503
naming it, /metrics and status show it, and the [alert] exec hook runs
exactly once when it becomes unhealthy and once when it recovers.  A local
tier whose newest snapshot is older than max_age (a clock simulated by an
old backup) is stale while the database has changed since, and healthy
once the database is idle at that state."""
import json
import os
import subprocess
import time

from harness import CbsyncTest, Writer, fake_backup, free_port, main, make_db
from test_agent import Agent
from test_metrics import curl, parse

HOOK = """#!/usr/bin/python3
import sys
with open(sys.argv[0] + ".events", "a") as f:
    f.write(sys.stdin.read().strip() + "\\n")
"""


class AlertTest(CbsyncTest):
    def hook(self):
        path = self.w.path("hook.py")
        with open(path, "w") as f:
            f.write(HOOK)
        os.chmod(path, 0o755)
        return path

    def events(self, hook, tier):
        try:
            with open(hook + ".events") as f:
                lines = [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError:
            return []
        return [e for e in lines if e["tier"] == tier]

    def wait(self, what, cond, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            v = cond()
            if v:
                return v
            time.sleep(0.3)
        self.fail(f"never: {what}")

    def conf(self, port, hook, daily="02:00", alert="", extra="", local=""):
        path = self.w.path("cbsync.conf")
        with open(path, "w") as f:
            f.write(f"[database]\npath = {self.w.db}\n[local]\ndir = {self.w.backups}\n{local}"
                    f"[schedule]\ndaily = {daily}\nweekly = off\nmonthly = off\n"
                    "catch_up = false\n"
                    f"[metrics]\nlisten = 127.0.0.1:{port}\n"
                    f"[drill]\nschedule = off\n[alert]\nexec = {hook}\n" + alert + extra)
        os.chmod(path, 0o600)
        return path

    def test_a_lagging_remote_turns_health_red_and_the_hook_runs_once_per_change(self):
        make_db(self.w.db, rows=100)
        mirror, away = self.w.path("mirror"), self.w.path("mirror-away")
        os.makedirs(mirror)
        port, hook = free_port(), self.hook()
        # The remote's own max_lag, under [alert]'s far larger one.
        conf = self.conf(port, hook, daily="off", alert="max_lag = 1h\n",
                         extra="[replicate]\nenabled = true\ninterval = 1s\n"
                         "[sync]\nretry_min = 1s\nretry_max = 2s\n"
                         f'[remote "usb"]\ntype = local\npath = {mirror}\nmax_lag = 6s\n')
        agent = Agent(self, conf)
        healthz = f"http://127.0.0.1:{port}/healthz"
        writer = Writer(self.w.db)
        try:
            self.wait("the mirror holds increments", lambda: os.path.isdir(
                os.path.join(mirror, "increments")))
            self.assertEqual(curl(healthz), (200, "ok\n"))
            # The mirror goes away while the database is written.
            os.rename(mirror, away)
            code, body = self.wait("health turns red for the lag", lambda: (
                lambda r: r if r[0] == 503 and "stale: tier 'usb'" in r[1] else None)(
                    curl(healthz)), timeout=90)
            self.assertIn("max_lag 6s", body)
            m = parse(curl(f"http://127.0.0.1:{port}/metrics")[1])
            self.assertEqual(m[("cbsync_tier_stale", frozenset({("tier", "usb")}))], 1)
            self.assertEqual(m[("cbsync_tier_healthy", frozenset({("tier", "usb")}))], 0)
            status = self.w.ok("status", "--config", conf).stdout
            self.assertIn("STALE", status)
            # Back: it catches up and recovers.
            os.rename(away, mirror)
            self.wait("health turns green", lambda: curl(healthz) == (200, "ok\n"), 90)
        finally:
            writer.stop()
        self.wait("the recovery event", lambda: len(self.events(hook, "usb")) >= 2)
        time.sleep(1)
        events = self.events(hook, "usb")
        self.assertEqual([e["event"] for e in events], ["unhealthy", "recovered"], events)
        self.assertTrue(any("failing" in r or "stale" in r for r in events[0]["reasons"]))
        self.assertEqual(events[1]["reasons"], [])
        for e in events:
            time.strptime(e["time"], "%Y-%m-%dT%H:%M:%SZ")
        self.assertIn("tier usb is unhealthy", "\n".join(agent.lines))
        self.assertEqual(agent.stop(), 0)

    def test_a_remote_removed_while_unhealthy_ends_with_a_removed_event(self):
        import signal
        make_db(self.w.db, rows=50)
        port, hook = free_port(), self.hook()
        remote = (f'[remote "usb"]\ntype = local\npath = {self.w.path("no", "such")}\n'
                  "[sync]\nretry_min = 1s\nretry_max = 2s\n")
        conf = self.conf(port, hook, daily="off", extra=remote)
        agent = Agent(self, conf)
        self.wait("the unhealthy event", lambda: self.events(hook, "usb"), timeout=60)
        # The remote is taken out of the configuration and the agent reloads.
        self.conf(port, hook, daily="off", extra="[sync]\nretry_min = 1s\nretry_max = 2s\n")
        agent.send(signal.SIGHUP)
        self.wait("the removed event", lambda: len(self.events(hook, "usb")) >= 2, timeout=30)
        time.sleep(1)
        events = self.events(hook, "usb")
        self.assertEqual([e["event"] for e in events], ["unhealthy", "removed"], events)
        self.assertEqual(events[1]["reasons"], ["no longer configured"])
        agent.wait_for("tier usb is no longer configured")
        self.assertEqual(agent.stop(), 0)

    def test_an_old_snapshot_is_stale_only_while_the_database_changed_since(self):
        make_db(self.w.db, rows=100)
        import datetime as dt
        three_days = time.time() - 3 * 86400
        old = os.path.join(self.w.backups, fake_backup(
            self.w.backups, 0, kind="daily",
            created=dt.datetime.fromtimestamp(three_days, dt.timezone.utc)))
        port, hook = free_port(), self.hook()
        # The local tier's own max_age, under [alert]'s far larger one.
        conf = self.conf(port, hook, alert="max_age = 30d\n", local="max_age = 26h\n",
                         extra="[watch]\nenabled = false\n")
        agent = Agent(self, conf)
        healthz = f"http://127.0.0.1:{port}/healthz"
        code, body = self.wait("stale by age", lambda: (
            lambda r: r if r[0] == 503 else None)(curl(healthz)), timeout=30)
        self.assertIn("stale: tier 'local'", body)
        self.assertIn("max_age 26h", body)
        self.wait("the event", lambda: self.events(hook, "local"))
        # The database idle since that snapshot: healthy however old it is.
        os.utime(self.w.db, (three_days - 60, three_days - 60))
        wal = self.w.db + "-wal"
        if os.path.exists(wal):
            os.utime(wal, (three_days - 60, three_days - 60))
        self.wait("healthy again", lambda: curl(healthz) == (200, "ok\n"), timeout=30)
        self.wait("the recovery event", lambda: len(self.events(hook, "local")) >= 2)
        self.assertEqual([e["event"] for e in self.events(hook, "local")],
                         ["unhealthy", "recovered"])
        self.assertTrue(os.path.exists(old))
        self.assertEqual(agent.stop(), 0)


if __name__ == "__main__":
    main()
