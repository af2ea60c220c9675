"""Encrypted and signed remotes, read back with Debian's age and openssl.

A remote with [encryption] recipients holds age files only: every object
cbsync wrote there decrypts with `age -d -i` to the same gzip bytes the
local tier holds, no object holds a SQLite header or gzip magic, and a
fresh machine with the identity restores the newest state -- snapshots and
increments -- from it alone.  Files `age -r` and `age -p` wrote restore
with cbsync.  A missing or wrong identity is one line naming the object
and its recipients, and nothing is installed.  Adding a recipient applies
to new objects only; old ones keep restoring with the old identity.

With [signing], the metadata going to a remote carries an Ed25519
signature that `openssl pkeyutl -verify` accepts by hand; with
verify_key, a planted backup (self-consistent, newer, unsigned) is never
restored, and metadata changed after signing is refused."""
import base64
import glob
import gzip
import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import time

from harness import (CbsyncTest, Writer, dump, integrity, main, make_db, start_cbsync,
                     write_agent_config)
from remotes import S3Case

AGE_MAGIC = b"age-encryption.org/v1\n"
WAL_MAGICS = (b"\x37\x7f\x06\x82", b"\x37\x7f\x06\x83")


def keygen(w, name):
    """A new identity file (cbsync keygen) and its recipient."""
    path = w.path(name)
    p = w.ok("keygen", "--out", path)
    return path, p.stderr.strip().splitlines()[-1].split(": ", 1)[1]


def age_decrypt(identity, data):
    return subprocess.run(["age", "-d", "-i", identity], input=data, check=True,
                          capture_output=True).stdout


def fingerprint(recipient):
    return hashlib.sha256(recipient.encode()).hexdigest()[:16]


def objects(root):
    """Every file under root, relative to it."""
    out = []
    for d, _, files in os.walk(root):
        out += [os.path.relpath(os.path.join(d, f), root) for f in files]
    return sorted(out)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def write_conf(path, text):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)
    return path


class EncryptedMirrorTest(CbsyncTest):
    def setUp(self):
        super().setUp()
        self.mirror = self.w.path("mirror")
        os.makedirs(self.mirror)
        make_db(self.w.db, rows=300)
        self.identity, self.recipient = keygen(self.w, "id.txt")

    def conf(self, recipients, identity=None, extra=""):
        text = (f"[database]\npath = {self.w.db}\n[local]\ndir = {self.w.backups}\n"
                f"[encryption]\nrecipients = {recipients}\n")
        if identity:
            text += f"identity_file = {identity}\n"
        text += extra
        text += f'[remote "mirror"]\ntype = local\npath = {self.mirror}\n'
        return write_conf(self.w.path("cbsync.conf"), text)

    def fresh(self, identity=None, extra=""):
        """A machine with only the remote and, maybe, an identity."""
        root = self.w.path("fresh")
        os.makedirs(root, exist_ok=True)
        text = f"[database]\npath = {root}/cloudbrain.db\n[local]\ndir = {root}/backups\n"
        if identity:
            text += f"[encryption]\nidentity_file = {identity}\n"
        text += extra + f'[remote "mirror"]\ntype = local\npath = {self.mirror}\n'
        return root, write_conf(os.path.join(root, "cbsync.conf"), text)

    def assertOnlyAge(self):
        """Every object is an age file or metadata; none holds plaintext."""
        names = objects(self.mirror)
        self.assertTrue(names)
        for rel in names:
            data = read(os.path.join(self.mirror, rel))
            self.assertNotIn(b"SQLite format 3\0", data, rel)
            if rel.endswith(".json"):
                self.assertIn("encryption", json.loads(data), rel)
                continue
            self.assertTrue(rel.endswith(".age"), rel)
            self.assertTrue(data.startswith(AGE_MAGIC), rel)
            self.assertNotIn(b"\x1f\x8b\x08", data[:64], rel)
        return names

    def test_agent_ships_only_age_files_that_age_and_a_fresh_machine_read(self):
        conf = write_agent_config(self.w.path("cbsync.conf"), self.w.db, self.w.backups,
                                  rebase_share="off",
                                  extra=f"[encryption]\nrecipients = {self.recipient}\n"
                                  f'[remote "mirror"]\ntype = local\npath = {self.mirror}\n')
        agent = start_cbsync(self.w.root, "agent", "--config", conf)
        self.addCleanup(lambda: agent.poll() is None and agent.kill())
        writer = Writer(self.w.db)
        try:
            deadline = time.time() + 90
            while time.time() < deadline and len(
                    glob.glob(os.path.join(self.mirror, "increments", "*", "*.wal.gz.age"))) < 4:
                time.sleep(0.3)
        finally:
            writer.stop()
        # Settled: the mirror holds every local increment (as .age).
        deadline = time.time() + 60
        while time.time() < deadline:
            here = sorted(os.path.relpath(p, self.w.backups) for p in glob.glob(
                os.path.join(self.w.backups, "increments", "*", "*.wal.gz")))
            there = sorted(os.path.relpath(p, self.mirror)[:-4] for p in glob.glob(
                os.path.join(self.mirror, "increments", "*", "*.wal.gz.age")))
            if here and set(here) <= set(there):
                time.sleep(1.5)
                break
            time.sleep(0.3)
        agent.send_signal(signal.SIGTERM)
        _, err = agent.communicate(timeout=60)
        self.assertEqual(agent.returncode, 0, err)

        names = self.assertOnlyAge()
        snapshots = [n for n in names if n.endswith(".db.gz.age")]
        incrs = [n for n in names if n.endswith(".wal.gz.age")]
        self.assertTrue(snapshots)
        self.assertGreaterEqual(len(incrs), 4)
        fpr = fingerprint(self.recipient)
        for rel in snapshots + incrs:
            sealed = read(os.path.join(self.mirror, rel))
            plain = age_decrypt(self.identity, sealed)
            meta = json.loads(read(os.path.join(self.mirror, rel[:-4] + ".json")))
            enc = meta["encryption"]
            self.assertEqual(enc["recipients"], [fpr])
            self.assertEqual(enc["object_sha256"], hashlib.sha256(sealed).hexdigest(), rel)
            self.assertEqual(enc["object_size"], len(sealed), rel)
            self.assertEqual(meta["sha256"], hashlib.sha256(plain).hexdigest(), rel)
            local = os.path.join(self.w.backups, rel[:-4])
            if os.path.exists(local):
                self.assertEqual(plain, read(local), rel)
            inner = gzip.decompress(plain)
            if rel.endswith(".wal.gz.age"):
                self.assertIn(inner[:4], WAL_MAGICS, rel)
            else:
                self.assertTrue(inner.startswith(b"SQLite format 3\0"), rel)

        # A fresh machine with the identity: the newest state, from the remote alone.
        root, fconf = self.fresh(self.identity)
        out = os.path.join(root, "latest.db")
        p = self.w.ok("restore", "--config", fconf, "--from", "mirror", "--latest", "--to", out)
        self.assertEqual(dump(out), dump(self.w.db))
        self.assertEqual(integrity(out), "ok")
        self.assertIn("age decryption", p.stdout)
        self.w.ok("verify", "--config", fconf, "--tier", "mirror")

        # Someone else's identity: one line naming the object and for whom it is.
        other, _ = keygen(self.w, "other.txt")
        root2, fconf2 = self.fresh(other)
        out2 = os.path.join(root2, "wrong.db")
        p = self.w.run("restore", "--config", fconf2, "--from", "mirror", "--latest",
                       "--to", out2)
        line = self.assertFails(p, 3, "cannot be decrypted")
        self.assertIn(fpr, line)
        self.assertIn(".db.gz", line)
        self.assertFalse(os.path.exists(out2))

    def local_objects(self):
        """The local tier's backups and increments with their metadata: what
        is not the agent's own bookkeeping (dot files, the log, its state)."""
        out = []
        for rel in objects(self.w.backups):
            if any(part.startswith(".") for part in rel.split(os.sep)):
                continue
            if rel in ("operations.log", "cbsync-agent.json"):
                continue
            out.append(rel)
        return out

    def assertLocalSealed(self):
        """Every local object is a whole age file or its metadata (which
        records it); none holds a SQLite header or gzip magic."""
        names = self.local_objects()
        for rel in names:
            data = read(os.path.join(self.w.backups, rel))
            self.assertNotIn(b"SQLite format 3\0", data, rel)
            if rel.endswith(".json"):
                meta = json.loads(data)
                sealed = os.path.join(self.w.backups, rel[:-5] + ".age")
                if os.path.exists(sealed):
                    body = read(sealed)
                    self.assertEqual(meta["encryption"]["object_sha256"],
                                     hashlib.sha256(body).hexdigest(), rel)
                continue
            self.assertTrue(rel.endswith(".age"), rel)
            self.assertTrue(data.startswith(AGE_MAGIC), rel)
            self.assertNotIn(b"\x1f\x8b\x08", data[:64], rel)
            plain = age_decrypt(self.identity, data)   # whole: every chunk's tag
            inner = gzip.decompress(plain)
            if rel.endswith(".wal.gz.age"):
                self.assertIn(inner[:4], WAL_MAGICS, rel)
            else:
                self.assertTrue(inner.startswith(b"SQLite format 3\0"), rel)
        return names

    def test_encrypted_local_tier_survives_kill_9_and_holds_no_plaintext(self):
        """[local] encrypt: the agent's snapshots and increments are age files
        in the backup directory itself, written atomically -- after each of
        several kill -9s every one there is whole -- and go to the mirror
        as they are.  With the identity the local tier restores the newest
        state; without it, verify checks each object against its metadata
        and a restore is one line, exit 3."""
        conf = write_agent_config(
            self.w.path("cbsync.conf"), self.w.db, self.w.backups, rebase_share="off",
            extra=f"[encryption]\nrecipients = {self.recipient}\n"
            f'[remote "mirror"]\ntype = local\npath = {self.mirror}\n')
        with open(conf) as f:
            text = f.read()
        write_conf(conf, text.replace("[local]\n", "[local]\nencrypt = true\n"))
        rng = random.Random(int(os.environ.get("CBSYNC_KILL_SEED", "11")))
        db_dir = os.path.dirname(self.w.db)
        before = set(os.listdir(db_dir))
        writer = Writer(self.w.db)
        try:
            for _ in range(6):
                agent = start_cbsync(self.w.root, "agent", "--config", conf,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(rng.uniform(0.5, 2.5))
                agent.send_signal(signal.SIGKILL)
                agent.wait()
                self.assertLocalSealed()
            agent = start_cbsync(self.w.root, "agent", "--config", conf)
            self.addCleanup(lambda: agent.poll() is None and agent.kill())
            deadline = time.time() + 90
            while time.time() < deadline and len(glob.glob(os.path.join(
                    self.w.backups, "increments", "*", "*.wal.gz.age"))) < 6:
                time.sleep(0.3)
        finally:
            writer.stop()
        # Settled: the mirror holds the local objects byte for byte.
        deadline = time.time() + 60
        while time.time() < deadline:
            here = [n for n in self.local_objects() if n.endswith(".age")]
            if here and all(os.path.exists(os.path.join(self.mirror, n)) for n in here):
                time.sleep(1.5)
                break
            time.sleep(0.3)
        agent.send_signal(signal.SIGTERM)
        _, err = agent.communicate(timeout=60)
        self.assertEqual(agent.returncode, 0, err)

        names = self.assertLocalSealed()
        self.assertGreaterEqual(len([n for n in names if n.endswith(".wal.gz.age")]), 6)
        for rel in names:
            if rel.endswith(".age"):
                self.assertEqual(read(os.path.join(self.mirror, rel)),
                                 read(os.path.join(self.w.backups, rel)), rel)
        self.assertOnlyAge()
        # The plaintext went through unnamed scratch files only.
        left = set(os.listdir(db_dir)) - before - {os.path.basename(self.w.backups)}
        self.assertEqual(sorted(left - {os.path.basename(self.w.db) + s
                                        for s in ("-wal", "-shm")}), [])

        # No identity here: verify checks the objects (listed or named); a
        # restore is one line.
        p = self.w.ok("verify", "--config", conf)
        self.assertIn("not decrypted: no identity here", p.stdout)
        newest = sorted(n for n in names if n.endswith(".db.gz.age"))[-1]
        p = self.w.ok("verify", "--config", conf, newest[:-4])
        self.assertIn("not decrypted: no identity here", p.stdout)
        # A sealed backup without metadata cannot go up; the rest of the push does.
        stem = newest.split("_change_")[0]
        stray = os.path.join(self.w.backups, f"{stem}_manual_20250101_000000.db.gz.age")
        shutil.copy(os.path.join(self.w.backups, newest), stray)
        p = self.w.ok("push", "--config", conf)
        self.assertIn("1 encrypted local backup without metadata not uploaded", p.stdout)
        self.assertFalse(os.path.exists(os.path.join(self.mirror, os.path.basename(stray))))
        os.unlink(stray)
        out = self.w.path("none.db")
        p = self.w.run("restore", "--config", conf, "--latest", "--to", out)
        self.assertIn(fingerprint(self.recipient), self.assertFails(p, 3, "no key to decrypt"))
        self.assertFalse(os.path.exists(out))
        victim = os.path.join(self.w.backups, sorted(
            n for n in names if n.endswith(".db.gz.age"))[-1])
        saved = read(victim)
        with open(victim, "r+b") as f:
            f.seek(len(saved) // 2)
            f.write(b"\0" * 8)
        p = self.w.run("verify", "--config", conf)
        self.assertEqual(p.returncode, 5, p.stdout + p.stderr)
        self.assertIn("does not match its metadata", p.stdout)
        with open(victim, "wb") as f:
            f.write(saved)

        # With the identity: the newest state from the local tier, and from
        # the mirror on a fresh machine.
        with open(conf) as f:
            text = f.read()
        write_conf(conf, text.replace("[encryption]\n",
                                      f"[encryption]\nidentity_file = {self.identity}\n"))
        out = self.w.path("local.db")
        p = self.w.ok("restore", "--config", conf, "--from", "local", "--latest", "--to", out)
        self.assertIn("age decryption", p.stdout)
        self.assertEqual(dump(out), dump(self.w.db))
        p = self.w.ok("verify", "--config", conf)
        steps = [int(m) for m in re.findall(r"\+ (\d+) increments?", p.stdout)]
        self.assertTrue(steps and max(steps) >= 1, p.stdout)
        root, fconf = self.fresh(self.identity)
        out = os.path.join(root, "latest.db")
        self.w.ok("restore", "--config", fconf, "--from", "mirror", "--latest", "--to", out)
        self.assertEqual(dump(out), dump(self.w.db))

        # Over the live database: its restore point is sealed too.
        p = self.w.ok("restore", "--config", conf, "--from", "local", "--latest")
        point = [ln.split(": ", 1)[1].strip() for ln in p.stdout.splitlines()
                 if ln.strip().startswith("Restore point:")]
        self.assertEqual(len(point), 1, p.stdout)
        self.assertTrue(point[0].endswith(".db.gz.age"), point)
        self.assertLocalSealed()

        # Turned off: the next backup is plain again, and both kinds list.
        write_conf(conf, text.replace("encrypt = true\n", ""))
        plain = self.w.backup("--config", conf)
        self.assertFalse(plain.endswith(".age"))
        kinds = {b["encrypted"] for b in self.w.list_json("--config", conf)}
        self.assertEqual(kinds, {True, False})

    def test_missing_identity_and_key_rotation(self):
        conf = self.conf(self.recipient)
        self.w.backup()
        self.w.ok("push", "--config", conf)
        old = [n for n in objects(self.mirror) if n.endswith(".age")]
        self.assertEqual(len(old), 1)
        time.sleep(1.1)
        # A second recipient: new objects are for both, old ones unchanged.
        identity_b, recipient_b = keygen(self.w, "b.txt")
        conf = self.conf(f"{self.recipient}, {recipient_b}")
        self.w.backup("--config", conf)
        self.w.ok("push", "--config", conf)
        self.assertOnlyAge()
        ages = [n for n in objects(self.mirror) if n.endswith(".age")]
        self.assertEqual(len(ages), 2)
        new = [n for n in ages if n not in old]
        meta_old = json.loads(read(os.path.join(self.mirror, old[0][:-4] + ".json")))
        meta_new = json.loads(read(os.path.join(self.mirror, new[0][:-4] + ".json")))
        self.assertEqual(meta_old["encryption"]["recipients"], [fingerprint(self.recipient)])
        self.assertEqual(sorted(meta_new["encryption"]["recipients"]),
                         sorted([fingerprint(self.recipient), fingerprint(recipient_b)]))
        # age reads the new one with either identity, the old one with A only.
        for ident in (self.identity, identity_b):
            age_decrypt(ident, read(os.path.join(self.mirror, new[0])))
        self.assertNotEqual(subprocess.run(
            ["age", "-d", "-i", identity_b, os.path.join(self.mirror, old[0])],
            capture_output=True).returncode, 0)

        # No identity at all: verify checks each object against its
        # metadata without decrypting; a restore is one line, exit 3.
        root, fconf = self.fresh()
        p = self.w.ok("verify", "--config", fconf, "--tier", "mirror", "--all")
        self.assertEqual(p.stdout.count("not decrypted: no identity here"), 2, p.stdout)
        victim = os.path.join(self.mirror, old[0])
        saved = read(victim)
        with open(victim, "r+b") as f:
            f.seek(len(saved) - 100)
            f.write(b"\0" * 8)
        p = self.w.run("verify", "--config", fconf, "--tier", "mirror", "--all")
        self.assertEqual(p.returncode, 5, p.stdout + p.stderr)
        self.assertIn("SHA-256 or size is not what its metadata says", p.stdout)
        with open(victim, "wb") as f:
            f.write(saved)
        out = os.path.join(root, "none.db")
        p = self.w.run("restore", "--config", fconf, "--from", "mirror", "--name",
                       os.path.basename(old[0])[:-4], "--to", out)
        line = self.assertFails(p, 3, "no key to decrypt it")
        self.assertIn(fingerprint(self.recipient), line)
        self.assertFalse(os.path.exists(out))
        # B restores the new one; the old one needs A, and says so.
        shutil.rmtree(root)
        root, fconf = self.fresh(identity_b)
        out = os.path.join(root, "b.db")
        self.w.ok("restore", "--config", fconf, "--from", "mirror", "--name",
                  os.path.basename(new[0])[:-4], "--to", out)
        self.assertEqual(integrity(out), "ok")
        p = self.w.run("restore", "--config", fconf, "--from", "mirror", "--name",
                       os.path.basename(old[0])[:-4], "--to", out + "2")
        self.assertIn(fingerprint(self.recipient), self.assertFails(p, 3))
        self.assertFalse(os.path.exists(out + "2"))
        shutil.rmtree(root)
        root, fconf = self.fresh(self.identity)
        self.w.ok("restore", "--config", fconf, "--from", "mirror", "--name",
                  os.path.basename(old[0])[:-4], "--to", os.path.join(root, "a.db"))

    def test_turning_encryption_on_leaves_one_object_per_name(self):
        """A remote that held a plain copy only in part gets the age file and
        loses the plain one; a plain copy left beside an age file (a push
        cut short between the two) is finished by the next push."""
        conf = self.conf(self.recipient, extra="")
        with open(conf) as f:
            text = f.read()
        write_conf(conf, text.replace("type = local\n", "type = local\nencrypt = false\n"))
        src = self.w.backup("--config", conf)
        name = os.path.basename(src)
        self.w.ok("push", "--config", conf)
        self.assertEqual(objects(self.mirror), [name, name + ".json"])
        os.unlink(os.path.join(self.mirror, name + ".json"))
        conf = self.conf(self.recipient)
        self.w.ok("push", "--config", conf)
        self.assertEqual(objects(self.mirror), [name + ".age", name + ".json"])
        self.assertOnlyAge()
        # Both at once, as a crash between the two would leave them.
        shutil.copy(src, os.path.join(self.mirror, name))
        self.w.ok("push", "--config", conf)
        self.assertEqual(objects(self.mirror), [name + ".age", name + ".json"])
        root, fconf = self.fresh(self.identity)
        out = os.path.join(root, "r.db")
        self.w.ok("restore", "--config", fconf, "--from", "mirror", "--latest", "--to", out)
        self.assertEqual(dump(out), dump(self.w.db))

    def test_files_age_wrote_restore(self):
        """A gzip backup encrypted by age -r, and by age -p, put on the remote
        by hand under a backup's name: cbsync restores both."""
        src = self.w.backup()
        name = os.path.basename(src)
        with_r = os.path.join(self.mirror, name + ".age")
        subprocess.run(["age", "-r", self.recipient, "-o", with_r, src], check=True)
        root, fconf = self.fresh(self.identity)
        out = os.path.join(root, "r.db")
        self.w.ok("restore", "--config", fconf, "--from", "mirror", "--name", name, "--to", out)
        self.assertEqual(dump(out), dump(self.w.db))
        os.unlink(with_r)
        # age -p reads the passphrase from the terminal: script(1) gives it one.
        with_p = os.path.join(self.mirror, name + ".age")
        subprocess.run(["script", "-qec", f"age -p -o {with_p} {src}", "/dev/null"],
                       input=b"correct horse battery\ncorrect horse battery\n", check=True,
                       capture_output=True, timeout=60)
        self.assertTrue(read(with_p).startswith(AGE_MAGIC + b"-> scrypt "))
        shutil.rmtree(root)
        root, _ = self.fresh()
        secret = os.path.join(root, "pass.txt")
        with open(secret, "w") as f:
            f.write("correct horse battery\n")
        os.chmod(secret, 0o600)
        _, fconf = self.fresh(extra=f"[encryption]\npassphrase_file = {secret}\n")
        out = os.path.join(root, "p.db")
        self.w.ok("restore", "--config", fconf, "--from", "mirror", "--name", name, "--to", out)
        self.assertEqual(dump(out), dump(self.w.db))
        with open(secret, "w") as f:
            f.write("wrong horse\n")
        p = self.w.run("restore", "--config", fconf, "--from", "mirror", "--name", name,
                       "--to", out + "2")
        self.assertFails(p, 3, "cannot be decrypted")
        self.assertFalse(os.path.exists(out + "2"))

    def test_age_files_restore_and_verify_by_path(self):
        """restore --path and verify FILE read age files (binary and armored)
        with the configured identity; without one, one line and exit 3."""
        src = self.w.backup()
        _, with_id = self.fresh(self.identity)
        os.rename(with_id, self.w.path("with-id.conf"))
        with_id = self.w.path("with-id.conf")
        _, plain_conf = self.fresh()
        for armor in ([], ["-a"]):
            sealed = self.w.path("by-hand" + ("-armored" if armor else "") + ".db.gz.age")
            subprocess.run(["age", "-r", self.recipient] + armor + ["-o", sealed, src],
                           check=True)
            out = self.w.path("from-path%d.db" % len(armor))
            p = self.w.ok("restore", "--config", with_id, "--path", sealed, "--to", out)
            self.assertEqual(dump(out), dump(self.w.db))
            self.assertIn("Checked:         age decryption", p.stdout)
            p = self.w.ok("verify", "--config", with_id, sealed)
            self.assertIn("ok ", p.stdout)
            p = self.w.run("restore", "--config", plain_conf, "--path", sealed, "--to",
                           out + "-none")
            self.assertFails(p, 3, "age file")
            self.assertFalse(os.path.exists(out + "-none"))
        p = self.w.ok("restore", "--config", with_id, "--path", src, "--to",
                      self.w.path("plain.db"))
        self.assertNotIn("age decryption", p.stdout)
        # Damaged: refused as corrupt, nothing installed.
        data = bytearray(read(sealed))
        data[-40] ^= 1
        with open(sealed, "wb") as f:
            f.write(data)
        p = self.w.run("restore", "--config", with_id, "--path", sealed, "--to",
                       self.w.path("bad.db"))
        self.assertFails(p, 5)
        self.assertFalse(os.path.exists(self.w.path("bad.db")))

    def test_secrets_stay_out_of_the_config_file(self):
        with open(self.identity) as f:
            secret = f.read().splitlines()[-1]
        conf = write_conf(self.w.path("bad.conf"),
                          f"[encryption]\nrecipients = {self.recipient}\nidentity = {secret}\n")
        p = self.w.run("config", "check", "--config", conf)
        self.assertFails(p, 3, "identity_file")
        self.assertNotIn(secret, p.stderr + p.stdout)
        conf = write_conf(self.w.path("bad2.conf"),
                          "[encryption]\nrecipients = age1notakey\n")
        self.assertFails(self.w.run("config", "check", "--config", conf), 3, "age1notakey")
        conf = write_conf(self.w.path("bad3.conf"),
                          f'[remote "m"]\ntype = local\npath = {self.mirror}\nencrypt = true\n')
        self.assertFails(self.w.run("config", "check", "--config", conf), 3,
                         "no recipients")
        conf = write_conf(self.w.path("bad4.conf"), "[local]\nencrypt = true\n")
        line = self.assertFails(self.w.run("config", "check", "--config", conf), 3,
                                "[local] encrypt = true, but [encryption] has no recipients")
        self.assertIn("bad4.conf:2", line)
        # The environment is a place for the identity, and it is never printed.
        conf = write_conf(self.w.path("ok.conf"),
                          f"[encryption]\nrecipients = {self.recipient}\n")
        p = self.w.ok("config", "check", "--config", conf,
                      env={"CBSYNC_ENCRYPTION_IDENTITY": secret})
        self.assertNotIn(secret, p.stdout)
        self.assertIn("identity = ********", p.stdout)


class SignedMirrorTest(CbsyncTest):
    def setUp(self):
        super().setUp()
        self.mirror = self.w.path("mirror")
        os.makedirs(self.mirror)
        make_db(self.w.db, rows=300)
        self.key = self.w.path("sign.pem")
        p = self.w.ok("keygen", "--signing", "--out", self.key)
        self.verify_key = p.stderr.strip().splitlines()[-1].split(": ", 1)[1]

    def conf(self, path, sign=True, verify=True):
        text = (f"[database]\npath = {self.w.db}\n[local]\ndir = {self.w.backups}\n"
                "[signing]\n")
        if sign:
            text += f"key_file = {self.key}\n"
        if verify:
            text += f"verify_key = {self.verify_key}\n"
        text += f'[remote "mirror"]\ntype = local\npath = {self.mirror}\n'
        return write_conf(path, text)

    def plant(self, name, db_rows):
        """A self-consistent backup someone with write access put there:
        gzip of another database and metadata that matches it, unsigned."""
        evil = self.w.path("evil.db")
        make_db(evil, rows=db_rows, journal="delete")
        raw = read(evil)
        gz = gzip.compress(raw)
        with open(os.path.join(self.mirror, name), "wb") as f:
            f.write(gz)
        genuine = sorted(glob.glob(os.path.join(self.mirror, "*.db.gz.json")))[0]
        meta = json.loads(read(genuine))
        stamp = name[len("cloudbrain_manual_"):-len(".db.gz")]
        meta.update(name=name, created=f"{stamp[0:4]}-{stamp[4:6]}-{stamp[6:8]}T"
                    f"{stamp[9:11]}:{stamp[11:13]}:{stamp[13:15]}Z",
                    original_size=len(raw), compressed_size=len(gz),
                    sha256=hashlib.sha256(gz).hexdigest(), page_count=len(raw) // 4096)
        for k in ("signature", "state_time", "state_checksum"):
            meta.pop(k, None)
        with open(os.path.join(self.mirror, name + ".json"), "w") as f:
            json.dump(meta, f, indent=2)

    def test_signatures_check_by_hand_and_planted_backups_are_refused(self):
        conf = self.conf(self.w.path("cbsync.conf"))
        self.w.backup("--config", conf)
        self.w.ok("push", "--config", conf)
        metas = glob.glob(os.path.join(self.mirror, "*.db.gz.json"))
        self.assertEqual(len(metas), 1)
        meta = json.loads(read(metas[0]))
        sig = meta["signature"]
        # By hand, as the README says: openssl checks the signed text, and
        # the signed text is the document itself without its signature.
        with open(self.w.path("msg"), "w") as f:
            f.write(sig["signed"])
        with open(self.w.path("sig"), "wb") as f:
            f.write(base64.b64decode(sig["ed25519"]))
        p = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey",
                            self.key + ".pub", "-rawin", "-in", self.w.path("msg"),
                            "-sigfile", self.w.path("sig")], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("Signature Verified Successfully", p.stdout)
        body = dict(meta)
        del body["signature"]
        self.assertEqual(json.loads(sig["signed"]), body)

        # Planted: newer than the genuine one, self-consistent, unsigned.
        genuine = os.path.basename(metas[0])[:-len(".json")]
        planted = time.strftime("cloudbrain_manual_%Y%m%d_%H%M%S.db.gz",
                                time.gmtime(time.time() + 2))
        time.sleep(3)
        self.plant(planted, 50)
        root = self.w.path("fresh")
        os.makedirs(root)
        fresh = self.conf(os.path.join(root, "cbsync.conf"), sign=False)
        with open(fresh) as f:
            text = f.read().replace(self.w.db, os.path.join(root, "cloudbrain.db")).replace(
                self.w.backups, os.path.join(root, "backups"))
        write_conf(fresh, text)
        out = os.path.join(root, "latest.db")
        p = self.w.run("restore", "--config", fresh, "--from", "mirror", "--latest",
                       "--to", out)
        line = self.assertFails(p, 5, planted)
        self.assertIn("no signature", line)
        self.assertFalse(os.path.exists(out))
        # --fallback passes over it to the newest genuine backup.
        p = self.w.ok("restore", "--config", fresh, "--from", "mirror", "--latest",
                      "--fallback", "--to", out)
        self.assertIn(genuine, p.stdout)
        self.assertEqual(dump(out), dump(self.w.db))
        # Without verify_key, the planted one would have won.
        nov = self.conf(self.w.path("noverify.conf"), sign=False, verify=False)
        p = self.w.ok("restore", "--config", nov, "--from", "mirror", "--latest", "--to",
                      self.w.path("planted.db"))
        self.assertIn(planted, p.stdout)

        # Signed metadata changed afterwards (its sha256 swapped) is refused.
        os.unlink(os.path.join(self.mirror, planted))
        os.unlink(os.path.join(self.mirror, planted + ".json"))
        meta["sha256"] = "0" * 64
        with open(metas[0], "w") as f:
            json.dump(meta, f, indent=2)
        p = self.w.run("restore", "--config", fresh, "--from", "mirror", "--latest",
                       "--to", out + "2")
        self.assertIn("changed after it was signed", self.assertFails(p, 5))
        self.assertFalse(os.path.exists(out + "2"))


class EncryptedS3Test(S3Case):
    def test_bucket_holds_no_plaintext_and_restores_with_the_identity(self):
        make_db(self.w.db, rows=400)
        identity, recipient = keygen(self.w, "id.txt")
        conf = write_conf(self.w.path("cbsync.conf"),
                          f"[database]\npath = {self.w.db}\n[local]\ndir = {self.w.backups}\n"
                          f"[encryption]\nrecipients = {recipient}\n")
        env = self.env()
        self.w.ok("backup", "--config", conf, env=env)
        self.w.ok("push", "--config", conf, env=env)
        keys = self.keys()
        self.assertEqual(len(keys), 2, keys)
        client = self.s3.client()
        for key in keys:
            body = client.get_object(Bucket=self.BUCKET,
                                     Key=f"{self.prefix}/{key}")["Body"].read()
            self.assertNotIn(b"SQLite format 3\0", body, key)
            if key.endswith(".age"):
                self.assertTrue(body.startswith(AGE_MAGIC), key)
                self.assertTrue(gzip.decompress(age_decrypt(identity, body)).startswith(
                    b"SQLite format 3\0"))
            else:
                self.assertTrue(key.endswith(".db.gz.json"), key)
        root = self.w.path("fresh")
        os.makedirs(root)
        fresh = write_conf(os.path.join(root, "cbsync.conf"),
                           f"[database]\npath = {root}/cloudbrain.db\n"
                           f"[local]\ndir = {root}/backups\n"
                           f"[encryption]\nidentity_file = {identity}\n")
        out = os.path.join(root, "r.db")
        self.w.ok("restore", "--config", fresh, "--from", "offsite", "--latest", "--to", out,
                  env=env)
        self.assertEqual(dump(out), dump(self.w.db))


if __name__ == "__main__":
    main()
