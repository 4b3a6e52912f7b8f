# -*- coding: utf-8 -*-
# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: cos_deploy_plan
short_description: Check the inputs of the gce.cos.cos_deploy role and derive what its templates need
version_added: 0.1.0
description:
  - Used by the C(gce.cos.cos_deploy) role right after Ansible's argument validation, before any API call.
    The argument spec checks structure, types and unknown keys; this filter checks values - every container
    spec (with the same code as M(gce.cos.cos_container)), ports, disk device names and mount paths,
    registry hosts and Secret Manager references - and returns every problem at once, each naming its
    variable and key.
  - It also derives the values the role's cloud-init templates and tasks need - disks with their mount paths
    and systemd unit names, the Google registries for C(docker-credential-gcr), the third-party registry
    logins, and the ports of the firewall rule.
positional: _input
options:
  _input:
    description:
      - A mapping with the role's inputs - C(instance), C(disks), C(containers), C(registries), C(firewall)
        (the values of the C(cos_deploy_*) variables of the same names).
    type: dict
    required: true
author:
  - gce.cos contributors
"""

EXAMPLES = r"""
- name: Check the inputs and derive the plan
  ansible.builtin.set_fact:
    plan: >-
      {{ {'instance': cos_deploy_instance, 'disks': cos_deploy_disks, 'containers': cos_deploy_containers,
          'registries': cos_deploy_registries, 'firewall': cos_deploy_firewall} | gce.cos.cos_deploy_plan }}

- name: Stop before any API call when something is wrong
  ansible.builtin.assert:
    that: plan.errors | length == 0
    fail_msg: "{{ plan.errors | join('; ') }}"
"""

RETURN = r"""
_value:
  description: The checked and derived values.
  type: dict
  contains:
    errors:
      description: One message per problem, each starting with the variable and key, for example
        C(cos_deploy_containers[0].ports[0]).
      type: list
      elements: str
    warnings:
      description: Valid but risky settings (for example a secret-looking name in plain C(env)).
      type: list
      elements: str
    disks:
      description: The disks with defaults filled in - C(name), C(device_name), C(size_gb), C(type), C(labels),
        C(mount_path), C(mount_options), C(format), C(resize), C(device), C(mount_unit), C(prepare_unit),
        C(resize_unit).
      type: list
      elements: dict
    gcr_registries:
      description: Google registry hosts (C(gcr.io), C(*.gcr.io), C(*-docker.pkg.dev)) for
        C(docker-credential-gcr configure-docker --registries).
      type: list
      elements: str
    logins:
      description: Third-party registries - C(server), C(username), C(password_secret) (a full Secret Manager
        version reference) and C(unit), the systemd unit that logs in at boot.
      type: list
      elements: dict
    ports:
      description: Every port of the firewall rule, as C(N/tcp) or C(N/udp) - the containers' C(ports) and
        the extra ports, sorted.
      type: list
      elements: str
    host_ports:
      description: The extra ports opened in the host firewall by cloud-init, as mappings of C(port) and
        C(proto) (container ports are opened by their own units).
      type: list
      elements: dict
    firewall:
      description: The firewall rule - C(enabled), C(name), C(network), C(source_ranges), C(target_tag).
      type: dict
    instance:
      description: Options of M(gce.cos.cos_instance) derived from the inputs - C(attached_disks) (name and
        device name of each disk), C(boot_disk) (or none), C(network_tags) (the given tags plus the firewall
        rule's target tag) and C(service_account) (or none).
      type: dict
"""

import re

from ansible.errors import AnsibleFilterError

try:
    from ansible_collections.gce.cos.plugins.module_utils import container_spec, container_unit
except ImportError:  # pragma: no cover - only outside an installed collection
    container_spec = container_unit = None

NAME_RE = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
# konlet and gcloud only ever authenticated these with the VM's token (FACTS §1).
GOOGLE_REGISTRY_RE = re.compile(r"^(gcr\.io|[a-z0-9-]+\.gcr\.io|[a-z0-9-]+-docker\.pkg\.dev)$")
SERVER_RE = re.compile(r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?$")
CIDR_RE = re.compile(r"^[0-9a-fA-F:.]+/[0-9]{1,3}$")
MOUNT_OPTION_RE = re.compile(r"^[A-Za-z0-9_=.,-]+$")
DEVICE_PREFIX = "/dev/disk/by-id/google-"
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
MOUNT_ROOT = "/mnt/disks/"


def _err(errors, path, value, problem, fix, hide=False):
    shown = "(value hidden: it may be a secret)" if hide else container_spec.show(value)
    errors.append("%s: %s %s. Fix: %s" % (path, shown, problem, fix))


def _port_key(text):
    port, proto = text.split("/")
    return (int(port), proto)


def _disks(raw, errors):
    out, devices = [], {}
    for i, disk in enumerate(raw or []):
        path = "cos_deploy_disks[%d]" % i
        name = disk.get("name")
        if not isinstance(name, str) or not NAME_RE.match(name):
            _err(errors, path + ".name", name, "is not a valid disk name",
                 "use 1-63 lowercase letters, digits and hyphens, starting with a letter")
            continue
        device = disk.get("device_name") or name
        if not NAME_RE.match(device):
            _err(errors, path + ".device_name", device, "is not a valid device name",
                 "use 1-63 lowercase letters, digits and hyphens, starting with a letter")
            continue
        if device in devices:
            _err(errors, path + ".device_name", device, "is used by another disk too",
                 "give each disk its own device_name")
            continue
        mount_path = disk.get("mount_path") or container_unit.disk_mount_path(device)
        norm = "/" + "/".join(p for p in mount_path.split("/") if p)
        if (not mount_path.startswith(MOUNT_ROOT) or norm == MOUNT_ROOT.rstrip("/") or ".." in mount_path.split("/")
                or not container_spec.HOST_PATH_RE.match(mount_path)):
            _err(errors, path + ".mount_path", mount_path, "is not a mount point under /mnt/disks",
                 "use /mnt/disks/NAME (COS keeps / read-only and /mnt/disks is where disks are mounted)")
            continue
        options = disk.get("mount_options") or "discard,defaults"
        if not MOUNT_OPTION_RE.match(options):
            _err(errors, path + ".mount_options", options, "is not a mount option list",
                 "give comma-separated options such as discard,defaults")
            continue
        devices[device] = norm
        out.append({
            "name": name,
            "device_name": device,
            "size_gb": disk.get("size_gb"),
            "type": disk.get("type"),
            "labels": disk.get("labels"),
            "mount_path": norm,
            "mount_options": options,
            "format": disk.get("format", True) is not False,
            "resize": disk.get("resize", True) is not False,
            "device": DEVICE_PREFIX + device,
            "mount_unit": container_unit.systemd_escape_path(norm) + ".mount",
            "prepare_unit": "cos-disk-prepare-%s.service" % device,
            "resize_unit": "cos-disk-resize-%s.service" % device,
        })
    return out, devices


def _containers(raw, devices, errors, warnings):
    ports, names = set(), set()
    for i, spec in enumerate(raw or []):
        path = "cos_deploy_containers[%d]" % i
        try:
            canon = container_spec.validate(spec, path=path)
        except container_spec.SpecError as exc:
            errors.extend(str(e) for e in exc.errors)
            continue
        if canon["name"] in names:
            _err(errors, path + ".name", canon["name"], "is used by another container too",
                 "give each container its own name")
        names.add(canon["name"])
        warnings.extend(container_spec.warnings(canon))
        ports.update(canon["ports"])
        for j, vol in enumerate(canon["volumes"]):
            dev = vol.get("device_name")
            if dev is None:
                continue
            vpath = "%s.volumes[%d].device_name" % (path, j)
            if dev not in devices:
                _err(errors, vpath, dev, "is not the device_name of a disk in cos_deploy_disks",
                     "add the disk to cos_deploy_disks, or correct the name (known: %s)"
                     % (", ".join(sorted(devices)) or "none"))
            elif vol.get("partition"):
                _err(errors, vpath, dev, "names a partition, but the role's disk units mount whole disks",
                     "leave out partition")
            elif devices[dev] != container_unit.disk_mount_path(dev):
                _err(errors, vpath, dev, "is mounted at %s, not /mnt/disks/%s" % (devices[dev], dev),
                     "leave out mount_path of that disk, or use a host_path volume under %s" % devices[dev])
    return ports


def _registries(raw, errors):
    google, logins = [], []
    for i, reg in enumerate(raw or []):
        path = "cos_deploy_registries[%d]" % i
        server = reg.get("server")
        if not isinstance(server, str) or not SERVER_RE.match(server):
            _err(errors, path + ".server", server, "is not a registry host",
                 "give the host name (and :port), e.g. europe-west1-docker.pkg.dev or registry.example.com")
            continue
        username, secret = reg.get("username"), reg.get("password_secret")
        if GOOGLE_REGISTRY_RE.match(server):
            for key, value in (("username", username), ("password_secret", secret)):
                if value is not None:
                    _err(errors, "%s.%s" % (path, key), value, "is set for a Google registry", "leave it out: "
                         "the VM's service account authenticates to %s through docker-credential-gcr" % server,
                         hide=key == "password_secret")
            if server not in google:
                google.append(server)
            continue
        if not username:
            _err(errors, path + ".username", username, "is missing for the third-party registry %s" % server,
                 "give the registry user name")
        parsed = container_spec.parse_secret_ref(secret) if isinstance(secret, str) else None
        if parsed is None:
            # Possibly the password itself, pasted by mistake: never echo it.
            _err(errors, path + ".password_secret", secret, "is not a Secret Manager version reference",
                 "store the password in Secret Manager and give projects/PROJECT/secrets/SECRET/versions/VERSION "
                 "(or sm://PROJECT/SECRET); a plain password would be readable in the instance metadata",
                 hide=True)
            continue
        if username:
            logins.append({"server": server, "username": username,
                           "password_secret": container_spec.secret_ref(*parsed),
                           "unit": "cos-registry-login-%d.service" % len(logins)})
    return sorted(google), logins


def _extra_ports(raw, errors):
    out = set()
    # The same syntax as a container's ports: N, N/tcp or N/udp.
    for i, value in enumerate(raw or []):
        m = container_spec.PORT_RE.match(str(value)) if not isinstance(value, bool) else None
        if not m or not 1 <= int(m.group(1)) <= 65535:
            _err(errors, "cos_deploy_firewall.extra_ports[%d]" % i, value, "is not a port",
                 "use a number from 1 to 65535, or NUMBER/tcp or NUMBER/udp, e.g. 8080 or 53/udp")
            continue
        out.add((int(m.group(1)), m.group(2) or "tcp"))
    return out


def _firewall(raw, instance, errors):
    raw = raw or {}
    name = raw.get("name") or "%s-ports" % instance.get("name", "")
    if not NAME_RE.match(name):
        _err(errors, "cos_deploy_firewall.name", name, "is not a valid firewall rule name",
             "give cos_deploy_firewall.name (1-63 lowercase letters, digits and hyphens; the default is "
             "INSTANCE-ports, which is too long for long instance names)")
    ranges = raw.get("source_ranges") or ["0.0.0.0/0"]
    for i, cidr in enumerate(ranges):
        if not isinstance(cidr, str) or not CIDR_RE.match(cidr):
            _err(errors, "cos_deploy_firewall.source_ranges[%d]" % i, cidr, "is not a CIDR range",
                 "give ranges such as 203.0.113.0/24 or 0.0.0.0/0")
    return {
        "enabled": raw.get("enabled", True) is not False,
        "name": name,
        "network": instance.get("network") or "default",
        "source_ranges": list(ranges),
        "target_tag": raw.get("target_tag") or instance.get("name"),
    }


def cos_deploy_plan(inputs):
    if container_spec is None:
        raise AnsibleFilterError("cos_deploy_plan: the gce.cos collection's module_utils cannot be imported")
    if not isinstance(inputs, dict):
        raise AnsibleFilterError("cos_deploy_plan: expects a mapping of the role's inputs")
    errors, warnings = [], []
    instance = inputs.get("instance") or {}
    if not isinstance(instance.get("name"), str) or not NAME_RE.match(instance.get("name")):
        _err(errors, "cos_deploy_instance.name", instance.get("name"), "is not a valid instance name",
             "use 1-63 lowercase letters, digits and hyphens, starting with a letter")
    disks, devices = _disks(inputs.get("disks"), errors)
    container_ports = _containers(inputs.get("containers"), devices, errors, warnings)
    google, logins = _registries(inputs.get("registries"), errors)
    firewall = _firewall(inputs.get("firewall"), instance, errors)
    containers = inputs.get("containers") or []
    uses_secrets = bool(logins) or any(isinstance(c, dict) and c.get("secret_env") for c in containers)
    scopes = instance.get("scopes")
    if uses_secrets and not (scopes and {"cloud-platform", CLOUD_PLATFORM} & set(scopes)):
        warnings.append("secrets are read on the VM with its service account's token, which needs the cloud-platform "
                        "scope: set cos_deploy_instance.scopes to [cloud-platform] (and grant the service account "
                        "roles/secretmanager.secretAccessor on the secrets)")
    service_account = {}
    if instance.get("service_account"):
        service_account["email"] = instance["service_account"]
    if scopes:
        service_account["scopes"] = list(scopes)
    tags = list(instance.get("tags") or [])
    if firewall["enabled"] and firewall["target_tag"] not in tags:
        tags.append(firewall["target_tag"])
    extra = _extra_ports((inputs.get("firewall") or {}).get("extra_ports"), errors)
    return {
        "errors": errors,
        "warnings": warnings,
        "disks": disks,
        "gcr_registries": google,
        "logins": logins,
        # Canonical container ports are "N/proto" already.
        "ports": sorted(set(container_ports) | set("%d/%s" % p for p in extra), key=_port_key),
        "host_ports": [{"port": p, "proto": proto} for p, proto in sorted(extra)],
        "firewall": firewall,
        "instance": {
            "attached_disks": [{"name": d["name"], "device_name": d["device_name"]} for d in disks],
            "boot_disk": {"size_gb": instance["boot_disk_size_gb"]} if instance.get("boot_disk_size_gb") else None,
            "network_tags": tags,
            "service_account": service_account or None,
        },
    }


class FilterModule(object):
    def filters(self):
        return {"cos_deploy_plan": cos_deploy_plan}
