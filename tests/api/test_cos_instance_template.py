"""gce.cos.cos_instance_template run as a real module process against localgce.

What is asserted is what localgce saw (its request log) and holds (its stored templates), and
managed instance groups are made with google-cloud-compute directly, as another tool would.
"""

import json
import re

import pytest
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_params import params_with_defaults
from ansible_collections.gce.cos.plugins.module_utils._instance.body import build_instance_body
from ansible_collections.gce.cos.plugins.module_utils._instance.options import ARGUMENT_SPEC as INSTANCE_SPEC
from ansible_collections.gce.cos.plugins.module_utils._template.engine import canonical_json
from ansible_collections.gce.cos.plugins.module_utils._template.options import ARGUMENT_RULES, ARGUMENT_SPEC
from ansible_collections.gce.cos.plugins.module_utils._vm import container_unit, vm_contract
from module_runner import calls, connection, mutating, run_module, warning_texts

PROJECT = "test-project"
ZONE = "us-central1-a"
REGION = "us-central1"
USER_DATA = "#cloud-config\nwrite_files:\n  - path: %s\n    content: agent\n" % vm_contract.AGENT_PATH
WEB = {"name": "web", "image": "nginx:1.27", "ports": ["80"]}


def run(localgce, check=False, **kw):
    args = dict(connection(localgce), name_prefix="web", user_data=USER_DATA, containers=[WEB])
    args.update(kw)
    return run_module("cos_instance_template", args, check_mode=check)


def stored(localgce, name, region=None):
    scope = "regions/%s" % region if region else "global"
    return localgce.get_resource("projects/%s/%s/instanceTemplates/%s" % (PROJECT, scope, name))


def metadata(tmpl):
    return {i["key"]: i.get("value", "") for i in tmpl["properties"]["metadata"].get("items", [])}


def ok(result):
    assert not result.failed, result.get("msg")
    return result


def make_group(localgce, template_link, name="web-group", region=None):
    from google.cloud import compute_v1

    body = compute_v1.InstanceGroupManager(name=name, base_instance_name=name, target_size=0,
                                           instance_template=template_link)
    if region:
        client = localgce.client(compute_v1.RegionInstanceGroupManagersClient)
        client.insert(project=PROJECT, region=region, instance_group_manager_resource=body).result()
        return "projects/%s/regions/%s/instanceGroupManagers/%s" % (PROJECT, region, name)
    client = localgce.client(compute_v1.InstanceGroupManagersClient)
    client.insert(project=PROJECT, zone=ZONE, instance_group_manager_resource=body).result()
    return "projects/%s/zones/%s/instanceGroupManagers/%s" % (PROJECT, ZONE, name)


def assert_check_equals_real_then_noop(localgce, **kw):
    localgce.clear_requests()
    check = ok(run(localgce, check=True, **kw))
    assert mutating(localgce.requests()) == [], "check mode must not change anything"
    real = ok(run(localgce, **kw))
    assert real["changed"] is True
    for key in ("changed", "actions", "diff", "name", "versions", "properties"):
        assert check.get(key) == real.get(key), key
    localgce.clear_requests()
    again = ok(run(localgce, **kw))
    assert again["changed"] is False and again["actions"] == []
    assert {r["method"] for r in localgce.requests()} == {"GET"}, calls(localgce.requests())
    assert again["name"] == real["name"] and again["properties"] == real["properties"]
    assert again["diff"]["before"] == again["diff"]["after"]
    return real


def test_create_is_the_instance_machine_with_containers_then_noop(localgce, clean_env):
    real = assert_check_equals_real_then_noop(localgce, machine_type="e2-small", network_tags=["web"],
                                              labels={"app": "web"}, service_account={"scopes": ["cloud-platform"]},
                                              shielded_vm={"secure_boot": True},
                                              disks=[{"device_name": "data", "size_gb": 20}])
    name = real["name"]
    assert re.fullmatch(r"web-[0-9a-f]{10}", name)
    assert real["actions"] == ["create instance template %r (e2-small, image %s, containers web)"
                               % (name, real["properties"]["image"])]
    tmpl = stored(localgce, name)
    props = tmpl["properties"]
    assert props["machineType"] == "e2-small"
    assert props["tags"]["items"] == ["web"]
    assert props["labels"] == {"app": "web", "container-vm": real["properties"]["image"]}
    assert props["serviceAccounts"] == [{"email": "default",
                                         "scopes": ["https://www.googleapis.com/auth/cloud-platform"]}]
    assert props["shieldedInstanceConfig"] == {"enableSecureBoot": True}
    boot, data = props["disks"]
    assert boot["boot"] and "diskName" not in boot["initializeParams"]
    assert boot["initializeParams"]["diskType"] == "pd-balanced"
    assert data["deviceName"] == "data" and data["initializeParams"] == {"diskSizeGb": "20", "diskType": "pd-balanced"}
    md = metadata(tmpl)
    # The container's unit is exactly what cos_container writes for the same spec.
    built = container_unit.build(WEB)
    assert md[built["metadata_key"]] == built["unit"]
    assert md[vm_contract.GUEST_ATTRIBUTES_KEY] == "TRUE"
    assert md["user-data"] == USER_DATA and md["google-logging-enabled"] == "true"
    assert real["properties"]["containers"] == {"web": {"image": "nginx:1.27", "revision": built["revision"]}}
    assert USER_DATA not in json.dumps(real), "user-data is shown as a digest only"
    assert real["versions"] == {"kept": [name], "deleted": [], "in_use": {}}
    assert real["self_link"].endswith("/projects/%s/global/instanceTemplates/%s" % (PROJECT, name))


def test_properties_are_the_instance_body_and_the_name_their_hash(localgce, clean_env):
    """The template's machine is cos_instance's for the same options; the name is the hash of what is stored."""
    real = ok(run(localgce, containers=None, machine_type="e2-small", network_tags=["web"],
                  image="cos-121-18867-199-28"))
    props = stored(localgce, real["name"])["properties"]
    props["metadata"].pop("kind")
    import hashlib

    assert real["name"] == "web-" + hashlib.sha256(canonical_json(props).encode()).hexdigest()[:10]
    instance = params_with_defaults(INSTANCE_SPEC, dict(name="vm", zone=ZONE, machine_type="e2-small",
                                                        network_tags=["web"], user_data=USER_DATA))
    body = build_instance_body(instance, PROJECT, "projects/cos-cloud/global/images/cos-121-18867-199-28",
                                "cos-121-18867-199-28")
    for key in ("networkInterfaces", "labels", "metadata", "tags", "serviceAccounts"):
        assert props[key] == body[key], key
    assert body["machineType"].endswith("/" + props["machineType"])


def test_changed_spec_makes_a_new_version_and_keep_prunes(localgce, clean_env):
    names = []
    for tag in ("1.25", "1.26", "1.27"):
        result = ok(run(localgce, keep=2, containers=[dict(WEB, image="nginx:" + tag)]))
        assert result["changed"] is True
        names.append(result["name"])
    assert len(set(names)) == 3
    # The third run created one version and deleted the oldest (keep: 2 counts the current one).
    assert result["versions"] == {"kept": [names[2], names[1]], "deleted": [names[0]], "in_use": {}}
    assert result["actions"][1] == "delete instance template %r (older than the 2 kept)" % names[0]
    assert stored(localgce, names[0]) is None and stored(localgce, names[1]) is not None
    assert result["diff"]["before"]["properties"]["containers"]["web"]["image"] == "nginx:1.26"
    assert result["diff"]["after"]["properties"]["containers"]["web"]["image"] == "nginx:1.27"
    assert result["diff"]["before"]["versions"] == [names[1], names[0]]
    assert result["diff"]["after"]["versions"] == [names[2], names[1]]
    # Going back to an older spec that is still kept finds it: no change.
    back = ok(run(localgce, keep=2, containers=[dict(WEB, image="nginx:1.26")]))
    assert back["changed"] is False and back["name"] == names[1]


@pytest.mark.parametrize("region", [None, REGION])
def test_version_in_use_by_a_group_is_kept_and_named(localgce, clean_env, region):
    first = ok(run(localgce, region=region, keep=1))
    group = make_group(localgce, first["self_link"], region=region)
    second = ok(run(localgce, region=region, keep=1, containers=[dict(WEB, image="nginx:1.28")]))
    assert second["versions"] == {"kept": [second["name"], first["name"]], "deleted": [],
                                  "in_use": {first["name"]: [group]}}
    assert any(group in w and first["name"] in w for w in warning_texts(second)), second.get("warnings")
    assert stored(localgce, first["name"], region) is not None
    # Re-run: still kept, GETs only.
    localgce.clear_requests()
    again = ok(run(localgce, region=region, keep=1, containers=[dict(WEB, image="nginx:1.28")]))
    assert again["changed"] is False
    assert {r["method"] for r in localgce.requests()} == {"GET"}
    # absent deletes the unused one and keeps the used one.
    gone = ok(run(localgce, region=region, state="absent"))
    assert gone["versions"] == {"kept": [first["name"]], "deleted": [second["name"]],
                                "in_use": {first["name"]: [group]}}
    assert stored(localgce, second["name"], region) is None
    assert stored(localgce, first["name"], region) is not None


def test_regional_form(localgce, clean_env):
    real = assert_check_equals_real_then_noop(localgce, region=REGION, subnetwork="default")
    tmpl = stored(localgce, real["name"], REGION)
    assert tmpl is not None and stored(localgce, real["name"]) is None
    assert tmpl["properties"]["networkInterfaces"][0]["subnetwork"] == \
        "projects/%s/regions/%s/subnetworks/default" % (PROJECT, REGION)
    assert "/regions/%s/instanceTemplates/" % REGION in real["self_link"]


def test_delete_refused_in_use_meanwhile_is_kept(localgce, clean_env):
    """A group that takes a version between the look-up and the delete: the API's refusal keeps it."""
    first = ok(run(localgce, keep=1))
    second = ok(run(localgce, keep=1, containers=[dict(WEB, image="nginx:1.28")]))
    assert second["versions"]["deleted"] == [first["name"]]
    third_spec = [dict(WEB, image="nginx:1.29")]
    localgce.fault("DELETE", r".*/instanceTemplates/.*", status=400, reason="resourceInUseByAnotherResource",
                   message="The instance_template resource 'projects/%s/global/instanceTemplates/%s' is already "
                           "being used by 'projects/%s/zones/%s/instanceGroupManagers/racer'"
                           % (PROJECT, second["name"], PROJECT, ZONE))
    third = ok(run(localgce, keep=1, containers=third_spec))
    assert third["versions"]["deleted"] == []
    assert third["versions"]["in_use"] == {
        second["name"]: ["projects/%s/zones/%s/instanceGroupManagers/racer" % (PROJECT, ZONE)]}
    assert stored(localgce, second["name"]) is not None


@pytest.mark.parametrize("options, words", [
    (dict(metadata={"gce-container-declaration": "spec:\n  containers: []\n"}),
     "metadata.gce-container-declaration: templates with a konlet declaration are refused"),
    (dict(name_prefix="Web"), "name_prefix: 'Web' is not a valid template name prefix"),
    (dict(name_prefix="w" * 53), "name_prefix: %r has 53 characters" % ("w" * 53)),
    (dict(keep=0), "keep: 0: keep at least 1 version"),
    (dict(region="central"), "region: 'central' is not a region name"),
    (dict(machine_type="zones/us-central1-a/machineTypes/e2-small"), "machine_type: 'zones/us-central1-a/"),
    (dict(subnetwork="sub"), "subnetwork: 'sub': a global template names its subnetwork with the region"),
    (dict(containers=[{"name": "web", "image": "nginx"}, {"name": "web", "image": "redis"}]),
     "containers[1].name: 'web' is also the name of containers[0]"),
    (dict(containers=[{"name": "web", "image": "Bad Image"}]), "containers[0].image"),
    (dict(disks=[{"device_name": "d", "size_gb": 0}]), "disks[0].size_gb: 0 is not a possible disk size"),
    (dict(metadata={"cos-container-x": "y"}), "metadata.cos-container-x"),
    (dict(containers=[dict(WEB, name=n, env={"BIG": "x" * 100000}) for n in ("a", "b", "c")]),
     "metadata of template 'web' would hold"),
])
def test_bad_input_refused_before_any_api_call(localgce, clean_env, options, words):
    localgce.clear_requests()
    result = run(localgce, **options)
    assert result.failed and words in result["msg"], result["msg"]
    assert localgce.requests() == []


def test_konlet_refusal_names_the_migration_path(localgce, clean_env):
    result = run(localgce, metadata={"gce-container-declaration": "spec: {}"})
    assert result.failed
    assert "containers option" in result["msg"] and "gce.cos.cos_container with migrate: true" in result["msg"]


def test_containers_without_the_agent_warn(localgce, clean_env):
    result = ok(run(localgce, user_data="#cloud-config\n{}\n"))
    assert any("cos agent" in w for w in warning_texts(result))


def test_option_spec_is_cos_instance_spec_where_shared():
    for key in ("machine_type", "image", "image_family", "network", "labels", "service_account", "metadata",
                "user_data", "shielded_vm", "scheduling"):
        assert ARGUMENT_SPEC[key] == INSTANCE_SPEC[key], key
    assert params_with_defaults(ARGUMENT_SPEC, {"name_prefix": "web"}, **ARGUMENT_RULES)["keep"] == 3
