"""The role's boot scripts, run by real bash with real tools.

disk-prepare: real blkid, mkfs.ext4 and fsck.ext4 on disk image files (COS_DISK_ALLOW_FILE lets
the script accept a file where a VM has a block device). registry-login: real curl against
localgce's metadata server (the VM token) and Secret Manager, with a stub docker that records
what `docker login` received.
"""

import json
import os
import stat
import subprocess
import time

import pytest
from google.cloud import compute_v1

from localgce.testing import DEFAULT_PROJECT, DEFAULT_ZONE

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FILES = os.path.join(ROOT, "roles", "cos_deploy", "files")
# Shared by the role's disk units and the konlet migration (plugins/module_utils/_vm/disk_units.py).
DISK_PREPARE = os.path.join(ROOT, "plugins", "module_utils", "_agent", "disk-prepare")
REGISTRY_LOGIN = os.path.join(FILES, "registry-login")


def prepare(image, mode="format"):
    env = dict(os.environ, COS_DISK_ALLOW_FILE="1", COS_DISK_WAIT_SECONDS="1")
    return subprocess.run(["bash", DISK_PREPARE, str(image), mode], capture_output=True, text=True, env=env,
                          timeout=120, check=False)


def blank(tmp_path, size_mb=64):
    path = tmp_path / "disk.img"
    with open(path, "wb") as f:
        f.truncate(size_mb * 1024 * 1024)
    return path


def blkid(path, tag):
    return subprocess.run(["blkid", "-p", "-o", "value", "-s", tag, str(path)], capture_output=True, text=True,
                          check=False).stdout.strip()


def test_a_blank_disk_is_formatted_once_and_never_again(tmp_path):
    image = blank(tmp_path)
    first = prepare(image)
    assert first.returncode == 0, first.stderr
    assert "is blank: formatting it as ext4" in first.stderr
    assert blkid(image, "TYPE") == "ext4"
    uuid = blkid(image, "UUID")
    # -m 0: no blocks reserved for root on a data disk.
    dump = subprocess.run(["dumpe2fs", "-h", str(image)], capture_output=True, text=True, check=True).stdout
    assert "Reserved block count:     0" in dump

    second = prepare(image)
    assert second.returncode == 0, second.stderr
    assert "formatting" not in second.stderr and "ext4, checked" in second.stderr
    assert blkid(image, "UUID") == uuid  # same filesystem: not formatted again


def test_another_filesystem_or_a_partition_table_is_never_formatted(tmp_path):
    image = blank(tmp_path)
    subprocess.run(["mkfs.ext2", "-q", str(image)], check=True)
    uuid = blkid(image, "UUID")
    proc = prepare(image)
    assert proc.returncode == 1 and "has a ext2 filesystem, not ext4: refusing to format it" in proc.stderr
    assert blkid(image, "UUID") == uuid

    image.unlink()
    image = blank(tmp_path)
    subprocess.run(["sfdisk", "-q", str(image)], input="label: gpt\n,\n", text=True, check=True)
    proc = prepare(image)
    assert proc.returncode == 1 and "partition table: refusing to format it" in proc.stderr
    assert blkid(image, "TYPE") == ""


def test_format_off_refuses_a_blank_disk(tmp_path):
    image = blank(tmp_path)
    proc = prepare(image, "noformat")
    assert proc.returncode == 1 and "is blank and format is off" in proc.stderr
    assert blkid(image, "TYPE") == ""


def test_a_missing_disk_fails_after_the_wait(tmp_path):
    proc = prepare(tmp_path / "nothing")
    assert proc.returncode == 1 and "no such disk after 1s" in proc.stderr


def test_a_damaged_filesystem_is_repaired_or_refused_by_fsck(tmp_path):
    image = blank(tmp_path)
    assert prepare(image).returncode == 0
    # Mark the filesystem as having errors: fsck -p checks it fully and fixes what it can.
    subprocess.run(["debugfs", "-w", "-R", "ssv state 2", str(image)], capture_output=True, check=True)
    proc = prepare(image)
    assert proc.returncode == 0, proc.stderr
    assert "fsck exit" in proc.stderr
    assert "formatting" not in proc.stderr


IN_PROGRESS = "gce-cos-mkfs"  # the label disk-prepare gives a filesystem until its mkfs has finished


def test_a_finished_format_leaves_no_label(tmp_path):
    image = blank(tmp_path)
    assert prepare(image).returncode == 0
    assert blkid(image, "TYPE") == "ext4" and blkid(image, "LABEL") == ""


def test_a_format_cut_short_by_a_reset_is_formatted_again_not_taken_for_data(tmp_path):
    """A reset during mkfs leaves what the disk had received: here a real mkfs.ext4 under the
    in-progress label, of which only the first 4 MiB (superblock, group descriptors) reached the
    disk. blkid sees ext4 on it; it must be formatted again, not checked and mounted as data."""
    done = tmp_path / "done.img"
    with open(done, "wb") as f:
        f.truncate(64 * 1024 * 1024)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-L", IN_PROGRESS, str(done)], check=True)
    image = blank(tmp_path)
    with open(done, "rb") as src, open(image, "r+b") as dst:
        dst.write(src.read(4 * 1024 * 1024))
    assert blkid(image, "TYPE") == "ext4" and blkid(image, "LABEL") == IN_PROGRESS
    old_uuid = blkid(image, "UUID")

    proc = prepare(image)
    assert proc.returncode == 0, proc.stderr
    assert "format was interrupted (label %s): formatting it again" % IN_PROGRESS in proc.stderr
    assert blkid(image, "TYPE") == "ext4" and blkid(image, "LABEL") == ""
    assert blkid(image, "UUID") != old_uuid
    fsck = subprocess.run(["fsck.ext4", "-n", "-f", str(image)], capture_output=True, text=True, check=False)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    # Empty: only lost+found at the root.
    ls = subprocess.run(["debugfs", "-R", "ls -p /", str(image)], capture_output=True, text=True, check=True)
    assert {line.split("/")[5] for line in ls.stdout.splitlines() if line.count("/") >= 6} == {".", "..", "lost+found"}

    # With format off, the interrupted format is reported, not repaired behind the user's back.
    subprocess.run(["e2label", str(image), IN_PROGRESS], check=True)
    proc = prepare(image, "noformat")
    assert proc.returncode == 1 and "format was interrupted and format is off" in proc.stderr


def test_a_disk_with_data_is_never_taken_for_blank_or_half_formatted(tmp_path):
    """A disk holding files (formatted by an earlier release, no label, or labelled by its user)
    keeps them: it is checked, not formatted."""
    content = tmp_path / "content"
    content.mkdir()
    (content / "orders.db").write_text("row 1\nrow 2\n")
    for label in ("", "mydata"):
        image = blank(tmp_path)
        subprocess.run(["mkfs.ext4", "-q", "-F", "-L", label, "-d", str(content), str(image)], check=True)
        uuid = blkid(image, "UUID")
        proc = prepare(image)
        assert proc.returncode == 0, proc.stderr
        assert "formatting" not in proc.stderr and "ext4, checked" in proc.stderr
        assert blkid(image, "UUID") == uuid and blkid(image, "LABEL") == label
        cat = subprocess.run(["debugfs", "-R", "cat /orders.db", str(image)], capture_output=True, text=True,
                             check=True)
        assert cat.stdout == "row 1\nrow 2\n"
        image.unlink()


@pytest.fixture
def vm(lgce):
    """A localgce instance whose guest metadata server hands out the VM token."""
    name = "login-vm-%d" % int(time.time() * 1000 % 1000000)
    instances = lgce.client(compute_v1.InstancesClient)
    operations = lgce.client(compute_v1.ZoneOperationsClient)
    params = compute_v1.AttachedDiskInitializeParams(source_image="projects/cos-cloud/global/images/family/cos-stable")
    disk = compute_v1.AttachedDisk(boot=True, auto_delete=True, initialize_params=params)
    inst = compute_v1.Instance(
        name=name, machine_type="zones/%s/machineTypes/e2-small" % DEFAULT_ZONE, disks=[disk],
        network_interfaces=[compute_v1.NetworkInterface(network="global/networks/default")],
        service_accounts=[compute_v1.ServiceAccount(email="default",
                                                    scopes=["https://www.googleapis.com/auth/cloud-platform"])])
    op = instances.insert_unary(project=DEFAULT_PROJECT, zone=DEFAULT_ZONE, instance_resource=inst)
    operations.wait(project=DEFAULT_PROJECT, zone=DEFAULT_ZONE, operation=op.name)
    return lgce.guest_url(DEFAULT_PROJECT, DEFAULT_ZONE, name)


STUB_DOCKER = """#!/bin/bash
# Records the arguments and stdin of `docker login`, as the real client would receive them.
printf '%s\\n' "$@" >"$STUB_DIR/args"
cp -- "$DOCKER_CONFIG/config.json" "$STUB_DIR/config-at-login" 2>/dev/null
cat >"$STUB_DIR/stdin"
[[ $(<"$STUB_DIR/stdin") == "$STUB_EXPECT" ]] || { echo "unauthorized: incorrect username or password" >&2; exit 1; }
echo "Login Succeeded"
"""


def login(tmp_path, guest_url, lgce, *args, expect="s3cret pass+/="):
    stub = tmp_path / "docker"
    stub.write_text(STUB_DOCKER)
    stub.chmod(0o755)
    env = dict(os.environ, COS_AGENT_METADATA_URL=guest_url.rstrip("/"), COS_AGENT_SECRETMANAGER_URL=lgce.url,
               COS_AGENT_SECRETS_DIR=str(tmp_path / "run"), COS_AGENT_DOCKER=str(stub), STUB_DIR=str(tmp_path),
               STUB_EXPECT=expect, COS_AGENT_FETCH_TRIES="3", DOCKER_CONFIG=str(tmp_path / "docker-config"))
    return subprocess.run(["bash", REGISTRY_LOGIN, *args], capture_output=True, text=True, env=env, timeout=120,
                          check=False)


def test_registry_login_pipes_the_secret_to_docker_login_and_nowhere_else(tmp_path, vm, lgce):
    secret = "s3cret pass+/="
    lgce.set_secret(DEFAULT_PROJECT, "reg-pass", secret + "\n")  # as `echo pw | gcloud secrets create` stores it
    ref = "projects/%s/secrets/reg-pass/versions/latest" % DEFAULT_PROJECT
    proc = login(tmp_path, vm, lgce, "registry.example.com:5000", "deploy-bot", ref)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "args").read_text().split("\n")[:-1] == [
        "login", "--username", "deploy-bot", "--password-stdin", "--", "registry.example.com:5000"]
    # The trailing newline of the stored value is not part of the password.
    assert (tmp_path / "stdin").read_text() == secret
    assert secret not in proc.stdout + proc.stderr
    assert "logged in as deploy-bot" in proc.stderr
    # Nothing left on the tmpfs, and it is root-only.
    assert os.listdir(tmp_path / "run") == []
    assert stat.S_IMODE(os.stat(tmp_path / "run").st_mode) == 0o700
    access = [r for r in lgce.requests() if r["path"].endswith(":access")]
    assert access and all(r["auth"] for r in access)


@pytest.mark.parametrize("before, after", [
    (None, {"auths": {"registry.example.com:5000": {}}}),
    ({}, {"auths": {"registry.example.com:5000": {}}}),
    ({"auths": {}, "HttpHeaders": {"X": "y"}}, {"auths": {"registry.example.com:5000": {}}, "HttpHeaders": {"X": "y"}}),
    ({"HttpHeaders": {"X": "y"}}, {"auths": {"registry.example.com:5000": {}}, "HttpHeaders": {"X": "y"}}),
    ({"credHelpers": {"gcr.io": "gcr"}}, {"credHelpers": {"gcr.io": "gcr"}}),
    ({"auths": {"other:1": {"auth": "eDp5"}}}, {"auths": {"other:1": {"auth": "eDp5"}}}),
])
def test_registry_login_keeps_docker_off_desktop_credential_stores(tmp_path, vm, lgce, before, after):
    # With docker-credential-helpers on the PATH (COS M125) and no auths, credHelpers or credsStore
    # in config.json, the docker CLI picks secretservice or pass, which fail on a headless VM.
    lgce.set_secret(DEFAULT_PROJECT, "reg-pass3", "s3cret pass+/=")
    if before is not None:
        (tmp_path / "docker-config").mkdir()
        (tmp_path / "docker-config" / "config.json").write_text(json.dumps(before))
    ref = "projects/%s/secrets/reg-pass3/versions/latest" % DEFAULT_PROJECT
    proc = login(tmp_path, vm, lgce, "registry.example.com:5000", "deploy-bot", ref)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "config-at-login").read_text()) == after


def test_registry_login_failures_name_the_registry_and_hide_the_value(tmp_path, vm, lgce):
    ref = "projects/%s/secrets/missing/versions/1" % DEFAULT_PROJECT
    proc = login(tmp_path, vm, lgce, "ghcr.io", "bot", ref)
    assert proc.returncode == 1
    assert "ghcr.io: cannot access %s (HTTP 404)" % ref in proc.stderr

    lgce.set_secret(DEFAULT_PROJECT, "wrong", "not-the-password")
    proc = login(tmp_path, vm, lgce, "ghcr.io", "bot", "projects/%s/secrets/wrong/versions/latest" % DEFAULT_PROJECT)
    assert proc.returncode == 1 and "docker login as bot failed: unauthorized" in proc.stderr
    assert "not-the-password" not in proc.stderr + proc.stdout

    assert "bad Secret Manager reference" in login(tmp_path, vm, lgce, "ghcr.io", "bot", "hunter2").stderr
    assert "bad registry host" in login(tmp_path, vm, lgce, "https://x", "bot", ref).stderr


def test_registry_login_retries_secret_manager_outages(tmp_path, vm, lgce):
    lgce.set_secret(DEFAULT_PROJECT, "reg-pass2", "s3cret pass+/=")
    lgce.fault(method="GET", path=r":access$", count=2, status=503)
    ref = "projects/%s/secrets/reg-pass2/versions/latest" % DEFAULT_PROJECT
    proc = login(tmp_path, vm, lgce, "ghcr.io", "bot", ref)
    assert proc.returncode == 0, proc.stderr
