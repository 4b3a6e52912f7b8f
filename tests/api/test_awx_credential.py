"""AWX's "Google Compute Engine" credential through the three paths a job takes: a module on the plain path,
a module through the API helper (the playbooks' default), and the cos_vms inventory source. All three build
their credentials with gcp_auth.build_credentials, so one key behaves the same everywhere, and a token
endpoint that cannot be reached is reported as a network failure, never as a bad key.

The key's token_uri points at a loopback port that refuses connections, as oauth2.googleapis.com is for a job
in a network without a route to it. localgce checks that every API call carries a bearer.
"""

import json
import socket
import subprocess

import pytest
from estate import Estate, ansible_env, ansible_inventory
from test_api_helper import BIN, make_env, results, write_play

ZONE = "us-central1-a"


@pytest.fixture
def refused_url():
    """http://127.0.0.1:PORT/token where nothing listens (the port was just bound and released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return "http://127.0.0.1:%d/token" % port


def awx_environment(path, project="test-project"):
    """What AWX's Google Compute Engine credential injects into a job (FACTS.md section 4)."""
    return {
        "GCE_CREDENTIALS_FILE_PATH": str(path),
        "GCP_SERVICE_ACCOUNT_FILE": str(path),
        "GOOGLE_APPLICATION_CREDENTIALS": str(path),
        "GCP_AUTH_KIND": "serviceaccount",
        "GCP_PROJECT": project,
        "GCP_ENV_TYPE": "tower",
        "GCE_EMAIL": "deployer@key-project.iam.gserviceaccount.com",
        "GCE_PROJECT": project,
    }


def module_env(localgce, run_dir, tmp_path, helper, key):
    env = make_env(localgce, run_dir, tmp_path, helper, **awx_environment(key))
    env.pop("GCP_ACCESS_TOKEN")
    return env


def run_info(env, tmp_path, name):
    """One cos_instance_info task (errors kept in its result, not raised); returns that result."""
    play = write_play(tmp_path, [{"gce.cos.cos_instance_info": {"zone": ZONE}, "ignore_errors": True}], name=name)
    proc = subprocess.run([BIN + "/ansible-playbook", "-i", "localhost,", str(play)], env=env, capture_output=True,
                          text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    return results(tmp_path, name)["r0"]


def inventory(localgce, tmp_path, key, **extra):
    env = ansible_env(localgce, tmp_path, ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED="true", **awx_environment(key),
                      **extra)
    env.pop("GCP_ACCESS_TOKEN")
    src = tmp_path / "awx.cos_vms.yml"
    src.write_text("plugin: gce.cos.cos_vms\n")
    return ansible_inventory(env, src, "--list")


@pytest.fixture
def run_dir(tmp_path_factory):
    import shutil
    import tempfile

    path = tempfile.mkdtemp(prefix="gca", dir="/tmp")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_a_service_account_key_works_on_every_path_without_its_token_uri(localgce, tmp_path, run_dir, rsa_key_pem,
                                                                         refused_url):
    key = tmp_path / "awx-key.json"
    key.write_text(json.dumps({
        "type": "service_account", "project_id": "key-project", "private_key_id": "k1", "private_key": rsa_key_pem,
        "client_email": "deployer@key-project.iam.gserviceaccount.com", "client_id": "1", "token_uri": refused_url,
    }))
    Estate(localgce).unmanaged_vm("vm-1", ZONE)
    localgce.config(require_auth=True)
    localgce.clear_requests()
    plain = run_info(module_env(localgce, run_dir, tmp_path, False, key), tmp_path, "plain")
    helper = run_info(module_env(localgce, run_dir, tmp_path, True, key), tmp_path, "helper")
    assert not plain.get("failed"), plain.get("msg")
    assert not helper.get("failed"), "the helper path failed where the plain path works: %s" % helper.get("msg")
    assert [i["name"] for i in plain["instances"]] == [i["name"] for i in helper["instances"]] == ["vm-1"]
    listed = inventory(localgce, tmp_path, key)
    assert listed.returncode == 0, listed.stderr
    assert list(json.loads(listed.stdout)["_meta"]["hostvars"]) == ["vm-1"]
    api = [r for r in localgce.requests() if r["path"].startswith("/compute/")]
    assert api and all(r["auth"] for r in api)


def test_an_unreachable_token_endpoint_is_a_network_failure_on_every_path(localgce, tmp_path, run_dir,
                                                                          refused_url):
    # A key that must be exchanged for a token at https://oauth2.googleapis.com/token (a user's refresh token,
    # as gcloud writes it), in a job whose only way out is a proxy that refuses connections: every path says it
    # is a network failure, names the URL, and none blames the key.
    key = tmp_path / "user-key.json"
    key.write_text(json.dumps({"type": "authorized_user", "client_id": "c.apps.googleusercontent.com",
                               "client_secret": "s", "refresh_token": "1//r"}))
    Estate(localgce).unmanaged_vm("vm-1", ZONE)
    proxy = refused_url.rsplit("/", 1)[0]
    no_proxy = {"HTTPS_PROXY": proxy, "https_proxy": proxy, "NO_PROXY": "127.0.0.1,localhost",
                "no_proxy": "127.0.0.1,localhost"}
    envs = {"plain": module_env(localgce, run_dir, tmp_path, False, key),
            "helper": module_env(localgce, run_dir, tmp_path, True, key)}
    messages = {}
    for path, env in envs.items():
        env.update(no_proxy)
        messages[path] = run_info(env, tmp_path, path).get("msg", "")
    listed = inventory(localgce, tmp_path, key, **no_proxy)
    assert listed.returncode != 0
    messages["inventory"] = listed.stderr
    for path, msg in messages.items():
        assert "on a network failure, not a bad credential: cannot reach https://oauth2.googleapis.com/token" in msg, (
            path, msg)
        assert "connection refused" in msg, (path, msg)
        assert "valid, enabled service account key" not in msg and "not a usable key" not in msg, (path, msg)
        assert "Traceback" not in msg, (path, msg)
