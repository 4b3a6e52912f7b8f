"""Quiet output: a deploy and its teardown, a group deploy, the cos_vms inventory and the status
playbook print no warning and no deprecation warning under each supported ansible-core (each with
its own controller Python), against localgce.

ansible-core 2.21 deprecates instantiating the filter and test loaders with aliases, which happens
when a plugin deep-copies the lazy containers templating hands it: the filters convert their
inputs to plain data first (plugins/module_utils/plain_data.py).
"""

import os
import re
import subprocess
import sys

import pytest
import yaml
from cores import CORES, venv_bin

from conftest import ROOT, base_env, example, token_env

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "api"))
from estate import Estate
from group_fixtures import FakeAgents

WARNING_RE = re.compile(r"^\[(?:DEPRECATION )?WARNING\].*$", re.M)


def run(core, env, *cmd):
    """A command of the core's venv (ansible-playbook, ansible-inventory) from the checkout's root."""
    bin_dir = venv_bin(core)
    env = dict(env, PATH=bin_dir + os.pathsep + env["PATH"])
    proc = subprocess.run([os.path.join(bin_dir, cmd[0]), *cmd[1:]], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=900, check=False)
    return proc, proc.stdout + proc.stderr


def assert_quiet(proc, out):
    assert proc.returncode == 0, out[-6000:]
    assert WARNING_RE.findall(out) == [], out[-6000:]


def write(tmp_path, spec, name):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(spec))
    return str(path)


@pytest.mark.parametrize("core", sorted(CORES))
def test_deploy_prints_no_warning(core, lgce, tmp_path):
    with open(example("nginx")) as f:
        spec = yaml.safe_load(f)
    spec["cos_deploy_instance"]["name"] = "quiet-%s" % core.replace(".", "-")
    varfile = write(tmp_path, spec, "vars.yml")
    proc, out = run(core, token_env(tmp_path, lgce), "ansible-playbook", "playbooks/deploy.yml",
                    "-e", "@" + varfile, "-e", "cos_deploy_wait=false")
    assert "Check the values of the inputs" in out
    assert_quiet(proc, out)
    proc, out = run(core, token_env(tmp_path, lgce), "ansible-playbook", "playbooks/teardown.yml", "-e", "@" + varfile)
    assert_quiet(proc, out)


@pytest.mark.parametrize("core", sorted(CORES))
def test_group_deploy_prints_no_warning(core, lgce, tmp_path):
    name = "quiet-group-%s" % core.replace(".", "-")
    spec = {
        "cos_deploy_group_name": name,
        "cos_deploy_group_zone": "us-central1-a",
        "cos_deploy_group_size": 2,
        "cos_deploy_group_instance": {"machine_type": "e2-small"},
        "cos_deploy_group_containers": [{"name": "web", "image": "nginx:1.27", "ports": [80]}],
        "cos_deploy_group_wait_timeout": 120,
    }
    varfile = write(tmp_path, spec, "group.yml")
    with FakeAgents(lgce):
        proc, out = run(core, token_env(tmp_path, lgce), "ansible-playbook", "playbooks/deploy-group.yml",
                        "-e", "@" + varfile)
    assert "Ensure the group, its versions and its containers" in out
    assert_quiet(proc, out)


@pytest.mark.parametrize("core", sorted(CORES))
def test_inventory_prints_no_warning(core, lgce, tmp_path):
    estate = Estate(lgce, project="e2e-project")
    name = "quiet-inv-%s" % core.replace(".", "-")
    units = estate.agent_vm(name, "us-central1-b", containers=("web",))
    estate.report(name, "us-central1-b", {"web": {"revision": units["web"]["revision"], "state": "running",
                                                  "image": "nginx:1.25", "digest": "", "error": "", "restarts": 0}})
    source = tmp_path / "quiet.cos_vms.yml"
    source.write_text("plugin: gce.cos.cos_vms\nwith_reports: true\nkeyed_groups:\n  - key: gce_zone\n    prefix: z\n")
    env = dict(base_env(tmp_path, lgce), GCP_PROJECT="e2e-project", GCP_AUTH_KIND="accesstoken",
               GCP_ACCESS_TOKEN="e2e-token", ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED="true")
    proc, out = run(core, env, "ansible-inventory", "-i", str(source), "--list")
    assert name in proc.stdout
    assert_quiet(proc, out)
    # The status playbook over the same inventory, limited to this VM.
    proc, out = run(core, env, "ansible-playbook", "playbooks/status.yml", "-i", str(source), "--limit", name)
    assert "nginx:1.25" in out
    assert_quiet(proc, out)
