"""The control API under /_localgce/ (over HTTP, as other tools use it)."""

from __future__ import annotations

import threading
import time

import pytest
import requests
from google.api_core import exceptions
from google.cloud import compute_v1
from lgce_api import PROJECT, ZONE


def ctl(srv, method, path, body=None, **params):
    return requests.request(method, f"{srv.url}/_localgce/{path}", json=body, params=params)


def test_request_log_records_api_calls_only(api):
    api.create_disk("d1")
    api.disks.get(project=PROJECT, zone=ZONE, disk="d1")
    ctl(api.srv, "GET", "health")
    log = ctl(api.srv, "GET", "requests").json()
    assert [(e["method"], e["path"], e["status"]) for e in log] == [
        ("POST", f"/compute/v1/projects/{PROJECT}/zones/{ZONE}/disks", 200),
        ("POST", f"/compute/v1/projects/{PROJECT}/zones/{ZONE}/operations/{log[1]['path'].split('/')[-2]}/wait", 200),
        ("GET", f"/compute/v1/projects/{PROJECT}/zones/{ZONE}/disks/d1", 200),
        ("GET", f"/compute/v1/projects/{PROJECT}/zones/{ZONE}/disks/d1", 200),
    ]
    assert log[0]["query"] == {} and log[0]["auth"] is True and log[0]["mutating"] is True
    assert log[0]["id"] == "compute.disks.insert" and log[0]["body"]["name"] == "d1"
    assert log[1]["mutating"] is False  # operation waits are POSTs that change nothing
    assert "localgce-token" not in str(log)  # the token itself is never logged
    mutating = ctl(api.srv, "GET", "requests", mutating="true").json()
    assert [e["id"] for e in mutating] == ["compute.disks.insert"]
    assert api.srv.requests(mutating_only=True) == mutating
    assert ctl(api.srv, "DELETE", "requests").status_code == 200
    assert ctl(api.srv, "GET", "requests").json() == []


def test_request_log_records_errors_and_query(api):
    with pytest.raises(exceptions.NotFound):
        api.disks.get(project=PROJECT, zone=ZONE, disk="nope")
    list(api.disks.list(request=compute_v1.ListDisksRequest(project=PROJECT, zone=ZONE, max_results=5)))
    log = api.srv.requests()
    assert log[0]["status"] == 404
    assert log[1]["query"] == {"maxResults": "5"}


def test_reset_restores_the_seed(api):
    api.create_disk("d1")
    assert ctl(api.srv, "POST", "reset").status_code == 200
    assert list(api.disks.list(project=PROJECT, zone=ZONE)) == []
    assert api.images.get_from_family(project="cos-cloud", family="cos-stable").name
    assert api.networks.get(project=PROJECT, network="default").name == "default"


def test_faults_endpoint(api):
    spec = {"method": "GET", "path": "/disks/", "count": 2, "status": 500}
    assert ctl(api.srv, "POST", "faults", spec).status_code == 200
    assert ctl(api.srv, "GET", "faults").json()[0]["count"] == 2
    assert ctl(api.srv, "POST", "faults", {"path": "x"}).status_code == 400  # needs a kind
    assert ctl(api.srv, "DELETE", "faults").status_code == 200
    assert ctl(api.srv, "GET", "faults").json() == []


def test_secrets_endpoint_adds_versions(api):
    r = ctl(api.srv, "POST", "secrets", {"project": PROJECT, "secret": "db-pass", "data": "one"})
    assert r.json()["version"] == 1
    r = ctl(api.srv, "POST", "secrets", {"project": PROJECT, "secret": "db-pass", "data": "two"})
    assert r.json()["version"] == 2 and r.json()["name"].endswith("/secrets/db-pass/versions/2")
    assert ctl(api.srv, "POST", "secrets", {"project": PROJECT}).status_code == 400


def test_guest_attribute_instance_status_and_serial(api):
    api.create_instance("vm-1")
    body = {"project": PROJECT, "zone": ZONE, "instance": "vm-1"}
    assert ctl(api.srv, "PUT", "guest-attributes", {**body, "namespace": "ns", "key": "k", "value": "v"}).ok
    res = api.instances.get_guest_attributes(request=compute_v1.GetGuestAttributesInstanceRequest(
        project=PROJECT, zone=ZONE, instance="vm-1", variable_key="ns/k"))
    assert res.variable_value == "v"
    assert ctl(api.srv, "POST", "instance-status", {**body, "status": "TERMINATED"}).ok
    assert api.instances.get(project=PROJECT, zone=ZONE, instance="vm-1").status == "TERMINATED"
    assert ctl(api.srv, "POST", "serial", {**body, "text": "hello from the guest\n"}).ok
    out = api.instances.get_serial_port_output(project=PROJECT, zone=ZONE, instance="vm-1")
    assert out.contents.endswith("hello from the guest\n")
    r = ctl(api.srv, "POST", "instance-status", {**body, "instance": "ghost", "status": "RUNNING"})
    assert r.status_code == 404


def test_config_and_unknown_endpoint(api):
    r = ctl(api.srv, "POST", "config", {"operation_delay": 0.25})
    assert r.json()["operation_delay"] == 0.25
    op = api.disks.insert_unary(project=PROJECT, zone=ZONE, disk_resource=compute_v1.Disk(name="d1", size_gb=10))
    assert op.status == compute_v1.Operation.Status.PENDING
    assert ctl(api.srv, "GET", "nothing").status_code == 404
    assert ctl(api.srv, "GET", "state").json()["colls"]


def test_a_request_held_across_a_clear_is_not_logged_after_it(api):
    """A long-held operation wait that began before the log was cleared belongs to the old log."""
    api.srv.config(operation_delay=4.0)
    op = api.disks.insert_unary(project=PROJECT, zone=ZONE, disk_resource=compute_v1.Disk(name="d1", size_gb=10))
    waiter = threading.Thread(target=api.zone_ops.wait, kwargs=dict(project=PROJECT, zone=ZONE, operation=op.name))
    waiter.start()
    time.sleep(1)  # the wait is sent and held: the server answers it when the operation is done
    assert ctl(api.srv, "DELETE", "requests").status_code == 200
    api.disks.get(project=PROJECT, zone=ZONE, disk="d1")
    waiter.join(30)
    assert not waiter.is_alive()
    assert [(e["method"], e["path"].rsplit("/", 1)[-1]) for e in api.srv.requests()] == [("GET", "d1")]
