"""Health checks that really probe (the VM simulator's path), without VMs: a backend that can
probe (``probe_socket``) points the prober at a real HTTP, HTTPS or TCP server on loopback, and
the group is read back through google-cloud-compute. The simulator test (tests/vm_e2e) does the
same against real VMs and containers."""

from __future__ import annotations

import http.server
import os
import socket
import ssl
import subprocess
import threading
import time

import pytest
import requests
from google.cloud import compute_v1
from lgce_api import COS_FAMILY, PROJECT, ZONE, Api

from localgce.backend import NullBackend
from localgce.testing import LocalGCE

IGM = compute_v1.InstanceGroupManager
TRIES = 400  # bounded polls of 0.05 s; each probe interval is 1 s


class ProbeBackend(NullBackend):
    """Instances are up once ``up`` is set; their health-check address is a loopback server."""

    def __init__(self):
        self.up = threading.Event()
        self.up.set()
        self.address = "127.0.0.1"

    def ready(self, instance):
        return self.up.is_set()

    def probe_socket(self, instance):
        return socket.socket, self.address


class Target(http.server.ThreadingHTTPServer):
    """The 'VM': answers GET /healthz with ``status`` (after ``delay`` seconds)."""

    daemon_threads = True

    def __init__(self, tls_dir=None):
        self.status, self.delay, self.hits = 200, 0.0, 0
        target = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                target.hits += 1
                time.sleep(target.delay)
                body = b"ok\n" if self.path == "/healthz" else b"no\n"
                self.send_response(target.status if self.path == "/healthz" else 404)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        super().__init__(("127.0.0.1", 0), Handler)
        if tls_dir:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(os.path.join(tls_dir, "c.pem"), os.path.join(tls_dir, "k.pem"))
            self.socket = ctx.wrap_socket(self.socket, server_side=True)
        self.port = self.server_address[1]
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def stop(self):
        self.shutdown()
        self.server_close()


@pytest.fixture
def lab():
    backend = ProbeBackend()
    srv = LocalGCE.start(backend=backend)
    ns = type("Lab", (), {})()
    ns.srv, ns.backend, ns.api = srv, backend, Api(srv)
    ns.igm = srv.client(compute_v1.InstanceGroupManagersClient)
    ns.templates = srv.client(compute_v1.InstanceTemplatesClient)
    ns.hc = srv.client(compute_v1.HealthChecksClient)
    yield ns
    srv.stop()


def setup_group(lab, port, typ="HTTP", initial_delay=3600):
    spec = {"port": port} if typ == "TCP" else {"port": port, "request_path": "/healthz"}
    kind = {"HTTP": ("http_health_check", compute_v1.HTTPHealthCheck),
            "HTTPS": ("https_health_check", compute_v1.HTTPSHealthCheck),
            "TCP": ("tcp_health_check", compute_v1.TCPHealthCheck)}[typ]
    lab.api.ok(lab.hc.insert_unary(project=PROJECT, health_check_resource=compute_v1.HealthCheck(
        name="hc", type_=typ, check_interval_sec=1, timeout_sec=1, healthy_threshold=2, unhealthy_threshold=2,
        **{kind[0]: kind[1](**spec)})))
    lab.api.ok(lab.templates.insert_unary(project=PROJECT, instance_template_resource=compute_v1.InstanceTemplate(
        name="t1", properties=compute_v1.InstanceProperties(
            machine_type="e2-small",
            disks=[compute_v1.AttachedDisk(boot=True, auto_delete=True,
                                           initialize_params=compute_v1.AttachedDiskInitializeParams(
                                               source_image=COS_FAMILY))],
            network_interfaces=[compute_v1.NetworkInterface(network="global/networks/default")]))))
    lab.api.ok(lab.igm.insert_unary(project=PROJECT, zone=ZONE, instance_group_manager_resource=IGM(
        name="web", base_instance_name="web", target_size=1, instance_template="global/instanceTemplates/t1",
        auto_healing_policies=[compute_v1.InstanceGroupManagerAutoHealingPolicy(
            health_check="global/healthChecks/hc", initial_delay_sec=initial_delay)])))


def member(lab):
    (m,) = lab.igm.list_managed_instances(project=PROJECT, zone=ZONE, instance_group_manager="web")
    return m


def health(lab):
    return member(lab).instance_health[0].detailed_health_state


def until(pred, what):
    last = None
    for _ in range(TRIES):
        last = pred()
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


def until_health(lab, state):
    seen = []
    for _ in range(TRIES):
        seen.append(health(lab))
        if seen[-1] == state:
            return
        time.sleep(0.05)
    raise AssertionError(f"health never became {state}; last states {seen[-5:]}")


def set_override(lab, name, state):
    r = requests.post(lab.srv.url + "/_localgce/instance-health",
                      json={"project": PROJECT, "zone": ZONE, "instance": name, "health": state}, timeout=10)
    assert r.status_code == 200, r.text


def test_http_probe_drives_detailed_health_state(lab):
    target = Target()
    try:
        lab.backend.up.clear()  # the VM is still booting: no probe, no verdict
        setup_group(lab, target.port)
        m = member(lab)
        assert m.instance_status == "STAGING" and m.instance_health[0].detailed_health_state == "UNKNOWN"
        assert target.hits == 0
        lab.backend.up.set()
        until_health(lab, "HEALTHY")
        target.status = 503
        until_health(lab, "UNHEALTHY")
        target.status, target.delay = 200, 3  # answers, but after timeoutSec
        until_health(lab, "TIMEOUT")
        # The control endpoint overrides the probes until it is cleared.
        name = m.name
        set_override(lab, name, "HEALTHY")
        assert health(lab) == "HEALTHY"
        set_override(lab, name, None)
        assert health(lab) == "TIMEOUT"
        target.delay = 0
        until_health(lab, "HEALTHY")
        assert member(lab).current_action == "NONE"  # initialDelaySec not over: never healed
    finally:
        target.stop()


def test_tcp_probe_is_a_connect(lab):
    with socket.socket() as probe_port:
        probe_port.bind(("127.0.0.1", 0))
        port = probe_port.getsockname()[1]
        setup_group(lab, port, typ="TCP")
        until_health(lab, "UNHEALTHY")  # bound, not listening: refused
        probe_port.listen(16)
        until_health(lab, "HEALTHY")


def test_https_probe_does_not_verify_the_certificate(lab, tmp_path):
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=vm",
                    "-keyout", str(tmp_path / "k.pem"), "-out", str(tmp_path / "c.pem")],
                   check=True, capture_output=True)
    target = Target(tls_dir=str(tmp_path))
    try:
        setup_group(lab, target.port, typ="HTTPS")
        until_health(lab, "HEALTHY")
        target.status = 500
        until_health(lab, "UNHEALTHY")
    finally:
        target.stop()


def test_failing_member_is_recreated_under_its_name_without_api_calls(lab):
    target = Target()
    try:
        setup_group(lab, target.port, initial_delay=0)
        until_health(lab, "HEALTHY")
        first = member(lab)
        lab.backend.up.clear()  # the new boot waits, so RECREATING can be seen
        lab.srv.clear_requests()
        target.status = 500
        # Nobody calls the API: the prober heals on its own (the request log stays empty).
        path = f"projects/{PROJECT}/zones/{ZONE}/instances/{first.name}"
        until(lambda: (lab.srv.get_resource(path) or {}).get("id") not in (None, str(first.id)),
              "the member recreated")
        assert lab.srv.requests() == []
        m = member(lab)
        assert (m.name, m.current_action, m.instance_status) == (first.name, "RECREATING", "STAGING")
        assert m.id != first.id and m.instance_health[0].detailed_health_state == "UNKNOWN"
        target.status = 200
        lab.backend.up.set()
        until_health(lab, "HEALTHY")
        m = member(lab)
        assert (m.current_action, m.instance_status) == ("NONE", "RUNNING")
    finally:
        target.stop()


def test_api_only_mode_starts_no_prober(localgce):
    api = Api(localgce)
    igm = localgce.client(compute_v1.InstanceGroupManagersClient)
    hc = localgce.client(compute_v1.HealthChecksClient)
    templates = localgce.client(compute_v1.InstanceTemplatesClient)
    api.ok(hc.insert_unary(project=PROJECT, health_check_resource=compute_v1.HealthCheck(
        name="hc", type_="TCP", tcp_health_check=compute_v1.TCPHealthCheck(port=9))))
    api.ok(templates.insert_unary(project=PROJECT, instance_template_resource=compute_v1.InstanceTemplate(
        name="t1", properties=compute_v1.InstanceProperties(
            machine_type="e2-small",
            disks=[compute_v1.AttachedDisk(boot=True, auto_delete=True,
                                           initialize_params=compute_v1.AttachedDiskInitializeParams(
                                               source_image=COS_FAMILY))]))))
    api.ok(igm.insert_unary(project=PROJECT, zone=ZONE, instance_group_manager_resource=IGM(
        name="web", base_instance_name="web", target_size=1, instance_template="global/instanceTemplates/t1",
        auto_healing_policies=[compute_v1.InstanceGroupManagerAutoHealingPolicy(
            health_check="global/healthChecks/hc", initial_delay_sec=0)])))
    (m,) = igm.list_managed_instances(project=PROJECT, zone=ZONE, instance_group_manager="web")
    assert m.instance_health[0].detailed_health_state == "HEALTHY"  # the control API's default
    assert localgce.app.health_prober is None
    assert not [t for t in threading.enumerate() if t.name == "localgce-health-prober"]
