"""Operation waits ride out 503s whatever wait_timeout is, and a task that changed something
before failing says so (changed: true, naming what it changed), so the change is never lost.

Each case runs cos_disk as a real module process against localgce; faults are injected on
the operation ``wait`` calls, which only come into play when the operation is not DONE at
once (the ``delay`` fault keeps the insert's operation running).
"""

import pytest
from module_runner import connection, mutating, run_module

PROJECT = "test-project"
ZONE = "us-central1-a"
WAIT = r"/zones/%s/operations/[^/]+/wait$" % ZONE


def disk(localgce, **options):
    args = dict(connection(localgce), zone=ZONE, name="data-1", size_gb=10)
    args.update(options)
    return run_module("cos_disk", args)


def stored(localgce):
    return localgce.get_resource("projects/%s/zones/%s/disks/data-1" % (PROJECT, ZONE))


@pytest.mark.parametrize("wait_timeout", [30, 120, 300])
def test_a_503_on_an_operation_wait_is_retried_for_any_wait_timeout(localgce, clean_env, wait_timeout):
    localgce.fault(method="POST", path=r"/disks$", count=1, delay=1.0)
    localgce.fault(method="POST", path=WAIT, count=2, status=503, reason="backendError")
    result = disk(localgce, wait_timeout=wait_timeout)
    assert not result.failed, result
    assert result["changed"] is True
    waits = [r for r in localgce.requests() if r["path"].endswith("/wait")]
    # Two refused waits, then the one that saw the operation end.
    assert [r["status"] for r in waits[:3]] == [503, 503, 200], waits
    assert stored(localgce) is not None


def test_a_create_whose_wait_keeps_failing_reports_changed_and_names_what_it_created(localgce, clean_env):
    localgce.fault(method="POST", path=r"/disks$", count=1, delay=3.0)
    localgce.fault(method="POST", path=WAIT, count=1000, status=503, reason="backendError")
    failed = disk(localgce, wait_timeout=2)
    assert failed.failed
    assert failed["changed"] is True, failed
    assert "HTTP 503 backendError" in failed["msg"]
    assert "changed before this failure: create disk 'data-1'" in failed["msg"], failed["msg"]
    localgce.clear_faults()
    # The disk exists: the next run has nothing to create and says so.
    localgce.clear_requests()
    again = disk(localgce)
    assert not again.failed and again["changed"] is False, again
    assert mutating(localgce.requests()) == []
    assert stored(localgce) is not None


def test_an_operation_that_ends_in_error_changed_nothing(localgce, clean_env):
    localgce.fault(method="POST", path=r"/disks$", count=1,
                   operation_error={"code": "QUOTA_EXCEEDED", "message": "no quota", "http_status": 403})
    failed = disk(localgce)
    assert failed.failed and "QUOTA_EXCEEDED: no quota" in failed["msg"]
    assert failed.get("changed", False) is False
    assert "changed before this failure" not in failed["msg"]
    assert stored(localgce) is None
