"""The EXAMPLES of gce.cos.cos_instance, run as they are through ansible-playbook against localgce.

Only the connection options are added, with module_defaults for the action group, the way
the module's documentation tells users to set them.
"""

import ast
import os
import subprocess
import sys

import yaml
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_client import ComputeApi
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_operations import mutate
from module_runner import PYTHONPATH, ROOT, calls

PROJECT = "test-project"
ZONE = "us-central1-a"
MODULE = os.path.join(ROOT, "plugins", "modules", "cos_instance.py")


def examples():
    with open(MODULE) as handle:
        tree = ast.parse(handle.read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and node.targets[0].id == "EXAMPLES":
            return yaml.safe_load(node.value.value)
    raise AssertionError("no EXAMPLES in %s" % MODULE)


def test_examples_run_against_localgce(localgce, clean_env, tmp_path):
    from google.oauth2.credentials import Credentials

    api = ComputeApi(Credentials(token="examples-token"), PROJECT, api_endpoint=localgce.url, auth_kind="accesstoken")
    # The second example attaches a data disk, which cos_disk would have made.
    mutate(api, "disks", "insert_unary", 30, doing="create disk", project=PROJECT, zone=ZONE,
           disk_resource={"name": "worker-1-data", "sizeGb": "10"})
    localgce.clear_requests()
    play = [{
        "hosts": "localhost",
        "gather_facts": False,
        "module_defaults": {"group/gce.cos.gcp": {
            "project": PROJECT, "auth_kind": "accesstoken", "access_token": "examples-token",
            "api_endpoint": localgce.url}},
        "tasks": examples(),
    }]
    playbook = tmp_path / "examples.yml"
    playbook.write_text(yaml.safe_dump(play, sort_keys=False))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=PYTHONPATH, ANSIBLE_PYTHON_INTERPRETER=sys.executable,
               ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
               ANSIBLE_HOME=str(tmp_path / "ansible"))
    proc = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,", "-c", "local",
         str(playbook)],
        capture_output=True, text=True, env=env, timeout=900, check=False,
    )
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    assert "failed=0" in proc.stdout
    done = [c for c in calls(localgce.requests(mutating_only=True))]
    inst = "projects/%s/zones/%s/instances" % (PROJECT, ZONE)
    expected = [
        "POST %s" % inst,                                  # web-1
        "POST %s" % inst,                                  # worker-1
        "POST %s/web-1/setMetadata" % inst,
        "POST %s/web-1/deleteAccessConfig" % inst,        # external_ip: none, in place
        "POST %s/web-1/setScheduling" % inst,
        "POST %s/web-1/stop" % inst,                       # resize: stop, change, start back
        "POST %s/web-1/setMachineType" % inst,
        "POST %s/web-1/start" % inst,
        "POST %s/web-1/stop" % inst,                       # state: stopped
        "DELETE %s/web-1" % inst,
        "POST %s/worker-1/setDeletionProtection" % inst,
        "DELETE %s/worker-1" % inst,
    ]
    assert done == expected
    assert localgce.get_resource("%s/web-1" % inst) is None
    assert localgce.get_resource("%s/worker-1" % inst) is None
    # The data disk was not auto-deleted with worker-1; the boot disks were.
    assert localgce.get_resource("projects/%s/zones/%s/disks/worker-1-data" % (PROJECT, ZONE)) is not None
    assert localgce.get_resource("projects/%s/zones/%s/disks/worker-1" % (PROJECT, ZONE)) is None
