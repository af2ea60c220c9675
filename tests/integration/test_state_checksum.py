"""The state checksum a backup's metadata records (issue 12): the checksum of
the whole database state it holds, the one an increment chain starts from.

It is worked out here independently, from its definition: the XOR over every
page of the first 8 bytes (big-endian) of SHA-256(page number as 4 bytes
big-endian, then the page), the lock-byte page counting as 0.  verify and
restore check it, so metadata and data that disagree are refused."""
import gzip
import hashlib
import json
import os
import sqlite3
import struct

from harness import CbsyncTest, Writer, integrity, main, make_db, sha256_file


def state_checksum(image, page_size):
    lock_page = (1 << 30) // page_size + 1
    total = 0
    for i in range(len(image) // page_size):
        pgno = i + 1
        if pgno == lock_page:
            continue
        digest = hashlib.sha256(struct.pack(">I", pgno) +
                                image[i * page_size:(i + 1) * page_size]).digest()
        total ^= struct.unpack(">Q", digest[:8])[0]
    return "%016x" % total


class StateChecksumTest(CbsyncTest):
    def check_backup(self, path):
        with open(path + ".json") as f:
            meta = json.load(f)
        with gzip.open(path) as f:
            image = f.read()
        self.assertEqual(meta["state_checksum"], state_checksum(image, meta["page_size"]))
        self.assertEqual(list(meta)[-2:], ["tool", "version"])
        return meta

    def test_recorded_and_checked(self):
        for page_size in (512, 4096, 65536):
            with self.subTest(page_size=page_size):
                make_db(self.w.db, rows=300, page_size=page_size)
                path = self.w.backup("--type", "manual")
                self.check_backup(path)
                self.w.ok("verify", os.path.basename(path))
                os.remove(path)
                os.remove(path + ".json")
                os.remove(self.w.db)

    def test_under_a_writer(self):
        make_db(self.w.db, rows=2000)
        writer = Writer(self.w.db)
        try:
            paths = [self.w.backup("--type", "manual") for _ in range(3)]
        finally:
            writer.stop()
        for p in paths:
            self.check_backup(p)
        self.w.ok("verify")

    def test_metadata_that_disagrees_is_refused(self):
        make_db(self.w.db, rows=300)
        path = self.w.backup("--type", "manual")
        with open(path + ".json") as f:
            meta = json.load(f)
        good = meta["state_checksum"]
        meta["state_checksum"] = "%016x" % (int(good, 16) ^ 1)
        with open(path + ".json", "w") as f:
            json.dump(meta, f, indent=2)
        name = os.path.basename(path)
        p = self.w.run("verify", name)
        self.assertEqual(p.returncode, 5, p.stderr)
        self.assertIn("state checksum", p.stdout + p.stderr)
        self.assertIn(good, p.stdout + p.stderr)

        # restore refuses it too, and leaves the database as it was
        before = sha256_file(self.w.db)
        p = self.w.run("restore", "--path", name)
        self.assertFails(p, 5, "state checksum")
        self.assertEqual(sha256_file(self.w.db), before)
        self.assertEqual(integrity(self.w.db), "ok")
        self.assertNoTempFiles()

    def test_malformed_checksum_is_refused(self):
        make_db(self.w.db, rows=50)
        path = self.w.backup("--type", "manual")
        with open(path + ".json") as f:
            meta = json.load(f)
        meta["state_checksum"] = meta["state_checksum"].upper()
        with open(path + ".json", "w") as f:
            json.dump(meta, f)
        p = self.w.run("verify", os.path.basename(path))
        self.assertEqual(p.returncode, 5, p.stderr)
        self.assertIn("state_checksum", p.stdout + p.stderr)

    def test_backups_without_one_still_verify(self):
        """The seed's backups and cbsync's older ones carry no checksum."""
        make_db(self.w.db, rows=50)
        path = self.w.backup("--type", "manual")
        with open(path + ".json") as f:
            meta = json.load(f)
        del meta["state_checksum"]
        with open(path + ".json", "w") as f:
            json.dump(meta, f)
        self.w.ok("verify", os.path.basename(path))
        os.remove(path + ".json")
        self.w.ok("verify", os.path.basename(path))


if __name__ == "__main__":
    main()
