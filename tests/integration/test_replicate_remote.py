"""Increments shipped to a remote (a local mirror here; test_remote_servers
does the same against Swift's S3 and sshd): the remote holds each chain
whole, a fresh machine restores any state from it alone, a remote that was
away catches up, and the agent lists the remote only when it must."""
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import time

from harness import (CBSYNC, HERE, CbsyncTest, Writer, dump, gunzip, main, make_db,
                     packed_metadata, start_cbsync, write_agent_config)


def remote_section(name, path):
    return f'[remote "{name}"]\ntype = local\npath = {path}\n'


class ReplicateRemoteTest(CbsyncTest):
    def setUp(self):
        super().setUp()
        self.mirror = self.w.path("mirror")
        os.makedirs(self.mirror)
        make_db(self.w.db, rows=300)
        self.conf = write_agent_config(self.w.path("cbsync.conf"), self.w.db, self.w.backups,
                                       rebase_share="off",
                                       extra=remote_section("mirror", self.mirror))

    def chain(self):
        path = os.path.join(self.w.backups, ".cbsync-chain", "cloudbrain.json")
        if not os.path.exists(path):
            return None
        with open(path) as f:
            return json.load(f)

    def increments(self, root, snapshot):
        folder = os.path.join(root, "increments", snapshot[:-len(".db.gz")])
        return sorted(os.path.basename(p) for p in glob.glob(os.path.join(folder, "*.wal.gz")))

    def status(self):
        return json.loads(self.w.ok("status", "--json", "--config", self.conf).stdout)

    def remote_state(self):
        return self.status()["state"]["remotes"][0]

    def wait_for(self, what, timeout=90):
        deadline = time.time() + timeout
        while time.time() < deadline:
            got = what()
            if got:
                return got
            time.sleep(0.3)
        self.fail("timed out waiting")

    def in_step(self):
        """The remote holds every increment of the chain the local tier has,
        and the agent says so (lag 0)."""
        c = self.chain()
        if not c:
            return False
        here = self.increments(self.w.backups, c["snapshot"])
        there = self.increments(self.mirror, c["snapshot"])
        if not here or here != there:
            return False
        try:
            r = self.remote_state()
        except (KeyError, IndexError, ValueError):
            return False
        return r["lag_seconds"] == 0 and not r["unshipped_since"]

    def settled(self):
        """The chain has not moved for 3 s (the agent has captured the
        writer's last commit) and the remote is in step with it."""
        c = self.chain()
        if c != getattr(self, "_last", None):
            self._last, self._since = c, time.time()
            return False
        return time.time() - self._since > 3 and self.in_step()

    def replicate_until(self, n):
        """Start the agent and a writer; once the remote holds n increments
        of the chain, stop the writer and wait until the agent and the
        remote have caught up.  Returns the agent, still running."""
        agent = self.agent()
        writer = Writer(self.w.db)
        try:
            self.wait_for(lambda: self.chain() and len(self.increments(
                self.mirror, self.chain()["snapshot"])) >= n)
        finally:
            writer.stop()
        self.wait_for(self.settled)
        return agent

    def agent(self):
        a = start_cbsync(self.w.root, "agent", "--config", self.conf)
        self.addCleanup(lambda: a.poll() is None and a.kill())
        return a

    def stop(self, agent):
        agent.send_signal(signal.SIGTERM)
        _, err = agent.communicate(timeout=60)
        self.assertEqual(agent.returncode, 0, err)
        return err

    def fresh_machine(self):
        """A config with only the remote: an empty local tier, no database."""
        root = self.w.path("fresh")
        os.makedirs(root)
        conf = os.path.join(root, "cbsync.conf")
        with open(conf, "w") as f:
            f.write(f"[database]\npath = {root}/cloudbrain.db\n[local]\ndir = {root}/backups\n"
                    + remote_section("mirror", self.mirror))
        return root, conf

    def test_remote_restores_every_state_the_local_tier_does(self):
        agent = self.replicate_until(6)
        snapshot = self.chain()["snapshot"]
        # The snapshot; each increment packed, one object: a gzip member
        # whose header holds the local metadata, then the local object,
        # byte for byte, which gunzip reads as the same WAL file.
        self.assertTrue(os.path.exists(os.path.join(self.mirror, snapshot)))
        for name in self.increments(self.w.backups, snapshot):
            rel = os.path.join("increments", snapshot[:-len(".db.gz")], name)
            with open(os.path.join(self.w.backups, rel), "rb") as a, \
                    open(os.path.join(self.w.backups, rel + ".json"), "rb") as m, \
                    open(os.path.join(self.mirror, rel), "rb") as b:
                local, meta, packed = a.read(), m.read(), b.read()
            self.assertFalse(os.path.exists(os.path.join(self.mirror, rel + ".json")), rel)
            self.assertEqual(packed_metadata(packed), (meta, len(packed) - len(local)), rel)
            self.assertTrue(packed.endswith(local), rel)
            self.assertEqual(gunzip(os.path.join(self.mirror, rel)),
                             gunzip(os.path.join(self.w.backups, rel)), rel)
        r = self.remote_state()
        self.assertGreaterEqual(r["increments_uploaded"], 6)
        self.assertIsNotNone(r["newest_restorable"])
        # Shipping an increment is one PUT and no listing: one listing at
        # the start (and maybe one after a failed call), not one per upload.
        kinds = r["requests_by_kind"]
        self.assertGreaterEqual(kinds["put"], r["increments_uploaded"])
        self.assertLessEqual(kinds["put"], r["increments_uploaded"] + 2, kinds)
        self.assertLessEqual(kinds["list"], 2, kinds)
        self.stop(agent)

        # A fresh machine with only the remote: the newest state, and
        # states in the middle, exactly as the local tier restores them.
        root, conf = self.fresh_machine()
        out = os.path.join(root, "latest.db")
        p = self.w.run("restore", "--config", conf, "--from", "mirror", "--latest", "--to", out)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(dump(out), dump(self.w.db))
        # Without --from, the tier that reaches the time: here only the remote.
        out = os.path.join(root, "any.db")
        p = self.w.run("restore", "--config", conf, "--latest", "--to", out)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("remote 'mirror'", p.stdout)
        self.assertEqual(dump(out), dump(self.w.db))
        metas = []
        for name in self.increments(self.mirror, snapshot):
            with open(os.path.join(self.mirror, "increments", snapshot[:-len(".db.gz")],
                                   name), "rb") as f:
                metas.append(json.loads(packed_metadata(f.read())[0]))
        for m in metas[1::max(1, len(metas) // 4)]:
            at = m["last_tx"][:19] + "Z"
            there = os.path.join(root, "at-remote-%d.db" % m["seq_last"])
            here = os.path.join(root, "at-local-%d.db" % m["seq_last"])
            p = self.w.run("restore", "--config", conf, "--from", "mirror", "--at", at,
                           "--to", there)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            p = self.w.run("restore", "--config", self.conf, "--from", "local", "--at", at,
                           "--to", here)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            self.assertEqual(dump(there), dump(here), at)

    def test_a_remote_that_was_away_catches_up(self):
        agent = self.agent()
        writer = Writer(self.w.db)
        try:
            self.wait_for(lambda: self.chain() and self.increments(
                self.mirror, self.chain()["snapshot"]))
            shutil.move(self.mirror, self.mirror + ".unplugged")
            # The agent goes on capturing; the remote shows as failing and lagging.
            self.wait_for(lambda: self.remote_state()["failing"])
            time.sleep(3)
            r = self.remote_state()
            self.assertIsNotNone(r["unshipped_since"])
            metrics_lag = r["unshipped_since"]
            snapshot = self.chain()["snapshot"]
            while len(self.increments(self.w.backups, snapshot)) < 8:
                time.sleep(0.3)
            shutil.move(self.mirror + ".unplugged", self.mirror)
        finally:
            writer.stop()
        self.wait_for(self.settled, timeout=120)
        r = self.remote_state()
        self.assertFalse(r["failing"])
        self.assertIsNone(r["unshipped_since"], metrics_lag)
        p = self.w.run("status", "--config", self.conf)
        self.assertIn("lag 0s", p.stdout)
        self.stop(agent)
        root, conf = self.fresh_machine()
        out = os.path.join(root, "latest.db")
        p = self.w.run("restore", "--config", conf, "--from", "mirror", "--latest", "--to", out)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(dump(out), dump(self.w.db))

    def test_a_damaged_packed_increment_is_named_and_never_restored(self):
        """A byte changed in a remote increment's data, or in the metadata
        inside it: verify of that remote fails naming the object, and a
        fresh machine's restore from it installs nothing."""
        agent = self.replicate_until(4)
        self.stop(agent)
        snapshot = self.chain()["snapshot"]
        folder = os.path.join(self.mirror, "increments", snapshot[:-len(".db.gz")])
        names = self.increments(self.mirror, snapshot)
        root, conf = self.fresh_machine()
        for i, where in ((1, "data"), (2, "metadata")):
            path = os.path.join(folder, names[i])
            with open(path, "rb") as f:
                good = f.read()
            _, head = packed_metadata(good)
            at = len(good) - 9 if where == "data" else head // 2
            bad = bytearray(good)
            bad[at] ^= 0x20
            with open(path, "wb") as f:
                f.write(bytes(bad))
            p = self.w.run("verify", "--config", self.conf, "--tier", "mirror")
            self.assertEqual(p.returncode, 5, (where, p.stdout + p.stderr))
            self.assertIn(names[i], p.stdout + p.stderr, where)
            out = os.path.join(root, "latest.db")
            p = self.w.run("restore", "--config", conf, "--from", "mirror", "--latest",
                           "--to", out)
            self.assertNotEqual(p.returncode, 0, (where, p.stdout + p.stderr))
            self.assertIn(names[i], p.stderr, where)
            self.assertFalse(os.path.exists(out), where)
            with open(path, "wb") as f:
                f.write(good)
        p = self.w.run("verify", "--config", self.conf, "--tier", "mirror")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_a_remote_back_from_a_long_outage_is_in_step_within_seconds(self):
        """Retries back off (here from 10 minutes, as after a long outage),
        but a replicating remote is tried again at least every 15 s: once
        its directory is back, it holds the chain well within a minute."""
        with open(self.conf, "a") as f:
            f.write("[sync]\nretry_min = 10min\n")
        away = self.mirror + ".away"
        os.rename(self.mirror, away)
        agent = self.agent()
        writer = Writer(self.w.db)
        try:
            # The state is null until the agent has written its first.
            self.wait_for(lambda: (self.status()["state"] or {}).get("remotes")
                          and self.remote_state()["failing"], 60)
            time.sleep(2)
        finally:
            writer.stop()
        self.assertIn("not mounted", self.remote_state()["last_error"])
        os.rename(away, self.mirror)
        back = time.time()
        self.wait_for(self.settled, 40)
        print(f"\n[outage] in step {time.time() - back:.1f} s after the remote came back",
              file=sys.stderr)
        self.stop(agent)
        snapshot = self.chain()["snapshot"]
        self.assertEqual(self.increments(self.mirror, snapshot),
                         self.increments(self.w.backups, snapshot))

    def test_objects_deleted_behind_its_back_are_sent_again(self):
        """Another hand deletes increments on the remote: the agent's next
        listing (every reconcile_interval, 2 s here) sees the drift and the
        remote holds the whole chain again."""
        with open(self.conf, "a") as f:
            f.write("[sync]\nreconcile_interval = 2s\n")
        agent = self.replicate_until(4)
        snapshot = self.chain()["snapshot"]
        folder = os.path.join(self.mirror, "increments", snapshot[:-len(".db.gz")])
        gone = self.increments(self.mirror, snapshot)[1:3]
        for name in gone:
            os.remove(os.path.join(folder, name))
        # Nothing changes in the database: only the reconcile can see it.
        self.wait_for(lambda: all(os.path.exists(os.path.join(folder, n)) for n in gone), 30)
        self.stop(agent)
        root, conf = self.fresh_machine()
        out = os.path.join(root, "latest.db")
        p = self.w.run("restore", "--config", conf, "--from", "mirror", "--latest", "--to", out)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(dump(out), dump(self.w.db))

    def test_a_chain_the_remote_cannot_follow_gets_a_new_base(self):
        """An increment lost on both tiers: the remote cannot follow the
        chain past it, the agent says why and starts a new chain, which the
        remote then holds whole."""
        agent = self.replicate_until(4)
        self.stop(agent)
        snapshot = self.chain()["snapshot"]
        lost = self.increments(self.w.backups, snapshot)[1]
        for root in (self.w.backups, self.mirror):
            folder = os.path.join(root, "increments", snapshot[:-len(".db.gz")])
            os.remove(os.path.join(folder, lost))
            if root == self.w.backups:   # the remote's is packed, one object
                os.remove(os.path.join(folder, lost + ".json"))
        agent = start_cbsync(self.w.root, "agent", "--config", self.conf)
        self.addCleanup(lambda: agent.poll() is None and agent.kill())
        writer = Writer(self.w.db)
        try:
            self.wait_for(lambda: self.chain()["snapshot"] != snapshot, 60)
            new = self.chain()["snapshot"]
            self.wait_for(lambda: self.increments(self.mirror, new))
        finally:
            writer.stop()
        self.wait_for(self.settled)
        self.assertIsNone(self.remote_state()["chain_note"])
        err = self.stop(agent)
        self.assertIn("remote 'mirror': it cannot follow chain %s past seq 2: that increment "
                      "is on neither tier; the next increment starts a new chain" % snapshot, err)
        self.assertIn("a new chain: remote 'mirror': it cannot follow chain", err)
        root, conf = self.fresh_machine()
        out = os.path.join(root, "latest.db")
        p = self.w.run("restore", "--config", conf, "--from", "mirror", "--latest", "--to", out)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(dump(out), dump(self.w.db))

    def test_sidecar_restore_then_agent_goes_on_offsite(self):
        """The container's restore-then-agent on a new machine: the newest
        state comes back from the remote (snapshot and increments), and the
        agent goes on replicating there -- a new chain, since the restored
        file is a new base -- without sending back what the remote holds."""
        agent = self.replicate_until(4)
        self.stop(agent)
        before = {}
        for d, _, files in os.walk(self.mirror):
            for name in files:
                path = os.path.join(d, name)
                before[path] = os.stat(path).st_mtime_ns
        old_snapshot = self.chain()["snapshot"]

        root, conf = self.fresh_machine()
        with open(conf, "a") as f:
            f.write("[schedule]\ndaily = off\nweekly = off\nmonthly = off\n"
                    "catch_up = false\n[replicate]\nenabled = true\ninterval = 1s\n")
        entry = os.path.join(HERE, "..", "..", "packaging", "docker", "entrypoint.sh")
        env = dict(os.environ, CBSYNC_BIN=CBSYNC, CBSYNC_CONFIG=conf)
        side = subprocess.Popen(["/bin/sh", entry, "restore-then-agent"], cwd=root, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: side.poll() is None and side.kill())
        db = os.path.join(root, "cloudbrain.db")
        self.wait_for(lambda: side.poll() is not None or json.loads(self.w.run(
            "status", "--json", "--config", conf).stdout)["running"])
        self.assertIsNone(side.poll(), side.stderr.read() if side.poll() is not None else "")
        self.assertEqual(dump(db), dump(self.w.db))
        writer = Writer(db)
        try:
            time.sleep(4)
        finally:
            writer.stop()
        with open(os.path.join(root, "backups", ".cbsync-chain", "cloudbrain.json")) as f:
            new_snapshot = json.load(f)["snapshot"]
        self.assertNotEqual(new_snapshot, old_snapshot)
        self.wait_for(lambda: len(self.increments(self.mirror, new_snapshot)) >= 2)
        time.sleep(3)
        side.send_signal(signal.SIGTERM)
        _, err = side.communicate(timeout=60)
        self.assertEqual(side.returncode, 0, err)
        # Nothing the remote held was sent again or changed.
        for path, mtime in before.items():
            self.assertEqual(os.stat(path).st_mtime_ns, mtime, path)
        # And a third machine gets the new machine's newest state from it.
        os.makedirs(self.w.path("third"))
        third = self.w.path("third", "cloudbrain.db")
        with open(self.w.path("third.conf"), "w") as f:
            f.write(f"[database]\npath = {third}\n[local]\ndir = {self.w.path('third', 'b')}\n"
                    + remote_section("mirror", self.mirror))
        p = self.w.run("restore", "--config", self.w.path("third.conf"), "--from", "mirror",
                       "--latest", "--to", third)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        p = self.w.run("restore", "--config", conf, "--from", "local", "--latest", "--to",
                       self.w.path("local-b.db"))
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(dump(third), dump(self.w.path("local-b.db")))


if __name__ == "__main__":
    main()
