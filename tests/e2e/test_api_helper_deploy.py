"""playbooks/deploy.yml with cos_deploy_api_helper true (the default) and false: the same deployment and requests.

Each path gets a fresh localgce of its own, so the request logs compare one to one.
"""

import os
import tempfile
import time

import pytest

from conftest import example, instance, metadata, playbook, token_env
from localgce.testing import LocalGCE

NO_WAIT = ("-e", "cos_deploy_wait=false")


def _helper_processes(run_dir):
    """Pids of processes whose environment names this run directory (the helpers of these runs)."""
    found = []
    needle = ("XDG_RUNTIME_DIR=%s" % run_dir).encode()
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open("/proc/%s/environ" % pid, "rb") as handle:
                    if needle in handle.read().split(b"\0"):
                        found.append(int(pid))
            except OSError:
                pass
    return found


def _mutations(srv):
    return [(r["method"], r["path"]) for r in srv.requests() if r["mutating"]]


@pytest.mark.parametrize("name", ["stateful-db"])
def test_deploy_is_the_same_with_and_without_the_api_helper(name, tmp_path):
    run_dir = tempfile.mkdtemp(prefix="gce", dir="/tmp")
    seen = {}
    for helper in ("false", "true"):
        srv = LocalGCE.start()
        try:
            for secret in ("ghcr-token", "db-password"):
                srv.set_secret("my-project", secret, "not-in-metadata")
            env = token_env(tmp_path, srv)
            env["XDG_RUNTIME_DIR"] = run_dir
            first = playbook(env, "deploy", *NO_WAIT, "-e", "cos_deploy_api_helper=" + helper,
                             varfile=example(name))
            assert first.proc.returncode == 0, first
            created = _mutations(srv)
            srv.clear_requests()
            again = playbook(env, "deploy", *NO_WAIT, "-e", "cos_deploy_api_helper=" + helper,
                             varfile=example(name))
            assert again.proc.returncode == 0 and again.changed == 0, again
            inst = instance(srv, _instance_name(name))
            rerun = _mutations(srv)
            srv.clear_requests()
            gone = playbook(env, "teardown", "-e", "cos_deploy_api_helper=" + helper, varfile=example(name))
            assert gone.proc.returncode == 0 and gone.changed > 0, gone
            seen[helper] = (first.changed, created, rerun, sorted(metadata(inst).items()), _mutations(srv))
        finally:
            srv.stop()
        made_dir = os.path.isdir(os.path.join(run_dir, "gce-cos"))
        assert made_dir == (helper == "true"), "the helper runs exactly when the role's switch is on"
    assert seen["true"] == seen["false"]
    assert seen["true"][2] == [], "a re-run sends no mutation"
    # Nothing is left once the plays are over.
    deadline = time.monotonic() + 30
    while _helper_processes(run_dir) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _helper_processes(run_dir) == []
    # No socket or lock is left; the code cache (compiled module_utils, 0600 files) stays for the next play.
    assert os.listdir(os.path.join(run_dir, "gce-cos")) == ["code"]


def _instance_name(name):
    import yaml

    with open(example(name)) as handle:
        return yaml.safe_load(handle)["cos_deploy_instance"]["name"]
