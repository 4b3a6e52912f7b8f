"""Run `ansible-test integration` with a localgce started for the run.

ansible-test strips the environment, so the endpoint reaches the targets through
tests/integration/integration_config.yml (read by ansible-test as extra vars):
``localgce_url``, ``gcp_project`` and the auth settings for module_defaults.

Usage: python tests/integration/run_against_localgce.py COLLECTION_COPY ANSIBLE_TEST [ARGS...]
"""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from localgce.testing import LocalGCE  # noqa: E402


def main():
    copy, ansible_test, extra = sys.argv[1], sys.argv[2], sys.argv[3:]
    server = LocalGCE.start()
    try:
        config = os.path.join(copy, "tests", "integration", "integration_config.yml")
        with open(config, "w") as handle:
            handle.write(
                "localgce_url: %s\ngcp_project: itest-project\ngcp_auth_kind: accesstoken\n"
                "gcp_access_token: itest-token\n" % server.url
            )
        proc = subprocess.run([ansible_test, "integration", "--local", "--color", "no", *extra], cwd=copy, check=False)
    finally:
        server.stop()
    sys.exit(proc.returncode)


if __name__ == "__main__":
    main()
