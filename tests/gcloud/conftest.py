"""The real gcloud (Cloud SDK) against localgce, with each command's effect read back through the API.

gcloud is configured as docs/dev/localgce.md tells a user to: a throwaway configuration directory, a
token file, and the Compute endpoint override. Where gcloud is not on the PATH, every test of this
suite fails and says so; the suite never passes without having run gcloud.
"""

from __future__ import annotations

import pytest
from gcloud_cli import GCLOUD, Gcloud, gcloud_env

from localgce.testing import LocalGCE


@pytest.fixture(scope="session")
def gcloud_server(tmp_path_factory):
    if GCLOUD is None:
        pytest.fail("gcloud is not on the PATH, so the gcloud suite cannot run: install the Cloud SDK "
                    "(the google-cloud-cli Debian package) or put its bin directory on the PATH.")
    srv = LocalGCE.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def _gcloud(gcloud_server, tmp_path_factory):
    home = tmp_path_factory.mktemp("gcloud")
    token = home / "token"
    token.write_text("gcloud-test-token\n")
    return Gcloud(gcloud_env(gcloud_server.url, str(home / "config"), str(token)))


@pytest.fixture
def lg(gcloud_server):
    """The localgce gcloud talks to, reset to the seeded state before each test."""
    gcloud_server.reset()
    return gcloud_server


@pytest.fixture
def gcloud(_gcloud, lg):
    return _gcloud


@pytest.fixture
def compute(lg):
    """compute(ClientClass): a google-cloud-compute client on the same localgce."""
    return lg.client
