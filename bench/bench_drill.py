#!/usr/bin/python3
"""What a restore drill costs over the restore it proves, and what the audit
trail adds to the operations log, in one invocation.

On a database (--db, e.g. one gen_cloudbrain.py made), one local snapshot is
taken and pushed to a mirror (type = local, same disk); then, alternating,
for --repeat runs, for each tier (local, mirror):

  restore  cbsync restore --from TIER --latest --to NEW   (the baseline)
  drill    cbsync drill --tier TIER   (the same restore into .cbsync-drill,
           then foreign_key_check and [drill] check_sql, then removed)

Printed: medians of wall and CPU time (user + system) and drill / restore as
ratios, with the core count.  Then the operations log: an agent replicates
a database written 20 times a second to the mirror (interval 1s) for
--seconds, as text and as JSON; printed are the increment and upload lines
it gained, their mean size, and what that makes per day against the log's
rotation size.
"""

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CBSYNC = os.environ.get("CBSYNC_BIN") or os.path.join(os.path.dirname(HERE), "build", "cbsync")
ROTATE = 64 << 20


def timed(cmd, env=None):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def audit(work, db, fmt, seconds):
    """Run an agent for seconds while a writer commits; report the lines the
    operations log gained per second (increments and uploads) and their
    size per day, against the rotation size."""
    import sqlite3
    import threading
    d = os.path.join(work, f"audit-{fmt}")
    os.makedirs(d)
    copy = os.path.join(d, "busy.db")
    con = sqlite3.connect(copy)
    con.executescript("PRAGMA journal_mode=wal; CREATE TABLE t(x TEXT);")
    con.close()
    conf = os.path.join(d, "agent.conf")
    with open(conf, "w") as f:
        f.write(f"[database]\npath = {copy}\n[local]\ndir = {d}/local\n"
                "[schedule]\ndaily = off\nweekly = off\nmonthly = off\ncatch_up = false\n"
                "[replicate]\nenabled = true\ninterval = 1s\n[drill]\nschedule = off\n"
                f"[log]\nformat = {fmt}\n"
                f'[remote "mirror"]\ntype = local\npath = {d}/mirror\ncreate_dir = true\n')
    os.chmod(conf, 0o600)
    stop = threading.Event()

    def write():
        c = sqlite3.connect(copy, timeout=30)
        while not stop.is_set():
            c.execute("INSERT INTO t VALUES (?)", ("x" * 200,))
            c.commit()
            time.sleep(0.05)
        c.close()

    agent = subprocess.Popen([CBSYNC, "agent", "--config", conf], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    w = threading.Thread(target=write)
    w.start()
    time.sleep(seconds)
    stop.set()
    w.join()
    agent.terminate()
    agent.wait(timeout=60)
    counts = {"increment": [0, 0], "upload": [0, 0]}
    with open(os.path.join(d, "local", "operations.log")) as f:
        for line in f:
            event = json.loads(line)["event"] if fmt == "json" else line.split()[2]
            if event in counts:
                counts[event][0] += 1
                counts[event][1] += len(line)
    lines = sum(n for n, _ in counts.values())
    total = sum(b for _, b in counts.values())
    per_day = total / seconds * 86400
    print(f"  {fmt:5} {counts['increment'][0]} increment and {counts['upload'][0]} upload lines, "
          f"{total / max(lines, 1):.0f} bytes each: {per_day / 2**20:.1f} MiB/day, a rotation "
          f"every {ROTATE / per_day:.1f} days" if per_day else f"  {fmt:5} no lines")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", required=True, help="the database to back up")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--seconds", type=int, default=30, help="each audit run's length")
    ap.add_argument("--scratch", default=None, help="where the tiers go (default: a temp dir)")
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="cbsync-bench-drill-", dir=args.scratch)
    try:
        local, mirror = os.path.join(work, "local"), os.path.join(work, "mirror")
        conf = os.path.join(work, "cbsync.conf")
        with open(conf, "w") as f:
            f.write(f"[database]\npath = {os.path.abspath(args.db)}\n"
                    f"[local]\ndir = {local}\n"
                    f"[drill]\ndir = {work}\n"
                    f'[remote "mirror"]\ntype = local\npath = {mirror}\ncreate_dir = true\n')
        os.chmod(conf, 0o600)
        subprocess.run([CBSYNC, "backup", "--config", conf], check=True, capture_output=True)
        size = os.path.getsize(args.db)
        runs = {(t, k): [] for t in ("local", "mirror") for k in ("restore", "drill")}
        for i in range(args.repeat):
            for tier in ("local", "mirror"):
                target = os.path.join(work, f"restored-{tier}-{i}.db")
                runs[(tier, "restore")].append(timed(
                    [CBSYNC, "restore", "--config", conf, "--from", tier, "--latest",
                     "--to", target]))
                os.remove(target)
                runs[(tier, "drill")].append(timed(
                    [CBSYNC, "drill", "--config", conf, "--tier", tier]))
        print(f"cbsync drill vs restore: {size / 2**20:.0f} MiB database, "
              f"{os.cpu_count()} cores, medians of {args.repeat}")
        print(f"  {'tier':8} {'step':8} {'wall s':>8} {'cpu s':>8}")
        for tier in ("local", "mirror"):
            med = {}
            for kind in ("restore", "drill"):
                wall = statistics.median(w for w, _ in runs[(tier, kind)])
                cpu = statistics.median(c for _, c in runs[(tier, kind)])
                med[kind] = (wall, cpu)
                print(f"  {tier:8} {kind:8} {wall:8.2f} {cpu:8.2f}")
            print(f"  {tier:8} drill / restore: wall {med['drill'][0] / med['restore'][0]:.2f}x, "
                  f"cpu {med['drill'][1] / med['restore'][1]:.2f}x")

        # The audit trail: an agent replicating a busy database to the
        # mirror, as text and as JSON lines.
        print(f"operations log under replication (interval 1s, one remote, "
              f"{args.seconds} s each):")
        for fmt in ("text", "json"):
            audit(work, args.db, fmt, args.seconds)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
