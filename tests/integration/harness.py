"""Shared helpers for cbsync's integration tests.

Every test drives the real binary (CBSYNC_BIN, set by CTest) in a scratch
directory laid out like the seed tool's server directory (ai_db/cloudbrain.db,
ai_db/backups/), and reads results back with independent tools: Python's
sqlite3 and gzip modules, the sqlite3 CLI, gunzip.
"""
import fcntl
import gzip
import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CBSYNC = os.environ.get("CBSYNC_BIN") or os.path.join(ROOT, "build", "cbsync")

SCHEMA = """
CREATE TABLE ai_profiles (id INTEGER PRIMARY KEY, name TEXT NOT NULL, expertise TEXT,
                          created_at TEXT DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE ai_conversations (id INTEGER PRIMARY KEY, title TEXT, created_at TEXT);
CREATE TABLE ai_messages (id INTEGER PRIMARY KEY, conversation_id INTEGER, sender_id INTEGER,
                          content TEXT, created_at TEXT);
CREATE VIRTUAL TABLE ai_messages_fts USING fts5(content);
CREATE TABLE ai_insights (id INTEGER PRIMARY KEY, ai_id INTEGER, title TEXT, content TEXT);
CREATE TABLE ai_documentation (id INTEGER PRIMARY KEY, title TEXT, content TEXT);
CREATE VIRTUAL TABLE ai_documentation_fts USING fts5(title, content);
CREATE TABLE ai_brain_state (ai_id INTEGER PRIMARY KEY, state TEXT);
CREATE TABLE ai_reputation (ai_id INTEGER PRIMARY KEY, score REAL);
CREATE TABLE counter (id INTEGER PRIMARY KEY CHECK (id = 1), n INTEGER NOT NULL);
INSERT INTO counter VALUES (1, 0);
"""

WORDS = ("knowledge insight message agent memory learning family project document "
         "collaboration reputation brain state search index backup restore network "
         "language model reasoning context question answer idea plan review").split()


def sentence(i, words=12):
    return " ".join(WORDS[(i * 7 + k * 3) % len(WORDS)] for k in range(words)) + "."


def make_db(path, rows=200, journal="wal", page_size=None, random_bytes=0):
    """Create a small CloudBrain-shaped database; returns its row count."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    con = sqlite3.connect(path)
    if page_size:
        con.execute(f"PRAGMA page_size={page_size}")
    con.execute(f"PRAGMA journal_mode={journal}")
    con.executescript(SCHEMA)
    with con:
        con.executemany(
            "INSERT INTO ai_messages(conversation_id, sender_id, content, created_at) "
            "VALUES (?, ?, ?, datetime('now'))",
            [(i % 10, i % 5, sentence(i, 30)) for i in range(rows)])
        con.execute("INSERT INTO ai_messages_fts(content) SELECT content FROM ai_messages")
        con.executemany("INSERT INTO ai_profiles(name, expertise) VALUES (?, ?)",
                        [(f"ai-{i}", sentence(i, 5)) for i in range(10)])
        con.executemany("INSERT INTO ai_documentation(title, content) VALUES (?, ?)",
                        [(f"doc {i}", sentence(i, 60)) for i in range(rows // 10 + 1)])
        con.execute("INSERT INTO ai_documentation_fts(title, content) "
                    "SELECT title, content FROM ai_documentation")
        if random_bytes:
            con.execute("CREATE TABLE blobs (b BLOB)")
            chunk = 1 << 20
            for _ in range(max(1, random_bytes // chunk)):
                con.execute("INSERT INTO blobs VALUES (?)", (os.urandom(chunk),))
    con.close()
    return rows


def db_rows(path, table="ai_messages"):
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    finally:
        con.close()


def integrity(path):
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return con.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        con.close()


def dump(path):
    out = subprocess.run(["sqlite3", path, ".dump"], capture_output=True, text=True,
                         check=True)
    return out.stdout


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def gunzip_to(src, dst):
    """Decompress with the gunzip command, as a user would by hand."""
    with open(dst, "wb") as out:
        subprocess.run(["gunzip", "-c", src], stdout=out, check=True)


def gunzip(path):
    """What `gunzip -c` makes of path (every gzip member, one after another)."""
    return subprocess.run(["gunzip", "-c", path], check=True, capture_output=True).stdout


def packed_metadata(data):
    """A packed increment (agent/tiers/packed.h), read as RFC 1952 says and
    without cbsync: the metadata text in its first member's "CB" extra
    subfield, and that member's length, where zlib finds the next one.
    None if data does not start that way."""
    import struct
    import zlib
    if len(data) < 12 or data[:3] != b"\x1f\x8b\x08" or not data[3] & 4:
        return None
    (xlen,) = struct.unpack_from("<H", data, 10)
    extra, meta, pos = data[12:12 + xlen], None, 0
    while pos + 4 <= len(extra):
        (n,) = struct.unpack_from("<H", extra, pos + 2)
        if extra[pos:pos + 2] == b"CB":
            meta = extra[pos + 4:pos + 4 + n]
        pos += 4 + n
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    if meta is None or d.decompress(data) != b"" or not d.eof:
        return None
    return meta, len(data) - len(d.unused_data)


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_http(test, handler, tls=None):
    """An HTTP server for test on a free 127.0.0.1 port, answering with
    handler (a BaseHTTPRequestHandler class) on its own threads until the
    test ends; tls=(cert, key) makes it HTTPS.  Returns the server (its port
    is server.server_port)."""
    import http.server
    import ssl
    import threading
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    srv.daemon_threads = True
    if tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(*tls)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    test.addCleanup(srv.server_close)
    test.addCleanup(srv.shutdown)
    return srv


def cbsync_env(extra=None):
    """The environment cbsync runs with in tests: this one without any
    CBSYNC_* setting (but CBSYNC_BIN), plus extra."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CBSYNC_")
           or k == "CBSYNC_BIN"}
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
    env.update(extra or {})
    return env


def write_agent_config(path, db, backups, interval="1s", rebase_share=None, extra=""):
    """Write at path (mode 0600) the config of an agent that replicates db
    into the local tier backups: no scheduled snapshots and no catch-up, so
    that every snapshot is one the replication takes; [replicate] enabled
    with this interval, and rebase_share only when given (else cbsync's
    default).  extra (whole sections) goes at the end.  Returns path."""
    text = (f"[database]\npath = {db}\n"
            f"[local]\ndir = {backups}\n"
            "[schedule]\ndaily = off\nweekly = off\nmonthly = off\ncatch_up = false\n"
            f"[replicate]\nenabled = true\ninterval = {interval}\n")
    if rebase_share is not None:
        text += f"rebase_share = {rebase_share}\n"
    with open(path, "w") as f:
        f.write(text + extra)
    os.chmod(path, 0o600)
    return path


def start_cbsync(cwd, *args, env=None, **popen):
    """cbsync running in the background (text mode, stdout and stderr piped
    unless popen says otherwise)."""
    popen.setdefault("stdout", subprocess.PIPE)
    popen.setdefault("stderr", subprocess.PIPE)
    return subprocess.Popen([CBSYNC] + list(args), cwd=cwd, env=cbsync_env(env), text=True,
                            **popen)


def run_on_a_terminal(cwd, args, stop_when=None, env=None):
    """Run cbsync with stdout and stderr on a pseudo-terminal; (exit code,
    what it showed).  With stop_when, the run is paused for 1.2 s as soon as
    stop_when() is true, so that it has run for more than a second at that
    point however fast the machine is (progress shows only after a second)."""
    import pty
    master, slave = pty.openpty()
    proc = subprocess.Popen([CBSYNC] + list(args), cwd=cwd, env=cbsync_env(env),
                            stdout=slave, stderr=slave, stdin=subprocess.DEVNULL)
    os.close(slave)
    if stop_when:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None and not stop_when():
            time.sleep(0.001)
        if proc.poll() is None:
            proc.send_signal(signal.SIGSTOP)
            time.sleep(1.2)
            proc.send_signal(signal.SIGCONT)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait()
    os.close(master)
    return proc.returncode, b"".join(chunks).decode(errors="replace")


def temp_files(d):
    """The temp files cbsync is writing (or left) in d."""
    return sorted(f for f in os.listdir(d) if f.startswith(".cbsync-tmp-")) \
        if os.path.isdir(d) else []


class Work:
    """A scratch server directory with cbsync's default layout."""

    def __init__(self, test):
        base = os.environ.get("CBSYNC_TEST_TMP") or tempfile.gettempdir()
        self.root = tempfile.mkdtemp(prefix="cbsync-it-", dir=base)
        os.chmod(self.root, 0o755)
        test.addCleanup(shutil.rmtree, self.root, ignore_errors=True)
        self.db = os.path.join(self.root, "ai_db", "cloudbrain.db")
        self.backups = os.path.join(self.root, "ai_db", "backups")

    def path(self, *parts):
        return os.path.join(self.root, *parts)

    def run(self, *args, env=None, input=None, timeout=120, cwd=None, prefix=()):
        return subprocess.run(list(prefix) + [CBSYNC] + list(args), cwd=cwd or self.root,
                              env=cbsync_env(env), input=input, capture_output=True,
                              text=True, timeout=timeout)

    def ok(self, *args, **kw):
        p = self.run(*args, **kw)
        if p.returncode != 0:
            raise AssertionError(f"cbsync {' '.join(args)} exited {p.returncode}\n"
                                 f"stdout: {p.stdout}\nstderr: {p.stderr}")
        return p

    def backup_files(self, dir=None):
        d = dir or self.backups
        if not os.path.isdir(d):
            return []
        return sorted(f for f in os.listdir(d) if f.endswith(".db.gz"))

    def all_files(self, dir=None):
        d = dir or self.backups
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    def list_json(self, *extra):
        return json.loads(self.ok("list", "--json", *extra).stdout)

    def backup(self, *extra):
        """Make a backup; return the path it reports."""
        p = self.ok("backup", *extra)
        for line in p.stdout.splitlines():
            if line.startswith("Backup created: "):
                return os.path.join(self.root, line.split(": ", 1)[1])
        raise AssertionError("no 'Backup created' line: " + p.stdout)


def error_lines(stderr):
    return [l for l in stderr.splitlines() if l.startswith("Error: ")]


class CbsyncTest(unittest.TestCase):
    def setUp(self):
        self.w = Work(self)

    def assertFails(self, proc, code, message=None):
        """One clear 'Error:' line, the documented exit code."""
        self.assertEqual(proc.returncode, code,
                         f"exit {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}")
        errs = error_lines(proc.stderr)
        self.assertEqual(len(errs), 1, proc.stderr)
        self.assertNotIn("AddressSanitizer", proc.stderr)
        self.assertNotIn("runtime error", proc.stderr)
        if message is not None:
            self.assertIn(message, errs[0])
        return errs[0]

    def assertNoTempFiles(self, *dirs):
        for d in dirs or (self.w.backups, os.path.dirname(self.w.db)):
            if os.path.isdir(d):
                left = [f for f in os.listdir(d) if f.startswith(".cbsync-tmp-")]
                self.assertEqual(left, [], f"temp files left in {d}")


class Writer:
    """A separate process that commits continuously: each transaction adds one
    row to ai_messages and one to ai_insights and bumps counter.n, so any
    committed state has count(ai_messages) == count(ai_insights) == n + base."""

    SCRIPT = r"""
import sqlite3, sys, time, os
path, journal, stop = sys.argv[1], sys.argv[2], sys.argv[3]
con = sqlite3.connect(path, timeout=60, isolation_level=None)
con.execute("PRAGMA busy_timeout=60000")
i = 0
print("ready", flush=True)
while not os.path.exists(stop):
    con.execute("BEGIN IMMEDIATE")
    con.execute("INSERT INTO ai_messages(conversation_id, sender_id, content) VALUES (1, 1, ?)",
                ("written by the writer " * 20 + str(i),))
    con.execute("INSERT INTO ai_insights(ai_id, title, content) VALUES (1, 't', ?)", (str(i),))
    con.execute("UPDATE counter SET n = n + 1")
    con.execute("COMMIT")
    i += 1
print(i, flush=True)
"""

    def __init__(self, db, journal="wal"):
        self.stop_file = db + ".stop-writer"
        self.proc = subprocess.Popen([sys.executable, "-c", self.SCRIPT, db, journal,
                                      self.stop_file], stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "ready"

    def stop(self):
        open(self.stop_file, "w").close()
        out, _ = self.proc.communicate(timeout=60)
        os.unlink(self.stop_file)
        return int(out.strip() or 0)


def consistent_counts(path, base_messages, base_insights=0):
    """(messages, insights, counter) of a database, asserting one committed state."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        m = con.execute("SELECT count(*) FROM ai_messages").fetchone()[0]
        i = con.execute("SELECT count(*) FROM ai_insights").fetchone()[0]
        n = con.execute("SELECT n FROM counter").fetchone()[0]
    finally:
        con.close()
    return m - base_messages, i - base_insights, n


def hold_lock(backups_dir):
    """Take the backup directory's lock as another cbsync would."""
    os.makedirs(backups_dir, exist_ok=True)
    fd = os.open(os.path.join(backups_dir, ".cbsync.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.pwrite(fd, b"pid 4242, backup\n", 0)
    return fd


def fake_backup(backups_dir, mib, kind="manual", created=None, db="cloudbrain"):
    """A backup of random bytes with matching metadata, for sync and upload
    tests (they check SHA-256 and size, not what is inside).  Returns its name."""
    import datetime as dt
    os.makedirs(backups_dir, mode=0o700, exist_ok=True)
    created = created or dt.datetime.now(dt.timezone.utc)
    name = f"{db}_{kind}_{created:%Y%m%d_%H%M%S}.db.gz"
    path = os.path.join(backups_dir, name)
    h = hashlib.sha256()
    with open(path, "wb") as f:
        for _ in range(mib):
            chunk = os.urandom(1 << 20)
            h.update(chunk)
            f.write(chunk)
    meta = {"format": 1, "name": name, "database": db, "type": kind,
            "created": created.strftime("%Y-%m-%dT%H:%M:%SZ"), "original_size": mib << 21,
            "compressed_size": mib << 20, "compression_ratio": 50.0,
            "sha256": h.hexdigest(), "page_size": 4096, "page_count": mib << 9,
            "tool": "cbsync", "version": "test"}
    with open(path + ".json", "w") as f:
        json.dump(meta, f)
    return name


def main():
    unittest.main(verbosity=2)
