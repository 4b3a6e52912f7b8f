"""Build (once) and cache the COS-lookalike root filesystem the simulated VMs boot.

Two cached stages under CACHE_DIR (default /var/cache/gce-cos, env GCE_COS_CACHE):
  base-<hash>/rootfs   debootstrap of the package list (slow: about a minute)
  image-<hash>/rootfs  a copy of the base plus the COS units and config below (seconds)
  image-<hash>/pki     a CA and a TLS cert for *.googleapis.com, so HTTPS to Google APIs
                       inside the VM reaches localgce (the CA is trusted inside the image)
Each hash covers its whole recipe, so changing a unit only rebuilds the cheap stage.
Both stages are built in a temp dir and renamed into place, under a file lock.

    python -m localgce.vm.image build     # prints the rootfs path
    python -m localgce.vm.image prune     # deletes stages of older recipes
    python -m localgce.vm.image schema F  # validates cloud-config F with the image's cloud-init
"""

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from . import require_simulator

CACHE_DIR = os.environ.get("GCE_COS_CACHE", "/var/cache/gce-cos")
SUITE = "bookworm"
# python3-cffi-backend: without it cloud-init's dependencies fail to configure.
# netcat-openbsd: a dependency of the newer cloud-init below that bookworm's does not have.
PACKAGES = (
    "systemd,systemd-sysv,dbus,cloud-init,docker.io,iproute2,curl,e2fsprogs,util-linux,"
    "python3-cffi-backend,iptables,ca-certificates,procps,netcat-openbsd"
)
# COS M129's cloud-init (25.1.4; M125 has 24.4.1), from Debian trixie: bookworm's is 22.4. The
# package is pure Python and its dependencies are all in bookworm, so it replaces bookworm's
# without changing the rest of the image (trixie's systemd 257 would not boot on a cgroup v1 host).
# Pinned by digest; if the mirror drops this revision, the build fails here and names it.
CLOUD_INIT_DEB = ("pool/main/c/cloud-init/cloud-init_25.1.4-1+deb13u1_all.deb",
                  "1b120a44110e7234c9cf9ccde78fb5d5ea1292c94ef0ca70d09a580f72980df3")
# Bump when the base stage's commands change in a way the package list does not show.
BASE_RECIPE_VERSION = "2"

# Files laid into the image: path -> (mode, text). They are part of the image hash.
FILES = {}

# The modules COS's cloud-init runs, per stage. COS ships its own /etc/cloud/cloud.cfg; its text is
# not published, so this list is what is documented to work on COS (write_files, bootcmd, runcmd,
# users: Google's COS cloud-init how-to and FACTS.md section 10) plus the per-boot script and final
# message modules. Every other key (packages, mounts, disk_setup, ...) is skipped, as on COS.
# The collection refuses the keys of the other modules (plugins/module_utils/_vm/cloud_config.py,
# COS_MODULE_KEYS); a unit test keeps the two lists equal.
COS_MODULES = (
    ("cloud_init_modules", ("bootcmd", "write_files", "users_groups")),
    ("cloud_config_modules", ("runcmd",)),
    ("cloud_final_modules", ("scripts_per_once", "scripts_per_boot", "scripts_per_instance", "scripts_user",
                             "final_message")),
)
# Appended to cloud-init's GCE datasource in the image. cloud-init reads no DMI data inside a
# container, so the datasource's platform check ("Google Compute Engine" product name) always
# fails under nspawn: the simulated VM says it is a GCE VM. The local stage's GCE datasource needs
# a DHCP client to reach the metadata server; COS has none, so there it fails and logs a warning
# (which makes `cloud-init status` report a recoverable error and exit 2 when done, as on COS 121+);
# the simulator fails it the same way at once, without waiting for a DHCP lease.
GCE_DATASOURCE_PATCH = """

# ---- gce.cos simulator (localgce/vm/image.py GCE_DATASOURCE_PATCH) ----
def platform_reports_gce():  # noqa: F811
    return True


def _gce_cos_sim_local_get_data(self):
    LOG.warning("No DHCP client found: the GCE local datasource cannot reach the metadata server (as on COS)")
    return False


DataSourceGCELocal._get_data = _gce_cos_sim_local_get_data
"""
GCE_DATASOURCE_FILE = "usr/lib/python3/dist-packages/cloudinit/sources/DataSourceGCE.py"


def _file(path, text, mode=0o644):
    FILES[path] = (mode, text.lstrip("\n"))


_file(
    "/etc/cloud/cloud.cfg.d/90_gce_cos.cfg",
    """
# COS-like cloud-init: user-data comes from the metadata server (the GCE datasource) at every
# boot, under COS's distro and COS's reduced module list (COS_MODULES in localgce/vm/image.py).
datasource_list: [GCE]
locale: false
resize_rootfs: false
growpart: {mode: "off"}
users: []
disable_root: false
ssh_deletekeys: false
preserve_hostname: true
# The simulator sets up the VM's link to the metadata server; no DHCP, no renderer.
network: {config: disabled}
system_info:
  distro: cos
"""
    + "".join("%s:\n%s" % (stage, "".join("  - %s\n" % m for m in mods)) for stage, mods in COS_MODULES),
)
_file(
    "/etc/systemd/journald.conf.d/90-gce-cos.conf",
    """
# The console is the VM's serial port: forward the journal there, as GCE images do.
[Journal]
Storage=persistent
ForwardToConsole=yes
MaxLevelConsole=info
""",
)
_file(
    "/etc/systemd/system.conf.d/90-gce-cos.conf",
    """
# Bound every stop so that power off is quick; containers get a short stop timeout too.
[Manager]
DefaultTimeoutStopSec=15s
""",
)
_file(
    "/etc/docker/daemon.json",
    """
{"shutdown-timeout": 5}
""",
)
_file(
    "/etc/hosts",
    """
127.0.0.1 localhost
::1 localhost ip6-localhost ip6-loopback
# Served by the simulator's relay inside the VM's network namespace.
169.254.169.254 metadata.google.internal metadata
169.254.169.254 secretmanager.googleapis.com
""",
)
_file(
    "/usr/lib/gce-cos/cgroup-rw",
    """
#!/bin/sh
# nspawn mounts the v1 cgroup controllers read-only; dockerd must create cgroups in them.
for d in /sys/fs/cgroup/*; do
    if mountpoint -q "$d"; then
        mount -o remount,bind,rw "$d" || echo "cgroup-rw: cannot remount $d" >&2
    fi
done
# The VM has its own network namespace (given to nspawn by path, so nspawn leaves
# /proc/sys/net read-only): make it writable, as on a VM, for dockerd's ip_forward.
mount --bind /proc/sys/net /proc/sys/net && mount -o remount,bind,rw /proc/sys/net ||
    echo "cgroup-rw: cannot make /proc/sys/net writable" >&2
exit 0
""",
    0o755,
)
_file(
    "/usr/lib/gce-cos/stateful",
    """
#!/bin/sh
# COS: /var and /home are persistent but noexec; these stay exec (own bind mounts first,
# so remounting /var noexec does not reach them).
set -e
for d in docker containerd cloud google toolbox; do
    mkdir -p /var/lib/$d
    mountpoint -q /var/lib/$d || mount --bind /var/lib/$d /var/lib/$d
done
mount -o remount,bind,nosuid,nodev,noexec /var
mkdir -p /home
mount -o remount,bind,nosuid,nodev,noexec /home
# M129: /run and /dev/hugepages are noexec too (/mnt/disks is, from nspawn's --tmpfs).
mount -o remount,nosuid,nodev,noexec /run
if mountpoint -q /dev/hugepages; then mount -o remount,noexec /dev/hugepages; fi
""",
    0o755,
)
_file(
    "/usr/lib/gce-cos/startup-script",
    """
#!/bin/bash
# COS runs the metadata key startup-script at every boot (google-startup-scripts.service).
# /run is noexec, so the script is read by bash, never exec'd from there.
set -u
url=http://metadata.google.internal/computeMetadata/v1/instance/attributes/startup-script
script=/run/google-startup-scripts/startup-script
mkdir -p /run/google-startup-scripts
code=$(curl -s --retry 30 --retry-connrefused --retry-delay 1 -o "$script" -w '%{http_code}' \
    -H 'Metadata-Flavor: Google' "$url") || code=000
if [ "$code" != 200 ]; then
    echo "startup-script: no startup-script in metadata ($code)"
    exit 0
fi
echo "startup-script: running"
bash "$script" 2>&1 | sed -u 's/^/startup-script: /'
rc=${PIPESTATUS[0]}
echo "startup-script: finished with exit status $rc"
""",
    0o755,
)
_file(
    "/etc/systemd/system/google-startup-scripts.service",
    """
[Unit]
Description=Google Compute Engine Startup Scripts (COS simulator)
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/bash /usr/lib/gce-cos/startup-script
StandardOutput=journal+console

[Install]
WantedBy=multi-user.target
""",
)
_file(
    "/etc/systemd/system/gce-cos-cgroup-rw.service",
    """
[Unit]
Description=Make cgroup controllers and /proc/sys/net writable for dockerd (COS simulator)
DefaultDependencies=no
Before=sysinit.target containerd.service docker.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/lib/gce-cos/cgroup-rw

[Install]
WantedBy=sysinit.target
""",
)
_file(
    "/etc/systemd/system/gce-cos-stateful.service",
    """
[Unit]
Description=COS mount rules: /var, /home, /run and /dev/hugepages noexec (COS simulator)
DefaultDependencies=no
After=systemd-remount-fs.service
Before=local-fs.target cloud-init-local.service systemd-journal-flush.service containerd.service docker.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/lib/gce-cos/stateful

[Install]
WantedBy=local-fs.target
""",
)
_file(
    "/etc/systemd/system/gcr-online.target",
    """
[Unit]
Description=Google Container Registry is reachable (gcr.io resolves and answers)
Wants=network-online.target gcr-wait-online.service
After=network-online.target gcr-wait-online.service
""",
)
_file(
    "/etc/systemd/system/gcr-wait-online.service",
    """
[Unit]
Description=Wait for gcr.io to resolve and answer (gcr-online.target)
Wants=network-online.target
After=network-online.target gce-cos-vpc-dns.service

[Service]
Type=oneshot
RemainAfterExit=yes
# As on COS: waits as long as gcr.io does not answer, so gcr-online.target is never reached
# in a VPC without a route or DNS to gcr.io.
TimeoutStartSec=infinity
ExecStart=/usr/lib/gce-cos/wait-gcr
""",
)
_file(
    "/usr/lib/gce-cos/wait-gcr",
    """
#!/bin/sh
# gcr-online.target's condition on COS: gcr.io resolves and answers (any HTTP answer).
n=0
until curl -s -o /dev/null --connect-timeout 5 --max-time 10 https://gcr.io/v2/; do
    n=$((n + 1))
    if [ $((n % 30)) -eq 1 ]; then echo "gcr-wait-online: gcr.io does not resolve or answer yet" >&2; fi
    sleep 1
done
echo "gcr-wait-online: gcr.io answers"
""",
    0o755,
)
# The VPC's DNS for Google's registry: the simulator gives each VM a hosts file (empty when the
# VM's gcr.io is unreachable) that this unit adds to /etc/hosts at every boot.
_file(
    "/etc/systemd/system/gce-cos-vpc-dns.service",
    """
[Unit]
Description=Names the VPC's DNS resolves (COS simulator: gcr.io, unless made unreachable)
DefaultDependencies=no
After=systemd-remount-fs.service
Before=network-online.target network.target gcr-wait-online.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -c 'if [ -s /run/gce-cos/vpc-hosts ]; then cat /run/gce-cos/vpc-hosts >>/etc/hosts; fi'

[Install]
WantedBy=sysinit.target
""",
)
# COS's docker.service runs dockerd with flags of its own (see docs/dev/vm-simulator.md for the
# sources): Debian's unit is given COS's command line, so a daemon.json that repeats a flag's
# setting makes dockerd refuse to start, as on COS.
_file(
    "/etc/systemd/system/docker.service.d/90-cos-flags.conf",
    """
[Service]
EnvironmentFile=-/etc/default/docker
ExecStart=
ExecStart=/usr/sbin/dockerd --registry-mirror=https://mirror.gcr.io --host=fd:// \\
    --containerd=/run/containerd/containerd.sock $DOCKER_OPTS
""",
)
# COS M125 ships docker-credential-helpers. On a headless VM their desktop stores fail; the
# docker CLI picks one (secretservice, or pass when `pass` is installed) when config.json has no
# auths, credHelpers or credsStore. These stand-ins fail as the real helpers do there.
_file(
    "/usr/bin/docker-credential-secretservice",
    """
#!/bin/sh
# Stand-in for docker-credential-secretservice on a headless VM (no D-Bus session, no X11).
case "$1" in
    version) echo "docker-credential-secretservice (gce.cos simulator stand-in)"; exit 0 ;;
esac
cat >/dev/null
echo 'Cannot autolaunch D-Bus without X11 $DISPLAY'
exit 1
""",
    0o755,
)
_file(
    "/usr/bin/docker-credential-pass",
    """
#!/bin/sh
# Stand-in for docker-credential-pass on a VM without an initialised password store.
case "$1" in
    version) echo "docker-credential-pass (gce.cos simulator stand-in)"; exit 0 ;;
esac
cat >/dev/null
echo 'pass not initialized: exit status 1: Error: password store is empty. Try "pass init".'
exit 1
""",
    0o755,
)
_file(
    "/usr/bin/docker-credential-gcr",
    r'''
#!/usr/bin/python3
"""Stand-in for COS's docker-credential-gcr: configure-docker and the `get` helper verb."""
import json
import os
import sys
import urllib.request

DEFAULT = ["gcr.io", "us.gcr.io", "eu.gcr.io", "asia.gcr.io", "marketplace.gcr.io"]
TOKEN = "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token"


def config_path():
    base = os.environ.get("DOCKER_CONFIG") or os.path.join(os.environ.get("HOME", "/root"), ".docker")
    return os.path.join(base, "config.json")


def configure(args):
    regs = DEFAULT
    for a in args:
        if a.startswith("--registries="):
            regs = [r for r in a.split("=", 1)[1].split(",") if r]
    path = config_path()
    try:
        with open(path) as f:
            cfg = json.load(f)
    except FileNotFoundError:
        cfg = {}
    cfg.setdefault("credHelpers", {}).update({r: "gcr" for r in regs})
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(cfg, f, indent=2)
    print("Docker configuration file updated.", file=sys.stderr)


def get():
    sys.stdin.read()
    req = urllib.request.Request(TOKEN, headers={"Metadata-Flavor": "Google"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        token = json.load(resp)["access_token"]
    print(json.dumps({"Username": "oauth2accesstoken", "Secret": token}))


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: docker-credential-gcr configure-docker|get")
    verb, args = sys.argv[1], sys.argv[2:]
    if verb == "configure-docker":
        configure(args)
    elif verb == "get":
        get()
    elif verb in ("store", "erase"):
        sys.stdin.read()
    elif verb == "version":
        print("docker-credential-gcr (gce.cos simulator stand-in)")
    else:
        sys.exit("unknown command %s" % verb)


main()
''',
    0o755,
)

def _shipped(name):
    """A file kept beside this module (a real shell file that shellcheck sees)."""
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), name)) as f:
        return f.read()


# COS's debugging container, configured by /etc/default/toolbox (written by the cos_deploy role).
_file("/usr/bin/toolbox", _shipped("toolbox"), 0o755)

# COS's host firewall (COS installs /usr/share/cloud/iptables-setup and ip6tables-setup, enabled
# in basic.target): INPUT policy DROP for IPv4 and IPv6, at every boot, before cloud-init.
for _family in ("iptables", "ip6tables"):
    _file("/usr/share/cloud/%s-setup" % _family, _shipped("iptables-setup"), 0o755)
    _file(
        "/etc/systemd/system/%s-setup.service" % _family,
        """
[Unit]
Description=Configure %s rules: COS's default-DROP host firewall (COS simulator)
DefaultDependencies=no
Before=basic.target network-pre.target cloud-init-local.service cloud-init.service docker.service
Wants=network-pre.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/share/cloud/%s-setup

[Install]
WantedBy=basic.target
""" % (_family, _family),
    )

# Units to enable, and units that make no sense in the simulated VM.
ENABLE = ("gce-cos-cgroup-rw.service", "gce-cos-stateful.service", "docker.service",
          "google-startup-scripts.service", "iptables-setup.service", "ip6tables-setup.service",
          "gce-cos-vpc-dns.service")
MASK = (
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "e2scrub_all.timer",
    "e2scrub_reap.service",
    "fstrim.timer",
    "systemd-timesyncd.service",
    "getty@tty1.service",
)
# Directories the read-only root must already have, as mount points.
MOUNT_POINTS = ("/mnt/disks", "/var", "/home", "/run/gce-cos")


def _digest(obj):
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]


def base_hash():
    return _digest({"suite": SUITE, "packages": PACKAGES, "version": BASE_RECIPE_VERSION,
                    "cloud_init": CLOUD_INIT_DEB})


def image_hash():
    files = {p: [m, t] for p, (m, t) in FILES.items()}
    return _digest({"base": base_hash(), "files": files, "enable": ENABLE, "mask": MASK, "mp": MOUNT_POINTS,
                    "pki": PKI_VERSION, "cos_modules": COS_MODULES, "gce_ds": GCE_DATASOURCE_PATCH})


def host_mirror():
    """The Debian mirror this host's apt uses (deb822 or one-line sources), so CI uses its own."""
    paths = ["/etc/apt/sources.list"]
    d = "/etc/apt/sources.list.d"
    if os.path.isdir(d):
        paths += [os.path.join(d, n) for n in sorted(os.listdir(d))]
    for path in paths:
        try:
            with open(path) as f:
                text = f.read()
        except OSError:
            continue
        # deb822 stanzas: URIs + Suites naming a plain Debian suite.
        for stanza in re.split(r"\n\s*\n", text):
            uris = re.search(r"^URIs:\s*(\S+)", stanza, re.M)
            suites = re.search(r"^Suites:\s*(.+)$", stanza, re.M)
            if uris and suites and SUITE in suites.group(1).split():
                return uris.group(1)
        for line in text.splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[0] == "deb":
                rest = [p for p in parts[1:] if not p.startswith("[")]
                if len(rest) >= 2 and rest[1] == SUITE:
                    return rest[0]
    return "http://deb.debian.org/debian"


class _Lock:
    def __init__(self, path):
        self.path = path

    def __enter__(self):
        self.fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o644)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


def _run(argv, **kw):
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.splitlines()[-30:])
        raise RuntimeError("%s failed (exit %d):\n%s" % (" ".join(argv[:3]), proc.returncode, tail))
    return proc.stdout


def _build_base(dest, log):
    mirror = host_mirror()
    log("debootstrap %s (%s) from %s" % (SUITE, PACKAGES, mirror))
    _run(["debootstrap", "--variant=minbase", "--include=" + PACKAGES, SUITE, dest, mirror])
    _install_cloud_init(dest, mirror, log)
    _run(["chroot", dest, "apt-get", "clean"])
    shutil.rmtree(os.path.join(dest, "var/lib/apt/lists"), ignore_errors=True)
    os.makedirs(os.path.join(dest, "var/lib/apt/lists/partial"), exist_ok=True)


def _install_cloud_init(dest, mirror, log):
    path, sha256 = CLOUD_INIT_DEB
    url = mirror.rstrip("/") + "/" + path
    deb = os.path.join(dest, "tmp", os.path.basename(path))
    log("cloud-init from %s" % url)
    _run(["curl", "-sSfL", "--retry", "3", "-o", deb, url])
    with open(deb, "rb") as f:
        got = hashlib.sha256(f.read()).hexdigest()
    if got != sha256:
        raise RuntimeError("%s: sha256 %s, expected %s (update CLOUD_INIT_DEB)" % (url, got, sha256))
    _run(["chroot", dest, "dpkg", "-i", "/tmp/" + os.path.basename(path)])
    os.unlink(deb)
    # The old release's cloud-init.service is gone (25.x splits it); drop its dangling link.
    for root, _dirs, files in os.walk(os.path.join(dest, "etc/systemd/system")):
        for name in files:
            link = os.path.join(root, name)
            if name.startswith("cloud") and os.path.islink(link):
                target = os.readlink(link)
                inside = os.path.join(dest if target.startswith("/") else root, target.lstrip("/"))
                if not os.path.exists(inside):
                    os.unlink(link)


PKI_VERSION = "2"
TLS_NAMES = ("secretmanager.googleapis.com", "*.googleapis.com", "metadata.google.internal", "gcr.io")


def _make_pki(pki):
    """A CA (trusted inside the image) and a server cert the relay presents for Google APIs."""
    os.makedirs(pki)
    ca_key, ca_crt = os.path.join(pki, "ca.key"), os.path.join(pki, "ca.crt")
    key, csr, crt = (os.path.join(pki, n) for n in ("server.key", "server.csr", "server.crt"))
    _run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650", "-subj",
          "/CN=gce-cos simulator CA", "-keyout", ca_key, "-out", ca_crt])
    _run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=" + TLS_NAMES[0], "-keyout", key,
          "-out", csr])
    ext = os.path.join(pki, "ext.cnf")
    with open(ext, "w") as f:
        f.write("subjectAltName=" + ",".join("DNS:" + n for n in TLS_NAMES) + "\n")
    _run(["openssl", "x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key, "-CAcreateserial", "-days",
          "3650", "-extfile", ext, "-out", crt])


def _build_image(base, dest, pki, log):
    log("copying base into image stage")
    _run(["cp", "-a", "--reflink=auto", base, dest])
    for path, (mode, text) in FILES.items():
        full = os.path.join(dest, path.lstrip("/"))
        os.makedirs(os.path.dirname(full), exist_ok=True)
        if os.path.islink(full):
            os.unlink(full)
        with open(full, "w") as f:
            f.write(text)
        os.chmod(full, mode)
    for mp in MOUNT_POINTS:
        os.makedirs(os.path.join(dest, mp.lstrip("/")), exist_ok=True)
    with open(os.path.join(dest, GCE_DATASOURCE_FILE), "a") as f:
        f.write(GCE_DATASOURCE_PATCH)
    _make_pki(pki)
    shutil.copy(os.path.join(pki, "ca.crt"), os.path.join(dest, "usr/local/share/ca-certificates/gce-cos-sim.crt"))
    _run(["chroot", dest, "update-ca-certificates"])
    _run(["systemctl", "--root=" + dest, "enable", *ENABLE])
    _run(["systemctl", "--root=" + dest, "mask", *MASK])
    # An empty machine-id: each VM gets its own (from nspawn's --uuid) on first boot.
    with open(os.path.join(dest, "etc/machine-id"), "w"):
        pass
    # /var and /home come from the instance's persistent directories: keep the image's
    # /var content as the template the simulator copies into a new instance.
    os.rename(os.path.join(dest, "var"), os.path.join(dest, "usr/share/gce-cos-var-template"))
    os.makedirs(os.path.join(dest, "var"))


def _stage(name, digest, builder):
    final = os.path.join(CACHE_DIR, "%s-%s" % (name, digest))
    if os.path.isdir(final):
        return final
    with _Lock(os.path.join(CACHE_DIR, ".%s-%s.lock" % (name, digest))):
        if os.path.isdir(final):  # another builder finished while we waited
            return final
        tmp = tempfile.mkdtemp(prefix=".tmp-%s-" % name, dir=CACHE_DIR)
        try:
            builder(tmp)
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return final


def build(log=None):
    """Return the rootfs path of the current recipe, building what is missing."""
    require_simulator()
    log = log or (lambda msg: print(msg, file=sys.stderr))
    os.makedirs(CACHE_DIR, exist_ok=True)
    base = _stage("base", base_hash(), lambda d: _build_base(os.path.join(d, "rootfs"), log))
    image = _stage(
        "image",
        image_hash(),
        lambda d: _build_image(os.path.join(base, "rootfs"), os.path.join(d, "rootfs"), os.path.join(d, "pki"), log),
    )
    return os.path.join(image, "rootfs")


def image_dir(rootfs):
    return os.path.dirname(rootfs)


def is_built():
    return os.path.isdir(os.path.join(CACHE_DIR, "image-%s" % image_hash(), "rootfs"))


def prune(log=print):
    """Delete cached stages of other recipes (only when no VM uses them). Temp dirs of
    builds are left alone: one may be in progress in another process."""
    keep = {"base-" + base_hash(), "image-" + image_hash()}
    if not os.path.isdir(CACHE_DIR):
        return []
    removed = []
    for name in sorted(os.listdir(CACHE_DIR)):
        path = os.path.join(CACHE_DIR, name)
        if os.path.isdir(path) and name not in keep and name.startswith(("base-", "image-")):
            stage = name.split("-")[0]
            with _Lock(os.path.join(CACHE_DIR, ".prune.lock")):
                shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
            log("removed %s (%s stage)" % (path, stage))
    return removed


def cloud_init_version(rootfs):
    return _run(["chroot", rootfs, "cloud-init", "--version"]).split()[-1]


def cloud_init_schema(rootfs, path):
    """Validate a cloud-config file with the image's own cloud-init (``cloud-init schema``).

    The file is bind-mounted into the image's /tmp in a private mount namespace, so the cached
    image is never written. Returns (ok, output)."""
    with tempfile.TemporaryDirectory(prefix="gce-cos-schema-") as tmp:
        shutil.copy(path, os.path.join(tmp, "user-data"))
        script = 'mount --bind "$1" "$2/tmp" && exec chroot "$2" cloud-init schema --config-file /tmp/user-data'
        proc = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", tmp,
                               rootfs], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    return proc.returncode == 0, proc.stdout


def main(argv):
    if len(argv) < 1 or argv[0] not in ("build", "path", "hash", "prune", "schema"):
        print("usage: python -m localgce.vm.image build|path|hash|prune|schema FILE...", file=sys.stderr)
        return 2
    if argv[0] == "schema":
        rootfs = build()
        bad = 0
        for path in argv[1:]:
            ok, out = cloud_init_schema(rootfs, path)
            print("%s: cloud-init %s: %s" % (path, cloud_init_version(rootfs), out.strip()))
            bad += not ok
        return 1 if bad else 0
    if argv[0] == "prune":
        prune()
        return 0
    if argv[0] == "hash":
        print(image_hash())
        return 0
    if argv[0] == "path":
        print(os.path.join(CACHE_DIR, "image-%s" % image_hash(), "rootfs"))
        return 0
    t0 = time.monotonic()
    try:
        path = build()
    except Exception as exc:  # the reason, not a traceback
        print(str(exc) or repr(exc), file=sys.stderr)
        return 1
    print(path)
    print("ready in %.1fs" % (time.monotonic() - t0), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
