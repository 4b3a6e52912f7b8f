"""Each example converges through playbooks/deploy.yml; a second run changes nothing.

cos_deploy_wait is false: without the VM simulator no cos agent runs to report the containers
(tests/vm_e2e and the demo wait for real).
"""

import json
import os
import shutil
import subprocess

import pytest
import yaml
from ansible_collections.gce.cos.plugins.filter.cos_cloud_config import MAX_BYTES, SCHEMA_KEYS

from conftest import EXAMPLES, GROUP_EXAMPLES, api_get, example, instance, metadata, mutations, playbook, token_env

NO_WAIT = ("-e", "cos_deploy_wait=false")
SECRET_VALUE = "hunter2-never-in-metadata"


def _vars(name):
    with open(example(name)) as f:
        return yaml.safe_load(f)


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_converges_then_changes_nothing(name, lgce, tmp_path):
    env = token_env(tmp_path, lgce)
    spec = _vars(name)
    for secret in ("ghcr-token", "db-password"):
        lgce.set_secret("my-project", secret, SECRET_VALUE)
    first = playbook(env, "deploy", *NO_WAIT, varfile=example(name))
    assert first.proc.returncode == 0, first
    assert first.changed > 0 and first.failed == 0, first

    inst = instance(lgce, spec["cos_deploy_instance"]["name"])
    assert inst["status"] == "RUNNING"
    md = metadata(inst)
    # Every container is in metadata for the agent, exactly the ones of the example.
    containers = sorted(k[len("cos-container-"):] for k in md if k.startswith("cos-container-"))
    assert containers == sorted(c["name"] for c in spec["cos_deploy_containers"])
    assert md["enable-guest-attributes"] == "TRUE"
    assert md["google-logging-enabled"] == "true"
    assert md["user-data"].startswith("#cloud-config\n")
    # Disks exist and are attached with their device names.
    attached = {d.get("deviceName") for d in inst["disks"] if not d.get("boot")}
    for disk in spec.get("cos_deploy_disks", []):
        assert api_get(lgce, "zones/us-central1-a/disks/" + disk["name"]) is not None
        assert disk.get("device_name", disk["name"]) in attached
    # The firewall rule opens the containers' ports to the instance's tag.
    ports = sorted({str(p) for c in spec["cos_deploy_containers"] for p in c.get("ports", [])})
    rule = api_get(lgce, "global/firewalls/%s-ports" % spec["cos_deploy_instance"]["name"])
    if ports:
        assert sorted(p for a in rule["allowed"] for p in a.get("ports", [])) == ports
        assert rule["targetTags"] == [spec["cos_deploy_instance"]["name"]]
        assert spec["cos_deploy_instance"]["name"] in inst["tags"]["items"]
    else:
        assert rule is None
    check_user_data(spec, md["user-data"], tmp_path)
    check_units(name, md, tmp_path)
    # Secret values never reach the metadata or the output, and the deploy never reads Secret
    # Manager: only the VM does, at boot (the secret exists here, so a read would succeed).
    assert SECRET_VALUE not in json.dumps(md) and SECRET_VALUE not in first.out
    assert not [r for r in lgce.requests() if r["path"].endswith(":access")]

    lgce.clear_requests()
    second = playbook(env, "deploy", *NO_WAIT, varfile=example(name))
    assert second.proc.returncode == 0, second
    assert second.changed == 0, second
    assert mutations(lgce) == []


def check_user_data(spec, text, tmp_path):
    """The document that reached the instance's metadata, checked by the real cloud-init 22.4."""
    assert len(text.encode()) <= MAX_BYTES
    doc = yaml.safe_load(text)
    # cloud-init ignores a misspelled top-level key silently: check them here.
    assert set(doc) <= SCHEMA_KEYS and set(doc) == {"write_files", "runcmd"} | set(
        spec.get("cos_deploy_cloud_config", {}))
    path = tmp_path / "user-data"
    path.write_text(text)
    proc = subprocess.run(["cloud-init", "schema", "--config-file", str(path)], capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Valid cloud-config" in proc.stdout

    # The agent is started last, after every unit the role writes is in place.
    assert doc["runcmd"][-1] == ["systemctl", "restart", "cos-agent.service"]
    files = {f["path"]: f for f in doc["write_files"]}
    assert "/etc/systemd/system/cos-agent.service" in files
    # COS never reaches gcr-online.target in a VPC without a route or DNS to gcr.io: no unit that
    # runcmd starts synchronously (without --no-block) may be ordered after it, or cloud-init hangs.
    started = [c[-1] for c in doc["runcmd"] if isinstance(c, list) and c[:2] in (["systemctl", "start"],
                                                                                 ["systemctl", "restart"])]
    assert "cos-agent.service" in started
    for unit in started:
        text = files.get("/etc/systemd/system/" + unit, {}).get("content", "")
        assert "gcr-online.target" not in text, unit
    # dockerd's settings are merged into COS's daemon.json on the VM, never written over it.
    assert "/etc/docker/daemon.json" not in files
    if spec.get("cos_deploy_docker_daemon", True):
        assert ["/bin/bash", "/var/lib/cos-agent/bin/docker-daemon", "/etc/docker/daemon.cos-deploy.json"] in \
            doc["runcmd"][:-1]
    # docker-credential-gcr is configured for each Google registry an image names, listed or not
    # (examples/artifact-registry.yml lists none).
    google = sorted({c["image"].split("/")[0] for c in spec.get("cos_deploy_containers", [])
                     if c["image"].split("/")[0].endswith((".pkg.dev", "gcr.io"))})
    gcr = files.get("/etc/systemd/system/cos-registry-gcr.service", {}).get("content", "")
    for host in google:
        assert "configure-docker --registries=" in gcr and host in gcr.split("--registries=")[1].split()[0], host
    for login in spec.get("cos_deploy_registries", []):
        if "password_secret" in login:
            # Only the reference travels; the login unit reads the value at boot.
            units = [f["content"] for p, f in files.items() if "cos-registry-login" in p]
            assert any(login["password_secret"] in u for u in units)
    for disk in spec.get("cos_deploy_disks", []):
        unit = files["/etc/systemd/system/mnt-disks-%s.mount" % disk.get("device_name", disk["name"])]["content"]
        assert "Options=discard,defaults" in unit and "Requires=cos-disk-prepare-" in unit


def _fake_root(tmp_path, units):
    root = tmp_path / "root"
    system = root / "etc/systemd/system"
    lib = root / "usr/lib/systemd/system"
    system.mkdir(parents=True)
    lib.mkdir(parents=True)
    for binary in ("usr/bin/docker", "usr/bin/dockerd", "usr/bin/docker-credential-gcr", "bin/bash", "bin/rm",
                   "bin/mkdir", "sbin/resize2fs"):
        path = root / binary
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("#!/bin/sh\nexit 0\n")
        path.chmod(0o755)
    base = {
        "sysinit.target": "[Unit]\nDescription=sysinit\n",
        "basic.target": "[Unit]\nDescription=basic\n",
        "sockets.target": "[Unit]\nDescription=sockets\n",
        "shutdown.target": "[Unit]\nDescription=shutdown\nDefaultDependencies=no\n",
        "umount.target": "[Unit]\nDescription=umount\nDefaultDependencies=no\n",
        "local-fs.target": "[Unit]\nDescription=local-fs\n",
        "local-fs-pre.target": "[Unit]\nDescription=local-fs-pre\n",
        "multi-user.target": "[Unit]\nDescription=multi-user\n",
        "network-online.target": "[Unit]\nDescription=network online\n",
        "gcr-online.target": "[Unit]\nDescription=gcr online (COS)\n",
        "docker.socket": "[Socket]\nListenStream=/run/docker.sock\n",
        "docker.service": "[Service]\nExecStart=/usr/bin/dockerd\n",
    }
    for unit, text in base.items():
        (lib / unit).write_text(text)
    for unit, text in units.items():
        (system / unit).write_text(text)
    return root


def check_units(name, md, tmp_path):
    """The disk, registry and agent units from user-data plus the container units from metadata."""
    tool = shutil.which("systemd-analyze")
    assert tool, "systemd-analyze is needed (apt-get install systemd)"
    doc = yaml.safe_load(md["user-data"])
    units = {os.path.basename(f["path"]): f["content"] for f in doc["write_files"]
             if f["path"].startswith("/etc/systemd/system/")}
    for key, value in md.items():
        if key.startswith("cos-container-"):
            units[key + ".service"] = value
    root = _fake_root(tmp_path, units)
    proc = subprocess.run([tool, "verify", "--root=" + str(root), *sorted(units)], capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0 and proc.stderr == "" and proc.stdout == "", proc.stdout + proc.stderr
    if name == "provisioning":
        # The user's own cloud-config is in the document, before the agent starts.
        own = _vars(name)["cos_deploy_cloud_config"]
        agent_start = doc["runcmd"].index(["systemctl", "restart", "cos-agent.service"])
        assert own["runcmd"][0] in doc["runcmd"][:agent_start]
        assert "/etc/motd-app" in [f["path"] for f in doc["write_files"]]
        assert md["startup-script"].startswith("#!/bin/bash\n")
        assert md["google-monitoring-enabled"] == "true"
        assert md["cos-update-strategy"] == "update_disabled"
        assert "google-logging-use-fluentbit" not in md
    if name == "stateful-db":
        # The container requires the disk's mount unit, which requires the check-and-format unit.
        assert "Requires=mnt-disks-pgdata.mount" in units["cos-container-postgres.service"]
        assert "Requires=cos-disk-prepare-pgdata.service" in units["mnt-disks-pgdata.mount"]




@pytest.mark.parametrize("name", GROUP_EXAMPLES)
def test_group_example_converges_then_changes_nothing_then_tears_down(name, lgce, tmp_path):
    """Each group example through playbooks/deploy-group.yml (not waiting: no cos agent runs here)."""
    env = token_env(tmp_path, lgce)
    spec = _vars(name)
    group = spec["cos_deploy_group_name"]
    where = ("zones/%s" % spec["cos_deploy_group_zone"] if "cos_deploy_group_zone" in spec
             else "regions/%s" % spec["cos_deploy_group_region"])
    first = playbook(env, "deploy-group", "-e", "cos_deploy_group_wait=false", varfile=example(name))
    assert first.proc.returncode == 0, first
    assert first.changed > 0 and first.failed == 0, first
    mig = api_get(lgce, "%s/instanceGroupManagers/%s" % (where, group))
    assert mig["targetSize"] == spec["cos_deploy_group_size"]
    assert len(mig["versions"]) == (2 if "cos_deploy_group_canary" in spec else 1)
    assert sorted(c["name"] for c in spec["cos_deploy_group_containers"]) == sorted(
        k[len("cos-container-"):] for k in mig["allInstancesConfig"]["properties"]["metadata"]
        if k.startswith("cos-container-"))
    assert mig["autoHealingPolicies"][0]["healthCheck"].endswith("/%s-health" % group)

    lgce.clear_requests()
    second = playbook(env, "deploy-group", "-e", "cos_deploy_group_wait=false", varfile=example(name))
    assert second.proc.returncode == 0, second
    assert second.changed == 0, second
    assert mutations(lgce) == []

    down = playbook(env, "teardown-group", varfile=example(name))
    assert down.proc.returncode == 0, down
    assert api_get(lgce, "%s/instanceGroupManagers/%s" % (where, group)) is None
