"""A throwaway OpenSSH server for SFTP tests.

    with SshServer() as ssh:
        url = ssh.url("/remote")          # sftp://USER@127.0.0.1:PORT/<ssh.root>/remote
        ... point cbsync at url with ssh.client_key and ssh.known_hosts ...
        ssh.sftp(["get remote/x.db.gz /tmp/x"])  # read back with OpenSSH's sftp

What start() sets up, all in one temp directory that stop() removes:

  - a host key and a client key pair made by ssh-keygen (ed25519 unless
    told otherwise), the client's public key as the only authorized key;
  - an sshd_config: 127.0.0.1 on a port that was free a moment ago, key-only
    authentication (no passwords, no keyboard-interactive, no PAM),
    StrictModes off (the temp files are not in a home directory),
    root logins with keys only (CI runs as root), the sftp subsystem served
    in-process (internal-sftp), and the pid file in the temp directory;
  - `known_hosts` for the client side ("[127.0.0.1]:PORT ssh-ed25519 ...")
    and `host_fingerprint`, the host key's "SHA256:..." as ssh-keygen -lf
    prints it;
  - `root`, a directory the tests use as the remote side.

sshd runs in the foreground (-D -e) in its own session; stop() kills it and
every per-connection process below it (those detach into sessions of their
own), so no client connection outlives the server.  It logs to `log_path`.  start() waits until the
port answers with an SSH banner.  If the port was taken in between, it tries
another; if sshd does not come up at all it raises SshdError carrying
sshd's log, so a test that needs the server fails loudly and never skips.

Use it as a context manager, or call start()/stop() from setUp/tearDown
(stop() is idempotent and also runs at interpreter exit).

Only the standard library is used.
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

SSHD = "/usr/sbin/sshd"
SSH_KEYGEN = "ssh-keygen"
SFTP = "sftp"


class SshdError(AssertionError):
    """sshd did not start, or a client command against it failed."""


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _banner(port, timeout=0.5):
    """The first line the server at port sends, or None."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.settimeout(timeout)
            return s.recv(256).split(b"\r\n", 1)[0].decode("ascii", "replace")
    except OSError:
        return None


def keygen(path, key_type="ed25519", passphrase="", comment="cbsync-test"):
    """Make a key pair at path / path.pub; returns the public key line."""
    for p in (path, path + ".pub"):
        if os.path.exists(p):
            os.unlink(p)
    args = [SSH_KEYGEN, "-q", "-t", key_type, "-N", passphrase, "-C", comment, "-f", path]
    if key_type == "rsa":
        args[2:2] = ["-b", "2048"]  # big enough for a throwaway, quick to make
    subprocess.run(args, check=True, stdin=subprocess.DEVNULL, capture_output=True)
    with open(path + ".pub") as f:
        return f.read().strip()


def fingerprint(pub_path):
    """The key's SHA-256 fingerprint as ssh-keygen prints it: "SHA256:..."."""
    out = subprocess.run([SSH_KEYGEN, "-l", "-E", "sha256", "-f", pub_path], check=True,
                         capture_output=True, text=True).stdout
    return out.split()[1]


class SshServer:
    def __init__(self, host_key_type="ed25519", client_key_type="ed25519",
                 start_timeout=15.0, tmp_root=None):
        self.host_key_type = host_key_type
        self.client_key_type = client_key_type
        self.start_timeout = start_timeout
        self.tmp_root = tmp_root
        self.user = pwd.getpwuid(os.getuid()).pw_name
        self.host = "127.0.0.1"
        self.port = None
        self.dir = None
        self.proc = None
        self._log = None
        self._registered = False

    # -- paths -----------------------------------------------------------------
    def _p(self, name):
        return os.path.join(self.dir, name)

    @property
    def root(self):
        """The directory tests use as the remote side (absolute path)."""
        return self._p("remote")

    @property
    def client_key(self):
        return self._p("client_key")

    @property
    def client_pub(self):
        return self._p("client_key.pub")

    @property
    def host_key(self):
        return self._p("host_key")

    @property
    def known_hosts(self):
        return self._p("known_hosts")

    @property
    def log_path(self):
        return self._p("sshd.log")

    @property
    def config_path(self):
        return self._p("sshd_config")

    def url(self, path=""):
        """sftp://USER@127.0.0.1:PORT/<root>/<path> (an absolute path on the server)."""
        full = self.root + ("/" + path.strip("/") if path.strip("/") else "")
        return f"sftp://{self.user}@{self.host}:{self.port}{full}"

    def host_pattern(self):
        """How known_hosts names this server: [127.0.0.1]:PORT."""
        return f"[{self.host}]:{self.port}"

    # -- lifecycle ---------------------------------------------------------------
    def start(self):
        self.dir = tempfile.mkdtemp(prefix="cbsync-sshd-", dir=self.tmp_root)
        os.chmod(self.dir, 0o700)
        os.makedirs(self.root, mode=0o700)
        if not self._registered:
            atexit.register(self.stop)
            self._registered = True
        keygen(self.host_key, self.host_key_type, comment="cbsync-test-host")
        client_line = keygen(self.client_key, self.client_key_type)
        with open(self._p("authorized_keys"), "w") as f:
            f.write(client_line + "\n")
        os.chmod(self._p("authorized_keys"), 0o600)
        self.host_fingerprint = fingerprint(self.host_key + ".pub")
        with open(self.host_key + ".pub") as f:
            self.host_pub = " ".join(f.read().split()[:2])
        if os.getuid() == 0:
            # sshd's privilege separation needs this empty directory.
            os.makedirs("/run/sshd", mode=0o755, exist_ok=True)

        last = ""
        for _ in range(5):
            self.port = _free_port()
            self._write_config()
            self.write_known_hosts()
            if self._launch():
                return self
            last = self.log()
            self._kill()
        raise SshdError(f"sshd did not start on 127.0.0.1 (config {self.config_path}); "
                        f"its log:\n{last}")

    def _write_config(self):
        lines = [
            f"Port {self.port}",
            f"ListenAddress {self.host}",
            f"HostKey {self.host_key}",
            f"PidFile {self._p('sshd.pid')}",
            f"AuthorizedKeysFile {self._p('authorized_keys')}",
            "AuthenticationMethods publickey",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "HostbasedAuthentication no",
            "UsePAM no",
            "StrictModes no",
            "PermitRootLogin prohibit-password",
            f"AllowUsers {self.user}",
            "Subsystem sftp internal-sftp",
            "UseDNS no",
            "PrintMotd no",
            "X11Forwarding no",
            "AllowTcpForwarding no",
            "AllowAgentForwarding no",
            "PermitTTY no",
            "MaxStartups 64",
            "MaxSessions 64",
            "LogLevel VERBOSE",
        ]
        with open(self.config_path, "w") as f:
            f.write("\n".join(lines) + "\n")

    def write_known_hosts(self, key_line=None):
        """(Re)write the client's known_hosts: this server's real host key,
        or key_line ("ssh-ed25519 AAAA...") to pretend the key changed."""
        with open(self.known_hosts, "w") as f:
            f.write(f"{self.host_pattern()} {key_line or self.host_pub}\n")
        return self.known_hosts

    def _launch(self):
        # sshd insists on being started by its absolute path.
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", self.config_path],
                                     stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            banner = _banner(self.port)
            if banner and banner.startswith("SSH-2.0-OpenSSH"):
                return True
            time.sleep(0.05)
        return False

    def _descendants(self, pid):
        """Every process below pid (sshd's per-connection processes call
        setsid(), so killing the listener's group does not reach them)."""
        children = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
        out, todo = [], [pid]
        while todo:
            for child in children.get(todo.pop(), []):
                out.append(child)
                todo.append(child)
        return out

    def drop_sessions(self):
        """Cut every client's connection (the server keeps listening)."""
        if self.proc is not None:
            for pid in self._descendants(self.proc.pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def _kill(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            sessions = self._descendants(self.proc.pid)
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            for pid in sessions:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=5)
        self.proc = None
        if self._log:
            self._log.close()
            self._log = None

    def pause(self):
        """Stop sshd and cut its clients off, but keep its keys and files, so
        resume() brings the same server back on the same port."""
        self._kill()

    def resume(self):
        if not self._launch():
            log = self.log()
            self._kill()
            raise SshdError(f"sshd did not come back on port {self.port}; its log:\n{log}")

    def stop(self):
        self._kill()
        if self.dir and os.path.isdir(self.dir):
            shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return "(no log)"

    # -- an independent client -----------------------------------------------------
    def ssh_options(self, known_hosts=None):
        return ["-F", "/dev/null",
                "-o", "BatchMode=yes",
                "-o", "IdentitiesOnly=yes",
                "-o", "StrictHostKeyChecking=yes",
                "-o", f"UserKnownHostsFile={known_hosts or self.known_hosts}",
                "-o", "GlobalKnownHostsFile=/dev/null",
                "-o", "ConnectTimeout=10",
                "-i", self.client_key]

    def sftp(self, commands, check=True):
        """Run OpenSSH's sftp in batch mode (-b) with the test key; returns
        the CompletedProcess (text).  Raises SshdError with both sides' logs
        when check is set and sftp fails."""
        batch = self._p(f"batch-{time.monotonic_ns()}")
        with open(batch, "w") as f:
            f.write("\n".join(commands) + "\n")
        try:
            p = subprocess.run([SFTP, "-b", batch, "-P", str(self.port)] + self.ssh_options()
                               + [f"{self.user}@{self.host}"],
                               capture_output=True, text=True, timeout=60)
        finally:
            os.unlink(batch)
        if check and p.returncode != 0:
            raise SshdError(f"sftp {commands!r} failed ({p.returncode}):\n{p.stderr}\n"
                            f"sshd log:\n{self.log()[-3000:]}")
        return p
