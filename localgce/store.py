"""Thread-safe resource store with persistence.

Resources are kept as the JSON dicts the API returns, keyed by collection path
('projects/p/zones/z/instances') and name. Private per-resource data (guest attributes,
serial output) lives apart so it never leaks into API answers. One re-entrant lock guards
everything; ``cond`` is notified on every change (operation waits and metadata long-polls
sleep on it instead of polling).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading

from . import catalog, errors, util


class Store:
    def __init__(self, projects=None):
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self.allowed_projects = set(projects or [])
        self.version = 0
        self.dirty = False
        self.reset()

    # -- life cycle ----------------------------------------------------------------------
    def reset(self):
        with self.lock:
            self.colls = {}  # collection path -> {name: resource dict}
            self.private = {}  # resource path -> dict
            self.request_ids = {}  # "project/requestId" -> operation path
            self.secrets = {}  # "projects/P/secrets/S" -> [{"data": b64, "state": "ENABLED"}]
            self.projects = {}  # project id -> project dict (Compute "projects" resource)
            self._seed_images()
            for p in self.allowed_projects:
                self.ensure_project(p)
            self.changed()

    def changed(self):
        """Call with the lock held after any mutation."""
        with self.lock:
            self.version += 1
            self.dirty = True
            self.cond.notify_all()

    def to_json(self):
        with self.lock:
            return {
                "version": 1,
                "colls": self.colls,
                "private": self.private,
                "request_ids": self.request_ids,
                "secrets": self.secrets,
                "projects": self.projects,
            }

    def save(self, path):
        with self.lock:
            data = json.dumps(self.to_json())
            self.dirty = False
        d = os.path.dirname(os.path.abspath(path))
        fd, tmp = tempfile.mkstemp(dir=d, prefix=".localgce-state-")
        with os.fdopen(fd, "w") as fh:
            fh.write(data)
        os.replace(tmp, path)

    def load(self, path):
        with open(path) as fh:
            data = json.load(fh)
        with self.lock:
            self.colls = data["colls"]
            self.private = data["private"]
            self.request_ids = data["request_ids"]
            self.secrets = data["secrets"]
            self.projects = data["projects"]
            self._settle()
            for p in self.allowed_projects:
                self.ensure_project(p)
            self.changed()
            self.dirty = False

    _SETTLED = {"PROVISIONING": "RUNNING", "STAGING": "RUNNING", "STOPPING": "TERMINATED", "CREATING": "READY",
                "PENDING": "DONE"}

    def _settle(self):
        """A state saved while operations ran (a periodic save) holds transitional statuses;
        nothing will finish them after a restart, so finish them now."""
        for items in self.colls.values():
            for res in items.values():
                status = res.get("status")
                if res.get("kind") == "compute#operation":
                    if status != "DONE":
                        res.update(status="DONE", progress=100, endTime=util.now())
                elif status in self._SETTLED:
                    res["status"] = self._SETTLED[status]

    # -- projects ------------------------------------------------------------------------
    def project_number(self, project):
        return str(int(hashlib.sha256(project.encode()).hexdigest(), 16) % 900000000000 + 100000000000)

    def ensure_project(self, project):
        """The project record, created (with a default network) on first use.

        With --project given, only those projects (and cos-cloud) exist.
        """
        with self.lock:
            rec = self.projects.get(project)
            if rec is not None:
                return rec
            if project == catalog.IMAGE_PROJECT:
                return self._project_record(project)
            if self.allowed_projects and project not in self.allowed_projects:
                raise errors.not_found(f"projects/{project}")
            rec = self._project_record(project)
            self._seed_network(project)
            self.changed()
            return rec

    def _project_record(self, project):
        rec = {
            "kind": "compute#project",
            "id": self.project_number(project),
            "creationTimestamp": util.now(),
            "name": project,
            "commonInstanceMetadata": {"kind": "compute#metadata", "fingerprint": util.fingerprint()},
            "selfLink": util.link(f"projects/{project}"),
            "defaultServiceAccount": f"{self.project_number(project)}-compute@developer.gserviceaccount.com",
            "xpnProjectStatus": "UNSPECIFIED_XPN_PROJECT_STATUS",
            "defaultNetworkTier": "PREMIUM",
            "vmDnsSetting": "ZONAL_ONLY",
        }
        self.projects[project] = rec
        return rec

    def _seed_network(self, project):
        net_path = f"projects/{project}/global/networks/default"
        subnets = []
        for region, cidr in catalog.SUBNET_RANGES.items():
            sp = f"projects/{project}/regions/{region}/subnetworks/default"
            subnets.append(util.link(sp))
            gw = cidr.rsplit(".", 2)[0] + ".0.1"
            self.put(sp, {
                "kind": "compute#subnetwork",
                "id": util.new_id(),
                "creationTimestamp": util.now(),
                "name": "default",
                "network": util.link(net_path),
                "ipCidrRange": cidr,
                "gatewayAddress": gw,
                "region": util.link(f"projects/{project}/regions/{region}"),
                "selfLink": util.link(sp),
                "privateIpGoogleAccess": False,
                "fingerprint": util.fingerprint(),
                "purpose": "PRIVATE",
                "stackType": "IPV4_ONLY",
            })
        self.put(net_path, {
            "kind": "compute#network",
            "id": util.new_id(),
            "creationTimestamp": util.now(),
            "name": "default",
            "description": "Default network for the project",
            "selfLink": util.link(net_path),
            "autoCreateSubnetworks": True,
            "subnetworks": subnets,
            "routingConfig": {"routingMode": "REGIONAL"},
            "networkFirewallPolicyEnforcementOrder": "AFTER_CLASSIC_FIREWALL",
        })
        rules = [
            ("default-allow-internal", "Allow internal traffic on the default network", 65534,
             [{"IPProtocol": "tcp", "ports": ["0-65535"]}, {"IPProtocol": "udp", "ports": ["0-65535"]},
              {"IPProtocol": "icmp"}], ["10.128.0.0/9"]),
            ("default-allow-ssh", "Allow SSH from anywhere", 65534, [{"IPProtocol": "tcp", "ports": ["22"]}],
             ["0.0.0.0/0"]),
            ("default-allow-rdp", "Allow RDP from anywhere", 65534, [{"IPProtocol": "tcp", "ports": ["3389"]}],
             ["0.0.0.0/0"]),
            ("default-allow-icmp", "Allow ICMP from anywhere", 65534, [{"IPProtocol": "icmp"}], ["0.0.0.0/0"]),
        ]
        for name, desc, prio, allowed, ranges in rules:
            fp = f"projects/{project}/global/firewalls/{name}"
            self.put(fp, {
                "kind": "compute#firewall",
                "id": util.new_id(),
                "creationTimestamp": util.now(),
                "name": name,
                "description": desc,
                "network": util.link(net_path),
                "priority": prio,
                "sourceRanges": ranges,
                "allowed": allowed,
                "direction": "INGRESS",
                "logConfig": {"enable": False},
                "disabled": False,
                "selfLink": util.link(fp),
            })

    def _seed_images(self):
        for name, family, arch, dep, repl, created in catalog.cos_images():
            path = f"projects/{catalog.IMAGE_PROJECT}/global/images/{name}"
            milestone = name.split("-")[-4]
            img = {
                "kind": "compute#image",
                "id": str(int(hashlib.sha256(name.encode()).hexdigest()[:15], 16)),
                "creationTimestamp": created,
                "name": name,
                "description": f"Container-Optimized OS, milestone {milestone}",
                "sourceType": "RAW",
                "rawDisk": {"source": "", "containerType": "TAR"},
                "status": "READY",
                "archiveSizeBytes": "1812953600",
                "diskSizeGb": "10",
                "licenses": [util.link(f"projects/{catalog.IMAGE_PROJECT}/global/licenses/cos")],
                "family": family,
                "selfLink": util.link(path),
                "labelFingerprint": "42WmSpB8rSM=",
                "guestOsFeatures": [{"type": t} for t in
                                    ("VIRTIO_SCSI_MULTIQUEUE", "SEV_CAPABLE", "UEFI_COMPATIBLE", "GVNIC",
                                     "IDPF")],
                "storageLocations": ["asia", "eu", "us"],
                "architecture": arch,
            }
            if dep:
                img["deprecated"] = {"state": dep, "replacement": util.link(
                    f"projects/{catalog.IMAGE_PROJECT}/global/images/{repl}")}
            self.put(path, img)
        self._project_record(catalog.IMAGE_PROJECT)

    # -- resources -----------------------------------------------------------------------
    @staticmethod
    def split(path):
        coll, _, name = path.rpartition("/")
        return coll, name

    def get(self, path):
        coll, name = self.split(path)
        return self.colls.get(coll, {}).get(name)

    def must(self, path):
        res = self.get(path)
        if res is None:
            raise errors.not_found(path)
        return res

    def put(self, path, res):
        coll, name = self.split(path)
        with self.lock:
            self.colls.setdefault(coll, {})[name] = res
            self.changed()

    def delete(self, path):
        coll, name = self.split(path)
        with self.lock:
            self.colls.get(coll, {}).pop(name, None)
            self.private.pop(path, None)
            self.changed()

    def list(self, coll):
        return list(self.colls.get(coll, {}).values())

    def colls_matching(self, project, kind):
        """[(scope, [resources])] for aggregatedList: scope like 'zones/us-central1-a'."""
        prefix = f"projects/{project}/"
        out = []
        for coll, items in self.colls.items():
            if coll.startswith(prefix) and coll.endswith("/" + kind):
                scope = coll[len(prefix): -len(kind) - 1]
                out.append((scope, list(items.values())))
        return out

    def priv(self, path):
        return self.private.setdefault(path, {})
