"""A used-up quota fails with what to check (the README's promise for every failure): which quota, where, and the
gcloud command and Console page that show it. Faults are injected over HTTP (POST /_localgce/faults), and the
real module runs against localgce."""

import json
import urllib.request

import pytest
from module_runner import connection, run_module

ZONE = "us-central1-a"


def fault(lg, spec):
    req = urllib.request.Request(lg.url + "/_localgce/faults", data=json.dumps(spec).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req).read()


def create_instance(lg):
    return run_module("cos_instance", dict(connection(lg), zone=ZONE, name="vm-quota", machine_type="e2-standard-8"))


def test_an_operation_that_ends_in_quota_exceeded_says_which_quota_and_how_to_see_it(localgce, clean_env):
    fault(localgce, {"method": "POST", "path": "/zones/%s/instances$" % ZONE, "count": 1, "operation_error": {
        "code": "QUOTA_EXCEEDED", "message": "Quota 'CPUS' exceeded.  Limit: 24.0 in region us-central1.",
        "http_status": 403}})
    r = create_instance(localgce)
    assert r.failed, r
    msg = r["msg"]
    assert "QUOTA_EXCEEDED: Quota 'CPUS' exceeded" in msg
    assert "the project's quota CPUS in region us-central1 is used up (limit 24)" in msg, msg
    assert "gcloud compute regions describe us-central1 --project test-project" in msg, msg
    assert "IAM & Admin > Quotas" in msg and "request a higher quota" in msg


def test_an_http_quota_error_on_a_global_quota_names_the_project_command(localgce, clean_env):
    fault(localgce, {"method": "POST", "path": "/global/firewalls$", "count": 1, "status": 403,
                     "reason": "quotaExceeded", "message": "Quota 'FIREWALLS' exceeded.  Limit: 100.0 globally."})
    r = run_module("cos_firewall", dict(connection(localgce), name="web-80", ports=["80/tcp"]))
    assert r.failed, r
    msg = r["msg"]
    assert "HTTP 403 quotaExceeded" in msg
    assert "the project's global quota FIREWALLS is used up (limit 100)" in msg, msg
    assert "gcloud compute project-info describe --project test-project" in msg, msg
    # Not the permission hint of other 403s.
    assert "lacks permission" not in msg


@pytest.mark.parametrize("reason", ["rateLimitExceeded", "userRateLimitExceeded"])
def test_a_rate_limit_that_outlasts_the_retries_says_what_to_do(localgce, clean_env, reason):
    fault(localgce, {"method": "GET", "path": "/zones/%s/instances/vm-quota$" % ZONE, "count": 50, "status": 403,
                     "reason": reason, "message": "Rate Limit Exceeded"})
    r = run_module("cos_instance_info", dict(connection(localgce), zone=ZONE, name="vm-quota"),
                   env={"GCE_COS_RETRY_INITIAL_DELAY": "0.001"})
    assert r.failed, r
    assert "HTTP 403 %s" % reason in r["msg"]
    assert "lower the play's forks" in r["msg"] and "Queries per minute" in r["msg"], r["msg"]
