"""gce.cos.cos_disk run as a real module process against localgce.

Each kind of change is run three times from the same starting state: in check mode (must
send no mutating request), for real (must report the same changed/actions/diff), and again
(must report no change, send only GETs, and show the state the diff promised).
"""

import json
import urllib.request

import pytest
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_client import ComputeApi
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_operations import mutate
from module_runner import calls, connection, module_examples, mutating, run_module, run_playbook, warning_texts

PROJECT = "test-project"
ZONE = "us-central1-a"


# -- helpers --------------------------------------------------------------------------------------
@pytest.fixture
def api(localgce, clean_env):
    """The shared client layer, in-process, to set up starting states quickly."""
    from google.oauth2.credentials import Credentials

    return ComputeApi(Credentials(token="t"), PROJECT, api_endpoint=localgce.url, auth_kind="accesstoken")


@pytest.fixture
def disk(localgce, clean_env):
    """disk(check=False, **options): run cos_disk with the connection options filled in."""

    def run(check=False, **options):
        args = dict(connection(localgce), zone=ZONE)
        args.update(options)
        return run_module("cos_disk", args, check_mode=check)

    return run


def make_instance(api, name):
    boot = {"boot": True, "autoDelete": True, "initializeParams": {
        "sourceImage": "projects/cos-cloud/global/images/family/cos-stable"}}
    mutate(api, "instances", "insert_unary", 60, doing="create instance", project=PROJECT, zone=ZONE,
           instance_resource={"name": name, "machineType": "zones/%s/machineTypes/e2-small" % ZONE,
                              "disks": [boot], "networkInterfaces": [{"network": "global/networks/default"}]})


def make_disk(api, name, size=10, **extra):
    body = {"name": name, "sizeGb": str(size)}
    body.update(extra)
    mutate(api, "disks", "insert_unary", 60, doing="create disk", project=PROJECT, zone=ZONE, disk_resource=body)


def attach(api, disk_name, instance, device=None, mode="READ_WRITE"):
    mutate(api, "instances", "attach_disk_unary", 60, doing="attach disk", project=PROJECT, zone=ZONE,
           instance=instance, attached_disk_resource={
               "source": "projects/%s/zones/%s/disks/%s" % (PROJECT, ZONE, disk_name),
               "deviceName": device or disk_name, "mode": mode})


def make_snapshot(localgce, name, size):
    req = urllib.request.Request(
        localgce.url + "/_localgce/snapshots", method="POST",
        data=json.dumps({"project": PROJECT, "name": name, "diskSizeGb": str(size)}).encode(),
        headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req).read()


def stored_disk(localgce, name):
    return localgce.get_resource("projects/%s/zones/%s/disks/%s" % (PROJECT, ZONE, name))


def stored_instance(localgce, name):
    return localgce.get_resource("projects/%s/zones/%s/instances/%s" % (PROJECT, ZONE, name))


def without_status(data):
    return {k: v for k, v in data.items() if k != "status"}


def assert_check_equals_real_then_noop(localgce, disk, options, expect_actions):
    """The contract of every kind of change (see the module docstring)."""
    localgce.clear_requests()
    check = disk(check=True, **options)
    assert not check.failed, check.get("msg")
    assert mutating(localgce.requests()) == [], "check mode must not change anything"

    localgce.clear_requests()
    real = disk(**options)
    assert not real.failed, real.get("msg")
    assert real["changed"] is True
    assert (check["changed"], check["actions"], check["diff"]) == (real["changed"], real["actions"], real["diff"])
    assert len(real["actions"]) == len(expect_actions)
    for action, words in zip(real["actions"], expect_actions, strict=True):
        assert action.startswith(words), (action, words)

    localgce.clear_requests()
    again = disk(**options)
    assert not again.failed, again.get("msg")
    assert again["changed"] is False
    assert again["actions"] == []
    assert {r["method"] for r in localgce.requests()} == {"GET"}, calls(localgce.requests())
    # What the converging run promised is what is there now.
    assert without_status(again["disk"]) == real["diff"]["after"]
    return real


# -- each kind of change ----------------------------------------------------------------------------
def test_create_blank_disk(localgce, disk):
    real = assert_check_equals_real_then_noop(
        localgce, disk, dict(name="data", size_gb=20, type="pd-balanced", labels={"app": "web"},
                             description="web data"),
        ["create disk 'data' in us-central1-a (20 GB pd-balanced)"])
    assert real["diff"]["before"] == {}
    assert real["disk"] == {
        "name": "data", "zone": ZONE, "sizeGb": 20, "type": "pd-balanced", "labels": {"app": "web"},
        "users": [], "description": "web data", "status": "READY",
        "selfLink": "https://www.googleapis.com/compute/v1/projects/%s/zones/%s/disks/data" % (PROJECT, ZONE),
    }
    stored = stored_disk(localgce, "data")
    assert (stored["sizeGb"], stored["labels"], stored["type"].rsplit("/", 1)[-1]) == ("20", {"app": "web"},
                                                                                        "pd-balanced")


def test_create_without_size_gets_the_type_default_size(localgce, disk):
    real = assert_check_equals_real_then_noop(localgce, disk, dict(name="data", type="pd-ssd"),
                                              ["create disk 'data' in us-central1-a (100 GB pd-ssd)"])
    assert real["disk"]["sizeGb"] == 100


def test_create_from_image_family_resolves_the_family_once(localgce, disk):
    options = dict(name="boot-copy", image_family="cos-stable", image_project="cos-cloud")
    real = assert_check_equals_real_then_noop(localgce, disk, options, ["create disk 'boot-copy'"])
    # The family resolved to a concrete image, which the disk records.
    assert real["disk"]["sourceImage"].startswith("projects/cos-cloud/global/images/cos-stable-")
    assert "/family/" not in real["disk"]["sourceImage"]
    # An image family of another project is a different source: refused, never recreated.
    localgce.clear_requests()
    other = disk(name="boot-copy", image_family="cos-stable", image_project="other-project")
    assert other.failed and "cannot be changed in place" in other["msg"] and "other-project" in other["msg"]
    assert mutating(localgce.requests()) == []


def test_create_from_snapshot(localgce, disk):
    make_snapshot(localgce, "nightly", 30)
    real = assert_check_equals_real_then_noop(localgce, disk, dict(name="restored", source_snapshot="nightly"),
                                              ["create disk 'restored' in us-central1-a (30 GB pd-standard from "])
    assert real["disk"]["sourceSnapshot"] == "projects/%s/global/snapshots/nightly" % PROJECT
    assert real["disk"]["sizeGb"] == 30


def test_grow_returns_the_resize_hint(localgce, disk, api):
    make_disk(api, "data", size=10)
    real = assert_check_equals_real_then_noop(localgce, disk, dict(name="data", size_gb=25),
                                              ["grow disk 'data' in us-central1-a from 10 to 25 GB"])
    assert real["diff"]["before"]["sizeGb"] == 10 and real["diff"]["after"]["sizeGb"] == 25
    assert "resize2fs" in real["resize_hint"] and "next mounted" in real["resize_hint"]
    assert any("resize2fs" in w for w in warning_texts(real))
    assert stored_disk(localgce, "data")["sizeGb"] == "25"


def test_labels_are_replaced(localgce, disk, api):
    make_disk(api, "data", labels={"old": "x", "app": "web"})
    real = assert_check_equals_real_then_noop(localgce, disk, dict(name="data", labels={"app": "api"}),
                                              ["set labels of disk 'data'"])
    assert stored_disk(localgce, "data")["labels"] == {"app": "api"}
    assert real["diff"]["before"]["labels"] == {"old": "x", "app": "web"}


def test_labels_are_merged_without_purge(localgce, disk, api):
    make_disk(api, "data", labels={"old": "x"})
    assert_check_equals_real_then_noop(localgce, disk, dict(name="data", labels={"app": "web"}, purge_labels=False),
                                       ["set labels of disk 'data'"])
    assert stored_disk(localgce, "data")["labels"] == {"old": "x", "app": "web"}


def test_labels_all_removed(localgce, disk, api):
    make_disk(api, "data", labels={"old": "x"})
    assert_check_equals_real_then_noop(localgce, disk, dict(name="data", labels={}), ["set labels of disk 'data'"])
    assert not stored_disk(localgce, "data").get("labels")


def test_create_and_attach(localgce, disk, api):
    make_instance(api, "web-1")
    real = assert_check_equals_real_then_noop(
        localgce, disk, dict(name="data", size_gb=10, instance="web-1", device_name="appdata"),
        ["create disk 'data'", "attach disk 'data' in us-central1-a to instance 'web-1' as device 'appdata' "
                               "(READ_WRITE)"])
    assert real["disk"]["users"] == ["web-1"]
    assert real["disk"]["attachment"] == {"instance": "web-1", "deviceName": "appdata", "mode": "READ_WRITE",
                                          "autoDelete": False}
    attached = [d for d in stored_instance(localgce, "web-1")["disks"] if d["source"].endswith("/disks/data")]
    assert [(d["deviceName"], d["mode"], d["autoDelete"]) for d in attached] == [("appdata", "READ_WRITE", False)]


def test_attach_existing_disk_defaults_device_name_to_disk_name(localgce, disk, api):
    make_instance(api, "web-1")
    make_disk(api, "data")
    real = assert_check_equals_real_then_noop(localgce, disk, dict(name="data", instance="web-1", auto_delete=True),
                                              ["attach disk 'data' in us-central1-a to instance 'web-1' as device "
                                               "'data' (READ_WRITE, auto-delete)"])
    assert real["diff"]["before"]["attachment"] == {}
    assert real["diff"]["after"]["attachment"]["autoDelete"] is True


def test_read_only_disk_attaches_to_two_instances(localgce, disk, api):
    make_instance(api, "web-1")
    make_instance(api, "web-2")
    make_disk(api, "assets")
    attach(api, "assets", "web-1", mode="READ_ONLY")
    real = assert_check_equals_real_then_noop(localgce, disk, dict(name="assets", instance="web-2", mode="READ_ONLY"),
                                              ["attach disk 'assets'"])
    assert sorted(real["diff"]["after"]["users"]) == ["web-1", "web-2"]


def test_auto_delete_of_an_attachment_changes_in_place(localgce, disk, api):
    make_instance(api, "web-1")
    make_disk(api, "data")
    attach(api, "data", "web-1")
    assert_check_equals_real_then_noop(localgce, disk, dict(name="data", instance="web-1", auto_delete=True),
                                       ["set auto-delete of disk 'data'"])


def test_detach_from_one_instance(localgce, disk, api):
    make_instance(api, "web-1")
    make_disk(api, "data")
    attach(api, "data", "web-1", device="dev1")
    real = assert_check_equals_real_then_noop(localgce, disk, dict(name="data", instance="web-1", attached=False),
                                              ["detach disk 'data' in us-central1-a (device 'dev1') from instance "
                                               "'web-1'"])
    assert real["diff"]["before"]["users"] == ["web-1"] and real["diff"]["after"]["users"] == []
    assert not stored_disk(localgce, "data").get("users")


def test_detach_from_every_instance(localgce, disk, api):
    make_instance(api, "web-1")
    make_instance(api, "web-2")
    make_disk(api, "assets")
    attach(api, "assets", "web-1", mode="READ_ONLY")
    attach(api, "assets", "web-2", mode="READ_ONLY")
    assert_check_equals_real_then_noop(localgce, disk, dict(name="assets", attached=False),
                                       ["detach disk 'assets' in us-central1-a (device 'assets') from instance "
                                        "'web-1'", "detach disk 'assets' in us-central1-a (device 'assets') from "
                                                   "instance 'web-2'"])


def test_delete(localgce, disk, api):
    make_disk(api, "data")
    real = assert_check_equals_real_then_noop(localgce, disk, dict(name="data", state="absent"),
                                              ["delete disk 'data' in us-central1-a"])
    assert real["diff"]["after"] == {} and real["disk"] == {}
    assert stored_disk(localgce, "data") is None


def test_delete_attached_disk_is_refused_without_force_detach(localgce, disk, api):
    make_instance(api, "web-1")
    make_disk(api, "data")
    attach(api, "data", "web-1")
    localgce.clear_requests()
    refused = disk(name="data", state="absent")
    assert refused.failed
    assert "attached to instance(s) 'web-1'" in refused["msg"] and "force_detach" in refused["msg"]
    assert mutating(localgce.requests()) == []
    assert stored_disk(localgce, "data") is not None


def test_delete_with_force_detach(localgce, disk, api):
    make_instance(api, "web-1")
    make_disk(api, "data")
    attach(api, "data", "web-1", device="d1")
    assert_check_equals_real_then_noop(localgce, disk, dict(name="data", state="absent", force_detach=True),
                                       ["detach disk 'data' in us-central1-a (device 'd1') from instance 'web-1'",
                                        "delete disk 'data'"])
    assert stored_disk(localgce, "data") is None
    assert not [d for d in stored_instance(localgce, "web-1")["disks"] if d["source"].endswith("/disks/data")]


def test_absent_disk_that_does_not_exist_is_no_change(localgce, disk):
    result = disk(name="never", state="absent")
    assert result["changed"] is False and result["disk"] == {}
    assert calls(localgce.requests()) == ["GET projects/%s/zones/%s/disks/never" % (PROJECT, ZONE)]


# -- bad input: refused before any API call ---------------------------------------------------------
@pytest.mark.parametrize("options, words", [
    (dict(name="Data_1"), "name: 'Data_1' is not a valid disk name"),
    (dict(name="-data"), "RFC1035"),
    (dict(name="d" * 64), "RFC1035"),
    (dict(name="data", zone="central"), "zone: 'central' is not a zone name"),
    (dict(name="data", type="pd-fast"), "type"),
    (dict(name="data", size_gb=0), "size_gb: 0 GB is not a possible disk size"),
    (dict(name="data", size_gb=70000), "size_gb: 70000 GB is not a possible disk size"),
    (dict(name="data", size_gb=100, type="pd-extreme"), "outside the limits of disk type pd-extreme (500 to 65536"),
    (dict(name="data", size_gb=40000, type="hyperdisk-throughput"), "hyperdisk-throughput (2048 to 32768"),
    (dict(name="data", source_image="cos", source_snapshot="snap"), "mutually exclusive"),
    (dict(name="data", image_family="cos-stable", source_snapshot="snap"), "mutually exclusive"),
    (dict(name="data", image_project="cos-cloud"), "image_project: is only used with source_image or image_family"),
    (dict(name="data", labels={"App": "web"}), "labels: key 'App' is not valid"),
    (dict(name="data", labels={"app": "Web Server"}), "labels.app: value 'Web Server' is not valid"),
    (dict(name="data", device_name="d"), "device_name"),
    (dict(name="data", instance="Web_1"), "instance: 'Web_1' is not a valid instance name"),
    (dict(name="data", instance="web-1", device_name="a b"), "device_name: 'a b' is not a valid device name"),
    (dict(name="data", instance="web-1", attached=False, mode="READ_ONLY"), "mode: only apply when attaching"),
    (dict(name="data", source_snapshot="Bad_Snap"), "source_snapshot: 'Bad_Snap'"),
])
def test_bad_input_fails_before_any_api_call(localgce, disk, options, words):
    result = disk(**options)
    assert result.failed
    assert words in result["msg"], result["msg"]
    assert "Traceback" not in result["msg"]
    assert localgce.requests() == []


def test_all_errors_are_reported_at_once(localgce, disk):
    result = disk(name="Bad", zone="nowhere", size_gb=-1, labels={"A": "b"})
    assert result.failed
    for words in ("name:", "zone:", "size_gb:", "labels:"):
        assert words in result["msg"]
    assert localgce.requests() == []


# -- refusals found by reading: nothing is changed --------------------------------------------------
def test_shrinking_is_refused_with_both_sizes(localgce, disk, api):
    make_disk(api, "data", size=50)
    localgce.clear_requests()
    result = disk(name="data", size_gb=20)
    assert result.failed
    assert "is 50 GB and cannot shrink to 20 GB" in result["msg"]
    assert mutating(localgce.requests()) == []


@pytest.mark.parametrize("options, words", [
    (dict(type="pd-ssd"), "type is pd-standard, not pd-ssd"),
    (dict(source_snapshot="nightly"), "it was created from nothing (blank), not from snapshot"),
    (dict(source_image="projects/cos-cloud/global/images/cos-stable-121-18867-199-28"), "not from image"),
    (dict(description="other"), "its description is '', not 'other'"),
])
def test_immutable_differences_are_refused_never_recreated(localgce, disk, api, options, words):
    make_disk(api, "data", size=10, type="zones/%s/diskTypes/pd-standard" % ZONE)
    make_snapshot(localgce, "nightly", 10)
    localgce.clear_requests()
    result = disk(name="data", **options)
    assert result.failed
    assert "cannot be changed in place" in result["msg"] and words in result["msg"], result["msg"]
    assert mutating(localgce.requests()) == []
    assert stored_disk(localgce, "data")["sizeGb"] == "10"


def test_disk_type_missing_in_the_zone_is_refused_before_creating(localgce, disk):
    # localgce's zones offer no hyperdisk-throughput (like many real zones).
    result = disk(name="data", type="hyperdisk-throughput", size_gb=2048)
    assert result.failed
    assert "disk type 'hyperdisk-throughput' is not available in zone us-central1-a" in result["msg"]
    assert mutating(localgce.requests()) == []


def test_size_below_the_zone_limit_of_the_type_is_refused(localgce, disk):
    # hyperdisk-balanced: 4 GB is fine by the static table; localgce's zone says 4GB-65536GB too. pd-standard
    # below 10 GB is refused by the table already; the zone's validDiskSize is the second line of defence.
    result = disk(name="data", type="pd-standard", size_gb=5)
    assert result.failed and "pd-standard (10 to 65536 GB)" in result["msg"]
    assert localgce.requests() == []


def test_size_below_the_source_image_is_refused_before_creating(localgce, disk):
    make_snapshot(localgce, "big", 200)
    result = disk(name="data", source_snapshot="big", size_gb=100)
    assert result.failed and "smaller than the source" in result["msg"] and "200 GB" in result["msg"]
    assert mutating(localgce.requests()) == []


def test_missing_source_image_is_refused_before_creating(localgce, disk):
    result = disk(name="data", source_image="no-such-image", image_project="cos-cloud")
    assert result.failed and "not found" in result["msg"]
    assert mutating(localgce.requests()) == []


def test_attach_to_missing_instance_creates_nothing(localgce, disk):
    result = disk(name="data", size_gb=10, instance="ghost")
    assert result.failed
    assert "instance 'ghost' not found in us-central1-a" in result["msg"]
    assert mutating(localgce.requests()) == []
    assert stored_disk(localgce, "data") is None


def test_read_write_disk_in_use_elsewhere_is_refused(localgce, disk, api):
    make_instance(api, "web-1")
    make_instance(api, "web-2")
    make_disk(api, "data")
    attach(api, "data", "web-1")
    localgce.clear_requests()
    result = disk(name="data", instance="web-2", labels={"a": "b"})
    assert result.failed
    assert "attached to instance(s) 'web-1'" in result["msg"] and "READ_WRITE disk attaches to one instance" in (
        result["msg"])
    assert mutating(localgce.requests()) == [], "no step of the plan runs when one step is impossible"


def test_attachment_with_other_device_name_is_refused(localgce, disk, api):
    make_instance(api, "web-1")
    make_disk(api, "data")
    attach(api, "data", "web-1", device="old")
    localgce.clear_requests()
    result = disk(name="data", instance="web-1", device_name="new")
    assert result.failed and "device name 'old', not 'new'" in result["msg"]
    assert mutating(localgce.requests()) == []


def test_device_name_taken_on_the_instance_is_refused(localgce, disk, api):
    make_instance(api, "web-1")
    make_disk(api, "one")
    make_disk(api, "two")
    attach(api, "one", "web-1", device="data")
    localgce.clear_requests()
    result = disk(name="two", instance="web-1", device_name="data")
    assert result.failed and "already has a disk with device name 'data' (one)" in result["msg"]
    assert mutating(localgce.requests()) == []


# -- failures from the API -------------------------------------------------------------------------
def test_failed_operation_fails_with_its_message(localgce, disk):
    localgce.fault(method="POST", path=r"/disks$", operation_error={
        "code": "QUOTA_EXCEEDED", "message": "Quota 'SSD_TOTAL_GB' exceeded. Limit: 500.0 in region us-central1.",
        "http_status": 403})
    result = disk(name="data", size_gb=10, type="pd-ssd")
    assert result.failed
    assert "QUOTA_EXCEEDED" in result["msg"] and "Quota 'SSD_TOTAL_GB' exceeded" in result["msg"]
    assert "create disk 'data' in us-central1-a failed" in result["msg"]


def test_wait_is_bounded_by_wait_timeout(localgce, disk):
    localgce.fault(method="POST", path=r"/disks$", delay=30)
    result = disk(name="data", size_gb=10, wait_timeout=1)
    assert result.failed
    assert "timed out after 1s" in result["msg"] and "wait_timeout" in result["msg"]


def test_failure_mid_way_is_repaired_by_the_next_run(localgce, disk, api):
    make_instance(api, "web-1")
    localgce.fault(method="POST", path=r"/attachDisk$", operation_error={
        "code": "RESOURCE_NOT_READY", "message": "The resource 'web-1' is not ready", "http_status": 400})
    options = dict(name="data", size_gb=10, labels={"app": "web"}, instance="web-1")
    first = disk(**options)
    assert first.failed and "The resource 'web-1' is not ready" in first["msg"]
    assert stored_disk(localgce, "data") is not None, "the create step ran"
    assert not stored_disk(localgce, "data").get("users")

    second = disk(**options)
    assert not second.failed, second.get("msg")
    assert second["changed"] is True
    assert second["actions"] == ["attach disk 'data' in us-central1-a to instance 'web-1' as device 'data' "
                                 "(READ_WRITE)"]
    localgce.clear_requests()
    third = disk(**options)
    assert third["changed"] is False and {r["method"] for r in localgce.requests()} == {"GET"}


def test_grow_then_labels_failure_is_repaired(localgce, disk, api):
    make_disk(api, "data", size=10)
    localgce.fault(method="POST", path=r"/setLabels$", status=400, reason="invalid", message="Injected failure")
    options = dict(name="data", size_gb=20, labels={"tier": "gold"})
    first = disk(**options)
    assert first.failed and "set labels of disk 'data'" in first["msg"] and "Injected failure" in first["msg"]
    assert stored_disk(localgce, "data")["sizeGb"] == "20"
    second = disk(**options)
    assert second["changed"] is True and [a.split(" to ")[0] for a in second["actions"]] == [
        "set labels of disk 'data' in us-central1-a"]


def test_stale_label_fingerprint_is_retried_once_with_a_fresh_read(localgce, disk, api):
    make_disk(api, "data", labels={"a": "1"})
    # Someone else's write between our read and our setLabels: the API answers 412 once.
    localgce.fault(method="POST", path=r"/setLabels$", status=412, reason="conditionNotMet",
                   message="Labels fingerprint either invalid or resource labels have changed")
    result = disk(name="data", labels={"a": "2"})
    assert not result.failed, result.get("msg")
    assert stored_disk(localgce, "data")["labels"] == {"a": "2"}
    set_labels = [r for r in localgce.requests() if r["path"].endswith("/setLabels")]
    assert [r["status"] for r in set_labels] == [412, 200]


def test_two_stale_fingerprints_fail_clearly(localgce, disk, api):
    make_disk(api, "data", labels={"a": "1"})
    localgce.fault(method="POST", path=r"/setLabels$", status=412, reason="conditionNotMet", count=2)
    result = disk(name="data", labels={"a": "2"})
    assert result.failed and "HTTP 412" in result["msg"] and "re-run" in result["msg"]


# -- the documentation's examples run ---------------------------------------------------------------
def test_examples_run_against_localgce(localgce, api, tmp_path, clean_env):
    make_instance(api, "web-1")
    make_snapshot(localgce, "web-data-nightly", 20)
    tasks = module_examples("cos_disk")
    assert len(tasks) >= 4
    proc = run_playbook(localgce, tasks, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "failed=0" in proc.stdout
    # The last example deleted the disk the first one made.
    assert stored_disk(localgce, "web-data") is None
    assert stored_disk(localgce, "web-data-restore") is not None
