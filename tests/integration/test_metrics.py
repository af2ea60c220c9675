"""The agent's /healthz and /metrics listener, scraped with curl."""
import os
import re
import socket
import sqlite3
import subprocess

from harness import CbsyncTest, free_port, main, make_db
from test_agent import Agent

SAMPLE = re.compile(r'^([a-z_]+)(\{([a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*)\})? (-?[0-9.e+]+)$')


def curl(url):
    p = subprocess.run(["curl", "-s", "-o", "-", "-w", "\n%{http_code}", url],
                       capture_output=True, text=True, timeout=10)
    body, _, code = p.stdout.rpartition("\n")
    return int(code), body


def parse(text):
    """Prometheus text format -> {(name, frozenset(labels)): value}; checks
    every line is a comment or a well-formed sample."""
    out = {}
    typed = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            typed.add(line.split()[2])
            continue
        if line.startswith("# HELP ") or not line:
            continue
        m = SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        labels = frozenset(re.findall(r'([a-z_]+)="([^"]*)"', m.group(3) or ""))
        assert m.group(1) in typed, f"{m.group(1)} has no TYPE line"
        out[(m.group(1), labels)] = float(m.group(5))
    return out


class MetricsTest(CbsyncTest):
    def test_healthz_and_metrics(self):
        make_db(self.w.db, rows=10)
        mirror = self.w.path("mirror")
        os.makedirs(mirror)
        port = free_port()
        config = self.w.path("cbsync.conf")
        with open(config, "w") as f:
            f.write(f"""
[database]
path = {self.w.db}
[local]
dir = {self.w.backups}
[schedule]
daily = off
weekly = off
monthly = off
[watch]
quiet = 0.5s
min_interval = 1s
max_delay = 2s
[metrics]
listen = 127.0.0.1:{port}
[remote "usb"]
type = local
path = {mirror}
""")
        agent = Agent(self, config)
        code, body = curl(f"http://127.0.0.1:{port}/healthz")
        self.assertEqual((code, body), (200, "ok\n"))
        code, body = curl(f"http://127.0.0.1:{port}/nope")
        self.assertEqual(code, 404)
        con = sqlite3.connect(self.w.db)
        with con:
            con.execute("INSERT INTO ai_messages(content) VALUES ('m')")
        con.close()
        agent.wait_for("change backup made")
        agent.wait_for("remote 'usb': uploaded 1 backup")
        code, body = curl(f"http://127.0.0.1:{port}/metrics")
        self.assertEqual(code, 200)
        m = parse(body)
        self.assertEqual(m[("cbsync_backups_total", frozenset({("type", "change")}))], 1)
        self.assertEqual(m[("cbsync_backups_total", frozenset({("type", "daily")}))], 0)
        self.assertEqual(m[("cbsync_backup_failures_total", frozenset())], 0)
        self.assertEqual(m[("cbsync_uploaded_backups_total", frozenset({("remote", "usb")}))], 1)
        self.assertGreater(m[("cbsync_uploaded_bytes_total", frozenset({("remote", "usb")}))], 0)
        self.assertEqual(m[("cbsync_remote_up", frozenset({("remote", "usb")}))], 1)
        self.assertEqual(m[("cbsync_sync_errors_total", frozenset({("remote", "usb")}))], 0)
        self.assertGreater(m[("cbsync_remote_requests_total", frozenset({("remote", "usb")}))], 0)
        self.assertIn(("cbsync_last_backup_duration_seconds", frozenset({("type", "change")})), m)
        for tier in ("local", "usb"):
            self.assertGreater(m[("cbsync_tier_last_success_timestamp_seconds",
                                  frozenset({("tier", tier)}))], 1.7e9)
        self.assertEqual(agent.stop(), 0)
        # The listener is gone with the agent.
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()

    def test_port_in_use_is_a_clear_error(self):
        make_db(self.w.db, rows=10)
        busy = socket.socket()
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        try:
            p = self.w.run("agent", env={"CBSYNC_METRICS_LISTEN": f"127.0.0.1:{port}",
                                         "CBSYNC_SCHEDULE_DAILY": "off",
                                         "CBSYNC_SCHEDULE_WEEKLY": "off",
                                         "CBSYNC_SCHEDULE_MONTHLY": "off"}, timeout=30)
        finally:
            busy.close()
        self.assertFails(p, 6, f"cannot listen on 127.0.0.1:{port} for metrics")

    def test_listen_is_validated(self):
        p = self.w.run("config", "check", env={"CBSYNC_METRICS_LISTEN": "9464"})
        self.assertFails(p, 3, "is not HOST:PORT")


if __name__ == "__main__":
    main()
