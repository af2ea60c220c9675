"""A throwaway single-node OpenStack Swift with the S3 API, for tests.

    with SwiftS3() as s3:
        s3.create_bucket("backups")
        s3.verify_signature_checks("backups")
        ... talk to s3.endpoint with s3.access_key / s3.secret_key ...

What it runs, all on 127.0.0.1 on ports picked free at start (so parallel
test runs do not clash), in one temp directory (on /dev/shm when there is
room) that stop() removes:

  - account, container and object servers with workers = 0 (one process
    each), mount_check = false and a plain directory as their one device;
  - rings built with swift-ring-builder: one device, one replica;
  - a proxy whose pipeline has s3api (SigV4, region us-east-1, multipart
    through SLO, path-style URLs, and virtual-hosted ones under
    "localhost": http://BUCKET.localhost:PORT/) in front of tempauth, which
    holds one user, "test:tester" with key "testing" -- so the S3 access key
    is "test:tester" and the secret "testing";
  - memcached, when Debian's memcached is installed: the proxy caches
    account and container lookups in it (without it everything works, more
    slowly).

Every process starts in a session (so a process group) of its own -- Swift's
servers call setsid() themselves anyway -- and stop() kills each group
(SIGTERM, then SIGKILL) and reaps it.  stop() also runs at interpreter exit
and on SIGTERM, and each server is started through setpriv --pdeathsig KILL,
so nothing outlives the test: not when it fails, not when a runner kills it.  If Swift does not answer
within the start timeout, start() raises SwiftError carrying the servers'
logs: a test that needs Swift fails loudly, it does not skip.

verify_signature_checks() proves the server is a fair stand-in for AWS: a
wrong secret must get 403 SignatureDoesNotMatch, and a body that does not
match its x-amz-content-sha256 must get 400 (Swift says BadDigest where AWS
says XAmzContentSHA256Mismatch), with nothing stored either time.

The module itself needs only the standard library; boto3/botocore (Debian's
python3-boto3) are imported by the methods that use them.
"""
import atexit
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

ACCESS_KEY = "test:tester"
SECRET_KEY = "testing"
REGION = "us-east-1"

# eventlet resolves names through its own DNS module unless told not to;
# importing that module is most of swift-ring-builder's start-up time.
_FAST_ENV = {"EVENTLET_NO_GREENDNS": "yes"}

_SERVERS = ("account", "container", "object")
_SETPRIV = shutil.which("setpriv")


class SwiftError(AssertionError):
    """Swift did not start or does not behave like S3 should."""


def _free_ports(n):
    """n distinct TCP ports that were free on 127.0.0.1 a moment ago."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _default_tmp():
    """/dev/shm when it has room: Swift fsyncs every object and container
    update, which a RAM disk makes free.  Else the usual temp directory."""
    try:
        st = os.statvfs("/dev/shm")
        if os.access("/dev/shm", os.W_OK) and st.f_bavail * st.f_frsize > (1 << 30):
            return "/dev/shm"
    except OSError:
        pass
    return None


def _port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


_RUNNING = []


def _on_sigterm(signum, frame):
    for server in list(_RUNNING):
        server.stop()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _stop_on_sigterm(server):
    """Stop server when the test process gets SIGTERM (which skips atexit),
    unless someone else handles SIGTERM already."""
    _RUNNING.append(server)
    try:
        if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:
        pass    # not the main thread: atexit and the caller's stop() remain


class SwiftS3:
    def __init__(self, tmp_root=None, start_timeout=30.0, log_level=None):
        self.tmp_root = tmp_root or os.environ.get("CBSYNC_TEST_TMP") or _default_tmp()
        # Swift logs every request at INFO, which costs it a fair share of
        # its time; start-up failures are logged as errors either way.
        self.log_level = log_level or os.environ.get("CBSYNC_TEST_SWIFT_LOG_LEVEL") or "WARNING"
        self.start_timeout = start_timeout
        self.access_key = ACCESS_KEY
        self.secret_key = SECRET_KEY
        self.region = REGION
        self.dir = None
        self.procs = {}        # name -> Popen, every process we started and not yet reaped
        self.ports = {}
        self.endpoint = None
        self._atexit = False

    # -- life cycle ---------------------------------------------------------

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def start(self):
        """Configure, build rings, start every server, wait until the proxy
        answers.  Tries a second set of ports once if another process took
        one of the first set meanwhile."""
        if not self._atexit:
            atexit.register(self.stop)
            self._atexit = True
            _stop_on_sigterm(self)
        for attempt in range(2):
            try:
                self._start_once()
                return self
            except SwiftError as e:
                self.stop()
                if attempt or "Address already in use" not in str(e):
                    raise

    def _start_once(self):
        self.dir = tempfile.mkdtemp(prefix="cbsync-swift-", dir=self.tmp_root)
        names = ("proxy",) + _SERVERS + ("memcache",)
        self.ports = dict(zip(names, _free_ports(len(names))))
        self.endpoint = "http://127.0.0.1:%d" % self.ports["proxy"]
        os.makedirs(os.path.join(self.dir, "devices", "d1"))
        self._write_configs()
        # The account, container and object servers need no ring to start,
        # so they start while the rings are built; the proxy needs all three.
        # memcached lets the proxy cache account and container lookups:
        # without it every S3 request costs extra backend requests.
        if shutil.which("memcached"):
            self._spawn("memcache", ["memcached", "-l", "127.0.0.1", "-p",
                                     str(self.ports["memcache"]), "-U", "0", "-m", "16",
                                     "-u", pwd.getpwuid(os.getuid()).pw_name])
        for name in _SERVERS:
            self._spawn(name, ["swift-%s-server" % name, self._path(name + "-server.conf"), "-v"])
        self._build_rings()
        self._spawn("proxy", ["swift-proxy-server", self._path("proxy-server.conf"), "-v"])
        self._wait_ready()

    def _spawn(self, name, argv, log=None):
        """Start one process in a session (and so a process group) of its own
        (Swift's servers call setsid() themselves anyway).  Through setpriv
        (util-linux) it also gets SIGKILL should this process die without
        cleaning up -- killed by a test runner's timeout, say."""
        if _SETPRIV:
            argv = [_SETPRIV, "--pdeathsig", "KILL", "--"] + argv
        with open(self._path(log or name + ".log"), "ab") as out:
            self.procs[name] = subprocess.Popen(
                argv, cwd=self.dir, env=dict(os.environ, **_FAST_ENV),
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True)
        return self.procs[name]

    def _build_rings(self):
        """account/container/object rings: one device, one replica, each made
        by three swift-ring-builder calls (create, add, rebalance); the three
        rings are built in parallel."""
        for name in _SERVERS:
            chain = ("swift-ring-builder {b} create 2 1 1 && "
                     "swift-ring-builder {b} add r1z1-127.0.0.1:{port}/d1 100 && "
                     "swift-ring-builder {b} rebalance").format(
                         b=self._path(name + ".builder"), port=self.ports[name])
            self._spawn(name + "-ring", ["/bin/sh", "-c", chain])
        failed = []
        for name in _SERVERS:
            p = self.procs.pop(name + "-ring")
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self._kill(p)
            # rebalance exits 1 on mere warnings: the ring file is what counts.
            if not os.path.exists(self._path(name + ".ring.gz")):
                failed.append(name)
        if failed:
            raise SwiftError("swift-ring-builder failed for the %s ring(s)\n%s"
                             % (", ".join(failed), self.logs()))

    def _wait_ready(self):
        deadline = time.monotonic() + self.start_timeout
        while True:
            for name, p in self.procs.items():
                if p.poll() is not None:
                    raise SwiftError("the Swift %s server exited during start-up (status %s)\n%s"
                                     % (name, p.returncode, self.logs()))
            down = [n for n in ("proxy",) + _SERVERS if not _port_open(self.ports[n])]
            if not down and self._healthy():
                return
            if time.monotonic() > deadline:
                raise SwiftError("Swift did not answer within %.0f s (not listening: %s)\n%s"
                                 % (self.start_timeout, ", ".join(down) or "none",
                                    self.logs()))
            time.sleep(0.1)

    def _healthy(self):
        try:
            with urllib.request.urlopen(self.endpoint + "/healthcheck", timeout=2) as r:
                return r.status == 200
        except (urllib.error.URLError, OSError):
            return False

    @staticmethod
    def _kill(p):
        """SIGTERM p's process group, SIGKILL it if it lingers, reap p."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(p.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                p.wait(timeout=3)
                break
            except subprocess.TimeoutExpired:
                continue
        # Anything the process left in its group (Swift with workers = 0
        # forks none, but be sure).
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def stop(self):
        """Kill every Swift process and remove the temp directory."""
        procs, self.procs = self.procs, {}
        for p in procs.values():
            try:
                os.killpg(p.pid, signal.SIGTERM)   # all at once, then wait for each
            except (ProcessLookupError, PermissionError):
                pass
        for p in procs.values():
            self._kill(p)
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def stop_proxy(self):
        """Stop the proxy alone: the S3 endpoint now refuses connections."""
        p = self.procs.pop("proxy", None)
        if p:
            self._kill(p)

    def start_proxy(self):
        """Start the proxy again after stop_proxy(), on the same port."""
        self._spawn("proxy", ["swift-proxy-server", self._path("proxy-server.conf"), "-v"])
        self._wait_ready()

    def requests(self, bucket, prefix):
        """What clients asked of the proxy about bucket/prefix, by kind
        (LIST, GET, HEAD, PUT, POST, DELETE), from its access log -- the
        server's own count.  Needs log_level INFO (access lines are INFO)."""
        counts = {}
        path = self._path("proxy.log")
        if not os.path.exists(path):
            return counts
        with open(path, errors="replace") as f:
            for line in f:
                # "proxy: CLIENT REMOTE DATE METHOD PATH PROTO STATUS ...";
                # Swift's own subrequests have "-" for the client.
                parts = line.split()
                if len(parts) < 7 or parts[0] != "proxy:" or parts[1] == "-":
                    continue
                method, target = parts[4], urllib.parse.unquote(parts[5])
                if not target.startswith("/" + bucket):
                    continue
                rest = target[len(bucket) + 1:]
                if "list-type=2" in rest or (method == "GET" and rest.startswith("?")):
                    query = urllib.parse.parse_qs(rest.partition("?")[2])
                    if not query.get("prefix", [""])[0].startswith(prefix):
                        continue
                    kind = "LIST"
                elif rest.startswith("/" + prefix):
                    kind = method
                else:
                    continue
                counts[kind] = counts.get(kind, 0) + 1
        return counts

    def logs(self):
        """Every server's log, for failure messages."""
        out = []
        for name in ("proxy",) + _SERVERS + tuple(n + "-ring" for n in _SERVERS):
            path = self._path(name + ".log") if self.dir else None
            text = ""
            if path and os.path.exists(path):
                with open(path, errors="replace") as f:
                    text = f.read()[-6000:]
            out.append("--- swift %s log ---\n%s" % (name, text))
        return "\n".join(out)

    # -- set-up ---------------------------------------------------------------

    def _path(self, *parts):
        return os.path.join(self.dir, *parts)

    def _write(self, name, text):
        with open(self._path(name), "w") as f:
            f.write(text.lstrip())

    def _write_configs(self):
        user = pwd.getpwuid(os.getuid()).pw_name
        self._write("swift.conf", """
[swift-hash]
swift_hash_path_suffix = cbsync-test-suffix
swift_hash_path_prefix = cbsync-test-prefix

[storage-policy:0]
name = Policy-0
default = yes
""")
        common = """
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = {port}
workers = 0
user = {user}
swift_dir = {dir}
devices = {dir}/devices
mount_check = false
disable_fallocate = true
log_level = {log_level}
log_name = {name}
"""
        for name in _SERVERS:
            self._write(name + "-server.conf", common.format(
                port=self.ports[name], user=user, dir=self.dir, name=name,
                log_level=self.log_level) + """
[pipeline:main]
pipeline = {name}-server

[app:{name}-server]
use = egg:swift#{name}
""".format(name=name))
        # The proxy: s3api before tempauth (the order s3api insists on), slo
        # for multipart uploads.  The cache is our memcached (when Debian's
        # memcached is installed; tempauth insists on a cache client, and
        # without a server every lookup simply misses).
        self._write("proxy-server.conf", common.format(
            port=self.ports["proxy"], user=user, dir=self.dir, name="proxy",
            log_level=self.log_level) + """
[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats s3api tempauth copy slo dlo proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true

[filter:s3api]
use = egg:swift#s3api
location = {region}
max_upload_part_num = 10000
storage_domain = localhost

[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = {secret} .admin

[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:{memcache}

[filter:catch_errors]
use = egg:swift#catch_errors

[filter:gatekeeper]
use = egg:swift#gatekeeper

[filter:healthcheck]
use = egg:swift#healthcheck

[filter:proxy-logging]
use = egg:swift#proxy_logging

[filter:listing_formats]
use = egg:swift#listing_formats

[filter:copy]
use = egg:swift#copy

[filter:slo]
use = egg:swift#slo

[filter:dlo]
use = egg:swift#dlo
""".format(region=self.region, secret=self.secret_key, memcache=self.ports["memcache"]))

    # -- S3 clients -----------------------------------------------------------

    def client(self, secret=None):
        """A boto3 S3 client for this server (path-style, SigV4)."""
        import boto3
        from botocore.config import Config
        return boto3.client(
            "s3", endpoint_url=self.endpoint, region_name=self.region,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=secret if secret is not None else self.secret_key,
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                          retries={"max_attempts": 1}, connect_timeout=5, read_timeout=30))

    def create_bucket(self, name):
        """Create a bucket; its first request also creates the account, which
        can take a moment on a server that just started."""
        from botocore.exceptions import ClientError
        c = self.client()
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    c.create_bucket(Bucket=name)
                    return name
                except ClientError as e:
                    status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
                    if status < 500 or time.monotonic() > deadline:
                        raise SwiftError("cannot create bucket %s: %s\n%s"
                                         % (name, e, self.logs()))
                time.sleep(0.2)
        finally:
            c.close()

    def verify_signature_checks(self, bucket):
        """Fail unless the server checks SigV4 signatures and payload hashes
        the way AWS does (otherwise a test against it would prove little)."""
        from botocore.auth import S3SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials
        from botocore.exceptions import ClientError

        # 1. A wrong secret: 403 SignatureDoesNotMatch, nothing stored.
        bad = self.client(secret="not-the-secret")
        try:
            bad.put_object(Bucket=bucket, Key="cbsync-probe-bad-secret", Body=b"x")
        except ClientError as e:
            code = e.response.get("Error", {}).get("Code")
            status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if (status, code) != (403, "SignatureDoesNotMatch"):
                raise SwiftError("a wrong secret got HTTP %s %s, not 403 "
                                 "SignatureDoesNotMatch" % (status, code))
        else:
            raise SwiftError("Swift accepted a request signed with the wrong secret")
        finally:
            bad.close()

        # 2. A correctly signed request whose body does not match its
        # x-amz-content-sha256: sign "hello", send "HELLO" (same length).
        url = "%s/%s/cbsync-probe-bad-hash" % (self.endpoint, bucket)
        req = AWSRequest(method="PUT", url=url, data=b"hello")
        S3SigV4Auth(Credentials(self.access_key, self.secret_key), "s3",
                    self.region).add_auth(req)
        headers = dict(req.prepare().headers.items())
        raw = urllib.request.Request(url, data=b"HELLO", method="PUT", headers=headers)
        try:
            with urllib.request.urlopen(raw, timeout=10) as r:
                status, body = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, body = e.code, e.read()
            e.close()
        if status != 400:
            raise SwiftError("a body that does not match x-amz-content-sha256 got HTTP %s, "
                             "not 400: %r" % (status, body[:300]))

        # 3. Neither stored anything.
        c = self.client()
        try:
            for key in ("cbsync-probe-bad-secret", "cbsync-probe-bad-hash"):
                try:
                    c.head_object(Bucket=bucket, Key=key)
                except ClientError:
                    continue
                raise SwiftError("a rejected request stored %s anyway" % key)
        finally:
            c.close()
