"""The S3 backend against a real S3 server, read back by an independent client.

The server is OpenStack Swift with its s3api and tempauth middlewares
(tests/servers/swift.py), started once for this file on loopback; it checks
SigV4 signatures and payload hashes the way AWS does.  boto3 is the
independent client.  The backend is driven by two programs built with the
unit tests:

  - the contract suite (tests/contract/contract.c; CBSYNC_CONTRACT_BIN under
    CTest), run twice: with a prefix, and without one;
  - tests/unit/s3/test_s3_remote.c, one backend operation per run, for the
    checks that are particular to S3: what boto3 reads back, multipart
    ETags, wrong credentials, a stopped server, aborts, stale uploads, part
    size growth, configuration.

Both read the remote "t" from CBSYNC_REMOTE_T_* variables, as cbsync does.
Two small stand-ins run in this process for what Swift will not do on
demand: a TLS server with a throwaway certificate, and canned S3 answers
(throttling, 5xx, stalls, a wrong ETag, a completion that fails after its
200) for the retry-or-give-up classification.

If Swift cannot start, the tests fail with its log.  The whole file takes
about 50 s, most of it the contract's thousand-object listing.
"""
import base64
import concurrent.futures
import hashlib
import http.server
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "servers"))

from harness import serve_http  # noqa: E402
from swift import SwiftS3  # noqa: E402

BUCKET = "cbsync-s3-test"
MIB = 1 << 20
SERVER = None


def build_dirs():
    """Where the programs are: the build directory of CBSYNC_BIN when it is
    set (as under CTest), else the usual build directories."""
    if os.environ.get("CBSYNC_BIN"):
        return [os.path.dirname(os.path.abspath(os.environ["CBSYNC_BIN"]))]
    return [os.path.join(ROOT, name) for name in ("build", "build-test", "build-s3", "build-asan")]


def find_program(relative):
    for d in build_dirs():
        path = os.path.join(d, relative)
        if os.access(path, os.X_OK):
            return path
    return None


DRIVER = find_program(os.path.join("tests", "unit_s3_test_s3_remote"))


def contract_bin():
    return os.environ.get("CBSYNC_CONTRACT_BIN") or find_program(os.path.join("tests", "contract"))


def setUpModule():
    global SERVER
    if not DRIVER:
        raise AssertionError("tests/unit/s3/test_s3_remote.c is not built (looked in %s)"
                             % ", ".join(build_dirs()))
    SERVER = SwiftS3()
    SERVER.start()      # raises with Swift's logs if it cannot start
    try:
        SERVER.create_bucket(BUCKET)
        SERVER.verify_signature_checks(BUCKET)
    except BaseException:
        SERVER.stop()
        raise


def tearDownModule():
    if SERVER:
        SERVER.stop()


def clean_env():
    """The environment without anything that could configure a remote or
    credentials behind the test's back."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("CBSYNC_", "AWS_")) or k == "CBSYNC_TEST_TMP"}


def remote_env(prefix="", **overrides):
    """CBSYNC_REMOTE_T_* for the Swift bucket; an override of None removes."""
    env = clean_env()
    env.update(CBSYNC_REMOTE_T_TYPE="s3", CBSYNC_REMOTE_T_ENDPOINT=SERVER.endpoint,
               CBSYNC_REMOTE_T_BUCKET=BUCKET, CBSYNC_REMOTE_T_PATH_STYLE="true",
               CBSYNC_REMOTE_T_ACCESS_KEY_ID=SERVER.access_key,
               CBSYNC_REMOTE_T_SECRET_ACCESS_KEY=SERVER.secret_key,
               CBSYNC_REMOTE_T_PART_SIZE="5M", CBSYNC_REMOTE_T_TIMEOUT="20s")
    if prefix:
        env["CBSYNC_REMOTE_T_PREFIX"] = prefix
    for k, v in overrides.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


class Run:
    """One run of the driver: its lines, result name, error line, counters."""

    def __init__(self, proc):
        self.proc = proc
        self.lines = proc.stdout.splitlines()
        self.result = self._field("result: ")
        self.error = self._field("error: ") or ""
        self.stats = {}
        stats = self._field("stats ")
        if stats:
            self.stats = {k: int(v) for k, v in (w.split("=") for w in stats.split())}
        self.output = [l for l in self.lines
                       if not l.startswith(("result: ", "error: ", "stats "))]

    def _field(self, prefix):
        for line in self.lines:
            if line.startswith(prefix):
                return line[len(prefix):]
        return None

    def __str__(self):
        return "exit %s\nstdout:\n%s\nstderr:\n%s" % (self.proc.returncode, self.proc.stdout,
                                                     self.proc.stderr[-4000:])


class S3Test(unittest.TestCase):
    prefix = ""

    def setUp(self):
        # Each test has a root of its own: ROOT/<test name>.
        self.prefix = "%s/%s" % (type(self).prefix, self._testMethodName[5:40].rstrip("_"))
        self.tmp = tempfile.mkdtemp(prefix="cbsync-s3-it-",
                                    dir=os.environ.get("CBSYNC_TEST_TMP"))
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.s3 = SERVER.client()
        self.addCleanup(self.s3.close)

    def drive(self, *args, env=None, expect="ok"):
        env = env or remote_env(self.prefix)
        env["CBSYNC_TEST_S3_DRIVER"] = "1"
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
        proc = subprocess.run([DRIVER] + [str(a) for a in args], env=env, capture_output=True,
                              text=True, timeout=120)
        run = Run(proc)
        self.assertNotIn("AddressSanitizer", proc.stderr, str(run))
        self.assertNotIn("runtime error", proc.stderr, str(run))
        if expect is not None:
            self.assertEqual(run.result, expect, str(run))
            self.assertEqual(proc.returncode, 0 if expect == "ok" else 1, str(run))
        return run

    def file_of(self, name, size, seed=1):
        """A file of size bytes, random but repeatable."""
        path = os.path.join(self.tmp, name)
        rnd = random.Random(seed)
        with open(path, "wb") as f:
            left = size
            while left:
                n = min(left, MIB)
                f.write(rnd.randbytes(n))
                left -= n
        return path

    def read(self, path):
        with open(path, "rb") as f:
            return f.read()

    def object_key(self, key):
        return "%s/%s" % (self.prefix, key) if self.prefix else key

    def s3_get(self, key):
        return self.s3.get_object(Bucket=BUCKET, Key=self.object_key(key))["Body"].read()

    def s3_exists(self, key):
        from botocore.exceptions import ClientError
        try:
            self.s3.head_object(Bucket=BUCKET, Key=self.object_key(key))
            return True
        except ClientError as e:
            if e.response["ResponseMetadata"]["HTTPStatusCode"] == 404:
                return False
            raise

    def uploads(self, prefix=None):
        """Unfinished multipart uploads (under prefix, default this test's)."""
        p = self.prefix + "/" if prefix is None and self.prefix else (prefix or "")
        out = self.s3.list_multipart_uploads(Bucket=BUCKET, Prefix=p)
        return out.get("Uploads", [])

    def abort_all_uploads(self):
        for u in self.uploads(prefix=""):
            self.s3.abort_multipart_upload(Bucket=BUCKET, Key=u["Key"], UploadId=u["UploadId"])


class Server(unittest.TestCase):
    def test_swift_checks_signatures_and_payload_hashes(self):
        # Also done before any test runs: a server that let bad requests
        # through would make every other test here meaningless.
        SERVER.verify_signature_checks(BUCKET)


class RoundTrips(S3Test):
    prefix = "rt/offsite"

    def test_objects_read_back_byte_identical_by_boto3(self):
        small = self.file_of("small.db.gz", 1000)
        big = self.file_of("big.db.gz", 12 * MIB + 123, seed=2)
        r = self.drive("put", "cloudbrain_manual_20260202_120000.db.gz", small)
        self.assertEqual(r.stats["requests"], 1, "one PUT below part_size")
        r = self.drive("put", "deep/cloudbrain_daily_20260202_020000.db.gz", big)
        # CreateMultipartUpload, 3 parts (5 + 5 + 2 MiB), CompleteMultipartUpload.
        self.assertEqual(r.stats["requests"], 5, str(r))
        # The parts, and the small CompleteMultipartUpload document.
        self.assertGreater(r.stats["up"], 12 * MIB + 123)
        self.assertLess(r.stats["up"], 12 * MIB + 123 + 1024)
        self.drive("put-text", "cloudbrain_manual_20260202_120000.db.gz.json", '{"v": 1}')

        self.assertEqual(self.s3_get("cloudbrain_manual_20260202_120000.db.gz"), self.read(small))
        self.assertEqual(self.s3_get("deep/cloudbrain_daily_20260202_020000.db.gz"),
                         self.read(big))
        self.assertEqual(self.s3_get("cloudbrain_manual_20260202_120000.db.gz.json"), b'{"v": 1}')
        # The ETags say how each went up: the MD5 of a single PUT, and the
        # "MD5 of the part MD5s - 3" of a three-part upload.
        head = self.s3.head_object(Bucket=BUCKET,
                                   Key=self.object_key("cloudbrain_manual_20260202_120000.db.gz"))
        self.assertEqual(head["ETag"].strip('"'), hashlib.md5(self.read(small)).hexdigest())
        head = self.s3.head_object(
            Bucket=BUCKET, Key=self.object_key("deep/cloudbrain_daily_20260202_020000.db.gz"))
        data = self.read(big)
        parts = [data[i:i + 5 * MIB] for i in range(0, len(data), 5 * MIB)]
        want = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest()
        self.assertEqual(head["ETag"].strip('"'), "%s-3" % want)
        self.assertEqual(self.uploads(), [])

        # The backend's own listing, get and remove.
        r = self.drive("list", "")
        listing = {l.split("\t")[0]: l.split("\t")[1:] for l in r.output}
        self.assertEqual(sorted(listing), ["cloudbrain_manual_20260202_120000.db.gz",
                                           "cloudbrain_manual_20260202_120000.db.gz.json",
                                           "deep/cloudbrain_daily_20260202_020000.db.gz"])
        self.assertEqual(int(listing["deep/cloudbrain_daily_20260202_020000.db.gz"][0]),
                         12 * MIB + 123)
        self.assertLess(abs(int(listing["cloudbrain_manual_20260202_120000.db.gz"][1]) -
                            time.time()), 600)
        r = self.drive("list", "deep/")
        self.assertEqual([l.split("\t")[0] for l in r.output],
                         ["deep/cloudbrain_daily_20260202_020000.db.gz"])
        out = os.path.join(self.tmp, "out")
        r = self.drive("get", "deep/cloudbrain_daily_20260202_020000.db.gz", out)
        self.assertEqual(self.read(out), data)
        self.assertEqual(r.stats["down"], len(data))

        self.drive("remove", "deep/cloudbrain_daily_20260202_020000.db.gz")
        self.assertFalse(self.s3_exists("deep/cloudbrain_daily_20260202_020000.db.gz"))
        self.drive("remove", "deep/cloudbrain_daily_20260202_020000.db.gz")   # missing: fine
        r = self.drive("get", "deep/cloudbrain_daily_20260202_020000.db.gz", out,
                       expect="not_found")
        self.assertIn("GET deep/cloudbrain_daily_20260202_020000.db.gz: no such object", r.error)

    def test_an_object_of_exactly_part_size_is_one_put(self):
        path = self.file_of("five.db.gz", 5 * MIB, seed=3)
        r = self.drive("put", "five.db.gz", path)
        self.assertEqual(r.stats["requests"], 1)
        head = self.s3.head_object(Bucket=BUCKET, Key=self.object_key("five.db.gz"))
        self.assertNotIn("-", head["ETag"])
        self.assertEqual(self.s3_get("five.db.gz"), self.read(path))

    def test_empty_object(self):
        self.drive("put-text", "empty", "")
        self.assertEqual(self.s3_get("empty"), b"")
        r = self.drive("list", "empty")
        self.assertEqual(r.output[0].split("\t")[:2], ["empty", "0"])

    def test_virtual_hosted_style(self):
        # s3api serves BUCKET.localhost as the bucket; curl resolves
        # *.localhost to the loopback address.
        endpoint = SERVER.endpoint.replace("127.0.0.1", "localhost")
        env = remote_env(self.prefix, CBSYNC_REMOTE_T_ENDPOINT=endpoint,
                         CBSYNC_REMOTE_T_PATH_STYLE=None)
        self.drive("put-text", "vhost.json", "{}", env=env)
        self.assertEqual(self.s3_get("vhost.json"), b"{}")
        r = self.drive("list", "vhost", env=env)
        self.assertEqual([l.split("\t")[0] for l in r.output], ["vhost.json"])

    def test_storage_class_is_sent_and_signed(self):
        self.drive("put-text", "standard.json", "{}",
                   env=remote_env(self.prefix, CBSYNC_REMOTE_T_STORAGE_CLASS="STANDARD"))
        self.assertEqual(self.s3_get("standard.json"), b"{}")
        r = self.drive("put-text", "glacier.json", "{}", expect="remote",
                       env=remote_env(self.prefix, CBSYNC_REMOTE_T_STORAGE_CLASS="GLACIER"))
        self.assertIn("PUT glacier.json: HTTP 400 InvalidStorageClass", r.error)
        self.assertIn("HINT: check storage_class", r.error)


class Listing(S3Test):
    prefix = "pages"

    def test_listing_follows_continuation_tokens_past_1000_objects(self):
        names = ["obj-%05d" % i for i in range(1030)]
        # Keys cbsync would never write still list correctly (the listing
        # asks for encoding-type=url and decodes it).
        odd = ["odd/with space", "odd/plus+sign", "odd/amp&lt<gt>", "odd/caf\u00e9"]
        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            list(ex.map(lambda k: self.s3.put_object(Bucket=BUCKET, Key=self.object_key(k),
                                                     Body=b"x" * (len(k) % 7)),
                        names + odd))
        # An object beside the root that must not show up.
        self.s3.put_object(Bucket=BUCKET, Key=self.prefix + "X/not-mine", Body=b"x")
        r = self.drive("list-raw", "")
        got = dict(l.split("\t")[:2] for l in r.output)
        self.assertEqual(sorted(got), sorted(names + odd))
        # Through backend_list, keys cbsync would never write are left out.
        r = self.drive("list", "")
        self.assertEqual(sorted(l.split("\t")[0] for l in r.output), sorted(names))
        self.assertEqual(got["obj-00007"], str(len("obj-00007") % 7))
        self.assertEqual(r.stats["requests"], 2, "1034 objects are two pages of 1000")
        r = self.drive("list", "obj-0102")
        self.assertEqual(len(r.output), 10)
        r = self.drive("list", "nothing-here/")
        self.assertEqual(r.output, [])


class Failures(S3Test):
    prefix = "fail"

    def test_wrong_secret_is_a_clear_remote_error_and_uploads_nothing(self):
        wrong = remote_env(self.prefix, CBSYNC_REMOTE_T_SECRET_ACCESS_KEY="not-the-s3cret")
        r = self.drive("put-text", "x.db.gz.json", "{}", env=wrong, expect="remote")
        self.assertEqual(
            r.error, "remote 't': PUT x.db.gz.json: HTTP 403 SignatureDoesNotMatch: The request "
            "signature we calculated does not match the signature you provided. Check your key "
            "and signing method.; HINT: check secret_access_key")
        big = self.file_of("big", 7 * MIB)
        r = self.drive("put", "x.db.gz", big, env=wrong, expect="remote")
        self.assertIn("CreateMultipartUpload x.db.gz: HTTP 403 SignatureDoesNotMatch", r.error)
        self.assertEqual(r.stats["up"], 0, "no part was sent")
        for line in r.lines + r.proc.stderr.splitlines():
            self.assertNotIn("not-the-s3cret", line)
            self.assertNotIn("Signature=", line)
        self.assertFalse(self.s3_exists("x.db.gz.json"))
        self.assertFalse(self.s3_exists("x.db.gz"))
        self.assertEqual(self.uploads(), [])
        # Swift's tempauth answers an unknown access key the same way.
        r = self.drive("list", "", expect="remote",
                       env=remote_env(self.prefix, CBSYNC_REMOTE_T_ACCESS_KEY_ID="nobody:x"))
        self.assertIn("HTTP 403", r.error)

    def test_wrong_region_and_missing_bucket_are_remote_errors(self):
        r = self.drive("list", "", expect="remote",
                       env=remote_env(self.prefix, CBSYNC_REMOTE_T_REGION="eu-west-1"))
        self.assertIn("HTTP 400 AuthorizationHeaderMalformed", r.error)
        self.assertIn("HINT: check region", r.error)
        r = self.drive("list", "", expect="remote",
                       env=remote_env(self.prefix, CBSYNC_REMOTE_T_BUCKET="no-such-bucket"))
        self.assertIn("ListObjectsV2 bucket no-such-bucket prefix %s: HTTP 404 NoSuchBucket"
                      % self.prefix, r.error)
        r = self.drive("get", "x", os.path.join(self.tmp, "x"), expect="remote",
                       env=remote_env(self.prefix, CBSYNC_REMOTE_T_BUCKET="no-such-bucket"))
        self.assertIn("NoSuchBucket", r.error)
        r = self.drive("remove", "x", expect="remote",
                       env=remote_env(self.prefix, CBSYNC_REMOTE_T_BUCKET="no-such-bucket"))
        self.assertIn("NoSuchBucket", r.error)

    def test_stopped_server_means_retry(self):
        path = self.file_of("f", 1000)
        SERVER.stop_proxy()
        try:
            r = self.drive("put", "f.db.gz", path, expect="retry")
            self.assertIn("PUT f.db.gz: Failed to connect to 127.0.0.1 port", r.error)
            r = self.drive("list", "", expect="retry")
            self.assertIn("Couldn't connect to server", r.error)
            r = self.drive("get", "f.db.gz", os.path.join(self.tmp, "o"), expect="retry")
        finally:
            SERVER.start_proxy()
        self.drive("put", "f.db.gz", path)
        self.assertEqual(self.s3_get("f.db.gz"), self.read(path))

    def test_unknown_host_means_retry(self):
        r = self.drive("list", "", expect="retry", env=remote_env(
            self.prefix, CBSYNC_REMOTE_T_ENDPOINT="http://no-such-host.invalid:9"))
        self.assertIn("Could not resolve host", r.error)


class Uploads(S3Test):
    prefix = "up"

    def tearDown(self):
        self.abort_all_uploads()

    def test_abort_leaves_no_multipart_upload(self):
        r = self.drive("abort", "aborted.db.gz", 12 * MIB)
        self.assertEqual(r.output, ["aborted"])
        # CreateMultipartUpload, two 5 MiB parts, AbortMultipartUpload.
        self.assertEqual(r.stats["requests"], 4, str(r))
        self.assertEqual(r.stats["up"], 10 * MIB)
        self.assertEqual(self.uploads(), [])
        self.assertFalse(self.s3_exists("aborted.db.gz"))

    def test_cancel_interrupts_and_aborts(self):
        r = self.drive("cancel", "cancelled.db.gz", 11 * MIB, expect="interrupted")
        self.assertIn("interrupted", r.error)
        self.assertEqual(self.uploads(), [])
        self.assertFalse(self.s3_exists("cancelled.db.gz"))

    def test_part_size_grows_when_10000_parts_would_not_do(self):
        # Declared 100 GiB with 5 MiB parts: would be 20480 parts, so parts
        # grow to ceil(100 GiB / 10000) rounded up to whole MiB = 11 MiB.
        # (A backup's name: remove_stale aborts only uploads of cbsync's keys.)
        r = self.drive("crash", "cloudbrain_manual_20200101_000001.db.gz", 23 * MIB, 100 << 30,
                       expect=None)
        self.assertEqual((r.proc.returncode, r.output), (0, ["crashed"]), str(r))
        ups = self.uploads()
        self.assertEqual(len(ups), 1)
        parts = self.s3.list_parts(Bucket=BUCKET, Key=ups[0]["Key"],
                                   UploadId=ups[0]["UploadId"])["Parts"]
        self.assertEqual([p["Size"] for p in parts], [11 * MIB, 11 * MIB])
        for p in parts:
            self.assertEqual(p["ETag"].strip('"'),
                             hashlib.md5(bytes((i * 131 + 7) & 0xff for i in range(MIB)) *
                                         11).hexdigest())
        # A killed upload is what remove_stale is for.
        r = self.drive("stale", "5")
        self.assertEqual(r.output, ["removed 1"])
        self.assertEqual(self.uploads(), [])

    def test_remove_stale_aborts_old_uploads_under_the_root_only(self):
        old = "cloudbrain_manual_20200101_000000.db.gz"
        mine = self.s3.create_multipart_upload(Bucket=BUCKET, Key=self.object_key(old))
        self.s3.upload_part(Bucket=BUCKET, Key=self.object_key(old), PartNumber=1,
                            UploadId=mine["UploadId"], Body=b"x" * 1000)
        other = self.s3.create_multipart_upload(Bucket=BUCKET, Key="elsewhere/" + old)
        try:
            # Nothing is an hour old yet.
            r = self.drive("stale", "-3600")
            self.assertEqual(r.output, ["removed 0"])
            self.assertEqual(len(self.uploads()), 1)
            # Everything started before "in 5 seconds" is.
            r = self.drive("stale", "5")
            self.assertEqual(r.output, ["removed 1"])
            self.assertEqual(self.uploads(), [])
            left = self.uploads(prefix="elsewhere/")
            self.assertEqual([u["UploadId"] for u in left], [other["UploadId"]])
        finally:
            self.s3.abort_multipart_upload(Bucket=BUCKET, Key="elsewhere/" + old,
                                           UploadId=other["UploadId"])


class Configuration(S3Test):
    prefix = "conf"

    def test_credentials_from_the_environment_or_a_clear_error(self):
        bare = remote_env(self.prefix, CBSYNC_REMOTE_T_ACCESS_KEY_ID=None,
                          CBSYNC_REMOTE_T_SECRET_ACCESS_KEY=None)
        r = self.drive("open", env=dict(bare), expect="config")
        self.assertEqual(r.error, "remote 't': no S3 credentials; HINT: set access_key_id and "
                         "secret_access_key (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in "
                         "the environment)")
        env = dict(bare, AWS_ACCESS_KEY_ID=SERVER.access_key,
                   AWS_SECRET_ACCESS_KEY=SERVER.secret_key)
        self.drive("put-text", "env.json", "{}", env=env)
        self.assertEqual(self.s3_get("env.json"), b"{}")
        r = self.drive("open", env=dict(bare, AWS_ACCESS_KEY_ID="id"), expect="config")
        self.assertIn("access_key_id is set but secret_access_key is not", r.error)
        # AWS_REGION is the default region (and Swift wants us-east-1).
        r = self.drive("list", "", expect="remote",
                       env=dict(remote_env(self.prefix), AWS_REGION="ap-south-1"))
        self.assertIn("the region 'ap-south-1' is wrong", r.error)

    def test_settings_that_cannot_work_fail_at_open(self):
        cases = [
            ({"CBSYNC_REMOTE_T_PART_SIZE": "4M"}, "part_size must be between 5M and 5G"),
            ({"CBSYNC_REMOTE_T_PATH_STYLE": None}, "HINT: set path_style = true"),
            ({"CBSYNC_REMOTE_T_ENDPOINT": "http://someone:hunter2@127.0.0.1:1"},
             "credentials do not belong in the URL"),
            ({"CBSYNC_REMOTE_T_ENDPOINT": "ftp://127.0.0.1:1"}, "only http:// and https://"),
            ({"CBSYNC_REMOTE_T_BUCKET": "a/b"}, "is not a bucket name"),
            ({"CBSYNC_REMOTE_T_PREFIX": "a b"}, "prefix \"a b\" may use only"),
            ({"CBSYNC_REMOTE_T_CA_FILE": "/nonexistent/ca.pem"}, "cannot be read"),
        ]
        for overrides, message in cases:
            r = self.drive("open", env=remote_env(self.prefix, **overrides), expect="config")
            self.assertIn(message, r.error)
            self.assertNotIn("hunter2", r.error)


class TLS(S3Test):
    """TLS is verified by default; ca_file trusts a private CA."""

    def test_certificates_are_verified(self):
        cert = os.path.join(self.tmp, "cert.pem")
        key = os.path.join(self.tmp, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", key, "-out", cert], check=True, capture_output=True)
        body = (b'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult '
                b'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name>'
                b'<IsTruncated>false</IsTruncated></ListBucketResult>')

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        httpd = serve_http(self, Handler, tls=(cert, key))
        endpoint = "https://127.0.0.1:%d" % httpd.server_address[1]

        r = self.drive("list", "", expect="remote",
                       env=remote_env(self.prefix, CBSYNC_REMOTE_T_ENDPOINT=endpoint))
        self.assertIn("HINT: the server's certificate is not trusted; for a private CA set "
                      "ca_file", r.error)
        r = self.drive("list", "", env=remote_env(self.prefix, CBSYNC_REMOTE_T_ENDPOINT=endpoint,
                                                  CBSYNC_REMOTE_T_CA_FILE=cert))
        self.assertEqual(r.output, [])


def s3_error(code, message):
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s</Code><Message>%s</Message>'
            '<RequestId>r</RequestId></Error>' % (code, message)).encode()


class FakeS3(http.server.BaseHTTPRequestHandler):
    """Canned S3 answers for what Swift will not do on demand: throttling,
    server errors, stalls, a wrong ETag, a completion that fails after its
    200.  It also checks every body against its x-amz-content-sha256 and
    Content-MD5, and records the requests."""
    protocol_version = "HTTP/1.1"

    ERRORS = {
        "slowdown": (503, s3_error("SlowDown", "Please reduce your request rate.")),
        "busy": (429, b""),
        "internal": (500, s3_error("InternalError", "We encountered an internal error.")),
        "reqtimeout": (400, s3_error("RequestTimeout", "Your socket connection to the server "
                                     "was not read from or written to within the timeout.")),
        "shamismatch": (400, s3_error("XAmzContentSHA256Mismatch", "The provided "
                                      "'x-amz-content-sha256' header does not match what was "
                                      "computed.")),
        "denied": (403, s3_error("AccessDenied", "Access Denied")),
        "missing": (404, s3_error("NoSuchKey", "The specified key does not exist.")),
        "html503": (503, b"<html><body>Service Unavailable\n\x01</body></html>"),
    }

    def log_message(self, *a):
        pass

    def answer(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def body(self):
        data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        sha = self.headers.get("x-amz-content-sha256")
        if sha != hashlib.sha256(data).hexdigest():
            self.server.bad.append("%s %s: x-amz-content-sha256 %s" % (self.command, self.path, sha))
        md5 = self.headers.get("Content-MD5")
        if md5 is not None and md5 != base64.b64encode(hashlib.md5(data).digest()).decode():
            self.server.bad.append("%s %s: Content-MD5 %s" % (self.command, self.path, md5))
        if not self.headers.get("Authorization", "").startswith("AWS4-HMAC-SHA256 Credential="):
            self.server.bad.append("%s %s: not signed" % (self.command, self.path))
        return data

    def route(self):
        data = self.body()
        self.server.log.append("%s %s" % (self.command, self.path))
        path, _, query = self.path.partition("?")
        key = path.split("/", 2)[2] if path.count("/") >= 2 else ""
        if self.command == "GET" and key in self.ERRORS:
            return self.answer(*self.ERRORS[key])
        if self.command == "GET" and key == "stall":
            self.send_response(200)
            self.send_header("Content-Length", "10")
            self.end_headers()
            self.wfile.flush()
            time.sleep(8)
            return
        if self.command == "GET" and key == "trickle":
            self.send_response(200)
            self.send_header("Content-Length", str(50 << 20))
            self.end_headers()
            try:
                for _ in range(500):
                    self.wfile.write(b"x" * 1024)
                    self.wfile.flush()
                    time.sleep(0.02)
            except OSError:
                pass
            self.close_connection = True
            return
        md5 = '"%s"' % hashlib.md5(data).hexdigest()
        if self.command == "POST" and query == "uploads=":
            return self.answer(200, b"<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>"
                               + key.encode() + b"</Key><UploadId>U1</UploadId>"
                               b"</InitiateMultipartUploadResult>")
        if self.command == "PUT" and "uploadId=U1" in query:
            return self.answer(200, headers=[("ETag", md5)])
        if self.command == "PUT":
            return self.answer(200, headers=[("ETag", '"%s"' % ("0" * 32) if key == "badetag"
                                              else md5)])
        if self.command == "POST" and query == "uploadId=U1":
            # S3 can fail a completion after it has answered 200 (and kept
            # the connection alive with blanks meanwhile).
            return self.answer(200, b"\n  \n  " +
                               s3_error("InternalError", "We encountered an internal error."))
        if self.command == "DELETE":
            return self.answer(204)
        return self.answer(400, s3_error("InvalidRequest", "unexpected"))

    do_GET = do_PUT = do_POST = do_DELETE = route


class Classification(S3Test):
    """What a failure means (backend.h): retry later, or give up."""

    def setUp(self):
        super().setUp()
        self.fake = serve_http(self, FakeS3)
        self.fake.log, self.fake.bad = [], []
        self.env = remote_env("", CBSYNC_REMOTE_T_ENDPOINT="http://127.0.0.1:%d"
                              % self.fake.server_address[1], CBSYNC_REMOTE_T_BUCKET="bkt")

    def tearDown(self):
        self.assertEqual(self.fake.bad, [])

    def test_statuses_and_codes(self):
        cases = [
            ("slowdown", "retry", "GET slowdown: HTTP 503 SlowDown: Please reduce your request rate."),
            ("busy", "retry", "GET busy: HTTP 429"),
            ("internal", "retry", "GET internal: HTTP 500 InternalError: We encountered"),
            ("reqtimeout", "retry", "GET reqtimeout: HTTP 400 RequestTimeout: Your socket"),
            ("html503", "retry", "GET html503: HTTP 503"),
            ("shamismatch", "remote", "GET shamismatch: HTTP 400 XAmzContentSHA256Mismatch"),
            ("denied", "remote", "GET denied: HTTP 403 AccessDenied: Access Denied; HINT: check "
             "that the credentials may use this bucket and prefix"),
            ("missing", "not_found", "GET missing: no such object"),
        ]
        for key, result, message in cases:
            r = self.drive("get", key, os.path.join(self.tmp, key), env=dict(self.env),
                           expect=result)
            self.assertIn(message, r.error)
            self.assertEqual(os.path.getsize(os.path.join(self.tmp, key)), 0,
                             "an error body never reaches the sink")

    def test_a_stalled_transfer_times_out_as_retry(self):
        start = time.monotonic()
        r = self.drive("get", "stall", os.path.join(self.tmp, "o"), expect="retry",
                       env=dict(self.env, CBSYNC_REMOTE_T_TIMEOUT="1s"))
        self.assertLess(time.monotonic() - start, 6)
        self.assertIn("GET stall: Operation too slow", r.error)

    def test_cancel_stops_a_transfer(self):
        start = time.monotonic()
        r = self.drive("get-cancel", "trickle", os.path.join(self.tmp, "o"), 300,
                       expect="interrupted", env=dict(self.env))
        self.assertLess(time.monotonic() - start, 5)
        self.assertIn("GET trickle: interrupted", r.error)

    def test_a_put_whose_etag_is_not_its_md5_is_corrupt_and_removed(self):
        r = self.drive("put-text", "badetag", "data", expect="corrupt", env=dict(self.env))
        self.assertIn("PUT badetag: the server stored something else (ETag "
                      "00000000000000000000000000000000, MD5 of what was sent "
                      "8d777f385d3dfec8815d20f7496026dc)", r.error)
        self.assertEqual(self.fake.log, ["PUT /bkt/badetag", "DELETE /bkt/badetag"])

    def test_a_completion_that_fails_after_200_is_retry_and_aborted(self):
        path = self.file_of("six", 6 * MIB)
        r = self.drive("put", "complete-error", path, expect="retry", env=dict(self.env))
        self.assertIn("CompleteMultipartUpload complete-error: HTTP 200 InternalError: We "
                      "encountered an internal error.", r.error)
        self.assertEqual(self.fake.log, [
            "POST /bkt/complete-error?uploads=",
            "PUT /bkt/complete-error?partNumber=1&uploadId=U1",
            "PUT /bkt/complete-error?partNumber=2&uploadId=U1",
            "POST /bkt/complete-error?uploadId=U1",
            "DELETE /bkt/complete-error?uploadId=U1",
        ])


class Contract(unittest.TestCase):
    """The backend contract suite, with a prefix and without one.  The first
    run lists more than 1000 objects; the second keeps that part short."""

    def run_contract(self, prefix, many=None):
        path = contract_bin()
        if not path:
            if os.environ.get("CBSYNC_CONTRACT_BIN"):
                self.fail("CBSYNC_CONTRACT_BIN is set but not found")
            self.skipTest("the contract binary is not built")
        env = remote_env(prefix)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
        if many is not None:
            env["CBSYNC_TEST_CONTRACT_MANY"] = str(many)
        p = subprocess.run([path], env=env, capture_output=True, text=True, timeout=300)
        self.assertEqual(p.returncode, 0, "contract suite failed:\n%s\n%s\n%s" % (
            p.stdout[-6000:], p.stderr[-6000:], SERVER.logs()[-3000:]))
        self.assertNotIn("AddressSanitizer", p.stderr)
        # It cleans up after itself, aborted uploads included.
        c = SERVER.client()
        left = c.list_multipart_uploads(Bucket=BUCKET, Prefix=(prefix + "/") if prefix else "")
        c.close()
        self.assertEqual(left.get("Uploads", []), [])

    def test_contract_with_a_prefix(self):
        self.run_contract("contract/root")

    def test_contract_without_a_prefix(self):
        self.run_contract("", many=60)


if __name__ == "__main__":
    unittest.main(verbosity=2)
