"""Smaller runs of the recorded history (test_history.py): page sizes 512 to
65536, a rollback-journal database, a database deleted and made again while
the agent runs, and a chain that grows past the lock-byte page at 1 GiB.

Each run records a writer's history with the agent capturing increments,
replays every chain by hand, and restores a few random times and the latest
state through the binary, judged as in test_history.py.  The runs go side by
side, three at a time, so they compete for the machine: the issue's timing
(a state at most interval + 1 s old) is held only in test_history.py, which
runs alone.  CBSYNC_HISTORY_ONLY=NAME,... runs only those runs; the other
CBSYNC_HISTORY_* settings are test_history.py's."""
import concurrent.futures
import os
import sqlite3

from harness import main
from test_history import SEED, HistoryBase, Scenario, iso

# The lock-byte page is the one holding byte 1 GiB whatever the page size, so
# that run needs a database past 1 GiB.  At 512-byte pages (2 million of
# them, the most page numbers) its snapshot takes the agent about 20 s under
# the sanitizers; the increments after it come from the WAL.
LOCK_PAGE_SIZE = int(os.environ.get("CBSYNC_HISTORY_LOCK_PAGE_SIZE", "512"))


def blob_prepare(target_bytes):
    """A prepare step: a blobs table filled with zero-filled 1 MiB rows until
    the database is about target_bytes."""
    def prepare(db):
        con = sqlite3.connect(db, isolation_level=None)
        con.execute("PRAGMA journal_mode=OFF")
        con.execute("PRAGMA synchronous=OFF")
        con.execute("CREATE TABLE blobs (id INTEGER PRIMARY KEY, stamp INTEGER, b BLOB)")
        ps = con.execute("PRAGMA page_size").fetchone()[0]
        con.execute("BEGIN")
        while con.execute("PRAGMA page_count").fetchone()[0] * ps < target_bytes - (2 << 20):
            con.execute("INSERT INTO blobs(b) VALUES (zeroblob(1048576))")
        con.execute("COMMIT")
        con.execute("PRAGMA journal_mode=WAL")
        con.close()
    return prepare


class VariantsTest(HistoryBase):
    def variant(self, name, seed, **kw):
        """A smaller run: record, replay by hand, restore a few times and the
        latest; returns its problems."""
        checks = kw.pop("checks", 8)
        s = Scenario(self, self.root, name, seed, timing=False, **kw)
        s.record()
        captured, problems = s.by_hand(check_every_checksum=name != "lock-page")
        problems += s.check_restores(s.random_times(checks, captured, in_pauses=2), captured,
                                     latest=True)
        if s.recreated:
            problems += self.check_recreated(s, captured)
        if name == "lock-page":
            problems += self.check_lock_page(s)
        return [f"[{name}] {p}" for p in problems]

    def check_lock_page(self, s):
        """The chain starts below the lock-byte page and an increment takes it
        past: the database grew past 1 GiB while increments were captured."""
        lock = (1 << 30) // s.page_size + 1
        snap = s.snapshots()[0]
        counts = [s.meta(os.path.join(s.backups, snap))["page_count"]]
        counts += [s.meta(p)["page_count"] for p in s.increments(snap)]
        if not (counts[0] < lock < counts[-1] and len(counts) >= 3):
            return [f"the chain of {snap} does not grow past the lock-byte page {lock} "
                    f"in increments: page counts {counts}"]
        return []

    def check_recreated(self, s, captured):
        """The old chain still restores to its last state (and every state
        restored or replayed since was judged like any other).  Whether the
        agent starts a new chain on the new file or carries on with a page
        diff of all of it is its choice (the issue: a page diff after any
        loss of continuity, a new base when policy asks); which one it made
        is reported."""
        problems = []
        deleted, made = s.recreated[0]
        new = [sn for sn in s.snapshots()
               if s.snapshot_time(s.meta(os.path.join(s.backups, sn))) >= deleted]
        if new:
            s.say(f"a new chain on the new database: {new[0]}")
        else:
            after = [p for sn in s.snapshots() for p in s.increments(sn)
                     if s.increment_time(s.meta(p)) >= made]
            first = s.meta(after[0]) if after else {}
            s.say(f"the chain went on across the new database: {os.path.basename(after[0])} "
                  f"holds {first.get('pages')} of its {first.get('page_count')} pages"
                  if after else "no capture after the database was made again")
        last_old = max(k for k in range(len(s.timeline)) if s.timeline.commit[k] < deleted)
        t = deleted - 0.05
        p, h, _ = s.restore_many([(t, ["--at", iso(t)])], workers=1)[t]
        if p.returncode != 0 or h != s.timeline.hash[last_old]:
            problems.append(f"restore --at {iso(t)}, just before the database was deleted, "
                            f"exited {p.returncode} with content {h}: want "
                            f"{s.timeline.describe(last_old)} {p.stderr.strip()}")
        return problems

    def test_variants(self):
        """Page sizes 512 to 65536, a rollback-journal database, a database
        deleted and made again, growth past the lock-byte page: smaller runs,
        side by side."""
        small = {"commits": self.commits(300), "pause_every": [120, 160], "pause": [3.0, 3.5],
                 "gap": [0.0, 0.02], "specials": {"200": "vacuum"}}
        # The lock-page run restores only its latest state, which the chain
        # reaches past the lock-byte page (each restore reads 1 GiB).
        runs = [("lock-page", dict(page_size=LOCK_PAGE_SIZE, rows=100, checks=0,
                                   checkpoints=False,
                                   prepare=blob_prepare((1 << 30) - (2 << 20)),
                                   holds=[("snapshot", lambda s: s.chain_file()),
                                          ("increment",
                                           lambda s: (s.chain_file() or {}).get("seq", 0) >= 1)],
                                   profiles=[{"commits": 8, "shapes": "blobs",
                                              "specials": {"3": "messages", "6": "edit"},
                                              "holds": {"1": "snapshot", "4": "increment"},
                                              "blob_bytes": 1 << 20, "gap": [0.2, 0.5]}]))]
        runs += [(f"page-{ps}", dict(page_size=ps, profiles=[small]))
                 for ps in (512, 1024, 2048, 8192, 16384, 32768, 65536)]
        runs += [("rollback-journal", dict(journal="delete", profiles=[small])),
                 ("recreated", dict(checkpoints=False, profiles=[small, small]))]
        only = os.environ.get("CBSYNC_HISTORY_ONLY")
        if only:
            runs = [r for r in runs if r[0] in only.split(",")]
        results = []
        with concurrent.futures.ThreadPoolExecutor(3) as pool:
            futs = {pool.submit(self.variant, name, SEED + 100 * k, **kw): name
                    for k, (name, kw) in enumerate(runs)}
            for f in concurrent.futures.as_completed(futs):
                try:
                    results += f.result()
                except Exception as e:  # one run's failure must not hide the others'
                    import traceback
                    where = traceback.extract_tb(e.__traceback__)[-1]
                    results.append(f"[{futs[f]}] {type(e).__name__} at line {where.lineno}: {e}")
        self.fail_with(results, "variants")


if __name__ == "__main__":
    main()
