#!/usr/bin/env python3
"""What the tier operations cost with many backups, for two builds side by
side (say, before and after a change to the tier code).

  python3 bench/bench_tiers.py --base OLD/cbsync --new build/cbsync \
      [--backups 2000] [--reps 5]

The setup is one real backup of a small database, cloned under --backups
names (manual backups a second apart, each with its own metadata naming it),
in a local tier with one remote, a local mirror.  For each build, in
alternation, it times:

  list --json               the local tier, every backup's metadata read
  list --tier all           the local tier and the mirror
  prune --dry-run --tier all
  push (first)              every backup uploaded to an empty mirror (once)
  push (in step)            nothing to upload: two listings

and prints, per operation, the median wall time and CPU seconds of each
build and the new build's ratio to the base.  Both builds see the same
directories; nothing but the mirror is changed by any operation.
"""
import argparse
import json
import os
import resource
import shutil
import sqlite3
import statistics
import subprocess
import tempfile
import time


def run(binary, conf, *args):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    proc = subprocess.run([binary, "--config", conf, *args], stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{binary} {' '.join(args)} failed: {proc.stderr.strip()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def setup(root, binary, n):
    db = os.path.join(root, "cloudbrain.db")
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE t(x)")
    con.executemany("INSERT INTO t VALUES (?)", [("row %d" % i,) for i in range(2000)])
    con.commit()
    con.close()
    local = os.path.join(root, "backups")
    mirror = os.path.join(root, "mirror")
    conf = os.path.join(root, "cbsync.conf")
    with open(conf, "w") as f:
        f.write(f"[database]\npath = {db}\n[local]\ndir = {local}\n"
                f"[remote \"mirror\"]\ntype = local\npath = {mirror}\ncreate_dir = true\n"
                "fsync = false\n")
    run(binary, conf, "backup", "--type", "manual", "--no-sync")
    first = [f for f in os.listdir(local) if f.endswith(".db.gz")][0]
    with open(os.path.join(local, first + ".json")) as f:
        meta = json.load(f)
    base = time.mktime(time.strptime("20260101_000000", "%Y%m%d_%H%M%S"))
    for i in range(n):
        stamp = time.strftime("%Y%m%d_%H%M%S", time.gmtime(base + i))
        name = f"cloudbrain_manual_{stamp}.db.gz"
        if name == first:
            continue
        shutil.copyfile(os.path.join(local, first), os.path.join(local, name))
        m = dict(meta, name=name, created=time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                        time.gmtime(base + i)))
        with open(os.path.join(local, name + ".json"), "w") as f:
            json.dump(m, f)
    return conf, mirror


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True, help="the build to compare against")
    ap.add_argument("--new", required=True)
    ap.add_argument("--backups", type=int, default=2000)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    builds = {"base": os.path.abspath(args.base), "new": os.path.abspath(args.new)}
    root = tempfile.mkdtemp(prefix="cbsync-bench-tiers-")
    try:
        conf, mirror = setup(root, builds["new"], args.backups)
        ops = [("list --json", ["list", "--json"]),
               ("list --tier all", ["list", "--tier", "all"]),
               ("prune --dry-run --tier all", ["prune", "--dry-run", "--tier", "all"])]
        times = {(op, b): [] for op, _ in ops for b in builds}
        times.update({("push (first)", b): [] for b in builds})
        times.update({("push (in step)", b): [] for b in builds})
        for b, binary in builds.items():   # each build fills its own mirror once
            shutil.rmtree(mirror, ignore_errors=True)
            times[("push (first)", b)].append(run(binary, conf, "push"))
        for _ in range(args.reps):
            for b, binary in builds.items():
                for op, argv in ops:
                    times[(op, b)].append(run(binary, conf, *argv))
                times[("push (in step)", b)].append(run(binary, conf, "push"))
        print(f"{args.backups} backups, {os.cpu_count()} cores, median of {args.reps} "
              "(push (first): 1 run)")
        print(f"{'operation':30} {'base wall':>10} {'new wall':>10} {'ratio':>6} "
              f"{'base cpu':>9} {'new cpu':>9} {'ratio':>6}")
        for op in [o for o, _ in ops] + ["push (first)", "push (in step)"]:
            bw = statistics.median(w for w, _ in times[(op, "base")])
            nw = statistics.median(w for w, _ in times[(op, "new")])
            bc = statistics.median(c for _, c in times[(op, "base")])
            nc = statistics.median(c for _, c in times[(op, "new")])
            print(f"{op:30} {bw:9.3f}s {nw:9.3f}s {nw / bw:6.2f} {bc:8.3f}s {nc:8.3f}s "
                  f"{(nc / bc if bc else float('nan')):6.2f}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
