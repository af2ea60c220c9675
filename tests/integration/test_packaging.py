"""Packaging: the .deb, the systemd unit, the man page, the example
configuration, the container entrypoint, and the Docker and Kubernetes
examples.

Docker cannot run on the test machines, so the image itself is never built
here.  What the image is made of is tested instead: the entrypoint script is
run directly against the build's binary (restore-then-agent with an
environment-only configuration and a local mirror remote), the image's
health check command is run against the agent it starts, the runtime
packages the Dockerfile installs are checked against the libraries the
binary links, and the configuration in compose.yaml and the Kubernetes
manifest is validated with `cbsync config check`.

The .deb is built with cpack from the build directory of the binary under
test (CBSYNC_BIN's directory) and installed with `dpkg --root` into a
scratch root whose package database holds this machine's entries for the
package's dependencies, so dpkg checks Depends for real; the machine's own
package database is never touched.  Note that cpack first brings the build
up to date, as `cmake --build DIR --target package` does.
"""
import calendar
import glob
import gzip
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

import yaml

from harness import (CBSYNC, ROOT, CbsyncTest, db_rows, error_lines, integrity, main,
                     make_db, read_bytes, sha256_file)

PACKAGING = os.path.join(ROOT, "packaging")
ENTRYPOINT = os.path.join(PACKAGING, "docker", "entrypoint.sh")
DOCKERFILE = os.path.join(PACKAGING, "docker", "Dockerfile")
COMPOSE = os.path.join(PACKAGING, "docker", "compose.yaml")
KUBERNETES = os.path.join(PACKAGING, "kubernetes", "cloudbrain-cbsync.yaml")
UNIT = os.path.join(PACKAGING, "systemd", "cbsync.service")
MAN = os.path.join(PACKAGING, "man", "cbsync.1")
MAN_ENTRYPOINT = os.path.join(PACKAGING, "man", "cbsync-entrypoint.1")
EXAMPLE_CONF = os.path.join(PACKAGING, "cbsync.conf.example")
BUILD_DIR = os.path.dirname(os.path.abspath(CBSYNC))

# The runtime libraries every build links; the .deb must depend on them.
RUNTIME_PACKAGES = ("libsqlite3-0", "zlib1g", "libisal2", "libjansson4", "libssl3",
                    "libcurl4", "libxml2", "libinih1")
# In the base image already, or only in sanitizer builds.
NOT_FOR_THE_IMAGE = re.compile(r"^(libc6|libgcc-s1|libasan\d+|libubsan\d+|libstdc\+\+6)$")


def need(program, package):
    path = shutil.which(program)
    if not path:
        raise AssertionError(f"{program} is not installed (Debian package {package})")
    return path


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CBSYNC_")}
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
    env.update(extra)
    return env


def run(cmd, check=True, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 300)
    p = subprocess.run(cmd, **kw)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {p.returncode}\n"
                             f"stdout: {p.stdout}\nstderr: {p.stderr}")
    return p


def cbsync_version(binary=CBSYNC):
    out = run([binary, "version"], env=clean_env()).stdout
    m = re.match(r"cbsync (\S+) ", out)
    if not m:
        raise AssertionError("unexpected `cbsync version` output: " + out)
    return m.group(1)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def depends_names(depends):
    """Package names of a Depends field, first alternative of each."""
    names = []
    for clause in depends.split(","):
        first = clause.split("|")[0].strip()
        if first:
            names.append(re.split(r"[\s(]", first)[0])
    return names


# ---- the .deb ------------------------------------------------------------------

_deb_cache = {}


def built_deb():
    """Build the .deb once per test run; returns (path, control fields)."""
    if "deb" in _deb_cache:
        return _deb_cache["deb"]
    need("cpack", "cmake")
    need("dpkg-deb", "dpkg")
    need("dpkg-shlibdeps", "dpkg-dev")
    config = os.path.join(BUILD_DIR, "CPackConfig.cmake")
    if not os.path.exists(config):
        raise AssertionError(f"{config} is missing: re-run cmake on {BUILD_DIR} "
                             "(packaging/ adds the CPack configuration)")
    out = tempfile.mkdtemp(prefix="cbsync-deb-",
                           dir=os.environ.get("CBSYNC_TEST_TMP") or None)
    unittest.addModuleCleanup(shutil.rmtree, out, ignore_errors=True)
    run(["cpack", "-G", "DEB", "--config", config, "-B", out], cwd=BUILD_DIR, timeout=600)
    debs = glob.glob(os.path.join(out, "*.deb"))
    if len(debs) != 1:
        raise AssertionError(f"cpack made {debs}, not one .deb")
    fields = {}
    for name in ("Package", "Version", "Architecture", "Maintainer", "Section", "Priority",
                 "Depends", "Recommends", "Description", "Installed-Size"):
        fields[name] = run(["dpkg-deb", "-f", debs[0], name]).stdout.strip()
    _deb_cache["deb"] = (debs[0], fields)
    return _deb_cache["deb"]


def seed_dpkg_database(root, depends):
    """A scratch root's dpkg database holding this machine's status entries
    for the packages named in Depends, so that dpkg checks them."""
    admin = os.path.join(root, "var", "lib", "dpkg")
    for d in ("info", "updates", "triggers"):
        os.makedirs(os.path.join(admin, d), exist_ok=True)
    os.makedirs(os.path.join(root, "etc"), exist_ok=True)
    open(os.path.join(admin, "available"), "w").close()
    arch = run(["dpkg", "--print-architecture"]).stdout.strip()
    stanzas = []
    for clause in depends.split(","):
        for alt in clause.split("|"):
            name = re.split(r"[\s(]", alt.strip())[0]
            p = run(["dpkg-query", "-s", f"{name}:{arch}"], check=False)
            if p.returncode != 0:
                p = run(["dpkg-query", "-s", name], check=False)
            if p.returncode == 0:
                stanza = p.stdout.strip()
                stanzas.append(stanza)
                multi = "\nMulti-Arch: same" in stanza
                list_name = f"{name}:{arch}.list" if multi else f"{name}.list"
                open(os.path.join(admin, "info", list_name), "w").close()
                break
    with open(os.path.join(admin, "status"), "w") as f:
        f.write("\n\n".join(stanzas) + "\n")


def dpkg_root(root, *args, check=True):
    cmd = ["dpkg", f"--root={root}", "--force-script-chrootless"]
    if os.geteuid() != 0:
        cmd.append("--force-not-root")
    return run(cmd + list(args), check=check)


def install_deb(test):
    """Install the .deb into a new scratch root; returns the root."""
    deb, fields = built_deb()
    base = os.environ.get("CBSYNC_TEST_TMP") or None
    root = tempfile.mkdtemp(prefix="cbsync-root-", dir=base)
    test.addCleanup(shutil.rmtree, root, ignore_errors=True)
    seed_dpkg_database(root, fields["Depends"])
    p = dpkg_root(root, "-i", deb)
    test.assertNotIn("dependency problems", p.stderr)
    return root


class DebTest(unittest.TestCase):
    def setUp(self):
        self.deb, self.fields = built_deb()

    def contents(self):
        """{path: (mode string, owner)} of the package's files."""
        out = run(["dpkg-deb", "-c", self.deb]).stdout
        files = {}
        for line in out.splitlines():
            parts = line.split(None, 5)
            path = parts[5].split(" -> ")[0]
            files[path[1:] if path.startswith(".") else path] = (parts[0], parts[1])
        return files

    def test_metadata(self):
        f = self.fields
        self.assertEqual(f["Package"], "cbsync")
        self.assertEqual(f["Version"], cbsync_version())
        self.assertEqual(f["Architecture"], run(["dpkg", "--print-architecture"]).stdout.strip())
        self.assertEqual(f["Section"], "admin")
        self.assertRegex(f["Maintainer"], r"^[^<>]+ <[^<>@\s]+@[^<>\s]+>$")
        self.assertIn("SQLite", f["Description"].splitlines()[0])
        self.assertGreater(len(f["Description"].splitlines()), 3)
        names = depends_names(f["Depends"])
        for pkg in RUNTIME_PACKAGES:
            self.assertIn(pkg, names, f["Depends"])
        self.assertIn("ca-certificates", f["Recommends"])

    def test_contents(self):
        files = self.contents()
        expect = {
            "/usr/bin/cbsync": "-rwxr-xr-x",
            "/usr/bin/cbsync-entrypoint": "-rwxr-xr-x",
            "/usr/share/man/man1/cbsync.1.gz": "-rw-r--r--",
            "/usr/share/man/man1/cbsync-entrypoint.1.gz": "-rw-r--r--",
            "/usr/share/doc/cbsync/changelog.gz": "-rw-r--r--",
            "/usr/lib/systemd/system/cbsync.service": "-rw-r--r--",
            "/usr/lib/sysusers.d/cbsync.conf": "-rw-r--r--",
            "/usr/share/doc/cbsync/cbsync.conf.example": "-rw-r--r--",
        }
        for path, mode in expect.items():
            self.assertIn(path, files, sorted(files))
            self.assertEqual(files[path][0], mode, path)
        for path, (mode, owner) in files.items():
            self.assertEqual(owner, "root/root", path)
            self.assertTrue(path.startswith("/usr/"), path)
        # Nothing of the build tree leaks into the package.
        self.assertFalse([p for p in files if "build" in p or "CMake" in p])

    def test_installed_into_a_scratch_root(self):
        root = install_deb(self)
        cbsync = os.path.join(root, "usr", "bin", "cbsync")
        self.assertEqual(run([cbsync, "version"], env=clean_env()).stdout,
                         run([CBSYNC, "version"], env=clean_env()).stdout)
        listed = run(["dpkg-query", f"--admindir={root}/var/lib/dpkg", "-L", "cbsync"]).stdout
        self.assertIn("/usr/bin/cbsync-entrypoint", listed.splitlines())
        status = run(["dpkg-query", f"--admindir={root}/var/lib/dpkg", "-W",
                      "-f=${Status} ${Version}", "cbsync"]).stdout
        self.assertEqual(status, f"install ok installed {cbsync_version()}")
        # The installed files are the repository's.
        self.assertEqual(read_bytes(os.path.join(root, "usr/share/doc/cbsync/cbsync.conf.example")),
                         read_bytes(EXAMPLE_CONF))
        self.assertEqual(read_bytes(os.path.join(root, "usr/bin/cbsync-entrypoint")),
                         read_bytes(ENTRYPOINT))
        self.assertEqual(read_bytes(os.path.join(root, "usr/lib/systemd/system/cbsync.service")),
                         read_bytes(UNIT))
        for page in (MAN, MAN_ENTRYPOINT):
            name = os.path.basename(page)
            with gzip.open(os.path.join(root, "usr/share/man/man1", name + ".gz")) as f:
                self.assertEqual(f.read(), read_bytes(page))
            # man finds it where it is installed.
            p = run(["man", "-M", os.path.join(root, "usr/share/man"), "-w", name[:-2]])
            self.assertEqual(p.stdout.strip(),
                             os.path.join(root, "usr/share/man/man1", name + ".gz"))
        # postinst made the account the unit runs as.
        with open(os.path.join(root, "etc", "passwd")) as f:
            users = [line.split(":") for line in f]
        self.assertIn("cbsync", [u[0] for u in users])
        # And the installed entrypoint runs the installed binary.
        p = run(["/bin/sh", os.path.join(root, "usr/bin/cbsync-entrypoint"), "version"],
                env=clean_env(CBSYNC_BIN=cbsync))
        self.assertTrue(p.stdout.startswith("cbsync "), p.stdout)

    def test_removed_from_a_scratch_root(self):
        root = install_deb(self)
        dpkg_root(root, "--purge", "cbsync")
        left = [os.path.join(d, f) for d, _, fs in os.walk(os.path.join(root, "usr"))
                for f in fs]
        self.assertEqual(left, [])
        status = run(["dpkg-query", f"--admindir={root}/var/lib/dpkg", "-W", "cbsync"],
                     check=False)
        self.assertNotEqual(status.returncode, 0)


# ---- the systemd unit -------------------------------------------------------------

def unit_directives(path):
    """[(section, key, value)] of a unit file."""
    out, section = [], None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("["):
                section = line.strip("[]")
                continue
            key, _, value = line.partition("=")
            out.append((section, key.strip(), value.strip()))
    return out


class UnitTest(unittest.TestCase):
    def setUp(self):
        need("systemd-analyze", "systemd")
        self.tmp = tempfile.mkdtemp(prefix="cbsync-unit-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)

    def installed_unit(self):
        """The unit as the .deb installs it, into a scratch root, with
        ExecStart pointing into that root; and the root's man directory."""
        root = install_deb(self)
        with open(os.path.join(root, "usr/lib/systemd/system/cbsync.service")) as f:
            text = f.read()
        self.assertIn("ExecStart=/usr/bin/cbsync agent --config /etc/cbsync/cbsync.conf\n", text)
        path = os.path.join(self.tmp, "cbsync.service")
        with open(path, "w") as f:
            f.write(text.replace("ExecStart=/usr/bin/cbsync ",
                                 f"ExecStart={root}/usr/bin/cbsync "))
        return path, os.path.join(root, "usr/share/man")

    def test_systemd_analyze_verify(self):
        # verify also checks that ExecStart is executable and that `man cbsync`
        # (Documentation=man:cbsync(1)) finds the page.
        path, mandir = self.installed_unit()
        p = run(["systemd-analyze", "verify", path], check=False,
                env=dict(os.environ, MANPATH=mandir))
        self.assertEqual((p.returncode, p.stdout + p.stderr), (0, ""))

    def test_hardening(self):
        d = unit_directives(UNIT)
        service = {}
        for section, key, value in d:
            if section == "Service":
                service.setdefault(key, []).append(value)
        one = {k: v[-1] for k, v in service.items()}
        self.assertEqual(one["Type"], "simple")
        self.assertEqual(one["Restart"], "on-failure")
        self.assertEqual(one["ExecReload"], "/bin/kill -HUP $MAINPID")
        self.assertNotIn(one.get("User", "root"), ("root", "0"))
        for key, value in {"NoNewPrivileges": "yes", "ProtectSystem": "strict",
                           "PrivateTmp": "yes", "ProtectHome": "yes",
                           "ProtectKernelTunables": "yes", "ProtectKernelModules": "yes",
                           "ProtectKernelLogs": "yes", "ProtectControlGroups": "yes",
                           "MemoryDenyWriteExecute": "yes", "LockPersonality": "yes",
                           "RestrictSUIDSGID": "yes", "CapabilityBoundingSet": "",
                           "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6"}.items():
            self.assertEqual(one.get(key), value, key)
        self.assertIn("@system-service", service["SystemCallFilter"])
        self.assertTrue(one.get("ReadWritePaths"))
        # systemd's own assessment of the sandbox: "OK" is below 2.0 of 10.
        path, _ = self.installed_unit()
        p = run(["systemd-analyze", "security", "--offline=true", path], check=False)
        m = re.search(r"Overall exposure level for \S+: ([\d.]+)", p.stdout)
        self.assertIsNotNone(m, p.stdout + p.stderr)
        self.assertLess(float(m.group(1)), 2.0, p.stdout)


# ---- the man page -------------------------------------------------------------------

def rendered_man(width=100, page=MAN):
    need("groff", "groff-base")
    env = dict(os.environ, MANWIDTH=str(width), LC_ALL="C.UTF-8")
    p = run([need("man", "man-db"), "-l", page], env=env)
    text = p.stdout
    # Undo overstriking, if any made it through.
    return re.sub(r".\x08", "", text), p.stderr


class ManPageTest(unittest.TestCase):
    def test_renders_without_warnings(self):
        need("groff", "groff-base")
        for page in (MAN, MAN_ENTRYPOINT):
            p = run(["groff", "-man", "-ww", "-z", page], check=False)
            self.assertEqual((p.returncode, p.stderr), (0, ""), page)
            for width in (70, 80, 100, 120):
                _, stderr = rendered_man(width, page)
                self.assertEqual(stderr, "", f"{page} at MANWIDTH={width}")
        text, _ = rendered_man()
        for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "COMMANDS", "OPTIONS",
                        "CONFIGURATION", "ENVIRONMENT", "FILES", "EXIT STATUS", "EXAMPLES",
                        "SEED COMPATIBILITY", "SEE ALSO"):
            self.assertRegex(text, rf"(?m)^{section}$")
        self.assertRegex(text, r"(?m)^CBSYNC\(1\)")

    def test_entrypoint_page_documents_its_modes(self):
        text, _ = rendered_man(page=MAN_ENTRYPOINT)
        for word in ("restore-then-agent", "CBSYNC_RESTORE_ON_START", "CBSYNC_BIN",
                     "restore --latest --if-db-not-exists --if-backup-exists"):
            self.assertIn(word, re.sub(r"\s+", " ", text))

    def test_documents_every_verb_and_option(self):
        text, _ = rendered_man()
        out = run([CBSYNC, "help"], env=clean_env()).stdout
        verbs = re.findall(r"(?m)^  ([a-z]+)  ", out.split("Verbs:")[1].split("\n\n")[0])
        self.assertIn("restore", verbs)
        for verb in verbs:
            self.assertRegex(text, rf"(?m)^   cbsync {verb}\b", f"no subsection for {verb}")
            helptext = run([CBSYNC, verb, "--help"], env=clean_env()).stdout
            for option in set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", helptext)):
                self.assertIn(option, text, f"'{verb}' option {option} is not in cbsync(1)")

    def test_documents_every_setting_and_exit_code(self):
        text, _ = rendered_man()
        with tempfile.TemporaryDirectory() as d:
            conf = run([CBSYNC, "config", "check"], env=clean_env(), cwd=d).stdout
        sections = re.findall(r"(?m)^\[([a-z]+)\]$", conf)
        self.assertIn("watch", sections)
        for section in sections:
            self.assertRegex(text, rf"(?m)^   \[{section}\]$")
        for key in re.findall(r"(?m)^([a-z_]+) = ", conf):
            self.assertIn(key, text, f"setting {key} is not in cbsync(1)")
        backends = run([CBSYNC, "help", "backends"], env=clean_env()).stdout
        for key in re.findall(r"(?m)^  ([a-z_]+) {2,}", backends):
            self.assertIn(key, text, f"backend key {key} is not in cbsync(1)")
        for backend in re.findall(r"(?m)^type = ([a-z0-9]+)", backends):
            self.assertIn(f"type = {backend}", text)
        with open(os.path.join(ROOT, "README.md")) as f:
            codes = re.findall(r"(?m)^\| (\d+) +\|", f.read())
        self.assertIn("130", codes)
        exit_status = text.split("\nEXIT STATUS\n")[1].split("\nEXAMPLES\n")[0]
        for code in codes:
            self.assertRegex(exit_status, rf"(?m)^       {code} ")


# ---- the example configuration ---------------------------------------------------------

def uncomment_remotes(text):
    """The example with its commented-out [remote] blocks switched on."""
    out, on = [], False
    for line in text.splitlines():
        if line.startswith("#[remote "):
            on = True
        if on and re.match(r"^#(\[remote |[a-z_]+ = )", line):
            line = line[1:]
        elif not line.startswith("#"):
            on = False
        out.append(line)
    return "\n".join(out) + "\n"


class ExampleConfigTest(CbsyncTest):
    def check(self, path):
        p = self.w.run("config", "check", "--config", path)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        return p.stdout

    def test_example_passes_config_check(self):
        effective = self.check(EXAMPLE_CONF)
        with open(EXAMPLE_CONF) as f:
            example = f.read()
        with tempfile.TemporaryDirectory() as d:
            defaults = run([CBSYNC, "config", "check"], env=clean_env(), cwd=d).stdout
        # Every section and key, written out with its value.
        for section in re.findall(r"(?m)^\[([a-z]+)\]$", defaults):
            self.assertRegex(example, rf"(?m)^\[{section}\]$")
        for key in re.findall(r"(?m)^([a-z_]+) = ", defaults):
            self.assertRegex(example, rf"(?m)^{key} = ", key)
        # Values are taken from the file, not left at defaults.
        self.assertIn("dir = /srv/cloudbrain/server/ai_db/backups", effective)

    def test_example_remotes_are_valid_when_switched_on(self):
        with open(EXAMPLE_CONF) as f:
            text = uncomment_remotes(f.read())
        # config check asks of each remote what the agent would: a key file
        # that exists, and S3 credentials (here from the environment).
        key = self.w.path("id_ed25519")
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key])
        text = text.replace("/etc/cbsync/id_ed25519", key)
        path = self.w.path("with-remotes.conf")
        with open(path, "w") as f:
            f.write(text)
        p = self.w.run("config", "check", "--config", path,
                       env={"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
                            "AWS_SECRET_ACCESS_KEY": "example-secret"})
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        effective = p.stdout
        remotes = re.findall(r'(?m)^\[remote "([a-z0-9_]+)"\]$', effective)
        self.assertEqual(sorted(remotes), ["nas", "offsite", "usb"])
        for t in ("local", "s3", "sftp"):
            self.assertRegex(effective, rf"(?m)^type = {t}\b")


# ---- the entrypoint --------------------------------------------------------------------

class Entry:
    """A running cbsync-entrypoint; its stdout and stderr collected together."""

    def __init__(self, test, args, env, cwd):
        self.proc = subprocess.Popen(["/bin/sh", ENTRYPOINT] + list(args), env=env, cwd=cwd,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True)
        self.lines = []
        self.cond = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        test.addCleanup(self.kill)

    def _read(self):
        for line in self.proc.stdout:
            with self.cond:
                self.lines.append(line.rstrip("\n"))
                self.cond.notify_all()

    def index(self, text):
        with self.cond:
            for i, line in enumerate(self.lines):
                if text in line:
                    return i
        return -1

    def wait_for(self, text, timeout=60):
        deadline = time.time() + timeout
        with self.cond:
            while True:
                for line in self.lines:
                    if text in line:
                        return line
                left = deadline - time.time()
                if left <= 0 or (self.proc.poll() is not None and not self.reader.is_alive()):
                    raise AssertionError(f"never saw {text!r}:\n" + "\n".join(self.lines))
                self.cond.wait(min(left, 0.2))

    def wait(self, timeout=120):
        self.proc.wait(timeout=timeout)
        self.reader.join(timeout=10)
        return self.proc.returncode

    def stop(self, sig=signal.SIGTERM, timeout=60):
        self.proc.send_signal(sig)
        return self.wait(timeout)

    def output(self):
        with self.cond:
            return "\n".join(self.lines)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.reader.join(timeout=10)
        self.proc.stdout.close()


class EntrypointTest(CbsyncTest):
    def setUp(self):
        super().setUp()
        self.mirror = self.w.path("mirror")
        os.makedirs(self.mirror)
        # The whole configuration from the environment, as in a container.
        self.env = {
            "CBSYNC_DATABASE_PATH": self.w.db,
            "CBSYNC_LOCAL_DIR": self.w.backups,
            "CBSYNC_REMOTE_MIRROR_TYPE": "local",
            "CBSYNC_REMOTE_MIRROR_PATH": self.mirror,
            "CBSYNC_SCHEDULE_DAILY": "off",
            "CBSYNC_SCHEDULE_WEEKLY": "off",
            "CBSYNC_SCHEDULE_MONTHLY": "off",
            "CBSYNC_SCHEDULE_CATCH_UP": "false",
        }

    def full_env(self, **extra):
        env = dict(self.env, CBSYNC_BIN=os.path.abspath(CBSYNC))
        env.update(extra)
        return clean_env(**env)

    def entry(self, *args, **extra):
        return run(["/bin/sh", ENTRYPOINT] + list(args), check=False, cwd=self.w.root,
                   env=self.full_env(**extra), timeout=120)

    def start(self, *args, **extra):
        return Entry(self, args, self.full_env(**extra), self.w.root)

    def cbsync_ok(self, *args):
        p = self.w.run(*args, env=self.env)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        return p

    def backed_up_to_the_mirror(self, rows=300):
        """A database with one backup, in the local tier and the mirror."""
        make_db(self.w.db, rows=rows)
        self.cbsync_ok("backup")
        self.cbsync_ok("push")
        names = [f for f in os.listdir(self.mirror) if f.endswith(".db.gz")]
        self.assertEqual(len(names), 1)
        return names[0]

    def remove_database(self):
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(self.w.db + suffix):
                os.unlink(self.w.db + suffix)

    def assertEntrypointLine(self, output, text):
        mine = [l for l in output.splitlines() if l.startswith("cbsync-entrypoint: ")]
        self.assertEqual(len(mine), 1, output)
        self.assertIn(text, mine[0])

    # -- pass-through ---------------------------------------------------------

    def test_pass_through_runs_cbsync(self):
        p = self.entry("version")
        self.assertEqual((p.returncode, p.stdout),
                         (0, run([CBSYNC, "version"], env=clean_env()).stdout))
        p = self.entry("config", "check")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn('[remote "mirror"]', p.stdout)
        self.assertIn(f"path = {self.w.db}  # from CBSYNC_DATABASE_PATH", p.stdout)
        p = self.entry("list", "--tier", "all")
        self.assertEqual(p.returncode, 0, p.stderr)
        # cbsync's exit status comes through.
        p = self.entry("restore", "--path", "nothing.db.gz")
        self.assertFails(p, 4, "Backup not found")
        p = self.entry("--help")
        self.assertEqual(p.returncode, 0)
        self.assertIn("restore-then-agent", p.stdout)

    def test_no_arguments_runs_the_agent(self):
        make_db(self.w.db, rows=50)
        e = self.start()
        e.wait_for("started:")
        self.assertEqual(e.index("nothing restored"), -1, e.output())
        self.assertEqual(e.stop(), 0, e.output())

    def test_options_alone_go_to_the_agent(self):
        make_db(self.w.db, rows=50)
        conf = self.w.path("agent.conf")
        with open(conf, "w") as f:
            f.write("[watch]\nquiet = 2s\n")
        e = self.start("--config", conf)
        e.wait_for("started:")
        self.assertEqual(e.stop(), 0, e.output())

    # -- restore-then-agent -----------------------------------------------------

    def test_json_logs_are_json_lines_only(self):
        """[log] format = json: the container's whole log stream -- the
        entrypoint's lines, the restore's, the agent's -- is JSON lines, and
        a failure is one of them."""
        self.backed_up_to_the_mirror(rows=100)
        self.remove_database()
        shutil.rmtree(self.w.backups)
        e = self.start("restore-then-agent", CBSYNC_LOG_FORMAT="json")
        e.wait_for('"event":"restore"')
        e.wait_for("started:")
        self.assertEqual(e.stop(), 0, e.output())
        for line in e.output().splitlines():
            json.loads(line)
        self.assertEqual(db_rows(self.w.db), 100)
        with open(os.path.join(self.w.backups, "operations.log")) as f:
            ops = [json.loads(line) for line in f]
        restore = [o for o in ops if o["event"] == "restore"][0]
        self.assertEqual(set(restore), {"time", "user", "uid", "event", "object", "tier",
                                        "bytes", "outcome", "error", "seconds", "detail"})
        self.assertEqual(restore["tier"], "mirror")
        self.assertGreater(restore["bytes"], 0)
        self.assertEqual((restore["outcome"], restore["uid"]), ("ok", os.geteuid()))
        self.assertIn(f"into {self.w.db}", restore["detail"])
        # A restore that fails: the entrypoint's own line and cbsync's are JSON.
        self.remove_database()
        for f in os.listdir(self.mirror):
            if f.endswith(".db.gz"):
                path = os.path.join(self.mirror, f)
                data = bytearray(read_bytes(path))
                for i in range(len(data) // 2, len(data) // 2 + 64):
                    data[i] ^= 0xFF
                with open(path, "wb") as g:
                    g.write(data)
        shutil.rmtree(self.w.backups)
        # The format from the configuration file this time.
        conf = self.w.path("json.conf")
        with open(conf, "w") as f:
            f.write("[log]\nformat = json   # one object per line\n")
        os.chmod(conf, 0o600)
        p = self.entry("restore-then-agent", CBSYNC_CONFIG=conf)
        self.assertEqual(p.returncode, 5, p.stderr)
        lines = [json.loads(line) for line in (p.stdout + p.stderr).splitlines()]
        self.assertTrue(any(l.get("component") == "cbsync-entrypoint" and
                            "the agent was not started" in l["msg"] for l in lines), lines)

    def test_restore_then_agent_on_a_fresh_machine(self):
        self.backed_up_to_the_mirror(rows=300)
        before = db_rows(self.w.db)
        # Only the configuration and the remote are left.
        self.remove_database()
        shutil.rmtree(self.w.backups)
        e = self.start("restore-then-agent")
        e.wait_for("Restored ")
        e.wait_for("started:")
        self.assertLess(e.index("Restored "), e.index("started:"))
        self.assertEqual(integrity(self.w.db), "ok")
        self.assertEqual(db_rows(self.w.db), before)
        self.assertEqual(e.stop(), 0, e.output())
        self.assertEqual(integrity(self.w.db), "ok")
        self.assertEqual(db_rows(self.w.db), before)

    def test_restore_on_start_variable_restores_from_the_local_tier(self):
        self.backed_up_to_the_mirror(rows=120)
        before = db_rows(self.w.db)
        self.remove_database()
        # The variable is the entrypoint's: cbsync would reject it as unknown.
        e = self.start("agent", CBSYNC_RESTORE_ON_START="true")
        line = e.wait_for("Restored ")
        self.assertIn("local", line)
        e.wait_for("started:")
        self.assertEqual(integrity(self.w.db), "ok")
        self.assertEqual(db_rows(self.w.db), before)
        self.assertEqual(e.stop(), 0, e.output())

    def test_existing_database_is_left_alone(self):
        self.backed_up_to_the_mirror(rows=80)
        digest = sha256_file(self.w.db)
        backups = self.w.backup_files()
        e = self.start("restore-then-agent")
        e.wait_for("nothing restored (--if-db-not-exists)")
        e.wait_for("started:")
        self.assertEqual(e.stop(), 0, e.output())
        self.assertEqual(sha256_file(self.w.db), digest)
        self.assertFalse([f for f in self.w.backup_files() if "_restore_point_" in f])
        self.assertTrue(set(backups) <= set(self.w.backup_files()))

    def test_first_deployment_starts_the_agent(self):
        os.makedirs(os.path.dirname(self.w.db), exist_ok=True)
        e = self.start("restore-then-agent", CBSYNC_WATCH_QUIET="500ms",
                       CBSYNC_WATCH_MIN_INTERVAL="1s")
        e.wait_for("nothing restored (--if-backup-exists)")
        e.wait_for("started:")
        self.assertFalse(os.path.exists(self.w.db))
        # The server creates its database; the agent backs it up, offsite too.
        make_db(self.w.db, rows=20)
        e.wait_for("change backup made")
        e.wait_for("remote 'mirror': uploaded 1 backup")
        self.assertEqual(e.stop(), 0, e.output())

    def test_unsigned_backup_stops_before_the_agent(self):
        """With [signing] verify_key, a backup planted on the remote (newer,
        self-consistent, unsigned) is refused and the agent not started."""
        key = self.w.path("signing.pem")
        p = self.w.run("keygen", "--signing", "--out", key)
        self.assertEqual(p.returncode, 0, p.stderr)
        verify_key = p.stderr.strip().splitlines()[-1].split(": ", 1)[1]
        self.env["CBSYNC_SIGNING_KEY_FILE"] = key
        name = self.backed_up_to_the_mirror(rows=300)
        meta = json.loads(read_bytes(os.path.join(self.mirror, name + ".json")))
        self.assertIn("signature", meta)
        # Planted: a copy under a newer name, its metadata made to match, unsigned.
        stamp = calendar.timegm(time.strptime(name[-len("20261130_065512.db.gz"):-6],
                                              "%Y%m%d_%H%M%S")) + 1
        planted = "cloudbrain_manual_" + time.strftime("%Y%m%d_%H%M%S", time.gmtime(stamp)) \
            + ".db.gz"
        time.sleep(2)
        shutil.copy(os.path.join(self.mirror, name), os.path.join(self.mirror, planted))
        for k in ("signature", "state_time"):
            meta.pop(k, None)
        meta.update(name=planted, created=time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                        time.gmtime(stamp)))
        with open(os.path.join(self.mirror, planted + ".json"), "w") as f:
            json.dump(meta, f)
        self.remove_database()
        shutil.rmtree(self.w.backups)
        del self.env["CBSYNC_SIGNING_KEY_FILE"]
        e = self.start("restore-then-agent", CBSYNC_SIGNING_VERIFY_KEY=verify_key)
        code = e.wait()
        out = e.output()
        self.assertEqual(code, 5, out)
        self.assertIn(planted, out)
        self.assertIn("no signature", out)
        self.assertEqual(e.index("started:"), -1, out)
        self.assertFalse(os.path.exists(self.w.db))

    def test_corrupt_backup_stops_before_the_agent(self):
        name = self.backed_up_to_the_mirror(rows=300)
        self.remove_database()
        shutil.rmtree(self.w.backups)
        path = os.path.join(self.mirror, name)
        data = bytearray(read_bytes(path))
        data[len(data) // 2] ^= 0x55
        with open(path, "wb") as f:
            f.write(data)
        e = self.start("restore-then-agent")
        code = e.wait()
        out = e.output()
        self.assertEqual(code, 5, out)
        self.assertEqual(len(error_lines(out)), 1, out)
        self.assertEntrypointLine(out, "the agent was not started")
        self.assertEqual(e.index("started:"), -1, out)
        self.assertFalse(os.path.exists(self.w.db))
        self.assertFalse([f for f in os.listdir(os.path.dirname(self.w.db))
                          if f.startswith(".cbsync-tmp-")])

    def test_unreachable_remote_stops_before_the_agent(self):
        # Without the remote, a lost database cannot be told from a first
        # deployment: nothing may start on an empty database.
        self.backed_up_to_the_mirror(rows=50)
        self.remove_database()
        shutil.rmtree(self.w.backups)
        shutil.move(self.mirror, self.mirror + ".unplugged")
        p = self.entry("restore-then-agent")
        self.assertEqual(p.returncode, 9, p.stdout + p.stderr)
        self.assertEntrypointLine(p.stderr, "the agent was not started")
        self.assertNotIn("started:", p.stderr)
        self.assertFalse(os.path.exists(self.w.db))

    def test_health_check_of_the_image_passes_against_the_agent(self):
        need("curl", "curl")
        with open(DOCKERFILE) as f:
            dockerfile = f.read().replace("\\\n", " ")
        check = re.search(r"(?m)^HEALTHCHECK .*? CMD (.*)$", dockerfile).group(1)
        listen = f"127.0.0.1:{free_port()}"
        make_db(self.w.db, rows=20)
        e = self.start("restore-then-agent", CBSYNC_METRICS_LISTEN=listen)
        e.wait_for("started:")
        env = clean_env(CBSYNC_METRICS_LISTEN=listen)
        deadline = time.time() + 20
        while True:
            p = run(["/bin/sh", "-c", check], check=False, env=env)
            if p.returncode == 0 or time.time() > deadline:
                break
            time.sleep(0.5)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr + e.output())
        self.assertEqual(e.stop(), 0, e.output())
        # With the agent gone the check fails.
        p = run(["/bin/sh", "-c", check], check=False, env=env)
        self.assertNotEqual(p.returncode, 0)

    # -- the script's own behaviour, with a stand-in for cbsync -------------------------

    def stub(self):
        """A stand-in cbsync that logs its arguments and CBSYNC_* environment.
        Its restore succeeds at once, or, while the file `block` exists,
        runs until SIGTERM."""
        log = self.w.path("stub.log")
        block = self.w.path("block")
        path = self.w.path("stub-cbsync")
        with open(path, "w") as f:
            f.write(f"""#!/bin/sh
echo "args: $*" >> {log}
env | grep '^CBSYNC_' | sed 's/^/env: /' >> {log}
if [ "$1" = restore ] && [ -e {block} ]; then
\ttrap 'echo "restore: SIGTERM" >> {log}; exit 130' TERM
\techo restoring
\twhile :; do sleep 0.1; done
fi
echo "stub $1 ran"
""")
        os.chmod(path, 0o755)
        return path, log, block

    def read_log(self, log):
        with open(log) as f:
            return f.read()

    def args_logged(self, log):
        return [l[len("args: "):] for l in self.read_log(log).splitlines()
                if l.startswith("args: ")]

    def test_sigterm_during_the_restore_is_passed_on(self):
        stub, log, block = self.stub()
        open(block, "w").close()
        e = self.start("restore-then-agent", CBSYNC_BIN=stub)
        e.wait_for("restoring")
        start = time.time()
        code = e.stop(signal.SIGTERM, timeout=20)
        self.assertLess(time.time() - start, 10)
        self.assertEqual(code, 130, e.output())
        self.assertEntrypointLine(e.output(), "stopped during the restore")
        self.assertEqual(self.args_logged(log),
                         ["restore --latest --if-db-not-exists --if-backup-exists"])
        self.assertIn("restore: SIGTERM", self.read_log(log))

    def test_modes_run_the_documented_commands(self):
        stub, log, _ = self.stub()
        cases = [
            ((), {}, ["agent"]),
            (("restore-then-agent",), {},
             ["restore --latest --if-db-not-exists --if-backup-exists", "agent"]),
            (("restore-then-agent", "--config", "/c"), {},
             ["restore --latest --if-db-not-exists --if-backup-exists", "agent --config /c"]),
            (("agent",), {"CBSYNC_RESTORE_ON_START": "true"},
             ["restore --latest --if-db-not-exists --if-backup-exists", "agent"]),
            (("agent",), {"CBSYNC_RESTORE_ON_START": "false"}, ["agent"]),
            (("--config", "/c"), {}, ["agent --config /c"]),
            (("--config", "/c"), {"CBSYNC_RESTORE_ON_START": "yes"},
             ["restore --latest --if-db-not-exists --if-backup-exists", "agent --config /c"]),
            # Other verbs go through as given; the variable is for `agent` only.
            (("list", "--tier", "all"), {"CBSYNC_RESTORE_ON_START": "true"},
             ["list --tier all"]),
            # The Kubernetes init container's command.
            (("restore", "--latest", "--if-db-not-exists", "--if-backup-exists"), {},
             ["restore --latest --if-db-not-exists --if-backup-exists"]),
        ]
        for args, extra, expect in cases:
            with self.subTest(args=args, env=extra):
                if os.path.exists(log):
                    os.unlink(log)
                p = self.entry(*args, CBSYNC_BIN=stub, **extra)
                self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
                self.assertEqual(self.args_logged(log), expect)
                self.assertEqual(p.stderr, "")

    def test_entrypoint_variables_are_not_passed_to_cbsync(self):
        stub, log, _ = self.stub()
        p = self.entry("status", "--json", CBSYNC_BIN=stub, CBSYNC_RESTORE_ON_START="false")
        self.assertEqual((p.returncode, p.stdout), (0, "stub status ran\n"))
        text = self.read_log(log)
        self.assertIn("args: status --json\n", text)
        self.assertIn(f"env: CBSYNC_DATABASE_PATH={self.w.db}\n", text)
        self.assertNotIn("CBSYNC_BIN", text)
        self.assertNotIn("CBSYNC_RESTORE_ON_START", text)

    def test_bad_settings_of_the_entrypoint(self):
        p = self.entry("agent", CBSYNC_RESTORE_ON_START="maybe")
        self.assertEqual(p.returncode, 2)
        self.assertEntrypointLine(p.stderr, 'CBSYNC_RESTORE_ON_START: "maybe" is not a boolean')
        p = self.entry("version", CBSYNC_BIN=self.w.path("no-such-cbsync"))
        self.assertEqual(p.returncode, 127)
        self.assertEntrypointLine(p.stderr, "no-such-cbsync")

    def test_script_is_posix_sh(self):
        need("dash", "dash")
        run(["dash", "-n", ENTRYPOINT])
        with open(ENTRYPOINT) as f:
            self.assertEqual(f.readline(), "#!/bin/sh\n")
        self.assertTrue(os.access(ENTRYPOINT, os.X_OK))


# ---- Docker and Kubernetes files ------------------------------------------------------------

def installed_or_known(package):
    """Is package a Debian package name this machine knows?"""
    if run(["dpkg-query", "-W", package], check=False).returncode == 0:
        return True
    return run(["apt-cache", "show", package], check=False).returncode == 0


def validate_env_config(test, env, secret_dir):
    """Run `cbsync config check` with a container's environment, secret files
    replaced by scratch files; returns its output."""
    env = dict(env)
    os.makedirs(secret_dir, exist_ok=True)
    secrets = []
    for key, value in list(env.items()):
        if key.endswith("_FILE") and value.startswith("/run/secrets/"):
            path = os.path.join(secret_dir, value.replace("/", "_"))
            content = "value-of-" + key.lower()
            with open(path, "w") as f:
                f.write(content + "\n")
            env[key] = path
            if "SECRET" in key:
                secrets.append(content)
    test.assertTrue(secrets, "no secret is read from a file")
    p = run([CBSYNC, "config", "check"], check=False, env=clean_env(**env),
            cwd=secret_dir)
    test.assertEqual(p.returncode, 0, p.stdout + p.stderr)
    for content in secrets:
        test.assertNotIn(content, p.stdout + p.stderr)
    return p.stdout


class ContainerFilesTest(CbsyncTest):
    def dockerfile_stages(self):
        with open(DOCKERFILE) as f:
            text = f.read().replace("\\\n", " ")
        default_image = re.search(r"(?m)^ARG DEBIAN_IMAGE=(\S+)$", text).group(1)
        stages = re.split(r"(?m)^FROM ", text)[1:]
        return default_image, stages

    def test_dockerfile(self):
        image, stages = self.dockerfile_stages()
        self.assertEqual(image, "debian:12-slim")
        self.assertEqual(len(stages), 2)
        self.assertTrue(stages[0].startswith("${DEBIAN_IMAGE} AS build"))
        self.assertTrue(stages[1].startswith("${DEBIAN_IMAGE}\n"))
        build, final = stages
        # The build stage installs scripts/deps.txt's build packages and
        # builds a Release without tests.
        self.assertIn("COPY scripts/deps.txt", build)
        self.assertIn("""$(awk '$1 == "build" { print $2 }' /tmp/deps.txt)""", build)
        self.assertIn("-DCMAKE_BUILD_TYPE=Release", build)
        self.assertIn("-DCBSYNC_TESTS=OFF", build)
        # The final stage: runtime packages only, covering what the binary
        # links (the .deb's Depends, from dpkg-shlibdeps).
        install = re.search(r"apt-get install -y --no-install-recommends ([^;]*);", final)
        packages = install.group(1).split()
        self.assertFalse([p for p in packages if p.endswith("-dev")], packages)
        _, fields = built_deb()
        for name in depends_names(fields["Depends"]):
            if not NOT_FOR_THE_IMAGE.match(name):
                self.assertIn(name, packages, f"the image lacks {name}, which cbsync links")
        for name in RUNTIME_PACKAGES + ("libmicrohttpd12", "tzdata", "ca-certificates"):
            self.assertIn(name, packages)
        for name in packages:
            self.assertTrue(installed_or_known(name), f"no Debian package {name}")
        # Non-root, by number; the entrypoint; a health check on /healthz.
        user = re.search(r"(?m)^USER (\d+):(\d+)$", final)
        self.assertIsNotNone(user)
        self.assertNotEqual(user.group(1), "0")
        self.assertIn(f"--uid {user.group(1)}", final)
        self.assertRegex(final, r'(?m)^ENTRYPOINT \["cbsync-entrypoint"\]$')
        self.assertRegex(final, r'(?m)^CMD \["agent"\]$')
        self.assertRegex(final, r"(?m)^HEALTHCHECK .* CMD .*/healthz")
        # What it copies from the build stage is what `cmake --install` makes.
        copied = re.search(r"COPY --from=build (.*) /usr/local/bin/", final).group(1).split()
        self.assertEqual(sorted(os.path.basename(c) for c in copied),
                         ["cbsync", "cbsync-entrypoint"])
        dest = self.w.path("install")
        run(["cmake", "--install", BUILD_DIR, "--prefix", "/usr/local"],
            env=dict(os.environ, DESTDIR=dest))
        for c in copied:
            self.assertTrue(os.path.isfile(dest + c.replace("/out", "", 1)), c)

    def test_dockerignore_keeps_build_trees_out(self):
        with open(DOCKERFILE + ".dockerignore") as f:
            patterns = [l.strip() for l in f if l.strip() and not l.startswith("#")]
        for p in (".git", "build", "build-*"):
            self.assertIn(p, patterns)

    def test_compose(self):
        with open(COMPOSE) as f:
            compose = yaml.safe_load(f)
        services = compose["services"]
        cbsync, server = services["cbsync"], services["server"]
        here = os.path.dirname(COMPOSE)
        self.assertEqual(os.path.realpath(os.path.join(here, cbsync["build"]["context"])),
                         os.path.realpath(ROOT))
        self.assertEqual(os.path.realpath(os.path.join(ROOT, cbsync["build"]["dockerfile"])),
                         os.path.realpath(DOCKERFILE))
        self.assertEqual(cbsync["command"], ["restore-then-agent"])
        # One volume, at the same place in both.
        self.assertIn("cloudbrain-data", compose["volumes"])
        mounts = {name: [v for v in s["volumes"] if v.startswith("cloudbrain-data:")]
                  for name, s in services.items()}
        self.assertEqual(mounts["cbsync"], mounts["server"])
        mount = mounts["cbsync"][0].split(":")[1]
        env = {k: str(v) for k, v in cbsync["environment"].items()}
        self.assertEqual(os.path.dirname(env["CBSYNC_DATABASE_PATH"]), mount)
        # The server waits for cbsync's restore and agent.
        self.assertEqual(server["depends_on"]["cbsync"]["condition"], "service_healthy")
        self.assertIn("/healthz", " ".join(cbsync["healthcheck"]["test"]))
        port = env["CBSYNC_METRICS_LISTEN"].rsplit(":", 1)[1]
        self.assertIn(f":{port}/healthz", " ".join(cbsync["healthcheck"]["test"]))
        # Secrets as files, declared.
        for s in cbsync["secrets"]:
            self.assertIn(s, compose["secrets"])
            self.assertIn(f"/run/secrets/{s}", env.values())
        self.assertTrue(cbsync["read_only"])
        self.assertEqual(env["CBSYNC_REMOTE_OFFSITE_TYPE"], "s3")
        effective = validate_env_config(self, env, self.w.path("secrets"))
        self.assertIn('[remote "offsite"]', effective)
        self.assertRegex(effective, r"(?m)^type = s3  # from CBSYNC_REMOTE_OFFSITE_TYPE$")

    def test_kubernetes(self):
        with open(KUBERNETES) as f:
            docs = [d for d in yaml.safe_load_all(f) if d]
        kinds = {d["kind"]: d for d in docs}
        config = kinds["ConfigMap"]["data"]
        pod = kinds["Deployment"]["spec"]["template"]["spec"]
        self.assertEqual(kinds["Deployment"]["spec"]["replicas"], 1)
        self.assertTrue(pod["securityContext"]["runAsNonRoot"])
        self.assertNotEqual(pod["securityContext"]["runAsUser"], 0)
        init = pod["initContainers"]
        self.assertEqual(len(init), 1)
        self.assertEqual(init[0]["args"],
                         ["restore", "--latest", "--if-db-not-exists", "--if-backup-exists"])
        containers = {c["name"]: c for c in pod["containers"]}
        agent = containers["cbsync"]
        self.assertEqual(agent["args"], ["agent"])
        self.assertEqual(init[0]["image"], agent["image"])
        # The data volume, at the same place in all three.
        data_mounts = {c["name"]: [m["mountPath"] for m in c["volumeMounts"]
                                   if m["name"] == "data"]
                       for c in init + pod["containers"]}
        self.assertEqual(len(set(map(tuple, data_mounts.values()))), 1, data_mounts)
        mount = data_mounts["cbsync"][0]
        self.assertEqual(os.path.dirname(config["CBSYNC_DATABASE_PATH"]), mount)
        # Probes on /livez (/healthz fails while a remote does, which must not
        # take the pod out of service), at the port the agent listens on.
        host, port = config["CBSYNC_METRICS_LISTEN"].rsplit(":", 1)
        self.assertEqual(host, "0.0.0.0")
        ports = {p["name"]: p["containerPort"] for p in agent["ports"]}
        for probe in ("readinessProbe", "livenessProbe"):
            get = agent[probe]["httpGet"]
            self.assertEqual(get["path"], "/livez")
            self.assertEqual(ports.get(get["port"], get["port"]), int(port))
        for c in (init[0], agent):
            sc = c["securityContext"]
            self.assertTrue(sc["readOnlyRootFilesystem"], c["name"])
            self.assertFalse(sc["allowPrivilegeEscalation"], c["name"])
            self.assertEqual(sc["capabilities"]["drop"], ["ALL"])
            self.assertEqual(c["envFrom"], [{"configMapRef": {"name": "cbsync"}}])
        # The S3 keys come from a Secret, as files.
        volumes = {v["name"]: v for v in pod["volumes"]}
        secret_mounts = [m for m in agent["volumeMounts"] if "secret" in volumes[m["name"]]]
        self.assertEqual(len(secret_mounts), 1)
        for key in ("CBSYNC_REMOTE_OFFSITE_ACCESS_KEY_ID_FILE",
                    "CBSYNC_REMOTE_OFFSITE_SECRET_ACCESS_KEY_FILE"):
            self.assertTrue(config[key].startswith(secret_mounts[0]["mountPath"] + "/"))
        effective = validate_env_config(self, config, self.w.path("secrets"))
        self.assertIn('[remote "offsite"]', effective)


if __name__ == "__main__":
    main()
