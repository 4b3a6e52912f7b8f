"""Generic request validation from the discovery document.

Raw HTTP is used where the client itself would refuse to send the bad request; a sweep
with the real client's own serialisation checks that nothing it legitimately sends is refused.
"""

from __future__ import annotations

import json

import pytest
import requests
from google.cloud import compute_v1
from lgce_api import PROJECT, ZONE

from localgce import discovery

BASE = f"/compute/v1/projects/{PROJECT}/zones/{ZONE}"


def post(srv, path, body, **params):
    return requests.post(srv.url + path, data=json.dumps(body), params=params,
                         headers={"Authorization": "Bearer t", "Content-Type": "application/json"})


def error_of(resp):
    err = resp.json()["error"]
    assert err["code"] == resp.status_code
    return err


def test_misspelled_field_is_400_with_googles_message(api):
    r = post(api.srv, BASE + "/disks", {"name": "d1", "sizeGB": "10"})
    assert r.status_code == 400
    err = error_of(r)
    assert err["message"] == (
        'Invalid JSON payload received. Unknown name "sizeGB" at \'disk_resource\': Cannot find field.')
    assert err["errors"][0]["reason"] == "invalid"
    assert err["status"] == "INVALID_ARGUMENT"
    assert err["details"][0]["@type"] == "type.googleapis.com/google.rpc.BadRequest"


def test_nested_unknown_field_names_its_path(api):
    body = {"name": "vm", "machineType": f"zones/{ZONE}/machineTypes/e2-small",
            "disks": [{"boot": True, "initializeParams": {"sourceImag": "x"}}]}
    r = post(api.srv, BASE + "/instances", body)
    assert r.status_code == 400
    assert "Unknown name \"sourceImag\" at 'instance_resource.disks[0].initialize_params'" in error_of(r)["message"]


@pytest.mark.parametrize("body,where", [
    ({"name": "d1", "sizeGb": "ten"}, "disk_resource.size_gb"),          # int64 must be digits
    ({"name": "d1", "sizeGb": True}, "disk_resource.size_gb"),
    ({"name": "d1", "labels": "x"}, "disk_resource.labels"),              # map expected
    ({"name": "d1", "licenses": "x"}, "disk_resource.licenses"),          # list expected
    ({"name": "d1", "architecture": "SPARC"}, "disk_resource.architecture"),  # enum
    ({"name": 7}, "disk_resource.name"),
])
def test_type_and_enum_errors(api, body, where):
    r = post(api.srv, BASE + "/disks", body)
    assert r.status_code == 400
    assert f"'{where}'" in error_of(r)["message"]


def test_int64_may_be_a_json_number_too(api):
    r = post(api.srv, BASE + "/disks", {"name": "d1", "sizeGb": 12})
    assert r.status_code == 200
    assert api.disks.get(project=PROJECT, zone=ZONE, disk="d1").size_gb == 12


def test_name_pattern_and_required_fields(api):
    r = post(api.srv, BASE + "/disks", {"name": "Bad_Name"})
    assert r.status_code == 400
    err = error_of(r)
    assert err["errors"][0]["reason"] == "invalid"
    assert err["message"].startswith("Invalid value for field 'resource.name': 'Bad_Name'. Must be a match of regex")
    r = post(api.srv, BASE + "/disks", {"sizeGb": "10"})
    assert r.status_code == 400
    assert error_of(r)["errors"][0] == {"message": "Required field 'resource.name' not specified",
                                        "domain": "global", "reason": "required"}
    r = post(api.srv, BASE + "/instances/vm/setMetadata", {"items": [{"value": "x"}]})
    assert r.status_code == 404  # the instance is checked... after the body is valid


def test_path_parameter_pattern(api):
    r = requests.get(api.srv.url + BASE + "/instances/Bad_Name", headers={"Authorization": "Bearer t"})
    assert r.status_code == 400
    assert "Invalid value for field 'instance': 'Bad_Name'" in error_of(r)["message"]


def test_unknown_query_parameter(api):
    r = requests.get(api.srv.url + BASE + "/instances", params={"maxResult": "3"})
    assert r.status_code == 400
    assert 'Unknown name "maxResult": Cannot bind query parameter' in error_of(r)["message"]
    r = requests.get(api.srv.url + BASE + "/instances", params={"maxResults": "x"})
    assert r.status_code == 400
    r = requests.get(api.srv.url + BASE + "/instances", params={"maxResults": "3", "alt": "json",
                                                                "prettyPrint": "false"})
    assert r.status_code == 200


def test_required_query_parameter(api):
    api.create_instance("vm-1")
    r = post(api.srv, BASE + "/instances/vm-1/detachDisk", {})
    assert r.status_code == 400
    assert error_of(r)["errors"][0]["reason"] == "required"


def test_unknown_path_and_unimplemented_method(api):
    r = requests.get(api.srv.url + f"/compute/v1/projects/{PROJECT}/nothingHere")
    assert r.status_code == 404
    r = requests.get(api.srv.url + f"/compute/v1/projects/{PROJECT}/global/backendServices")
    assert r.status_code == 501
    assert "compute.backendServices.list" in error_of(r)["message"]


def test_invalid_json_body(api):
    r = requests.post(api.srv.url + BASE + "/disks", data="{nope", headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert error_of(r)["message"].startswith("Invalid JSON payload received.")


# -- nothing the client legitimately sends is refused ---------------------------------------
def _sample(message_cls, disc_schema, schemas, depth=0):
    """A message with every field set, using allowed enum values from the discovery schema."""
    pb = message_cls.pb()
    kwargs = {}
    props = disc_schema.get("properties", {})
    for field in pb.DESCRIPTOR.fields:
        prop = props.get(field.json_name)
        if prop is None:
            pytest.fail(f"{message_cls.__name__}.{field.json_name} is not in the discovery document")
        if "$ref" in prop:
            prop = schemas[prop["$ref"]]
        item = prop.get("items", prop)
        if "$ref" in item:
            item = schemas[item["$ref"]]
        name = field.name + ("_" if hasattr(message_cls, field.name + "_") else "")
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            if field.message_type.fields_by_name["value"].message_type is None:
                kwargs[name] = {"k": "v"}  # maps of messages are skipped: none is sent by the modules
            continue
        if field.message_type is not None:
            if depth > 3:
                continue
            sub_cls = _message_class(field.message_type.name)
            value = _sample(sub_cls, item, schemas, depth + 1)
        elif field.type == field.TYPE_STRING:
            value = item.get("enum", ["x"])[0] if "enum" in item else "x"
            if field.json_name in ("key",):
                value = "key-1"
        elif field.type == field.TYPE_BOOL:
            value = True
        elif field.type in (field.TYPE_DOUBLE, field.TYPE_FLOAT):
            value = 1.5
        else:
            value = 1
        kwargs[name] = [value] if field.is_repeated else value
    return message_cls(**kwargs)


def _message_class(name):
    return getattr(compute_v1, name)


@pytest.mark.parametrize("method_id,cls", [
    ("compute.instances.insert", compute_v1.Instance),
    ("compute.disks.insert", compute_v1.Disk),
    ("compute.firewalls.insert", compute_v1.Firewall),
    ("compute.firewalls.patch", compute_v1.Firewall),
    ("compute.instances.setMetadata", compute_v1.Metadata),
    ("compute.instances.setLabels", compute_v1.InstancesSetLabelsRequest),
    ("compute.instances.setTags", compute_v1.Tags),
    ("compute.instances.setMachineType", compute_v1.InstancesSetMachineTypeRequest),
    ("compute.instances.setServiceAccount", compute_v1.InstancesSetServiceAccountRequest),
    ("compute.instances.attachDisk", compute_v1.AttachedDisk),
    ("compute.disks.resize", compute_v1.DisksResizeRequest),
    ("compute.disks.setLabels", compute_v1.ZoneSetLabelsRequest),
    ("compute.snapshots.insert", compute_v1.Snapshot),
])
def test_every_field_the_client_can_send_passes_validation(method_id, cls):
    disc = discovery.get()
    method = disc.methods[method_id]
    msg = _sample(cls, disc.schemas[method.request_ref], disc.schemas)
    body = json.loads(cls.to_json(msg))  # exactly the client's JSON serialisation
    for key in ("name",):
        if key in body:
            body[key] = "valid-name"
    if method_id == "compute.instances.setMetadata":
        body["items"] = [{"key": "k", "value": "v"}]
    _fix_patterns(body, disc.schemas[method.request_ref], disc.schemas)
    disc.check_body(method, body)  # must not raise


def _fix_patterns(body, schema, schemas):
    """Replace sample strings where the document gives a name pattern (the client has no say there)."""
    import re

    if isinstance(body, list):
        for b in body:
            _fix_patterns(b, schema, schemas)
        return
    if not isinstance(body, dict):
        return
    for key, value in body.items():
        prop = schema.get("properties", {}).get(key, {})
        if "$ref" in prop:
            prop = schemas[prop["$ref"]]
        item = prop.get("items", prop)
        if "$ref" in item:
            item = schemas[item["$ref"]]
        pat = item.get("pattern")
        if pat and isinstance(value, str) and not re.fullmatch(pat, value):
            body[key] = "a1" if "a-z" in pat else "10.0.0.0/8" if "/" in pat else "1.2.3.4"
        elif isinstance(value, (dict, list)):
            _fix_patterns(value, item, schemas)


def test_a_rich_instance_from_the_client_is_accepted(api):
    inst = api.instance_resource(
        "vm-rich",
        description="d",
        can_ip_forward=False,
        deletion_protection=False,
        labels={"a": "b"},
        tags=compute_v1.Tags(items=["t1"]),
        metadata=compute_v1.Metadata(items=[compute_v1.Items(key="user-data", value="#cloud-config\n")]),
        service_accounts=[compute_v1.ServiceAccount(email="default", scopes=[
            "https://www.googleapis.com/auth/cloud-platform"])],
        scheduling=compute_v1.Scheduling(automatic_restart=True, on_host_maintenance="MIGRATE", preemptible=False,
                                         provisioning_model="STANDARD"),
        shielded_instance_config=compute_v1.ShieldedInstanceConfig(enable_secure_boot=True, enable_vtpm=True,
                                                                    enable_integrity_monitoring=True),
        network_interfaces=[compute_v1.NetworkInterface(
            network="global/networks/default", subnetwork="regions/us-central1/subnetworks/default",
            access_configs=[compute_v1.AccessConfig(name="External NAT", type_="ONE_TO_ONE_NAT",
                                                    network_tier="PREMIUM")])],
        disks=[compute_v1.AttachedDisk(
            boot=True, auto_delete=True, device_name="boot", mode="READ_WRITE", type_="PERSISTENT",
            interface="SCSI",
            initialize_params=compute_v1.AttachedDiskInitializeParams(
                disk_name="vm-rich-boot", disk_size_gb=20, disk_type=f"zones/{ZONE}/diskTypes/pd-balanced",
                source_image="projects/cos-cloud/global/images/family/cos-121-lts", labels={"x": "y"}))],
    )
    api.ok(api.instances.insert_unary(project=PROJECT, zone=ZONE, instance_resource=inst))
    got = api.instances.get(project=PROJECT, zone=ZONE, instance="vm-rich")
    assert got.shielded_instance_config.enable_secure_boot and got.disks[0].device_name == "boot"
    disk = api.disks.get(project=PROJECT, zone=ZONE, disk="vm-rich-boot")
    assert disk.type_.endswith("/pd-balanced") and disk.labels == {"x": "y"} and disk.size_gb == 20


def test_request_id_must_be_a_uuid(api):
    for bad in ("abc", "00000000-0000-0000-0000-000000000000"):
        r = post(api.srv, BASE + "/disks", {"name": "d1"}, requestId=bad)
        assert r.status_code == 400
        assert error_of(r)["message"].startswith(f"Invalid value for field 'requestId': '{bad}'.")
    assert post(api.srv, BASE + "/disks", {"name": "d1"}, requestId="5e8f6a0c-3a4d-4f3b-9a51-0b7e2c8d1f00").ok
