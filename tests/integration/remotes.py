"""Test cases against a real remote: OpenStack Swift's S3 API and OpenSSH's
sshd, each started once per test class on loopback and stopped after it.
A test class derives from S3Case or SftpCase and configures cbsync's remote
with self.env(...)."""
import os
import sys

from harness import HERE, CbsyncTest

sys.path.insert(0, os.path.join(os.path.dirname(HERE), "servers"))
from sshd import SshServer  # noqa: E402
from swift import SwiftS3  # noqa: E402


class S3Case(CbsyncTest):
    """A remote "offsite" of type s3 in BUCKET, under a prefix of each test's own."""
    BUCKET = "cbsync-e2e"

    @classmethod
    def setUpClass(cls):
        cls.s3 = SwiftS3()
        cls.s3.start()
        cls.s3.create_bucket(cls.BUCKET)

    @classmethod
    def tearDownClass(cls):
        cls.s3.stop()

    def setUp(self):
        super().setUp()
        self.prefix = self.id().rsplit(".", 1)[1].replace("_", "-")[:60]

    def env(self, **extra):
        e = {"CBSYNC_REMOTE_OFFSITE_TYPE": "s3",
             "CBSYNC_REMOTE_OFFSITE_ENDPOINT": self.s3.endpoint,
             "CBSYNC_REMOTE_OFFSITE_BUCKET": self.BUCKET,
             "CBSYNC_REMOTE_OFFSITE_PREFIX": self.prefix,
             "CBSYNC_REMOTE_OFFSITE_PATH_STYLE": "true",
             "CBSYNC_REMOTE_OFFSITE_CONNECT_TIMEOUT": "3s",
             "AWS_ACCESS_KEY_ID": self.s3.access_key,
             "AWS_SECRET_ACCESS_KEY": self.s3.secret_key,
             "AWS_REGION": self.s3.region}
        e.update(extra)
        return e

    def put(self, key, body):
        """An object put there by someone else (boto3), under the prefix."""
        self.s3.client().put_object(Bucket=self.BUCKET, Key=f"{self.prefix}/{key}", Body=body)

    def keys(self):
        """What the prefix holds, relative to it, as boto3 lists it."""
        out = self.s3.client().list_objects_v2(Bucket=self.BUCKET, Prefix=self.prefix + "/")
        return sorted(o["Key"][len(self.prefix) + 1:] for o in out.get("Contents", []))


class SftpCase(CbsyncTest):
    """A remote "off" of type sftp on a throwaway sshd."""

    @classmethod
    def setUpClass(cls):
        cls.ssh = SshServer()
        cls.ssh.start()

    @classmethod
    def tearDownClass(cls):
        cls.ssh.stop()

    def env(self, path, **extra):
        e = {"CBSYNC_REMOTE_OFF_TYPE": "sftp",
             "CBSYNC_REMOTE_OFF_URL": self.ssh.url(path),
             "CBSYNC_REMOTE_OFF_PRIVATE_KEY": self.ssh.client_key,
             "CBSYNC_REMOTE_OFF_KNOWN_HOSTS": self.ssh.known_hosts,
             "CBSYNC_REMOTE_OFF_CONNECT_TIMEOUT": "5s"}
        e.update(extra)
        return e
