#!/usr/bin/python3
"""What continuous protection costs: increments against full change backups.

  /usr/bin/python3 bench/bench_replicate.py --cbsync build/cbsync \
      [--size-mib 256] [--seconds 300]

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
"""
import argparse
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


def writer(db, stop):
    con = sqlite3.connect(db, timeout=60, isolation_level=None)
    i = 0
    next_update = time.monotonic()
    while not stop.is_set():
        con.execute("INSERT INTO ai_messages(conversation_id, sender_id, content, created_at) "
                    "VALUES (1, 1, ?, CURRENT_TIMESTAMP)", (("benchmark message %d " % i) * 40,))
        if time.monotonic() >= next_update:
            con.execute("UPDATE ai_profiles SET last_active = CURRENT_TIMESTAMP "
                        "WHERE rowid = 1")
            next_update += 1
        i += 1
        stop.wait(0.2)
    con.close()
    return i


def run(cbsync, work, base_db, replicate, seconds):
    root = tempfile.mkdtemp(prefix="run-", dir=work)
    db = os.path.join(root, "cloudbrain.db")
    backups = os.path.join(root, "backups")
    shutil.copyfile(base_db, db)
    conf = os.path.join(root, "cbsync.conf")
    with open(conf, "w") as f:
        f.write(CONFIG.format(db=db, dir=backups, replicate="true" if replicate else "false"))
    os.chmod(conf, 0o600)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CBSYNC_")}
    # The base: one snapshot, before the clock starts.
    subprocess.run([cbsync, "--config", conf, "backup", "--type", "manual"], check=True,
                   stdout=subprocess.DEVNULL, env=env)
    before = files(backups)
    agent = subprocess.Popen([cbsync, "--config", conf, "agent"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(2)
    cpu0 = cpu_seconds(agent.pid)
    stop = threading.Event()
    t = threading.Thread(target=writer, args=(db, stop))
    t.start()
    time.sleep(seconds)
    stop.set()
    t.join()
    time.sleep(3)   # the last capture
    cpu = cpu_seconds(agent.pid) - cpu0
    agent.send_signal(signal.SIGTERM)
    agent.wait(timeout=60)
    after = files(backups)
    made = {p: s for p, s in after.items() if p not in before}
    shutil.rmtree(root)
    return sum(made.values()), len(made), cpu


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cbsync", default=os.environ.get("CBSYNC", "build/cbsync"))
    ap.add_argument("--size-mib", type=float, default=256)
    ap.add_argument("--seconds", type=float, default=300)
    ap.add_argument("--work", default=tempfile.gettempdir())
    args = ap.parse_args()
    cbsync = os.path.abspath(args.cbsync)
    work = tempfile.mkdtemp(prefix="cbsync-bench-replicate-", dir=args.work)
    try:
        base = os.path.join(work, "base.db")
        gen_cloudbrain.generate(base, size_mib=args.size_mib, seed=1, journal="wal")
        rows = {}
        for name, replicate in (("increments", True), ("changes", False)):
            rows[name] = run(cbsync, work, base, replicate, args.seconds)
        scale = 3600 / args.seconds
        print(f"{args.size_mib:g} MiB database, {args.seconds:g} s of writes "
              f"(a message every 200 ms, an update a second), {os.cpu_count()} cores")
        print(f"{'':12} {'MiB/hour':>10} {'objects/hour':>13} {'CPU s/hour':>11} "
              f"{'CPU % of a core':>16}")
        for name, (size, objects, cpu) in rows.items():
            print(f"{name:12} {size * scale / 2**20:10.1f} {objects * scale:13.0f} "
                  f"{cpu * scale:11.1f} {100 * cpu / args.seconds:16.1f}")
        inc, chg = rows["increments"], rows["changes"]
        if chg[0]:
            print(f"increments / changes: bytes {inc[0] / chg[0]:.3f}, "
                  f"CPU {inc[2] / chg[2] if chg[2] else float('nan'):.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
