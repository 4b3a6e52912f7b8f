"""Fixtures for the agent tests: a localgce instance (the "cloud") and a guest running the agent."""

import itertools
import json
import os
import sys
import urllib.parse

import pytest
from google.api_core import exceptions
from google.cloud import compute_v1

from localgce.testing import DEFAULT_PROJECT, DEFAULT_ZONE, localgce, localgce_server  # noqa: F401 - fixtures

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from guest import Guest
from netcut import NetCut

INSTANCE = "cos-vm"
GUEST_NS = "cos-agent"


class Cloud:
    """One COS instance in localgce, driven through the real google-cloud-compute client."""

    def __init__(self, lg, name=INSTANCE, project=DEFAULT_PROJECT, zone=DEFAULT_ZONE):
        self.lg = lg
        self.project, self.zone, self.name = project, zone, name
        self.instances = lg.client(compute_v1.InstancesClient)
        self.operations = lg.client(compute_v1.ZoneOperationsClient)
        disk = compute_v1.AttachedDisk(
            boot=True,
            auto_delete=True,
            initialize_params=compute_v1.AttachedDiskInitializeParams(
                source_image="projects/cos-cloud/global/images/family/cos-stable"
            ),
        )
        inst = compute_v1.Instance(
            name=name,
            machine_type="zones/%s/machineTypes/e2-small" % zone,
            disks=[disk],
            network_interfaces=[compute_v1.NetworkInterface(network="global/networks/default")],
            service_accounts=[
                compute_v1.ServiceAccount(email="default", scopes=["https://www.googleapis.com/auth/cloud-platform"])
            ],
            metadata=compute_v1.Metadata(items=[compute_v1.Items(key="enable-guest-attributes", value="TRUE")]),
        )
        self._wait(self.instances.insert_unary(project=project, zone=zone, instance_resource=inst))
        # The agent reaches the metadata server through a relay that tests can cut.
        host, port = urllib.parse.urlsplit(lg.url).netloc.split(":")
        self.netcut = NetCut(host, int(port))
        path = urllib.parse.urlsplit(lg.guest_url(project, zone, name)).path
        self.metadata_url = self.netcut.url + path.rstrip("/")

    def _wait(self, op):
        op = self.operations.wait(project=self.project, zone=self.zone, operation=op.name)
        assert op.status == compute_v1.Operation.Status.DONE
        assert not op.error.errors, op.error

    def instance(self):
        return self.instances.get(project=self.project, zone=self.zone, instance=self.name)

    def metadata(self):
        return {i.key: i.value for i in self.instance().metadata.items}

    def set_containers(self, units, other=None):
        """Make cos-container-* exactly `units` (name -> unit text), keeping other keys."""
        current = self.instance().metadata
        items = {i.key: i.value for i in current.items if not i.key.startswith("cos-container-")}
        items.update(other or {})
        items.update({"cos-container-" + n: text for n, text in units.items()})
        md = compute_v1.Metadata(
            fingerprint=current.fingerprint, items=[compute_v1.Items(key=k, value=v) for k, v in sorted(items.items())]
        )
        self._wait(self.instances.set_metadata_unary(project=self.project, zone=self.zone, instance=self.name,
                                                     metadata_resource=md))

    def raw_guest_attributes(self):
        """cos-agent/* guest attributes as the API returns them: key -> value text."""
        request = compute_v1.GetGuestAttributesInstanceRequest(
            project=self.project, zone=self.zone, instance=self.name, query_path=GUEST_NS + "/"
        )
        try:
            got = self.instances.get_guest_attributes(request=request)
        except exceptions.NotFound:
            return {}
        return {i.key: i.value for i in got.query_value.items if i.namespace == GUEST_NS}

    def guest_attributes(self):
        return {k: json.loads(v) for k, v in self.raw_guest_attributes().items()}

    def attribute_reads(self):
        """The agent's reads of instance/attributes/ (the watch), from localgce's guest log."""
        path = urllib.parse.urlsplit(self.lg.guest_url(self.project, self.zone, self.name)).path
        return [r for r in self.lg.guest_requests()
                if r["method"] == "GET" and r["path"] == path + "instance/attributes/"]

    def fault_guest(self, path_regex, status, count=1, **answer):
        self.netcut.fault(path_regex, status, count, **answer)

    def clear_faults(self):
        self.netcut.clear_faults()

    def close(self):
        self.netcut.close()


_COUNTER = itertools.count(1)


@pytest.fixture
def cloud(localgce):  # noqa: F811 - fixture use
    # A fresh name per test: a long-poll of an earlier test's instance may still be parked
    # in the (session-wide) server and must not show up in this test's request log.
    c = Cloud(localgce, name="%s-%d" % (INSTANCE, next(_COUNTER)))
    yield c
    c.close()


@pytest.fixture
def guest(tmp_path, cloud, localgce):  # noqa: F811 - fixture use
    g = Guest(tmp_path / "vm", cloud.metadata_url, secretmanager_url=localgce.url)
    yield g
    g.stop()
