"""localgce's own tests: the real google-cloud-compute client against an in-process server."""

from __future__ import annotations

import pytest
from lgce_api import Api

from localgce.testing import localgce, localgce_server  # noqa: F401 - pytest fixtures


@pytest.fixture(scope="session")
def _api(localgce_server):  # noqa: F811 - fixture use
    return Api(localgce_server)


@pytest.fixture
def api(_api, localgce):  # noqa: F811 - fixture use
    """Clients on a freshly reset localgce."""
    return _api
