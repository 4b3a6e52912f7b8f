"""gce.cos.cos_instance run as a real module process against localgce.

Each test reads localgce's request log and stored resources, so what is asserted is what
the API saw and what it holds afterwards, not what the module says about itself.
"""

import concurrent.futures
import json
import time

import pytest
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_client import ComputeApi
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_operations import mutate
from module_runner import calls, connection, mutating, run_module, warning_texts

PROJECT = "test-project"
ZONE = "us-central1-a"
REGION = "us-central1"
SA = "deployer@test-project.iam.gserviceaccount.com"
USER_DATA = "#cloud-config\nwrite_files:\n  - path: /etc/motd\n    content: secret-looking-text-1234\n"


def args(localgce, **kw):
    base = dict(connection(localgce), name="web-1", zone=ZONE)
    base.update(kw)
    return base


def run(localgce, check=False, **kw):
    return run_module("cos_instance", args(localgce, **kw), check_mode=check)


def stored(localgce, name="web-1", zone=ZONE):
    return localgce.get_resource("projects/%s/zones/%s/instances/%s" % (PROJECT, zone, name))


def metadata(inst):
    return {i["key"]: i.get("value", "") for i in inst["metadata"].get("items", [])}


@pytest.fixture
def api(localgce, clean_env):
    """The shared client layer in-process: another writer, and a way to make disks."""
    from google.oauth2.credentials import Credentials

    return ComputeApi(Credentials(token="other-writer-token"), PROJECT, api_endpoint=localgce.url,
                      auth_kind="accesstoken")


def make_address(api, name):
    mutate(api, "addresses", "insert_unary", 30, doing="create address %r" % name, project=PROJECT, region=REGION,
           address_resource={"name": name})
    return api.get("addresses", doing="read address", project=PROJECT, region=REGION, address=name)["address"]


def nat_ip(inst):
    access = inst["networkInterfaces"][0].get("accessConfigs") or [{}]
    return access[0].get("natIP")


def make_disk(api, name, size=10):
    mutate(api, "disks", "insert_unary", 30, doing="create disk %r" % name, project=PROJECT, zone=ZONE,
           disk_resource={"name": name, "sizeGb": str(size)})


def other_writer_sets_metadata(api, key, value, name="web-1"):
    inst = api.get("instances", doing="read instance", project=PROJECT, zone=ZONE, instance=name)
    items = [i for i in inst["metadata"].get("items", []) if i["key"] != key] + [{"key": key, "value": value}]
    mutate(api, "instances", "set_metadata_unary", 30, doing="set metadata instance", project=PROJECT, zone=ZONE,
           instance=name, metadata_resource={"fingerprint": inst["metadata"]["fingerprint"], "items": items})


# -- create and idempotency -----------------------------------------------------------------------
def test_create_sets_what_gcloud_sets_and_a_rerun_sends_one_get(localgce, clean_env):
    opts = dict(user_data=USER_DATA, labels={"app": "web"}, network_tags=["web", "http"], machine_type="e2-small")
    result = run(localgce, **opts)
    assert result["changed"] is True, result
    assert result["image"] == "cos-stable-121-18867-199-28"  # the family's newest non-deprecated image
    inst = stored(localgce)
    assert inst["labels"] == {"app": "web", "container-vm": "cos-stable-121-18867-199-28"}
    md = metadata(inst)
    assert md["google-logging-enabled"] == "true"
    assert md["user-data"] == USER_DATA
    assert sorted(inst["tags"]["items"]) == ["http", "web"]
    assert inst["machineType"].endswith("/zones/us-central1-a/machineTypes/e2-small")
    assert inst["serviceAccounts"][0]["email"].endswith("-compute@developer.gserviceaccount.com")
    assert "https://www.googleapis.com/auth/logging.write" in inst["serviceAccounts"][0]["scopes"]
    assert inst["networkInterfaces"][0]["accessConfigs"][0]["type"] == "ONE_TO_ONE_NAT"
    assert inst["status"] == "RUNNING"
    boot = localgce.get_resource("projects/%s/zones/%s/disks/web-1" % (PROJECT, ZONE))
    assert boot["type"].endswith("/diskTypes/pd-balanced") and boot["sizeGb"] == "10"
    assert boot["sourceImage"].endswith("/cos-cloud/global/images/cos-stable-121-18867-199-28")
    # The result carries the IPs, and never the user-data content.
    assert result["instance"]["internal_ip"] == inst["networkInterfaces"][0]["networkIP"]
    assert result["instance"]["external_ip"] == inst["networkInterfaces"][0]["accessConfigs"][0]["natIP"]
    assert "secret-looking-text-1234" not in json.dumps(result)
    assert result["instance"]["metadata"]["user-data"].startswith("sha256:")

    localgce.clear_requests()
    again = run(localgce, **opts)
    assert again["changed"] is False and again["actions"] == []
    # Nothing changed: exactly one GET (no image family lookup for an existing instance).
    assert calls(localgce.requests()) == ["GET projects/%s/zones/%s/instances/web-1" % (PROJECT, ZONE)]
    assert again["image"] == "cos-stable-121-18867-199-28"
    assert again["diff"]["before"] == again["diff"]["after"]


def test_a_moved_family_or_another_family_never_recreates(localgce, clean_env):
    run(localgce)
    localgce.clear_requests()
    result = run(localgce, image_family="cos-beta")
    assert result["changed"] is False
    assert [r["method"] for r in localgce.requests()] == ["GET"]
    assert result["image"] == "cos-stable-121-18867-199-28"


def test_an_explicit_other_image_is_refused_not_recreated(localgce, clean_env):
    run(localgce, image="cos-stable-121-18867-199-28")
    localgce.clear_requests()
    result = run(localgce, image="cos-beta-125-19216-0-84")
    assert result.failed
    assert "image: instance 'web-1' has cos-stable-121-18867-199-28, wanted cos-beta-125-19216-0-84" in result["msg"]
    assert "cannot be re-imaged in place" in result["msg"]
    assert mutating(localgce.requests()) == []


EVERY_OPTION = dict(
    image_family="cos-121-lts",
    machine_type="n2-standard-2",
    boot_disk=dict(size_gb=20, type="pd-ssd", auto_delete=False, name="web-1-boot"),
    disks=[dict(name="data", device_name="appdata"), dict(name="shared", mode="READ_ONLY", auto_delete=True)],
    network="default",
    subnetwork="default",
    internal_ip="10.128.0.50",
    external_ip="none",
    service_account=dict(email=SA, scopes=["cloud-platform", "storage-ro"]),
    metadata={"startup-script": "echo hi", "enable-oslogin": True, "count": 3},
    google_logging_enabled=False,
    shielded_vm=dict(secure_boot=True, vtpm=True, integrity_monitoring=True),
    deletion_protection=True,
    scheduling=dict(provisioning_model="SPOT"),
    description="a web server",
    state="stopped",
)


def test_create_with_every_option(localgce, clean_env, api):
    make_disk(api, "data")
    make_disk(api, "shared")
    result = run(localgce, **EVERY_OPTION)
    assert result["changed"] is True, result
    assert result["actions"][1] == "stop instance 'web-1'"
    inst = stored(localgce)
    assert inst["status"] == "TERMINATED"
    assert inst["labels"]["container-vm"] == "cos-121-18867-199-28"
    assert inst["machineType"].endswith("/n2-standard-2")
    boot, data, shared = inst["disks"]
    assert boot["source"].endswith("/disks/web-1-boot") and boot["autoDelete"] is False
    assert (data["deviceName"], data["mode"], data["autoDelete"]) == ("appdata", "READ_WRITE", False)
    assert (shared["deviceName"], shared["mode"], shared["autoDelete"]) == ("shared", "READ_ONLY", True)
    disk = localgce.get_resource("projects/%s/zones/%s/disks/web-1-boot" % (PROJECT, ZONE))
    assert disk["type"].endswith("/pd-ssd") and disk["sizeGb"] == "20"
    nic = inst["networkInterfaces"][0]
    assert nic["networkIP"] == "10.128.0.50" and "accessConfigs" not in nic
    assert inst["serviceAccounts"] == [{"email": SA, "scopes": [
        "https://www.googleapis.com/auth/cloud-platform", "https://www.googleapis.com/auth/devstorage.read_only"]}]
    assert metadata(inst) == {"startup-script": "echo hi", "enable-oslogin": "true", "count": "3",
                              "google-logging-enabled": "false"}
    assert inst["shieldedInstanceConfig"]["enableSecureBoot"] is True
    assert inst["deletionProtection"] is True
    assert inst["scheduling"]["provisioningModel"] == "SPOT"
    assert inst["scheduling"]["onHostMaintenance"] == "TERMINATE"
    assert inst["scheduling"]["automaticRestart"] is False
    assert inst["description"] == "a web server"
    assert result["instance"]["external_ip"] is None

    localgce.clear_requests()
    again = run(localgce, **dict(EVERY_OPTION, service_account=dict(email=SA, scopes=["storage-ro", "cloud-platform"])))
    assert again["changed"] is False, again
    assert [r["method"] for r in localgce.requests()] == ["GET"]


# -- check mode is the same plan ------------------------------------------------------------------
# kind: (baseline options or None for "no instance", disks (and "address:NAME"s) to make, change, check on the
# stored instance). localgce's ephemeral external IPs are 34.x, its static addresses 35.x.
CHANGES = {
    "create": (None, [], dict(labels={"app": "x"}), lambda i: i["labels"]["app"] == "x"),
    "metadata": ({}, [], dict(metadata={"startup-script": "echo hi"}, user_data="#cloud-config\n"),
                 lambda i: metadata(i)["startup-script"] == "echo hi" and metadata(i)["user-data"]),
    "labels": (dict(labels={"a": "1", "b": "2"}), [], dict(labels={"a": "9"}),
               lambda i: i["labels"] == {"a": "9", "container-vm": "cos-stable-121-18867-199-28"}),
    "tags": (dict(network_tags=["a"]), [], dict(network_tags=["b", "c"]), lambda i: i["tags"]["items"] == ["b", "c"]),
    "attach": ({}, ["data"], dict(disks=[dict(name="data")]), lambda i: i["disks"][1]["deviceName"] == "data"),
    "detach": (dict(disks=[dict(name="data")]), ["data"], dict(disks=[]), lambda i: len(i["disks"]) == 1),
    "boot_disk_grow": ({}, [], dict(boot_disk=dict(size_gb=30)), lambda i: i["disks"][0]["diskSizeGb"] == "30"),
    "auto_delete": (dict(disks=[dict(name="data")]), ["data"],
                    dict(disks=[dict(name="data", auto_delete=True)], boot_disk=dict(auto_delete=False)),
                    lambda i: [d["autoDelete"] for d in i["disks"]] == [False, True]),
    "deletion_protection": ({}, [], dict(deletion_protection=True), lambda i: i["deletionProtection"] is True),
    "machine_type": ({}, [], dict(machine_type="e2-standard-4", allow_stopping_for_update=True),
                     lambda i: i["machineType"].endswith("/e2-standard-4") and i["status"] == "RUNNING"),
    "service_account": ({}, [], dict(service_account=dict(email=SA, scopes=["cloud-platform"]),
                                     allow_stopping_for_update=True),
                        lambda i: i["serviceAccounts"][0]["email"] == SA),
    "stop": ({}, [], dict(state="stopped"), lambda i: i["status"] == "TERMINATED"),
    "start": (dict(state="stopped"), [], dict(state="started"), lambda i: i["status"] == "RUNNING"),
    "restart": ({}, [], dict(state="restarted"), lambda i: i["status"] == "RUNNING"),
    "delete": ({}, [], dict(state="absent"), lambda i: i is None),
    "external_ip_none": ({}, [], dict(external_ip="none"), lambda i: nat_ip(i) is None),
    "external_ip_ephemeral": (dict(external_ip="none"), [], dict(external_ip="ephemeral"),
                              lambda i: nat_ip(i).startswith("34.")),
    "external_ip_static_by_name": ({}, ["address:web-ip"], dict(external_ip="web-ip"),
                                   lambda i: nat_ip(i).startswith("35.")),
    "external_ip_static_to_ephemeral": (dict(external_ip="web-ip"), ["address:web-ip"], dict(external_ip="ephemeral"),
                                        lambda i: nat_ip(i).startswith("34.")),
    "scheduling_in_place": ({}, [], dict(scheduling=dict(on_host_maintenance="TERMINATE", automatic_restart=False)),
                            lambda i: i["scheduling"]["onHostMaintenance"] == "TERMINATE"
                            and i["scheduling"]["automaticRestart"] is False and i["status"] == "RUNNING"),
    "scheduling_spot": ({}, [], dict(scheduling=dict(provisioning_model="SPOT"), allow_stopping_for_update=True),
                        lambda i: i["scheduling"]["provisioningModel"] == "SPOT"
                        and i["scheduling"]["onHostMaintenance"] == "TERMINATE" and i["status"] == "RUNNING"),
    "shielded_vm": ({}, [], dict(shielded_vm=dict(secure_boot=True, vtpm=True), allow_stopping_for_update=True),
                    lambda i: i["shieldedInstanceConfig"]["enableSecureBoot"] is True and i["status"] == "RUNNING"),
    "description": (dict(description="one"), [], dict(description="two"), lambda i: i["description"] == "two"),
}


@pytest.mark.parametrize("kind", sorted(CHANGES))
def test_check_mode_reports_exactly_what_the_real_run_does(localgce, clean_env, api, kind):
    baseline, disks, change, check_stored = CHANGES[kind]
    for name in disks:
        if name.startswith("address:"):
            make_address(api, name.split(":", 1)[1])
        else:
            make_disk(api, name)
    if baseline is not None:
        assert run(localgce, **baseline)["changed"] is True
    before = stored(localgce)
    localgce.clear_requests()

    check = run(localgce, check=True, **change)
    assert check["changed"] is True, check
    assert mutating(localgce.requests()) == [], "check mode must not change anything"
    assert stored(localgce) == before

    real = run(localgce, **change)
    assert real["changed"] is True, real
    assert check["actions"] == real["actions"]
    assert check["diff"] == real["diff"]
    assert len(mutating(localgce.requests())) >= len(real["actions"])
    assert check_stored(stored(localgce)), stored(localgce)
    if kind != "restart":  # restarting always restarts
        localgce.clear_requests()
        assert run(localgce, **change)["changed"] is False
        assert mutating(localgce.requests()) == []


def test_boot_disk_growth_shows_in_the_instance(localgce, clean_env):
    run(localgce)
    assert run(localgce, boot_disk=dict(size_gb=30))["changed"] is True
    assert stored(localgce)["disks"][0]["diskSizeGb"] == "30"
    assert run(localgce, boot_disk=dict(size_gb=30))["changed"] is False


def test_stopping_for_an_update_and_starting_back(localgce, clean_env):
    run(localgce)
    result = run(localgce, machine_type="e2-small", service_account=dict(scopes=["cloud-platform"]),
                 allow_stopping_for_update=True)
    assert result["actions"] == [
        "stop instance 'web-1' to change machine_type, service_account.scopes",
        "set machine type of instance 'web-1' from e2-medium to e2-small",
        "set service account of instance 'web-1' to %s with 1 scope(s)" % stored(localgce)["serviceAccounts"][0][
            "email"],
        "start instance 'web-1'",
    ]
    ops = [r["path"].rsplit("/", 1)[-1] for r in mutating(localgce.requests())]
    assert ops[-4:] == ["stop", "setMachineType", "setServiceAccount", "start"]


def test_a_stopped_instance_changes_machine_type_without_the_flag_and_stays_stopped(localgce, clean_env):
    run(localgce, state="stopped")
    result = run(localgce, machine_type="e2-small")
    assert result["actions"] == ["set machine type of instance 'web-1' from e2-medium to e2-small"]
    assert stored(localgce)["status"] == "TERMINATED"


def test_changes_needing_a_stop_fail_without_the_flag_naming_the_field(localgce, clean_env):
    run(localgce)
    localgce.clear_requests()
    result = run(localgce, machine_type="e2-small", metadata={"a": "b"})
    assert result.failed
    assert result["msg"].startswith("machine_type: changing machine_type of instance 'web-1' in us-central1-a needs "
                                    "the VM stopped; set allow_stopping_for_update: true")
    assert mutating(localgce.requests()) == []


# -- metadata ------------------------------------------------------------------------------------
def test_merge_keeps_other_writers_keys_and_replace_keeps_only_container_keys(localgce, clean_env, api):
    run(localgce, user_data=USER_DATA, metadata={"mine": "1"})
    other_writer_sets_metadata(api, "ssh-keys", "alice:ssh-ed25519 AAAA")
    other_writer_sets_metadata(api, "cos-container-web", "[Unit]\n")

    result = run(localgce, metadata={"mine": "2"})
    assert result["actions"] == ["set metadata of instance 'web-1': change mine"]
    assert metadata(stored(localgce)) == {
        "google-logging-enabled": "true", "user-data": USER_DATA, "mine": "2",
        "ssh-keys": "alice:ssh-ed25519 AAAA", "cos-container-web": "[Unit]\n"}

    result = run(localgce, metadata={"other": "x"}, metadata_mode="replace")
    assert result["actions"] == ["set metadata of instance 'web-1': add other; remove mine, ssh-keys"]
    # cos-container-* belong to cos_container, and user-data is only touched through user_data.
    assert metadata(stored(localgce)) == {
        "google-logging-enabled": "true", "user-data": USER_DATA, "other": "x", "cos-container-web": "[Unit]\n"}

    result = run(localgce, metadata={"other": "x"}, metadata_mode="replace", user_data="",
                 google_logging_enabled=False)
    assert result["actions"] == [
        "set metadata of instance 'web-1': change google-logging-enabled=false; remove user-data"]
    assert metadata(stored(localgce)) == {
        "google-logging-enabled": "false", "other": "x", "cos-container-web": "[Unit]\n"}


def test_a_stale_fingerprint_is_read_again_and_retried_once(localgce, clean_env, api):
    run(localgce)
    localgce.clear_requests()
    localgce.fault(method="POST", path=r"/instances/web-1/setMetadata$", count=1, status=412,
                   reason="conditionNotMet", message="Supplied fingerprint does not match.")
    result = run(localgce, metadata={"k": "v"})
    assert result["changed"] is True, result
    log = calls(localgce.requests())
    inst_path = "projects/%s/zones/%s/instances/web-1" % (PROJECT, ZONE)
    assert log == ["GET " + inst_path, "POST %s/setMetadata" % inst_path, "GET " + inst_path,
                   "POST %s/setMetadata" % inst_path, "GET " + inst_path]
    assert metadata(stored(localgce))["k"] == "v"


def test_two_stale_fingerprints_fail_with_the_reason(localgce, clean_env):
    run(localgce)
    localgce.fault(method="POST", path=r"/setLabels$", count=2, status=412, reason="conditionNotMet",
                   message="Labels fingerprint either invalid or resource labels have changed")
    result = run(localgce, labels={"a": "b"})
    assert result.failed
    assert "HTTP 412 conditionNotMet" in result["msg"] and "set labels instance 'web-1'" in result["msg"]


def test_metadata_that_outgrows_the_instance_after_merge_fails_before_any_change(localgce, clean_env, api):
    run(localgce)
    other_writer_sets_metadata(api, "big-1", "x" * 200000)
    other_writer_sets_metadata(api, "big-2", "x" * 200000)
    localgce.clear_requests()
    result = run(localgce, metadata={"big-3": "y" * 200000})
    assert result.failed
    assert "may hold at most 524288 (512 KB)" in result["msg"]
    assert mutating(localgce.requests()) == []


# -- bad input: an error before any API call --------------------------------------------------------
BAD = [
    (dict(name="Web_1"), "name: 'Web_1' is not a valid instance name"),
    (dict(zone="uscentral1"), "zone: 'uscentral1' is not a zone name"),
    (dict(machine_type="E2 small"), "machine_type: 'E2 small' is not a machine type"),
    (dict(machine_type="zones/us-east1-b/machineTypes/e2-small"), "is not a machine type of zone us-central1-a"),
    (dict(metadata={"user-data": "x"}), "metadata.user-data: set the cloud-init document with the user_data option"),
    (dict(metadata={"google-logging-enabled": "false"}), "use the google_logging_enabled option"),
    (dict(metadata={"gce-container-declaration": "spec: {}"}), "gce.cos.cos_container (its migrate option"),
    (dict(metadata={"cos-container-web": "x"}), "keys cos-container-* belong to gce.cos.cos_container"),
    (dict(metadata={"bad key!": "x"}), "metadata.bad key!: a metadata key has 1-128 letters"),
    (dict(metadata={"big": "x" * (256 * 1024 + 1)}), "metadata.big: the value has 262145 bytes"),
    (dict(user_data="x" * 200000, metadata={"a": "y" * 200000, "b": "z" * 200000}), "may hold at most 524288"),
    # COS's cloud-init does not run the packages or mounts modules: the VM would silently skip them.
    (dict(user_data="#cloud-config\npackages: [nginx]\nmounts: [[/dev/sdb, /data]]\nruncmd: [[true]]\n"),
     "user_data has top-level keys that Container-Optimized OS's cloud-init ignores (it does not run their "
     "modules): mounts, packages."),
    (dict(image="cos-stable-121-18867-199-28", image_family="cos-stable"),
     "parameters are mutually exclusive: image|image_family"),
    (dict(scheduling=dict(preemptible=True, provisioning_model="SPOT")), "preemptible and provisioning_model conflict"),
    (dict(scheduling=dict(provisioning_model="SPOT", on_host_maintenance="MIGRATE")), "a Spot VM cannot migrate"),
    (dict(scheduling=dict(preemptible=True, automatic_restart=True)), "cannot restart automatically"),
    (dict(boot_disk=dict(size_gb=0)), "boot_disk.size_gb: 0 is not a possible disk size"),
    (dict(boot_disk=dict(size_gb=5)), "smaller than COS images (10 GB)"),
    (dict(boot_disk=dict(type="pd-fast")), "value of type must be one of: pd-standard"),
    (dict(disks=[dict(name="d"), dict(name="d")]), "disks[1].name: disk 'd' is listed twice"),
    (dict(disks=[dict(name="web-1")]), "disks[0].name: 'web-1' is the boot disk's name"),
    (dict(internal_ip="10.0.0.300"), "internal_ip: '10.0.0.300' is not an IPv4 address"),
    (dict(external_ip="Static IP"), "external_ip: 'Static IP' is not valid"),
    (dict(network_tags=["Web"]), "network_tags: 'Web' is not a valid network tag"),
    (dict(labels={"container-vm": "x"}), "labels.container-vm: this label is set by the module"),
    (dict(labels={"App": "x"}), "labels: key 'App' is not valid"),
    (dict(service_account=dict(email="robot")), "service_account.email: 'robot' is not a service account email"),
    (dict(service_account=dict(email="none", scopes=["cloud-platform"])), "has no scopes"),
    (dict(service_account=dict(scopes=["storage-write"])), "service_account.scopes: 'storage-write' is neither"),
]


@pytest.mark.parametrize("bad, message", BAD, ids=[m[:40] for _b, m in BAD])
def test_bad_input_fails_before_any_api_call(localgce, clean_env, bad, message):
    result = run(localgce, **bad)
    assert result.failed
    assert message in result["msg"], result["msg"]
    assert localgce.requests() == []


def test_all_input_errors_are_reported_at_once(localgce, clean_env):
    result = run(localgce, name="Bad", machine_type="?", network_tags=["X"])
    assert result.failed
    assert result["msg"].count("; ") >= 2
    assert localgce.requests() == []


# -- what cannot change in place --------------------------------------------------------------------
def test_an_instance_of_the_same_name_in_another_zone_is_not_duplicated(localgce, clean_env):
    run(localgce, zone="us-central1-b")
    localgce.clear_requests()
    result = run(localgce, zone="us-central1-a")
    assert result.failed
    assert "zone: instance 'web-1' exists in us-central1-b, not us-central1-a" in result["msg"]
    assert mutating(localgce.requests()) == []


def test_fixed_fields_are_refused_together_with_the_fix(localgce, clean_env, api):
    make_disk(api, "data")
    run(localgce, disks=[dict(name="data")])
    localgce.clear_requests()
    result = run(localgce, internal_ip="10.128.0.99", network="other-net", disks=[dict(name="data", mode="READ_ONLY")],
                 scheduling=dict(preemptible=True), boot_disk=dict(name="other"), image="cos-beta-125-19216-0-84",
                 description="changes in place, but not while something is refused")
    assert result.failed
    msg = result["msg"]
    for field in ("internal_ip:", "network:", "disks[data].mode:", "scheduling.preemptible:", "boot_disk.name:",
                  "image:"):
        assert field in msg, (field, msg)
    assert "cannot change the preemptibility" in msg
    assert mutating(localgce.requests()) == []


def test_changes_needing_a_stop_or_an_unusable_address_fail_before_any_change(localgce, clean_env, api):
    run(localgce)
    localgce.clear_requests()
    result = run(localgce, scheduling=dict(provisioning_model="SPOT"), shielded_vm=dict(vtpm=False, secure_boot=False))
    assert result.failed
    assert result["msg"].startswith("scheduling.provisioning_model, shielded_vm.vtpm: changing "
                                    "scheduling.provisioning_model, shielded_vm.vtpm of instance 'web-1' in "
                                    "us-central1-a needs the VM stopped; set allow_stopping_for_update: true"), result
    result = run(localgce, external_ip="no-such-ip")
    assert result.failed
    assert result["msg"].startswith("external_ip: there is no static address 'no-such-ip' in region us-central1 of "
                                    "project test-project: reserve it first")
    # An address another instance uses is refused before the current address is removed.
    ip = make_address(api, "taken")
    mutate(api, "instances", "insert_unary", 60, doing="create instance 'other'", project=PROJECT, zone=ZONE,
           instance_resource={"name": "other", "machineType": "zones/%s/machineTypes/e2-small" % ZONE,
                              "disks": [{"boot": True, "initializeParams": {
                                  "sourceImage": "projects/cos-cloud/global/images/family/cos-stable"}}],
                              "networkInterfaces": [{"accessConfigs": [{"natIP": ip}]}]})
    localgce.clear_requests()
    result = run(localgce, external_ip=ip)
    assert result.failed
    assert "external_ip: static address %s in region us-central1 is in use by projects/test-project/zones/" \
           "us-central1-a/instances/other" % ip in result["msg"]
    assert mutating(localgce.requests()) == []
    assert nat_ip(stored(localgce)).startswith("34.")


def test_a_boot_disk_never_shrinks(localgce, clean_env):
    run(localgce, boot_disk=dict(size_gb=20))
    result = run(localgce, boot_disk=dict(size_gb=15))
    assert result.failed and "boot_disk.size_gb: instance 'web-1' has 20, wanted 15; a disk can only grow" in result[
        "msg"]


# -- failure mid-way, then repair -----------------------------------------------------------------------
def test_a_failure_on_the_second_change_is_repaired_by_the_next_run(localgce, clean_env):
    run(localgce)
    localgce.fault(method="POST", path=r"/setLabels$", count=1,
                   operation_error={"code": "INTERNAL_ERROR", "message": "injected failure", "http_status": 500})
    opts = dict(metadata={"k": "v"}, labels={"app": "web"}, network_tags=["web"])
    failed = run(localgce, **opts)
    assert failed.failed
    assert "set labels instance 'web-1' in us-central1-a failed: operation" in failed["msg"]
    assert "INTERNAL_ERROR: injected failure" in failed["msg"]
    inst = stored(localgce)
    assert metadata(inst)["k"] == "v" and "app" not in inst.get("labels", {})

    localgce.clear_requests()
    repaired = run(localgce, **opts)
    assert repaired["actions"] == ["set labels of instance 'web-1': add app=web",
                                   "set network tags of instance 'web-1' to [web]"]
    assert stored(localgce)["labels"]["app"] == "web"
    assert run(localgce, **opts)["changed"] is False


def test_a_failed_add_access_config_is_repaired_by_the_next_run(localgce, clean_env, api):
    run(localgce)
    ip = make_address(api, "web-ip")
    localgce.fault(method="POST", path=r"/addAccessConfig$", count=1,
                   operation_error={"code": "INTERNAL_ERROR", "message": "injected failure", "http_status": 500})
    failed = run(localgce, external_ip="web-ip")
    assert failed.failed
    assert "add external IP instance 'web-1' in us-central1-a failed: operation" in failed["msg"]
    # The ephemeral address went (the first call), the static one did not come (the second).
    assert nat_ip(stored(localgce)) is None
    repaired = run(localgce, external_ip=ip)  # the same address, by IP this time
    assert repaired["actions"] == ["add static external IP %s (address 'web-ip') to instance 'web-1'" % ip]
    assert nat_ip(stored(localgce)) == ip
    address = localgce.get_resource("projects/%s/regions/%s/addresses/web-ip" % (PROJECT, REGION))
    assert address["status"] == "IN_USE" and address["users"] == [stored(localgce)["selfLink"]]
    localgce.clear_requests()
    assert run(localgce, external_ip="web-ip")["changed"] is False
    assert mutating(localgce.requests()) == []


def test_a_stale_instance_fingerprint_on_update_is_read_again(localgce, clean_env):
    run(localgce, description="one")
    localgce.fault(method="PUT", path=r"/instances/web-1$", count=1, status=412, reason="conditionNotMet",
                   message="Supplied fingerprint does not match current instance fingerprint.")
    localgce.clear_requests()
    result = run(localgce, description="two")
    assert result["actions"] == ["set description of instance 'web-1' to 'two'"]
    inst_path = "projects/%s/zones/%s/instances/web-1" % (PROJECT, ZONE)
    assert calls(localgce.requests()) == ["GET " + inst_path, "PUT " + inst_path, "GET " + inst_path,
                                          "PUT " + inst_path, "GET " + inst_path]
    assert stored(localgce)["description"] == "two"


def test_a_create_whose_next_step_fails_is_completed_by_the_next_run(localgce, clean_env):
    localgce.fault(method="POST", path=r"/instances/web-1/stop$", count=1, status=400, reason="invalid",
                   message="injected")
    failed = run(localgce, state="stopped")
    assert failed.failed and "stop instance 'web-1' in us-central1-a failed: HTTP 400 invalid: injected" in failed[
        "msg"]
    assert stored(localgce)["status"] == "RUNNING"
    repaired = run(localgce, state="stopped")
    assert repaired["actions"] == ["stop instance 'web-1'"]
    assert stored(localgce)["status"] == "TERMINATED"


def test_a_failed_insert_operation_reports_its_error_and_leaves_nothing(localgce, clean_env):
    localgce.fault(method="POST", path=r"/instances$", count=1,
                   operation_error={"code": "ZONE_RESOURCE_POOL_EXHAUSTED", "message": "no capacity",
                                    "http_status": 503})
    result = run(localgce)
    assert result.failed
    assert "ZONE_RESOURCE_POOL_EXHAUSTED: no capacity" in result["msg"]
    assert stored(localgce) is None
    assert run(localgce)["changed"] is True


# -- states ----------------------------------------------------------------------------------------
def test_absent_respects_deletion_protection(localgce, clean_env):
    run(localgce, deletion_protection=True)
    localgce.clear_requests()
    refused = run(localgce, state="absent")
    assert refused.failed and "deletion protection is on; set deletion_protection: false" in refused["msg"]
    assert mutating(localgce.requests()) == []
    deleted = run(localgce, state="absent", deletion_protection=False)
    assert deleted["actions"] == ["disable deletion protection of instance 'web-1'",
                                  "delete instance 'web-1' in us-central1-a"]
    assert stored(localgce) is None
    # The boot disk went with it (auto-delete), and a second run has nothing to do.
    assert localgce.get_resource("projects/%s/zones/%s/disks/web-1" % (PROJECT, ZONE)) is None
    localgce.clear_requests()
    assert run(localgce, state="absent")["changed"] is False
    assert [r["method"] for r in localgce.requests()] == ["GET"]


def test_restarted_is_a_stop_and_start_and_a_fresh_instance_is_not_restarted(localgce, clean_env):
    created = run(localgce, state="restarted")
    assert len(created["actions"]) == 1 and created["actions"][0].startswith("create ")
    localgce.clear_requests()
    restarted = run(localgce, state="restarted")
    assert restarted["actions"] == ["stop instance 'web-1' (restart)", "start instance 'web-1' (restart)"]
    assert [r["path"].rsplit("/", 1)[-1] for r in mutating(localgce.requests())] == ["stop", "start"]
    assert stored(localgce)["status"] == "RUNNING"


def test_started_waits_for_a_stopping_instance(localgce, clean_env):
    run(localgce)
    inst_path = "projects/%s/zones/%s/instances/web-1" % (PROJECT, ZONE)
    # A guest that takes its time to shut down: the instance stays STOPPING until the test lets it
    # stop, so the module's view does not depend on how fast anything runs.
    with localgce.app.store.lock:
        localgce.app.store.get(inst_path)["status"] = "STOPPING"
    localgce.clear_requests()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        future = pool.submit(run, localgce, state="started")
        # Let it stop once the module has read the instance twice (it waits, reading again), or has ended.
        while calls(localgce.requests()).count("GET " + inst_path) < 2 and not future.done():
            time.sleep(0.1)
        with localgce.app.store.lock:
            localgce.app.store.get(inst_path)["status"] = "TERMINATED"
        result = future.result()
    assert result["actions"] == ["start instance 'web-1'"], result
    assert stored(localgce)["status"] == "RUNNING"
    log = calls(localgce.requests())
    start = log.index("POST %s/start" % inst_path)
    # The start was sent only after reading the instance again until it had stopped.
    assert log[:start].count("GET " + inst_path) >= 3, log


def test_a_user_data_change_on_a_running_vm_says_it_waits_for_the_next_boot_or_restarts_it(localgce, clean_env):
    run(localgce, user_data="#cloud-config\nbootcmd: [[echo, one]]\n")
    checked = run(localgce, check=True, user_data="#cloud-config\nbootcmd: [[echo, two]]\n")
    real = run(localgce, user_data="#cloud-config\nbootcmd: [[echo, two]]\n")
    for result in (checked, real):
        assert result["pending_boot"] is True
        assert any("cloud-init applies it only at the next boot" in w for w in warning_texts(result))
        assert result["diff"]["before"]["user_data"] == ["#cloud-config", "bootcmd: [[echo, one]]"]
        assert result["diff"]["after"]["user_data"] == ["#cloud-config", "bootcmd: [[echo, two]]"]
    localgce.clear_requests()
    restarted = run(localgce, user_data="#cloud-config\nbootcmd: [[echo, three]]\n", restart_for_user_data=True)
    assert restarted["pending_boot"] is False
    assert [r["path"].rsplit("/", 1)[-1] for r in mutating(localgce.requests())] == ["setMetadata", "stop", "start"]
    assert stored(localgce)["status"] == "RUNNING"
    localgce.clear_requests()
    again = run(localgce, user_data="#cloud-config\nbootcmd: [[echo, three]]\n", restart_for_user_data=True)
    assert again["changed"] is False and again["pending_boot"] is False
    assert mutating(localgce.requests()) == []


def test_require_agent_refuses_adding_the_agent_to_a_running_vm_before_any_change(localgce, clean_env):
    from ansible_collections.gce.cos.plugins.module_utils._vm import cloud_config

    run(localgce)
    localgce.clear_requests()
    result = run(localgce, user_data=cloud_config.with_agent(""), require_agent=True)
    assert result.get("failed") and "runs without the cos agent" in result["msg"], result
    assert "set restart_for_user_data: true" in result["msg"]
    assert mutating(localgce.requests()) == []
    # Stopped, the agent starts with the VM: nothing to refuse.
    assert run(localgce, state="stopped", user_data=cloud_config.with_agent(""), require_agent=True)["changed"]
