"""cbsync against a real OpenSSH sshd whose remote directory holds files
with names no tool of ours would make: a newline inside (one of them so the
text before the newline reads as the newest backup), a trailing newline, a
leading newline, blanks, escape sequences, bytes that are not ASCII, very
long names, and a directory with a newline in its name.

libcurl hands an SFTP listing over as the server's "ls -l" lines, one per
entry, so a newline in a name splits its entry over two lines.  list, push
and restore must all work as if those files were not there, and leave them
exactly as they were.

(Not covered, on purpose: a name made to hold a newline and then a whole
forged "ls -l" line shows up as two entries that are not there -- but whoever
can name files in the directory can create those files as well.)
"""
import json
import os

from harness import db_rows, integrity, main, make_db, read_bytes
from remotes import SftpCase

# name -> content.  Each is something another user could leave in the
# directory; none may become (part of) a backup cbsync lists or restores.
FOREIGN = {
    "bad\nname_daily_20200101_000000.db.gz": b"newline inside",
    # The text before the newline reads as the newest backup of all.
    "cloudbrain_daily_20990101_000000.db.gz\nnot really": b"phantom",
    "cloudbrain_daily_20980101_000000.db.gz\n": b"trailing newline",
    "\ncloudbrain_daily_20970101_000000.db.gz": b"leading newline",
    "with space_daily_20200101_000000.db.gz": b"space",
    " cloudbrain_daily_20950101_000000.db.gz": b"leading space",
    "cloudbrain_daily_20940101_000000.db.gz ": b"trailing space",
    "\x1b[31mred\x1b[0m_daily_20200101_000000.db.gz": b"escape sequence",
    "tab\there.db.gz": b"tab",
    "cr\r.db.gz": b"carriage return",
    "caf\u00e9_daily_20200101_000000.db.gz": b"not ASCII",
    "x" * 255: b"longest name",
    "\u00e9" * 127: b"longest name, not ASCII",
}
ODD_DIR = "dir\nwith newline"


class OddNamesTest(SftpCase):
    def snapshot(self, d):
        """Every file below d (relative path -> bytes)."""
        out = {}
        for top, _, files in os.walk(d):
            for f in files:
                p = os.path.join(top, f)
                out[os.path.relpath(p, d)] = read_bytes(p)
        return out

    def test_list_push_and_restore_ignore_files_with_odd_names(self):
        rel = "odd/cloudbrain"
        remote = os.path.join(self.ssh.root, rel)
        os.makedirs(os.path.join(remote, ODD_DIR))
        for name, data in FOREIGN.items():
            with open(os.path.join(remote, name), "wb") as f:
                f.write(data)
        with open(os.path.join(remote, ODD_DIR, "cloudbrain_daily_20200101_000000.db.gz"),
                  "wb") as f:
            f.write(b"in an odd directory")
        before = self.snapshot(remote)
        env = self.env(rel)

        make_db(self.w.db, rows=120)
        name = os.path.basename(self.w.backup("--no-sync"))

        p = self.w.run("push", env=env)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("remote 'off': uploaded 1 backup", p.stdout)
        self.assertEqual(read_bytes(os.path.join(remote, name)),
                         read_bytes(os.path.join(self.w.backups, name)))

        p = self.w.run("list", "--tier", "off", "--json", env=env)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        listed = json.loads(p.stdout)
        self.assertEqual([b["name"] for b in listed], [name], p.stdout)
        p = self.w.run("list", "--tier", "off", env=env)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn(name, p.stdout)
        self.assertNotIn("2099", p.stdout)
        self.assertNotIn("\x1b", p.stdout + p.stderr)

        target = self.w.path("restored.db")
        p = self.w.run("restore", "--from", "off", "--latest", "--to", target, env=env)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn(f"Restored {name} from remote 'off'", p.stdout)
        self.assertEqual(integrity(target), "ok")
        self.assertEqual(db_rows(target), 120)

        # The foreign files are exactly as they were; only cbsync's own
        # backup and its metadata were added.
        after = self.snapshot(remote)
        self.assertEqual(sorted(set(after) - set(before)), sorted([name, name + ".json"]))
        self.assertEqual({k: after[k] for k in before}, before)


if __name__ == "__main__":
    main()
