"""gce.cos.cos_container against localgce: the module runs as a real subprocess.

Instances are made with the real google-cloud-compute client (no dependency on
cos_instance). Metadata writes, idempotency, check mode, diffs, size limits and the
fingerprint race run without an agent (wait: false); test_cos_container_agent.py runs the
real agent, test_cos_container_migrate.py the konlet migration and apply: restart.
"""

import json

import yaml
from ansible_collections.gce.cos.plugins.module_utils._vm import container_unit, vm_contract
from google.cloud import compute_v1
from module_runner import calls, connection, mutating, run_module

PROJECT = "test-project"
ZONE = "us-central1-a"
VM = "vm-1"
PREFIX = "cos-container-"


# -- helpers shared by the cos_container test files ---------------------------------------------

def create_instance(lg, name=VM, metadata=None, disks=(), status="RUNNING"):
    """An instance made with the real client; ``disks`` are (disk name, device name, mode)."""
    instances = lg.client(compute_v1.InstancesClient)
    attached = [compute_v1.AttachedDisk(
        boot=True, auto_delete=True,
        initialize_params=compute_v1.AttachedDiskInitializeParams(
            source_image="projects/cos-cloud/global/images/family/cos-stable"))]
    for disk_name, device, mode in disks:
        disks_client = lg.client(compute_v1.DisksClient)
        wait(lg, disks_client.insert_unary(project=PROJECT, zone=ZONE, disk_resource=compute_v1.Disk(
            name=disk_name, size_gb=10)))
        attached.append(compute_v1.AttachedDisk(
            source="zones/%s/disks/%s" % (ZONE, disk_name), device_name=device, mode=mode))
    inst = compute_v1.Instance(
        name=name,
        machine_type="zones/%s/machineTypes/e2-small" % ZONE,
        disks=attached,
        network_interfaces=[compute_v1.NetworkInterface(network="global/networks/default")],
        service_accounts=[compute_v1.ServiceAccount(
            email="default", scopes=["https://www.googleapis.com/auth/cloud-platform"])],
        metadata=compute_v1.Metadata(items=[compute_v1.Items(key=k, value=v) for k, v in (metadata or {}).items()]),
    )
    wait(lg, instances.insert_unary(project=PROJECT, zone=ZONE, instance_resource=inst))
    if status == "TERMINATED":
        wait(lg, instances.stop_unary(project=PROJECT, zone=ZONE, instance=name))
    lg.clear_requests()
    return name


def wait(lg, op):
    done = lg.client(compute_v1.ZoneOperationsClient).wait(project=PROJECT, zone=ZONE, operation=op.name)
    assert not done.error.errors, done.error


def instance(lg, name=VM):
    return lg.client(compute_v1.InstancesClient).get(project=PROJECT, zone=ZONE, instance=name)


def metadata(lg, name=VM):
    return {i.key: i.value for i in instance(lg, name).metadata.items}


def units_in(user_data):
    """{name: unit text} of the container units a #cloud-config user-data writes."""
    prefix = "%s/%s" % (vm_contract.UNIT_DIR, vm_contract.UNIT_PREFIX)
    out = {}
    for entry in yaml.safe_load(user_data).get("write_files") or []:
        path = entry.get("path", "")
        if path.startswith(prefix) and path.endswith(".service"):
            out[path[len(prefix):-len(".service")]] = entry.get("content", "")
    return out


def set_metadata(lg, items, name=VM):
    """Replace the instance's metadata items (as another writer would)."""
    current = instance(lg, name).metadata
    md = compute_v1.Metadata(fingerprint=current.fingerprint,
                             items=[compute_v1.Items(key=k, value=v) for k, v in items.items()])
    wait(lg, lg.client(compute_v1.InstancesClient).set_metadata_unary(
        project=PROJECT, zone=ZONE, instance=name, metadata_resource=md))


def cos(lg, check=False, diff=True, **args):
    args.setdefault("instance", VM)
    args.setdefault("zone", ZONE)
    return run_module("cos_container", dict(connection(lg), **args), check_mode=check, diff=diff)


def container_keys(md):
    return sorted(k for k in md if k.startswith(PREFIX))


def comparable(result):
    """What check mode must report exactly as the real run does."""
    return {k: result.get(k) for k in ("changed", "actions", "diff", "containers", "container", "restarted", "notes")}


WEB = {"name": "web", "image": "nginx:1.27", "ports": [80], "env": {"MODE": "prod"}}
DB = {"name": "db", "image": "postgres:16", "volumes": [{"host_path": "/var/lib/db", "container_path": "/data"}]}


# -- create, re-run, check mode --------------------------------------------------------------

def test_create_writes_the_unit_and_enables_guest_attributes(localgce):
    create_instance(localgce, metadata={"note": "keep me", "enable-guest-attributes": "FALSE"})
    result = cos(localgce, wait=False, **WEB)

    assert not result.failed, result.get("msg")
    assert result["changed"]
    built = container_unit.build(WEB)
    md = metadata(localgce)
    # The value is the unit byte for byte; its revision is the sha256 prefix of those bytes.
    assert md["cos-container-web"] == built["unit"]
    assert container_unit.revision(md["cos-container-web"]) == result["container"]["revision"] == built["revision"]
    assert md["enable-guest-attributes"] == "TRUE"
    assert md["note"] == "keep me"
    assert result["container"]["action"] == "create"
    assert result["container"]["unit"] == built["unit"]
    assert result["container"]["docker_argv"][:2] == ["docker", "create"]
    assert "nginx:1.27" in result["container"]["docker_argv"]
    # The deprecated name of the result's argv stays until 1.0.0, the same list.
    assert result["container"]["docker_args"] == result["container"]["docker_argv"]
    assert result["actions"] == [
        "set metadata of instance 'vm-1' in us-central1-a: add cos-container-web, change enable-guest-attributes"]
    assert result["diff"] == {"before": {"containers": {}}, "after": {"containers": {"web": built["spec"]}}}
    # One fingerprinted write, and the read before it.
    assert calls(mutating(localgce.requests())) == ["POST projects/test-project/zones/us-central1-a/instances/vm-1/"
                                                    "setMetadata"]


def test_rerun_is_unchanged_and_sends_only_gets(localgce):
    create_instance(localgce)
    assert cos(localgce, wait=False, **WEB)["changed"]
    localgce.clear_requests()

    again = cos(localgce, wait=False, **WEB)

    assert not again["changed"]
    assert again["actions"] == []
    assert again["container"]["action"] == "none"
    assert {r["method"] for r in localgce.requests()} == {"GET"}
    # Spelled differently, meaning the same: same canonical spec, same revision, no change.
    same = dict(WEB, ports=["80/tcp"], env={"MODE": "prod"}, restart_policy="always")
    assert not cos(localgce, wait=False, **same)["changed"]


def test_check_mode_reports_what_the_real_run_does(localgce):
    create_instance(localgce)
    assert cos(localgce, wait=False, **DB)["changed"]
    localgce.clear_requests()
    change = {"containers": [dict(DB, image="postgres:17"), WEB], "exclusive": True}

    checked = cos(localgce, check=True, wait=False, **change)
    assert mutating(localgce.requests()) == []
    real = cos(localgce, wait=False, **change)

    assert checked["changed"] and real["changed"]
    assert comparable(checked) == comparable(real)
    assert [c["action"] for c in real["containers"]] == ["update", "create"]


def test_diff_shows_specs_not_units(localgce):
    create_instance(localgce)
    cos(localgce, wait=False, **WEB)
    result = cos(localgce, wait=False, **dict(WEB, image="nginx:1.28", env={"MODE": "canary"}))

    before, after = result["diff"]["before"]["containers"]["web"], result["diff"]["after"]["containers"]["web"]
    assert (before["image"], after["image"]) == ("nginx:1.27", "nginx:1.28")
    assert (before["env"], after["env"]) == ({"MODE": "prod"}, {"MODE": "canary"})
    assert "[Service]" not in json.dumps(result["diff"])
    assert result["container"]["action"] == "update"
    assert result["container"]["previous_revision"] == container_unit.build(WEB)["revision"]


# -- several containers, update, remove, exclusive -------------------------------------------

def test_update_of_one_container_changes_only_its_key(localgce):
    create_instance(localgce)
    assert cos(localgce, wait=False, containers=[WEB, DB])["changed"]
    first = metadata(localgce)
    assert container_keys(first) == ["cos-container-db", "cos-container-web"]

    result = cos(localgce, wait=False, containers=[WEB, dict(DB, image="postgres:17")])

    second = metadata(localgce)
    assert second["cos-container-web"] == first["cos-container-web"]
    assert second["cos-container-db"] != first["cos-container-db"]
    assert container_unit.recorded_spec(second["cos-container-db"])["image"] == "postgres:17"
    assert result["actions"] == ["set metadata of instance 'vm-1' in us-central1-a: change cos-container-db"]
    assert {c["name"]: c["action"] for c in result["containers"]} == {"web": "none", "db": "update"}


def test_remove_one_container_then_nothing_to_remove(localgce):
    create_instance(localgce)
    cos(localgce, wait=False, containers=[WEB, DB])

    result = cos(localgce, wait=False, name="db", state="absent")
    assert result["changed"]
    assert result["container"]["action"] == "remove"
    assert result["diff"]["after"]["containers"].keys() == {"web"}
    assert container_keys(metadata(localgce)) == ["cos-container-web"]

    localgce.clear_requests()
    again = cos(localgce, wait=False, name="db", state="absent")
    assert not again["changed"] and again["container"]["action"] == "none"
    assert mutating(localgce.requests()) == []


def test_exclusive_sets_the_exact_set_and_keeps_other_keys(localgce):
    create_instance(localgce, metadata={"note": "keep"})
    cos(localgce, wait=False, containers=[WEB, DB])

    # Without exclusive, containers not named are left alone.
    cache = {"name": "cache", "image": "redis:7"}
    assert cos(localgce, wait=False, containers=[cache])["changed"]
    assert container_keys(metadata(localgce)) == ["cos-container-cache", "cos-container-db", "cos-container-web"]

    result = cos(localgce, wait=False, containers=[cache], exclusive=True)
    md = metadata(localgce)
    assert container_keys(md) == ["cos-container-cache"]
    assert md["note"] == "keep"
    assert sorted((c["name"], c["action"]) for c in result["containers"]) == [
        ("cache", "none"), ("db", "remove"), ("web", "remove")]

    # The empty list with exclusive removes everything.
    assert cos(localgce, wait=False, containers=[], exclusive=True)["changed"]
    assert container_keys(metadata(localgce)) == []


# -- errors before any API call ----------------------------------------------------------------

def test_bad_specs_fail_with_field_paths_before_any_request(localgce):
    create_instance(localgce)
    result = cos(localgce, wait=False, containers=[
        WEB,
        {"name": "db", "image": "postgres:16", "volumes": [{"host_path": "/etc/db", "container_path": "/data"}],
         "restart_policy": "Always"},
        {"name": "web", "image": "nginx"},
    ])
    assert result.failed
    msg = result["msg"]
    assert "containers[1].volumes[0].host_path" in msg and "/var, /home or /mnt/disks" in msg
    assert "containers[1].restart_policy" in msg and "lowercase" in msg
    assert "containers[2].name: 'web' is also the name of containers[0]" in msg
    assert localgce.requests() == []

    single = cos(localgce, wait=False, name="Web", image="nginx", memory="1k", cpus=-1)
    assert single.failed
    assert "name:" in single["msg"] and "memory:" in single["msg"] and "cpus:" in single["msg"]
    assert localgce.requests() == []


def test_start_first_that_cannot_work_fails_naming_the_field_before_any_request(localgce):
    create_instance(localgce)
    probe = {"type": "http", "port": 80}
    result = cos(localgce, wait=False, containers=[
        dict(WEB, readiness=probe, order="start-first", network="host"),
        dict(DB, ports=[5432], readiness={"type": "tcp", "port": 5432}, drain=900),
    ])
    assert result.failed
    msg = result["msg"]
    assert 'containers[0].order: "start-first" cannot work with network: host' in msg
    assert "Fix: remove network: host" in msg
    assert "containers[1].drain: 900 is longer than the agent keeps an old revision" in msg
    # Without the agent (apply: restart) nothing would switch the ports: refused too.
    restart = cos(localgce, wait=False, apply="restart", containers=[dict(WEB, readiness=probe)])
    assert restart.failed
    assert 'containers[0].order: "start-first" (the default with ports and a readiness probe) needs the cos agent' \
        in restart["msg"]
    assert localgce.requests() == []


def test_option_conflicts_fail_before_any_request(localgce):
    assert "mutually exclusive" in cos(localgce, name="web", containers=[WEB])["msg"]
    top = cos(localgce, containers=[WEB], image="nginx")
    assert "image: with containers, give the spec fields inside each entry" in top["msg"]
    assert "only name and ports may be given" in cos(localgce, migrate=True, image="nginx")["msg"]
    assert "one of name or containers" in cos(localgce)["msg"]
    assert localgce.requests() == []


def test_a_unit_over_256_kb_is_refused_before_any_request(localgce):
    create_instance(localgce)
    big = dict(WEB, env={"V%d" % i: "x" * 1000 for i in range(270)})
    result = cos(localgce, wait=False, **big)
    assert result.failed
    assert "cos-container-web (unit of container web): the value has" in result["msg"]
    assert "at most 262144 (256 KB)" in result["msg"]
    assert localgce.requests() == []


def test_total_metadata_over_512_kb_is_refused_without_writing(localgce):
    create_instance(localgce, metadata={"blob-a": "a" * 200000, "blob-b": "b" * 200000})
    big = dict(WEB, env={"V%d" % i: "x" * 1000 for i in range(80)})
    result = cos(localgce, wait=False, **big)
    assert result.failed
    assert "would hold" in result["msg"] and "at most 524288 (512 KB)" in result["msg"]
    assert "blob-a (200006 bytes)" in result["msg"] and "cos-container-web (" in result["msg"]
    assert mutating(localgce.requests()) == []


def test_missing_instance_is_a_clear_error(localgce):
    result = cos(localgce, instance="nope", wait=False, **WEB)
    assert result.failed
    assert "instance 'nope' in us-central1-a was not found in project test-project" in result["msg"]
    assert mutating(localgce.requests()) == []


# -- the fingerprint race ---------------------------------------------------------------------

def test_a_concurrent_writer_costs_one_reread_and_keeps_its_change(localgce):
    create_instance(localgce, metadata={"note": "v1"})
    # The next setMetadata is answered 412, as when another writer changed the metadata
    # between the module's read and its write.
    localgce.fault("POST", r"/instances/vm-1/setMetadata$", count=1, status=412, reason="conditionNotMet",
                   message="Supplied fingerprint does not match current metadata fingerprint.")
    localgce.clear_requests()

    result = cos(localgce, wait=False, **WEB)

    assert not result.failed, result.get("msg")
    assert result["changed"]
    log = [(r["method"], r["path"].rsplit("/", 1)[-1], r["status"]) for r in localgce.requests()
           if "/operations/" not in r["path"]]
    assert log == [("GET", "vm-1", 200), ("POST", "setMetadata", 412), ("GET", "vm-1", 200),
                   ("POST", "setMetadata", 200)]
    md = metadata(localgce)
    assert md["note"] == "v1" and md["cos-container-web"] == container_unit.build(WEB)["unit"]


def test_two_412_in_a_row_fail_with_a_rerun_hint(localgce):
    create_instance(localgce)
    localgce.fault("POST", r"/instances/vm-1/setMetadata$", count=2, status=412, reason="conditionNotMet",
                   message="Supplied fingerprint does not match current metadata fingerprint.")
    result = cos(localgce, wait=False, **WEB)
    assert result.failed
    assert "set metadata instance 'vm-1' in us-central1-a failed: HTTP 412 conditionNotMet" in result["msg"]
    assert "re-run the task" in result["msg"]


# -- konlet still present ----------------------------------------------------------------------

def test_a_konlet_declaration_without_migrate_is_refused(localgce):
    create_instance(localgce, metadata={"gce-container-declaration": "spec:\n  containers:\n  - image: nginx\n"})
    result = cos(localgce, wait=False, **WEB)
    assert result.failed
    assert "still has gce-container-declaration" in result["msg"] and "migrate: true" in result["msg"]
    assert mutating(localgce.requests()) == []


# -- warnings ----------------------------------------------------------------------------------

def test_spec_warnings_reach_the_task(localgce):
    create_instance(localgce)
    result = cos(localgce, wait=False, name="api", image="api:1", env={"DB_PASSWORD": "x"}, log_driver="gcplogs")
    text = json.dumps(result.get("warnings"))
    assert "env DB_PASSWORD looks like a secret" in text
    assert "roles/logging.logWriter" in text


def test_secret_env_keeps_references_only(localgce):
    create_instance(localgce)
    ref = "projects/test-project/secrets/db-password/versions/3"
    result = cos(localgce, wait=False, name="api", image="api:1",
                 secret_env={"DB_PASSWORD": "sm://test-project/db-password#3"})
    assert result["container"]["spec"]["secret_env"] == {"DB_PASSWORD": ref}
    assert ref in metadata(localgce)["cos-container-api"]
    assert "--env-file" in result["container"]["docker_argv"]


def test_a_stopped_vm_gets_the_spec_without_waiting(localgce):
    create_instance(localgce, status="TERMINATED")
    result = cos(localgce, wait=True, wait_timeout=5, **WEB)
    assert not result.failed, result.get("msg")
    assert result["changed"]
    assert "not waiting for the agent" in json.dumps(result.get("warnings"))
    assert not [r for r in localgce.requests() if "getGuestAttributes" in r["path"]]
