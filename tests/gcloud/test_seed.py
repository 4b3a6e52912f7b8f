"""The seed article's commands: find the COS image, create a VM from its family, run a container
with create-with-container and change it with update-container."""

from __future__ import annotations

import yaml
from gcloud_cli import PROJECT, ZONE, calls
from google.cloud import compute_v1

CONTAINER_FLAGS = [
    "--container-image=docker.io/library/nginx:1.27",
    "--container-env=MODE=prod,PORT=8080",
    "--container-arg=-g", "--container-arg=daemon off;",
    "--container-mount-host-path=mount-path=/usr/share/nginx/html,host-path=/var/www,mode=ro",
    "--container-restart-policy=always",
    "--container-stdin", "--container-tty",
    "--tags=http-server", "--machine-type=e2-small",
]


def declaration(inst):
    items = {i.key: i.value for i in inst.metadata.items}
    return items["gce-container-declaration"], items


def test_images_list_finds_the_newest_cos_stable(gcloud, compute):
    # No --project: gcloud asks the default and every public image project in one batch request.
    out = gcloud("images", "list", "--filter=family=cos-stable AND selfLink~/cos-cloud/")
    newest = compute(compute_v1.ImagesClient).get_from_family(project="cos-cloud", family="cos-stable")
    assert [i["name"] for i in out] == [newest.name]


def test_instance_from_the_cos_stable_family(gcloud, compute):
    gcloud("instances", "create", "vm-cos", "--image-project=cos-cloud", "--image-family=cos-stable",
           "--machine-type=e2-small")
    inst = compute(compute_v1.InstancesClient).get(project=PROJECT, zone=ZONE, instance="vm-cos")
    assert inst.status == "RUNNING"
    assert inst.machine_type.endswith(f"/zones/{ZONE}/machineTypes/e2-small")
    boot = compute(compute_v1.DisksClient).get(project=PROJECT, zone=ZONE, disk="vm-cos")
    newest = compute(compute_v1.ImagesClient).get_from_family(project="cos-cloud", family="cos-stable")
    assert boot.source_image == newest.self_link


def test_create_with_container_then_update_container(gcloud, compute, lg):
    gcloud("instances", "create-with-container", "vm-web", *CONTAINER_FLAGS)
    instances = compute(compute_v1.InstancesClient)
    inst = instances.get(project=PROJECT, zone=ZONE, instance="vm-web")
    text, items = declaration(inst)
    assert text.startswith("# DISCLAIMER")
    spec = yaml.safe_load(text)["spec"]
    (container,) = spec["containers"]
    assert container["image"] == "docker.io/library/nginx:1.27"
    assert container["args"] == ["-g", "daemon off;"]
    assert container["securityContext"] == {"privileged": False}
    assert container["stdin"] is True and container["tty"] is True
    assert spec["volumes"] == [{"name": "host-path-0", "hostPath": {"path": "/var/www"}}]
    assert items["google-logging-enabled"] == "true"
    assert inst.labels["container-vm"].startswith("cos-stable-")
    assert list(inst.tags.items) == ["http-server"]

    lg.clear_requests()
    gcloud("instances", "update-container", "vm-web", "--container-image=docker.io/library/nginx:1.28")
    inst = instances.get(project=PROJECT, zone=ZONE, instance="vm-web")
    text, _ = declaration(inst)
    assert yaml.safe_load(text)["spec"]["containers"][0]["image"] == "docker.io/library/nginx:1.28"
    assert inst.status == "RUNNING"
    base = f"projects/{PROJECT}/zones/{ZONE}/instances/vm-web"
    assert calls(lg) == [f"POST {base}/setMetadata", f"POST {base}/stop", f"POST {base}/start"]
