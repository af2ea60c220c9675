"""cbsync's command line: help, version, usage errors and exit codes."""
import re

from harness import CbsyncTest, main

VERBS = ["backup", "list", "stats", "restore", "prune", "verify", "keygen", "version", "help"]


class CliTest(CbsyncTest):
    def test_version(self):
        p = self.w.ok("version")
        self.assertRegex(p.stdout, r"^cbsync \d+\.\d+\.\d+ \(SQLite 3\.\d+\.\d+, zlib [\d.]+\)\n$")

    def test_help_lists_every_verb(self):
        p = self.w.ok("help")
        for verb in VERBS:
            self.assertRegex(p.stdout, rf"\n  {verb} +\w")
        self.assertEqual(self.w.ok("--help").stdout, p.stdout)

    def test_every_verb_has_help(self):
        for verb in VERBS:
            with self.subTest(verb=verb):
                a = self.w.ok(verb, "--help").stdout
                b = self.w.ok("help", verb).stdout
                c = self.w.ok(verb, "-h").stdout
                self.assertEqual(a, b)
                self.assertEqual(a, c)
                self.assertTrue(a.startswith(f"usage: cbsync {verb}"), a)

    def test_no_verb_is_a_usage_error(self):
        p = self.w.run()
        self.assertEqual(p.returncode, 2)
        self.assertIn("usage: cbsync VERB", p.stdout)

    def test_usage_errors(self):
        self.assertFails(self.w.run("bakup"), 2, "unknown command 'bakup'")
        self.assertFails(self.w.run("help", "bakup"), 2, "unknown command 'bakup'")
        self.assertFails(self.w.run("list", "-x"), 2, "unknown option '-x'")
        self.assertFails(self.w.run("list", "--json=yes"), 2, "takes no value")
        self.assertFails(self.w.run("--path", "x", "list"), 2, "does not apply to 'list'")

    def test_options_before_the_verb(self):
        p = self.w.ok("--dir", self.w.path("d"), "list")
        self.assertIn("No backups found in " + self.w.path("d"), p.stdout)
        p = self.w.ok("list", "--dir=" + self.w.path("d"))
        self.assertIn("No backups found in " + self.w.path("d"), p.stdout)

    def test_double_dash_ends_options(self):
        p = self.w.run("verify", "--", "--not-an-option.db.gz")
        self.assertFails(p, 4)
        self.assertIn("Backup not found: --not-an-option.db.gz", p.stdout)


if __name__ == "__main__":
    main()
