"""AWX's path: playbooks/deploy.yml and playbooks/deploy-group.yml run through ansible-runner as an AWX
execution node runs a job - a private data directory with env/extravars, env/envvars holding what AWX's
Google Compute Engine credential injects (a service-account key file and its variables), the cos_vms
inventory as the inventory source in inventory/, and the playbooks in project/ - against localgce.

The job's events show the tasks and the result; no secret (the key's private key, an access token)
appears in any event or artifact."""

import json
import os
import shutil
import subprocess
import sys

import pytest
import yaml

from conftest import COLLECTIONS, ROOT, VENV_BIN, example, metadata, mutations

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "api"))
from group_fixtures import FakeAgents

ANSIBLE_RUNNER = os.path.join(VENV_BIN, "ansible-runner")


def private_data_dir(tmp_path, lgce, key_pem, project, extravars):
    """The directory AWX writes for a job: the credential's key file and environment, extra vars,
    the inventory source and the project (this checkout's playbooks)."""
    pdd = tmp_path / "job"
    (pdd / "env").mkdir(parents=True)
    (pdd / "inventory").mkdir()
    shutil.copytree(os.path.join(ROOT, "playbooks"), pdd / "project" / "playbooks")
    key = {
        "type": "service_account",
        "project_id": project,
        "private_key_id": "awx-runner",
        "private_key": key_pem,
        "client_email": "awx@%s.iam.gserviceaccount.com" % project,
        "client_id": "4242",
        # localgce answers Google's OAuth2 token endpoint: google-auth signs a JWT with the key and gets a token.
        "token_uri": lgce.url + "/token",
    }
    # AWX writes the credential into the job's private directory, outside artifacts/.
    key_file = pdd / "env" / "gce_credential.json"
    key_file.write_text(json.dumps(key))
    key_file.chmod(0o600)
    envvars = {
        # What AWX's Google Compute Engine credential injects.
        "GCE_CREDENTIALS_FILE_PATH": str(key_file),
        "GCP_SERVICE_ACCOUNT_FILE": str(key_file),
        "GOOGLE_APPLICATION_CREDENTIALS": str(key_file),
        "GCP_AUTH_KIND": "serviceaccount",
        "GCP_PROJECT": project,
        "GCP_ENV_TYPE": "tower",
        "GCE_EMAIL": key["client_email"],
        "GCE_PROJECT": project,
        # This test's stand-ins: localgce for the Compute API, the collection from this checkout
        # (an execution environment has it installed), no metadata server.
        "GCE_COS_API_ENDPOINT": lgce.url,
        "ANSIBLE_COLLECTIONS_PATH": COLLECTIONS,
        "ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED": "true",
        "GCE_METADATA_HOST": "127.0.0.1:9",
        "GCE_METADATA_IP": "127.0.0.1:9",
    }
    (pdd / "env" / "envvars").write_text(yaml.safe_dump(envvars))
    (pdd / "env" / "extravars").write_text(yaml.safe_dump(extravars))
    (pdd / "inventory" / "gce.cos_vms.yml").write_text(
        "plugin: gce.cos.cos_vms\nwith_reports: true\nwith_templates: false\n")
    return pdd


def runner(pdd, playbook, ident):
    """ansible-runner run PDD -p PLAYBOOK: the job's status, its events (in order) and its stdout."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GCP_", "GCE_", "GOOGLE_", "CLOUDSDK_", "ANSIBLE_"))}
    env.update(PATH=VENV_BIN + os.pathsep + os.environ.get("PATH", ""), HOME=str(pdd.parent))
    proc = subprocess.run([ANSIBLE_RUNNER, "run", str(pdd), "-p", playbook, "--ident", ident], env=env,
                          capture_output=True, text=True, timeout=900, check=False)
    art = pdd / "artifacts" / ident
    events = []
    for path in (art / "job_events").glob("*.json"):
        with open(path) as f:
            events.append(json.load(f))
    events.sort(key=lambda e: e["counter"])
    status = (art / "status").read_text() if (art / "status").exists() else None
    return proc, status, events, (art / "stdout").read_text() if (art / "stdout").exists() else ""


def task_results(events):
    """{task name: [(host, changed)]} from the runner_on_ok events."""
    out = {}
    for e in events:
        if e["event"] == "runner_on_ok":
            data = e["event_data"]
            out.setdefault(data["task"], []).append((data["host"], data["res"].get("changed", False)))
    return out


def stats(events):
    (last,) = [e for e in events if e["event"] == "playbook_on_stats"]
    return last["event_data"]


def assert_no_secret(pdd, key_pem):
    """Grep every file of every job's artifacts for the key and for access tokens."""
    body = [line for line in key_pem.splitlines() if line and "-----" not in line]
    needles = ["PRIVATE KEY", "ya29.", "private_key", body[1], body[len(body) // 2], body[-1]]
    found, scanned = [], 0
    for root, _dirs, files in os.walk(pdd / "artifacts"):
        for name in files:
            scanned += 1
            with open(os.path.join(root, name), "rb") as f:
                text = f.read().decode("utf-8", "replace")
            found.extend((os.path.join(root, name), n) for n in needles if n in text)
    assert scanned > 20 and found == []


@pytest.fixture
def require_auth(lgce):
    """Calls without credentials are refused (401), as Google refuses them."""
    lgce.config(require_auth=True)
    yield
    lgce.config(require_auth=False)


def test_deploy_as_an_awx_job_then_again_with_the_vm_in_the_inventory(lgce, tmp_path, rsa_key_pem, require_auth):
    with open(example("nginx")) as f:
        spec = yaml.safe_load(f)
    spec["cos_deploy_instance"]["name"] = "awx-job-web"
    spec["cos_deploy_wait"] = False
    # Its own project: the inventory source lists only this job's VM.
    pdd = private_data_dir(tmp_path, lgce, rsa_key_pem, "awx-runner-project", spec)

    proc, status, events, stdout = runner(pdd, "playbooks/deploy.yml", "job1")
    assert status == "successful" and proc.returncode == 0, stdout[-6000:] + proc.stderr
    # The inventory had no VM yet: the play ran on localhost and created the VM and its containers.
    names = [e["event_data"]["task"] for e in events if e["event"] == "playbook_on_task_start"]
    assert "Check the values of the inputs" in names and "Ensure the containers run" in names
    results = task_results(events)
    assert results["Ensure the containers run"] == [("localhost", True)]
    assert stats(events)["changed"] == {"localhost": 3} and not stats(events)["failures"]
    assert "cos-container-nginx" in metadata(instance_in(lgce, "awx-runner-project", "awx-job-web"))
    api = [r for r in lgce.requests() if r["path"].startswith("/compute/")]
    assert api and all(r["auth"] and r["status"] != 401 for r in api)

    # The same job again: the inventory source now lists the VM, the play runs on it and changes nothing.
    lgce.clear_requests()
    proc, status, events, stdout = runner(pdd, "playbooks/deploy.yml", "job2")
    assert status == "successful" and proc.returncode == 0, stdout[-6000:] + proc.stderr
    assert task_results(events)["Ensure the containers run"] == [("awx-job-web", False)]
    assert stats(events)["changed"] == {} and list(stats(events)["ok"]) == ["awx-job-web"]
    assert mutations(lgce) == []
    assert_no_secret(pdd, rsa_key_pem)


def instance_in(lgce, project, name, zone="us-central1-a"):
    import urllib.request

    url = "%s/compute/v1/projects/%s/zones/%s/instances/%s" % (lgce.url, project, zone, name)
    req = urllib.request.Request(url, headers={"Authorization": "Bearer awx-test"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def test_group_deploy_as_an_awx_job(lgce, tmp_path, rsa_key_pem, require_auth):
    name = "awx-job-group"
    spec = {
        "cos_deploy_group_name": name,
        "cos_deploy_group_zone": "us-central1-a",
        "cos_deploy_group_size": 2,
        "cos_deploy_group_instance": {"machine_type": "e2-small"},
        "cos_deploy_group_containers": [{"name": "web", "image": "nginx:1.27", "ports": [80]}],
        "cos_deploy_group_wait_timeout": 120,
    }
    pdd = private_data_dir(tmp_path, lgce, rsa_key_pem, "test-project", spec)
    with FakeAgents(lgce):
        proc, status, events, stdout = runner(pdd, "playbooks/deploy-group.yml", "group1")
    assert status == "successful" and proc.returncode == 0, stdout[-6000:] + proc.stderr
    results = task_results(events)
    group_task = "Ensure the group, its versions and its containers (rolled out in place through the cos agent)"
    assert results[group_task] == [("localhost", True)]
    assert stats(events)["changed"]["localhost"] >= 4 and not stats(events)["failures"]
    shown = [e for e in events if e["event"] == "runner_on_ok" and e["event_data"]["task"] == "Show the group"]
    assert "group %s: 2 VMs" % name in shown[0]["event_data"]["res"]["msg"]
    assert_no_secret(pdd, rsa_key_pem)
