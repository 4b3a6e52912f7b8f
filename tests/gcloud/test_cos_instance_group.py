"""What cos_instance_group makes, as the real gcloud shows it: managed describe and list-instances."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "api"))

from gcloud_cli import PROJECT, ZONE
from group_fixtures import template
from module_runner import connection, run_module


def test_gcloud_shows_the_group_and_its_vms(gcloud, lg):
    template(lg, "web-v1", project=PROJECT)
    args = dict(connection(lg, PROJECT), name="web", zone=ZONE, target_size=3, instance_template="web-v1",
                named_ports=[{"name": "http", "port": 80}],
                update_policy={"max_surge": "1", "max_unavailable": "1"},
                containers=[{"name": "web", "image": "nginx:1.27", "ports": ["80"]}])
    result = run_module("cos_instance_group", args)
    assert not result.failed, result.get("msg")
    described = gcloud("instance-groups", "managed", "describe", "web", f"--zone={ZONE}")
    assert described["targetSize"] == 3 and described["status"]["isStable"]
    assert described["updatePolicy"]["type"] == "PROACTIVE"
    assert described["updatePolicy"]["maxUnavailable"]["fixed"] == 1
    assert described["namedPorts"] == [{"name": "http", "port": 80}]
    assert "cos-container-web" in described["allInstancesConfig"]["properties"]["metadata"]
    listed = gcloud("instance-groups", "managed", "list-instances", "web", f"--zone={ZONE}")
    assert len(listed) == 3
    assert all(i["instanceStatus"] == "RUNNING" and i["currentAction"] == "NONE" for i in listed)
    assert all(i["version"]["instanceTemplate"].endswith("/instanceTemplates/web-v1") for i in listed)
