"""Operations (get, list, wait, delete) and injected faults."""

from __future__ import annotations

import threading

import pytest
from google.api_core import exceptions
from google.cloud import compute_v1
from lgce_api import PROJECT, ZONE

DONE = compute_v1.Operation.Status.DONE
PENDING = compute_v1.Operation.Status.PENDING
LINK = "https://www.googleapis.com/compute/v1/"


def test_operation_fields(api):
    op = api.disks.insert_unary(project=PROJECT, zone=ZONE, disk_resource=compute_v1.Disk(name="d1", size_gb=10))
    assert op.name.startswith("operation-") and op.id
    assert op.zone == f"{LINK}projects/{PROJECT}/zones/{ZONE}"
    assert op.self_link == f"{LINK}projects/{PROJECT}/zones/{ZONE}/operations/{op.name}"
    assert op.target_link == f"{LINK}projects/{PROJECT}/zones/{ZONE}/disks/d1"
    assert op.operation_type == "insert" and op.insert_time
    done = api.zone_ops.get(project=PROJECT, zone=ZONE, operation=op.name)
    assert done.status == DONE and done.progress == 100 and done.end_time and not done.error.errors
    assert str(done.target_id) == str(api.disks.get(project=PROJECT, zone=ZONE, disk="d1").id)
    assert [o.name for o in api.zone_ops.list(project=PROJECT, zone=ZONE)] == [op.name]
    api.zone_ops.delete(project=PROJECT, zone=ZONE, operation=op.name)
    with pytest.raises(exceptions.NotFound):
        api.zone_ops.get(project=PROJECT, zone=ZONE, operation=op.name)


def test_wait_long_polls_until_done(api):
    api.srv.config(operation_delay=0.5)
    op = api.disks.insert_unary(project=PROJECT, zone=ZONE, disk_resource=compute_v1.Disk(name="d1", size_gb=10))
    assert op.status == PENDING
    done = api.zone_ops.wait(project=PROJECT, zone=ZONE, operation=op.name)
    assert done.status == DONE
    waits = [r for r in api.srv.requests() if r["path"].endswith("/wait")]
    assert len(waits) == 1  # one call was enough: the server held it until DONE


def test_wait_returns_unfinished_after_the_server_timeout(api):
    api.srv.config(operation_delay=30, wait_timeout=0.2)
    op = api.disks.insert_unary(project=PROJECT, zone=ZONE, disk_resource=compute_v1.Disk(name="d1", size_gb=10))
    got = api.zone_ops.wait(project=PROJECT, zone=ZONE, operation=op.name)
    assert got.status != DONE


def test_global_operations(api):
    op = api.firewalls.insert_unary(project=PROJECT, firewall_resource=compute_v1.Firewall(
        name="fw", allowed=[compute_v1.Allowed(I_p_protocol="icmp")]))
    assert op.self_link == f"{LINK}projects/{PROJECT}/global/operations/{op.name}"
    assert api.global_ops.wait(project=PROJECT, operation=op.name).status == DONE
    assert api.global_ops.get(project=PROJECT, operation=op.name).status == DONE
    agg = dict(api.global_ops.aggregated_list(project=PROJECT))
    assert [o.name for o in agg["global"].operations] == [op.name]


def test_missing_operation_is_404(api):
    for call in (lambda: api.zone_ops.get(project=PROJECT, zone=ZONE, operation="operation-nope"),
                 lambda: api.zone_ops.wait(project=PROJECT, zone=ZONE, operation="operation-nope"),
                 lambda: api.region_ops.get(project=PROJECT, region="us-central1", operation="operation-nope"),
                 lambda: api.global_ops.wait(project=PROJECT, operation="operation-nope")):
        with pytest.raises(exceptions.NotFound):
            call()


def test_fault_http_status_on_a_mutation(api):
    api.srv.fault(method="POST", path=r"/disks$", status=503)
    with pytest.raises(exceptions.ServiceUnavailable) as exc:
        api.disks.insert_unary(project=PROJECT, zone=ZONE, disk_resource=compute_v1.Disk(name="d1", size_gb=10))
    assert exc.value.errors[0]["reason"] == "backendError"
    # count=1: the next one goes through
    api.ok(api.disks.insert_unary(project=PROJECT, zone=ZONE, disk_resource=compute_v1.Disk(name="d1", size_gb=10)))
    assert api.srv.faults() == []


def test_fault_reason_and_message(api):
    api.srv.fault(method="POST", path="/disks", status=403, reason="rateLimitExceeded", message="slow down")
    with pytest.raises(exceptions.Forbidden) as exc:
        api.disks.insert_unary(project=PROJECT, zone=ZONE, disk_resource=compute_v1.Disk(name="d1", size_gb=10))
    assert exc.value.errors[0] == {"message": "slow down", "domain": "global", "reason": "rateLimitExceeded"}


def test_get_is_retried_by_the_client_on_503(api):
    api.create_disk("d1")
    api.srv.clear_requests()
    api.srv.fault(method="GET", path="/disks/d1$", count=1, status=503)
    assert api.disks.get(project=PROJECT, zone=ZONE, disk="d1").name == "d1"
    assert [r["status"] for r in api.srv.requests()] == [503, 200]


def test_fault_operation_error(api):
    api.srv.fault(method="POST", path="/disks$", operation_error={
        "code": "QUOTA_EXCEEDED", "message": "Quota 'SSD_TOTAL_GB' exceeded.", "http_status": 403})
    op = api.disks.insert_unary(project=PROJECT, zone=ZONE, disk_resource=compute_v1.Disk(name="d1", size_gb=10))
    done = api.wait(op)
    assert done.status == DONE
    assert done.error.errors[0].code == "QUOTA_EXCEEDED"
    assert done.error.errors[0].message == "Quota 'SSD_TOTAL_GB' exceeded."
    assert done.http_error_status_code == 403 and done.http_error_message == "FORBIDDEN"
    with pytest.raises(exceptions.NotFound):  # a failed operation changes nothing
        api.disks.get(project=PROJECT, zone=ZONE, disk="d1")


def test_fault_delay_makes_one_operation_slow(api):
    api.srv.fault(method="POST", path="/disks$", delay=0.3)
    op = api.disks.insert_unary(project=PROJECT, zone=ZONE, disk_resource=compute_v1.Disk(name="d1", size_gb=10))
    assert op.status == PENDING
    assert api.disks.get(project=PROJECT, zone=ZONE, disk="d1").status == "CREATING"
    assert api.wait(op).status == DONE
    assert api.disks.get(project=PROJECT, zone=ZONE, disk="d1").status == "READY"
    op2 = api.disks.insert_unary(project=PROJECT, zone=ZONE, disk_resource=compute_v1.Disk(name="d2", size_gb=10))
    assert op2.status == DONE


def test_concurrent_waits_all_wake(api):
    api.srv.config(operation_delay=0.3)
    op = api.disks.insert_unary(project=PROJECT, zone=ZONE, disk_resource=compute_v1.Disk(name="d1", size_gb=10))
    results = []

    def waiter():
        results.append(api.zone_ops.wait(project=PROJECT, zone=ZONE, operation=op.name).status)

    threads = [threading.Thread(target=waiter) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert results == [DONE] * 5
