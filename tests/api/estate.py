"""Build an estate of VMs in localgce through the real client: agent VMs (containers in
metadata, the agent in user-data, reports in guest attributes), konlet VMs and unmanaged VMs.

Used by the inventory tests and bench/fleet_bench.py. Inserts go through the API (the real
google-cloud-compute client, several at a time); reports go through the control API, as the
agent on a booted VM would publish them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.gce.cos.plugins.module_utils._vm import cloud_config, container_unit, cos_agent, vm_contract

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROJECT = "test-project"
ZONES = ("us-central1-a", "us-central1-b", "europe-west1-b")
COS_FAMILY = "projects/cos-cloud/global/images/family/cos-stable"
TOKEN = "inventory-token"

KONLET_DECLARATION = """# DISCLAIMER:
# This container declaration format is not a public API and may change without notice.
spec:
  containers:
  - name: legacy
    image: gcr.io/legacy-project/legacy-app:3
    args: [--port, "8080"]
    env:
    - name: MODE
      value: prod
    securityContext:
      privileged: false
    stdin: false
    tty: false
  restartPolicy: Always
"""
# konlet itself refuses this one (UnlessStopped is not one of its policies).
KONLET_REFUSED = KONLET_DECLARATION.replace("restartPolicy: Always", "restartPolicy: UnlessStopped")
# konlet runs this one, but gce.cos cannot convert it yet: a writable host path outside /var, /home and
# /mnt/disks, as gcloud's --container-mount-host-path=mount-path=/scratch,host-path=/tmp writes it.
KONLET_UNSUPPORTED = KONLET_DECLARATION.replace("    tty: false\n", (
    "    tty: false\n    volumeMounts:\n    - mountPath: /scratch\n      name: host-path-0\n      readOnly: false\n")
).replace("  restartPolicy: Always\n", "  restartPolicy: Always\n  volumes:\n  - hostPath:\n      path: /tmp\n"
          "    name: host-path-0\n")


def web_unit(image="nginx:1.25", name="web"):
    return container_unit.build({"name": name, "image": image, "ports": [80]})


def kind_of(index):
    """Every fifth VM is on konlet, every tenth unmanaged, the rest on the agent."""
    if index % 10 == 9:
        return "unmanaged"
    if index % 5 == 4:
        return "konlet"
    return "agent"


class Estate:
    def __init__(self, srv, project=PROJECT):
        from google.api_core.client_options import ClientOptions
        from google.cloud.compute_v1.services.instances import InstancesClient
        from google.cloud.compute_v1.services.zone_operations import ZoneOperationsClient
        from google.oauth2.credentials import Credentials

        self.srv = srv
        self.project = project
        opts = ClientOptions(api_endpoint=srv.url)
        creds = Credentials(token=TOKEN)
        self.instances = InstancesClient(credentials=creds, client_options=opts, transport="rest")
        self.ops = ZoneOperationsClient(credentials=creds, client_options=opts, transport="rest")
        self.created = []

    def insert(self, name, zone, metadata=None, labels=None, external_ip=True):
        from google.cloud.compute_v1.types import compute as t

        nic = t.NetworkInterface(network="global/networks/default")
        if external_ip:
            nic.access_configs = [t.AccessConfig(name="External NAT", type_="ONE_TO_ONE_NAT")]
        inst = t.Instance(
            name=name,
            machine_type="zones/%s/machineTypes/e2-small" % zone,
            disks=[t.AttachedDisk(boot=True, auto_delete=True,
                                  initialize_params=t.AttachedDiskInitializeParams(source_image=COS_FAMILY))],
            network_interfaces=[nic],
            labels=labels or {},
            metadata=t.Metadata(items=[t.Items(key=k, value=v) for k, v in (metadata or {}).items()]),
        )
        op = self.instances.insert_unary(project=self.project, zone=zone, instance_resource=inst)
        for _ in range(20):
            if op.status == t.Operation.Status.DONE:
                break
            op = self.ops.wait(project=self.project, zone=zone, operation=op.name)
        assert op.status == t.Operation.Status.DONE and not op.error.errors, op
        self.created.append((name, zone))

    def agent_vm(self, name, zone, containers=("web",), labels=None, report=True, **extra):
        units = {c: web_unit(name=c) for c in containers}
        metadata = {"user-data": cloud_config.with_agent(""), "enable-guest-attributes": "TRUE"}
        metadata.update({u["metadata_key"]: u["unit"] for u in units.values()})
        metadata.update(extra.pop("metadata", {}))
        self.insert(name, zone, metadata, labels, **extra)
        if report:
            self.report(name, zone, {c: {"revision": u["revision"], "state": "running", "image": u["spec"]["image"],
                                         "digest": "sha256:" + "a" * 64, "error": "", "restarts": 0,
                                         "time": "2026-12-01T00:00:00Z"} for c, u in units.items()})
        return units

    def report(self, name, zone, containers, agent_error=""):
        agent = {"version": cos_agent.agent_version(), "boot_id": "b1", "applied": "e1",
                 "time": "2026-12-01T00:00:00Z", "error": agent_error}
        for key, value in dict(containers, agent=agent).items():
            self.srv.set_guest_attribute(self.project, zone, name, "cos-agent", key, json.dumps(value))

    def konlet_vm(self, name, zone, declaration=KONLET_DECLARATION, labels=None, **extra):
        labels = dict(labels or {}, **{"container-vm": "cos-stable-121"})
        metadata = {vm_contract.KONLET_KEY: declaration, "google-logging-enabled": "true"}
        self.insert(name, zone, metadata, labels, **extra)

    def unmanaged_vm(self, name, zone, labels=None, metadata=None, **extra):
        self.insert(name, zone, dict({"startup-script": "echo hi"}, **(metadata or {})), labels, **extra)

    def mixed(self, count, workers=4):
        """``count`` VMs round-robin over ZONES, of the kinds ``kind_of`` gives."""
        def one(i):
            zone = ZONES[i % len(ZONES)]
            name = "vm-%04d" % i
            kind = kind_of(i)
            labels = {"env": "prod" if i % 2 else "dev", "team-name": "blue"}
            if kind == "agent":
                self.agent_vm(name, zone, labels=labels)
            elif kind == "konlet":
                self.konlet_vm(name, zone, labels=labels)
            else:
                self.unmanaged_vm(name, zone, labels=labels)
            return name, zone, kind

        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(one, range(count)))


def ansible_env(srv, tmp, **extra):
    """Environment for ansible-inventory/ansible-playbook against this localgce (access token auth)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GCP_", "GCE_", "GOOGLE_", "ANSIBLE_"))}
    env.update(
        GCP_AUTH_KIND="accesstoken",
        GCP_ACCESS_TOKEN=TOKEN,
        GCP_PROJECT=PROJECT,
        GCE_COS_API_ENDPOINT=srv.url,
        ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".build", "pythonpath"),
        ANSIBLE_LOCAL_TEMP=str(tmp / "ansible-tmp"),
        ANSIBLE_HOME=str(tmp / "ansible-home"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        GCE_METADATA_HOST="127.0.0.1:9",
        GCE_METADATA_IP="127.0.0.1:9",
        HOME=str(tmp),
    )
    env.update(extra)
    return env


def ansible_inventory(env, source, *args):
    """Run ansible-inventory (this venv's) on a source; returns the CompletedProcess."""
    exe = os.path.join(os.path.dirname(sys.executable), "ansible-inventory")
    return subprocess.run([exe, "-i", str(source), *args], env=env, capture_output=True, text=True, timeout=600)
