"""cbsync against an S3 endpoint that misbehaves on purpose, and the
stale-upload clean-up against a real one.

HostileS3 below is a small HTTP server on 127.0.0.1 (a port picked at bind
time) that cbsync is pointed at as an S3 endpoint (path-style, plain
http://, as a server on the path of a plain-http endpoint could answer).  It
answers ListObjectsV2 with what a hostile or broken server might send:

  - documents with a DOCTYPE declaring nested entities (an "entity bomb"),
    as a listing page and as an error answer;
  - bodies of tens of MiB, as a listing page and as an error answer;
  - continuation tokens that never end: the same token again, a cycle of
    tokens, a new token on every empty page, and pages of objects without
    end.

Each run must end with one clear error line and the documented exit code
(10: the remote cannot work, 9: try again later), in bounded memory: the peak
resident size of the cbsync process (os.wait4's rusage, so of that process
alone) stays under MAX_RSS, which leaves room for the sanitizers' overhead
(their quarantine of freed memory is kept small for these runs).

StaleUploads starts OpenStack Swift with s3api (tests/servers/swift.py) and
checks that remove_stale aborts only unfinished uploads of cbsync's own key
pattern under the remote's prefix, driven through
tests/unit/s3/test_s3_remote.c ("stale OFFSET" passes a "now" in the
future, since Swift records the real start time of an upload).
"""
import http.server
import os
import subprocess
import sys
import tempfile
import threading
import unittest
import urllib.parse

from harness import CBSYNC, HERE, CbsyncTest, main, serve_http

sys.path.insert(0, os.path.join(os.path.dirname(HERE), "servers"))
from swift import SwiftS3  # noqa: E402

MIB = 1 << 20
MAX_RSS = 200 * MIB
BUCKET = "bkt"
PREFIX = "p"

# Nested entities: each level refers to the one below ten times, so the
# last one stands for 3 * 10^8 bytes of "lol".
BOMB_DTD = ('<!DOCTYPE r [\n<!ENTITY l0 "lol">\n'
            + "".join('<!ENTITY l%d "%s">\n' % (i, ("&l%d;" % (i - 1)) * 10)
                      for i in range(1, 9))
            + "]>\n")
BOMB_LISTING = ('<?xml version="1.0" encoding="UTF-8"?>\n' + BOMB_DTD +
                '<ListBucketResult><Name>bkt</Name><IsTruncated>false</IsTruncated>'
                '<Contents><Key>p/&l8;</Key><Size>1</Size></Contents>'
                '</ListBucketResult>').encode()
BOMB_ERROR = ('<?xml version="1.0" encoding="UTF-8"?>\n' + BOMB_DTD +
              '<Error><Code>AccessDenied</Code><Message>&l8;</Message></Error>').encode()


def contents(key):
    return ("<Contents><Key>%s</Key><LastModified>2026-01-01T00:00:00.000Z</LastModified>"
            "<ETag>&quot;0&quot;</ETag><Size>1</Size><StorageClass>STANDARD</StorageClass>"
            "</Contents>" % key)


def listing(token=None, keys=()):
    """One ListObjectsV2 page; truncated with NextContinuationToken token."""
    more = ("<IsTruncated>true</IsTruncated><NextContinuationToken>%s</NextContinuationToken>"
            % token if token else "<IsTruncated>false</IsTruncated>")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult '
            'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>bkt</Name>'
            '<Prefix>p/</Prefix><MaxKeys>1000</MaxKeys><EncodingType>url</EncodingType>%s%s'
            '</ListBucketResult>' % (more, "".join(contents(k) for k in keys))).encode()


class HostileS3(http.server.BaseHTTPRequestHandler):
    """Answers every ListObjectsV2 as server.mode says; counts requests."""
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: without this, each answer
    # waits for the client's delayed ACK, and a listing of thousands of
    # pages takes minutes.
    disable_nagle_algorithm = True

    def log_message(self, *a):
        pass

    def answer(self, status, body):
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def stream(self, status, head, filler, size, tail):
        """A body of about size bytes, written as it goes: head, filler
        repeated, tail.  The client may hang up early."""
        n = max(1, (size - len(head) - len(tail)) // len(filler))
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(head) + n * len(filler) + len(tail)))
        self.end_headers()
        chunk = filler * max(1, (256 << 10) // len(filler))
        per = len(chunk) // len(filler)
        try:
            self.wfile.write(head)
            left = n
            while left:
                k = min(left, per)
                self.wfile.write(chunk if k == per else filler * k)
                left -= k
            self.wfile.write(tail)
        except OSError:
            self.close_connection = True

    def do_GET(self):
        srv = self.server
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query,
                                      keep_blank_values=True)
        if "list-type" not in query:
            return self.answer(400, b"<Error><Code>InvalidRequest</Code></Error>")
        with srv.lock:
            srv.requests += 1
            page = srv.requests
        token = query.get("continuation-token", [None])[0]
        mode = srv.mode
        if mode == "bomb-listing":
            return self.answer(200, BOMB_LISTING)
        if mode == "bomb-error":
            return self.answer(403, BOMB_ERROR)
        if mode == "huge-listing":
            # Many small objects: a tree far larger than its text.
            head = listing()[:-len(b"</ListBucketResult>")]
            return self.stream(200, head, contents("p/x").encode(), 40 * MIB,
                               b"</ListBucketResult>")
        if mode == "huge-error":
            return self.stream(500, b"<Error><Code>InternalError</Code><Message>",
                               b"x" * 1024, 40 * MIB, b"</Message></Error>")
        if mode == "same-token":
            return self.answer(200, listing("again", ["p/a%d" % page]))
        if mode == "cycle":
            nxt = {None: "A", "A": "B", "B": "C", "C": "A"}[token]
            return self.answer(200, listing(nxt, ["p/c%d" % page]))
        if mode == "new-tokens":
            return self.answer(200, listing("t%d" % page))
        if mode == "many-objects":
            return self.answer(200, listing("m%d" % page,
                                            ["p/o-%d-%d" % (page, i) for i in range(1000)]))
        return self.answer(500, b"")


class HostileEndpoint(CbsyncTest):
    def setUp(self):
        super().setUp()
        self.srv = serve_http(self, HostileS3)
        self.srv.lock = threading.Lock()
        self.srv.requests = 0
        self.srv.mode = None

    def env(self):
        return {"CBSYNC_REMOTE_OFF_TYPE": "s3",
                "CBSYNC_REMOTE_OFF_ENDPOINT": "http://127.0.0.1:%d" % self.srv.server_address[1],
                "CBSYNC_REMOTE_OFF_BUCKET": BUCKET,
                "CBSYNC_REMOTE_OFF_PREFIX": PREFIX,
                "CBSYNC_REMOTE_OFF_PATH_STYLE": "true",
                "CBSYNC_REMOTE_OFF_CONNECT_TIMEOUT": "3s",
                "CBSYNC_REMOTE_OFF_TIMEOUT": "20s",
                "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
                "AWS_SECRET_ACCESS_KEY": "not-a-real-secret",
                "AWS_REGION": "us-east-1"}

    def list_tier(self, mode):
        """Run `cbsync list --tier off` against the server in mode; returns
        the CompletedProcess and the process's peak RSS in bytes."""
        self.srv.mode = mode
        self.srv.requests = 0
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("CBSYNC_", "AWS_")) or k == "CBSYNC_BIN"}
        # AddressSanitizer keeps freed memory in quarantine (256 MiB by
        # default), which would count against the process; a small one
        # still catches use-after-free, and RSS then measures cbsync.
        env["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=0:quarantine_size_mb=16"
        env.update(self.env())
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            proc = subprocess.Popen([CBSYNC, "list", "--tier", "off"], cwd=self.w.root, env=env,
                                    stdout=out, stderr=err)
            status, usage = self._wait(proc, 120)
            if usage is None:
                raise AssertionError("cbsync list did not finish in 120 s (mode %s, %d "
                                     "requests)" % (mode, self.srv.requests))
            out.seek(0)
            err.seek(0)
            done = subprocess.CompletedProcess(proc.args, os.waitstatus_to_exitcode(status),
                                               out.read().decode(errors="replace"),
                                               err.read().decode(errors="replace"))
        return done, usage.ru_maxrss * 1024

    @staticmethod
    def _wait(proc, timeout):
        """os.wait4 with a timeout: the exit status and the rusage of this
        child alone; (None, None) if it had to be killed."""
        result = []
        t = threading.Thread(target=lambda: result.append(os.wait4(proc.pid, 0)), daemon=True)
        t.start()
        t.join(timeout)
        if not result:
            proc.kill()
            t.join()        # the thread reaps it
            proc.returncode = -9
            return None, None
        proc.returncode = os.waitstatus_to_exitcode(result[0][1])
        return result[0][1], result[0][2]

    def assertRefused(self, mode, code, message):
        p, rss = self.list_tier(mode)
        line = self.assertFails(p, code, message)
        self.assertIn("remote 'off'", line)
        self.assertLess(rss, MAX_RSS, "peak RSS %.0f MiB" % (rss / MIB))
        return line

    def test_an_entity_bomb_in_a_listing_is_refused(self):
        line = self.assertRefused("bomb-listing", 10, "declares a DOCTYPE")
        self.assertIn("ListObjectsV2 bucket bkt prefix p: HTTP 200 with a document that declares "
                      "a DOCTYPE, which S3 never sends (refused)", line)
        self.assertNotIn("lol", line)

    def test_an_entity_bomb_in_an_error_answer_is_refused(self):
        line = self.assertRefused("bomb-error", 10, "HTTP 403")
        self.assertIn("ListObjectsV2 bucket bkt prefix p: HTTP 403: a document that declares a "
                      "DOCTYPE, which S3 never sends (refused)", line)
        self.assertNotIn("lol", line)

    def test_a_huge_listing_page_is_refused(self):
        line = self.assertRefused("huge-listing", 10, "larger than 8 MiB")
        self.assertIn("ListObjectsV2 bucket bkt prefix p: HTTP 200 with an answer larger than "
                      "8 MiB (refused)", line)

    def test_a_huge_error_answer_is_not_read(self):
        # A 500 is still worth retrying; its body is not worth reading.
        line = self.assertRefused("huge-error", 9, "HTTP 500")
        self.assertIn("ListObjectsV2 bucket bkt prefix p: HTTP 500: an error answer larger than "
                      "64 KiB (not read)", line)

    def test_a_repeated_continuation_token_stops_the_listing(self):
        line = self.assertRefused("same-token", 10, "repeats a continuation token")
        self.assertIn("page 2 repeats a continuation token the server sent before, so the "
                      "listing would never end (stopped)", line)
        self.assertEqual(self.srv.requests, 2)

    def test_a_cycle_of_continuation_tokens_stops_the_listing(self):
        line = self.assertRefused("cycle", 10, "repeats a continuation token")
        self.assertIn("page 4 repeats", line)
        self.assertEqual(self.srv.requests, 4)

    def test_endless_new_tokens_stop_at_the_page_ceiling(self):
        line = self.assertRefused("new-tokens", 10, "past 5000 pages")
        self.assertIn("ListObjectsV2 bucket bkt prefix p: the listing goes on past 5000 pages "
                      "(stopped); HINT: check that endpoint is an S3 service", line)
        self.assertEqual(self.srv.requests, 5000)

    def test_endless_objects_stop_at_the_object_ceiling(self):
        line = self.assertRefused("many-objects", 10, "more than 100000 objects")
        self.assertIn("HINT: keep cbsync's backups under a prefix of their own", line)
        self.assertEqual(self.srv.requests, 101)


# ---- stale multipart uploads against Swift --------------------------------------------

STALE_BUCKET = "cbsync-hostile"
OWN = "cloudbrain_daily_20200101_000000.db.gz"


def driver():
    """tests/unit/s3/test_s3_remote.c, built beside CBSYNC_BIN."""
    path = os.path.join(os.path.dirname(os.path.abspath(CBSYNC)), "tests",
                        "unit_s3_test_s3_remote")
    if not os.access(path, os.X_OK):
        raise AssertionError("the S3 driver is not built: " + path)
    return path


class StaleUploads(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s3 = SwiftS3()
        cls.s3.start()
        try:
            cls.s3.create_bucket(STALE_BUCKET)
        except BaseException:
            cls.s3.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.s3.stop()

    def setUp(self):
        self.c = self.s3.client()
        self.addCleanup(self.c.close)
        self.addCleanup(self.abort_all)

    def abort_all(self):
        for u in self.c.list_multipart_uploads(Bucket=STALE_BUCKET).get("Uploads", []):
            self.c.abort_multipart_upload(Bucket=STALE_BUCKET, Key=u["Key"],
                                          UploadId=u["UploadId"])

    def start_upload(self, key):
        up = self.c.create_multipart_upload(Bucket=STALE_BUCKET, Key=key)
        self.c.upload_part(Bucket=STALE_BUCKET, Key=key, PartNumber=1, UploadId=up["UploadId"],
                           Body=b"x" * 1000)
        return up["UploadId"]

    def left(self):
        ups = self.c.list_multipart_uploads(Bucket=STALE_BUCKET).get("Uploads", [])
        return sorted(u["Key"] for u in ups)

    def stale(self, prefix):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CBSYNC_", "AWS_"))}
        env.update(CBSYNC_TEST_S3_DRIVER="1", CBSYNC_REMOTE_T_TYPE="s3",
                   CBSYNC_REMOTE_T_ENDPOINT=self.s3.endpoint, CBSYNC_REMOTE_T_BUCKET=STALE_BUCKET,
                   CBSYNC_REMOTE_T_PATH_STYLE="true",
                   CBSYNC_REMOTE_T_ACCESS_KEY_ID=self.s3.access_key,
                   CBSYNC_REMOTE_T_SECRET_ACCESS_KEY=self.s3.secret_key)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
        if prefix:
            env["CBSYNC_REMOTE_T_PREFIX"] = prefix
        # Every upload started before "in 60 seconds" is old enough.
        p = subprocess.run([driver(), "stale", "60"], env=env, capture_output=True, text=True,
                           timeout=120)
        self.assertNotIn("AddressSanitizer", p.stderr)
        self.assertNotIn("runtime error", p.stderr)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        return [l for l in p.stdout.splitlines() if l.startswith("removed ")]

    def test_only_cbsyncs_own_uploads_under_its_prefix_are_aborted(self):
        foreign = ["other-tool/big.tar", "db/other-tool/big.tar", "db/big.tar",
                   "db/sub/" + OWN, "db/" + OWN + ".part", "db/" + OWN.replace(".db.gz", ".tar"),
                   "dbx/" + OWN, OWN]
        own = ["db/" + OWN, "db/" + OWN + ".json",
               "db/my_db_restore_point_20251231_235959.db.gz"]
        for key in foreign + own:
            self.start_upload(key)
        self.assertEqual(self.stale("db"), ["removed 3"])
        self.assertEqual(self.left(), sorted(foreign))

    def test_without_a_prefix_only_top_level_backup_names_are_aborted(self):
        foreign = ["other-tool/big.tar", "other-tool/" + OWN, "notes.txt"]
        own = [OWN, OWN + ".json"]
        for key in foreign + own:
            self.start_upload(key)
        self.assertEqual(self.stale(""), ["removed 2"])
        self.assertEqual(self.left(), sorted(foreign))


if __name__ == "__main__":
    main()
