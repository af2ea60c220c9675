#!/usr/bin/python3
"""What encryption costs: the same backup pushed to, and restored from, a
plain remote and an encrypted one, in one invocation.

On a database (--db, e.g. one gen_cloudbrain.py made), one local snapshot is
taken; then, alternating, for --repeat runs:

  push     cbsync push --remote plain     (the .db.gz copied as it is)
           cbsync push --remote sealed    (age: X25519 header, ChaCha20-Poly1305)
  restore  cbsync restore --from plain --latest --to NEW
           cbsync restore --from sealed --latest --to NEW   (decrypts on the way)

and, for the local tier itself:

  backup   cbsync backup into a plain local tier
           cbsync backup into one with [local] encrypt = true  (a scratch
           file beside the database, then sealed into the tier)
  restore  cbsync restore --from local --latest from each

Both remotes are local directories (type = local) on the same disk, so the
difference is the encryption's own.  Printed: medians of wall time and CPU
time (user + system), and sealed / plain as ratios, with the core count.
"""

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CBSYNC = os.environ.get("CBSYNC_BIN") or os.path.join(os.path.dirname(HERE), "build", "cbsync")


def timed(cmd):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", required=True, help="the database to back up")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--scratch", default=None, help="where the tiers go (default: a temp dir)")
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="cbsync-bench-enc-", dir=args.scratch)
    try:
        ident = os.path.join(work, "id.txt")
        p = subprocess.run([CBSYNC, "keygen", "--out", ident], capture_output=True, text=True,
                           check=True)
        recipient = p.stderr.strip().splitlines()[-1].split(": ", 1)[1]
        dirs = {n: os.path.join(work, n) for n in ("local", "plain", "sealed")}
        conf = os.path.join(work, "cbsync.conf")
        with open(conf, "w") as f:
            f.write(f"[database]\npath = {os.path.abspath(args.db)}\n"
                    f"[local]\ndir = {dirs['local']}\n"
                    f"[encryption]\nrecipients = {recipient}\nidentity_file = {ident}\n"
                    f'[remote "plain"]\ntype = local\npath = {dirs["plain"]}\n'
                    f"create_dir = true\nencrypt = false\n"
                    f'[remote "sealed"]\ntype = local\npath = {dirs["sealed"]}\n'
                    f"create_dir = true\n")
        os.chmod(conf, 0o600)
        subprocess.run([CBSYNC, "backup", "--no-sync", "--config", conf], check=True,
                       capture_output=True)
        size = sum(os.path.getsize(os.path.join(dirs["local"], f))
                   for f in os.listdir(dirs["local"]) if f.endswith(".db.gz"))
        sealed_conf = os.path.join(work, "sealed-local.conf")
        dirs["sealed-local"] = os.path.join(work, "sealed-local")
        with open(conf) as f:
            text = f.read()
        with open(sealed_conf, "w") as f:
            f.write(text.replace(f"[local]\ndir = {dirs['local']}\n",
                                 f"[local]\ndir = {dirs['sealed-local']}\nencrypt = true\n"))
        os.chmod(sealed_conf, 0o600)
        local_confs = {"plain": conf, "sealed": sealed_conf}
        res = {k: [] for k in ("push plain", "push sealed", "restore plain", "restore sealed",
                               "backup plain", "backup sealed", "local restore plain",
                               "local restore sealed")}
        for _ in range(args.repeat):
            for remote in ("plain", "sealed"):
                shutil.rmtree(dirs[remote], ignore_errors=True)
                res[f"push {remote}"].append(
                    timed([CBSYNC, "push", "--remote", remote, "--config", conf]))
            for remote in ("plain", "sealed"):
                out = os.path.join(work, f"restored-{remote}.db")
                for f in (out, out + "-wal", out + "-shm"):
                    if os.path.exists(f):
                        os.unlink(f)
                res[f"restore {remote}"].append(
                    timed([CBSYNC, "restore", "--from", remote, "--latest", "--to", out,
                           "--config", conf]))
            for kind in ("plain", "sealed"):
                # Each backup into an empty tier, so that each run writes the same.
                d = dirs["local"] if kind == "plain" else dirs["sealed-local"]
                keep = [f for f in os.listdir(d) if ".db.gz" in f] if os.path.isdir(d) else []
                res[f"backup {kind}"].append(
                    timed([CBSYNC, "backup", "--no-sync", "--config", local_confs[kind]]))
                for f in keep:
                    os.unlink(os.path.join(d, f))
            for kind in ("plain", "sealed"):
                out = os.path.join(work, f"local-{kind}.db")
                for f in (out, out + "-wal", out + "-shm"):
                    if os.path.exists(f):
                        os.unlink(f)
                res[f"local restore {kind}"].append(
                    timed([CBSYNC, "restore", "--from", "local", "--latest", "--to", out,
                           "--config", local_confs[kind]]))
                os.unlink(out)
        print(f"# bench_encrypt: {os.path.basename(args.db)} "
              f"({os.path.getsize(args.db) / 2**20:.0f} MiB, backup {size / 2**20:.0f} MiB), "
              f"{os.cpu_count()} cores, median of {args.repeat}")
        print(f"{'':22}{'wall s':>9}{'cpu s':>9}")
        med = {}
        for k, runs in res.items():
            med[k] = (statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs))
            print(f"{k:22}{med[k][0]:9.2f}{med[k][1]:9.2f}")
        for what in ("push", "restore", "backup", "local restore"):
            w = med[f"{what} sealed"][0] / med[f"{what} plain"][0]
            c = med[f"{what} sealed"][1] / med[f"{what} plain"][1]
            print(f"ratio {what}: sealed/plain wall {w:.2f}x, cpu {c:.2f}x")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
