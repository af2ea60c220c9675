"""What a restore to a time may give, judged against a recorded history
(history.py's writer log).

State k is the database after the writer's k-th commit (state 0: before the
writer started).  The log gives, for each, begin[k] (wall time just before
its BEGIN) and commit[k] (just after COMMIT returned): the commit happened in
between.  So for a time T:
  - a restored state k is possible only if begin[k] <= T (never a state
    committed after T);
  - it is at most `lag` seconds stale if state k was still current at
    T - lag, i.e. k is the last state or commit[k + 1] >= T - lag;
  - inside a writer's pause (no transaction began in [commit[k], T]) and
    once the capture had time to happen (T >= commit[k] + lag), it must be
    exactly state k.
Different states can have equal content (a VACUUM changes no content), so a
hash maps to a set of candidate states; a check passes if one of them fits."""
import datetime as dt
import json


def iso(t):
    """t (seconds since the epoch) as ISO 8601 UTC with milliseconds and Z."""
    ms = int(round(t * 1000))
    d = dt.datetime.fromtimestamp(ms // 1000, dt.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S") + ".%03dZ" % (ms % 1000)


class Timeline:
    def __init__(self, records):
        self.records = records
        self.begin = [r["begin"] for r in records]
        self.commit = [r["commit"] for r in records]
        self.hash = [r["hash"] for r in records]
        self.op = [r["op"] for r in records]
        self.by_hash = {}
        for k, h in enumerate(self.hash):
            self.by_hash.setdefault(h, []).append(k)
        for k in range(1, len(records)):
            assert self.begin[k] >= self.commit[k - 1] - 1e-6, f"log out of order at {k}"

    @classmethod
    def load(cls, *paths):
        """The states of one or more writer logs, in order (a later log, such
        as a writer on a recreated database, continues the history)."""
        records = []
        for p in paths:
            with open(p) as f:
                records += [json.loads(line) for line in f if line.strip()]
        return cls(records)

    def __len__(self):
        return len(self.records)

    @property
    def end(self):
        return self.commit[-1]

    def current_at(self, t):
        """States that may be the live one at t: from the last whose
        transaction surely committed by t to the last that may have."""
        sure = max((k for k in range(len(self)) if self.commit[k] <= t), default=0)
        maybe = max((k for k in range(len(self)) if self.begin[k] <= t), default=0)
        return list(range(sure, maybe + 1))

    def stale_ok(self, k, t, lag):
        return k + 1 >= len(self) or self.commit[k + 1] >= t - lag

    def staleness(self, t, h):
        """How old, at t, a restored state with content h is at least: 0 if
        it may still have been the live one, else how long before t the
        next state had surely replaced it (None if h is no state)."""
        ages = [max(0.0, t - self.commit[k + 1]) if k + 1 < len(self) else 0.0
                for k in self.by_hash.get(h, []) if self.begin[k] <= t]
        return min(ages) if ages else None

    def pauses(self, lag):
        """(k, from, to): the writer paused after state k; from `from` to
        `to` every restore must give exactly state k."""
        return [(k, self.commit[k] + lag, self.begin[k + 1]) for k in range(len(self) - 1)
                if self.begin[k + 1] - self.commit[k] > lag + 0.2]

    def describe(self, k):
        return (f"state {k} ({self.op[k]}, began {iso(self.begin[k])}, committed by "
                f"{iso(self.commit[k])}, hash {self.hash[k]})")

    def judge(self, t, h, lag=None, exact=None):
        """None if content hash h is an acceptable restore for time t, else
        one message saying why, with the time, the hash and the candidates.
        lag: also require it to be at most lag seconds stale; exact: require
        exactly that state."""
        cands = self.by_hash.get(h, [])
        why = None
        if not cands:
            why = "not a state the writer committed"
        elif not any(self.begin[k] <= t for k in cands):
            why = "a state committed after that time"
        elif exact is not None and h != self.hash[exact]:
            why = f"not the state before the writer's pause ({exact})"
        elif lag is not None and not any(self.begin[k] <= t and self.stale_ok(k, t, lag)
                                         for k in cands):
            why = f"older than {lag:g}s before that time"
        if why is None:
            return None
        lines = [f"restore at {iso(t)} ({t:.3f}) gave content {h}: {why}"]
        if cands:
            lines.append("  it is " + "; ".join(self.describe(k) for k in cands[:4]))
        want = [exact] if exact is not None else self.current_at(t)
        if lag is not None and exact is None:
            lo = min((k for k in range(len(self)) if self.stale_ok(k, t, lag)),
                     default=want[0])
            want = list(range(lo, want[-1] + 1))
        lines.append(f"  expected one of {len(want)} states:")
        for k in want[:3] + (["..."] if len(want) > 6 else []) + want[max(3, len(want) - 3):]:
            lines.append("    ..." if k == "..." else "    " + self.describe(k))
        return "\n".join(lines)
