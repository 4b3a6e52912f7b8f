"""Fixtures for tests of the shared GCP layer and the modules against a running localgce."""

import json
import os
import subprocess

import pytest

from localgce.testing import localgce, localgce_server  # noqa: F401 - pytest fixtures

_AUTH_ENV_PREFIXES = ("GCP_", "GCE_", "GOOGLE_", "CLOUDSDK_")


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No credentials or project from the machine, and no metadata server reachable."""
    for name in list(os.environ):
        if name.startswith(_AUTH_ENV_PREFIXES):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    # google.auth probes the GCE metadata server for ADC: keep it on a closed loopback port.
    monkeypatch.setenv("GCE_METADATA_HOST", "127.0.0.1:9")
    monkeypatch.setenv("GCE_METADATA_IP", "127.0.0.1:9")
    monkeypatch.setenv("GCE_COS_RETRY_INITIAL_DELAY", "0.01")
    return monkeypatch


@pytest.fixture(scope="session")
def rsa_key_pem(tmp_path_factory):
    path = tmp_path_factory.mktemp("key") / "key.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(path), "2048"], check=True, capture_output=True)
    return path.read_text()


@pytest.fixture
def service_account_file(tmp_path, rsa_key_pem, localgce):  # noqa: F811 - fixture use
    """A real service-account key whose token_uri is localgce's OAuth2 endpoint."""
    info = {
        "type": "service_account",
        "project_id": "key-project",
        "private_key_id": "k1",
        "private_key": rsa_key_pem,
        "client_email": "deployer@key-project.iam.gserviceaccount.com",
        "client_id": "1234567890",
        "token_uri": localgce.url + "/token",
    }
    path = tmp_path / "sa.json"
    path.write_text(json.dumps(info))
    return path
