"""gce.cos.cos_firewall run as a real module process against localgce.

Same contract as cos_disk: check mode reports the real run's plan and sends no mutation,
a re-run changes nothing and sends only GETs, and what the diff promised is what is there.
"""

import pytest
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_client import ComputeApi
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_operations import mutate
from module_runner import calls, connection, module_examples, mutating, run_module, run_playbook

PROJECT = "test-project"


@pytest.fixture
def api(localgce, clean_env):
    from google.oauth2.credentials import Credentials

    return ComputeApi(Credentials(token="t"), PROJECT, api_endpoint=localgce.url, auth_kind="accesstoken")


@pytest.fixture
def firewall(localgce, clean_env):
    def run(check=False, **options):
        args = dict(connection(localgce))
        args.update(options)
        return run_module("cos_firewall", args, check_mode=check)

    return run


def make_rule(api, **body):
    mutate(api, "firewalls", "insert_unary", 60, doing="create rule", project=PROJECT, firewall_resource=body)


def stored_rule(localgce, name):
    return localgce.get_resource("projects/%s/global/firewalls/%s" % (PROJECT, name))


def assert_check_equals_real_then_noop(localgce, firewall, options, expect_actions):
    localgce.clear_requests()
    check = firewall(check=True, **options)
    assert not check.failed, check.get("msg")
    assert mutating(localgce.requests()) == [], "check mode must not change anything"

    localgce.clear_requests()
    real = firewall(**options)
    assert not real.failed, real.get("msg")
    assert real["changed"] is True
    assert (check["changed"], check["actions"], check["diff"]) == (real["changed"], real["actions"], real["diff"])
    assert len(real["actions"]) == len(expect_actions)
    for action, words in zip(real["actions"], expect_actions, strict=True):
        assert action.startswith(words), (action, words)

    localgce.clear_requests()
    again = firewall(**options)
    assert not again.failed, again.get("msg")
    assert again["changed"] is False and again["actions"] == []
    assert {r["method"] for r in localgce.requests()} == {"GET"}, calls(localgce.requests())
    assert again["firewall"] == real["diff"]["after"]
    return real


def test_create_with_simple_ports(localgce, firewall):
    real = assert_check_equals_real_then_noop(
        localgce, firewall, dict(name="allow-web", ports=["443/tcp", "80/tcp", "tcp:8000-8100", "53/udp", "icmp"],
                                 target_tags=["web"]),
        ["create firewall rule 'allow-web' (allow icmp tcp:80,443,8000-8100 udp:53 from 0.0.0.0/0 on tags web)"])
    assert real["firewall"]["allowed"] == [
        {"IPProtocol": "icmp"}, {"IPProtocol": "tcp", "ports": ["80", "443", "8000-8100"]},
        {"IPProtocol": "udp", "ports": ["53"]}]
    # gcloud's default: an INGRESS rule without sources applies to traffic from anywhere.
    assert real["firewall"]["sourceRanges"] == ["0.0.0.0/0"]
    stored = stored_rule(localgce, "allow-web")
    assert stored["targetTags"] == ["web"] and stored["direction"] == "INGRESS" and stored["priority"] == 1000


def test_create_with_allowed_and_source_tags_has_no_default_range(localgce, firewall):
    real = assert_check_equals_real_then_noop(
        localgce, firewall, dict(name="from-lb", allowed=[{"protocol": "tcp", "ports": ["8080"]}],
                                 source_tags=["lb"], priority=900, description="from the balancers"),
        ["create firewall rule 'from-lb'"])
    assert real["firewall"]["sourceRanges"] == [] and real["firewall"]["sourceTags"] == ["lb"]


def test_create_egress_deny(localgce, firewall):
    real = assert_check_equals_real_then_noop(
        localgce, firewall, dict(name="no-smtp", direction="EGRESS", denied=[{"protocol": "tcp", "ports": ["25"]}]),
        ["create firewall rule 'no-smtp' (deny tcp:25 to 0.0.0.0/0)"])
    assert real["firewall"]["destinationRanges"] == ["0.0.0.0/0"]


def test_patch_changed_fields_only(localgce, firewall, api):
    make_rule(api, name="web", allowed=[{"IPProtocol": "tcp", "ports": ["80"]}], targetTags=["web"])
    real = assert_check_equals_real_then_noop(
        localgce, firewall, dict(name="web", ports=["80/tcp", "443/tcp"], target_tags=["web"], priority=500,
                                 disabled=True),
        ["patch firewall rule 'web' (priority 1000 -> 500, allowed [tcp:80] -> [tcp:80,443], disabled False -> "
         "True)"])
    assert real["diff"]["before"]["priority"] == 1000
    patches = [r for r in localgce.requests() if r["method"] == "PATCH"]
    assert patches == [], "the no-op run sent no patch"


def test_patch_body_carries_only_the_changes_and_false_values(localgce, firewall, api):
    make_rule(api, name="web", allowed=[{"IPProtocol": "tcp", "ports": ["80"]}], disabled=True)
    localgce.clear_requests()
    result = firewall(name="web", ports=["80/tcp"], disabled=False)
    assert result["changed"] is True
    patch = [r for r in localgce.requests() if r["method"] == "PATCH"]
    assert [p["body"] for p in patch] == [{"name": "web", "disabled": False}]
    assert stored_rule(localgce, "web")["disabled"] is False


def test_clearing_a_field_replaces_the_rule(localgce, firewall, api):
    # A merge patch cannot clear targetTags (empty lists are dropped from the body): update (PUT) does.
    make_rule(api, name="web", allowed=[{"IPProtocol": "tcp", "ports": ["80"]}], targetTags=["web"],
              description="old")
    assert_check_equals_real_then_noop(localgce, firewall, dict(name="web", ports=["80/tcp"]),
                                       ["replace firewall rule 'web' (targetTags [web] -> [], description 'old' -> "
                                        "'')"])
    stored = stored_rule(localgce, "web")
    assert not stored.get("targetTags") and not stored.get("description")


def test_allow_turning_into_deny_replaces_the_rule(localgce, firewall, api):
    make_rule(api, name="smtp", allowed=[{"IPProtocol": "tcp", "ports": ["25"]}])
    assert_check_equals_real_then_noop(localgce, firewall, dict(name="smtp", denied=[{"protocol": "tcp",
                                                                                      "ports": ["25"]}]),
                                       ["replace firewall rule 'smtp'"])
    stored = stored_rule(localgce, "smtp")
    assert stored["denied"] == [{"IPProtocol": "tcp", "ports": ["25"]}] and "allowed" not in stored


def test_delete(localgce, firewall, api):
    make_rule(api, name="web", allowed=[{"IPProtocol": "tcp", "ports": ["80"]}])
    real = assert_check_equals_real_then_noop(localgce, firewall, dict(name="web", state="absent"),
                                              ["delete firewall rule 'web'"])
    assert real["firewall"] == {} and stored_rule(localgce, "web") is None


def test_same_rule_written_differently_is_no_change(localgce, firewall, api):
    make_rule(api, name="web", allowed=[{"IPProtocol": "udp", "ports": ["53"]},
                                        {"IPProtocol": "tcp", "ports": ["443", "80-80"]}],
              sourceRanges=["10.0.0.0/8", "192.168.0.0/16"], targetTags=["b", "a"])
    localgce.clear_requests()
    result = firewall(name="web", ports=["tcp:80", "443/tcp", "80/tcp", "53/udp"],
                      source_ranges=["192.168.0.0/16", "10.0.0.0/8", "10.0.0.0/8"], target_tags=["a", "b"])
    assert not result.failed, result.get("msg")
    assert result["changed"] is False
    assert {r["method"] for r in localgce.requests()} == {"GET"}


def test_default_rules_of_the_network_are_untouched_by_a_no_op(localgce, firewall):
    # The seeded default-allow-ssh rule, described as gcloud would.
    result = firewall(name="default-allow-ssh", ports=["22/tcp"], priority=65534,
                      description="Allow SSH from anywhere")
    assert not result.failed and result["changed"] is False, result


# -- bad input --------------------------------------------------------------------------------------
@pytest.mark.parametrize("options, words", [
    (dict(name="Allow_Web", ports=["80/tcp"]), "name: 'Allow_Web' is not a valid firewall rule name"),
    (dict(name="web", ports=["70000/tcp"]), "ports: '70000' is not a port"),
    (dict(name="web", ports=["90-80/tcp"]), "is an empty range"),
    (dict(name="web", ports=["80/icmp"]), "only tcp, udp and sctp have ports"),
    (dict(name="web", ports=["80/foo"]), "'foo' is not a protocol"),
    (dict(name="web", ports=["http"]), "'http' is not a protocol"),
    (dict(name="web", ports=[]), "ports: is empty"),
    (dict(name="web", allowed=[{"protocol": "icmp", "ports": ["1"]}]), "allowed[0].ports: only tcp, udp and sctp"),
    (dict(name="web", ports=["80/tcp"], source_ranges=["10.0.0.1/8"]), "source_ranges: '10.0.0.1/8' is not an IP"),
    (dict(name="web", ports=["80/tcp"], source_ranges=["anywhere"]), "source_ranges: 'anywhere' is not an IP"),
    (dict(name="web", ports=["80/tcp"], target_tags=["Web"]), "target_tags: 'Web' is not a valid network tag"),
    (dict(name="web", ports=["80/tcp"], priority=70000), "priority: 70000 is out of range"),
    (dict(name="web", ports=["80/tcp"], direction="EGRESS", source_ranges=["10.0.0.0/8"]),
     "source_ranges: apply to INGRESS rules only"),
    (dict(name="web", ports=["80/tcp"], allowed=[{"protocol": "tcp"}]), "mutually exclusive"),
    (dict(name="web"), "state is present but any of the following are missing: ports, allowed, denied"),
    (dict(name="web", ports=["80/tcp"], network="My_Net"), "network: 'My_Net' is not a valid network name"),
])
def test_bad_input_fails_before_any_api_call(localgce, firewall, options, words):
    result = firewall(**options)
    assert result.failed
    assert words in result["msg"], result["msg"]
    assert localgce.requests() == []


def test_direction_cannot_change(localgce, firewall, api):
    make_rule(api, name="out", direction="EGRESS", allowed=[{"IPProtocol": "tcp", "ports": ["443"]}])
    localgce.clear_requests()
    result = firewall(name="out", ports=["443/tcp"])
    assert result.failed
    assert "direction is EGRESS, not INGRESS" in result["msg"] and "never recreates" in result["msg"]
    assert mutating(localgce.requests()) == []


def test_missing_network_fails_with_the_api_message(localgce, firewall):
    result = firewall(name="web", ports=["80/tcp"], network="nonet")
    assert result.failed
    assert "create firewall rule 'web' failed: HTTP 404" in result["msg"]


def test_failed_operation_fails_with_its_message_and_next_run_repairs(localgce, firewall, api):
    make_rule(api, name="web", allowed=[{"IPProtocol": "tcp", "ports": ["80"]}])
    localgce.fault(method="PATCH", path=r"/firewalls/web$", operation_error={
        "code": "RESOURCE_OPERATION_RATE_EXCEEDED", "message": "Operation rate exceeded for resource 'web'",
        "http_status": 403})
    options = dict(name="web", ports=["80/tcp", "443/tcp"])
    first = firewall(**options)
    assert first.failed
    assert "patch firewall rule 'web' failed" in first["msg"] and "Operation rate exceeded" in first["msg"]
    assert stored_rule(localgce, "web")["allowed"] == [{"IPProtocol": "tcp", "ports": ["80"]}]
    second = firewall(**options)
    assert second["changed"] is True and second["actions"][0].startswith("patch firewall rule 'web'")
    assert stored_rule(localgce, "web")["allowed"] == [{"IPProtocol": "tcp", "ports": ["80", "443"]}]


def test_wait_is_bounded_by_wait_timeout(localgce, firewall):
    localgce.fault(method="POST", path=r"/firewalls$", delay=30)
    result = firewall(name="web", ports=["80/tcp"], wait_timeout=1)
    assert result.failed and "timed out after 1s" in result["msg"]


def test_examples_run_against_localgce(localgce, tmp_path, clean_env):
    tasks = module_examples("cos_firewall")
    proc = run_playbook(localgce, tasks, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert stored_rule(localgce, "allow-web")["targetTags"] == ["web"]
    assert stored_rule(localgce, "allow-office") is None
