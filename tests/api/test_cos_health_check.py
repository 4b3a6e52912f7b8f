"""gce.cos.cos_health_check run as a real module process against localgce.

Check mode reports the real run's plan and sends no mutation, a re-run changes nothing and sends
only GETs, and what the diff promised is what localgce holds.
"""

import pytest
from module_runner import calls, connection, mutating, run_module

PROJECT = "test-project"
ZONE = "us-central1-a"
REGION = "us-central1"


def run(localgce, check=False, **kw):
    args = dict(connection(localgce), name="web-health")
    args.update(kw)
    return run_module("cos_health_check", args, check_mode=check)


def stored(localgce, name="web-health", region=None):
    scope = "regions/%s" % region if region else "global"
    return localgce.get_resource("projects/%s/%s/healthChecks/%s" % (PROJECT, scope, name))


def ok(result):
    assert not result.failed, result.get("msg")
    return result


def assert_check_equals_real_then_noop(localgce, expect_action, **kw):
    localgce.clear_requests()
    check = ok(run(localgce, check=True, **kw))
    assert mutating(localgce.requests()) == [], "check mode must not change anything"
    localgce.clear_requests()
    real = ok(run(localgce, **kw))
    real.mutations = [r["method"] for r in mutating(localgce.requests())]
    assert real["changed"] is True
    assert (check["changed"], check["actions"], check["diff"], check["health_check"]) == (
        real["changed"], real["actions"], real["diff"], real["health_check"])
    assert len(real["actions"]) == 1 and real["actions"][0].startswith(expect_action), real["actions"]
    localgce.clear_requests()
    again = ok(run(localgce, **kw))
    assert again["changed"] is False and again["actions"] == []
    assert {r["method"] for r in localgce.requests()} == {"GET"}, calls(localgce.requests())
    assert again["health_check"] == real["diff"]["after"] == real["health_check"]
    return real


@pytest.mark.parametrize("region", [None, REGION])
def test_http_create_noop_patch_delete(localgce, clean_env, region):
    real = assert_check_equals_real_then_noop(
        localgce, "create health check 'web-health'%s (HTTP port 8080 /healthz, every 10s, timeout 5s)"
        % (" in %s" % region if region else ""),
        region=region, port=8080, request_path="/healthz", host="web.example", check_interval_sec=10,
        unhealthy_threshold=3, description="for autohealing")
    hc = stored(localgce, region=region)
    assert hc["type"] == "HTTP" and hc["checkIntervalSec"] == 10 and hc["timeoutSec"] == 5
    assert hc["httpHealthCheck"]["port"] == 8080 and hc["httpHealthCheck"]["requestPath"] == "/healthz"
    assert hc["httpHealthCheck"]["host"] == "web.example"
    assert real["health_check"]["region"] == region
    # A changed port and threshold: one patch with those fields, the host left out is cleared.
    changed = assert_check_equals_real_then_noop(
        localgce, "patch health check", region=region, port=8081, request_path="/healthz", check_interval_sec=10,
        unhealthy_threshold=4, description="for autohealing")
    assert changed.mutations == ["PATCH"]
    assert changed["diff"]["before"]["port"] == 8080 and changed["diff"]["after"]["port"] == 8081
    hc = stored(localgce, region=region)
    assert hc["httpHealthCheck"]["port"] == 8081 and hc["unhealthyThreshold"] == 4
    assert not hc["httpHealthCheck"].get("host")
    gone = ok(run(localgce, region=region, state="absent"))
    assert gone["changed"] is True and gone["health_check"] == {} and stored(localgce, region=region) is None
    again = ok(run(localgce, region=region, state="absent"))
    assert again["changed"] is False


def test_https_and_tcp_and_type_change(localgce, clean_env):
    https = assert_check_equals_real_then_noop(localgce, "create health check", type="HTTPS")
    assert https["health_check"]["port"] == 443 and https["health_check"]["request_path"] == "/"
    assert stored(localgce)["httpsHealthCheck"]["port"] == 443
    tcp = assert_check_equals_real_then_noop(localgce, "patch health check", type="TCP", port=5432, response="ok")
    hc = stored(localgce)
    assert hc["type"] == "TCP" and hc["tcpHealthCheck"]["port"] == 5432 and "httpsHealthCheck" not in hc
    assert tcp["health_check"]["request_path"] is None and tcp["health_check"]["response"] == "ok"


def test_in_use_by_a_group_is_not_deleted_and_names_it(localgce, clean_env):
    from google.cloud import compute_v1

    ok(run(localgce))
    templates = localgce.client(compute_v1.InstanceTemplatesClient)
    templates.insert(project=PROJECT, instance_template_resource=compute_v1.InstanceTemplate(
        name="t", properties=compute_v1.InstanceProperties(
            machine_type="e2-small",
            network_interfaces=[compute_v1.NetworkInterface(network="global/networks/default")]))).result()
    igm = compute_v1.InstanceGroupManager(
        name="web-group", base_instance_name="web", target_size=0,
        instance_template="projects/%s/global/instanceTemplates/t" % PROJECT,
        auto_healing_policies=[compute_v1.InstanceGroupManagerAutoHealingPolicy(
            health_check="projects/%s/global/healthChecks/web-health" % PROJECT, initial_delay_sec=60)])
    localgce.client(compute_v1.InstanceGroupManagersClient).insert(
        project=PROJECT, zone=ZONE, instance_group_manager_resource=igm).result()
    group = "projects/%s/zones/%s/instanceGroupManagers/web-group" % (PROJECT, ZONE)
    for check in (True, False):
        localgce.clear_requests()
        result = run(localgce, check=check, state="absent")
        assert result.failed and group in result["msg"] and "autohealing" in result["msg"], result["msg"]
        assert mutating(localgce.requests()) == []
    assert stored(localgce) is not None


def test_refusal_of_the_api_names_the_group(localgce, clean_env):
    """A group that takes the check between the look-up and the delete: the API's refusal names it."""
    ok(run(localgce))
    localgce.fault("DELETE", r".*/healthChecks/web-health.*", status=400, reason="resourceInUseByAnotherResource",
                   message="The health_check resource 'projects/%s/global/healthChecks/web-health' is already being "
                           "used by 'projects/%s/regions/%s/instanceGroupManagers/racer'" % (PROJECT, PROJECT, REGION))
    result = run(localgce, state="absent")
    assert result.failed
    assert "projects/%s/regions/%s/instanceGroupManagers/racer" % (PROJECT, REGION) in result["msg"], result["msg"]
    assert result.get("changed") is not True
    assert stored(localgce) is not None


@pytest.mark.parametrize("options, words", [
    (dict(timeout_sec=10, check_interval_sec=5), "timeout_sec: 10 is longer than check_interval_sec (5)"),
    (dict(port=0), "port: 0 is not a port: use 1 to 65535"),
    (dict(port=65536), "port: 65536 is not a port"),
    (dict(request_path="healthz"), "request_path: 'healthz' does not start with '/'"),
    (dict(type="TCP", request_path="/x"), "request_path: TCP health checks send no HTTP request"),
    (dict(name="Web"), "name: 'Web' is not a valid health check name"),
    (dict(region="us-central1-a"), "region: 'us-central1-a' is not a region name"),
    (dict(healthy_threshold=0), "healthy_threshold: 0 is out of range"),
    (dict(type="UDP"), "value of type must be one of"),
])
def test_bad_input_refused_before_any_api_call(localgce, clean_env, options, words):
    localgce.clear_requests()
    result = run(localgce, **options)
    assert result.failed and words in result["msg"], result["msg"]
    assert localgce.requests() == []
