"""kill -9 of the agent at random moments while it replicates to Swift's S3
and to sshd, 20 times: after each kill, every object under a final key on
either remote is whole (byte for byte the local file, metadata that parses);
after the last restart both remotes catch up, their chains verify, and each
restores the live database's state."""
import json
import os
import random
import signal
import subprocess
import time

from harness import Writer, dump, main, packed_metadata, start_cbsync
import test_replicate_servers as servers


class ReplicateKillTest(servers.TwoRemotesCase):
    BUCKET = "cbsync-replicate-kill"

    def local_bytes(self, key):
        with open(os.path.join(self.w.backups, key), "rb") as f:
            return f.read()

    def s3_objects(self):
        client = self.s3.client()
        out = {}
        for page in client.get_paginator("list_objects_v2").paginate(
                Bucket=self.BUCKET, Prefix=self.prefix + "/"):
            for o in page.get("Contents", []):
                key = o["Key"][len(self.prefix) + 1:]
                out[key] = client.get_object(Bucket=self.BUCKET, Key=o["Key"])["Body"].read()
        return out

    def sftp_objects(self):
        root = os.path.join(self.ssh.root, self.prefix)
        out = {}
        for d, _, files in os.walk(root):
            for name in files:
                path = os.path.join(d, name)
                with open(path, "rb") as f:
                    out[os.path.relpath(path, root)] = f.read()
        return out

    def assert_whole(self, where, objects):
        """Every object under a final key is whole; temp names aside."""
        for key, data in objects.items():
            if os.path.basename(key).startswith(".cbsync-tmp-") or key.startswith("."):
                continue
            if key.endswith(".json"):
                json.loads(data)
            elif key.startswith("increments/"):
                # One object: the metadata member, then the local object.
                packed = packed_metadata(data)
                self.assertIsNotNone(packed, f"{where}: {key}")
                meta, head = packed
                self.assertEqual(json.loads(meta)["name"], key, f"{where}: {key}")
                self.assertEqual(data[head:], self.local_bytes(key), f"{where}: {key}")
            else:
                self.assertEqual(data, self.local_bytes(key), f"{where}: {key}")

    def test_kill_9_loop(self):
        env = self.env()
        rng = random.Random(int(os.environ.get("CBSYNC_KILL_SEED", "7")))
        writer = Writer(self.w.db)
        try:
            for i in range(20):
                agent = start_cbsync(self.w.root, "agent", "--config", self.conf, env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(rng.uniform(0.3, 2.5))
                agent.send_signal(signal.SIGKILL)
                agent.wait()
                self.assert_whole("s3", self.s3_objects())
                self.assert_whole("sftp", self.sftp_objects())
        finally:
            writer.stop()
        agent = start_cbsync(self.w.root, "agent", "--config", self.conf, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(lambda: agent.poll() is None and agent.kill())
        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        deadline = time.time() + 120
        while time.time() < deadline and not self.both_in_step(since):
            time.sleep(0.5)
        self.assertTrue(self.both_in_step(since), json.dumps(self.status()["remotes"], indent=1))
        agent.send_signal(signal.SIGTERM)
        self.assertEqual(agent.wait(timeout=60), 0)
        for remote, objects in (("s3", self.s3_objects()), ("sftp", self.sftp_objects())):
            self.assert_whole(remote, objects)
            # What killed runs left half-done was cleared by the next sync.
            self.assertEqual([k for k in objects if ".cbsync-tmp-" in k], [], remote)
            p = self.w.run("verify", "--config", self.conf, "--tier", remote, env=env,
                           timeout=300)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            self.assertIn("increments", p.stdout)
            out = self.w.path(f"{remote}.db")
            p = self.w.run("restore", "--config", self.conf, "--from", remote, "--latest",
                           "--to", out, env=env)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            self.assertEqual(dump(out), dump(self.w.db), remote)


if __name__ == "__main__":
    main()
