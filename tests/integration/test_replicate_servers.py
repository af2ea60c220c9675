"""Increments replicated to Swift's S3 and to sshd at once, each server
stopped for a while mid-run and started again on the same port.  Both remotes
catch up, list only when they must, and a fresh machine restores from each
of them alone, at random times, exactly the states the local tier restores."""
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

from harness import (CBSYNC, CbsyncTest, Writer, cbsync_env, dump, main, make_db,
                     start_cbsync, write_agent_config)
from remotes import SshServer, SwiftS3


def parse_iso_ms(text):
    """Milliseconds since the epoch of an ISO 8601 UTC time as metadata
    writes it (2026-11-30T01:02:03.456Z)."""
    import calendar
    whole, _, frac = text.rstrip("Z").partition(".")
    secs = calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S"))
    return secs * 1000 + int((frac + "000")[:3])


def format_iso_ms(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + ".%03dZ" % (ms % 1000)


class TwoRemotesCase(CbsyncTest):
    """Swift's S3 (remote "s3", bucket BUCKET) and sshd (remote "sftp"),
    started once per class; an agent config replicating this test's database
    to both, under a prefix of its own."""
    BUCKET = "cbsync-replicate"

    @classmethod
    def setUpClass(cls):
        # INFO: the proxy logs each request, which request_counts reads.
        cls.s3 = SwiftS3(log_level="INFO")
        cls.s3.start()
        cls.s3.create_bucket(cls.BUCKET)
        cls.ssh = SshServer()
        cls.ssh.start()

    @classmethod
    def tearDownClass(cls):
        cls.s3.stop()
        cls.ssh.stop()

    def env(self):
        return {"CBSYNC_REMOTE_S3_TYPE": "s3",
                "CBSYNC_REMOTE_S3_ENDPOINT": self.s3.endpoint,
                "CBSYNC_REMOTE_S3_BUCKET": self.BUCKET,
                "CBSYNC_REMOTE_S3_PREFIX": self.prefix,
                "CBSYNC_REMOTE_S3_PATH_STYLE": "true",
                "CBSYNC_REMOTE_S3_CONNECT_TIMEOUT": "2s",
                "CBSYNC_REMOTE_S3_TIMEOUT": "3s",
                "AWS_ACCESS_KEY_ID": self.s3.access_key,
                "AWS_SECRET_ACCESS_KEY": self.s3.secret_key,
                "AWS_REGION": self.s3.region,
                "CBSYNC_REMOTE_SFTP_TYPE": "sftp",
                "CBSYNC_REMOTE_SFTP_URL": self.ssh.url(self.prefix),
                "CBSYNC_REMOTE_SFTP_CREATE_DIR": "true",
                "CBSYNC_REMOTE_SFTP_PRIVATE_KEY": self.ssh.client_key,
                "CBSYNC_REMOTE_SFTP_KNOWN_HOSTS": self.ssh.known_hosts,
                "CBSYNC_REMOTE_SFTP_CONNECT_TIMEOUT": "2s",
                "CBSYNC_REMOTE_SFTP_TIMEOUT": "3s",
                # Quick retries, so that a thawed server is used again soon.
                "CBSYNC_SYNC_RETRY_MIN": "1s",
                "CBSYNC_SYNC_RETRY_MAX": "2s"}

    def setUp(self):
        super().setUp()
        self.prefix = "p%d" % random.randrange(1 << 30)
        make_db(self.w.db, rows=300)
        self.conf = write_agent_config(self.w.path("cbsync.conf"), self.w.db, self.w.backups,
                                       rebase_share="off")

    def status(self):
        p = self.w.run("status", "--json", "--config", self.conf, env=self.env())
        return json.loads(p.stdout)["state"]

    def chain(self):
        path = os.path.join(self.w.backups, ".cbsync-chain", "cloudbrain.json")
        if not os.path.exists(path):
            return None
        with open(path) as f:
            return json.load(f)

    def both_in_step(self, since):
        """Nothing captured has stayed unshipped, the chain has stood still
        for 3 s, and both remotes succeeded since then."""
        c = self.chain()
        if c != getattr(self, "_last", None):
            self._last, self._since = c, time.time()
            return False
        if time.time() - self._since < 3:
            return False
        st = self.status()
        rs = {r["name"]: r for r in st["remotes"]}
        return all(not r["failing"] and r["lag_seconds"] == 0 and r["last_success"]
                   and r["last_success"] >= since for r in rs.values()) and len(rs) == 2


class ReplicateServersTest(TwoRemotesCase):
    def local_metas(self):
        c = self.chain()
        folder = os.path.join(self.w.backups, "increments", c["snapshot"][:-len(".db.gz")])
        out = []
        for name in sorted(os.listdir(folder)):
            if name.endswith(".wal.gz.json"):
                with open(os.path.join(folder, name)) as f:
                    out.append(json.load(f))
        return out

    def outage(self, stop, start, seconds):
        """The server is down for seconds (its clients cut off), then back
        on the same port."""
        stop()
        try:
            time.sleep(seconds)
        finally:
            start()

    def test_both_remotes_catch_up_and_restore_any_state(self):
        env = self.env()
        log = open(self.w.path("agent.log"), "w")
        self.addCleanup(log.close)
        if os.environ.get("CBSYNC_KEEP_LOG"):
            self.addCleanup(lambda: shutil.copy(self.w.path("agent.log"), os.environ["CBSYNC_KEEP_LOG"]))
        agent = start_cbsync(self.w.root, "agent", "--config", self.conf, env=env,
                             stderr=log)
        self.addCleanup(lambda: agent.poll() is None and agent.kill())
        writer = Writer(self.w.db)
        try:
            time.sleep(4)
            self.outage(self.s3.stop_proxy, self.s3.start_proxy, 8)
            time.sleep(3)
            self.outage(self.ssh.pause, self.ssh.resume, 8)
            time.sleep(3)
        finally:
            writer.stop()
        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        deadline = time.time() + 120
        while time.time() < deadline and not self.both_in_step(since):
            time.sleep(0.5)
        self.assertTrue(self.both_in_step(since), json.dumps(self.status()["remotes"], indent=1))
        st = {r["name"]: r for r in self.status()["remotes"]}
        for name, r in st.items():
            self.assertGreater(r["increments_uploaded"], 10, name)
            # The outage was felt: syncs failed while it lasted.
            self.assertGreaterEqual(r["sync_errors"], 1, r)
            # Listings: at the start and after failures, never one per upload.
            self.assertLess(r["requests_by_kind"]["list"], r["increments_uploaded"] / 3, r)
        agent.send_signal(signal.SIGTERM)
        agent.communicate(timeout=60)
        with open(self.w.path("agent.log")) as f:
            err = f.read()
        self.assertEqual(agent.returncode, 0, err)

        # A fresh machine: only the configuration and the credentials.
        fresh = self.w.path("fresh")
        os.makedirs(fresh)
        fconf = os.path.join(fresh, "cbsync.conf")
        with open(fconf, "w") as f:
            f.write(f"[database]\npath = {fresh}/cloudbrain.db\n[local]\ndir = {fresh}/backups\n")
        metas = self.local_metas()
        self.assertGreater(len(metas), 15)
        # 50 random instants, to the millisecond, from the snapshot's state to a
        # second past the last commit; each remote alone gives exactly what
        # the local tier gives.
        rng = random.Random(int(os.environ.get("CBSYNC_REPLICATE_SEED", "1")))
        with open(os.path.join(self.w.backups, self.chain()["snapshot"] + ".json")) as f:
            lo = parse_iso_ms(json.load(f)["state_time"])
        hi = max(parse_iso_ms(m["last_tx"]) for m in metas) + 1000
        times = sorted({format_iso_ms(rng.randrange(lo, hi)) for _ in range(50)})
        for at in times + ["latest"]:
            args = ["--latest"] if at == "latest" else ["--at", at]
            # The three restores of one time at once: each mostly waits.
            runs = {}
            for tier, conf in (("local", self.conf), ("s3", fconf), ("sftp", fconf)):
                out = os.path.join(fresh, "%s-%s.db" % (tier, at))
                cmd = [CBSYNC, "restore", "--config", conf, "--from", tier, *args, "--to", out]
                runs[tier] = (out, subprocess.Popen(cmd, cwd=self.w.root, env=cbsync_env(env),
                                                    stdout=subprocess.PIPE,
                                                    stderr=subprocess.STDOUT, text=True))
            for tier, (out, proc) in runs.items():
                text, _ = proc.communicate(timeout=120)
                self.assertEqual(proc.returncode, 0, (tier, at, text))
            expected = dump(runs["local"][0])
            for remote in ("s3", "sftp"):
                self.assertEqual(dump(runs[remote][0]), expected, (remote, at))
        self.assertEqual(expected, dump(self.w.db))

    def test_requests_while_in_step(self):
        """A steady run, counted by Swift's own access log: listings only at
        the start, none per upload, no GET, no DELETE, and one PUT per
        increment (packed: its metadata inside its object) besides the
        snapshot's two (its object and its metadata)."""
        env = self.env()
        agent = start_cbsync(self.w.root, "agent", "--config", self.conf, env=env,
                             stderr=subprocess.DEVNULL)
        self.addCleanup(lambda: agent.poll() is None and agent.kill())
        writer = Writer(self.w.db)
        start = time.time()
        try:
            time.sleep(20)
        finally:
            writer.stop()
        seconds = time.time() - start
        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        deadline = time.time() + 60
        while time.time() < deadline and not self.both_in_step(since):
            time.sleep(0.5)
        self.assertTrue(self.both_in_step(since))
        agent.send_signal(signal.SIGTERM)
        self.assertEqual(agent.wait(timeout=60), 0)
        r = {x["name"]: x for x in self.status()["remotes"]}["s3"]
        server = self.s3.requests(self.BUCKET, self.prefix + "/")
        print(f"\n[requests] {seconds:.0f} s of writes, {r['increments_uploaded']} increments "
              f"and {r['uploaded']} snapshot: server counted {server}; agent calls "
              f"{r['requests_by_kind']}, requests {r['requests']}", file=sys.stderr)
        incs = r["increments_uploaded"]
        self.assertGreaterEqual(incs, 10)
        # One listing of the objects and one of unfinished multipart
        # uploads (the sweep of what killed runs left), both at the start.
        self.assertLessEqual(server.get("LIST", 0), 2, server)
        self.assertEqual(server.get("GET", 0) + server.get("DELETE", 0), 0, server)
        self.assertLessEqual(server.get("PUT", 0), incs + 2 * r["uploaded"], server)
        # The agent's own count agrees with the server's.
        self.assertEqual(r["requests_by_kind"]["put"], server.get("PUT", 0))
        self.assertEqual(r["requests_by_kind"]["list"], 1)


if __name__ == "__main__":
    main()
