"""Fixtures for the COS VM simulator tests: real nspawn, systemd, cloud-init and dockerd.

These tests need root, systemd-nspawn and debootstrap. Where they are missing, every test
here FAILS with the simulator's one-line reason (never a silent skip).
"""

import http.server
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time

import pytest

from localgce.vm import unavailable_reason

PROJECT, ZONE = "proj-1", "us-central1-a"


def require_simulator():
    reason = unavailable_reason()
    if reason:
        pytest.fail(reason, pytrace=False)


@pytest.fixture(scope="session")
def rootfs():
    require_simulator()
    from localgce.vm import image

    return image.build(log=lambda msg: print("[image] " + msg))


class FakeUpstream:
    """Stands in for localgce: the guest metadata prefix and Secret Manager, on 127.0.0.1."""

    def __init__(self):
        self.requests = []
        self.metadata = {}  # instance name -> {path below computeMetadata/v1/: value}
        self.secrets = {}  # "projects/P/secrets/S" -> bytes
        upstream = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _send(self, status, body, headers=()):
                data = body if isinstance(body, bytes) else body.encode()
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                upstream.requests.append((self.command, self.path, dict(self.headers)))
                parts = self.path.split("?")[0].split("/")
                # /_localgce/guest/P/Z/I/computeMetadata/v1/...
                if self.path.startswith("/_localgce/guest/") and parts[6:8] == ["computeMetadata", "v1"]:
                    if self.headers.get("Metadata-Flavor") != "Google":
                        return self._send(403, "Missing Metadata-Flavor:Google header.\n")
                    values = upstream.metadata.get(parts[5], {})
                    key = "/".join(parts[8:])
                    if key not in values:
                        return self._send(404, "not found\n")
                    return self._send(200, values[key], [("Metadata-Flavor", "Google"), ("ETag", "e1")])
                # /v1/projects/P/secrets/S/versions/V:access
                if self.path.startswith("/v1/projects/") and self.path.endswith(":access"):
                    name = "/".join(parts[2:6])
                    if name not in upstream.secrets:
                        return self._send(404, json.dumps({"error": {"code": 404}}))
                    import base64

                    data = base64.b64encode(upstream.secrets[name]).decode()
                    payload = {"name": self.path[4:-7], "payload": {"data": data}}
                    return self._send(200, json.dumps(payload), [("Content-Type", "application/json")])
                return self._send(404, "unknown path %s\n" % self.path)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def instance(self, name, instance_id, user_data="", **paths):
        """Serve what cloud-init's GCE datasource reads at every boot (id, zone, hostname and the
        attributes with user-data), plus ``paths`` (below computeMetadata/v1/)."""
        attributes = {"user-data": user_data} if user_data else {}
        self.metadata[name] = {
            "instance/id": str(instance_id),
            "instance/name": name,
            "instance/zone": "projects/1234/zones/%s" % ZONE,
            "instance/hostname": "%s.%s.c.%s.internal" % (name, ZONE, PROJECT),
            "instance/attributes/": json.dumps(attributes),
            "project/attributes/": "{}",
            **{"instance/attributes/" + k: v for k, v in attributes.items()},
            **paths,
        }

    def guest_url(self, instance):
        return "%s/_localgce/guest/%s/%s/%s" % (self.url, PROJECT, ZONE, instance)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="session")
def upstream():
    up = FakeUpstream()
    yield up
    up.close()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Registry:
    """A real docker-registry (Debian package) on 127.0.0.1 with htpasswd auth."""

    user, password = "tester", "s3cret-pw"

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="gce-cos-registry-")
        self.port = _free_port()
        self.address = "127.0.0.1:%d" % self.port
        htpasswd = os.path.join(self.dir, "htpasswd")
        out = subprocess.run(["htpasswd", "-Bbn", self.user, self.password], capture_output=True, text=True,
                             check=True).stdout
        with open(htpasswd, "w") as f:
            f.write(out)
        cfg = os.path.join(self.dir, "config.yml")
        with open(cfg, "w") as f:
            f.write(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: %s/data\n"
                "http:\n  addr: %s\nauth:\n  htpasswd:\n    realm: gce-cos-test\n    path: %s\n"
                % (self.dir, self.address, htpasswd)
            )
        self.log = open(os.path.join(self.dir, "registry.log"), "wb")  # noqa: SIM115 (closed in close())
        self.proc = subprocess.Popen(["docker-registry", "serve", cfg], stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    with open(self.log.name) as f:
                        raise RuntimeError("docker-registry did not start: %s" % f.read())
                time.sleep(0.05)

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def registry():
    if shutil.which("docker-registry") is None:
        pytest.fail("docker-registry not installed (Debian package docker-registry)", pytrace=False)
    reg = Registry()
    yield reg
    reg.close()


@pytest.fixture(scope="session")
def workdir():
    d = tempfile.mkdtemp(prefix="gce-cos-vmtest-")
    yield d
    shutil.rmtree(d, ignore_errors=True)
