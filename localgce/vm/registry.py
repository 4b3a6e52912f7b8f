"""Container registries on host loopback for simulated VMs, and the test images in them.

    reg = Registry(workdir, auth=("tester", "pw"))       # real docker-registry (Debian package)
    reg.address                                           # "127.0.0.1:PORT", same name inside VMs
    digest = push_image(reg, "web", "v1", rootfs_tar)     # -> "sha256:..." (the manifest digest)
    reg.close()

A VM reaches ``reg.port`` at 127.0.0.1 through its relay (``host_ports``), so an image name
like ``127.0.0.1:PORT/web:v1`` is the same on the host and in every VM; docker pulls from a
loopback registry over plain HTTP without any daemon setting.

Images are pushed with the registry's HTTP API (Docker Registry v2, image manifest schema 2):
a gzipped rootfs layer and an image config. That is what ``docker import`` + ``docker push``
send, without running a docker daemon on the host (no host bridge, iptables or data root to
clean up). The layer is built deterministically (fixed mtimes, gzip mtime 0), so the same
content always has the same digest, and is cached under ``GCE_COS_CACHE/test-images``.
"""

import base64
import gzip
import hashlib
import io
import json
import os
import random
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

from . import reap, testimage

MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
CONFIG_V1 = "application/vnd.docker.container.image.v1+json"
LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent():
    # SIGTERM when the starting thread's process dies (even by SIGKILL), so a killed
    # localgce leaves no registry behind. Linux prctl(PR_SET_PDEATHSIG).
    import ctypes
    import signal

    ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM), 0, 0, 0)


class RegistryError(RuntimeError):
    pass


class Registry:
    """A docker-registry process on 127.0.0.1, optionally with htpasswd auth (user, password)."""

    def __init__(self, workdir=None, auth=None, name="registry"):
        if shutil.which("docker-registry") is None:
            raise RegistryError("docker-registry not installed (Debian package docker-registry)")
        self.name = name
        self.auth = auth
        self._own_dir = workdir is None
        self.dir = workdir or tempfile.mkdtemp(prefix="gce-cos-registry-")
        os.makedirs(self.dir, exist_ok=True)
        self.port = _free_port()
        self.address = "127.0.0.1:%d" % self.port
        auth_cfg = ""
        if auth:
            if shutil.which("htpasswd") is None:
                raise RegistryError("htpasswd not installed (Debian package apache2-utils)")
            htpasswd = os.path.join(self.dir, "htpasswd")
            line = subprocess.run(["htpasswd", "-Bbn", auth[0], auth[1]], capture_output=True, text=True,
                                  check=True).stdout
            with open(htpasswd, "w") as f:
                f.write(line)
            auth_cfg = "auth:\n  htpasswd:\n    realm: gce-cos-%s\n    path: %s\n" % (name, htpasswd)
        cfg = os.path.join(self.dir, "config.yml")
        with open(cfg, "w") as f:
            f.write("version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n"
                    "storage:\n  filesystem:\n    rootdirectory: %s/data\n  delete:\n    enabled: true\n"
                    "http:\n  addr: %s\n%s" % (self.dir, self.address, auth_cfg))
        self.log_path = os.path.join(self.dir, "registry.log")
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(["docker-registry", "serve", cfg], stdout=log, stderr=log,
                                         stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        for _ in range(600):  # bounded by count: it listens within a fraction of a second
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.05)
        self.close()
        raise RegistryError("docker-registry did not start: %s" % self._log_tail())

    def _log_tail(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-2000:]
        except OSError:
            return ""

    @property
    def url(self):
        return "http://" + self.address

    def image(self, repo, tag):
        return "%s/%s:%s" % (self.address, repo, tag)

    def request(self, method, path, data=None, headers=None, auth=True):
        """One HTTP request to the registry API; returns (status, headers, body)."""
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=dict(headers or {}))
        if auth and self.auth:
            token = base64.b64encode(("%s:%s" % self.auth).encode()).decode()
            req.add_header("Authorization", "Basic " + token)
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers, exc.read()

    def describe(self):
        out = {"address": self.address, "pid": self.proc.pid, "auth": bool(self.auth)}
        if self.auth:
            out["username"] = self.auth[0]
        return out

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            reap(self.proc)
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)


# ----- images -----------------------------------------------------------------------------

def _cache_dir():
    return os.path.join(os.environ.get("GCE_COS_CACHE", "/var/cache/gce-cos"), "test-images")


def gzip_layer(rootfs_tar):
    """(gzipped layer bytes, diff_id) for a rootfs tar; cached by content."""
    diff_id = "sha256:" + hashlib.sha256(rootfs_tar).hexdigest()
    path = os.path.join(_cache_dir(), diff_id[7:] + ".tar.gz")
    try:
        with open(path, "rb") as f:
            return f.read(), diff_id
    except OSError:
        pass
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz:  # mtime 0: same bytes every build
        gz.write(rootfs_tar)
    data = buf.getvalue()
    try:
        os.makedirs(_cache_dir(), exist_ok=True)
        tmp = path + ".%d.tmp" % os.getpid()
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError:
        pass  # a cache we cannot write is only slower
    return data, diff_id


def _upload_blob(reg, repo, data):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    status, _h, _b = reg.request("HEAD", "/v2/%s/blobs/%s" % (repo, digest))
    if status == 200:
        return digest
    status, headers, body = reg.request("POST", "/v2/%s/blobs/uploads/" % repo, data=b"")
    if status != 202:
        raise RegistryError("blob upload to %s/%s refused: HTTP %s %s" % (reg.address, repo, status, body[:300]))
    location = headers["Location"]
    if location.startswith("http"):
        location = location.split(reg.address, 1)[1]
    sep = "&" if "?" in location else "?"
    status, _h, body = reg.request("PUT", "%s%sdigest=%s" % (location, sep, digest), data=data,
                                   headers={"Content-Type": "application/octet-stream"})
    if status != 201:
        raise RegistryError("blob upload to %s/%s failed: HTTP %s %s" % (reg.address, repo, status, body[:300]))
    return digest


def push_image(reg, repo, tag, rootfs_tar, cmd=None, entrypoint=None, env=None):
    """Push a one-layer image built from a rootfs tar; returns the manifest digest.

    This is the image `docker import` makes of the tar (plus Cmd/Entrypoint/Env), as
    `docker push` would upload it."""
    layer, diff_id = gzip_layer(rootfs_tar)
    config = {
        "architecture": "amd64", "os": "linux", "created": "2026-01-01T00:00:00Z",
        "config": {"Cmd": cmd, "Entrypoint": entrypoint, "Env": env or ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": "2026-01-01T00:00:00Z", "created_by": "gce.cos test image (busybox-static)"}],
    }
    config_bytes = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    layer_digest = _upload_blob(reg, repo, layer)
    config_digest = _upload_blob(reg, repo, config_bytes)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": MANIFEST_V2,
        "config": {"mediaType": CONFIG_V1, "size": len(config_bytes), "digest": config_digest},
        "layers": [{"mediaType": LAYER_GZIP, "size": len(layer), "digest": layer_digest}],
    }, indent=3).encode()
    status, headers, body = reg.request("PUT", "/v2/%s/manifests/%s" % (repo, tag), data=manifest,
                                        headers={"Content-Type": MANIFEST_V2})
    if status != 201:
        raise RegistryError("manifest push %s/%s:%s failed: HTTP %s %s" % (reg.address, repo, tag, status, body[:300]))
    return headers.get("Docker-Content-Digest") or "sha256:" + hashlib.sha256(manifest).hexdigest()


# The test web server. Busybox applets are called through /bin/busybox, so the image needs
# only the few links testimage makes. With DATA set it records each start on that directory
# (a persistent disk in the e2e tests): `first` is written once, `starts` grows by a line.
SERVE_SCRIPT = """#!/bin/sh
# gce.cos test image: serve /www over HTTP on $PORT (default 80)
bb=/bin/busybox
if [ -n "$DATA" ]; then
  $bb mkdir -p "$DATA" || exit 1
  [ -f "$DATA/first" ] || echo "$VERSION" > "$DATA/first"
  echo "$VERSION" >> "$DATA/starts"
  $bb cp "$DATA/first" /www/first.txt
  $bb cp "$DATA/starts" /www/starts.txt
fi
echo "serving $VERSION on port ${PORT:-80}"
# httpd as the container's PID 1 would ignore SIGTERM (docker stop then waits its full
# timeout): sh stays PID 1 and stops it, as a well-behaved server image does.
$bb httpd -f -p "${PORT:-80}" -h /www &
pid=$!
trap '$bb kill $pid; exit 0' TERM INT
wait $pid
"""


def web_image_tar(version, pad_bytes=0):
    """The rootfs tar of the test web server; GET / answers 'web VERSION'.

    ``pad_bytes``: a file /pad of that many pseudo-random bytes (seeded by the version, so the layer is the
    same at every build and cached; random, so gzip does not shrink it), for an image whose pull takes time."""
    extra = {"bin/serve": SERVE_SCRIPT}
    if pad_bytes:
        extra["pad"] = random.Random("gce.cos web pad " + version).randbytes(pad_bytes)
    return testimage.busybox_rootfs_tar("web %s\n" % version, extra_files=extra)


def push_web_image(reg, repo, version, pad_bytes=0):
    """Push the test web server as REPO:VERSION (``pad_bytes``: see web_image_tar); its manifest digest."""
    return push_image(reg, repo, version, web_image_tar(version, pad_bytes), cmd=["/bin/sh", "/bin/serve"],
                      env=["PATH=/bin", "VERSION=" + version])

