"""The /token endpoint, bearer-token checks and the minimal Secret Manager."""

from __future__ import annotations

import base64
import json

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth.exceptions import RefreshError
from google.auth.transport.requests import Request
from google.cloud import compute_v1
from google.oauth2 import credentials as oauth2_credentials
from google.oauth2 import service_account
from lgce_api import PROJECT, ZONE

from localgce.secrets import crc32c


@pytest.fixture(scope="module")
def key_pem():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def test_service_account_key_jwt_flow(api, key_pem):
    info = {"type": "service_account", "project_id": PROJECT, "private_key_id": "k1", "private_key": key_pem,
            "client_email": f"deployer@{PROJECT}.iam.gserviceaccount.com", "client_id": "1",
            "token_uri": api.srv.url + "/token"}
    creds = service_account.Credentials.from_service_account_info(
        info, scopes=["https://www.googleapis.com/auth/cloud-platform"])
    creds.refresh(Request())
    assert creds.token.startswith("ya29.") and creds.expiry
    token_calls = [r for r in api.srv.requests() if r["path"] == "/token"]
    assert token_calls and token_calls[0]["status"] == 200
    client = compute_v1.ZonesClient(credentials=creds, client_options={"api_endpoint": api.srv.url},
                                    transport="rest")
    assert client.get(project=PROJECT, zone=ZONE).name == ZONE


def test_refresh_token_grant(api):
    creds = oauth2_credentials.Credentials(token=None, refresh_token="1//refresh", client_id="cid",
                                           client_secret="sec", token_uri=api.srv.url + "/token")
    creds.refresh(Request())
    assert creds.token.startswith("ya29.")


def test_bad_grants(api):
    r = requests.post(api.srv.url + "/token", data={"grant_type": "password"})
    assert r.status_code == 400 and r.json()["error"] == "unsupported_grant_type"
    r = requests.post(api.srv.url + "/token", data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                                                    "assertion": "not-a-jwt"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


def test_expired_token_is_401(api):
    r = requests.get(api.srv.url + f"/compute/v1/projects/{PROJECT}/zones/{ZONE}",
                     headers={"Authorization": "Bearer expired-x"})
    assert r.status_code == 401
    err = r.json()["error"]
    assert err["status"] == "UNAUTHENTICATED" and err["errors"][0]["reason"] == "authError"
    assert err["message"].startswith("Request had invalid authentication credentials.")
    # google-auth answers a 401 by refreshing; a bare token cannot be refreshed.
    client = api.srv.client(compute_v1.ZonesClient, token="expired-abc")
    with pytest.raises(RefreshError):
        client.get(project=PROJECT, zone=ZONE)


def test_expired_token_with_a_refresh_token_recovers(api):
    creds = oauth2_credentials.Credentials(token="expired-abc", refresh_token="1//r", client_id="c",
                                           client_secret="s", token_uri=api.srv.url + "/token")
    client = compute_v1.ZonesClient(credentials=creds, client_options={"api_endpoint": api.srv.url},
                                    transport="rest")
    assert client.get(project=PROJECT, zone=ZONE).name == ZONE
    assert [(r["path"].rsplit("/", 1)[-1], r["status"]) for r in api.srv.requests()] == [
        (ZONE, 401), ("token", 200), (ZONE, 200)]


def test_require_auth_refuses_anonymous_calls(api):
    r = requests.get(api.srv.url + f"/compute/v1/projects/{PROJECT}/zones/{ZONE}")
    assert r.status_code == 200  # by default anonymous calls are fine
    assert api.srv.requests()[-1]["auth"] is False
    api.srv.config(require_auth=True)
    r = requests.get(api.srv.url + f"/compute/v1/projects/{PROJECT}/zones/{ZONE}")
    assert r.status_code == 401
    r = requests.get(api.srv.url + f"/compute/v1/projects/{PROJECT}/zones/{ZONE}",
                     headers={"Authorization": "Bearer fine"})
    assert r.status_code == 200


def access(srv, path, token="t"):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(srv.url + f"/v1/{path}:access", headers=headers)


def test_secret_access_latest_and_numbered(api):
    assert api.srv.set_secret(PROJECT, "db-pass", "s3cret-1") == 1
    assert api.srv.set_secret(PROJECT, "db-pass", b"s3cret-2") == 2
    num = api.projects.get(project=PROJECT).id
    r = access(api.srv, f"projects/{PROJECT}/secrets/db-pass/versions/latest")
    assert r.status_code == 200
    body = r.json()
    assert body["name"] == f"projects/{num}/secrets/db-pass/versions/2"
    assert base64.b64decode(body["payload"]["data"]) == b"s3cret-2"
    assert body["payload"]["dataCrc32c"] == str(crc32c(b"s3cret-2"))
    r = access(api.srv, f"projects/{num}/secrets/db-pass/versions/1")  # project by number
    assert base64.b64decode(r.json()["payload"]["data"]) == b"s3cret-1"


def test_secret_errors(api):
    r = access(api.srv, f"projects/{PROJECT}/secrets/nope/versions/latest")
    assert r.status_code == 404
    err = r.json()["error"]
    assert err["status"] == "NOT_FOUND" and err["code"] == 404 and "nope" in err["message"]
    api.srv.set_secret(PROJECT, "s", "x")
    assert access(api.srv, f"projects/{PROJECT}/secrets/s/versions/7").status_code == 404
    r = access(api.srv, f"projects/{PROJECT}/secrets/s/versions/latest", token=None)
    assert r.status_code == 401 and r.json()["error"]["status"] == "UNAUTHENTICATED"


def test_crc32c_known_vector():
    assert crc32c(b"123456789") == 0xE3069283


def test_vm_token_from_the_metadata_server_works_for_secret_manager(api):
    """The on-VM flow: metadata token -> Secret Manager."""
    api.create_instance("vm-1", service_accounts=[compute_v1.ServiceAccount(
        email="default", scopes=["https://www.googleapis.com/auth/cloud-platform"])])
    api.srv.set_secret(PROJECT, "registry", json.dumps({"user": "u", "password": "p"}))
    tok = requests.get(api.srv.guest_url(PROJECT, ZONE, "vm-1") + "instance/service-accounts/default/token",
                       headers={"Metadata-Flavor": "Google"}).json()["access_token"]
    r = access(api.srv, f"projects/{PROJECT}/secrets/registry/versions/latest", token=tok)
    assert json.loads(base64.b64decode(r.json()["payload"]["data"])) == {"user": "u", "password": "p"}
