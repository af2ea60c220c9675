#!/usr/bin/python3
"""What continuous protection costs: increments against full change backups.

  /usr/bin/python3 bench/bench_replicate.py --cbsync build/cbsync \
      [--size-mib 256] [--seconds 300] [--only increments|changes] \
      [--baseline OTHER/cbsync]

On one CloudBrain-shaped database (gen_cloudbrain.py, WAL mode) a writer
commits a ~1 KiB message every 200 ms and updates one row every second,
while `cbsync agent` runs for --seconds, twice:

  increments   [replicate] enabled, interval 1s
  changes      today's change backups at their defaults (quiet 5s,
               min_interval 60s, max_delay 5min)

and prints, for each and extrapolated to an hour: bytes the agent wrote to
the backup directory, objects it made, its CPU seconds (from /proc), and,
for scale, the gzip'd size of the pages that changed (the increments'
floor).  The agent starts from a snapshot made before the run (catch-up
off, schedules off), so both runs measure the changes only.

Also, per run: the largest the -wal grew (sampled every 50 ms), with a
third run of the writer alone for the server's own figure; the writer's p99
commit time; and, for increments, how the captures went (from the agent's
status: from the WAL's frames, across a WAL restart, by page diff).
--baseline runs the increments once more with another build (e.g. the
commit before WAL-frame capture), for the CPU ratio on the same machine.
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
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gen_cloudbrain  # noqa: E402

CONFIG = """[database]
path = {db}
[local]
dir = {dir}
[schedule]
daily = off
weekly = off
monthly = off
catch_up = false
[replicate]
enabled = {replicate}
interval = 1s
"""


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def files(d):
    out = {}
    for root, _, names in os.walk(d):
        for n in names:
            if n.endswith(".gz"):
                p = os.path.join(root, n)
                out[p] = os.path.getsize(p)
    return out


def writer(db, stop, out):
    con = sqlite3.connect(db, timeout=60, isolation_level=None)
    i = 0
    next_update = time.monotonic()
    times = []
    while not stop.is_set():
        t = time.monotonic()
        con.execute("INSERT INTO ai_messages(conversation_id, sender_id, content, created_at) "
                    "VALUES (1, 1, ?, CURRENT_TIMESTAMP)", (("benchmark message %d " % i) * 40,))
        times.append(time.monotonic() - t)
        if time.monotonic() >= next_update:
            t = time.monotonic()
            con.execute("UPDATE ai_profiles SET last_active = CURRENT_TIMESTAMP "
                        "WHERE rowid = 1")
            times.append(time.monotonic() - t)
            next_update += 1
        i += 1
        stop.wait(0.2)
    con.close()
    out["commits"] = i
    out["times"] = times


def wal_watch(db, stop, out):
    """The largest the -wal grew."""
    out["wal_max"] = 0
    while not stop.is_set():
        try:
            out["wal_max"] = max(out["wal_max"], os.path.getsize(db + "-wal"))
        except OSError:
            pass
        stop.wait(0.05)


def p99(values):
    v = sorted(values)
    return v[min(len(v) - 1, int(len(v) * 0.99))] if v else float("nan")


def run(cbsync, work, base_db, replicate, seconds):
    """One run; replicate None: the writer alone, no agent."""
    root = tempfile.mkdtemp(prefix="run-", dir=work)
    db = os.path.join(root, "cloudbrain.db")
    backups = os.path.join(root, "backups")
    shutil.copyfile(base_db, db)
    conf = os.path.join(root, "cbsync.conf")
    with open(conf, "w") as f:
        f.write(CONFIG.format(db=db, dir=backups, replicate="true" if replicate else "false"))
    os.chmod(conf, 0o600)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CBSYNC_")}
    agent = None
    before = {}
    if replicate is not None:
        # The base: one snapshot, before the clock starts.
        subprocess.run([cbsync, "--config", conf, "backup", "--type", "manual"], check=True,
                       stdout=subprocess.DEVNULL, env=env)
        before = files(backups)
        agent = subprocess.Popen([cbsync, "--config", conf, "agent"], env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(2)
        cpu0 = cpu_seconds(agent.pid)
    stop, wstop = threading.Event(), threading.Event()
    wout, watch = {}, {}
    t = threading.Thread(target=writer, args=(db, stop, wout))
    w = threading.Thread(target=wal_watch, args=(db, wstop, watch))
    w.start()
    t.start()
    time.sleep(seconds)
    stop.set()
    t.join()
    wstop.set()
    w.join()
    row = {"bytes": 0, "objects": 0, "cpu": float("nan"), "wal_max": watch["wal_max"],
           "commit_p99": p99(wout["times"]), "captures": None}
    if agent:
        time.sleep(3)   # the last capture
        row["cpu"] = cpu_seconds(agent.pid) - cpu0
        agent.send_signal(signal.SIGTERM)
        agent.wait(timeout=60)
        after = files(backups)
        made = {p: s for p, s in after.items() if p not in before}
        row["bytes"], row["objects"] = sum(made.values()), len(made)
        out = subprocess.run([cbsync, "--config", conf, "status", "--json"],
                             capture_output=True, text=True, env=env)
        try:
            row["captures"] = json.loads(out.stdout)["state"].get("captures")
        except (ValueError, KeyError, TypeError):
            pass
    shutil.rmtree(root)
    return row


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cbsync", default=os.environ.get("CBSYNC", "build/cbsync"))
    ap.add_argument("--baseline", help="another build: its increments, for the CPU ratio")
    ap.add_argument("--size-mib", type=float, default=256)
    ap.add_argument("--seconds", type=float, default=300)
    ap.add_argument("--only", choices=("increments", "changes"))
    ap.add_argument("--work", default=tempfile.gettempdir())
    args = ap.parse_args()
    cbsync = os.path.abspath(args.cbsync)
    work = tempfile.mkdtemp(prefix="cbsync-bench-replicate-", dir=args.work)
    try:
        base = os.path.join(work, "base.db")
        gen_cloudbrain.generate(base, size_mib=args.size_mib, seed=1, journal="wal")
        plan = [("writer alone", cbsync, None)]
        if args.only != "changes":
            plan.append(("increments", cbsync, True))
        if args.baseline:
            plan.append(("baseline", os.path.abspath(args.baseline), True))
        if args.only != "increments":
            plan.append(("changes", cbsync, False))
        rows = {name: run(binary, work, base, replicate, args.seconds)
                for name, binary, replicate in plan}
        scale = 3600 / args.seconds
        print(f"{args.size_mib:g} MiB database, {args.seconds:g} s of writes "
              f"(a message every 200 ms, an update a second), {os.cpu_count()} cores")
        print(f"{'':13} {'MiB/hour':>9} {'objects/hour':>13} {'CPU s/hour':>11} "
              f"{'CPU % core':>11} {'WAL max MiB':>12} {'commit p99 ms':>14}")
        for name, r in rows.items():
            print(f"{name:13} {r['bytes'] * scale / 2**20:9.1f} {r['objects'] * scale:13.0f} "
                  f"{r['cpu'] * scale:11.1f} {100 * r['cpu'] / args.seconds:11.2f} "
                  f"{r['wal_max'] / 2**20:12.2f} {r['commit_p99'] * 1000:14.2f}")
        for name, r in rows.items():
            if r["captures"]:
                c = r["captures"]
                print(f"{name}: captures from the WAL {c.get('wal')} (across a restart "
                      f"{c.get('restarts_followed')}), by page diff {c.get('diff')}")
        inc, chg, bl = rows.get("increments"), rows.get("changes"), rows.get("baseline")
        if inc and chg and chg["bytes"]:
            print(f"increments / changes: bytes {inc['bytes'] / chg['bytes']:.3f}, "
                  f"CPU {inc['cpu'] / chg['cpu'] if chg['cpu'] else float('nan'):.2f}")
        if inc and bl and bl["cpu"]:
            print(f"increments CPU, this build / baseline: {inc['cpu'] / bl['cpu']:.3f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
