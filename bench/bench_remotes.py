#!/usr/bin/python3
"""What replicating to every remote costs: requests, bytes, objects, lag, the bill.

  /usr/bin/python3 bench/bench_remotes.py --cbsync build/cbsync \
      [--size-mib 256] [--seconds 1200] [--modes increments,changes] \
      [--json out.json] [--work DIR] [--keep] [--tick 0.25] [--s3-poll 0.5]

The issue-13 benchmark.  The workload of bench_replicate.py (the same
CloudBrain-shaped database and the same writer process: a ~1 KiB message
every 200 ms and a row update every second), with the agent replicating to
two real servers at once, both started here on loopback and stopped at the
end: OpenStack Swift with s3api (tests/servers/swift.py; its proxy logs
every request) as remote "s3", and OpenSSH's sshd (tests/servers/sshd.py)
as remote "sftp".  Two modes, one after the other, each on a fresh copy of
the database, into a bucket and an SFTP directory of its own:

  increments  [replicate] enabled, interval 1s, everything else at its default
  changes     [replicate] enabled = false: today's full change backups at the
              [watch] defaults

Each mode starts from a manual snapshot made before the clock starts, and the
clock starts only once both remotes hold it (the start-up's requests and
bytes are shown apart, once, not per hour).  The window is the writer's
--seconds plus a short grace for the last commits to reach both remotes.
Figures per remote, per hour and extrapolated per day (x 86,400 / seconds):

  * requests by kind: for s3 from Swift's proxy log (the server's own count,
    one line per request the agent made, told apart from this script's by
    the User-Agent), and for both remotes from the agent's status --json
    (`requests`, and `requests_by_kind` in calls);
  * bytes uploaded (the agent's bytes_uploaded; for s3 also the request
    bodies the proxy logged), against the floor bench_replicate computes
    (each increment's changed pages gzip'd alone);
  * objects stored at the end: the bucket listed with boto3, the sftp
    directory walked on the server's side;
  * replication lag: the age of the oldest commit a remote does not hold,
    sampled every --tick seconds while the writer runs (see "How lag is
    measured" in bench/README.md);
  * the monthly bill at AWS S3 Standard list prices for the s3 remote, and
    Litestream's published figures for the same 1 s interval beside it;
  * the issue's targets, marked met / not met.

--json writes every figure.  Exit status 1 when something went wrong (listed
as PROBLEM lines).
"""
import argparse
import gzip
import json
import math
import os
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "servers"))
import bench_replicate as br  # noqa: E402
import gen_cloudbrain  # noqa: E402
from sshd import SshServer  # noqa: E402
from swift import SwiftS3  # noqa: E402

MODES = ("increments", "changes")
REMOTES = ("s3", "sftp")
DAY = 86400.0
PREFIX = "cloudbrain"        # the s3 remote's key prefix in each mode's bucket
GRACE_MAX = 30.0             # after the writer stops: at most this long for both remotes
SETTLE_MAX = 600.0           # before the clock: at most this long for the base to reach both

# The targets.
TARGET_LAG_P99 = 2.0         # seconds
TARGET_REQUESTS = 1.05       # x the seconds with writes, per day
TARGET_BYTES = 1.5           # x the floor (changed pages gzip'd, per increment)

# AWS S3 Standard list prices (us-east-1), per request and per GB-month.
# PUT, COPY, POST and LIST are one tier, GET (and HEAD, SELECT) another;
# DELETE is free.  A month is taken as 30 days, a GB as 2^30 bytes (AWS's
# GB-month).
PRICE_PUT_TIER = 0.005 / 1000
PRICE_GET_TIER = 0.0004 / 1000
PRICE_GB_MONTH = 0.023
MONTH_DAYS = 30

# Litestream at the same 1 s interval, as published (constants, not
# measured here).  Its replica setting `sync-interval` defaults to 1s and
# each sync that finds new WAL frames uploads them as one object: one PUT per
# second with writes, 86,400 a day under constant writes.  Untuned, each
# sync also lists the replica to find its position: another LIST per sync,
# 86,400 a day -- the cost its users reported (Litestream's issues #234 and
# #1172, which issue 13 cites: LIST calls 99% of a bill).
LITESTREAM_PUT_PER_DAY = 86400
LITESTREAM_LIST_PER_DAY = 86400

# One proxy-log line of Swift's proxy_logging middleware:
#   proxy: client_ip remote_addr datetime method path protocol status referer
#   user_agent auth_token bytes_recvd bytes_sent etag txn_id headers
#   request_time source log_info start_time end_time policy_index
# (fields quoted, "-" when empty).  A request made by a client has a
# client_ip; the subrequests s3api makes inside Swift have "-" there.
PROXY_FIELDS = 21


# ---------------------------------------------------------------------------
# The servers
# ---------------------------------------------------------------------------

class LoggedSwift(SwiftS3):
    """SwiftS3 with the proxy alone logging at INFO, which makes it write one
    access-log line per request into <dir>/proxy.log (the account, container
    and object servers stay at WARNING: their per-request lines would only
    cost Swift CPU time)."""

    def _write_configs(self):
        super()._write_configs()
        path = self._path("proxy-server.conf")
        with open(path) as f:
            text = f.read()
        old = "log_level = %s\n" % self.log_level
        if old not in text:
            raise RuntimeError("cannot set the Swift proxy's log level: no %r in %s"
                               % (old.strip(), path))
        with open(path, "w") as f:
            f.write(text.replace(old, "log_level = INFO\n", 1))

    @property
    def proxy_log(self):
        return self._path("proxy.log")


def parse_proxy_log(path, bucket, user_agent_prefix="cbsync/"):
    """The S3 requests an agent made on bucket, from Swift's proxy log: a
    list of dicts {t0, t1, method, key, query, kind, status, bytes_in}.
    kind is put, get, head, list, post or delete (the S3 operation as AWS
    bills it); key is "" for a request on the bucket itself."""
    out = []
    try:
        f = open(path, errors="replace")
    except OSError:
        return out
    with f:
        for line in f:
            v = line.split()
            if len(v) < PROXY_FIELDS + 1 or v[0] != "proxy:" or v[1] == "-":
                continue
            if not urllib.parse.unquote(v[9]).startswith(user_agent_prefix):
                continue
            target = urllib.parse.unquote(v[5])
            path_part, _, query = target.partition("?")
            parts = path_part.lstrip("/").split("/", 1)
            if parts[0] != bucket:
                continue
            key = parts[1] if len(parts) > 1 else ""
            method = v[4]
            if method == "GET":
                kind = "list" if not key else "get"
            elif method == "HEAD":
                kind = "head"
            elif method == "PUT":
                kind = "put"
            elif method == "POST":
                kind = "post"
            elif method == "DELETE":
                kind = "delete"
            else:
                kind = method.lower()
            try:
                t0, t1 = float(v[19]), float(v[20])
                status = int(v[7])
            except ValueError:
                continue
            bytes_in = int(v[11]) if v[11].isdigit() else 0
            out.append({"t0": t0, "t1": t1, "method": method, "key": key, "query": query,
                        "kind": kind, "status": status, "bytes_in": bytes_in})
    return out


def proxy_counts(requests, t_from, t_to):
    """Counts by kind, errors and request bytes of the requests that started
    in [t_from, t_to)."""
    c = {"put": 0, "get": 0, "head": 0, "list": 0, "post": 0, "delete": 0, "other": 0}
    errors = bytes_in = 0
    for r in requests:
        if not (t_from <= r["t0"] < t_to):
            continue
        c[r["kind"] if r["kind"] in c else "other"] += 1
        if r["status"] >= 400:
            errors += 1
        if r["kind"] in ("put", "post"):
            bytes_in += r["bytes_in"]
    c["total"] = sum(c.values())
    c["errors"] = errors
    c["bytes_in"] = bytes_in
    return c


def proxy_arrivals(requests, prefix):
    """When each object became visible, from the proxy log: the end of the
    first successful PUT of it (not a part of a multipart upload), or of the
    POST completing its multipart upload.  {relative key: wall time}."""
    out = {}
    for r in requests:
        if not (200 <= r["status"] < 300) or not r["key"].startswith(prefix):
            continue
        q = urllib.parse.parse_qs(r["query"], keep_blank_values=True)
        if (r["method"] == "PUT" and "partNumber" not in q) or \
                (r["method"] == "POST" and "uploadId" in q):
            rel = r["key"][len(prefix):]
            out[rel] = min(out.get(rel, r["t1"]), r["t1"])
    return out


# ---------------------------------------------------------------------------
# What a remote holds, polled
# ---------------------------------------------------------------------------

def is_state(rel):
    """A snapshot or a fine increment: an object that brings a state (roll-
    ups, metadata and temp files do not)."""
    name = rel.rsplit("/", 1)[-1]
    if name.startswith("."):
        return False
    if "/" not in rel:
        return rel.endswith(".db.gz")
    return rel.startswith("increments/") and rel.endswith(".wal.gz") and "/rollups/" not in rel


class S3Poller:
    """Notes the first time each snapshot and increment is seen in the
    bucket's listing (rel keys as br.Poller names them).  Cheap enough to run
    twice a second all run long: the top level is listed with a delimiter
    (the snapshots, a few), and the chain folders of the two newest
    snapshots from the last increment seen on (StartAfter; the roll-ups'
    folder folds into one CommonPrefix), so a poll costs two or three small
    LIST requests, not a walk of the whole bucket.
    An increment's metadata (NAME.wal.gz.json) sorts after its object
    (NAME.wal.gz) and goes up first, so StartAfter is the last *object*
    seen, never a metadata key."""

    def __init__(self, client, bucket, prefix):
        self.c, self.bucket, self.prefix = client, bucket, prefix
        self.after = {}          # chain folder -> the last increment key seen in it
        self.seen = {}           # rel -> (wall time, size)
        self.requests = 0
        self.errors = []
        self.before = {rel for rel, _ in self._list()}

    def _pages(self, **kw):
        token = None
        while True:
            args = dict(Bucket=self.bucket, Delimiter="/", **kw)
            if token:
                args["ContinuationToken"] = token
            self.requests += 1
            page = self.c.list_objects_v2(**args)
            for o in page.get("Contents", []):
                yield o
            if not page.get("IsTruncated"):
                return
            token = page["NextContinuationToken"]

    def _list(self):
        found = []
        snapshots = []
        for o in self._pages(Prefix=self.prefix):
            rel = o["Key"][len(self.prefix):]
            if is_state(rel):
                found.append((rel, o["Size"]))
                snapshots.append((o["LastModified"], rel[:-len(".db.gz")]))
        # The chains of the two newest snapshots: an older chain gets no new
        # increments once a newer one has begun.
        for _, stem in sorted(snapshots)[-2:]:
            folder = "%sincrements/%s/" % (self.prefix, stem)
            kw = {"Prefix": folder}
            if stem in self.after:
                kw["StartAfter"] = self.after[stem]
            for o in self._pages(**kw):
                rel = o["Key"][len(self.prefix):]
                if is_state(rel):
                    found.append((rel, o["Size"]))
                    self.after[stem] = max(self.after.get(stem, ""), o["Key"])
        return found

    def poll(self, now=None):
        try:
            found = self._list()
        except Exception as e:       # botocore's errors and connection failures alike
            self.errors.append("%s: %s" % (time.strftime("%H:%M:%S"), e))
            return
        now = time.time()            # when the answer came: never early
        for rel, size in found:
            if rel not in self.before and rel not in self.seen:
                self.seen[rel] = (now, size)


class DirPoller(br.Poller):
    """br.Poller (the local tier), or the sftp remote's directory walked on
    the server's own side: the remote lays objects out as the local tier
    does, and the backend's temp files (".cbsync-tmp-...") start with a dot,
    so they are skipped.  Besides when a poll first saw each object, it
    keeps the object's inode change time: both the local tier and the sftp
    backend write a temp file and rename it into place, and nothing touches
    it after, so that is the moment the object appeared."""

    def __init__(self, backups):
        self.ctime = {}
        super().__init__(backups)

    def poll(self, now=None):
        now = time.time() if now is None else now
        super().poll(now)
        for rel in self.seen:
            if rel not in self.ctime:
                try:
                    self.ctime[rel] = os.stat(os.path.join(self.backups, rel)).st_ctime
                except OSError:
                    self.ctime[rel] = now


def stored_objects_s3(client, bucket, prefix):
    """Every object under prefix at the end: counts and bytes by kind."""
    out = {"objects": 0, "bytes": 0}
    token = None
    while True:
        args = {"Bucket": bucket, "Prefix": prefix}
        if token:
            args["ContinuationToken"] = token
        page = client.list_objects_v2(**args)
        for o in page.get("Contents", []):
            count_object(out, o["Key"][len(prefix):], o["Size"])
        if not page.get("IsTruncated"):
            return out
        token = page["NextContinuationToken"]


def stored_objects_dir(root):
    """Every file under the sftp remote's directory at the end."""
    out = {"objects": 0, "bytes": 0}
    for dirpath, _, names in os.walk(root):
        for n in names:
            p = os.path.join(dirpath, n)
            try:
                size = os.path.getsize(p)
            except OSError:
                continue
            count_object(out, os.path.relpath(p, root), size)
    return out


def count_object(out, rel, size):
    name = rel.rsplit("/", 1)[-1]
    if name.startswith("."):
        kind = "temp or hidden"
    elif rel.endswith(".json"):
        kind = "metadata"
    elif "/rollups/" in rel:
        kind = "rollups"
    elif rel.startswith("increments/") and rel.endswith(".wal.gz"):
        kind = "increments"
    elif "/" not in rel and rel.endswith(".db.gz"):
        kind = "snapshots"
    else:
        kind = "other"
    out[kind] = out.get(kind, 0) + 1
    out[kind + "_bytes"] = out.get(kind + "_bytes", 0) + size
    out["objects"] += 1
    out["bytes"] += size


# ---------------------------------------------------------------------------
# The agent
# ---------------------------------------------------------------------------

def remote_env(mode, s3, ssh):
    return {"CBSYNC_REMOTE_S3_TYPE": "s3",
            "CBSYNC_REMOTE_S3_ENDPOINT": s3.endpoint,
            "CBSYNC_REMOTE_S3_BUCKET": bucket_of(mode),
            "CBSYNC_REMOTE_S3_PREFIX": PREFIX,
            "CBSYNC_REMOTE_S3_PATH_STYLE": "true",
            "AWS_ACCESS_KEY_ID": s3.access_key,
            "AWS_SECRET_ACCESS_KEY": s3.secret_key,
            "AWS_REGION": s3.region,
            "CBSYNC_REMOTE_SFTP_TYPE": "sftp",
            "CBSYNC_REMOTE_SFTP_URL": ssh.url(mode),
            "CBSYNC_REMOTE_SFTP_CREATE_DIR": "true",
            "CBSYNC_REMOTE_SFTP_PRIVATE_KEY": ssh.client_key,
            "CBSYNC_REMOTE_SFTP_KNOWN_HOSTS": ssh.known_hosts}


def bucket_of(mode):
    return "cbsync-bench-" + mode


def status_of(cbsync, conf, env):
    """The agent's status --json state, or None."""
    p = subprocess.run([cbsync, "--config", conf, "status", "--json"], capture_output=True,
                       text=True, env=env)
    try:
        return json.loads(p.stdout)["state"]
    except (ValueError, KeyError, TypeError):
        return None


def remotes_of(state):
    """{name: remote} from a status state."""
    if not state:
        return {}
    return {r.get("name"): r for r in state.get("remotes") or []}


COUNTERS = ("requests", "bytes_uploaded", "increments_uploaded", "uploaded", "sync_errors")
KINDS = ("put", "get", "list", "delete")


def counters_of(remote):
    """The cumulative counters of one remote's status."""
    out = {k: remote.get(k) or 0 for k in COUNTERS}
    by = remote.get("requests_by_kind") or {}
    for k in KINDS:
        out["calls_" + k] = by.get(k) or 0
    return out


def delta(a, b):
    return {k: b[k] - a.get(k, 0) for k in b}


DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|sec|min|m|h|d|w|months?)?\s*$")
DURATION_UNITS = {None: 1, "s": 1, "sec": 1, "ms": 0.001, "min": 60, "m": 60, "h": 3600,
                  "d": 86400, "w": 7 * 86400, "month": 30 * 86400, "months": 30 * 86400}


def effective_settings(cbsync, conf, env):
    """[sync] reconcile_interval and the s3 remote's keep_increments and
    keep_change (its own, else [local]'s) as the agent sees them (config
    check), in seconds; the defaults when unreadable."""
    p = subprocess.run([cbsync, "--config", conf, "config", "check"], capture_output=True,
                       text=True, env=env)
    out = {"reconcile_interval_s": 3600.0, "keep_increments_s": 86400.0,
           "keep_change_s": 86400.0}
    remote = {}
    section = None
    for line in p.stdout.splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, eq, value = line.partition("=")
        if not eq:
            continue
        m = DURATION_RE.match(value)
        if not m:
            continue
        seconds = float(m.group(1)) * DURATION_UNITS[m.group(2)]
        key = key.strip()
        if (section, key) == ("sync", "reconcile_interval"):
            out["reconcile_interval_s"] = seconds
        elif section == "local" and key in ("keep_increments", "keep_change"):
            out[key + "_s"] = seconds
        elif section == 'remote "s3"' and key in ("keep_increments", "keep_change"):
            remote[key + "_s"] = seconds
    out.update(remote)
    return out


def wait_in_step(cbsync, conf, env, pollers, agent, limit):
    """Until each remote holds the base: its status succeeded, is not
    failing or pending and lags nothing, and the remote itself shows a
    snapshot.  Returns the last status (None if the time ran out)."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if agent.poll() is not None:
            return None
        st = status_of(cbsync, conf, env)
        rs = remotes_of(st)
        ok = len(rs) == len(REMOTES) and all(
            r.get("last_success") and not r.get("failing") and not r.get("pending")
            and not r.get("lag_seconds") for r in rs.values())
        if ok:
            for p in pollers.values():
                p.poll()
            if all(any("/" not in rel for rel in p.before | set(p.seen))
                   for p in pollers.values()):
                return st
        time.sleep(0.5)
    return None


# ---------------------------------------------------------------------------
# One mode
# ---------------------------------------------------------------------------

class Sampler(threading.Thread):
    """Calls fn every period seconds until stopped."""

    def __init__(self, period, fn):
        super().__init__(daemon=True)
        self.period, self.fn = period, fn
        self.halt = threading.Event()

    def run(self):
        due = time.monotonic()
        while not self.halt.is_set():
            self.fn()
            due += self.period
            pause = due - time.monotonic()
            if pause > 0:
                self.halt.wait(pause)
            else:
                due = time.monotonic()

    def stop(self):
        self.halt.set()
        self.join()


def run_mode(mode, args, cbsync, work, base_db, s3, ssh, problems):
    root = tempfile.mkdtemp(prefix=f"{mode}-", dir=work)
    db = os.path.join(root, br.DB_NAME)
    backups = os.path.join(root, "backups")
    shutil.copyfile(base_db, db)
    conf = os.path.join(root, "cbsync.conf")
    env = dict(br.clean_env(), **remote_env(mode, s3, ssh))
    bucket = bucket_of(mode)
    s3.create_bucket(bucket)
    sftp_dir = os.path.join(ssh.root, mode)
    agent = writer = None
    samplers = []
    agent_log = os.path.join(root, "agent.log")
    res = {"mode": mode, "bucket": bucket, "sftp_dir": sftp_dir}
    client = s3.client()
    try:
        with open(conf, "w") as f:
            f.write(br.CONFIG.format(db=db, dir=backups,
                                     replicate="false" if mode == "changes" else "true"))
            if mode == "changes" and args.changes_max_delay:
                d = args.changes_max_delay
                f.write(f"[watch]\nmax_delay = {d:g}s\nmin_interval = {min(60, d):g}s\n"
                        f"quiet = {min(5, d):g}s\n")
        os.chmod(conf, 0o600)
        res["settings"] = effective_settings(cbsync, conf, env)
        t_begin = time.time()
        # The base: one snapshot before the clock starts (with remotes set,
        # the agent uploads it when it starts, if the backup did not).
        p = subprocess.run([cbsync, "--config", conf, "backup", "--type", "manual"],
                           capture_output=True, text=True, env=env)
        if p.returncode != 0:
            raise SystemExit(f"{mode}: the base snapshot failed (exit {p.returncode}): "
                             f"{p.stderr.strip()}")
        local = DirPoller(backups)
        s3p = S3Poller(client, bucket, PREFIX + "/")
        sftpp = DirPoller(sftp_dir)
        with open(agent_log, "wb") as logf:
            agent = subprocess.Popen([cbsync, "--config", conf, "agent"], env=env,
                                     stdout=logf, stderr=subprocess.STDOUT)
        st0 = wait_in_step(cbsync, conf, env, {"s3": s3p, "sftp": sftpp}, agent, SETTLE_MAX)
        if st0 is None:
            problems.append(f"{mode}: the remotes did not hold the base within "
                            f"{SETTLE_MAX:g} s: {tail_status(cbsync, conf, env)} "
                            f"{br.tail(agent_log)}")
            return res
        br.wait_settled(agent.pid)
        st0 = status_of(cbsync, conf, env)
        # What each place holds now (the base) is held before the clock starts.
        for poller in (s3p, sftpp, local):
            poller.before |= set(poller.seen)
            poller.seen = {}
        start_counters = {n: counters_of(r) for n, r in remotes_of(st0).items()}
        res["stored_at_clock"] = {"s3": stored_objects_s3(client, bucket, PREFIX + "/"),
                                  "sftp": stored_objects_dir(sftp_dir)}

        # The clock starts.
        status_samples = []

        def sample_status():
            t = time.time()
            rs = remotes_of(status_of(cbsync, conf, env))
            status_samples.append((t, {n: r.get("lag_seconds") for n, r in rs.items()}))

        samplers = [Sampler(args.s3_poll, s3p.poll), Sampler(args.status_poll, sample_status)]
        busy0 = br.machine_busy()
        cpu0 = br.cpu_seconds(agent.pid)
        t_clock = time.time()
        log_path = os.path.join(root, "writer.json")
        writer = subprocess.Popen([sys.executable, br.__file__, "--writer-child", db, log_path,
                                   repr(args.seconds), "--seed", str(args.seed)])
        for s in samplers:
            s.start()
        ticks = []
        due = time.monotonic()
        writer_done = None
        while True:
            due += args.tick
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            else:
                due = time.monotonic()
            now = time.time()
            local.poll(now)
            sftpp.poll(now)
            if writer_done is None:
                ticks.append(now)
                if writer.poll() is not None:
                    writer_done = time.monotonic()
            elif (time.monotonic() - writer_done >= 2 and in_step(local, s3p, sftpp)) or \
                    time.monotonic() - writer_done >= GRACE_MAX:
                break
            if agent.poll() is not None:
                problems.append(f"{mode}: the agent exited early ({agent.returncode}): "
                                f"{br.tail(agent_log)}")
                return res
        for s in samplers:
            s.stop()
        samplers = []
        st1 = status_of(cbsync, conf, env)
        t_end = time.time()
        cpu = br.cpu_seconds(agent.pid) - cpu0
        busy1 = br.machine_busy()
        agent.send_signal(signal.SIGTERM)
        agent.wait(timeout=300)
        if writer.returncode != 0 or not os.path.exists(log_path):
            problems.append(f"{mode}: the writer failed ({writer.returncode})")
            return res
        with open(log_path) as f:
            wlog = json.load(f)
        if wlog["errors"]:
            problems.append(f"{mode}: {len(wlog['errors'])} writer commits failed, "
                            f"first: {wlog['errors'][0]}")
        if s3p.errors:
            problems.append(f"{mode}: {len(s3p.errors)} listings of the bucket by this "
                            f"script failed, first: {s3p.errors[0]}")
        res.update({"t_begin": t_begin, "t_clock": t_clock, "t_end": t_end,
                    "window_s": t_end - t_clock, "agent_cpu_s": cpu,
                    "grace_s": t_end - t_clock - (wlog["end"] - wlog["start"]),
                    "s3_poll_requests": s3p.requests})
        if busy0 is not None and busy1 is not None:
            res["machine_busy_cpu_s"] = busy1 - busy0

        # Requests and bytes: the server's count and the agent's.
        preqs = parse_proxy_log(s3.proxy_log, bucket)
        res["s3_proxy"] = proxy_counts(preqs, t_clock, t_end)
        res["s3_proxy_startup"] = proxy_counts(preqs, 0, t_clock)
        end_counters = {n: counters_of(r) for n, r in remotes_of(st1).items()}
        res["agent"] = {n: delta(start_counters.get(n, {}), c) for n, c in end_counters.items()}
        res["agent_startup"] = start_counters
        for n in REMOTES:
            if n not in end_counters:
                problems.append(f"{mode}: status --json has no remote '{n}'")
            elif end_counters[n]["sync_errors"] > start_counters.get(n, {}).get("sync_errors", 0):
                problems.append(f"{mode}: remote {n} had "
                                f"{res['agent'][n]['sync_errors']} failed syncs in the window")
        # Objects stored at the end.
        res["stored"] = {"s3": stored_objects_s3(client, bucket, PREFIX + "/"),
                         "sftp": stored_objects_dir(sftp_dir)}
        # Lag, and the floor.
        # When each state reached each place: as the server recorded it (the
        # proxy log's PUT completion; the rename into place, for a file), and
        # as a client polling it first saw it (an upper bound).
        arrivals = {"s3": {rel: t for rel, t in proxy_arrivals(preqs, PREFIX + "/").items()
                           if t >= t_clock and is_state(rel)},
                    "s3_polled": {rel: t for rel, (t, _) in s3p.seen.items()},
                    "sftp": dir_arrivals(sftpp),
                    "sftp_polled": {rel: t for rel, (t, _) in sftpp.seen.items()},
                    "local": dir_arrivals(local),
                    "local_polled": {rel: t for rel, (t, _) in local.seen.items()}}
        late = [rel for rel, t in arrivals["s3_polled"].items()
                if is_state(rel) and (rel not in arrivals["s3"] or arrivals["s3"][rel] > t)]
        if late:
            problems.append(f"{mode}: {len(late)} objects were listed in the bucket before "
                            f"(or without) a PUT of them in the proxy log, first: {late[0]}")
        res.update(measure(args, wlog, ticks, arrivals, backups, sftp_dir, client, bucket,
                           local, status_samples, root))
        if mode == "increments":
            with sqlite3.connect(db) as con:
                con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            con.close()
            res["distinct_pages"], res["distinct_floor_bytes"] = br.distinct_floor(base_db, db)
        return res
    finally:
        for s in samplers:
            s.stop()
        if writer and writer.poll() is None:
            writer.kill()
            writer.wait()
        if agent and agent.poll() is None:
            agent.send_signal(signal.SIGTERM)
            try:
                agent.wait(timeout=60)
            except subprocess.TimeoutExpired:
                agent.kill()
                agent.wait()
        client.close()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print(f"kept {root}", file=sys.stderr)


def dir_arrivals(poller):
    """When each object a DirPoller saw was renamed into place: its ctime,
    never later than the poll that saw it."""
    return {rel: min(t, poller.ctime.get(rel, t)) for rel, (t, _) in poller.seen.items()}


def tail_status(cbsync, conf, env):
    rs = remotes_of(status_of(cbsync, conf, env))
    return "; ".join(f"{n}: failing={r.get('failing')} pending={r.get('pending')} "
                     f"lag={r.get('lag_seconds')} error={r.get('last_error')}"
                     for n, r in rs.items()) or "(no status)"


def in_step(local, *remotes):
    """Both remotes hold the newest state the local tier has."""
    states = [rel for rel in local.seen if is_state(rel)]
    if not states:
        return True
    newest = max(states, key=lambda rel: local.seen[rel][0])
    return all(newest in r.seen or newest in r.before for r in remotes)




# ---------------------------------------------------------------------------
# Figures from the records
# ---------------------------------------------------------------------------

def state_counter(rel, backups, sftp_dir, client, bucket, tmp_dir):
    """The newest commit a state's own pages hold (its largest marker),
    read from the local tier, else the sftp remote's copy, else the bucket
    (fetched into tmp_dir); None when none has it.  Snapshots are read in
    chunks (br.snapshot_counter), never whole."""
    paths = [os.path.join(base, rel) for base in (backups, sftp_dir)]
    fetched = None
    try:
        for path in paths + [None]:
            if path is None:
                fetched = os.path.join(tmp_dir, "fetched.gz")
                try:
                    client.download_file(bucket, PREFIX + "/" + rel, fetched)
                except Exception:
                    return None
                path = fetched
            try:
                if rel.endswith(".db.gz"):
                    return br.snapshot_counter(path)
                with gzip.open(path, "rb") as f:
                    _, pages = br.wal_pages(f.read())
                return br.max_marker(b"".join(pages.values()))
            except (OSError, EOFError, zlib.error):
                continue
        return None
    finally:
        if fetched and os.path.exists(fetched):
            os.unlink(fetched)


def measure(args, wlog, ticks, arrivals, backups, sftp_dir, client, bucket, local,
            status_samples, tmp_dir):
    """Lag per observer, the floor, and the writer's figures."""
    commits = sorted(wlog["commits"])
    ctimes = [c[2] for c in commits]
    out = {"commits": len(commits), "writer_late_ticks": wlog["late_ticks"],
           "seconds_with_writes": len({int(t) for t in ctimes}),
           "writer_seconds": wlog["end"] - wlog["start"]}

    # The newest commit each state holds, read from its own pages (markers):
    # a snapshot's, or an increment's together with everything before it in
    # its chain (a remote always holds a chain's whole beginning).
    rels = set()
    for a in arrivals.values():
        rels.update(rel for rel in a if is_state(rel))
    own = {}
    floor = 0
    unreadable = []
    for rel in sorted(rels):
        c = state_counter(rel, backups, sftp_dir, client, bucket, tmp_dir)
        if c is None:
            unreadable.append(rel)
        else:
            own[rel] = c
    for rel in local.seen:
        if is_state(rel) and rel.startswith("increments/"):
            try:
                with gzip.open(os.path.join(backups, rel), "rb") as f:
                    _, pages = br.wal_pages(f.read())
            except (OSError, EOFError, zlib.error):
                continue
            floor += br.gzip_size(pages.values())
    held = {}
    chains = {}
    for rel, c in own.items():
        if rel.startswith("increments/"):
            chains.setdefault(rel.split("/")[1], []).append(rel)
        else:
            held[rel] = c
    for stem, members in chains.items():
        run = held.get(stem + ".db.gz", 0)
        for rel in sorted(members):          # by sequence number (zero-padded)
            run = max(run, own[rel])
            held[rel] = run
    out["floor_bytes"] = floor
    out["unreadable_states"] = unreadable
    out["newest_commit"] = len(commits)

    # Lag at each tick while the writer ran: now less the commit time of the
    # first commit the observer's states do not hold.
    def lag(seen):
        order = sorted((t, held[rel]) for rel, t in seen.items() if rel in held)
        samples, i, h = [], 0, 0
        for t in ticks:
            if not commits or t < ctimes[0] or t > wlog["end"]:
                continue
            while i < len(order) and order[i][0] <= t:
                h = max(h, order[i][1])
                i += 1
            samples.append(t - ctimes[h] if h < len(ctimes) and ctimes[h] <= t else 0.0)
        samples.sort()
        return {"samples": len(samples),
                "median_s": statistics.median(samples) if samples else None,
                "p99_s": br.percentile(samples, 99),
                "max_s": samples[-1] if samples else None,
                "newest_held": max((held[r] for r in seen if r in held), default=0)}

    out["lag"] = {name: lag(seen) for name, seen in arrivals.items()}
    # The agent's own figure (whole seconds), sampled from its status.
    for name in REMOTES:
        vals = sorted(v[name] for _, v in status_samples
                      if isinstance(v.get(name), (int, float)))
        out["lag"][name]["status_samples"] = len(vals)
        out["lag"][name]["status_p99_s"] = br.percentile(vals, 99)
        out["lag"][name]["status_max_s"] = vals[-1] if vals else None
    return out


def judge(args, rows, floor_per_hour):
    """Per mode and remote: the per-day and per-hour figures, the bill and
    the targets, into rows[mode]["remotes"][remote]."""
    for mode, r in rows.items():
        if "agent" not in r:
            continue
        hour = 3600 / args.seconds
        day = DAY / args.seconds
        settings = r["settings"]
        r["remotes"] = {}
        for name in REMOTES:
            a = r["agent"].get(name, {})
            f = {"agent_per_hour": {k: v * hour for k, v in a.items()}}
            # The share of the writer's seconds that saw a commit, a day of it.
            writes_day = DAY * min(1.0, r["seconds_with_writes"] / max(1.0, round(
                r["writer_seconds"])))
            if name == "s3":
                pc = r["s3_proxy"]
                f["proxy_per_hour"] = {k: v * hour for k, v in pc.items()}
                measured_day = pc["total"] * day
                by_day = {k: pc[k] * day for k in ("put", "get", "head", "list", "post",
                                                  "delete")}
            else:
                measured_day = a.get("requests", 0) * day
                by_day = {k: a.get("calls_" + k, 0) * day for k in KINDS}
            # The listings the agent makes every reconcile_interval: a run
            # shorter than that sees none, so they are added, each as many
            # requests as pages of 1,000 keys in a listing of what the remote
            # would hold once retention is reached (estimated as storage).
            keep = settings["keep_change_s" if mode == "changes" else "keep_increments_s"]
            f["objects_retained_est"] = retained(args, r["stored"][name]["objects"],
                                                 r["stored_at_clock"][name]["objects"], keep)
            reconciles = 0.0
            if args.seconds < settings["reconcile_interval_s"]:
                reconciles = DAY / settings["reconcile_interval_s"] * max(1, math.ceil(
                    f["objects_retained_est"] / 1000))
            f["requests_per_day_measured"] = measured_day
            f["reconcile_lists_per_day_added"] = reconciles
            f["requests_per_day"] = measured_day + reconciles
            f["by_kind_per_day"] = by_day
            f["seconds_with_writes_per_day"] = writes_day
            lag = r["lag"][name]
            bytes_up = a.get("bytes_uploaded", 0)
            f["bytes_per_hour"] = bytes_up * hour
            f["bytes_per_day"] = bytes_up * day
            t = {}
            if lag.get("p99_s") is not None:
                t["lag_p99_s"] = {"value": lag["p99_s"], "limit": TARGET_LAG_P99,
                                  "met": lag["p99_s"] <= TARGET_LAG_P99}
            if writes_day:
                v = f["requests_per_day"] / writes_day
                t["requests_x_write_seconds"] = {"value": v, "limit": TARGET_REQUESTS,
                                                 "met": v <= TARGET_REQUESTS}
            if floor_per_hour:
                v = f["bytes_per_hour"] / floor_per_hour
                t["bytes_x_floor"] = {"value": v, "limit": TARGET_BYTES,
                                      "met": v <= TARGET_BYTES}
            f["targets"] = t
            f["bytes_retained_est"] = retained(args, r["stored"][name]["bytes"],
                                               r["stored_at_clock"][name]["bytes"], keep)
            if name == "s3":
                f["bill"] = bill(by_day, reconciles, r["stored"]["s3"]["bytes"],
                                 f["bytes_retained_est"])
            r["remotes"][name] = f


def retained(args, at_end, at_clock, keep_s):
    """What a remote would hold (objects or bytes) once its retention
    (keep_increments, or keep_change for change backups) is reached, at this
    run's growth: what it held at the end, plus its growth per second over
    the run for the rest of the retention.  An estimate: chains are re-based
    and pruned along the way."""
    rest = max(0.0, keep_s - args.seconds)
    return at_end + (at_end - at_clock) / args.seconds * rest


def bill(by_day, reconcile_lists_day, stored_bytes, steady_bytes):
    """A month at AWS S3 Standard list prices, in dollars."""
    put_tier = (by_day.get("put", 0) + by_day.get("post", 0) + by_day.get("list", 0)
                + reconcile_lists_day) * MONTH_DAYS
    get_tier = (by_day.get("get", 0) + by_day.get("head", 0)) * MONTH_DAYS
    out = {"put_tier_requests": put_tier, "get_tier_requests": get_tier,
           "put_tier_usd": put_tier * PRICE_PUT_TIER,
           "get_tier_usd": get_tier * PRICE_GET_TIER,
           "storage_end_gb": stored_bytes / 2**30,
           "storage_end_usd": stored_bytes / 2**30 * PRICE_GB_MONTH,
           "storage_retained_gb": steady_bytes / 2**30,
           "storage_retained_usd": steady_bytes / 2**30 * PRICE_GB_MONTH}
    out["requests_usd"] = out["put_tier_usd"] + out["get_tier_usd"]
    out["total_usd"] = out["requests_usd"] + out["storage_retained_usd"]
    return out


def litestream():
    put_tier = (LITESTREAM_PUT_PER_DAY + LITESTREAM_LIST_PER_DAY) * MONTH_DAYS
    return {"put_per_day": LITESTREAM_PUT_PER_DAY, "list_per_day": LITESTREAM_LIST_PER_DAY,
            "requests_per_day": LITESTREAM_PUT_PER_DAY + LITESTREAM_LIST_PER_DAY,
            "requests_usd_per_month": put_tier * PRICE_PUT_TIER}


# ---------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------

def report(args, rows, base_info, floor_per_hour, problems):
    modes = [m for m in args.modes if m in rows and "remotes" in rows[m]]
    cols = [(m, n) for m in modes for n in REMOTES]
    hour = 3600 / args.seconds
    day = DAY / args.seconds
    mib = 2 ** 20
    ls = litestream()
    lines = []
    ps = base_info["page_size"]
    lines.append(f"{base_info['size'] / mib:.0f} MiB database ({base_info['size'] // ps} pages "
                 f"of {ps} B, WAL), {args.seconds:g} s per mode, {os.cpu_count()} cores; "
                 f"writer: a ~1 KiB message every {br.MESSAGE_EVERY * 1000:.0f} ms and a row "
                 f"update every {br.MESSAGE_EVERY * br.UPDATE_EVERY:g} s; remotes: Swift s3api "
                 f"and sshd on loopback, both at once")
    lines.append(f"per hour = the window's figure x 3600 / {args.seconds:g}; per day x 86,400 / "
                 f"{args.seconds:g}; targets from issue 13")
    lines.append("")
    w = 17

    def row(label, values, note=""):
        lines.append(f"{label:36}" + "".join(f"{v:>{w}}" for v in values) + f"  {note}")

    def fmt(v, spec):
        return "-" if v is None else format(v, spec)

    def get(m, n, *keys):
        v = rows[m]["remotes"][n]
        for k in keys:
            v = v.get(k) if isinstance(v, dict) else None
        return v

    def judged(m, n, name, spec):
        t = get(m, n, "targets", name)
        return "-" if t is None else \
            f"{format(t['value'], spec)} {'met' if t['met'] else 'NOT met'}"

    row("", [f"{m} {n}" for m, n in cols] + ["Litestream"], "target")
    row("", ["-" * (w - 2)] * (len(cols) + 1))
    lines.append("S3 requests per hour, Swift's proxy log (the server's count):")
    for k in ("put", "post", "get", "head", "list", "delete"):
        row(f"  {k.upper()}", [fmt(rows[m]["s3_proxy"][k] * hour, ",.0f") if n == "s3" else ""
                               for m, n in cols]
            + [fmt(ls[f"{k}_per_day"] / 24, ",.0f") if f"{k}_per_day" in ls else ""])
    row("  all", [fmt(rows[m]["s3_proxy"]["total"] * hour, ",.0f") if n == "s3" else ""
                  for m, n in cols] + [fmt(ls["requests_per_day"] / 24, ",.0f")],
        "(errors: " + ", ".join(f"{m} {rows[m]['s3_proxy']['errors']}" for m in modes) + ")")
    lines.append("The agent's counts per hour (status --json):")
    row("  requests", [fmt(rows[m]["agent"][n]["requests"] * hour, ",.0f") for m, n in cols]
        + [""])
    for k in KINDS:
        row(f"  {k} calls", [fmt(rows[m]["agent"][n]["calls_" + k] * hour, ",.0f")
                             for m, n in cols] + [""])
    row("  increments uploaded", [fmt(rows[m]["agent"][n]["increments_uploaded"] * hour, ",.0f")
                                  for m, n in cols] + [""])
    lines.append("Per day (extrapolated):")
    for k in ("put", "get", "list", "delete"):
        vals = []
        for m, n in cols:
            bk = get(m, n, "by_kind_per_day")
            v = bk.get(k, 0) + (bk.get("post", 0) if k == "put" and n == "s3" else 0) + \
                (bk.get("head", 0) if k == "get" and n == "s3" else 0)
            if k == "list":
                v += get(m, n, "reconcile_lists_per_day_added")
            vals.append(fmt(v, ",.0f"))
        lt = {"put": ls["put_per_day"], "list": ls["list_per_day"]}.get(k)
        row(f"  {k.upper()}" + {"put": " (+POST)", "get": " (+HEAD)",
                                "list": " (+reconciles)"}.get(k, ""),
            vals + [fmt(lt, ",.0f") if lt is not None else "-"])
    row("  reconcile LISTs added", [fmt(get(m, n, "reconcile_lists_per_day_added"), ",.0f")
                                    for m, n in cols] + [""],
        "(a listing each reconcile_interval; 1,000 keys a page)")
    row("  requests", [fmt(get(m, n, "requests_per_day"), ",.0f") for m, n in cols]
        + [fmt(ls["requests_per_day"], ",.0f")], "(s3: proxy log; sftp: the agent's)")
    row("  seconds with writes", [fmt(get(m, n, "seconds_with_writes_per_day"), ",.0f")
                                  for m, n in cols] + ["86,400"])
    row("  requests / seconds with writes",
        [judged(m, n, "requests_x_write_seconds", ".2f") for m, n in cols]
        + [f"{ls['requests_per_day'] / 86400:.2f}"], f"<= {TARGET_REQUESTS:g}x")
    lines.append("Bytes:")
    row("  uploaded MiB/hour", [fmt(get(m, n, "bytes_per_hour") / mib, ",.1f")
                                for m, n in cols] + [""], "(the agent's bytes_uploaded)")
    row("  S3 request bodies MiB/hour", [fmt(rows[m]["s3_proxy"]["bytes_in"] * hour / mib,
                                             ",.1f") if n == "s3" else "" for m, n in cols]
        + [""], "(PUT and POST, the proxy log)")
    row("  uploaded GiB/day", [fmt(get(m, n, "bytes_per_day") / 2**30, ",.2f")
                               for m, n in cols] + [""])
    row("  uploaded / floor", [judged(m, n, "bytes_x_floor", ".2f") for m, n in cols] + [""],
        f"<= {TARGET_BYTES:g}x")
    lines.append("Objects stored at the end (the bucket listed, the sftp directory walked):")
    row("  objects", [fmt(rows[m]["stored"][n]["objects"], ",d") for m, n in cols] + [""])
    for k in ("snapshots", "increments", "rollups", "metadata", "temp or hidden", "other"):
        if any(rows[m]["stored"][n].get(k) for m, n in cols):
            row(f"    {k}", [fmt(rows[m]["stored"][n].get(k, 0), ",d") for m, n in cols]
                + [""])
    row("  MiB", [fmt(rows[m]["stored"][n]["bytes"] / mib, ",.1f") for m, n in cols] + [""])
    row("  held when the clock started", [fmt(rows[m]["stored_at_clock"][n]["objects"], ",d")
                                          for m, n in cols] + [""], "(objects: the base)")
    row("  objects at retention, est.", [fmt(get(m, n, "objects_retained_est"), ",.0f")
                                         for m, n in cols] + [""],
        "(held + growth until keep_increments/keep_change)")
    row("  GiB at retention, est.", [fmt(get(m, n, "bytes_retained_est") / 2**30, ",.2f")
                                     for m, n in cols] + [""])
    lines.append(f"Replication lag s (the age of the oldest commit the remote lacks, every "
                 f"{args.tick:g} s while the writer ran; a state is held from when the server "
                 f"stored it: s3 its PUT done in the proxy log, sftp its rename into place):")
    row("  median", [fmt(rows[m]["lag"][n]["median_s"], ".2f") for m, n in cols] + ["-"])
    row("  p99", [judged(m, n, "lag_p99_s", ".2f") for m, n in cols] + ["-"],
        f"<= {TARGET_LAG_P99:g} s")
    row("  max", [fmt(rows[m]["lag"][n]["max_s"], ".2f") for m, n in cols] + ["-"])
    row("  polled median / p99 / max",
        ["/".join(fmt(rows[m]["lag"][n + "_polled"][k], ".1f")
                  for k in ("median_s", "p99_s", "max_s")) for m, n in cols] + [""],
        f"(first seen: s3 listed every {args.s3_poll:g} s, sftp dir every {args.tick:g} s)")
    row("  the agent's lag_seconds p99 / max",
        [f"{fmt(rows[m]['lag'][n]['status_p99_s'], '.0f')} / "
         f"{fmt(rows[m]['lag'][n]['status_max_s'], '.0f')}" for m, n in cols] + [""],
        f"(shipping only, whole s, every {args.status_poll:g} s)")
    row("  local capture median / p99", [
        f"{fmt(rows[m]['lag']['local']['median_s'], '.2f')} / "
        f"{fmt(rows[m]['lag']['local']['p99_s'], '.2f')}" if n == "s3" else ""
        for m, n in cols] + [""], "(the backup directory, as stored)")
    lines.append("Monthly bill, AWS S3 Standard list prices (30 days):")
    row("  PUT/POST/LIST $", [fmt(get(m, n, "bill", "put_tier_usd"), ",.2f") if n == "s3"
                              else "" for m, n in cols]
        + [fmt(ls["requests_usd_per_month"], ",.2f")], "($0.005 per 1,000)")
    row("  GET/HEAD $", [fmt(get(m, n, "bill", "get_tier_usd"), ",.2f") if n == "s3" else ""
                         for m, n in cols] + ["-"], "($0.0004 per 1,000)")
    row("  storage $ (GB held at the end)",
        [f"{get(m, n, 'bill', 'storage_end_usd'):.3f} "
         f"({get(m, n, 'bill', 'storage_end_gb'):.2f})" if n == "s3" else ""
         for m, n in cols] + ["-"], "($0.023 per GB-month)")
    row("  storage $ (est. at retention)",
        [f"{get(m, n, 'bill', 'storage_retained_usd'):.3f} "
         f"({get(m, n, 'bill', 'storage_retained_gb'):.2f})" if n == "s3" else ""
         for m, n in cols] + ["-"], "(the estimate above)")
    row("  total $ / month", [fmt(get(m, n, "bill", "total_usd"), ",.2f") if n == "s3" else ""
                              for m, n in cols]
        + [fmt(ls["requests_usd_per_month"], ",.2f")], "(requests + est. storage)")
    lines.append("")
    if floor_per_hour:
        lines.append(f"floor: the increments' changed pages gzip'd alone (level 6): "
                     f"{floor_per_hour / mib:.2f} MiB/hour (from the increments run)")
    for m in modes:
        r = rows[m]
        if r.get("distinct_pages") is not None:
            lines.append(f"{m}: distinct pages changed {r['distinct_pages']}, "
                         f"{r['distinct_floor_bytes'] / mib:.2f} MiB gzip'd together")
        st = r["agent_startup"]
        su = r["s3_proxy_startup"]
        lines.append(f"{m}: start-up, once, before the clock (the manual backup uploading the "
                     f"base, the agent's first listing): s3 {su['total']} requests by the proxy log ({su['put']} PUT, "
                     f"{su['post']} POST, {su['list']} LIST, {su['get'] + su['head']} GET/HEAD, "
                     f"{su['delete']} DELETE), {su['bytes_in'] / mib:.1f} MiB; the agent: "
                     + ", ".join(f"{n} {st.get(n, {}).get('requests', 0)} requests "
                                 f"{st.get(n, {}).get('bytes_uploaded', 0) / mib:.1f} MiB"
                                 for n in REMOTES))
        lines.append(f"{m}: window {r['window_s']:.1f} s (writer {args.seconds:g} s + "
                     f"{r['grace_s']:.1f} s for the last commits to land); {r['commits']} "
                     f"commits, newest held: "
                     + ", ".join(f"{n} {r['lag'][n]['newest_held']}"
                                 for n in ("local",) + REMOTES)
                     + f"; agent CPU {r['agent_cpu_s']:.1f} s "
                     f"({100 * r['agent_cpu_s'] / r['window_s']:.2f}% of one core), the whole "
                     f"machine's {fmt(r.get('machine_busy_cpu_s'), '.1f')} s (all of it: "
                     f"Swift, sshd, the writer, this script, anything else running); this "
                     f"script's own S3 listings "
                     f"{r['s3_poll_requests']} (not counted above)")
        if r.get("unreadable_states"):
            lines.append(f"{m}: {len(r['unreadable_states'])} states could not be read back "
                         f"(left out of the lag)")
    if args.changes_max_delay:
        lines.append(f"changes: [watch] max_delay = {args.changes_max_delay:g} s, not the "
                     f"default (--changes-max-delay): not today's behaviour")
    elif "changes" in modes and args.seconds < 300:
        lines.append("changes: under constant writes a change backup comes every [watch] "
                     "max_delay (5 min), so a run this short shows none or few")
    lines.append(f"Litestream: published figures for sync-interval 1s, not measured here: one "
                 f"PUT per second of writes ({LITESTREAM_PUT_PER_DAY:,}/day) and, untuned, a "
                 f"LIST per sync ({LITESTREAM_LIST_PER_DAY:,}/day); requests only in its bill.")
    lines.append("Lag: the commits a state holds are read from its pages (markers); a remote "
                 "holds a state from when the server stored its object (s3: the end of its "
                 "PUT in the proxy log; sftp: its rename into place, the file's ctime), or, "
                 "polled, from the first listing that showed it.")
    for p in problems:
        lines.append("PROBLEM: " + p)
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cbsync", default=os.environ.get("CBSYNC", "build/cbsync"))
    ap.add_argument("--size-mib", type=float, default=256)
    ap.add_argument("--seconds", type=float, default=1200)
    ap.add_argument("--modes", default=",".join(MODES),
                    help="comma list of increments, changes (default: both)")
    ap.add_argument("--json", help="write every figure to this file")
    ap.add_argument("--work", default=tempfile.gettempdir())
    ap.add_argument("--tick", type=float, default=0.25,
                    help="lag samples and polls of the local and sftp directories, seconds")
    ap.add_argument("--s3-poll", type=float, default=0.5,
                    help="how often the bucket is listed to see what s3 holds, seconds")
    ap.add_argument("--status-poll", type=float, default=2.0,
                    help="how often the agent's status is read, seconds")
    ap.add_argument("--changes-max-delay", type=float,
                    help="[watch] max_delay for the changes run, seconds (default: the "
                         "agent's, 5 min); shorter only to see change backups in a short try")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", action="store_true", help="keep the scratch directories")
    args = ap.parse_args()
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    bad = [m for m in args.modes if m not in MODES]
    if bad or not args.modes:
        ap.error(f"--modes: unknown {', '.join(bad) or '(empty)'}; "
                 f"choose from {', '.join(MODES)}")
    if min(args.seconds, args.size_mib, args.tick, args.s3_poll, args.status_poll) <= 0 or \
            (args.changes_max_delay is not None and args.changes_max_delay <= 0):
        ap.error("--seconds, --size-mib, --tick, --s3-poll, --status-poll and "
                 "--changes-max-delay must be positive")
    # Stopped from outside: clean up as for ^C (the agent, the writer, both
    # servers, the scratch directory).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(130))
    cbsync = os.path.abspath(args.cbsync)
    if not os.access(cbsync, os.X_OK):
        ap.error(f"no cbsync binary at {cbsync}; build it or pass --cbsync")
    work = tempfile.mkdtemp(prefix="cbsync-bench-remotes-", dir=args.work)
    problems = []
    rows = {}
    s3 = LoggedSwift()
    ssh = SshServer(tmp_root=work)
    try:
        base = os.path.join(work, "base.db")
        gen_cloudbrain.generate(base, size_mib=args.size_mib, seed=args.seed, journal="wal")
        base_info = {"size": os.path.getsize(base), "page_size": br.page_size_of(base)}
        s3.start()
        ssh.start()
        for mode in args.modes:
            print(f"running {mode} for {args.seconds:g} s ...", file=sys.stderr, flush=True)
            rows[mode] = run_mode(mode, args, cbsync, work, base, s3, ssh, problems)
        inc = rows.get("increments", {})
        floor_per_hour = inc["floor_bytes"] * 3600 / args.seconds \
            if inc.get("floor_bytes") else None
        judge(args, rows, floor_per_hour)
        print(report(args, rows, base_info, floor_per_hour, problems))
        if args.json:
            doc = {"size_bytes": base_info["size"], "page_size": base_info["page_size"],
                   "seconds": args.seconds, "cores": os.cpu_count(),
                   "message_every_s": br.MESSAGE_EVERY,
                   "update_every_s": br.MESSAGE_EVERY * br.UPDATE_EVERY,
                   "tick_s": args.tick, "s3_poll_s": args.s3_poll,
                   "status_poll_s": args.status_poll,
                   "targets": {"lag_p99_s": TARGET_LAG_P99,
                               "requests_x_write_seconds": TARGET_REQUESTS,
                               "bytes_x_floor": TARGET_BYTES},
                   "prices": {"put_tier_per_request": PRICE_PUT_TIER,
                              "get_tier_per_request": PRICE_GET_TIER,
                              "gb_month": PRICE_GB_MONTH, "month_days": MONTH_DAYS},
                   "litestream": litestream(),
                   "floor_per_hour": floor_per_hour,
                   "changes_max_delay_s": args.changes_max_delay,
                   "modes": rows, "problems": problems}
            tmp = args.json + ".tmp"
            with open(tmp, "w") as f:
                json.dump(doc, f, indent=2, default=str)
            os.replace(tmp, args.json)
    finally:
        s3.stop()
        ssh.stop()
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
