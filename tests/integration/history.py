"""A recorded history of a database, and the checks a restore to any time
must pass against it (issue 12's recorded-history test).

A writer process commits transactions of varied shapes to a CloudBrain-shaped
database and logs, for every commit, the wall time just before its BEGIN, the
wall time just after its COMMIT returned, and a hash of the database's logical
content afterwards.  The commit happened somewhere between those two times, so
a state restored "as of T" is acceptable only if it is one of the logged
states and its transaction began at or before T.

The content hash (content_hash) covers what a user sees: the schema (every
object's type, name, table and SQL, not its root page, which VACUUM may move)
and every row of every ordinary table and FTS table, each row hashed with its
table and rowid and the results XOR'd together.  FTS shadow tables are left
out: they are storage, and a restored FTS index is checked with FTS5's own
integrity-check instead.  Because the XOR is over rows, the writer keeps it up
to date from the rows each transaction touches (Tracker) instead of reading
the whole database after every commit, and compares it with a full
recomputation now and then, so a slip in the bookkeeping fails the writer
rather than the test it serves.

Run as a script, this file is the writer ("write") or a second connection
that runs checkpoints of every mode at random ("checkpoint")."""
import argparse
import hashlib
import json
import os
import random
import sqlite3
import struct
import sys
import time

CHECKPOINT_MODES = ("PASSIVE", "FULL", "RESTART", "TRUNCATE")

WORDS = ("knowledge insight message agent memory learning family project document "
         "collaboration reputation brain state search index backup restore network "
         "language model reasoning context question answer idea plan review "
         "lighthouse harbour granite willow ember cobalt saffron meadow quartz").split()


# --- the content hash ---------------------------------------------------------

def _value_bytes(v):
    """A value's bytes with its type, so 1, 1.0, '1' and b'1' all differ."""
    if v is None:
        return b"n"
    if isinstance(v, int):
        return b"i" + str(v).encode()
    if isinstance(v, float):
        return b"f" + struct.pack(">d", v)
    if isinstance(v, str):
        b = v.encode("utf-8", "surrogatepass")
        return b"t" + struct.pack(">Q", len(b)) + b
    return b"b" + struct.pack(">Q", len(v)) + bytes(v)


def row_digest(table, row):
    """128 bits of the hash of one row (its rowid first) of table."""
    h = hashlib.blake2b(digest_size=16)
    h.update(table.encode() + b"\0")
    for v in row:
        h.update(_value_bytes(v))
    return int.from_bytes(h.digest(), "big")


def content_tables(con):
    """The tables whose rows make the content: ordinary tables and FTS
    tables, not SQLite's own nor the FTS tables' shadow tables."""
    rows = con.execute("SELECT name, sql FROM sqlite_schema WHERE type = 'table' "
                       "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name").fetchall()
    virtual = [n for n, sql in rows if (sql or "").upper().startswith("CREATE VIRTUAL")]
    return [n for n, _ in rows if not any(n.startswith(v + "_") for v in virtual)]


def schema_digest(con):
    h = hashlib.blake2b(digest_size=16)
    for row in con.execute("SELECT type, name, tbl_name, sql FROM sqlite_schema "
                           "ORDER BY type, name"):
        for v in row:
            h.update(_value_bytes(v))
    return h.digest()


def _quote(name):
    return '"' + name.replace('"', '""') + '"'


# Tables whose rows are summarised, not read whole: the bulk table of the
# run that grows a database past 1 GiB, whose rows are a stamp and a blob of
# zeros (its pages are still checked, by the state checksum).
SUMMARISED = {"blobs": "rowid, stamp, length(b)"}


def select_rows(table):
    return f"SELECT {SUMMARISED.get(table, 'rowid, *')} FROM {_quote(table)}"


def table_acc(con, table):
    acc = 0
    for row in con.execute(select_rows(table)):
        acc ^= row_digest(table, row)
    return acc


def combine(schema, acc):
    return hashlib.blake2b(schema + acc.to_bytes(16, "big"), digest_size=16).hexdigest()


def content_hash_con(con):
    acc = 0
    for t in content_tables(con):
        acc ^= table_acc(con, t)
    return combine(schema_digest(con), acc)


def content_hash(path):
    """The content hash of the database file at path (opened read-only)."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return content_hash_con(con)
    finally:
        con.close()


def fts_check(path):
    """FTS5's own integrity-check of every FTS table in the database at path;
    returns a list of problems (empty when all agree with their content)."""
    con = sqlite3.connect(path)
    problems = []
    try:
        for (name,) in con.execute("SELECT name FROM sqlite_schema WHERE type = 'table' "
                                   "AND sql LIKE 'CREATE VIRTUAL TABLE%fts5%'").fetchall():
            try:
                con.execute(f"INSERT INTO {_quote(name)}({_quote(name)}) "
                            "VALUES ('integrity-check')")
            except sqlite3.DatabaseError as e:
                problems.append(f"{name}: {e}")
        con.rollback()
    finally:
        con.close()
    return problems


class Tracker:
    """The content hash of a database that only this connection writes, kept
    up to date from the rows each transaction touches: call remove() for
    rows before they change or go, add() for rows after they are written,
    then commit() once COMMIT returned (or abort())."""

    def __init__(self, con):
        self.con = con
        self.recompute()

    def recompute(self):
        self.schema = schema_digest(self.con)
        self.acc = 0
        for t in content_tables(self.con):
            self.acc ^= table_acc(self.con, t)
        self.pending = self.acc

    def _rows(self, table, rowids):
        rowids = list(rowids)
        for k in range(0, len(rowids), 500):
            part = rowids[k:k + 500]
            marks = ",".join("?" * len(part))
            yield from self.con.execute(f"{select_rows(table)} WHERE rowid IN ({marks})", part)

    def remove(self, table, rowids):
        for row in self._rows(table, rowids):
            self.pending ^= row_digest(table, row)

    add = remove  # XOR: adding and removing a row's digest are the same step

    def commit(self):
        self.acc = self.pending

    def abort(self):
        self.pending = self.acc

    def hash(self):
        return combine(self.schema, self.acc)


# --- the writer ----------------------------------------------------------------

def text(rng, words):
    return " ".join(rng.choice(WORDS) for _ in range(words)) + "."


class Shapes:
    """The transactions the writer commits, each a method that runs inside
    BEGIN IMMEDIATE ... COMMIT and tells the tracker what it touched."""

    def __init__(self, con, tracker, rng, blob_bytes):
        self.con, self.t, self.rng, self.blob_bytes = con, tracker, rng, blob_bytes

    def ids(self, table, n):
        """Up to n random existing rowids of table."""
        return [r[0] for r in self.con.execute(
            f"SELECT rowid FROM {table} ORDER BY random() LIMIT ?", (n,))]

    def insert(self, table, cols, values):
        marks = ",".join("?" * len(values))
        cur = self.con.execute(f"INSERT INTO {table}({','.join(cols)}) VALUES ({marks})",
                               values)
        self.t.add(table, [cur.lastrowid])
        return cur.lastrowid

    def message(self, content=None):
        """A message and its FTS row, with the same rowid."""
        rng = self.rng
        content = content or text(rng, rng.randint(8, 220))
        mid = self.insert("ai_messages", ("conversation_id", "sender_id", "content",
                                          "created_at"),
                          (rng.randint(1, 40), rng.randint(1, 10), content,
                           f"2026-11-29 {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}"))
        self.con.execute("INSERT INTO ai_messages_fts(rowid, content) VALUES (?, ?)",
                         (mid, content))
        self.t.add("ai_messages_fts", [mid])
        return mid

    def messages(self):
        for _ in range(self.rng.randint(1, 5)):
            self.message()

    def bulk(self):
        for _ in range(self.rng.randint(100, 300)):
            self.message()

    def document(self):
        rng = self.rng
        title, content = text(rng, 4), text(rng, rng.randint(150, 1200))
        did = self.insert("ai_documentation", ("title", "content"), (title, content))
        self.con.execute("INSERT INTO ai_documentation_fts(rowid, title, content) "
                         "VALUES (?, ?, ?)", (did, title, content))
        self.t.add("ai_documentation_fts", [did])

    def edit(self):
        for mid in self.ids("ai_messages", self.rng.randint(1, 3)):
            content = text(self.rng, self.rng.randint(5, 150))
            for table in ("ai_messages", "ai_messages_fts"):
                self.t.remove(table, [mid])
            self.con.execute("UPDATE ai_messages SET content = ? WHERE id = ?", (content, mid))
            self.con.execute("DELETE FROM ai_messages_fts WHERE rowid = ?", (mid,))
            self.con.execute("INSERT INTO ai_messages_fts(rowid, content) VALUES (?, ?)",
                             (mid, content))
            for table in ("ai_messages", "ai_messages_fts"):
                self.t.add(table, [mid])

    def forget(self, n=None):
        ids = self.ids("ai_messages", n or self.rng.randint(1, 8))
        for table in ("ai_messages", "ai_messages_fts"):
            self.t.remove(table, ids)
        marks = ",".join("?" * len(ids))
        self.con.execute(f"DELETE FROM ai_messages WHERE id IN ({marks})", ids)
        self.con.execute(f"DELETE FROM ai_messages_fts WHERE rowid IN ({marks})", ids)

    def purge(self):
        """A large delete: the database keeps its size, its free list grows."""
        self.forget(self.rng.randint(100, 300))

    def brain(self):
        ai = self.rng.randint(1, 30)
        self.t.remove("ai_brain_state", [ai])
        self.con.execute("INSERT INTO ai_brain_state(ai_id, state) VALUES (?, ?) "
                         "ON CONFLICT(ai_id) DO UPDATE SET state = excluded.state",
                         (ai, text(self.rng, self.rng.randint(20, 400))))
        self.t.add("ai_brain_state", [ai])

    def reputation(self):
        ais = self.rng.sample(range(1, 31), self.rng.randint(1, 6))
        self.t.remove("ai_reputation", ais)
        for ai in ais:
            self.con.execute("INSERT INTO ai_reputation(ai_id, score) VALUES (?, ?) "
                             "ON CONFLICT(ai_id) DO UPDATE SET score = score + excluded.score",
                             (ai, round(self.rng.uniform(-1, 2), 3)))
        self.t.add("ai_reputation", ais)

    def insight(self):
        self.insert("ai_insights", ("ai_id", "title", "content"),
                    (self.rng.randint(1, 30), text(self.rng, 3),
                     text(self.rng, self.rng.randint(10, 120))))

    def blob(self):
        """Bulk growth: one row of blob_bytes of zeros (cheap to compress,
        every page still a page) and a stamp that tells it apart."""
        cur = self.con.execute("INSERT INTO blobs(stamp, b) VALUES (?, zeroblob(?))",
                               (self.rng.getrandbits(62), self.blob_bytes))
        self.t.add("blobs", [cur.lastrowid])

    def schema_change(self):
        """A schema change in one transaction: a column, a table, an index.
        Every row of ai_insights changes shape, so the tracker starts over."""
        self.con.execute("ALTER TABLE ai_insights ADD COLUMN tag TEXT DEFAULT 'untagged'")
        self.con.execute("CREATE TABLE ai_tags (id INTEGER PRIMARY KEY, insight_id INTEGER, "
                         "tag TEXT NOT NULL)")
        self.con.execute("CREATE INDEX ai_tags_by_tag ON ai_tags(tag)")
        self.con.execute("UPDATE ai_insights SET tag = 'early' WHERE id % 3 = 0")
        return "recompute"

    WEIGHTS = {"messages": 40, "document": 8, "edit": 10, "forget": 6, "brain": 10,
               "reputation": 8, "insight": 8, "bulk": 1, "purge": 1}
    BLOB_WEIGHTS = {"blob": 1}


def writer_main(a):
    prof = json.loads(a.profile)
    rng = random.Random(a.seed)
    con = sqlite3.connect(a.db, timeout=60, isolation_level=None)
    con.execute("PRAGMA busy_timeout=60000")
    tracker = Tracker(con)
    shapes = Shapes(con, tracker, rng, prof.get("blob_bytes", 1 << 20))
    weights = Shapes.BLOB_WEIGHTS if prof.get("shapes") == "blobs" else Shapes.WEIGHTS
    names, cum = list(weights), list(weights.values())
    specials = {int(k): v for k, v in prof.get("specials", {}).items()}
    commits = prof["commits"]
    pause_every, pause = prof.get("pause_every"), prof.get("pause", [3.0, 4.0])
    gap = prof.get("gap", [0.0, 0.015])
    verify_every = prof.get("verify_every", 250)
    log = open(a.log, "a", buffering=1)

    def record(i, op, begin, commit):
        log.write(json.dumps({"i": i, "op": op, "begin": begin, "commit": commit,
                              "hash": tracker.hash()}) + "\n")

    record(0, "initial", a.initial_begin, time.time())
    print("ready", flush=True)
    next_pause = rng.randint(*pause_every) if pause_every else None
    i = 0
    while i < commits and not os.path.exists(a.stop):
        i += 1
        op = specials.get(i) or rng.choices(names, cum)[0]
        begin = time.time()
        if op == "vacuum":
            con.execute("VACUUM")
            commit = time.time()
        else:
            try:
                con.execute("BEGIN IMMEDIATE")
                again = getattr(shapes, op)()
                con.execute("COMMIT")
                commit = time.time()
            except BaseException:
                if con.in_transaction:
                    con.execute("ROLLBACK")
                tracker.abort()
                raise
            if again == "recompute":
                tracker.recompute()
            tracker.commit()
        record(i, op, begin, commit)
        hold = prof.get("holds", {}).get(str(i))
        if hold:
            # The test lets it go on when the agent has done what it waits for.
            deadline = time.time() + 600
            while not os.path.exists(f"{a.db}.go-{hold}") and time.time() < deadline:
                time.sleep(0.05)
        if i % verify_every == 0 or i == commits:
            full = content_hash_con(con)
            if full != tracker.hash():
                sys.exit(f"writer: the tracked hash {tracker.hash()} is not the content's "
                         f"{full} after commit {i} ({op})")
        if next_pause is not None and i >= next_pause:
            time.sleep(rng.uniform(*pause))
            next_pause = i + rng.randint(*pause_every)
        else:
            time.sleep(rng.uniform(*gap))
    log.close()
    con.close()
    print(i, flush=True)


# --- the checkpointer ----------------------------------------------------------

def checkpoint_main(a):
    """Checkpoints of every mode at random moments, as a server's own
    connection would run them, until the stop file appears; prints how many
    of each ran and how many were busy."""
    rng = random.Random(a.seed)
    con = sqlite3.connect(a.db, timeout=5, isolation_level=None)
    con.execute("PRAGMA busy_timeout=2000")
    done = {m: 0 for m in CHECKPOINT_MODES}
    busy = {m: 0 for m in CHECKPOINT_MODES}
    print("ready", flush=True)
    while not os.path.exists(a.stop):
        time.sleep(rng.uniform(0.05, 0.6))
        mode = rng.choice(CHECKPOINT_MODES)
        try:
            row = con.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
        except sqlite3.OperationalError:
            busy[mode] += 1
            continue
        done[mode] += 1
        busy[mode] += row[0]
    con.close()
    print(json.dumps({"done": done, "busy": busy}), flush=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="what", required=True)
    w = sub.add_parser("write")
    w.add_argument("--db", required=True)
    w.add_argument("--log", required=True)
    w.add_argument("--seed", type=int, required=True)
    w.add_argument("--stop", required=True)
    w.add_argument("--profile", required=True,
                   help="JSON: commits, shapes, pause_every, pause, gap, specials "
                        "({commit: shape}), holds ({commit: name}: after that commit, "
                        "wait for the file DB.go-NAME)")
    w.add_argument("--initial-begin", type=float, default=0.0,
                   help="since when the initial state has been the database's")
    c = sub.add_parser("checkpoint")
    c.add_argument("--db", required=True)
    c.add_argument("--seed", type=int, required=True)
    c.add_argument("--stop", required=True)
    a = p.parse_args(argv)
    (writer_main if a.what == "write" else checkpoint_main)(a)


if __name__ == "__main__":
    main()
