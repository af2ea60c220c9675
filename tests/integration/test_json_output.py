"""Machine-readable output and the audit trail, through the binary.

Every --json output (list, stats, verify, push, restore, drill, status)
parses and matches its schema below, on success and on failure (where a
command that failed before its document prints {"error": ...} instead);
list --json has one schema whatever --tier is; reals carry no float noise.
The operations log names each object a prune deleted and each upload, with
its tier and bytes, in text and as JSON lines."""
import json
import os
import re
import shutil
import sqlite3

from harness import CbsyncTest, Writer, fake_backup, main, make_db, write_agent_config
from test_agent import Agent

# A schema: key -> the types its value may have (None: null allowed).
NUM = (int, float)
ERROR = {"message": (str,), "kind": (str,), "exit_code": (int,)}
LIST_ROW = {
    "name": (str,), "database": (str,), "type": (str,), "created": (str,), "tiers": (list,),
    "path": (str, None), "compressed_size": (int,), "original_size": (int, None),
    "compression_ratio": (*NUM, None), "sha256": (str, None), "page_size": (int, None),
    "page_count": (int, None), "encrypted": (bool,), "has_metadata": (bool,),
    "metadata_error": (str, None), "increments": (dict,),
}
TIER_STATS = {
    "tier": (str,), "directory": (str, None), "count": (int,), "types": (dict,),
    "total_size": (int,), "disk_used": (int, None), "increments": (dict,),
    "oldest": (dict, None), "newest": (dict, None), "average_compression_ratio": (*NUM, None),
}
DATABASE = {"path": (str,), "size": (int, None), "wal_size": (int, None)}
VERIFY = {"checked": (int,), "ok": (int,), "failed": (int,), "chains_ok": (int,),
          "chains_failed": (int,), "results": (list,)}
VERIFY_RESULT = {
    "name": (str,), "tier": (str,), "kind": (str,), "ok": (bool,), "bytes": (int, None),
    "sha256_checked": (bool,), "encrypted_not_decrypted": (bool,), "increments": (int, None),
    "state_time": (str, None), "error": (dict, None),
}
PUSH = {
    "remote": (str,), "ok": (bool,), "uploaded": (int, None), "increments_uploaded": (int, None),
    "bytes": (int, None), "already_there": (int, None), "expired_deleted": (int, None),
    "skipped": (int, None), "seconds": NUM, "error": (dict, None),
}
RESTORE = {
    "outcome": (str,), "reason": (str, None), "backup": (str, None), "tier": (str, None),
    "target": (str,), "increments": (int,), "state_time": (str, None),
    "restore_point": (str, None), "read_bytes": (int, None), "database_size": (int, None),
    "page_count": (int, None), "page_size": (int, None), "checks": (list,), "seconds": NUM,
}
OPLOG = {
    "time": (str,), "user": (str,), "uid": (int,), "event": (str,), "object": (str, None),
    "tier": (str, None), "bytes": (int, None), "outcome": (str,), "error": (str, None),
    "seconds": NUM, "detail": (str, None),
}


class JsonOutputTest(CbsyncTest):
    def setUp(self):
        super().setUp()
        self.mirror = self.w.path("mirror")
        os.makedirs(self.mirror)
        self.env = {"CBSYNC_REMOTE_USB_TYPE": "local", "CBSYNC_REMOTE_USB_PATH": self.mirror}
        make_db(self.w.db, rows=300)

    def run_env(self, *args, **extra):
        return self.w.run(*args, env=dict(self.env, **extra))

    def doc(self, *args, code=0, **extra):
        """Run a --json command; its stdout must be one JSON document."""
        p = self.run_env(*args, **extra)
        self.assertEqual(p.returncode, code, p.stdout + p.stderr)
        self.assertNotIn("runtime error", p.stderr)
        self.assertNoFloatNoise(p.stdout)
        return json.loads(p.stdout)

    def assertNoFloatNoise(self, text):
        for real in re.findall(r"-?\d+\.\d+(?:e-?\d+)?", text):
            self.assertLessEqual(len(real.split(".")[1]), 6, f"{real} in {text}")

    def assertSchema(self, obj, schema, what):
        self.assertIsInstance(obj, dict, what)
        self.assertEqual(set(obj), set(schema), what)
        for key, types in schema.items():
            ok = any(obj[key] is None if t is None else
                     isinstance(obj[key], t) and not (t is int and isinstance(obj[key], bool))
                     for t in types)
            self.assertTrue(ok, f"{what}: {key} = {obj[key]!r}, not {types}")

    def oplog(self):
        with open(os.path.join(self.w.backups, "operations.log")) as f:
            return f.read()

    def test_every_json_output_parses_and_matches_its_schema(self):
        self.w.ok("backup", "--no-sync")
        self.w.ok("backup", "--type", "daily", "--no-sync")
        # push --json: an object per remote.
        push = self.doc("push", "--json")
        self.assertEqual(len(push), 1)
        self.assertSchema(push[0], PUSH, "push")
        self.assertEqual((push[0]["remote"], push[0]["ok"], push[0]["uploaded"]), ("usb", True, 2))
        self.assertGreater(push[0]["bytes"], 0)
        # list --json: one schema for the local tier, a remote, and all.
        rows = {}
        for tier in (None, "local", "usb", "all"):
            listing = self.doc("list", "--json", *(("--tier", tier) if tier else ()))
            self.assertEqual(len(listing), 2, tier)
            for row in listing:
                self.assertSchema(row, LIST_ROW, f"list --tier {tier}")
            rows[tier] = listing
        self.assertEqual([r["tiers"] for r in rows["all"]], [["local", "usb"]] * 2)
        self.assertEqual([r["tiers"] for r in rows["usb"]], [["usb"]] * 2)
        self.assertIsNone(rows["usb"][0]["path"])
        self.assertTrue(os.path.exists(os.path.join(self.w.root, rows[None][0]["path"])))
        self.assertEqual(rows[None], rows["local"])
        # stats --json and stats --tier all --json.
        stats = self.doc("stats", "--json")
        self.assertSchema(stats, dict(TIER_STATS, database=(dict,)), "stats")
        self.assertSchema(stats["database"], DATABASE, "stats database")
        self.assertEqual((stats["tier"], stats["count"]), ("local", 2))
        every = self.doc("stats", "--tier", "all", "--json")
        self.assertEqual(set(every), {"tiers", "database"})
        self.assertEqual([t["tier"] for t in every["tiers"]], ["local", "usb"])
        for t in every["tiers"]:
            self.assertSchema(t, TIER_STATS, f"stats {t['tier']}")
            self.assertEqual(t["count"], 2)
            self.assertEqual(t["total_size"], stats["total_size"])
        self.assertIsNone(every["tiers"][1]["disk_used"])
        self.assertEqual(every["tiers"][1]["average_compression_ratio"],
                         stats["average_compression_ratio"])
        p = self.run_env("stats", "--tier", "usb")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("Backups in remote 'usb'", p.stdout)
        self.assertIn("Total backups:       2", p.stdout)
        # verify --json, all tiers.
        v = self.doc("verify", "--tier", "all", "--all", "--json")
        self.assertSchema(v, VERIFY, "verify")
        self.assertEqual((v["checked"], v["ok"], v["failed"]), (4, 4, 0))
        for r in v["results"]:
            self.assertSchema(r, VERIFY_RESULT, "verify result")
            self.assertTrue(r["ok"] and r["sha256_checked"])
        self.assertEqual(sorted({r["tier"] for r in v["results"]}), ["local", "usb"])
        # restore --json: a dry run, a restore aside, one refused.
        dry = self.doc("restore", "--latest", "--dry-run", "--json")
        self.assertSchema(dry, RESTORE, "restore --dry-run")
        self.assertEqual((dry["outcome"], dry["tier"]), ("dry_run", "local"))
        self.assertGreater(dry["read_bytes"], 0)
        aside = self.w.path("aside.db")
        done = self.doc("restore", "--name", rows["usb"][0]["name"], "--from", "usb",
                        "--to", aside, "--json")
        self.assertSchema(done, RESTORE, "restore")
        self.assertEqual((done["outcome"], done["tier"], done["target"]),
                         ("restored", "usb", aside))
        self.assertEqual(done["checks"], ["gzip_crc32", "sha256", "integrity_check"])
        with sqlite3.connect(aside) as db:
            self.assertEqual(db.execute("select count(*) from ai_messages").fetchone()[0], 300)
        self.assertEqual(done["database_size"], os.path.getsize(aside))
        skipped = self.doc("restore", "--latest", "--if-db-not-exists", "--json")
        self.assertSchema(skipped, RESTORE, "restore skipped")
        self.assertEqual(skipped["outcome"], "skipped")
        refused = self.doc("restore", "--latest", "--to", aside, "--json", code=2)
        self.assertEqual(set(refused), {"error"})
        self.assertSchema(refused["error"], ERROR, "restore refused")
        self.assertEqual((refused["error"]["kind"], refused["error"]["exit_code"]), ("usage", 2))
        # drill --json and status --json.
        drills = self.doc("drill", "--tier", "all", "--json")
        self.assertEqual([d["tier"] for d in drills], ["local", "usb"])
        self.assertTrue(all(d["ok"] for d in drills), drills)
        status = self.doc("status", "--json")
        self.assertEqual(set(status), {"running", "state", "drills"})
        # Failures keep stdout JSON: a damaged backup on the mirror, a remote
        # that is gone, a missing backup.
        with open(os.path.join(self.mirror, rows["usb"][0]["name"]), "r+b") as f:
            f.seek(40)
            f.write(b"\0" * 64)
        v = self.doc("verify", "--tier", "usb", "--all", "--json", code=5)
        self.assertSchema(v, VERIFY, "verify failed")
        bad = [r for r in v["results"] if not r["ok"]]
        self.assertEqual(len(bad), 1)
        self.assertSchema(bad[0]["error"], ERROR, "verify error")
        self.assertEqual((bad[0]["name"], bad[0]["error"]["exit_code"]),
                         (rows["usb"][0]["name"], 5))
        gone = self.w.path("mirror-gone")
        os.rename(self.mirror, gone)
        push = self.doc("push", "--json", code=9,
                        CBSYNC_REMOTE_USB_PATH=os.path.join(gone, "nowhere", "deeper"))
        self.assertSchema(push[0], PUSH, "push failed")
        self.assertFalse(push[0]["ok"])
        self.assertSchema(push[0]["error"], ERROR, "push error")
        missing = self.doc("restore", "--name", "cloudbrain_manual_20000101_000000.db.gz",
                           "--from", "local", "--to", self.w.path("x.db"), "--json", code=4)
        self.assertEqual(missing["error"]["kind"], "not_found")
        os.rename(gone, self.mirror)

    def test_the_audit_trail_names_each_upload_and_each_deletion(self):
        import datetime as dt
        now = dt.datetime.now(dt.timezone.utc)
        old = [fake_backup(self.w.backups, 1, kind="daily", created=now - dt.timedelta(days=d))
               for d in (30, 31, 32)]
        fresh = fake_backup(self.w.backups, 1, kind="daily", created=now - dt.timedelta(hours=1))
        # The mirror holds the old ones too (copied, not uploaded).
        for name in old:
            for suffix in ("", ".json"):
                shutil.copy(os.path.join(self.w.backups, name + suffix), self.mirror)
        p = self.run_env("push")
        self.assertEqual(p.returncode, 0, p.stderr)
        log = self.oplog()
        self.assertRegex(log, rf"\S+ \S+:{os.geteuid()} upload {re.escape(fresh)} ok "
                              r"\d+\.\d+s to 'usb', \d+ bytes")
        # The mirror's retention deleted the old copies in that sync: named.
        for name in old:
            self.assertRegex(log, rf" delete {re.escape(name)} ok \d+\.\d+s ")
        # The uploads and deletions go to the file only: push prints its own.
        self.assertNotIn(" upload ", p.stderr)
        self.assertNotIn(" delete ", p.stderr)
        # A person's prune of the local tier: each deleted backup by name,
        # as JSON lines with [log] format = json.
        p = self.run_env("prune", CBSYNC_LOG_FORMAT="json")
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = [json.loads(l) for l in self.oplog().splitlines() if l.startswith("{")]
        for line in lines:
            self.assertSchema(line, OPLOG, "operations log")
        deleted = [l for l in lines if l["event"] == "delete"]
        self.assertEqual(sorted(l["object"] for l in deleted), sorted(old))
        for l in deleted:
            self.assertEqual((l["tier"], l["outcome"], l["bytes"]), ("local", "ok", 1 << 20))
            self.assertIn("older than", l["detail"])
        self.assertTrue(any(l["event"] == "prune" for l in lines))
        # The fresh one stays and went up once: an upload line of JSON next.
        self.assertTrue(os.path.exists(os.path.join(self.w.backups, fresh)))
        self.w.ok("backup", "--no-sync")
        p = self.run_env("push", CBSYNC_LOG_FORMAT="json")
        self.assertEqual(p.returncode, 0, p.stderr)
        ups = [json.loads(l) for l in self.oplog().splitlines()
               if l.startswith("{") and '"upload"' in l]
        self.assertEqual(len(ups), 1, ups)
        self.assertEqual((ups[0]["tier"], ups[0]["outcome"]), ("usb", "ok"))
        self.assertEqual(ups[0]["bytes"], os.path.getsize(
            os.path.join(self.mirror, ups[0]["object"])) + os.path.getsize(
            os.path.join(self.mirror, ups[0]["object"] + ".json")))

    def test_the_agents_json_stream_carries_each_operation_as_fields(self):
        conf = write_agent_config(
            self.w.path("agent.conf"), self.w.db, self.w.backups,
            extra=f'[log]\nformat = json\n[remote "usb"]\ntype = local\npath = {self.mirror}\n')
        agent = Agent(self, conf)
        writer = Writer(self.w.db)
        try:
            agent.wait_for('"event":"upload"', timeout=60)
            agent.wait_for('"event":"increment"', timeout=60)
        finally:
            writer.stop()
        self.assertEqual(agent.stop(), 0)
        events = []
        for line in agent.lines:
            doc = json.loads(line)   # every line is JSON
            if "event" in doc:
                self.assertSchema(doc, OPLOG, "agent event")
                events.append(doc)
        ups = [e for e in events if e["event"] == "upload"]
        self.assertTrue(ups)
        for e in ups:
            self.assertEqual((e["tier"], e["outcome"]), ("usb", "ok"))
            self.assertGreater(e["bytes"], 0)
        incs = [e for e in events if e["event"] == "increment"]
        self.assertTrue(all(e["tier"] == "local" and e["bytes"] > 0 for e in incs), incs)

    def test_the_operations_log_rotates_and_keeps_eight_generations(self):
        # Every line passes this size: each one is rotated after it is written.
        env = {"CBSYNC_TEST_OPLOG_ROTATE_BYTES": "10"}
        self.w.ok("backup", "--no-sync", env=env)
        for _ in range(12):
            self.w.ok("verify", env=env)
        logs = sorted(f for f in os.listdir(self.w.backups) if f.startswith("operations.log"))
        self.assertEqual(logs, [f"operations.log.{k}" for k in range(1, 9)])
        lines = []
        for k in range(8, 0, -1):
            with open(os.path.join(self.w.backups, f"operations.log.{k}")) as f:
                lines.append(f.read().splitlines())
        # One line each, the newest in .1, in order: the eight newest of 13.
        self.assertEqual([len(l) for l in lines], [1] * 8)
        self.assertTrue(all(l[0].split()[2] == "verify" for l in lines), lines)
        stamps = [l[0].split()[0] for l in lines]
        self.assertEqual(stamps, sorted(stamps))
        # The next line starts a new log beside them.
        self.w.ok("verify")
        self.assertTrue(os.path.exists(os.path.join(self.w.backups, "operations.log")))

    def test_per_tier_alert_limits_are_settings(self):
        conf = self.w.path("c.conf")
        with open(conf, "w") as f:
            f.write("[alert]\nmax_lag = 10min\n[local]\nmax_age = 3d\n"
                    f'[remote "usb"]\ntype = local\npath = {self.mirror}\nmax_lag = 30s\n')
        os.chmod(conf, 0o600)
        p = self.w.run("config", "check", "--config", conf)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout, r"max_age = 3d")
        self.assertRegex(p.stdout, r"max_lag = 30s")
        self.assertNotIn("max_delay", p.stderr)
        # A remote is judged by age only when its section says so.
        self.assertIn("max_age = off  # default", p.stdout)
        # Without replication the default max_lag fits [watch] max_delay.
        plain = self.w.path("p.conf")
        with open(plain, "w") as f:
            f.write("[replicate]\nenabled = false\n[watch]\nmax_delay = 10min\n")
        os.chmod(plain, 0o600)
        p = self.w.run("config", "check", "--config", plain)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertNotIn("warn", p.stderr)
        self.assertIn("max_lag = 20min  # default", p.stdout)
        # Without replication a change may wait [watch] max_delay: a max_lag
        # no longer than that is a warning naming where it was set.
        quiet = self.w.path("q.conf")
        with open(quiet, "w") as f:
            f.write("[replicate]\nenabled = false\n[watch]\nmax_delay = 10min\n"
                    "[local]\nmax_lag = 2min\n")
        os.chmod(quiet, 0o600)
        p = self.w.run("config", "check", "--config", quiet)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stderr, r"q\.conf:6: \[local\] max_lag: 2min is not longer than \[watch\] "
                                   r"max_delay 10min.*HINT: set \[local\] max_lag above 10min")
        with open(conf, "a") as f:
            f.write("max_age = soon\n")
        p = self.w.run("config", "check", "--config", conf)
        self.assertFails(p, 3, "max_age")
        self.assertIn("c.conf:9", p.stderr)


if __name__ == "__main__":
    main()
