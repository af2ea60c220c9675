"""The backend contract suite against the local mirror backend."""
import os
import subprocess
import unittest

from harness import ROOT, CbsyncTest, main


def contract_bin():
    path = os.environ.get("CBSYNC_CONTRACT_BIN")
    if path:
        return path
    for build in ("build-test", "build"):
        candidate = os.path.join(ROOT, build, "tests", "contract")
        if os.path.exists(candidate):
            return candidate
    raise unittest.SkipTest("the contract binary is not built")


class LocalContractTest(CbsyncTest):
    def run_contract(self, **env):
        full = {k: v for k, v in os.environ.items() if not k.startswith("CBSYNC_REMOTE_")}
        full.update(env)
        p = subprocess.run([contract_bin()], env=full, capture_output=True, text=True,
                           timeout=300)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        return p

    def test_contract(self):
        mirror = self.w.path("mirror")
        os.makedirs(mirror)
        self.run_contract(CBSYNC_REMOTE_T_TYPE="local", CBSYNC_REMOTE_T_PATH=mirror)
        # The suite cleans up after itself, directories included.
        self.assertEqual(os.listdir(mirror), [])

    def test_contract_on_a_created_directory(self):
        mirror = self.w.path("not", "there", "yet")
        self.run_contract(CBSYNC_REMOTE_T_TYPE="local", CBSYNC_REMOTE_T_PATH=mirror,
                          CBSYNC_REMOTE_T_CREATE_DIR="true", CBSYNC_TEST_CONTRACT_MANY="20")
        self.assertTrue(os.path.isdir(mirror))


if __name__ == "__main__":
    main()
