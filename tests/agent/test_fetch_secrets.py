"""fetch-secrets: Secret Manager references resolved on the VM into a root-only env file.

Runs the helper's text from cos_agent.py with real bash and curl against localgce's
metadata server (the VM token) and Secret Manager; then through the agent and a rendered
unit with secret_env.
"""

import json
import os
import stat
import subprocess

from ansible_collections.gce.cos.plugins.module_utils._vm import container_unit

from localgce.testing import DEFAULT_PROJECT

SECRET = "s3cr3t-Value+/=with spaces"
REF = "projects/%s/secrets/db-pass/versions/latest" % DEFAULT_PROJECT


def fetch(guest, *args):
    return subprocess.run(["bash", guest.fetch_secrets, *args], env=guest.env, capture_output=True, text=True,
                          timeout=60)


def env_file(guest, name):
    return os.path.join(guest.secrets_dir, name + ".env")


def test_values_land_in_a_root_only_file_and_nowhere_else(guest, localgce):
    localgce.set_secret(DEFAULT_PROJECT, "db-pass", SECRET + "\n")
    localgce.set_secret(DEFAULT_PROJECT, "api-key", "k\u00e9y-1")
    proc = fetch(guest, "web", "DB_PASSWORD=" + REF,
                 "API_KEY=projects/%s/secrets/api-key/versions/1" % DEFAULT_PROJECT)
    assert proc.returncode == 0, proc.stderr

    path = env_file(guest, "web")
    with open(path, "rb") as f:
        # One trailing newline of the stored value is dropped (docker env files are lines).
        assert f.read() == ("DB_PASSWORD=%s\nAPI_KEY=k\u00e9y-1\n" % SECRET).encode()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(guest.secrets_dir).st_mode) == 0o700
    assert os.listdir(guest.secrets_dir) == ["web.env"]  # no work files left behind
    assert SECRET not in proc.stdout + proc.stderr
    assert "2 secret(s) written" in proc.stderr
    # The VM's own token (from the metadata server) authenticated the access calls.
    access = [r for r in localgce.requests() if r["path"].endswith(":access")]
    assert len(access) == 2 and all(r["auth"] for r in access)


def test_a_missing_secret_fails_with_the_api_message(guest, localgce):
    proc = fetch(guest, "web", "DB_PASSWORD=projects/%s/secrets/nope/versions/1" % DEFAULT_PROJECT)
    assert proc.returncode == 1
    assert "DB_PASSWORD: cannot access projects/%s/secrets/nope/versions/1 (HTTP 404)" % DEFAULT_PROJECT in proc.stderr
    assert "not found" in proc.stderr
    assert not os.path.exists(env_file(guest, "web"))


def test_a_value_with_a_line_break_is_refused_without_showing_it(guest, localgce):
    localgce.set_secret(DEFAULT_PROJECT, "db-pass", "line-one\nline-two")
    proc = fetch(guest, "web", "DB_PASSWORD=" + REF)
    assert proc.returncode == 1
    assert "has a line break" in proc.stderr
    assert "line-one" not in proc.stderr + proc.stdout
    assert not os.path.exists(env_file(guest, "web"))


def test_bad_arguments_are_refused(guest):
    assert "bad argument" in fetch(guest, "web", "not-a-pair").stderr
    assert "bad reference" in fetch(guest, "web", "X=projects/p/secrets/s").stderr
    assert fetch(guest).returncode == 1


def test_transient_secret_manager_errors_are_retried(guest, localgce):
    localgce.set_secret(DEFAULT_PROJECT, "db-pass", SECRET)
    localgce.fault(method="GET", path=r":access$", count=2, status=503)
    proc = fetch(guest, "web", "DB_PASSWORD=" + REF)
    assert proc.returncode == 0, proc.stderr
    statuses = [r["status"] for r in localgce.requests() if r["path"].endswith(":access")]
    assert statuses == [503, 503, 200]


def test_agent_runs_a_unit_with_secret_env(cloud, guest, localgce):
    localgce.set_secret(DEFAULT_PROJECT, "db-pass", SECRET)
    built = container_unit.build({"name": "app", "image": "nginx:1.25", "secret_env": {"DB_PASSWORD": REF}})
    assert SECRET not in built["unit"]
    cloud.set_containers({"app": built["unit"]})
    proc = guest.run_once()
    assert proc.returncode == 0, proc.stdout + proc.stderr

    ga = cloud.guest_attributes()
    assert ga["app"]["state"] == "running", ga
    path = env_file(guest, "app")
    with open(path) as f:
        assert f.read() == "DB_PASSWORD=%s\n" % SECRET
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    # docker got the file, not the value.
    runs = [c for c in guest.calls() if c.startswith("docker create")]
    assert len(runs) == 1 and "--env-file %s" % path in runs[0] and SECRET not in runs[0]
    for text in (proc.stdout, proc.stderr, json.dumps(cloud.raw_guest_attributes()), guest.journal("app")):
        assert SECRET not in text

    # Removing the container removes its secrets file.
    cloud.set_containers({})
    assert guest.run_once().returncode == 0
    assert not os.path.exists(path)


def test_agent_reports_a_secret_that_cannot_be_read(cloud, guest):
    built = container_unit.build({"name": "app", "image": "nginx:1.25", "secret_env": {"DB_PASSWORD": REF}})
    cloud.set_containers({"app": built["unit"]})
    assert guest.run_once().returncode == 0
    ga = cloud.guest_attributes()["app"]
    assert ga["state"] == "failed"
    assert "fetch-secrets: DB_PASSWORD: cannot access %s (HTTP 404)" % REF in ga["error"]
    assert guest.containers() == []
