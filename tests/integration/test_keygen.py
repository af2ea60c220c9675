"""cbsync keygen: an age identity that Debian's age reads as its own.

The file cbsync writes is checked by age-keygen (-y gives the same public
key cbsync printed) and used by age: data encrypted with `age -r` to the
printed recipient decrypts with `age -d -i` and the file.  Bad targets
fail with one line and leave what was there."""
import os
import re
import stat
import subprocess

from harness import CbsyncTest, main

RECIPIENT = re.compile(r"^age1[02-9ac-hj-np-z]{58}$")
IDENTITY = re.compile(r"^AGE-SECRET-KEY-1[02-9AC-HJ-NP-Z]{58}$")


class KeygenTest(CbsyncTest):
    def recipient_of(self, p):
        lines = p.stderr.strip().splitlines()
        self.assertTrue(lines and lines[-1].startswith("Public key: "), p.stderr)
        recipient = lines[-1][len("Public key: "):]
        self.assertRegex(recipient, RECIPIENT)
        return recipient

    def check_identity_text(self, text, recipient):
        lines = text.splitlines()
        self.assertEqual(len(lines), 3, text)
        self.assertRegex(lines[0], r"^# created: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertEqual(lines[1], "# public key: " + recipient)
        self.assertRegex(lines[2], IDENTITY)

    def age_round_trip(self, identity_file, recipient):
        plain = self.w.path("plain.bin")
        with open(plain, "wb") as f:
            f.write(os.urandom(70000) + b"SQLite format 3\0")
        sealed = self.w.path("sealed.age")
        subprocess.run(["age", "-r", recipient, "-o", sealed, plain], check=True)
        back = subprocess.run(["age", "-d", "-i", identity_file, sealed], check=True,
                              capture_output=True).stdout
        with open(plain, "rb") as f:
            self.assertEqual(back, f.read())
        for p in (plain, sealed):
            os.unlink(p)

    def test_identity_file_works_with_age(self):
        key = self.w.path("keys", "backup.key")
        os.makedirs(os.path.dirname(key))
        p = self.w.ok("keygen", "--out", key)
        self.assertEqual(p.stdout, "")
        recipient = self.recipient_of(p)
        self.assertEqual(stat.S_IMODE(os.stat(key).st_mode), 0o600)
        with open(key) as f:
            self.check_identity_text(f.read(), recipient)
        # age's own reading of the file: the same recipient.
        y = subprocess.run(["age-keygen", "-y", key], check=True, capture_output=True,
                           text=True).stdout.strip()
        self.assertEqual(y, recipient)
        self.age_round_trip(key, recipient)
        # Nothing but the key was left in the directory.
        self.assertEqual(os.listdir(os.path.dirname(key)), ["backup.key"])

    def test_identity_on_standard_output(self):
        p = self.w.ok("keygen")
        recipient = self.recipient_of(p)
        self.check_identity_text(p.stdout, recipient)
        key = self.w.path("from-stdout.key")
        with open(key, "w") as f:
            f.write(p.stdout)
        self.age_round_trip(key, recipient)
        # Two runs, two different identities.
        self.assertNotEqual(self.recipient_of(self.w.ok("keygen")), recipient)

    def test_bad_targets(self):
        key = self.w.path("existing.key")
        with open(key, "w") as f:
            f.write("keep me\n")
        self.assertFails(self.w.run("keygen", "--out", key), 2,
                         f"refusing to overwrite '{key}'")
        with open(key) as f:
            self.assertEqual(f.read(), "keep me\n")
        missing = self.w.path("no-such-dir", "k.key")
        p = self.w.run("keygen", "--out", missing)
        self.assertEqual(p.returncode, 4, p.stderr)   # not found: the directory
        self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
        self.assertIn("no-such-dir", p.stderr)
        self.assertFalse(os.path.exists(os.path.dirname(missing)))
        self.assertFails(self.w.run("keygen", "--tier", "local"), 2,
                         "does not apply to 'keygen'")
        self.assertFails(self.w.run("keygen", "extra"), 2, "unexpected argument 'extra'")


if __name__ == "__main__":
    main()
