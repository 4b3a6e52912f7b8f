"""Every auth kind and environment fallback builds real credentials that localgce accepts."""

import http.server
import json
import threading

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_errors import GcpError
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_module import GcpModule

ZONE = "us-central1-a"


def make_module(args):
    with patch_module_args(args):
        return GcpModule({})


def read_zone(gcp):
    return gcp.api.call("zones", "get", doing="read zone " + ZONE, project=gcp.api.project, zone=ZONE)


def test_accesstoken(clean_env, localgce):
    gcp = make_module(
        {"auth_kind": "accesstoken", "access_token": "tok-1", "project": "p1", "api_endpoint": localgce.url}
    )
    assert read_zone(gcp)["name"] == ZONE
    assert type(gcp.api.credentials).__name__ == "Credentials" and gcp.api.credentials.token == "tok-1"
    assert gcp.api.project == "p1"


def test_auth_kind_is_inferred_from_the_credential_given(clean_env, localgce):
    gcp = make_module({"access_token": "tok-2", "project": "p1", "api_endpoint": localgce.url})
    assert gcp.api.auth_kind == "accesstoken"
    assert read_zone(gcp)["name"] == ZONE


def test_serviceaccount_file_signs_a_jwt_and_gets_a_token(clean_env, localgce, service_account_file):
    gcp = make_module(
        {"auth_kind": "serviceaccount", "service_account_file": str(service_account_file), "api_endpoint": localgce.url}
    )
    assert read_zone(gcp)["name"] == ZONE
    creds = gcp.api.credentials
    assert creds.service_account_email == "deployer@key-project.iam.gserviceaccount.com"
    # The client signs its own JWT (self-signed JWT access) or fetches a token: either way a bearer went out.
    assert localgce.requests()[-1]["auth"] is True
    # The project comes from the key when nothing else names one.
    assert gcp.api.project == "key-project"


def test_serviceaccount_contents(clean_env, localgce, service_account_file):
    gcp = make_module(
        {
            "auth_kind": "serviceaccount",
            "service_account_contents": service_account_file.read_text(),
            "project": "explicit",
            "api_endpoint": localgce.url,
        }
    )
    assert read_zone(gcp)["name"] == ZONE
    assert gcp.api.project == "explicit"


def test_application_default_credentials_from_google_application_credentials(
    clean_env, localgce, service_account_file
):
    clean_env.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(service_account_file))
    gcp = make_module({"api_endpoint": localgce.url})
    assert gcp.api.auth_kind == "application"
    assert read_zone(gcp)["name"] == ZONE
    assert gcp.api.project == "key-project"


def test_awx_gce_credential_environment_needs_no_options(clean_env, localgce, service_account_file):
    # Exactly what AWX's "Google Compute Engine" credential injects.
    for name, value in {
        "GCE_CREDENTIALS_FILE_PATH": str(service_account_file),
        "GCP_SERVICE_ACCOUNT_FILE": str(service_account_file),
        "GOOGLE_APPLICATION_CREDENTIALS": str(service_account_file),
        "GCP_AUTH_KIND": "serviceaccount",
        "GCP_PROJECT": "awx-project",
        "GCP_ENV_TYPE": "tower",
        "GCE_EMAIL": "deployer@key-project.iam.gserviceaccount.com",
        "GCE_PROJECT": "awx-project",
        "GCE_COS_API_ENDPOINT": localgce.url,
    }.items():
        clean_env.setenv(name, value)
    gcp = make_module({})
    assert gcp.params["auth_kind"] == "serviceaccount"
    assert read_zone(gcp)["name"] == ZONE
    assert gcp.api.project == "awx-project"


def test_gce_credentials_file_path_alone_is_enough_for_serviceaccount(clean_env, localgce, service_account_file):
    clean_env.setenv("GCE_CREDENTIALS_FILE_PATH", str(service_account_file))
    clean_env.setenv("GCP_AUTH_KIND", "serviceaccount")
    gcp = make_module({"api_endpoint": localgce.url})
    assert read_zone(gcp)["name"] == ZONE


@pytest.mark.parametrize(
    "env, expected",
    [
        ({"GCP_PROJECT": "a", "GCE_PROJECT": "b", "GOOGLE_CLOUD_PROJECT": "c"}, "a"),
        ({"GCE_PROJECT": "b", "GOOGLE_CLOUD_PROJECT": "c"}, "b"),
        ({"GOOGLE_CLOUD_PROJECT": "c", "CLOUDSDK_CORE_PROJECT": "d"}, "c"),
        ({"CLOUDSDK_CORE_PROJECT": "d"}, "d"),
    ],
)
def test_project_environment_fallbacks_in_order(clean_env, env, expected):
    for name, value in env.items():
        clean_env.setenv(name, value)
    gcp = make_module({"access_token": "t"})
    assert gcp.api.project == expected


def test_scopes_and_endpoint_from_environment(clean_env, localgce, service_account_file):
    clean_env.setenv("GCP_SCOPES", "https://www.googleapis.com/auth/compute,https://www.googleapis.com/auth/devstorage.read_only")
    clean_env.setenv("GCE_COS_API_ENDPOINT", localgce.url)
    gcp = make_module({"service_account_file": str(service_account_file)})
    assert gcp.params["scopes"] == [
        "https://www.googleapis.com/auth/compute",
        "https://www.googleapis.com/auth/devstorage.read_only",
    ]
    assert gcp.api.api_endpoint == localgce.url
    assert gcp.api.credentials.scopes == gcp.params["scopes"]


class _MetadataHandler(http.server.BaseHTTPRequestHandler):
    """Just enough of the GCE metadata server for google.auth's compute_engine credentials."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.headers.get("Metadata-Flavor") != "Google":
            self.send_response(403)
            self.end_headers()
            return
        if "/service-accounts/" in self.path and "/token" in self.path:
            body = json.dumps({"access_token": "vm-token", "expires_in": 3599, "token_type": "Bearer"})
        elif "/service-accounts/" in self.path:
            body = json.dumps({"email": "vm@p.iam.gserviceaccount.com", "scopes": ["x"], "aliases": ["default"]})
        else:
            body = "p"
        self.send_response(200)
        self.send_header("Metadata-Flavor", "Google")
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())


def test_machineaccount_gets_the_vm_token_from_the_metadata_server(clean_env, localgce):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _MetadataHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        clean_env.setenv("GCE_METADATA_HOST", "127.0.0.1:%d" % server.server_address[1])
        gcp = make_module({"auth_kind": "machineaccount", "project": "p", "api_endpoint": localgce.url})
        assert read_zone(gcp)["name"] == ZONE
        assert gcp.api.credentials.token == "vm-token"
    finally:
        server.shutdown()
        server.server_close()


def one_line_error(args, call=read_zone):
    gcp = make_module(args)
    with pytest.raises(GcpError) as info:
        call(gcp)
    message = str(info.value)
    assert "\n" not in message and "Traceback" not in message
    return message


def test_missing_key_file(clean_env, localgce):
    msg = one_line_error(
        {"auth_kind": "serviceaccount", "service_account_file": "/nonexistent/sa.json", "project": "p"}
    )
    assert msg.startswith("service_account_file: cannot read /nonexistent/sa.json")


def test_key_file_that_is_not_json(clean_env, tmp_path):
    bad = tmp_path / "sa.json"
    bad.write_text("-----BEGIN PRIVATE KEY-----\n")
    msg = one_line_error({"service_account_file": str(bad), "project": "p"})
    assert "is not a JSON key file" in msg and str(bad) in msg


def test_key_file_without_a_usable_key(clean_env, tmp_path):
    bad = tmp_path / "sa.json"
    bad.write_text(json.dumps({"type": "service_account", "client_email": "x@y", "token_uri": "http://127.0.0.1:9/t"}))
    msg = one_line_error({"service_account_file": str(bad), "project": "p"})
    assert "not a usable key" in msg


def test_serviceaccount_without_any_key(clean_env):
    msg = one_line_error({"auth_kind": "serviceaccount", "project": "p"})
    assert "needs a key" in msg and "service_account_file" in msg


def test_application_without_adc(clean_env):
    msg = one_line_error({"project": "p"})
    assert msg.startswith("authentication failed (auth_kind=application)")
    assert "gcloud auth application-default login" in msg


def test_missing_project(clean_env, localgce):
    msg = one_line_error({"access_token": "t", "api_endpoint": localgce.url})
    assert msg.startswith("project: no project given") and "GCP_PROJECT" in msg


def test_unreachable_endpoint(clean_env):
    msg = one_line_error({"access_token": "t", "project": "p", "api_endpoint": "http://127.0.0.1:9"})
    assert "cannot reach the Compute Engine API at http://127.0.0.1:9" in msg
    assert "connection refused" in msg and "api_endpoint" in msg


def test_expired_token(clean_env, localgce):
    msg = one_line_error({"access_token": "expired-token", "project": "p", "api_endpoint": localgce.url})
    assert msg.startswith("authentication failed (auth_kind=accesstoken): the API refused the access token")
    assert "expired" in msg and "gcloud auth print-access-token" in msg


def test_unsupported_key_type(clean_env, tmp_path):
    key = tmp_path / "ext.json"
    key.write_text(json.dumps({"type": "external_account", "audience": "x"}))
    msg = one_line_error({"auth_kind": "serviceaccount", "service_account_file": str(key), "project": "p"})
    assert "'external_account' are not supported" in msg and "auth_kind=application" in msg
