"""Templates, health checks and a stand-in for the cos agents of a group's VMs, against localgce.

Templates and health checks are made with the real google-cloud-compute client. ``FakeAgents``
does what the cos agent on each VM does, over the same HTTP paths: it reads the VM's metadata from
its metadata server, computes each container's revision (SHA-256 prefix of the unit as fetched) and
PUTs the reports as guest attributes. Images whose name contains ``broken``, and every container of a VM
named in ``failing`` (which a test may change while the agents run), are reported failed with an
agent-style error. ``on_report(vm, revisions)`` is called before a VM's reports are written. It also
samples which VMs carry which revision, to show the batches.
"""

import hashlib
import json
import threading
import time
import urllib.error
import urllib.request

from ansible_collections.gce.cos.plugins.module_utils._vm import vm_contract
from google.cloud import compute_v1

from localgce import guest_metadata

PROJECT = "test-project"
ZONE = "us-central1-a"
REGION = "us-central1"
PREFIX = vm_contract.METADATA_PREFIX
NAMESPACE = vm_contract.GUEST_ATTRIBUTE_NAMESPACE


def ok(lg, op, project=PROJECT):
    done = lg.client(compute_v1.GlobalOperationsClient).wait(project=project, operation=op.name)
    assert not done.error.errors, done.error


def template(lg, name, data_disk=False, project=PROJECT):
    disks = [compute_v1.AttachedDisk(
        boot=True, auto_delete=True, initialize_params=compute_v1.AttachedDiskInitializeParams(
            source_image="projects/cos-cloud/global/images/family/cos-stable"))]
    if data_disk:
        disks.append(compute_v1.AttachedDisk(auto_delete=True, device_name="data",
                                             initialize_params=compute_v1.AttachedDiskInitializeParams(disk_size_gb=10)))
    ok(lg, lg.client(compute_v1.InstanceTemplatesClient).insert_unary(
        project=project, instance_template_resource=compute_v1.InstanceTemplate(
            name=name, properties=compute_v1.InstanceProperties(
                machine_type="e2-small", disks=disks,
                metadata=compute_v1.Metadata(items=[compute_v1.Items(key="role", value="web")]),
                network_interfaces=[compute_v1.NetworkInterface(network="global/networks/default")]))), project)
    return name


def health_check(lg, name="web-http", port=80):
    ok(lg, lg.client(compute_v1.HealthChecksClient).insert_unary(
        project=PROJECT, health_check_resource=compute_v1.HealthCheck(
            name=name, type_="HTTP", http_health_check=compute_v1.HTTPHealthCheck(port=port, request_path="/"))))
    return name


def control(lg, route, body):
    req = urllib.request.Request(lg.url + "/_localgce/" + route, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req).read()


def group_vms(lg, zones=(ZONE,)):
    """{instance name: zone} of every instance in the zones (a test's project holds only its groups)."""
    out = {}
    with lg.app.store.lock:
        for zone in zones:
            for inst in lg.app.store.list("projects/%s/zones/%s/instances" % (PROJECT, zone)):
                out[inst["name"]] = zone
    return out


def containers_of(lg, name, zone=ZONE):
    """{container: unit text} of an instance's metadata, read from the store."""
    inst = lg.get_resource("projects/%s/zones/%s/instances/%s" % (PROJECT, zone, name))
    return vm_contract.container_units({i["key"]: i.get("value") for i in inst["metadata"].get("items") or []})


class FakeAgents:
    """The cos agents of a group's VMs, as seen by the API: guest-attribute reports over HTTP."""

    def __init__(self, lg, zones=(ZONE,), lag=2, failing=None, on_report=None):
        self.lg = lg
        self.zones = zones
        self.failing = failing if failing is not None else {}  # vm -> the error its agent reports
        self.on_report = on_report
        self._written = {}  # vm -> (revisions, error) last written
        # Ticks (0.1 s) between seeing a new revision and reporting it running: a pull and a start.
        self.lag = lag
        self.seen = {}  # (vm, revision tuple) -> ticks seen
        self.reported = {}  # vm -> revisions tuple reported
        self.samples = []  # [{vm: (revision tuple, reported?)}]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(10)

    def wait_reported(self, vms, tries=600):
        """Block until each VM's current containers are reported (creating a group does not wait for them)."""
        for _ in range(tries):
            if all(self.reported.get(vm) for vm in vms):
                return
            time.sleep(0.1)
        raise AssertionError("the fake agents never reported on %s (reported: %s)" % (vms, sorted(self.reported)))

    def _get(self, vm, zone, path):
        url = self.lg.guest_url(PROJECT, zone, vm) + path
        req = urllib.request.Request(url, headers={"Metadata-Flavor": "Google"})
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.read()

    # Reports are written server-side (as the control endpoint PUT /_localgce/guest-attributes does), outside
    # the VM's guest-attribute budget: these fakes stand for what the API reads, not for the agent's writing,
    # whose budget tests/agent and tests/vm_e2e check.
    def _delete(self, vm, zone, key):
        guest_metadata.set_guest_attribute(self.lg.app.store, PROJECT, zone, vm, NAMESPACE, key, None)

    def _put(self, vm, zone, key, value):
        guest_metadata.set_guest_attribute(self.lg.app.store, PROJECT, zone, vm, NAMESPACE, key, json.dumps(value))

    def _loop(self):
        while not self._stop.is_set():
            sample = {}
            for vm, zone in group_vms(self.lg, self.zones).items():
                try:
                    sample[vm] = self._tick(vm, zone)
                except Exception:  # a VM being deleted between list and read
                    continue
            self.samples.append(sample)
            time.sleep(0.1)

    def _tick(self, vm, zone):
        attrs = json.loads(self._get(vm, zone, "instance/attributes/?recursive=true&alt=json"))
        units = {}
        for key in sorted(attrs):
            if key.startswith(PREFIX):
                unit = self._get(vm, zone, "instance/attributes/" + key)
                if unit:  # an emptied key is a removed container, as for the agent
                    units[key[len(PREFIX):]] = unit
        revisions = tuple(sorted((n, hashlib.sha256(u).hexdigest()[:16]) for n, u in units.items()))
        if not units or attrs.get("enable-guest-attributes") != "TRUE":
            return revisions, False
        ticks = self.seen.get((vm, revisions), 0) + 1
        self.seen[(vm, revisions)] = ticks
        failing = self.failing.get(vm)
        if self._written.get(vm) == (revisions, failing):
            return revisions, True
        if ticks < self.lag:
            return revisions, False
        if self.on_report:
            self.on_report(vm, revisions)
        for name in dict(self.reported.get(vm) or ()):
            if name not in units:
                self._delete(vm, zone, name)
        for name, unit in units.items():
            text = unit.decode()
            image = next((ln.split(": ", 1)[1] for ln in text.splitlines() if ln.startswith("# cos-image: ")), "")
            broken = "broken" in image
            error = ("unit cos-container-%s.service failed: result exit-code, exit status 125; docker: Error "
                     "response from daemon: manifest for %s not found" % (name, image)) if broken else failing or ""
            self._put(vm, zone, name, {
                "revision": dict(revisions)[name], "state": "failed" if error else "running", "image": image,
                "digest": "sha256:" + hashlib.sha256(image.encode()).hexdigest(), "restarts": 0,
                "error": error, "time": "2026-12-02T00:00:00Z"})
        self._put(vm, zone, "agent", {"version": "fake", "boot_id": vm, "applied": "x", "time": "now", "error": "",
                                      "containers": len(units)})
        self.reported[vm] = revisions
        self._written[vm] = (revisions, failing)
        return revisions, True
