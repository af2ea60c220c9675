#!/usr/bin/python3
"""Rehearse the Dockerfile where there is no Docker engine.

Runs the Dockerfile's two stages in debootstrap'd Debian 12 chroots instead
of containers: the build stage's RUN commands in one (with the build context
copied in as Dockerfile.dockerignore filters it), the runtime stage's in a
second, fresh one, with the binaries copied over as COPY --from=build would.
Then, in the runtime chroot and as the image's user, it backs a database up
to a mirror directory, deletes it, runs `cbsync-entrypoint
restore-then-agent`, waits for the image's HEALTHCHECK command to pass, and
stops the agent with SIGTERM.

It shows that the build packages suffice to build, that the runtime
packages suffice to run (no missing shared library), and that the
entrypoint, user and health check work together.  It is not Docker: the
base is debootstrap's minbase rather than the debian:12-slim image, and
only the instructions this Dockerfile uses are understood.

Needs root (chroot), debootstrap, python3 and access to a Debian mirror:

    sudo packaging/docker/rehearse.py [WORKDIR]     # default /tmp/cbsync-rehearsal
"""
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
MIRROR = os.environ.get("DEBIAN_MIRROR", "http://deb.debian.org/debian")
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def dockerfile_stages():
    with open(os.path.join(HERE, "Dockerfile")) as f:
        text = f.read().replace("\\\n", " ")
    return re.split(r"(?m)^FROM ", text)[1:]


def in_chroot(root, command, cwd="/", env=None, user=None, background=False):
    args = ["chroot"] + ([f"--userspec={user}"] if user else []) + [root]
    args += ["/usr/bin/env", "-i", f"PATH={PATH}", "HOME=/root",
             "DEBIAN_FRONTEND=noninteractive"]
    args += [f"{k}={v}" for k, v in (env or {}).items()]
    args += ["/bin/sh", "-c", f"cd {cwd} && {command}"]
    print(f"+ [{os.path.basename(root)}] {' '.join(command.split())[:160]}", flush=True)
    if background:
        return subprocess.Popen(args)
    return subprocess.run(args, check=True)


def new_root(work, name):
    base = os.path.join(work, "base")
    if not os.path.isdir(base):
        subprocess.run(["debootstrap", "--variant=minbase", "bookworm", base, MIRROR],
                       check=True)
    root = os.path.join(work, name)
    subprocess.run(["rm", "-rf", root], check=True)
    subprocess.run(["cp", "-a", base, root], check=True)
    shutil.copy("/etc/resolv.conf", os.path.join(root, "etc", "resolv.conf"))
    return root


def run_stage(root, body, copy):
    """The stage's RUN, WORKDIR, COPY and ENV instructions; returns ENV."""
    workdir, env = "/", {}
    for line in body.splitlines()[1:]:
        word, _, rest = line.partition(" ")
        if word == "RUN":
            in_chroot(root, rest, workdir, env)
        elif word == "WORKDIR":
            workdir = rest.strip()
            os.makedirs(root + workdir, exist_ok=True)
        elif word == "COPY":
            copy(root, rest.split(), workdir)
        elif word == "ENV":
            key, _, value = rest.partition("=")
            env[key] = value
    return env


def copy_context(root, args, workdir):
    """COPY from the build context, as Dockerfile.dockerignore filters it."""
    with open(os.path.join(HERE, "Dockerfile.dockerignore")) as f:
        ignored = [l.strip() for l in f if l.strip() and not l.startswith("#")]
    *sources, dest = args
    if sources == ["."]:
        excludes = [f"--exclude=./{p}" for p in ignored]
        tar = subprocess.Popen(["tar", "-C", REPO, "-cf", "-"] + excludes + ["."],
                               stdout=subprocess.PIPE)
        subprocess.run(["tar", "-C", os.path.join(root + workdir, dest), "-xf", "-"],
                       stdin=tar.stdout, check=True)
        if tar.wait() != 0:
            raise SystemExit("tar of the build context failed")
    else:
        for s in sources:
            shutil.copy(os.path.join(REPO, s), root + dest)


def smoke_test(root, healthcheck, user):
    """Back up, lose the database, restore-then-agent, health check, SIGTERM."""
    data = os.path.join(root, "srv/cloudbrain/ai_db")
    mirror = os.path.join(root, "srv/mirror")
    os.makedirs(mirror, exist_ok=True)
    con = sqlite3.connect(os.path.join(data, "cloudbrain.db"))
    con.execute("PRAGMA journal_mode=wal")
    con.execute("CREATE TABLE t (x)")
    with con:
        con.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(1000)])
    con.close()
    uid, gid = (int(x) for x in user.split(":"))
    for d in (data, mirror):
        for dirpath, _, files in os.walk(d):
            os.chown(dirpath, uid, gid)
            for f in files:
                os.chown(os.path.join(dirpath, f), uid, gid)
    env = {"CBSYNC_METRICS_LISTEN": "127.0.0.1:9464", "CBSYNC_REMOTE_MIRROR_TYPE": "local",
           "CBSYNC_REMOTE_MIRROR_PATH": "/srv/mirror"}
    in_chroot(root, "cbsync-entrypoint backup --type manual", "/srv/cloudbrain", env, user)
    for f in os.listdir(data):
        path = os.path.join(data, f)
        shutil.rmtree(path) if os.path.isdir(path) else os.unlink(path)
    agent = in_chroot(root, "exec cbsync-entrypoint restore-then-agent", "/srv/cloudbrain",
                      env, user, background=True)
    try:
        for _ in range(30):
            time.sleep(1)
            p = subprocess.run(["chroot", f"--userspec={user}", root, "/usr/bin/env", "-i",
                                f"PATH={PATH}", f"CBSYNC_METRICS_LISTEN={env['CBSYNC_METRICS_LISTEN']}",
                                "/bin/sh", "-c", healthcheck], capture_output=True)
            if p.returncode == 0:
                break
        else:
            raise SystemExit("the health check never passed")
        print("health check passed", flush=True)
    finally:
        agent.send_signal(signal.SIGTERM)
        code = agent.wait(timeout=60)
    if code != 0:
        raise SystemExit(f"the agent exited {code} on SIGTERM")
    con = sqlite3.connect(f"file:{os.path.join(data, 'cloudbrain.db')}?mode=ro", uri=True)
    result = (con.execute("PRAGMA integrity_check").fetchone()[0],
              con.execute("SELECT count(*) FROM t").fetchone()[0])
    con.close()
    if result != ("ok", 1000):
        raise SystemExit(f"the restored database is wrong: {result}")
    print("restored database: integrity ok, 1000 rows; agent stopped with exit 0")


def main():
    if os.geteuid() != 0:
        raise SystemExit("rehearse.py needs root (chroot)")
    work = sys.argv[1] if len(sys.argv) > 1 else "/tmp/cbsync-rehearsal"
    os.makedirs(work, exist_ok=True)
    build_stage, runtime_stage = dockerfile_stages()

    build = new_root(work, "build")
    run_stage(build, build_stage, copy_context)

    def copy_from_build(root, args, workdir):
        assert args[0] == "--from=build", args
        *sources, dest = args[1:]
        for s in sources:
            shutil.copy2(build + s, root + dest)

    runtime = new_root(work, "runtime")
    run_stage(runtime, runtime_stage, copy_from_build)
    user = re.search(r"(?m)^USER (\S+)$", runtime_stage).group(1)
    healthcheck = re.search(r"(?m)^HEALTHCHECK .*? CMD (.*)$", runtime_stage).group(1)
    smoke_test(runtime, healthcheck, user)


if __name__ == "__main__":
    main()
