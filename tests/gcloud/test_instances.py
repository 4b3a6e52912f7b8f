"""Everyday instance commands: describe, list, add-metadata, add-labels, stop/start/reset, serial
port, guest attributes, delete."""

from __future__ import annotations

from gcloud_cli import PROJECT, ZONE, calls, create_instance
from google.cloud import compute_v1

BASE = f"projects/{PROJECT}/zones/{ZONE}/instances"


def get(compute, name):
    return compute(compute_v1.InstancesClient).get(project=PROJECT, zone=ZONE, instance=name)


def test_describe_and_list(gcloud, compute, lg):
    create_instance(lg, "vm-a", labels={"app": "web"})
    create_instance(lg, "vm-b")
    described = gcloud("instances", "describe", "vm-a")
    inst = get(compute, "vm-a")
    assert (described["id"], described["status"], described["labels"]) == (str(inst.id), "RUNNING", {"app": "web"})
    assert described["metadata"]["fingerprint"] == inst.metadata.fingerprint
    # list is an aggregatedList with includeAllScopes=True and returnPartialSuccess=True.
    listed = gcloud("instances", "list", "--filter=labels.app=web")
    assert [i["name"] for i in listed] == ["vm-a"]
    assert [i["name"] for i in gcloud("instances", "list")] == ["vm-a", "vm-b"]


def test_add_metadata_and_labels_with_url_safe_fingerprints(gcloud, compute, lg):
    # The seed article's fingerprint with a '_' too: gcloud sends both URL-safe characters back.
    fingerprint = "Z713-OP_CSY="
    create_instance(lg, "vm-md", metadata=compute_v1.Metadata(items=[compute_v1.Items(key="keep", value="1")]))
    path = f"{BASE}/vm-md"
    with lg.app.store.lock:  # fingerprints with both URL-safe characters, as the real API hands out
        inst = lg.app.store.get(path)
        inst["metadata"]["fingerprint"] = fingerprint
        inst["labelFingerprint"] = fingerprint
    gcloud("instances", "add-metadata", "vm-md", "--metadata=mode=prod")
    gcloud("instances", "add-labels", "vm-md", "--labels=env=dev")
    inst = get(compute, "vm-md")
    assert {i.key: i.value for i in inst.metadata.items} == {"keep": "1", "mode": "prod"}
    assert dict(inst.labels) == {"env": "dev"}
    assert calls(lg)[-2:] == [f"POST {path}/setMetadata", f"POST {path}/setLabels"]


def test_stop_start_reset(gcloud, compute, lg):
    create_instance(lg, "vm-p")
    gcloud("instances", "stop", "vm-p")
    assert get(compute, "vm-p").status == "TERMINATED"
    gcloud("instances", "start", "vm-p")
    assert get(compute, "vm-p").status == "RUNNING"
    lg.clear_requests()
    gcloud("instances", "reset", "vm-p")
    assert calls(lg) == [f"POST {BASE}/vm-p/reset"]
    assert get(compute, "vm-p").status == "RUNNING"


def test_serial_port_output_and_guest_attributes(gcloud, compute, lg):
    create_instance(lg, "vm-s", metadata=compute_v1.Metadata(
        items=[compute_v1.Items(key="enable-guest-attributes", value="TRUE")]))
    serial = gcloud("instances", "get-serial-port-output", "vm-s", fmt=None)
    api = compute(compute_v1.InstancesClient).get_serial_port_output(project=PROJECT, zone=ZONE, instance="vm-s")
    assert "localgce: instance vm-s is up" in serial and api.contents in serial
    lg.set_guest_attribute(PROJECT, ZONE, "vm-s", "cos-agent", "agent", '{"version": "1"}')
    attrs = gcloud("instances", "get-guest-attributes", "vm-s", "--query-path=cos-agent/")
    assert [(a["namespace"], a["key"], a["value"]) for a in attrs] == [("cos-agent", "agent", '{"version": "1"}')]


def test_delete(gcloud, compute, lg):
    create_instance(lg, "vm-d")
    gcloud("instances", "delete", "vm-d", "--quiet")
    names = [i.name for i in compute(compute_v1.InstancesClient).list(project=PROJECT, zone=ZONE)]
    assert names == []
    # The boot disk went with it (auto-delete).
    assert [d.name for d in compute(compute_v1.DisksClient).list(project=PROJECT, zone=ZONE)] == []
