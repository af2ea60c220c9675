"""Sync to a local mirror: push, auto-sync after backup, faults, the agent."""
import json
import os
import shutil
import sqlite3
import subprocess
import time

from harness import CBSYNC, CbsyncTest, fake_backup, main, make_db, read_bytes, sha256_file
from test_agent import Agent


class SyncTest(CbsyncTest):
    def setUp(self):
        super().setUp()
        self.mirror = self.w.path("mirror")
        os.makedirs(self.mirror)
        self.env = {"CBSYNC_REMOTE_USB_TYPE": "local", "CBSYNC_REMOTE_USB_PATH": self.mirror}
        make_db(self.w.db, rows=200)

    def remote_files(self):
        return sorted(f for f in os.listdir(self.mirror) if not f.startswith("."))

    def run_env(self, *args, **extra):
        return self.w.run(*args, env=dict(self.env, **extra))

    def ok_env(self, *args, **extra):
        p = self.run_env(*args, **extra)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        return p

    def test_backup_pushes_and_the_mirror_is_byte_identical(self):
        p = self.ok_env("backup")
        self.assertIn("remote 'usb': uploaded 1 backup", p.stdout)
        name = self.w.backup_files()[0]
        self.assertEqual(self.remote_files(), [name, name + ".json"])
        self.assertEqual(read_bytes(os.path.join(self.mirror, name)),
                         read_bytes(os.path.join(self.w.backups, name)))
        self.assertEqual(read_bytes(os.path.join(self.mirror, name + ".json")),
                         read_bytes(os.path.join(self.w.backups, name + ".json")))
        # Nothing to do the second time.
        p = self.ok_env("push")
        self.assertIn("uploaded 0 backups (0 B); 1 already there", p.stdout)
        # --no-sync leaves the remote alone; push catches up.
        self.ok_env("backup", "--no-sync")
        self.assertEqual(len(self.remote_files()), 2)
        p = self.ok_env("push", "--remote", "usb")
        self.assertIn("uploaded 1 backup", p.stdout)
        self.assertEqual(len(self.remote_files()), 4)
        with open(os.path.join(self.w.backups, "operations.log")) as f:
            self.assertIn("push usb ok", f.read())

    def test_list_tiers(self):
        self.ok_env("backup")
        self.ok_env("backup", "--no-sync")
        only_remote = json.loads(self.ok_env("list", "--tier", "usb", "--json").stdout)
        self.assertEqual(len(only_remote), 1)
        self.assertEqual(only_remote[0]["tiers"], ["usb"])
        self.assertIsNotNone(only_remote[0]["original_size"])
        everything = json.loads(self.ok_env("list", "--tier", "all", "--json").stdout)
        self.assertEqual(sorted(tuple(b["tiers"]) for b in everything),
                         [("local",), ("local", "usb")])
        text = self.ok_env("list", "--tier", "all").stdout
        self.assertIn("TIERS", text)
        self.assertIn("local,usb", text)
        self.assertEqual(self.run_env("list", "--tier", "nowhere").returncode, 2)

    def test_remote_down_keeps_backups_local_then_one_sync_catches_up(self):
        self.ok_env("backup")
        shutil.move(self.mirror, self.mirror + ".unplugged")
        for _ in range(3):
            p = self.run_env("backup")
            self.assertFails(p, 9, "not offsite yet")
            self.assertIn("does not exist (not mounted?)", p.stderr)
        self.assertEqual(len(self.w.backup_files()), 4)
        shutil.move(self.mirror + ".unplugged", self.mirror)
        p = self.ok_env("push")
        self.assertIn("uploaded 3 backups", p.stdout)
        self.assertIn("1 already there", p.stdout)
        self.assertEqual(len(self.remote_files()), 8)
        self.assertIn("uploaded 0 backups", self.ok_env("push").stdout)

    def test_object_deleted_behind_our_back_is_uploaded_again(self):
        self.ok_env("backup")
        name = self.w.backup_files()[0]
        os.unlink(os.path.join(self.mirror, name))
        p = self.ok_env("push")
        self.assertIn("uploaded 1 backup", p.stdout)
        self.assertEqual(sha256_file(os.path.join(self.mirror, name)),
                         sha256_file(os.path.join(self.w.backups, name)))
        # Metadata missing on the remote makes the pair incomplete too.
        os.unlink(os.path.join(self.mirror, name + ".json"))
        self.assertIn("uploaded 1 backup", self.ok_env("push").stdout)
        self.assertTrue(os.path.exists(os.path.join(self.mirror, name + ".json")))

    def test_foreign_objects_are_left_alone(self):
        for f in ("notes.txt", "other_tool_backup.tar", "cloudbrain_manual_x.db.gz"):
            with open(os.path.join(self.mirror, f), "w") as fh:
                fh.write("not ours")
        self.ok_env("backup")
        listing = json.loads(self.ok_env("list", "--tier", "usb", "--json").stdout)
        self.assertEqual(len(listing), 1)
        for f in ("notes.txt", "other_tool_backup.tar", "cloudbrain_manual_x.db.gz"):
            self.assertTrue(os.path.exists(os.path.join(self.mirror, f)))

    def test_a_corrupt_local_backup_is_never_uploaded(self):
        self.ok_env("backup", "--no-sync")
        name = self.w.backup_files()[0]
        path = os.path.join(self.w.backups, name)
        data = bytearray(read_bytes(path))
        data[100] ^= 1
        with open(path, "wb") as f:
            f.write(data)
        p = self.run_env("push")
        self.assertFails(p, 5, "does not match its metadata")
        self.assertNotIn(name, self.remote_files())
        self.assertFalse([f for f in os.listdir(self.mirror) if f.startswith(".cbsync-tmp-")])

    def test_kill_9_during_an_upload(self):
        name = fake_backup(self.w.backups, 400)
        env = {k: v for k, v in os.environ.items() if not k.startswith("CBSYNC_")}
        env.update(self.env)
        proc = subprocess.Popen([CBSYNC, "push"], cwd=self.w.root, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 30
        temp = []
        while time.time() < deadline and not temp:
            temp = [f for f in os.listdir(self.mirror) if f.startswith(".cbsync-tmp-")
                    and ".db.gz." in f]
            time.sleep(0.002)
        proc.kill()
        proc.wait()
        self.assertTrue(temp, "the kill came too late to test anything")
        self.assertNotIn(name, os.listdir(self.mirror))
        listing = json.loads(self.ok_env("list", "--tier", "usb", "--json").stdout)
        self.assertEqual(listing, [])
        # The next sync completes it.
        self.assertIn("uploaded 1 backup", self.ok_env("push").stdout)
        self.assertEqual(sha256_file(os.path.join(self.mirror, name)),
                         sha256_file(os.path.join(self.w.backups, name)))

    def test_concurrent_pushes(self):
        for _ in range(3):
            self.ok_env("backup", "--no-sync")
        env = {k: v for k, v in os.environ.items() if not k.startswith("CBSYNC_")}
        env.update(self.env)
        procs = [subprocess.Popen([CBSYNC, "push"], cwd=self.w.root, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(3)]
        for p in procs:
            out, errs = p.communicate(timeout=60)
            self.assertEqual(p.returncode, 0, errs)
        self.assertEqual(len(self.remote_files()), 6)
        for f in self.w.backup_files():
            self.assertEqual(sha256_file(os.path.join(self.mirror, f)),
                             sha256_file(os.path.join(self.w.backups, f)))
        self.assertFalse([f for f in os.listdir(self.mirror) if f.startswith(".cbsync-tmp-")])

    def test_help_and_config_errors(self):
        text = self.w.ok("help", "backends").stdout
        self.assertIn("type = local", text)
        self.assertIn("create_dir", text)
        p = self.w.run("push")
        self.assertFails(p, 3, "no remotes are configured")
        p = self.w.run("push", env={"CBSYNC_REMOTE_USB_TYPE": "local"})
        self.assertFails(p, 3, 'missing required key "path"')
        p = self.w.run("push", env={"CBSYNC_REMOTE_USB_TYPE": "local",
                                    "CBSYNC_REMOTE_USB_PATH": self.mirror,
                                    "CBSYNC_REMOTE_USB_PAHT": "x"})
        self.assertFails(p, 3)


class AgentSyncTest(CbsyncTest):
    def test_agent_syncs_and_catches_up_after_an_outage(self):
        mirror = self.w.path("mirror")
        os.makedirs(mirror)
        make_db(self.w.db, rows=20)
        config = self.w.path("cbsync.conf")
        with open(config, "w") as f:
            f.write(f"""
[database]
path = {self.w.db}
[local]
dir = {self.w.backups}
[schedule]
daily = off
weekly = off
monthly = off
[watch]
quiet = 0.5s
min_interval = 1s
max_delay = 2s
# change backups go to the remote, as with increments off
[replicate]
enabled = false
[sync]
retry_min = 1s
retry_max = 2s
[remote "usb"]
type = local
path = {mirror}
""")
        agent = Agent(self, config)

        def write():
            con = sqlite3.connect(self.w.db)
            with con:
                con.execute("INSERT INTO ai_messages(content) VALUES ('x')")
            con.close()

        def remote_count():
            return len([f for f in os.listdir(mirror) if f.endswith(".db.gz")]) \
                if os.path.isdir(mirror) else -1

        write()
        agent.wait_for("remote 'usb': uploaded 1 backup")
        self.assertEqual(remote_count(), 1)
        # The remote goes away; local change backups keep being made.
        shutil.move(mirror, mirror + ".away")
        for i in range(3):
            mark = len(agent.lines)
            write()
            agent.wait_for("change backup made", after=mark)
            time.sleep(1.2)
        self.assertEqual(len([f for f in self.w.backup_files() if "_change_" in f]), 4)
        errors = [l for l in agent.lines if "does not exist (not mounted?)" in l]
        self.assertEqual(len(errors), 1, "the same failure must be logged once")
        # Back again: one sync uploads exactly the three it missed.
        mark = len(agent.lines)
        shutil.move(mirror + ".away", mirror)
        agent.wait_for("remote 'usb' is reachable again", after=mark, timeout=20)
        line = agent.wait_for("remote 'usb': uploaded", after=mark)
        self.assertIn("uploaded 3 backups", line)
        self.assertEqual(remote_count(), 4)
        st = json.loads(self.w.ok("status", "--json", "--config", config).stdout)
        remote = st["state"]["remotes"][0]
        self.assertEqual(remote["name"], "usb")
        self.assertFalse(remote["failing"])
        self.assertEqual(remote["uploaded"], 4)
        self.assertEqual(agent.stop(), 0)


if __name__ == "__main__":
    main()
