"""cos_container on VMs without the agent: apply: restart, and the migration off konlet.

Both edit the VM's cloud-init user-data and stop/start the VM; the request log shows the
exact calls. The user-data produced is checked by cloud-init's own schema validator.
"""

import json
import shutil
import subprocess

import pytest
import yaml
from ansible_collections.gce.cos.plugins.module_utils import konlet
from ansible_collections.gce.cos.plugins.module_utils._vm import agent_scripts, cloud_config, container_unit, cos_agent
from module_runner import calls, mutating
from test_cos_container import DB, WEB, cos, create_instance, instance, metadata, units_in

STOP = "POST projects/test-project/zones/us-central1-a/instances/vm-1/stop"
START = "POST projects/test-project/zones/us-central1-a/instances/vm-1/start"
SET_METADATA = "POST projects/test-project/zones/us-central1-a/instances/vm-1/setMetadata"
USER_CLOUD_CONFIG = (
    "#cloud-config\n# the user's own\nwrite_files:\n- path: /var/lib/app/motd\n  content: hello\n"
    "runcmd:\n- [echo, booted]\n"
)

FULL_DECLARATION = """\
spec:
  containers:
  - name: app
    image: gcr.io/my-project/app:1.0
    command: [/bin/app]
    args: [--port, 8080]
    env:
    - name: MODE
      value: prod
    - name: PORT
      value: 8080
    - name: MODE
      value: canary
    securityContext:
      privileged: true
    stdin: true
    tty: true
    volumeMounts:
    - name: host
      mountPath: /host
      readOnly: true
    - name: scratch
      mountPath: /scratch
    - name: pd
      mountPath: /data
    - name: pd2
      mountPath: /archive
      readOnly: true
    unknownField: konlet ignores it
  volumes:
  - name: host
    hostPath:
      path: /var/lib/app
  - name: scratch
    emptyDir:
      medium: Memory
  - name: pd
    gcePersistentDisk:
      pdName: data
      fsType: ext4
  - name: pd2
    gcePersistentDisk:
      pdName: archive
      partition: 1
  restartPolicy: OnFailure
"""
DISKS = [("data-disk", "data", "READ_WRITE"), ("archive-disk", "archive", "READ_ONLY")]


def mutations(lg):
    return [c for c in calls(mutating(lg.requests())) if "/operations/" not in c]


def assert_valid_cloud_config(tmp_path, text):
    if shutil.which("cloud-init") is None:
        pytest.skip("cloud-init is not installed (make deps)")
    path = tmp_path / "user-data.yml"
    path.write_text(text)
    proc = subprocess.run(["cloud-init", "schema", "--config-file", str(path)], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# -- apply: restart -----------------------------------------------------------------------------

def test_apply_restart_writes_units_into_user_data_and_restarts_once(localgce, tmp_path):
    create_instance(localgce, metadata={"user-data": USER_CLOUD_CONFIG})

    checked = cos(localgce, check=True, apply="restart", containers=[WEB, DB])
    assert mutations(localgce) == []
    result = cos(localgce, apply="restart", containers=[WEB, DB])

    assert not result.failed, result.get("msg")
    assert {k: checked[k] for k in ("changed", "actions", "diff", "containers", "restarted")} == {
        k: result[k] for k in ("changed", "actions", "diff", "containers", "restarted")}
    assert result["changed"] and result["restarted"]
    assert mutations(localgce) == [SET_METADATA, STOP, START]
    assert [a.split(" (")[0] for a in result["actions"]] == [
        "set metadata of instance 'vm-1' in us-central1-a: add cos-container-db, add cos-container-web, "
        "change user-data",
        "stop instance 'vm-1' in us-central1-a",
        "start instance 'vm-1' in us-central1-a",
    ]
    md = metadata(localgce)
    # The units in user-data are the metadata values, so a later agent sees the same revisions.
    assert units_in(md["user-data"]) == {
        "web": md["cos-container-web"], "db": md["cos-container-db"]}
    doc = yaml.safe_load(md["user-data"])
    assert doc["write_files"][0] == {"path": "/var/lib/app/motd", "content": "hello"}
    assert doc["runcmd"] == [["echo", "booted"], [
        "/bin/bash", "-c",
        "systemctl daemon-reload && systemctl start --no-block cos-container-db.service cos-container-web.service"]]
    # No agent on this VM: nothing waits on guest attributes, nor enables them.
    assert "enable-guest-attributes" not in md
    assert not [r for r in localgce.requests() if "getGuestAttributes" in r["path"]]
    assert instance(localgce).status == "RUNNING"
    assert_valid_cloud_config(tmp_path, md["user-data"])

    # Same containers again: no write, no restart.
    localgce.clear_requests()
    again = cos(localgce, apply="restart", containers=[WEB, DB])
    assert not again["changed"] and not again["restarted"]
    assert mutations(localgce) == []

    # One container changes: one write, one restart, the other unit untouched.
    localgce.clear_requests()
    db2 = dict(DB, image="postgres:17")
    third = cos(localgce, apply="restart", containers=[WEB, db2])
    assert third["changed"] and mutations(localgce) == [SET_METADATA, STOP, START]
    units = units_in(metadata(localgce)["user-data"])
    assert units["db"] == container_unit.build(db2)["unit"] and units["web"] == md["cos-container-web"]

    # Removing the last containers empties our part of user-data and keeps the user's.
    gone = cos(localgce, apply="restart", containers=[], exclusive=True)
    assert gone["changed"]
    assert yaml.safe_load(metadata(localgce)["user-data"]) == {
        "write_files": [{"path": "/var/lib/app/motd", "content": "hello"}], "runcmd": [["echo", "booted"]]}


def test_apply_restart_with_secrets_brings_the_helper(localgce, tmp_path):
    create_instance(localgce)
    api = {"name": "api", "image": "api:1", "secret_env": {"TOKEN": "sm://test-project/api-token"}}
    result = cos(localgce, apply="restart", **api)
    assert result["changed"]
    doc = yaml.safe_load(metadata(localgce)["user-data"])
    helper = [f for f in doc["write_files"] if f["path"] == cos_agent.FETCH_SECRETS_PATH]
    assert len(helper) == 1 and helper[0]["content"] == cos_agent.FETCH_SECRETS_SCRIPT
    assert_valid_cloud_config(tmp_path, metadata(localgce)["user-data"])


def test_apply_restart_leaves_a_stopped_vm_stopped(localgce):
    create_instance(localgce, status="TERMINATED")
    result = cos(localgce, apply="restart", **WEB)
    assert result["changed"] and not result["restarted"]
    assert mutations(localgce) == [SET_METADATA]
    assert instance(localgce).status == "TERMINATED"
    assert "it was not started" in json.dumps(result["warnings"])


def test_apply_restart_refuses_user_data_that_is_not_cloud_config(localgce):
    create_instance(localgce, metadata={"user-data": "#!/bin/bash\necho hi\n"})
    result = cos(localgce, apply="restart", **WEB)
    assert result.failed
    assert "user-data is a shell script" in result["msg"] and "#cloud-config" in result["msg"]
    assert mutations(localgce) == []


# -- migrate: true --------------------------------------------------------------------------------

def test_migrate_maps_every_konlet_feature_and_restarts_once(localgce, tmp_path):
    create_instance(localgce, metadata={"gce-container-declaration": FULL_DECLARATION, "note": "keep"}, disks=DISKS)
    expected, _ = konlet.convert(FULL_DECLARATION, attached_disks={"data": "READ_WRITE", "archive": "READ_ONLY"})

    checked = cos(localgce, check=True, migrate=True, wait=False)
    assert mutations(localgce) == []
    result = cos(localgce, migrate=True, wait=False)

    assert not result.failed, result.get("msg")
    assert {k: checked[k] for k in ("changed", "actions", "diff", "containers", "notes")} == {
        k: result[k] for k in ("changed", "actions", "diff", "containers", "notes")}
    # Exactly one write and one stop/start.
    assert mutations(localgce) == [SET_METADATA, STOP, START]
    md = metadata(localgce)
    assert "gce-container-declaration" not in md
    assert md["note"] == "keep" and md["enable-guest-attributes"] == "TRUE"
    assert cloud_config.has_agent(md["user-data"])
    assert_valid_cloud_config(tmp_path, md["user-data"])
    spec = container_unit.recorded_spec(md["cos-container-app"])
    assert spec == expected
    # konlet's semantics, field by field.
    assert spec["command"] == ["/bin/app"] and spec["args"] == ["--port", "8080"]
    assert spec["env"] == {"MODE": "canary", "PORT": "8080"}
    assert (spec["privileged"], spec["stdin"], spec["tty"]) == (True, True, True)
    assert spec["restart_policy"] == "on-failure" and spec["max_retries"] is None
    assert spec["log_driver"] == "json-file" and spec["log_opts"] == {"max-file": "3", "max-size": "500m"}
    assert spec["volumes"] == [
        {"type": "disk", "container_path": "/archive", "device_name": "archive", "partition": 1, "sub_path": "",
         "read_only": True},
        {"type": "disk", "container_path": "/data", "device_name": "data", "partition": None, "sub_path": "",
         "read_only": False},
        {"type": "host_path", "container_path": "/host", "host_path": "/var/lib/app", "read_only": True},
        {"type": "tmpfs", "container_path": "/scratch", "size": None},
    ]
    args = result["container"]["docker_argv"]
    assert args[:6] == ["docker", "create", "--name", "app", "--network", "host"]
    assert result["container"]["action"] == "create" and result["restarted"]
    # The diff moves the declaration's spec to a gce.cos container.
    assert result["diff"]["before"] == {"containers": {}, "gce-container-declaration": expected}
    boot = {"host_firewall": "everything konlet opened: ACCEPT for tcp, udp and icmp on INPUT and FORWARD, IPv4 "
                             "and IPv6",
            "disks_mounted": ["archive-part1 at /mnt/disks/archive-part1 (read-only)", "data at /mnt/disks/data"]}
    assert result["diff"]["after"] == {"containers": {"app": expected}, "boot": boot}
    assert result["migration"] == dict(boot, outcome="migrated")
    assert result["actions"][0].endswith(
        "(user-data at every boot: host firewall: everything konlet opened: ACCEPT for tcp, udp and icmp on INPUT "
        "and FORWARD, IPv4 and IPv6; disks mounted: archive-part1 at /mnt/disks/archive-part1 (read-only), data at "
        "/mnt/disks/data)")
    # The user-data prepares and mounts both disks where the unit requires them, and opens the firewall.
    doc = yaml.safe_load(md["user-data"])
    files = {f["path"]: f["content"] for f in doc["write_files"]}
    unit = md["cos-container-app"]
    for mount, device in (("mnt-disks-data.mount", "data"), ("mnt-disks-archive\\x2dpart1.mount", "archive-part1")):
        assert mount in unit.split("Requires=")[1].split("\n")[0]
        assert "What=/dev/disk/by-id/google-%s\n" % device in files["/etc/systemd/system/" + mount]
        assert ["systemctl", "start", mount] in doc["runcmd"]
    # The read-write disk is formatted only when blank and checked (disk-prepare); the one attached read-only
    # can be neither: it is only mounted read-only.
    assert ("ExecStart=/bin/bash /var/lib/cos-agent/bin/disk-prepare /dev/disk/by-id/google-data format\n"
            in files["/etc/systemd/system/cos-disk-prepare-data.service"])
    assert "Requires=cos-disk-prepare-data.service\n" in files["/etc/systemd/system/mnt-disks-data.mount"]
    assert "/etc/systemd/system/cos-disk-prepare-archive-part1.service" not in files
    assert "Options=ro\n" in files["/etc/systemd/system/mnt-disks-archive\\x2dpart1.mount"]
    assert files["/var/lib/cos-agent/bin/disk-prepare"] == agent_scripts.DISK_PREPARE_SCRIPT
    assert [c for c in doc["runcmd"] if konlet.FIREWALL_MARK in " ".join(c)] == \
        konlet.firewall_fragment()["runcmd"]
    # The agent starts last, once the disks are mounted.
    assert doc["runcmd"][-1] == ["systemctl", "restart", "cos-agent.service"]
    notes = "\n".join(result["notes"])
    assert "the host firewall is opened at every boot as konlet opened it" in notes
    assert "/mnt/disks/gce-containers-mounts/gce-persistent-disks/data" in notes
    assert "OnFailure restarts without a limit" in notes

    # Done once: a re-run finds nothing to migrate and changes nothing.
    localgce.clear_requests()
    again = cos(localgce, migrate=True, wait=False)
    assert not again["changed"] and mutations(localgce) == []
    assert "nothing to migrate" in again["notes"][0]


def test_migrate_merges_the_agent_into_existing_cloud_config(localgce, tmp_path):
    declaration = "spec:\n  containers:\n  - name: web\n    image: nginx:1.27\n"
    create_instance(localgce, metadata={"gce-container-declaration": declaration, "user-data": USER_CLOUD_CONFIG})
    result = cos(localgce, migrate=True, name="frontend", wait=False)
    assert not result.failed, result.get("msg")
    md = metadata(localgce)
    assert "cos-container-frontend" in md and result["container"]["name"] == "frontend"
    doc = yaml.safe_load(md["user-data"])
    paths = [f["path"] for f in doc["write_files"]]
    assert paths == ["/var/lib/app/motd", cos_agent.AGENT_PATH, cos_agent.FETCH_SECRETS_PATH, cos_agent.AGENT_UNIT_PATH]
    assert doc["write_files"][1]["content"] == cos_agent.AGENT_SCRIPT
    # No disk here: the user's command, konlet's firewall opening, then the agent.
    assert doc["runcmd"] == [["echo", "booted"], *konlet.firewall_fragment()["runcmd"],
                             *cos_agent.cloud_init_fragment()["runcmd"]]
    assert mutations(localgce) == [SET_METADATA, STOP, START]
    assert_valid_cloud_config(tmp_path, md["user-data"])


def test_migrate_on_a_vm_that_has_the_agent_does_not_restart(localgce):
    declaration = "spec:\n  containers:\n  - name: web\n    image: nginx:1.27\n"
    user_data = cloud_config.with_agent("")
    create_instance(localgce, metadata={"gce-container-declaration": declaration, "user-data": user_data})
    result = cos(localgce, migrate=True, wait=False)
    assert result["changed"] and not result["restarted"]
    assert mutations(localgce) == [SET_METADATA]
    # The firewall opening joins the user-data for the next boots; konlet's own rules last until then.
    assert metadata(localgce)["user-data"] == cloud_config.with_migration(user_data, [konlet.firewall_fragment()])
    warnings = json.dumps(result["warnings"])
    assert "klt-web-" in warnings
    assert "konlet's open firewall stays until the next boot, which makes it again" in warnings


def test_migrate_refuses_user_data_that_is_not_cloud_config(localgce):
    declaration = "spec:\n  containers:\n  - name: web\n    image: nginx:1.27\n"
    create_instance(localgce, metadata={"gce-container-declaration": declaration,
                                        "user-data": "#!/bin/bash\necho hi\n"})
    result = cos(localgce, migrate=True, wait=False)
    assert result.failed
    assert "to carry the cos agent, the disks and the host firewall for the migration" in result["msg"]
    assert "is a shell script" in result["msg"]
    assert mutations(localgce) == []
    assert "gce-container-declaration" in metadata(localgce)


@pytest.mark.parametrize("declaration, reason", [
    ("spec:\n  containers:\n  - name: a\n    image: nginx\n  restartPolicy: UnlessStopped\n",
     "Invalid container declaration: Unsupported container restart policy 'UnlessStopped'"),
    ("spec:\n  containers:\n  - name: a\n    image: nginx\n  - name: b\n    image: nginx\n",
     "Container declaration should include exactly 1 container, 2 found"),
    ("spec:\n  containers:\n  - name: a\n    image: nginx\n    volumeMounts:\n    - name: v\n      mountPath: /v\n"
     "  volumes:\n  - name: v\n    emptyDir: {}\n",
     "Volume v: Unsupported emptyDir volume medium: "),
    ("spec:\n  containers:\n  - name: a\n    image: nginx\n    volumeMounts:\n    - name: v\n      mountPath: /v\n"
     "  volumes:\n  - name: v\n    gcePersistentDisk:\n      pdName: archive\n",
     "Volume v: Volume mount requires read-write access, but the GCE Persistent Disk archive is attached read-only."),
    ("spec:\n  containers:\n  - name: a\n    image: nginx\n    volumeMounts:\n    - name: v\n      mountPath: /v\n"
     "  volumes:\n  - name: v\n    gcePersistentDisk:\n      pdName: missing\n",
     "Could not determine if the GCE Persistent Disk missing is attached read-only or read-write."),
    ("spec: [not, a, mapping]\n", "Cannot parse container declaration: line 1: cannot unmarshal !!seq"),
], ids=["restart-policy", "two-containers", "empty-dir-medium", "read-only-disk", "unattached-disk", "yaml-type"])
def test_migrate_refuses_what_konlet_refuses_with_konlets_reason(localgce, declaration, reason):
    create_instance(localgce, metadata={"gce-container-declaration": declaration}, disks=DISKS[1:])
    result = cos(localgce, migrate=True, wait=False)
    assert result.failed
    assert "konlet itself would refuse its declaration" in result["msg"]
    assert reason in result["msg"]
    assert result["migration"]["outcome"] == "refused"
    assert any(reason in r for r in result["migration"]["reasons"])
    assert mutations(localgce) == []
    assert metadata(localgce)["gce-container-declaration"] == declaration


# What gcloud create-with-container writes for --container-mount-host-path with a writable /tmp, and
# for the classic read-only CA-certificates mount.
GCLOUD_HOST_PATH = """\
# DISCLAIMER:
# This container declaration format is not a public API and may change without
# notice. Please use gcloud command-line tool or Google Cloud Console to run
# Containers on Google Compute Engine.

spec:
  containers:
  - image: nginx:1.27
    name: web
    securityContext:
      privileged: false
    stdin: false
    tty: false
    volumeMounts:
    - mountPath: %(mount)s
      name: host-path-0
      readOnly: %(ro)s
  restartPolicy: Always
  volumes:
  - hostPath:
      path: %(path)s
    name: host-path-0
"""


def test_a_declaration_gce_cos_cannot_convert_is_unsupported_with_its_fix_not_refused(localgce):
    declaration = GCLOUD_HOST_PATH % {"mount": "/scratch", "ro": "false", "path": "/tmp"}
    create_instance(localgce, metadata={"gce-container-declaration": declaration})
    result = cos(localgce, migrate=True, wait=False)
    assert result.failed
    assert "konlet itself would refuse" not in result["msg"]
    assert result["msg"].startswith(
        "migrate: instance 'vm-1' in us-central1-a stays on konlet: konlet runs this gce-container-declaration, "
        "but gce.cos cannot convert it yet: converted spec.volumes[0].host_path: \"/tmp\" is not allowed for a "
        "writable volume")
    assert "readOnly: true on the volumeMount" in result["msg"] and "update-container" in result["msg"]
    assert result["migration"]["outcome"] == "unsupported"
    assert mutations(localgce) == []
    assert metadata(localgce)["gce-container-declaration"] == declaration


def test_a_read_only_system_path_migrates(localgce):
    declaration = GCLOUD_HOST_PATH % {"mount": "/etc/ssl/certs", "ro": "true", "path": "/etc/ssl/certs"}
    create_instance(localgce, metadata={"gce-container-declaration": declaration})
    result = cos(localgce, migrate=True, wait=False)
    assert not result.failed, result.get("msg")
    assert result["container"]["spec"]["volumes"] == [
        {"type": "host_path", "host_path": "/etc/ssl/certs", "container_path": "/etc/ssl/certs", "read_only": True}]
    assert "--volume /etc/ssl/certs:/etc/ssl/certs:ro" in metadata(localgce)["cos-container-web"]


def test_ports_narrow_the_host_firewall_and_check_mode_says_so(localgce, tmp_path):
    declaration = "spec:\n  containers:\n  - name: web\n    image: nginx:1.27\n"
    create_instance(localgce, metadata={"gce-container-declaration": declaration})
    checked = cos(localgce, check=True, migrate=True, ports=[80, "8443/tcp"], wait=False)
    assert mutations(localgce) == []
    result = cos(localgce, migrate=True, ports=[80, "8443/tcp"], wait=False)
    assert not result.failed, result.get("msg")
    assert {k: checked[k] for k in ("changed", "actions", "diff", "notes", "migration")} == {
        k: result[k] for k in ("changed", "actions", "diff", "notes", "migration")}
    opened = "only ports 80/tcp, 8443/tcp, by the container's unit while it runs"
    assert result["migration"]["host_firewall"] == opened
    assert result["diff"]["after"]["boot"]["host_firewall"] == opened
    assert "host firewall: %s" % opened in result["actions"][0]
    assert result["notes"][0].startswith("only ports 80, 8443/tcp are opened on the host firewall")
    md = metadata(localgce)
    assert container_unit.recorded_spec(md["cos-container-web"])["ports"] == ["80/tcp", "8443/tcp"]
    assert "iptables -w -A INPUT -p tcp --dport 8443 -j ACCEPT" in md["cos-container-web"]
    assert konlet.FIREWALL_MARK not in md["user-data"]
    assert_valid_cloud_config(tmp_path, md["user-data"])


def test_bad_ports_with_migrate_fail_before_any_request(localgce):
    declaration = "spec:\n  containers:\n  - {name: a, image: b}\n"
    create_instance(localgce, metadata={"gce-container-declaration": declaration})
    localgce.clear_requests()
    result = cos(localgce, migrate=True, ports=["http"], wait=False)
    assert result.failed and 'ports[0]: "http" is not a port' in result["msg"]
    assert localgce.requests() == []
    result = cos(localgce, migrate=True, image="x", wait=False)
    assert result.failed and "only name and ports may be given with it (got image)" in result["msg"]
