#!/usr/bin/python3
"""Generate a CloudBrain-shaped SQLite database of a chosen size.

The schema follows the "Database Schema" section of the CloudBrain backup
documentation: ai_profiles, ai_conversations, ai_messages (+ ai_messages_fts),
ai_insights, ai_documentation (+ ai_documentation_fts), ai_brain_state and
ai_reputation.  Text columns hold synthetic English-like prose made from the
word list below, with sentence and paragraph structure, so that the file
compresses roughly the way a real CloudBrain database would: gzip -6 saves
about 75% on the text alone and about 65-69% on the whole file (B-trees,
indexes and the FTS5 index compress less well than prose).  Nothing is
downloaded; only the standard library is used.

Usage:
    gen_cloudbrain.py --size-mib 256 --out /tmp/cloudbrain.db [--seed 1]
                      [--journal wal|delete] [--page-size 4096]
                      [--bodies prose|json]

As a module:
    import gen_cloudbrain
    info = gen_cloudbrain.generate("/tmp/demo.db", size_mib=1, seed=7)
"""

import argparse
import json
import os
import random
import sqlite3
import sys
import time

# ---------------------------------------------------------------------------
# Vocabulary.  Order matters: earlier words get higher Zipf weight, so the
# grammatical glue comes first, then everyday words, then the technical and
# collaboration jargon a CloudBrain message board is full of.
# ---------------------------------------------------------------------------
_GLUE = """
the of and to a in is that for it as with was on be this by are not or
at from but have an they which you we one all were can has their there been
if more when will would who so no what about out up into than them some could
other then its these two may only do new like time any also over after our
should such most first very where through just because how each between both
those well even must many before while being under still might here since
however without again often around though against during every until whether
""".split()

_COMMON = """
make use work need know take see find give think help look want show keep
start run try call move change follow build write read learn add check set
report share agree suggest explain describe improve reduce handle support
expect consider include create provide allow prefer remember notice decide
understand discuss review update record store load save fix test measure
people way day part system thing case point group number problem fact idea
question answer result reason place week month year plan step goal process
level order rate detail example effect choice value approach method pattern
model version session context memory history summary note list team project
good small large long short clear simple useful quick slow careful similar
different important possible likely common recent current whole single main
better best worse real next last early late open close free full easy hard
right wrong safe stable strong weak useful direct local remote shared daily
always never usually sometimes probably already almost quite rather really
together instead perhaps clearly mostly slightly exactly roughly earlier later
today tomorrow yesterday morning evening hour minute second moment period
person friend member partner colleague reader writer user owner author
word sentence paragraph page chapter book article topic title section draft
line file folder path name label field table column row entry item record
small detail simple answer careful review shared memory long history
seems appears becomes remains stays feels looks sounds means says tells asks
said told asked found made took gave kept left brought thought knew saw
went came became began seemed looked felt showed heard wrote meant tried
""".split()

_TECH = """
database query index table schema backup restore snapshot transaction commit
rollback journal checkpoint page cache buffer latency throughput bandwidth
server client socket port request response timeout retry error warning
message thread process worker queue scheduler daemon service agent module
function variable parameter argument return value string integer float
vector matrix tensor embedding token prompt completion inference training
dataset benchmark metric baseline experiment hypothesis evaluation score
accuracy precision recall loss gradient optimizer epoch batch layer weight
network graph node edge cluster shard replica primary secondary leader
compression gzip archive checksum integrity corruption recovery retention
storage disk volume partition filesystem directory permission owner group
config option setting default value environment variable secret credential
search insight knowledge document guide tutorial reference specification
python sqlite websocket json schema migration upgrade release deploy
conversation collaboration reputation profile expertise capability review
brain state cycle thought reflection planning reasoning evidence conclusion
performance regression profiling allocation memory leak pointer reference
pipeline stream chunk frame packet header payload offset length size count
interface contract protocol handshake session token key certificate trust
""".split()

_NAMES = """
Amiko Klaro Lumo Sagxo Vero Brila Fido Ondo Stelo Rivero Nubo Monto Arbo
Floro Kanto Paco Espero Ĝojo Saĝa Forta Vivo Lernanto Helpanto Esploro
""".split()

_EXTRA = """
2 3 4 5 8 10 12 16 20 32 64 100 128 256 512 1024 2026 8768 v1 v2 v3
TODO FIXME API CLI SQL WAL FTS5 UTF-8 HTTP TLS SSH S3 CPU RAM I/O p99 p50
""".split()

VOCAB = []
for _w in _GLUE + _COMMON + _TECH + _EXTRA:
    if _w not in VOCAB:
        VOCAB.append(_w)

AI_NAMES = _NAMES
MESSAGE_TYPES = ["message", "question", "response", "insight", "decision",
                 "suggestion"]
MESSAGE_TYPE_WEIGHTS = [50, 15, 20, 6, 4, 5]
INSIGHT_TYPES = ["technical", "strategic", "process", "lesson", "pattern",
                 "warning"]
DOC_CATEGORIES = ["guide", "reference", "tutorial", "architecture", "api",
                  "troubleshooting", "release-notes"]
PROJECTS = ["cloudbrain", "familio", "langtut", "esperanto-corpus",
            "websocket-gateway", "knowledge-graph", "backup-agent"]
MODELS = ["glm-4", "qwen-2.5", "claude", "gpt-4o", "llama-3", "deepseek-v3"]

BASE_TIME = 1740787200  # 2025-03-01 00:00:00 UTC: the simulated clock's start

SCHEMA = """
CREATE TABLE ai_profiles (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    nickname      TEXT,
    expertise     TEXT,
    version       TEXT,
    model         TEXT,
    project       TEXT,
    is_active     INTEGER NOT NULL DEFAULT 1,
    created_at    TEXT NOT NULL,
    last_active   TEXT
);

CREATE TABLE ai_conversations (
    id            INTEGER PRIMARY KEY,
    title         TEXT NOT NULL,
    description   TEXT,
    status        TEXT NOT NULL DEFAULT 'active',
    category      TEXT,
    project       TEXT,
    created_by    INTEGER REFERENCES ai_profiles(id),
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);

CREATE TABLE ai_messages (
    id              INTEGER PRIMARY KEY,
    conversation_id INTEGER REFERENCES ai_conversations(id),
    sender_id       INTEGER NOT NULL REFERENCES ai_profiles(id),
    message_type    TEXT NOT NULL DEFAULT 'message',
    content         TEXT NOT NULL,
    metadata        TEXT,
    project         TEXT,
    created_at      TEXT NOT NULL
);
CREATE INDEX idx_ai_messages_conversation ON ai_messages(conversation_id, created_at);
CREATE INDEX idx_ai_messages_sender ON ai_messages(sender_id, created_at);

CREATE VIRTUAL TABLE ai_messages_fts USING fts5(
    content, content='ai_messages', content_rowid='id');
CREATE TRIGGER ai_messages_fts_ai AFTER INSERT ON ai_messages BEGIN
    INSERT INTO ai_messages_fts(rowid, content) VALUES (new.id, new.content);
END;
CREATE TRIGGER ai_messages_fts_ad AFTER DELETE ON ai_messages BEGIN
    INSERT INTO ai_messages_fts(ai_messages_fts, rowid, content)
        VALUES ('delete', old.id, old.content);
END;
CREATE TRIGGER ai_messages_fts_au AFTER UPDATE OF content ON ai_messages BEGIN
    INSERT INTO ai_messages_fts(ai_messages_fts, rowid, content)
        VALUES ('delete', old.id, old.content);
    INSERT INTO ai_messages_fts(rowid, content) VALUES (new.id, new.content);
END;

CREATE TABLE ai_insights (
    id                 INTEGER PRIMARY KEY,
    discoverer_id      INTEGER NOT NULL REFERENCES ai_profiles(id),
    insight_type       TEXT NOT NULL,
    title              TEXT NOT NULL,
    content            TEXT NOT NULL,
    tags               TEXT,
    importance_level   INTEGER NOT NULL DEFAULT 3,
    applicable_domains TEXT,
    project            TEXT,
    source_message_id  INTEGER REFERENCES ai_messages(id),
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL
);
CREATE INDEX idx_ai_insights_discoverer ON ai_insights(discoverer_id);
CREATE INDEX idx_ai_insights_type ON ai_insights(insight_type, importance_level);

CREATE TABLE ai_documentation (
    id          INTEGER PRIMARY KEY,
    title       TEXT NOT NULL,
    content     TEXT NOT NULL,
    category    TEXT,
    tags        TEXT,
    url         TEXT,
    version     TEXT,
    language    TEXT NOT NULL DEFAULT 'en',
    author_id   INTEGER REFERENCES ai_profiles(id),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX idx_ai_documentation_category ON ai_documentation(category);

CREATE VIRTUAL TABLE ai_documentation_fts USING fts5(
    title, content, category, content='ai_documentation', content_rowid='id');
CREATE TRIGGER ai_documentation_fts_ai AFTER INSERT ON ai_documentation BEGIN
    INSERT INTO ai_documentation_fts(rowid, title, content, category)
        VALUES (new.id, new.title, new.content, new.category);
END;
CREATE TRIGGER ai_documentation_fts_ad AFTER DELETE ON ai_documentation BEGIN
    INSERT INTO ai_documentation_fts(ai_documentation_fts, rowid, title, content, category)
        VALUES ('delete', old.id, old.title, old.content, old.category);
END;
CREATE TRIGGER ai_documentation_fts_au AFTER UPDATE ON ai_documentation BEGIN
    INSERT INTO ai_documentation_fts(ai_documentation_fts, rowid, title, content, category)
        VALUES ('delete', old.id, old.title, old.content, old.category);
    INSERT INTO ai_documentation_fts(rowid, title, content, category)
        VALUES (new.id, new.title, new.content, new.category);
END;

CREATE TABLE ai_brain_state (
    id              INTEGER PRIMARY KEY,
    ai_id           INTEGER NOT NULL REFERENCES ai_profiles(id),
    session_id      TEXT NOT NULL,
    current_task    TEXT,
    last_thought    TEXT,
    last_insight    TEXT,
    current_cycle   INTEGER NOT NULL DEFAULT 0,
    cycle_count     INTEGER NOT NULL DEFAULT 0,
    brain_dump      TEXT,
    checkpoint_data TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE INDEX idx_ai_brain_state_ai ON ai_brain_state(ai_id, updated_at);

CREATE TABLE ai_reputation (
    ai_id                INTEGER PRIMARY KEY REFERENCES ai_profiles(id),
    total_reviews        INTEGER NOT NULL DEFAULT 0,
    average_score        REAL NOT NULL DEFAULT 0,
    messages_sent        INTEGER NOT NULL DEFAULT 0,
    insights_shared      INTEGER NOT NULL DEFAULT 0,
    documents_written    INTEGER NOT NULL DEFAULT 0,
    helpfulness          REAL NOT NULL DEFAULT 0,
    collaboration_score  REAL NOT NULL DEFAULT 0,
    last_updated         TEXT NOT NULL
);
"""

TABLES = ["ai_profiles", "ai_conversations", "ai_messages", "ai_messages_fts",
          "ai_insights", "ai_documentation", "ai_documentation_fts",
          "ai_brain_state", "ai_reputation"]


def _stamp(t):
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))


class Prose:
    """English-like text from VOCAB, with sentences and paragraphs.

    Real prose repeats short word sequences ("of the", "it is not"), and that
    is much of what gzip finds in it.  So the text is drawn from a mix of
    single words and a fixed set of stock phrases of two to five words, all
    Zipf-weighted.  The phrases come from a constant seed: they are the
    "language", the same for every database; the --seed only changes what is
    said with them.  Tokens are drawn in large batches for speed."""

    BATCH = 1 << 16
    N_PHRASES = 4000
    PHRASE_SHARE = 0.7

    def __init__(self, rng):
        self.rng = rng
        word_cum, total = [], 0.0
        for k in range(len(VOCAB)):
            total += 1.0 / (k + 2.7)
            word_cum.append(total)
        lang = random.Random(0x5EED)
        phrases = []
        for _ in range(self.N_PHRASES):
            phrases.append(" ".join(lang.choices(VOCAB, cum_weights=word_cum,
                                                 k=lang.randint(2, 5))))
        self._tokens = VOCAB + phrases
        # Word k weighs (1 - share) / (k + 2.7); phrase k weighs
        # 2 * share / (k + 10), so no single phrase is much over 1% of text.
        cum, total = [], 0.0
        for k in range(len(VOCAB)):
            total += (1.0 - self.PHRASE_SHARE) / (k + 2.7)
            cum.append(total)
        for k in range(len(phrases)):
            total += 2.0 * self.PHRASE_SHARE / (k + 10)
            cum.append(total)
        self._cum = cum
        self._cap = {w: w[:1].upper() + w[1:] for w in self._tokens}
        self._words = []
        self._pos = 0
        # Sentence lengths in tokens (about 2.7 words each): 2 to 10,
        # bell-shaped around 6.
        self._lens = list(range(2, 11))
        self._len_w = [min(k - 1, 11 - k, 3) for k in self._lens]

    def _take(self, n):
        if self._pos + n > len(self._words):
            rest = self._words[self._pos:]
            rest.extend(self.rng.choices(self._tokens, cum_weights=self._cum,
                                         k=max(self.BATCH, n)))
            self._words, self._pos = rest, 0
        out = self._words[self._pos:self._pos + n]
        self._pos += n
        return out

    def sentence(self, n=None):
        rng = self.rng
        if n is None:
            n = rng.choices(self._lens, self._len_w)[0]
        w = self._take(n)
        w[0] = self._cap[w[0]]
        u = rng.random()
        if u < 0.35 and n > 3:
            k = 1 + int(u * 1000) % (n - 2)
            w[k] += ","
        end = "." if u < 0.90 else ("?" if u < 0.97 else "!")
        return " ".join(w) + end

    def words(self, n):
        return " ".join(self._take(n))

    def title(self, lo=2, hi=4):
        w = self._take(self.rng.randint(lo, hi))
        return " ".join(self._cap[x] if len(x) > 3 else x for x in w)

    def paragraph(self, lo=2, hi=6):
        lens = self.rng.choices(self._lens, self._len_w,
                                k=self.rng.randint(lo, hi))
        return " ".join(self.sentence(n) for n in lens)

    def text(self, nchars, lo=2, hi=6):
        """Paragraphs until at least nchars characters."""
        parts, size = [], 0
        while size < nchars:
            p = self.paragraph(lo, hi)
            parts.append(p)
            size += len(p) + 2
        return "\n\n".join(parts)

    def document(self, nchars, title):
        """A markdown document: headings, paragraphs, lists, code blocks."""
        rng = self.rng
        parts, size = ["# " + title], len(title) + 2
        while size < nchars:
            u = rng.random()
            if u < 0.15:
                p = "## " + self.title(1, 3)
            elif u < 0.25:
                p = "\n".join("- " + self.sentence(rng.randint(2, 5))
                              for _ in range(rng.randint(2, 6)))
            elif u < 0.32:
                tbl = rng.choice(TABLES)
                p = "```\n" + "\n".join([
                    "sqlite3 ai_db/cloudbrain.db \"SELECT * FROM %s LIMIT %d;\""
                    % (tbl, rng.randint(1, 50)),
                    "python backup_database.py backup --type %s"
                    % rng.choice(["manual", "daily", "weekly", "monthly"]),
                    "# %s" % self.words(rng.randint(2, 4)),
                ][:rng.randint(1, 3)]) + "\n```"
            else:
                p = self.paragraph(2, 7)
            parts.append(p)
            size += len(p) + 2
        return "\n\n".join(parts)


class _Gen:
    """Row factories sharing one RNG, one prose source and one clock."""

    def __init__(self, rng, bodies="prose"):
        self.rng = rng
        self.prose = Prose(rng)
        self.bodies = bodies
        self.clock = float(BASE_TIME)
        self.n_ai = len(AI_NAMES)
        self.next_msg = 1
        self.next_conv = 1
        self.next_insight = 1
        self.next_doc = 1
        self.next_state = 1
        self.conv_left = 0
        self.conv_members = []
        self.recent = []  # the last few message bodies, for quoting

    def log_block(self):
        """A pasted log excerpt or command output, as chat messages have."""
        rng = self.rng
        t = self.clock - rng.randint(60, 7200)
        lines = []
        for _ in range(rng.randint(2, 12)):
            t += rng.expovariate(1 / 20.0)
            lvl = rng.choice(["INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR"])
            what = rng.choice([
                "backup created %s_manual_%s.db.gz (%.1f MiB)"
                % ("cloudbrain", time.strftime("%Y%m%d_%H%M%S", time.gmtime(t)),
                   rng.uniform(1, 900)),
                "ws client %d connected from 127.0.0.1:%d"
                % (rng.randint(1, self.n_ai), rng.randint(30000, 60000)),
                "query took %d ms: SELECT * FROM %s WHERE id = %d"
                % (rng.randint(1, 900), rng.choice(TABLES), rng.randint(1, 99999)),
                "checkpoint: %d frames, %d pages moved"
                % (rng.randint(1, 4000), rng.randint(1, 4000)),
                "retention: kept %d daily, %d weekly, %d monthly"
                % (rng.randint(1, 7), rng.randint(1, 4), rng.randint(1, 12)),
            ])
            lines.append("%s %-5s %s" % (_stamp(t), lvl, what))
        return "```\n" + "\n".join(lines) + "\n```"

    def json_body(self, nchars):
        """A machine-written message: a tool call and its result as JSON,
        about nchars long.  Ids are random hex (incompressible), numbers
        vary, keys repeat: content unlike the prose, to measure the
        compressor on something else."""
        rng, prose = self.rng, self.prose
        doc = {
            "kind": rng.choice(["tool_call", "tool_result", "event", "sync"]),
            "id": "%032x" % rng.getrandbits(128),
            "ts": _stamp(self.clock),
            "tool": rng.choice(["search", "fetch", "sql", "embed", "summarise"]),
            "args": {"query": prose.sentence(), "limit": rng.randint(1, 200),
                     "project": rng.choice(PROJECTS)},
            "rows": [],
        }
        size = len(json.dumps(doc))
        while size < nchars:
            row = {"id": rng.randint(1, 10 ** 7),
                   "ref": "%016x" % rng.getrandbits(64),
                   "score": round(rng.random(), 4),
                   "table": rng.choice(TABLES),
                   "tags": rng.sample(_TECH, rng.randint(0, 3)),
                   "text": prose.words(rng.randint(3, 20))}
            doc["rows"].append(row)
            size += len(json.dumps(row)) + 2
        doc["elapsed_ms"] = round(rng.lognormvariate(3, 1), 3)
        return json.dumps(doc, indent=2 if rng.random() < 0.3 else None)

    def tick(self, mean):
        self.clock += self.rng.expovariate(1.0 / mean)
        return _stamp(self.clock)

    def profiles(self):
        rng, rows = self.rng, []
        for i, name in enumerate(AI_NAMES, 1):
            rows.append((i, name, name.lower(), ", ".join(rng.sample(_TECH, 4)),
                         "%d.%d" % (rng.randint(1, 4), rng.randint(0, 9)),
                         rng.choice(MODELS), rng.choice(PROJECTS), 1,
                         _stamp(BASE_TIME - rng.randint(86400, 90 * 86400)),
                         None))
        return rows

    def new_conversation(self):
        rng = self.rng
        cid = self.next_conv
        self.next_conv += 1
        self.conv_left = int(rng.expovariate(1 / 40.0)) + 3
        self.conv_members = rng.sample(range(1, self.n_ai + 1),
                                       rng.randint(2, 5))
        now = self.tick(60)
        return (cid, self.prose.title(2, 4), self.prose.sentence(),
                rng.choice(["active", "active", "active", "archived", "closed"]),
                rng.choice(["collaboration", "research", "support", "planning",
                            "review"]),
                rng.choice(PROJECTS), self.conv_members[0], now, now)

    def messages(self, text_bytes, convs):
        """Messages totalling about text_bytes of content; new
        conversation rows go to convs."""
        rng, prose, rows, size = self.rng, self.prose, [], 0
        while size < text_bytes:
            if self.conv_left <= 0:
                convs.append(self.new_conversation())
            self.conv_left -= 1
            mid = self.next_msg
            self.next_msg += 1
            # Mostly short chat messages, a long tail of long ones.
            n = int(min(rng.lognormvariate(6.1, 0.9), 12000)) + 40
            if self.bodies == "json":
                self.recent.append("")
                rows.append((mid, self.next_conv - 1,
                             rng.choice(self.conv_members), "tool",
                             self.json_body(n), None, rng.choice(PROJECTS),
                             self.tick(45)))
                size += n
                continue
            body = prose.text(n, 1, 5)
            u = rng.random()
            if u < 0.25 and self.recent:
                # A reply quoting the start of a recent message.
                quoted = rng.choice(self.recent)[:rng.randint(80, 400)]
                body = "\n".join("> " + line for line in quoted.split("\n")
                                  if line) + "\n\n" + body
            elif u < 0.40:
                body = body + "\n\n" + self.log_block()
            if rng.random() < 0.2:
                body = "@%s %s" % (AI_NAMES[rng.choice(self.conv_members) - 1],
                                   body)
            self.recent.append(body)
            if len(self.recent) > 8:
                del self.recent[0]
            meta = ('{"reply_to": %s, "tokens": %d, "model": "%s", '
                    '"client": "cloudbrain-ws/%d.%d"}'
                    % (mid - rng.randint(1, 20) if mid > 20 and
                       rng.random() < 0.6 else "null",
                       len(body) // 4, rng.choice(MODELS),
                       rng.randint(1, 3), rng.randint(0, 9)))
            mtype = rng.choices(MESSAGE_TYPES, MESSAGE_TYPE_WEIGHTS)[0]
            rows.append((mid, self.next_conv - 1,
                         rng.choice(self.conv_members), mtype, body, meta,
                         rng.choice(PROJECTS), self.tick(45)))
            size += len(body)
        return rows

    def insights(self, text_bytes):
        rng, prose, rows, size = self.rng, self.prose, [], 0
        while size < text_bytes:
            iid = self.next_insight
            self.next_insight += 1
            body = prose.text(int(rng.lognormvariate(6.8, 0.6)) + 100, 2, 5)
            now = _stamp(self.clock)
            rows.append((iid, rng.randint(1, self.n_ai),
                         rng.choice(INSIGHT_TYPES), prose.title(2, 4), body,
                         json.dumps(rng.sample(_TECH, rng.randint(1, 5))),
                         rng.randint(1, 5),
                         ", ".join(rng.sample(PROJECTS, rng.randint(1, 3))),
                         rng.choice(PROJECTS),
                         rng.randint(1, max(1, self.next_msg - 1)), now, now))
            size += len(body)
        return rows

    def documents(self, text_bytes):
        rng, prose, rows, size = self.rng, self.prose, [], 0
        while size < text_bytes:
            did = self.next_doc
            self.next_doc += 1
            title = prose.title(2, 3)
            body = prose.document(int(rng.lognormvariate(8.6, 0.7)) + 500,
                                  title)
            now = _stamp(self.clock)
            cat = rng.choice(DOC_CATEGORIES)
            rows.append((did, title, body, cat,
                         ",".join(rng.sample(_TECH, rng.randint(1, 4))),
                         "docs/%s/%s.md" % (cat, title.lower().replace(" ", "-")),
                         "%d.%d" % (rng.randint(0, 3), rng.randint(0, 20)),
                         "en", rng.randint(1, self.n_ai), now, now))
            size += len(body)
        return rows

    def brain_states(self, count):
        rng, prose, rows = self.rng, self.prose, []
        for _ in range(count):
            sid = self.next_state
            self.next_state += 1
            dump = json.dumps({
                "goals": [prose.sentence() for _ in range(rng.randint(1, 3))],
                "working_memory": [prose.words(rng.randint(2, 6))
                                   for _ in range(rng.randint(2, 6))],
                "mood": rng.choice(["curious", "focused", "tired", "eager"]),
                "energy": round(rng.random(), 3),
            })
            now = _stamp(self.clock)
            cycle = rng.randint(1, 500)
            rows.append((sid, rng.randint(1, self.n_ai),
                         "sess-%08x" % rng.getrandbits(32), prose.sentence(),
                         prose.paragraph(1, 3), prose.sentence(), cycle,
                         cycle + rng.randint(0, 50), dump,
                         '{"cycle": %d, "offset": %d}'
                         % (cycle, rng.getrandbits(20)), now, now))
        return rows


def _round(conn, g, rng, chunk):
    """Add one round of rows (about `chunk` bytes of text) in one
    transaction."""
    convs = []
    msgs = g.messages(chunk * 70 // 100, convs)
    ins = g.insights(chunk * 12 // 100) if rng.random() < 0.9 else []
    docs = g.documents(chunk * 16 // 100) if rng.random() < 0.8 else []
    states = g.brain_states(rng.randint(0, 3))
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO ai_conversations VALUES (?,?,?,?,?,?,?,?,?)",
                     convs)
    conn.executemany("INSERT INTO ai_messages VALUES (?,?,?,?,?,?,?,?)", msgs)
    conn.executemany("INSERT INTO ai_insights VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                     ins)
    conn.executemany("INSERT INTO ai_documentation VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                     docs)
    conn.executemany("INSERT INTO ai_brain_state VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                     states)
    conn.execute("COMMIT")


def _size_of(conn, page_size):
    return conn.execute("PRAGMA page_count").fetchone()[0] * page_size


def _remove(path, keep_main=False):
    for suffix in ("-journal", "-wal", "-shm") + (() if keep_main else ("",)):
        try:
            os.unlink(path + suffix)
        except FileNotFoundError:
            pass


def generate(out, size_mib=256, seed=1, journal="wal", page_size=4096,
             progress=None, force=False, bodies="prose"):
    """Create the database at out.  Returns a dict describing it."""
    if journal not in ("wal", "delete"):
        raise ValueError("journal must be 'wal' or 'delete'")
    if page_size < 512 or page_size > 65536 or page_size & (page_size - 1):
        raise ValueError("page size must be a power of two from 512 to 65536")
    if size_mib <= 0:
        raise ValueError("size must be positive")
    if os.path.exists(out):
        if not force:
            raise FileExistsError("%s exists (use --force to replace it)" % out)
    target = int(size_mib * 1024 * 1024)
    tmp = out + ".partial"
    _remove(tmp)

    t0 = time.monotonic()
    rng = random.Random(seed)
    g = _Gen(rng, bodies)
    conn = sqlite3.connect(tmp, isolation_level=None)
    try:
        conn.execute("PRAGMA page_size=%d" % page_size)
        conn.execute("PRAGMA journal_mode=OFF")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA locking_mode=EXCLUSIVE")
        conn.execute("PRAGMA cache_size=-131072")
        conn.execute("PRAGMA temp_store=MEMORY")
        conn.executescript(SCHEMA)

        conn.execute("BEGIN")
        conn.executemany("INSERT INTO ai_profiles VALUES (?,?,?,?,?,?,?,?,?,?)",
                         g.profiles())
        conn.execute("COMMIT")

        # Each round is one transaction (so FTS5 flushes its pending terms
        # and page_count is honest) adding about `chunk` bytes of text.
        chunk = min(max(target // 300, 6 * 1024), 4 * 1024 * 1024)
        rounds = 0
        for attempt in range(4):
            size = _size_of(conn, page_size)
            last_growth = 0
            while size + last_growth // 2 < target:
                _round(conn, g, rng, chunk)
                rounds += 1
                new = _size_of(conn, page_size)
                last_growth = max(new - size, last_growth // 2)
                size = new
                if progress and rounds % 20 == 0:
                    progress(size, target, time.monotonic() - t0)
            # FTS5 segment merges grow the file in steps and leave free
            # pages behind, which matters for small targets: squeeze those
            # out and top up again if the file overshot by more than 2%.
            free = conn.execute("PRAGMA freelist_count").fetchone()[0]
            if size <= target * 1.02 or free == 0 or target > 256 * 1024 * 1024:
                break
            conn.execute("VACUUM")
            if _size_of(conn, page_size) >= target * 0.98:
                break

        # Reputation is derived from what was generated.
        now = _stamp(g.clock)
        conn.execute("BEGIN")
        conn.execute("""
            INSERT INTO ai_reputation
            SELECT p.id,
                   (SELECT count(*) FROM ai_insights i WHERE i.discoverer_id = p.id)
                       + (p.id * 7) % 23,
                   round(2.5 + ((p.id * 37) % 25) / 10.0, 2),
                   (SELECT count(*) FROM ai_messages m WHERE m.sender_id = p.id),
                   (SELECT count(*) FROM ai_insights i WHERE i.discoverer_id = p.id),
                   (SELECT count(*) FROM ai_documentation d WHERE d.author_id = p.id),
                   round(((p.id * 53) % 100) / 100.0, 2),
                   round(((p.id * 31) % 100) / 100.0, 2),
                   ?
            FROM ai_profiles p""", (now,))
        conn.execute("UPDATE ai_profiles SET last_active = ?", (now,))
        conn.execute("COMMIT")
        conn.execute("PRAGMA locking_mode=NORMAL")
        mode = conn.execute("PRAGMA journal_mode=%s" % journal).fetchone()[0]
        if mode.lower() != journal:
            raise RuntimeError("could not switch to journal_mode=%s" % journal)
        if journal == "wal":
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        counts = {t: conn.execute("SELECT count(*) FROM %s" % t).fetchone()[0]
                  for t in ("ai_profiles", "ai_conversations", "ai_messages",
                            "ai_insights", "ai_documentation", "ai_brain_state",
                            "ai_reputation")}
    except BaseException:
        conn.close()
        _remove(tmp)
        raise
    conn.close()
    _remove(tmp, keep_main=True)
    os.replace(tmp, out)
    return {
        "path": out,
        "bytes": os.path.getsize(out),
        "target_bytes": target,
        "page_size": page_size,
        "journal_mode": journal,
        "seed": seed,
        "rows": counts,
        "seconds": time.monotonic() - t0,
    }


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Generate a CloudBrain-shaped SQLite database.")
    ap.add_argument("--size-mib", type=float, default=256,
                    help="target on-disk size in MiB (default 256)")
    ap.add_argument("--out", required=True, help="database file to create")
    ap.add_argument("--seed", type=int, default=1,
                    help="random seed; the same seed gives the same data")
    ap.add_argument("--journal", choices=["wal", "delete"], default="wal",
                    help="journal mode the finished database is left in")
    ap.add_argument("--page-size", type=int, default=4096)
    ap.add_argument("--bodies", choices=["prose", "json"], default="prose",
                    help="message bodies: English-like prose (default) or "
                    "JSON tool calls with random ids")
    ap.add_argument("--force", action="store_true",
                    help="replace --out if it exists")
    ap.add_argument("-q", "--quiet", action="store_true")
    a = ap.parse_args(argv)

    def show(size, target, secs):
        sys.stderr.write("\r  %7.1f / %.1f MiB  %5.1fs" %
                         (size / 1048576, target / 1048576, secs))
        sys.stderr.flush()

    try:
        info = generate(a.out, a.size_mib, a.seed, a.journal, a.page_size,
                        progress=None if a.quiet else show, force=a.force,
                        bodies=a.bodies)
    except (ValueError, FileExistsError, sqlite3.Error, OSError) as e:
        if not a.quiet:
            sys.stderr.write("\n")
        sys.stderr.write("gen_cloudbrain: error: %s\n" % e)
        return 1
    off = info["bytes"] / info["target_bytes"] - 1
    if abs(off) > 0.05:
        sys.stderr.write("\ngen_cloudbrain: warning: the file is %+.0f%% off the "
                         "target (the empty schema alone takes about 30 pages)\n"
                         % (off * 100))
    if not a.quiet:
        sys.stderr.write("\n")
        rows = ", ".join("%s=%d" % kv for kv in info["rows"].items())
        print("%s: %.1f MiB (target %.1f), page size %d, journal %s, seed %d, "
              "%.1fs\n  rows: %s" % (
                  info["path"], info["bytes"] / 1048576,
                  info["target_bytes"] / 1048576, info["page_size"],
                  info["journal_mode"], info["seed"], info["seconds"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
