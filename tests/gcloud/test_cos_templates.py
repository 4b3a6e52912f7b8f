"""What gce.cos.cos_instance_template and cos_health_check make, as the real gcloud describes it; and a
managed group gcloud creates from the module's template keeps that version from being pruned."""

from __future__ import annotations

import os
import sys

from gcloud_cli import PROJECT, REGION, ZONE

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "api"))
from ansible_collections.gce.cos.plugins.module_utils._vm import container_unit
from module_runner import connection, run_module

WEB = {"name": "web", "image": "nginx:1.27", "ports": ["80"]}


def template(lg, **kw):
    args = dict(connection(lg, project=PROJECT), name_prefix="web", keep=1, machine_type="e2-small",
                network_tags=["web"], user_data="#cloud-config\n{}\n", containers=[WEB])
    args.update(kw)
    result = run_module("cos_instance_template", args)
    assert not result.failed, result.get("msg")
    return result


def test_gcloud_describes_the_template_and_its_group_keeps_it(gcloud, lg):
    first = template(lg)
    described = gcloud("instance-templates", "describe", first["name"])
    props = described["properties"]
    assert props["machineType"] == "e2-small" and props["tags"]["items"] == ["web"]
    md = {i["key"]: i["value"] for i in props["metadata"]["items"]}
    assert md["cos-container-web"] == container_unit.build(WEB)["unit"]
    listed = gcloud("instance-templates", "list")
    assert [t["name"] for t in listed] == [first["name"]]

    gcloud("instance-groups", "managed", "create", "web", f"--template={first['name']}", "--size=0", f"--zone={ZONE}")
    second = template(lg, containers=[dict(WEB, image="nginx:1.28")])
    assert second["versions"]["kept"] == [second["name"], first["name"]]
    assert list(second["versions"]["in_use"]) == [first["name"]]
    assert sorted(t["name"] for t in gcloud("instance-templates", "list")) == sorted([first["name"], second["name"]])


def test_gcloud_describes_the_regional_health_check(gcloud, lg):
    args = dict(connection(lg, project=PROJECT), name="web-health", region=REGION, port=8080, request_path="/healthz",
                check_interval_sec=10)
    result = run_module("cos_health_check", args)
    assert not result.failed, result.get("msg")
    described = gcloud("health-checks", "describe", "web-health", f"--region={REGION}")
    assert described["type"] == "HTTP" and described["checkIntervalSec"] == 10
    assert described["httpHealthCheck"]["port"] == 8080 and described["httpHealthCheck"]["requestPath"] == "/healthz"
