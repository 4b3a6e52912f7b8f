"""The konlet migration on the declaration gcloud really writes: create-with-container, then
gce.cos.cos_container with migrate: true (the module run as Ansible runs it)."""

from __future__ import annotations

import os
import sys

from gcloud_cli import PROJECT, ZONE, calls
from google.cloud import compute_v1
from test_seed import CONTAINER_FLAGS

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "api"))
from ansible_collections.gce.cos.plugins.module_utils._vm import cloud_config, container_unit
from module_runner import connection, run_module


def test_migrate_the_declaration_gcloud_wrote(gcloud, compute, lg):
    gcloud("instances", "create-with-container", "vm-klt", *CONTAINER_FLAGS)
    lg.clear_requests()
    args = dict(connection(lg, project=PROJECT), instance="vm-klt", zone=ZONE, migrate=True, wait=False)
    result = run_module("cos_container", args)
    assert not result.failed, result.get("msg")
    assert result["changed"] and result["restarted"]
    base = f"projects/{PROJECT}/zones/{ZONE}/instances/vm-klt"
    assert calls(lg) == [f"POST {base}/setMetadata", f"POST {base}/stop", f"POST {base}/start"]

    inst = compute(compute_v1.InstancesClient).get(project=PROJECT, zone=ZONE, instance="vm-klt")
    md = {i.key: i.value for i in inst.metadata.items}
    assert "gce-container-declaration" not in md
    assert md["google-logging-enabled"] == "true"  # gcloud's own key stays
    assert cloud_config.has_agent(md["user-data"])
    # gcloud names the container after the VM.
    spec = container_unit.recorded_spec(md["cos-container-vm-klt"])
    assert spec["image"] == "docker.io/library/nginx:1.27"
    assert spec["args"] == ["-g", "daemon off;"]
    assert spec["env"] == {"MODE": "prod", "PORT": "8080"}
    assert (spec["privileged"], spec["stdin"], spec["tty"]) == (False, True, True)
    assert spec["restart_policy"] == "always"
    assert spec["volumes"] == [{"type": "host_path", "container_path": "/usr/share/nginx/html",
                                "host_path": "/var/www", "read_only": True}]

    # Done once: a second run changes nothing.
    lg.clear_requests()
    again = run_module("cos_container", args)
    assert not again.failed and not again["changed"]
    assert calls(lg) == []
