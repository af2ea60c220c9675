#!/usr/bin/env python3
"""Benchmarks for the agent: what it costs when nothing happens, and what a
day of syncing costs in requests to an object store.

  python3 bench/bench_agent.py [--cbsync build/cbsync] [--idle-seconds 60]

1. Idle: `cbsync agent` on an idle database (schedules on, watch on, a local
   mirror remote) for --idle-seconds; its CPU time from /proc, beside a
   baseline process that only sleeps for the same time.
2. Requests per day: the agent against a throwaway OpenStack Swift (S3 API)
   started on loopback (tests/servers/swift.py), default settings except a
   short watch quiet period so the run is quick.  It measures the requests
   one sync costs after a backup (read from the agent's request counters),
   and one sync that also deletes an expired backup, then multiplies by the
   number of backups the default settings make in a day: on an idle database
   (the daily, 1/7 of a weekly, ~1/30 of a monthly) and on one written to
   all day (a change backup every min_interval = 60 s).
"""
import argparse
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "servers"))


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks   # utime + stime


def make_db(path, rows=2000):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=wal")
    con.execute("CREATE TABLE ai_messages (id INTEGER PRIMARY KEY, content TEXT)")
    with con:
        con.executemany("INSERT INTO ai_messages(content) VALUES (?)",
                        [("message %d " % i * 10,) for i in range(rows)])
    con.close()


def clean_env(extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CBSYNC_")}
    env.update(extra)
    return env


def idle(cbsync, seconds, work):
    db = os.path.join(work, "idle", "ai_db", "cloudbrain.db")
    make_db(db)
    mirror = os.path.join(work, "idle", "mirror")
    os.makedirs(mirror)
    env = clean_env({"CBSYNC_REMOTE_M_TYPE": "local", "CBSYNC_REMOTE_M_PATH": mirror,
                     "CBSYNC_SCHEDULE_CATCH_UP": "false"})
    cwd = os.path.dirname(os.path.dirname(db))
    agent = subprocess.Popen([cbsync, "agent"], cwd=cwd, env=env,
                             stderr=subprocess.DEVNULL)
    baseline = subprocess.Popen(["sleep", str(seconds + 2)])
    time.sleep(2)   # start-up and the first sync are not idleness
    a0, b0 = cpu_seconds(agent.pid), cpu_seconds(baseline.pid)
    time.sleep(seconds)
    a1, b1 = cpu_seconds(agent.pid), cpu_seconds(baseline.pid)
    agent.send_signal(signal.SIGTERM)
    agent.wait(timeout=30)
    baseline.kill()
    baseline.wait()
    backups = len([f for f in os.listdir(os.path.join(cwd, "ai_db", "backups"))
                   if f.endswith(".db.gz")])
    return {"seconds": seconds, "agent_cpu_s": a1 - a0, "baseline_cpu_s": b1 - b0,
            "backups_made": backups}


def status(cbsync, cwd, env):
    p = subprocess.run([cbsync, "status", "--json"], cwd=cwd, env=env, capture_output=True,
                       text=True, check=True)
    return json.loads(p.stdout)["state"]


def wait_requests(cbsync, cwd, env, until, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        # Until the agent has written its state file, status has none.
        st = status(cbsync, cwd, env)
        r = (st or {}).get("remotes") or [None]
        if r[0] is not None and until(r[0]):
            return r[0]
        time.sleep(0.2)
    raise SystemExit("the agent did not sync in time")


def requests(cbsync, work):
    from swift import SwiftS3
    s3 = SwiftS3()
    s3.start()
    try:
        s3.create_bucket("bench")
        base = os.path.join(work, "s3")
        db = os.path.join(base, "ai_db", "cloudbrain.db")
        make_db(db)
        env = clean_env({
            "CBSYNC_REMOTE_OFFSITE_TYPE": "s3", "CBSYNC_REMOTE_OFFSITE_ENDPOINT": s3.endpoint,
            "CBSYNC_REMOTE_OFFSITE_BUCKET": "bench", "CBSYNC_REMOTE_OFFSITE_PATH_STYLE": "true",
            "AWS_ACCESS_KEY_ID": s3.access_key, "AWS_SECRET_ACCESS_KEY": s3.secret_key,
            "AWS_REGION": s3.region, "CBSYNC_SCHEDULE_CATCH_UP": "false",
            "CBSYNC_WATCH_QUIET": "0.5s", "CBSYNC_WATCH_MIN_INTERVAL": "1s",
            # An expiring keep_change lets one sync show the cost of a deletion.
            "CBSYNC_REMOTE_OFFSITE_KEEP_CHANGE": "3s"})
        agent = subprocess.Popen([cbsync, "agent"], cwd=base, env=env,
                                 stderr=subprocess.DEVNULL)
        try:
            first = wait_requests(cbsync, base, env, lambda r: r["last_success"] is not None)

            def change():
                con = sqlite3.connect(db)
                with con:
                    con.execute("INSERT INTO ai_messages(content) VALUES ('x')")
                con.close()

            change()
            after_one = wait_requests(cbsync, base, env, lambda r: r["uploaded"] >= 1)
            time.sleep(4)   # the first change backup expires on the remote
            change()
            after_two = wait_requests(cbsync, base, env, lambda r: r["uploaded"] >= 2)
        finally:
            agent.send_signal(signal.SIGTERM)
            agent.wait(timeout=30)
        per_upload = after_one["requests"] - first["requests"]
        per_upload_and_delete = after_two["requests"] - after_one["requests"]
        return {"initial_sync": first["requests"], "sync_after_a_backup": per_upload,
                "sync_after_a_backup_that_expires_one": per_upload_and_delete}
    finally:
        s3.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cbsync", default=os.path.join(ROOT, "build", "cbsync"))
    ap.add_argument("--idle-seconds", type=int, default=60)
    ap.add_argument("--work", default=None, help="scratch directory (default: a temp dir)")
    a = ap.parse_args()
    a.cbsync = os.path.abspath(a.cbsync)
    work = a.work or tempfile.mkdtemp(prefix="cbsync-bench-agent-")
    try:
        version = subprocess.run([a.cbsync, "version"], capture_output=True, text=True).stdout
        print(f"cbsync agent benchmark  {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}")
        print(f"machine:  {os.cpu_count()} cores; {version.strip()}")
        idle_res = idle(a.cbsync, a.idle_seconds, work)
        print(f"\nidle, {a.idle_seconds} s (watch on, schedules on, one local mirror):")
        print(f"  agent CPU        {idle_res['agent_cpu_s'] * 1000:8.1f} ms   "
              f"({idle_res['agent_cpu_s'] / a.idle_seconds * 100:.4f}% of one core)")
        print(f"  baseline (sleep) {idle_res['baseline_cpu_s'] * 1000:8.1f} ms")
        print(f"  backups made     {idle_res['backups_made']:8d}")
        req = requests(a.cbsync, work)
        print("\nS3 requests (OpenStack Swift on loopback), measured:")
        print(f"  the first sync at start (one listing, empty bucket)   {req['initial_sync']}")
        print(f"  a sync after a backup                                {req['sync_after_a_backup']}")
        print(f"  ... that also expires one old backup                 "
              f"{req['sync_after_a_backup_that_expires_one']}")
        per_del = req["sync_after_a_backup_that_expires_one"]
        # In steady state each backup's sync also expires one old backup of
        # its type, and lists the bucket in pages of 1000 objects: the
        # default policy holds ~1440 change backups (24 h at one a minute),
        # 8 dailies, 5 weeklies, 13 monthlies, two objects each.
        idle_day = 1 + 1 / 7 + 12 / 365
        busy_day = 24 * 60 + idle_day
        idle_objects = 2 * (8 + 5 + 13 + 1)
        busy_objects = 2 * (1440 + 8 + 5 + 13)
        pages = lambda objects: -(-objects // 1000)
        idle_total = idle_day * (per_del - 1 + pages(idle_objects))
        busy_total = busy_day * (per_del - 1 + pages(busy_objects))
        print("\nrequests per day at the default settings (a sync per backup; in steady state "
              "each also expires one old backup and lists the bucket in 1000-object pages):")
        print(f"  idle database          {idle_total:10.0f}   ({idle_day:.2f} backups a day, "
              f"~{idle_objects} objects held)")
        print(f"  written to all day     {busy_total:10.0f}   ({busy_day:.0f} backups a day, "
              f"~{busy_objects} objects held)")
        print("  no sync runs when nothing changed and no retry is pending")
    finally:
        if not a.work:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
