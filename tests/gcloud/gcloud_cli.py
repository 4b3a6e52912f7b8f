"""Running the real gcloud against a localgce, and reading back what it did (shared by the tests)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

from localgce import gcloud as localgce_gcloud

PROJECT = "gcloud-project"
ZONE = "us-central1-a"
REGION = "us-central1"
GCLOUD = shutil.which("gcloud")
TIMEOUT = 180


def gcloud_env(url, config_dir, token_file, project=PROJECT):
    """The environment that aims gcloud at a localgce: what ``python -m localgce serve`` prints."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDSDK_")}
    env.update(localgce_gcloud.settings(url, project, config_dir, token_file, zone=ZONE, region=REGION))
    return env


class Gcloud:
    """Runs ``gcloud compute ...`` and returns its JSON output (or the text with ``fmt=None``)."""

    def __init__(self, env):
        self.env = env

    def run(self, *args, fmt="json", ok=True, track=()):
        cmd = [GCLOUD, *track, "compute", *args] + ([f"--format={fmt}"] if fmt else [])
        proc = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=TIMEOUT, check=False)
        if ok and proc.returncode != 0:
            raise AssertionError(f"{' '.join(cmd[1:])} failed (rc {proc.returncode}):\n{proc.stderr}")
        if not ok:
            return proc
        if fmt == "json":
            return json.loads(proc.stdout or "null")
        return proc.stdout

    __call__ = run

    def beta(self, *args, **kw):
        """A command of gcloud's beta track (same endpoint override)."""
        return self.run(*args, track=("beta",), **kw)


def calls(lg, mutating=True):
    """'METHOD path' of the logged API requests (mutating ones by default), without operation waits."""
    out = []
    for e in lg.requests(mutating_only=mutating):
        if "/operations/" in e["path"]:
            continue
        out.append(f"{e['method']} {e['path'][len('/compute/v1/'):]}")
    return out


def create_instance(lg, name, **extra):
    """An instance made through google-cloud-compute (operations finish at once on this localgce)."""
    from google.cloud import compute_v1

    resource = compute_v1.Instance(
        name=name, machine_type=f"zones/{ZONE}/machineTypes/e2-small",
        disks=[compute_v1.AttachedDisk(
            boot=True, auto_delete=True, initialize_params=compute_v1.AttachedDiskInitializeParams(
                source_image="projects/cos-cloud/global/images/family/cos-stable"))],
        network_interfaces=[compute_v1.NetworkInterface(network="global/networks/default")], **extra)
    op = lg.client(compute_v1.InstancesClient).insert_unary(project=PROJECT, zone=ZONE, instance_resource=resource)
    done = lg.client(compute_v1.ZoneOperationsClient).wait(project=PROJECT, zone=ZONE, operation=op.name)
    assert done.status == compute_v1.Operation.Status.DONE and not done.error.errors, done
    return lg.client(compute_v1.InstancesClient).get(project=PROJECT, zone=ZONE, instance=name)
