#!/usr/bin/python3
"""Restoring through a chain of increments against restoring a plain snapshot.

Builds a CloudBrain-shaped database (gen_cloudbrain.py), runs the agent with
[replicate] enabled (one chain: rebase_share off) while a writer commits a
~1 KiB message every `--message-ms` and updates a row every second, then
takes a plain snapshot of the final state with `cbsync backup`, and times,
alternately, `cbsync restore --at <the chain's end> --to X` (the chain's
snapshot plus every increment) against `cbsync restore --name <the plain
snapshot> --to Y` (the same state, one file).  Prints both, their ratio,
and the chain's length and bytes, so the cost per increment can be read off.

    bench/bench_pitr.py [--size-mib 64] [--seconds 120] [--interval 1s]
                        [--repeat 3] [--cbsync build-rel/cbsync] [--work DIR]
"""
import argparse
import glob
import json
import os
import random
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import gen_cloudbrain  # noqa: E402
from harness import write_agent_config  # noqa: E402

def writer(db, stop, message_ms):
    con = sqlite3.connect(db, isolation_level=None, timeout=60)
    rnd = random.Random(1)
    last_update = 0.0
    while not stop.is_set():
        con.execute("INSERT INTO ai_messages(conversation_id, sender_id, content, created_at) "
                    "VALUES (?, ?, ?, datetime('now'))",
                    (rnd.randrange(1, 100), rnd.randrange(1, 10),
                     "".join(rnd.choice("abcdefgh ") for _ in range(1000))))
        if time.time() - last_update >= 1:
            con.execute("UPDATE ai_messages SET content = content || '.' WHERE id = ?",
                        (rnd.randrange(1, 1000),))
            last_update = time.time()
        time.sleep(message_ms / 1000)
    con.close()


def timed(cmd, cwd):
    start = time.monotonic()
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if p.returncode:
        raise SystemExit(f"{' '.join(cmd)}: {p.stderr}")
    return time.monotonic() - start


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mib", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=120)
    ap.add_argument("--interval", default="1s")
    ap.add_argument("--message-ms", type=float, default=200)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--cbsync", default=os.path.join(HERE, "..", "build-rel", "cbsync"))
    ap.add_argument("--work")
    a = ap.parse_args()
    cbsync = os.path.abspath(a.cbsync)
    work = a.work or tempfile.mkdtemp(prefix="bench-pitr-")
    db = os.path.join(work, "ai_db", "cloudbrain.db")
    backups = os.path.join(work, "ai_db", "backups")
    os.makedirs(os.path.dirname(db), exist_ok=True)
    gen_cloudbrain.generate(db, size_mib=a.size_mib, seed=1)
    sqlite3.connect(db).execute("PRAGMA journal_mode=wal").fetchone()
    conf = write_agent_config(os.path.join(work, "cbsync.conf"), db, backups,
                              interval=a.interval, rebase_share="off")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CBSYNC_")}
    agent = subprocess.Popen([cbsync, "agent", "--config", conf], cwd=work, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    stop = threading.Event()
    w = threading.Thread(target=writer, args=(db, stop, a.message_ms))
    w.start()
    time.sleep(a.seconds)
    stop.set()
    w.join()
    time.sleep(5)   # the last capture
    agent.send_signal(signal.SIGTERM)
    agent.wait(timeout=120)

    snaps = sorted(glob.glob(os.path.join(backups, "*.db.gz")))
    chain = snaps[0]
    incs = sorted(glob.glob(os.path.join(backups, "increments",
                                         os.path.basename(chain)[:-6], "*.wal.gz")))
    with open(incs[-1] + ".json") as f:
        end = json.load(f)["last_tx"]
    plain = subprocess.run([cbsync, "backup", "--no-sync", "--config", conf], cwd=work,
                           capture_output=True, text=True, check=True)
    plain_name = [os.path.basename(l.split(": ", 1)[1]) for l in plain.stdout.splitlines()
                  if l.startswith("Backup created: ")][0]
    chain_t, plain_t = [], []
    for i in range(a.repeat):
        for kind in ("chain", "plain") if i % 2 == 0 else ("plain", "chain"):
            out = os.path.join(work, f"restored-{kind}-{i}.db")
            if kind == "chain":
                chain_t.append(timed([cbsync, "restore", "--at", end, "--to", out,
                                      "--config", conf], work))
            else:
                plain_t.append(timed([cbsync, "restore", "--name", plain_name, "--to", out,
                                      "--config", conf], work))
            os.unlink(out)
    inc_bytes = sum(os.path.getsize(p) for p in incs)
    result = {
        "database_mib": round(os.path.getsize(db) / 2**20, 1),
        "snapshot_bytes": os.path.getsize(chain),
        "increments": len(incs),
        "increment_bytes": inc_bytes,
        "plain_snapshot_bytes": os.path.getsize(os.path.join(backups, plain_name)),
        "restore_chain_s": round(statistics.median(chain_t), 3),
        "restore_plain_s": round(statistics.median(plain_t), 3),
    }
    result["ratio"] = round(result["restore_chain_s"] / result["restore_plain_s"], 3)
    result["per_increment_ms"] = round(
        (result["restore_chain_s"] - result["restore_plain_s"]) * 1000 / max(1, len(incs)), 2)
    print(json.dumps(result, indent=2))
    if not a.work:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
