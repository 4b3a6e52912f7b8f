"""One COS-like VM booted for the module: cloud-init, COS filesystem rules, metadata server,
Secret Manager, a registry image served through a port forward, disks and reset."""

import base64
import json
import os

import pytest

from localgce.vm.machine import VirtualMachine, create_disk
from localgce.vm.testimage import busybox_rootfs_tar, http_get_eventually

NAME, INSTANCE_ID = "vm-test-1", "4242424242"

USER_DATA = """#cloud-config
write_files:
- path: /etc/hello.txt
  content: written by cloud-init
- path: /etc/systemd/system/hello.service
  content: |
    [Unit]
    Description=hello from user-data
    [Service]
    Type=oneshot
    RemainAfterExit=yes
    ExecStart=/bin/sh -c 'cat /proc/sys/kernel/random/boot_id > /run/hello-ran'
runcmd:
- systemctl daemon-reload
- systemctl start hello.service
# COS's cloud-init does not run the mounts module: this entry must not reach /etc/fstab.
mounts:
- [tmpfs, /mnt/disks/from-mounts, tmpfs, "defaults", "0", "0"]
"""


@pytest.fixture(scope="module")
def vm(rootfs, upstream, registry, workdir):
    upstream.instance(NAME, INSTANCE_ID, USER_DATA, **{
        "instance/service-accounts/default/token": json.dumps(
            {"access_token": "tok-123", "expires_in": 3599, "token_type": "Bearer"}),
    })
    upstream.secrets["projects/%s/secrets/db-password" % "proj-1"] = b"hunter2"
    disk = create_disk(os.path.join(workdir, "disks", "data.img"), 1)
    machine = VirtualMachine(os.path.join(workdir, "instances", NAME), rootfs=rootfs)
    try:
        machine.boot(INSTANCE_ID, NAME, disks=[("data", disk)],
                     metadata_url=upstream.guest_url(NAME), secret_url=upstream.url,
                     host_ports=[registry.port], port_forwards=[8080])
        yield machine
    finally:
        machine.destroy()


def sh(vm, script, **kw):
    return vm.exec(["/bin/sh", "-c", script], **kw)


def wait_for_cloud_init(vm):
    result = vm.wait_cloud_init(timeout=120)
    # The GCE datasource read the user-data from the metadata server (nothing seeded from the host).
    assert result["datasource"].startswith("DataSourceGCE"), result


def test_systemd_is_up(vm):
    assert vm.is_up()
    assert vm.system_state() in ("running", "degraded")
    failed = vm.exec(["systemctl", "--failed", "--plain", "--no-legend"]).stdout.strip()
    assert failed == "", failed


def test_cloud_init_applied_user_data(vm):
    wait_for_cloud_init(vm)
    assert vm.exec(["cat", "/etc/hello.txt"], check=True).stdout == "written by cloud-init"
    assert vm.exec(["systemctl", "is-active", "hello.service"]).stdout.strip() == "active"
    assert vm.exec(["cat", "/run/hello-ran"], check=True).stdout.strip() == vm.boot_id()


def test_cloud_init_runs_cos_configuration(vm):
    """COS's module list and distro: keys of modules COS does not run are skipped; `cloud-init
    status` reports done with a recoverable error (exit 2, so `status --wait` never exits 0)."""
    wait_for_cloud_init(vm)
    fstab = vm.exec(["cat", "/etc/fstab"]).stdout
    assert "from-mounts" not in fstab, fstab
    status = vm.exec(["cloud-init", "status"])
    assert status.returncode == 2 and "status: done" in status.stdout, (status.returncode, status.stdout)


def test_cos_filesystem_rules(vm):
    # / is read-only, /var and /home noexec, /var/lib/{docker,cloud,google,toolbox} exec.
    assert sh(vm, "touch /usr/x").returncode != 0
    for path in ("/var/tmp", "/home"):
        r = sh(vm, "cp /bin/true %s/t && %s/t" % (path, path))
        assert r.returncode != 0 and "Permission denied" in r.stderr, (path, r.stderr)
    for path in ("/var/lib/docker", "/var/lib/cloud", "/var/lib/google", "/var/lib/toolbox"):
        r = sh(vm, "cp /bin/true %s/t && %s/t && rm %s/t" % (path, path, path))
        assert r.returncode == 0, (path, r.stderr)
    # A script on a noexec path still runs through bash.
    assert sh(vm, "echo 'echo via-bash' > /var/s.sh && /bin/bash /var/s.sh").stdout.strip() == "via-bash"
    fs = {line.split()[0]: line.split()[1] for line in
          vm.exec(["findmnt", "-rno", "TARGET,FSTYPE"]).stdout.splitlines()}
    assert fs["/mnt/disks"] == "tmpfs"
    assert fs["/tmp"] == "tmpfs"
    assert fs["/etc"] == "overlay"
    assert "/dev/disk/by-id/google-data" in vm.exec(["ls", "/dev/disk/by-id/"]).stdout.split() or \
        vm.exec(["test", "-b", "/dev/disk/by-id/google-data"]).returncode == 0


def test_metadata_server_inside_vm(vm, upstream):
    r = vm.exec(["curl", "-sS", "-H", "Metadata-Flavor: Google",
                 "http://metadata.google.internal/computeMetadata/v1/instance/id"])
    assert r.stdout == INSTANCE_ID, r.stderr
    seen = upstream.requests[-1]
    assert seen[1] == "/_localgce/guest/proj-1/us-central1-a/%s/computeMetadata/v1/instance/id" % NAME
    # Same server at 169.254.169.254, and its answers (status, headers) pass through.
    r = vm.exec(["curl", "-sS", "-i", "http://169.254.169.254/computeMetadata/v1/instance/name"])
    assert r.stdout.startswith("HTTP/1.1 403"), r.stdout
    r = vm.exec(["curl", "-sS", "-i", "-H", "Metadata-Flavor: Google",
                 "http://169.254.169.254/computeMetadata/v1/instance/name"])
    assert "Metadata-Flavor: Google" in r.stdout and r.stdout.endswith(NAME)
    # COS's credential helper fetches the token from the metadata server.
    r = vm.exec(["docker-credential-gcr", "get"], input="https://gcr.io\n", check=True)
    assert json.loads(r.stdout) == {"Username": "oauth2accesstoken", "Secret": "tok-123"}


def test_secret_manager_over_https_inside_vm(vm):
    url = "https://secretmanager.googleapis.com/v1/projects/proj-1/secrets/db-password/versions/latest:access"
    r = vm.exec(["curl", "-sS", "--fail", "-H", "Authorization: Bearer tok-123", url])
    assert r.returncode == 0, r.stderr  # TLS verified against the image's CA bundle
    assert base64.b64decode(json.loads(r.stdout)["payload"]["data"]) == b"hunter2"


def test_registry_image_runs_and_answers_through_port_forward(vm, registry):
    image = "%s/busybox-httpd:1" % registry.address
    env = {"DOCKER_CONFIG": "/var/lib/google/docker"}  # root's home is read-only, as on COS
    r = vm.exec(["docker", "import", "-", image], input=busybox_rootfs_tar("hello from the VM\n"), text=False)
    assert r.returncode == 0, r.stderr
    # COS's credential helpers are on the PATH: without an auths entry, docker login would pick a
    # desktop store that fails on a headless VM (what the role's registry-login writes first).
    vm.exec(["/bin/sh", "-c", "mkdir -p /var/lib/google/docker && cat >/var/lib/google/docker/config.json"],
            input='{"auths": {"%s": {}}}' % registry.address, check=True)
    r = vm.exec(["docker", "login", "-u", registry.user, "--password-stdin", registry.address], input=registry.password,
                env=env)
    assert r.returncode == 0, r.stderr
    assert vm.exec(["docker", "push", image], env=env).returncode == 0
    assert vm.exec(["docker", "rmi", image]).returncode == 0
    r = vm.exec(["docker", "pull", image], env=env)
    assert r.returncode == 0, r.stderr
    r = vm.exec(["docker", "run", "-d", "--name", "web", "-p", "8080:80", image,
                 "/bin/busybox", "httpd", "-f", "-p", "80", "-h", "/www"])
    assert r.returncode == 0, r.stderr
    url = "http://127.0.0.1:%d/index.html" % vm.ports[8080]
    assert http_get_eventually(url) == "hello from the VM\n"


def test_disk_and_var_survive_reset_etc_is_rebuilt(vm, registry):
    dev = "/dev/disk/by-id/google-data"
    r = sh(vm, "mkfs.ext4 -q -m 0 %s && mkdir -p /mnt/disks/data && mount %s /mnt/disks/data && "
               "echo persisted > /mnt/disks/data/file && sync" % (dev, dev))
    assert r.returncode == 0, r.stderr
    sh(vm, "echo keep > /var/lib/google/keep && echo scratch > /etc/scratch")
    boot_before, log_before = vm.boot_id(), vm.serial_output()

    vm.reset()

    assert vm.boot_id() != boot_before
    assert vm.exec(["test", "-e", "/etc/scratch"]).returncode != 0  # /etc is new each boot
    wait_for_cloud_init(vm)  # and cloud-init ran again, rewriting the user-data's files
    assert vm.exec(["cat", "/etc/hello.txt"]).stdout == "written by cloud-init"
    assert vm.exec(["cat", "/run/hello-ran"]).stdout.strip() == vm.boot_id()
    assert vm.exec(["cat", "/var/lib/google/keep"]).stdout == "keep\n"
    assert vm.exec(["test", "-d", "/mnt/disks/data"]).returncode != 0  # /mnt/disks is tmpfs
    r = sh(vm, "mkdir -p /mnt/disks/data && mount %s /mnt/disks/data && cat /mnt/disks/data/file" % dev)
    assert r.stdout == "persisted\n", r.stderr
    # The image pulled before the reset is still in the persistent /var/lib/docker.
    assert vm.exec(["docker", "image", "inspect", "%s/busybox-httpd:1" % registry.address]).returncode == 0
    assert len(vm.serial_output()) > len(log_before)


def test_serial_output_has_boot_and_cloud_init(vm):
    out = vm.serial_output()
    assert "gce-cos simulator: boot 1 of %s" % NAME in out
    assert "gce-cos simulator: boot 2 of %s" % NAME in out
    assert "Cloud-init v." in out and "finished" in out
