"""The shared client layer against localgce: retries, requestId reuse, operation waits, errors."""

import subprocess
import sys

import pytest
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_client import ComputeApi
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_errors import (
    GcpError,
    GcpOperationError,
    GcpTimeoutError,
)
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_operations import mutate
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_retry import RetryPolicy

PROJECT = "p1"
ZONE = "us-central1-a"


@pytest.fixture
def api(localgce, clean_env):
    from google.oauth2.credentials import Credentials

    return ComputeApi(
        Credentials(token="t"),
        PROJECT,
        api_endpoint=localgce.url,
        auth_kind="accesstoken",
        retry_policy_factory=lambda: RetryPolicy(initial=0.01, sleep=lambda s: None),
    )


def insert_disk(api, name="d1", timeout=30):
    return mutate(
        api, "disks", "insert_unary", timeout, doing="create disk %r" % name,
        project=PROJECT, zone=ZONE, disk_resource={"name": name, "sizeGb": "10"},
    )


def disk_posts(localgce):
    return [r for r in localgce.requests() if r["method"] == "POST" and r["path"].endswith("/disks")]


@pytest.mark.parametrize(
    "status, reason",
    [(503, "backendError"), (429, "rateLimitExceeded"), (500, "backendError"), (403, "rateLimitExceeded"),
     (403, "userRateLimitExceeded"), (502, "badGateway")],
)
def test_transient_errors_are_retried_with_the_same_request_id(api, localgce, status, reason):
    localgce.fault(method="POST", path=r"/disks$", count=2, status=status, reason=reason)
    op = insert_disk(api)
    assert op["status"] == "DONE"
    posts = disk_posts(localgce)
    assert [p["status"] for p in posts] == [status, status, 200]
    request_ids = {p["query"]["requestId"] if isinstance(p["query"], dict) else p["query"] for p in posts}
    assert len(request_ids) == 1, "a retry must reuse the requestId: %s" % request_ids
    assert api.get("disks", doing="read disk", project=PROJECT, zone=ZONE, disk="d1")["name"] == "d1"


def test_a_retried_insert_that_had_succeeded_does_not_create_twice(api, localgce):
    insert_disk(api)
    # The same requestId sent again returns the original operation instead of a 409.
    first = disk_posts(localgce)[0]
    rid = first["query"]["requestId"]
    op = api.call(
        "disks", "insert_unary", doing="create disk 'd1'",
        project=PROJECT, zone=ZONE, disk_resource={"name": "d1", "sizeGb": "10"}, request_id=rid,
    )
    assert op["status"] == "DONE" and not op.get("error")
    assert len(api.list("disks", doing="list disks", project=PROJECT, zone=ZONE)) == 1


@pytest.mark.parametrize("status, reason", [(403, "forbidden"), (400, "invalid"), (409, "alreadyExists")])
def test_permanent_errors_fail_at_once_with_a_clear_message(api, localgce, status, reason):
    localgce.fault(method="POST", path=r"/disks$", count=1, status=status, reason=reason, message="injected")
    with pytest.raises(GcpError) as info:
        insert_disk(api)
    msg = str(info.value)
    assert msg.startswith("create disk 'd1' failed: HTTP %d %s: injected; " % (status, reason))
    assert len(disk_posts(localgce)) == 1


def test_retries_give_up_with_the_last_error(api, localgce):
    localgce.fault(method="POST", path=r"/disks$", count=50, status=503, reason="backendError")
    with pytest.raises(GcpError) as info:
        insert_disk(api)
    assert "HTTP 503 backendError" in str(info.value) and "re-run the task later" in str(info.value)
    assert len(disk_posts(localgce)) == RetryPolicy().max_attempts


def test_failed_operation_is_reported_with_its_error(api, localgce):
    localgce.fault(
        method="POST", path=r"/disks$", count=1,
        operation_error={"code": "QUOTA_EXCEEDED", "message": "Quota 'DISKS_TOTAL_GB' exceeded.", "http_status": 403},
    )
    with pytest.raises(GcpOperationError) as info:
        insert_disk(api)
    msg = str(info.value)
    assert msg.startswith("create disk 'd1' failed: operation ")
    assert "QUOTA_EXCEEDED: Quota 'DISKS_TOTAL_GB' exceeded." in msg and "HTTP 403" in msg
    assert info.value.reason == "QUOTA_EXCEEDED"


def test_wait_timeout_names_the_operation_and_the_fix(api, localgce):
    localgce.fault(method="POST", path=r"/disks$", count=1, delay=30)
    with pytest.raises(GcpTimeoutError) as info:
        insert_disk(api, timeout=1)
    msg = str(info.value)
    assert "create disk 'd1': timed out after 1s waiting for operation" in msg and "wait_timeout" in msg


def test_get_of_a_missing_resource_is_none_and_a_list_follows_pages(api, localgce):
    assert api.get("disks", doing="read disk", project=PROJECT, zone=ZONE, disk="nope") is None
    for i in range(3):
        insert_disk(api, "d%d" % i)
    names = [d["name"] for d in api.list("disks", doing="list disks", project=PROJECT, zone=ZONE, max_results=1)]
    assert sorted(names) == ["d0", "d1", "d2"]


def test_only_the_needed_compute_services_are_imported(localgce):
    code = (
        "import sys, conftest\n"
        "from google.oauth2.credentials import Credentials\n"
        "from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_client import ComputeApi\n"
        "api = ComputeApi(Credentials(token='t'), 'p', api_endpoint=%r)\n"
        "api.get('zones', doing='read zone', project='p', zone='us-central1-a')\n"
        "loaded = sorted(m.split('.')[4] for m in sys.modules if m.startswith('google.cloud.compute_v1.services.')"
        " and m.count('.') >= 4)\n"
        "print(' '.join(sorted(set(loaded))))\n" % localgce.url
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=_root())
    assert out.stdout.split() == ["zones"]


def _root():
    import os

    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
