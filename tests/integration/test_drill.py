"""Restore drills (cbsync drill, and the agent's on [drill] schedule).

A drill of every backend -- the local tier, a mirror, Swift's S3 and sshd --
restores the newest state with every check and passes, leaving the live
database and every tier as they were and its scratch directory empty; its
--json output has one schema.  A tier whose newest object was corrupted
fails its drill, named, and turns /healthz red until a drill passes again;
check_sql that returns false fails a drill, and SQL that is not valid is a
configuration error; a foreign key violation fails it.  A drill killed with
-9 leaves nothing the next one does not clear, and a scratch directory too
small for the copy is a clear error before anything is restored.  The agent
drills on its schedule, and catches up a drill it missed."""
import calendar
import glob
import hashlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import time

from harness import (CBSYNC, CbsyncTest, Writer, cbsync_env, free_port, main, make_db,
                     start_cbsync, write_agent_config)
from test_agent import Agent
from test_metrics import curl, parse
from test_replicate_servers import TwoRemotesCase

KEYS = {"tier", "ok", "ran_at", "duration_seconds", "snapshot", "increments", "state_time",
        "rpo_seconds", "database_bytes", "checks", "error", "exit_code", "last_success"}


def file_sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def tree(root):
    """Every file under root with its SHA-256."""
    out = {}
    for d, _, files in os.walk(root):
        for name in files:
            p = os.path.join(d, name)
            out[os.path.relpath(p, root)] = file_sha(p)
    return out


def check_schema(test, d):
    test.assertEqual(set(d), KEYS)
    test.assertIsInstance(d["ok"], bool)
    test.assertIsInstance(d["duration_seconds"], (int, float))
    test.assertIsInstance(d["increments"], int)
    test.assertIsInstance(d["checks"], list)
    test.assertIsInstance(d["exit_code"], int)
    time.strptime(d["ran_at"], "%Y-%m-%dT%H:%M:%SZ")
    if d["ok"]:
        test.assertEqual(d["last_success"], d["ran_at"])
        test.assertIsNone(d["error"])
        test.assertEqual(d["exit_code"], 0)
        test.assertTrue(d["snapshot"].endswith(".db.gz"))
        time.strptime(d["state_time"][:19], "%Y-%m-%dT%H:%M:%S")
        test.assertGreaterEqual(d["rpo_seconds"], 0)
        test.assertGreater(d["database_bytes"], 0)
        for check in ("gzip CRC-32", "integrity_check", "foreign_key_check"):
            test.assertIn(check, d["checks"])
    else:
        test.assertIsInstance(d["error"], str)
        test.assertNotEqual(d["exit_code"], 0)


class DrillBackendsTest(TwoRemotesCase):
    BUCKET = "cbsync-drill"

    def test_every_backend_then_a_corrupted_tier(self):
        env = self.env()
        mirror = self.w.path("mirror")
        env.update({"CBSYNC_REMOTE_MIRROR_TYPE": "local", "CBSYNC_REMOTE_MIRROR_PATH": mirror,
                    "CBSYNC_REMOTE_MIRROR_CREATE_DIR": "true"})
        # Some increments on every tier: an agent replicating for a while.
        agent = start_cbsync(self.w.root, "agent", "--config", self.conf, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(lambda: agent.poll() is None and agent.kill())
        writer = Writer(self.w.db)
        try:
            deadline = time.time() + 90
            while time.time() < deadline and len(glob.glob(
                    os.path.join(mirror, "increments", "*", "*.wal.gz"))) < 3:
                time.sleep(0.3)
        finally:
            writer.stop()
        time.sleep(3)   # the last increments go up
        agent.send_signal(signal.SIGTERM)
        self.assertEqual(agent.wait(timeout=60), 0)

        db_before = file_sha(self.w.db)
        mirror_before = tree(mirror)
        p = self.w.run("drill", "--config", self.conf, "--json", env=env, timeout=300)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        drills = json.loads(p.stdout)
        self.assertEqual(drills[0]["tier"], "local")
        self.assertEqual(sorted(d["tier"] for d in drills), ["local", "mirror", "s3", "sftp"])
        for d in drills:
            check_schema(self, d)
            self.assertTrue(d["ok"], d)
        self.assertGreater(drills[0]["increments"], 0, drills[0])
        # Nothing touched, nothing left.
        self.assertEqual(file_sha(self.w.db), db_before)
        self.assertEqual(tree(mirror), mirror_before)
        scratch = os.path.join(os.path.dirname(self.w.db), ".cbsync-drill")
        self.assertEqual([n for n in os.listdir(scratch) if n != ".cbsync.lock"], [])
        with open(os.path.join(self.w.backups, "operations.log")) as f:
            log = f.read()
        self.assertEqual(log.count(" drill "), 4, log)

        # The mirror's newest snapshot damaged: that drill fails, named.
        newest = sorted(glob.glob(os.path.join(mirror, "*.db.gz")))[-1]
        saved = open(newest, "rb").read()
        with open(newest, "r+b") as f:
            f.seek(len(saved) // 2)
            f.write(b"\0" * 16)
        p = self.w.run("drill", "--config", self.conf, "--tier", "mirror", env=env)
        line = self.assertFails(p, 5, os.path.basename(newest))
        self.assertIn("mirror", line)
        self.assertIn("FAILED  mirror", p.stdout)
        status = json.loads(self.w.ok("status", "--config", self.conf, "--json",
                                      env=env).stdout)
        by_tier = {d["tier"]: d for d in status["drills"]}
        self.assertFalse(by_tier["mirror"]["ok"])
        self.assertTrue(by_tier["local"]["ok"])
        self.assertIn("FAILED", self.w.ok("status", "--config", self.conf, env=env).stdout)

        # The agent's /healthz is red for it, and /metrics says which.
        port = free_port()
        env2 = dict(env, CBSYNC_METRICS_LISTEN=f"127.0.0.1:{port}",
                    CBSYNC_DRILL_SCHEDULE="off")
        agent = start_cbsync(self.w.root, "agent", "--config", self.conf, env=env2,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(lambda: agent.poll() is None and agent.kill())
        deadline = time.time() + 30
        code = None
        while time.time() < deadline:
            try:
                code, body = curl(f"http://127.0.0.1:{port}/healthz")
                if code:
                    break
            except Exception:
                pass
            time.sleep(0.2)
        self.assertEqual(code, 503, body)
        self.assertIn("the drill of tier 'mirror'", body)
        m = parse(curl(f"http://127.0.0.1:{port}/metrics")[1])
        self.assertEqual(m[("cbsync_drill_ok", frozenset({("tier", "mirror")}))], 0)
        self.assertEqual(m[("cbsync_drill_ok", frozenset({("tier", "local")}))], 1)
        self.assertGreater(m[("cbsync_drill_duration_seconds", frozenset({("tier", "s3")}))], 0)
        self.assertGreater(m[("cbsync_drill_last_success_timestamp_seconds",
                              frozenset({("tier", "sftp")}))], 1.7e9)
        # Repaired, a drill by hand turns it green again.
        with open(newest, "wb") as f:
            f.write(saved)
        self.w.ok("drill", "--config", self.conf, "--tier", "mirror", env=env)
        deadline = time.time() + 20
        while time.time() < deadline and curl(f"http://127.0.0.1:{port}/healthz")[0] != 200:
            time.sleep(0.3)
        self.assertEqual(curl(f"http://127.0.0.1:{port}/healthz"), (200, "ok\n"))
        agent.send_signal(signal.SIGTERM)
        self.assertEqual(agent.wait(timeout=60), 0)


class DrillTest(CbsyncTest):
    def conf(self, extra=""):
        path = self.w.path("cbsync.conf")
        with open(path, "w") as f:
            f.write(f"[database]\npath = {self.w.db}\n[local]\ndir = {self.w.backups}\n"
                    + extra)
        os.chmod(path, 0o600)
        return path

    def test_check_sql_and_foreign_keys(self):
        make_db(self.w.db, rows=50)
        self.w.backup()
        ok = self.conf("[drill]\ncheck_sql = SELECT count(*) > 0 FROM ai_messages; "
                       "SELECT 'yes' IS NOT NULL\n")
        p = self.w.ok("drill", "--config", ok)
        self.assertIn("check_sql (2)", p.stdout)
        false = self.conf("[drill]\ncheck_sql = SELECT count(*) > 0 FROM ai_messages; "
                          "SELECT count(*) FROM ai_messages WHERE content = 'nope'\n")
        p = self.w.run("drill", "--config", false)
        self.assertIn("returned false", self.assertFails(p, 5, "check_sql"))
        none = self.conf("[drill]\ncheck_sql = SELECT 1 WHERE 0\n")
        self.assertFails(self.w.run("drill", "--config", none), 5, "returned no row")
        bad = self.conf("[drill]\ncheck_sql = SELEC 1\n")
        self.assertFails(self.w.run("drill", "--config", bad), 3, "syntax error")
        missing = self.conf("[drill]\ncheck_sql = SELECT count(*) FROM no_such_table\n")
        self.assertFails(self.w.run("drill", "--config", missing), 3, "no_such_table")
        # A foreign key that points nowhere.
        con = sqlite3.connect(self.w.db)
        con.executescript("CREATE TABLE parent(id INTEGER PRIMARY KEY);"
                          "CREATE TABLE child(pid INTEGER REFERENCES parent(id));"
                          "INSERT INTO child VALUES (42);")
        con.close()
        time.sleep(1.1)
        self.w.backup()
        p = self.w.run("drill", "--config", self.conf())
        self.assertIn("a row of child", self.assertFails(p, 5, "foreign_key_check"))
        # A tier that is not configured.
        p = self.w.run("drill", "--config", self.conf(), "--tier", "nope")
        self.assertFails(p, 2, "no tier named 'nope'")

    def test_killed_drills_leave_nothing_and_space_is_checked_first(self):
        make_db(self.w.db, rows=2000, random_bytes=24 << 20)
        self.w.backup()
        conf = self.conf()
        scratch = os.path.join(os.path.dirname(self.w.db), ".cbsync-drill")
        rng = random.Random(5)
        for _ in range(4):
            proc = start_cbsync(self.w.root, "drill", "--config", conf,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(0.05, 0.6))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        p = self.w.ok("drill", "--config", conf)
        self.assertIn("ok      local", p.stdout)
        self.assertEqual([n for n in os.listdir(scratch) if n != ".cbsync.lock"], [])

        # [drill] dir is where the drills' own folder goes: pointed at the
        # database's directory or the backups, nothing of theirs is touched.
        for where in (os.path.dirname(self.w.db), self.w.backups):
            before = {n: file_sha(os.path.join(where, n)) for n in os.listdir(where)
                      if os.path.isfile(os.path.join(where, n)) and not n.endswith("-shm")
                      and n != "operations.log" and not n.startswith(".cbsync")}
            self.w.ok("drill", "--config", self.conf(f"[drill]\ndir = {where}\n"))
            for n, sha in before.items():
                self.assertEqual(file_sha(os.path.join(where, n)), sha, n)

        # A drill already running: the second is refused, and records nothing.
        conf = self.conf()
        with open(os.path.join(self.w.backups, ".cbsync-drills.json")) as f:
            record = f.read()
        holder = subprocess.Popen(["flock", os.path.join(scratch, ".cbsync.lock"), "sleep",
                                   "30"])
        self.addCleanup(holder.kill)
        time.sleep(0.5)
        self.assertFails(self.w.run("drill", "--config", conf), 7, "another drill is running")
        holder.kill()
        with open(os.path.join(self.w.backups, ".cbsync-drills.json")) as f:
            self.assertEqual(f.read(), record)

        small = self.w.path("small")
        os.makedirs(small)
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", small],
                          capture_output=True).returncode != 0:
            self.skipTest("cannot mount a small tmpfs here")
        self.addCleanup(subprocess.run, ["umount", small])
        p = self.w.run("drill", "--config", self.conf(f"[drill]\ndir = {small}\n"))
        line = self.assertFails(p, 6, "free in " + small)
        self.assertIn("HINT", line)
        self.assertEqual([n for n in os.listdir(os.path.join(small, ".cbsync-drill"))
                          if n != ".cbsync.lock"], [])

    def test_agent_drills_on_schedule_and_catches_up(self):
        make_db(self.w.db, rows=50)
        self.w.backup()
        at = time.gmtime(time.time() + 4)
        when = time.strftime("%a %H:%M:%S", at).lower()
        conf = self.conf("[schedule]\ndaily = off\nweekly = off\nmonthly = off\n"
                         "catch_up = false\n[watch]\nenabled = false\n"
                         f"[drill]\nschedule = {when}\n")
        agent = Agent(self, conf)
        agent.wait_for("restore drill of every tier started", timeout=30)
        agent.wait_for("[drill] tier local: restored", timeout=60)
        status = json.loads(self.w.ok("status", "--config", conf, "--json").stdout)
        self.assertTrue(status["drills"][0]["ok"])
        self.assertEqual(agent.stop(), 0)

        # A drill missed while the agent was stopped runs soon after start.
        record = os.path.join(self.w.backups, ".cbsync-drills.json")
        with open(record) as f:
            doc = json.load(f)
        doc["tiers"]["local"]["ran_at"] = time.strftime(
            "%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 8 * 86400))
        with open(record, "w") as f:
            json.dump(doc, f)
        agent = Agent(self, conf)
        agent.wait_for("[drill] tier local: restored", timeout=60)
        self.assertEqual(agent.stop(), 0)


if __name__ == "__main__":
    main()
