"""Check mode with diff, teardown, an AWX-style run, and variable files refused before any API call."""

import json

import pytest
import yaml

from conftest import DEFAULT_PROJECT, api_get, base_env, example, instance, metadata, mutations, playbook, token_env

NO_WAIT = ("-e", "cos_deploy_wait=false")


def _write(tmp_path, spec, name="vars.yml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(spec))
    return path


def _nginx(name):
    with open(example("nginx")) as f:
        spec = yaml.safe_load(f)
    spec["cos_deploy_instance"]["name"] = name
    return spec


def test_check_diff_shows_the_exact_change_and_writes_nothing(lgce, tmp_path):
    env = token_env(tmp_path, lgce)
    spec = _nginx("diff-nginx")
    # A new instance in check mode: the plan is shown, nothing is written, nothing fails.
    lgce.clear_requests()
    dry = playbook(env, "deploy", "--check", *NO_WAIT, varfile=_write(tmp_path, spec))
    assert dry.proc.returncode == 0, dry
    assert "once it is created these containers are deployed on it: nginx" in dry.out
    assert mutations(lgce) == [] and instance(lgce, "diff-nginx") is None

    run = playbook(env, "deploy", *NO_WAIT, varfile=_write(tmp_path, spec))
    assert run.proc.returncode == 0, run
    before = metadata(instance(lgce, "diff-nginx"))

    spec["cos_deploy_containers"][0]["image"] = "nginx:1.27.3"
    spec["cos_deploy_containers"][0]["env"]["WORKER_PROCESSES"] = "4"
    lgce.clear_requests()
    check = playbook(env, "deploy", "--check", "--diff", *NO_WAIT, varfile=_write(tmp_path, spec, "changed.yml"))
    assert check.proc.returncode == 0, check
    assert check.changed == 1, check  # only the containers task
    lines = check.proc.stdout.splitlines()
    removed = [line for line in lines if line.startswith("-")]
    added = [line for line in lines if line.startswith("+")]
    assert any('"nginx:1.27"' in line for line in removed), check
    assert any('"nginx:1.27.3"' in line for line in added), check
    assert any("WORKER_PROCESSES" in line for line in added), check
    # Only what changed is in the diff: the port, the volume and the instance are not.
    assert not any("80/tcp" in line or "/var/lib/nginx-demo" in line for line in removed + added), check
    assert mutations(lgce) == []
    assert metadata(instance(lgce, "diff-nginx")) == before


def _names(lgce, collection, prefix):
    items = api_get(lgce, collection) or {}
    return sorted(i["name"] for i in items.get("items", []) if i["name"].startswith(prefix))


def test_teardown_keeps_the_disks_unless_asked(lgce, tmp_path):
    env = token_env(tmp_path, lgce)
    with open(example("stateful-db")) as f:
        spec = yaml.safe_load(f)
    spec["cos_deploy_instance"]["name"] = "td-db"
    spec["cos_deploy_disks"][0]["name"] = "td-db-data"
    varfile = _write(tmp_path, spec)
    run = playbook(env, "deploy", *NO_WAIT, varfile=varfile)
    assert run.proc.returncode == 0, run
    assert _names(lgce, "zones/us-central1-a/instances", "td-") == ["td-db"]
    assert _names(lgce, "global/firewalls", "td-") == ["td-db-ports"]

    down = playbook(env, "teardown", varfile=varfile)
    assert down.proc.returncode == 0, down
    assert _names(lgce, "zones/us-central1-a/instances", "td-") == []
    assert _names(lgce, "global/firewalls", "td-") == []
    # Data is never deleted by default.
    assert _names(lgce, "zones/us-central1-a/disks", "td-") == ["td-db-data"]

    again = playbook(env, "teardown", varfile=varfile)
    assert again.proc.returncode == 0 and again.changed == 0, again

    gone = playbook(env, "teardown", "-e", "delete_disks=true", varfile=varfile)
    assert gone.proc.returncode == 0, gone
    assert _names(lgce, "zones/us-central1-a/disks", "td-") == []


def test_awx_style_run_with_only_the_gce_credential_environment(lgce, tmp_path, rsa_key_pem):
    """AWX's Google Compute Engine credential injects these and nothing else."""
    key = {
        "type": "service_account",
        "project_id": DEFAULT_PROJECT,
        "private_key_id": "awx1",
        "private_key": rsa_key_pem,
        "client_email": "awx@%s.iam.gserviceaccount.com" % DEFAULT_PROJECT,
        "client_id": "42",
        "token_uri": lgce.url + "/token",
    }
    key_file = tmp_path / "awx-credential.json"
    key_file.write_text(json.dumps(key))
    env = base_env(tmp_path, lgce)
    env.update({
        "GCE_CREDENTIALS_FILE_PATH": str(key_file),
        "GCP_SERVICE_ACCOUNT_FILE": str(key_file),
        "GOOGLE_APPLICATION_CREDENTIALS": str(key_file),
        "GCP_AUTH_KIND": "serviceaccount",
        "GCP_PROJECT": DEFAULT_PROJECT,
        "GCP_ENV_TYPE": "tower",
        "GCE_EMAIL": key["client_email"],
        "GCE_PROJECT": DEFAULT_PROJECT,
    })
    lgce.clear_requests()
    # Calls without credentials are refused (401) for this run.
    lgce.config(require_auth=True)
    try:
        run = playbook(env, "deploy", *NO_WAIT, varfile=_write(tmp_path, _nginx("awx-nginx")))
    finally:
        lgce.config(require_auth=False)
    assert run.proc.returncode == 0, run
    assert "cos-container-nginx" in metadata(instance(lgce, "awx-nginx"))
    # google-auth signed its credentials with the key file's RSA key; every API call carried them.
    api = [r for r in lgce.requests() if r["path"].startswith("/compute/")]
    assert api and all(r["auth"] and r["status"] != 401 for r in api)


BAD = {
    "missing-image": (
        lambda s: s["cos_deploy_containers"][0].pop("image"),
        ["image", "cos_deploy_containers"],
    ),
    "bad-port": (
        lambda s: s["cos_deploy_containers"][0].update(ports=[99999]),
        ["cos_deploy_containers[0].ports[0]", "99999"],
    ),
    "plain-password": (
        lambda s: s.update(cos_deploy_registries=[{"server": "ghcr.io", "username": "bot",
                                                   "password_secret": "hunter2-plain"}]),
        ["cos_deploy_registries[0].password_secret", "not a Secret Manager version reference"],
    ),
    "password-key": (
        lambda s: s.update(cos_deploy_registries=[{"server": "ghcr.io", "username": "bot",
                                                   "password": "hunter2-plain"}]),
        ["password"],
    ),
    "plain-secret-env": (
        lambda s: s["cos_deploy_containers"][0].update(secret_env={"DB_PASSWORD": "hunter2-plain"}),
        ["cos_deploy_containers[0].secret_env.DB_PASSWORD", "not a Secret Manager version reference"],
    ),
    "unknown-key": (
        lambda s: s["cos_deploy_containers"][0].update(imagePullPolicy="Always"),
        ["imagePullPolicy"],
    ),
    "misspelt-variable": (
        lambda s: s.update(cos_deploy_container=s.pop("cos_deploy_containers")),
        ["cos_deploy_container: is not a variable of the gce.cos.cos_deploy role",
         "rename it to cos_deploy_containers"],
    ),
    "cloud-config-clash": (
        lambda s: s.update(cos_deploy_cloud_config={"write_files": [
            {"path": "/etc/systemd/system/cos-agent.service", "content": "[Unit]\n"}]}),
        ["write_files writes /etc/systemd/system/cos-agent.service twice"],
    ),
    "cloud-config-unknown-key": (
        lambda s: s.update(cos_deploy_cloud_config={"runcmds": [["true"]]}),
        ["runcmds"],
    ),
    "cloud-config-cos-ignores": (
        lambda s: s.update(cos_deploy_cloud_config={"packages": ["nginx"]}),
        ["packages", "Container-Optimized OS's cloud-init ignores"],
    ),
    "startup-script-twice": (
        lambda s: (s.update(cos_deploy_startup_script="#!/bin/bash\ntrue\n"),
                   s["cos_deploy_instance"].update(metadata={"startup-script": "echo"})),
        ["cos_deploy_instance.metadata.startup-script", "is set by cos_deploy_startup_script too"],
    ),
    "bad-source-range": (
        lambda s: s.update(cos_deploy_firewall={"source_ranges": ["300.0.0.0/8"]}),
        ["cos_deploy_firewall.source_ranges: '300.0.0.0/8' is not an IP range"],
    ),
    "second-disk-size-zero": (
        lambda s: s.update(cos_deploy_disks=[{"name": "bad-ok-1", "size_gb": 10}, {"name": "bad-zero", "size_gb": 0}]),
        ["cos_deploy_disks[1].size_gb: 0 GB is not a possible disk size"],
    ),
    "boot-disk-too-small": (
        lambda s: s["cos_deploy_instance"].update(boot_disk_size_gb=5),
        ["cos_deploy_instance.boot_disk_size_gb: 5 GB is smaller than COS images"],
    ),
    "upper-case-label": (
        lambda s: s["cos_deploy_instance"].update(labels={"Team": "web"}),
        ["cos_deploy_instance.labels: key 'Team' is not valid"],
    ),
    "docker-setting-of-a-dockerd-flag": (
        lambda s: s.update(cos_deploy_docker_daemon={"live-restore": True, "registry-mirrors": ["https://m.example"]}),
        ["cos_deploy_docker_daemon.registry-mirrors:", "is set by COS's dockerd flag --registry-mirror="],
    ),
    "unknown-instance-key": (
        lambda s: s["cos_deploy_instance"].update(machinetype="e2-small"),
        ["machinetype"],
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_variable_files_fail_before_any_api_call(case, lgce, tmp_path):
    env = token_env(tmp_path, lgce)
    spec = _nginx("bad-" + case)
    change, expected = BAD[case]
    change(spec)
    lgce.clear_requests()
    run = playbook(env, "deploy", varfile=_write(tmp_path, spec))
    assert run.proc.returncode != 0, run
    assert run.changed == 0 and run.failed == 1, run
    for text in expected:
        assert text in run.out, run
    assert "hunter2" not in run.out
    # Refused by Ansible's argument validation or the role's check task: nothing reached the API.
    assert [r for r in lgce.requests() if r["path"].startswith("/compute/")] == []
