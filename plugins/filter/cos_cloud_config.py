# -*- coding: utf-8 -*-
# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: cos_cloud_config
short_description: Merge cloud-config parts into one C(#cloud-config) document, with the cos agent
version_added: 0.1.0
description:
  - Merges a list of cloud-config parts (mappings, or YAML text such as a rendered template) into one
    C(#cloud-config) document for the C(user-data) metadata key of a Container-Optimized OS VM.
  - Lists (C(write_files), C(runcmd), C(bootcmd), ...) are concatenated in the order of the parts; mappings
    are merged key by key; the same scalar given twice with different values is an error.
  - With O(agent=true) the cos agent's own part (its scripts, its systemd unit and the commands that start
    it) is added last, so that the units written by the other parts exist before the agent starts any
    container. The agent part comes from the collection's C(module_utils), the same text
    M(gce.cos.cos_container) installs.
  - Only top-level keys that the cloud-init schema knows are accepted (cloud-init itself silently ignores a
    misspelled top-level key), and two files written to the same path are refused.
  - The result is deterministic (the same parts give the same bytes), so a re-run changes nothing, and it
    must fit the 256 KB limit of one metadata value.
positional: _input
options:
  _input:
    description:
      - The parts, in order. Each is a mapping or YAML text (a leading C(#cloud-config) line is allowed);
        empty parts are skipped.
    type: list
    elements: raw
    required: true
  agent:
    description:
      - Whether to add the cos agent's part.
    type: bool
    default: true
author:
  - gce.cos contributors
"""

EXAMPLES = r"""
- name: One user-data document from the role's templates
  ansible.builtin.set_fact:
    user_data: >-
      {{ [lookup('ansible.builtin.template', 'disks.yml.j2'),
          lookup('ansible.builtin.template', 'docker.yml.j2')] | gce.cos.cos_cloud_config }}

- name: Without the agent
  ansible.builtin.debug:
    msg: "{{ [{'runcmd': [['echo', 'hello']]}] | gce.cos.cos_cloud_config(agent=false) }}"
"""

RETURN = r"""
_value:
  description:
    - The document, starting with C(#cloud-config).
  type: str
"""

import yaml
from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_text

try:
    from ansible_collections.gce.cos.plugins.module_utils.cos_agent import cloud_init_fragment
except ImportError:  # pragma: no cover - only outside an installed collection
    cloud_init_fragment = None

HEADER = "#cloud-config\n"
# One metadata value holds at most 256 KB (FACTS §2).
MAX_BYTES = 256 * 1024

# The top-level keys of cloud-init 22.4's schema (schema-cloud-config-v1.json, the union of
# the modules' properties). A test keeps this list equal to the installed schema.
SCHEMA_KEYS = frozenset((
    "allow_public_ssh_keys", "ansible", "apk_repos", "apt", "apt_pipelining", "apt_reboot_if_required",
    "apt_update", "apt_upgrade", "authkey_hash", "autoinstall", "bootcmd", "byobu_by_default", "ca-certs",
    "ca_certs", "chef", "chpasswd", "cloud_config_modules", "cloud_final_modules", "cloud_init_modules",
    "device_aliases", "disable_ec2_metadata", "disable_root", "disable_root_opts", "disk_setup", "drivers",
    "fan", "final_message", "fqdn", "fs_setup", "groups", "growpart", "grub-dpkg", "grub_dpkg", "hostname",
    "keyboard", "landscape", "locale", "locale_configfile", "lxd", "manage_etc_hosts", "manage_resolv_conf",
    "mcollective", "migrate", "mount_default_fields", "mounts", "no_ssh_fingerprints", "ntp",
    "package_reboot_if_required", "package_update", "package_upgrade", "packages", "password", "phone_home",
    "power_state", "prefer_fqdn_over_hostname", "preserve_hostname", "puppet", "random_seed", "reporting",
    "resize_rootfs", "resolv_conf", "rh_subscription", "rsyslog", "runcmd", "salt_minion", "snap",
    "spacewalk", "ssh", "ssh_authorized_keys", "ssh_deletekeys", "ssh_fp_console_blacklist",
    "ssh_genkeytypes", "ssh_import_id", "ssh_key_console_blacklist", "ssh_keys", "ssh_publish_hostkeys",
    "ssh_pwauth", "ssh_quiet_keygen", "swap", "timezone", "ubuntu_advantage", "updates", "user", "users",
    "vendor_data", "wireguard", "write_files", "yum_repo_dir", "yum_repos", "zypper",
))


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (scripts, units) as literal blocks, so user-data stays readable."""


def _str_representer(dumper, data):
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _str_representer)


def _load(part, index):
    if part is None:
        return {}
    if isinstance(part, str):
        try:
            part = yaml.safe_load(to_text(part))
        except yaml.YAMLError as exc:
            raise AnsibleFilterError("cos_cloud_config: part %d is not valid YAML: %s" % (index, exc))
        if part is None:
            return {}
    if not isinstance(part, dict):
        raise AnsibleFilterError("cos_cloud_config: part %d is a %s, not a mapping of cloud-config keys"
                                 % (index, type(part).__name__))
    return part


def _plain(value):
    """Ansible's string and mapping subclasses as plain Python types, for safe_dump."""
    # str()/int() of a subclass (Ansible's tagged values) give the exact built-in type.
    if isinstance(value, dict):
        return dict((str(to_text(k)), _plain(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        return str(to_text(value))
    if isinstance(value, bool) or value is None:
        return bool(value) if value is not None else None
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return value


def _merge(into, part, where):
    for key, value in part.items():
        path = "%s.%s" % (where, key) if where else key
        if key not in into:
            into[key] = value
        elif isinstance(into[key], list) and isinstance(value, list):
            into[key] = into[key] + value
        elif isinstance(into[key], dict) and isinstance(value, dict):
            into[key] = dict(into[key])
            _merge(into[key], value, path)
        elif into[key] != value:
            raise AnsibleFilterError("cos_cloud_config: %s is given twice with different values (%r and %r)"
                                     % (path, into[key], value))


def merge_parts(parts, agent=True):
    """The merged cloud-config as a dict (the filter's work without the YAML text)."""
    if not isinstance(parts, (list, tuple)):
        raise AnsibleFilterError("cos_cloud_config: expects a list of parts, got %s" % type(parts).__name__)
    parts = [_load(p, i) for i, p in enumerate(parts)]
    if agent:
        if cloud_init_fragment is None:
            raise AnsibleFilterError("cos_cloud_config: the gce.cos collection's module_utils cannot be imported")
        parts.append(cloud_init_fragment())
    doc = {}
    for index, part in enumerate(parts):
        unknown = sorted(k for k in part if k not in SCHEMA_KEYS)
        if unknown:
            raise AnsibleFilterError("cos_cloud_config: part %d has top-level keys cloud-init does not know: %s"
                                     % (index, ", ".join(map(str, unknown))))
        _merge(doc, _plain(part), "")
    seen = set()
    for entry in doc.get("write_files", []):
        path = entry.get("path") if isinstance(entry, dict) else None
        if path in seen:
            raise AnsibleFilterError("cos_cloud_config: write_files writes %s twice" % path)
        seen.add(path)
    return doc


def cos_cloud_config(parts, agent=True):
    doc = merge_parts(parts, agent=agent)
    text = HEADER + yaml.dump(doc, Dumper=_Dumper, default_flow_style=False, sort_keys=False,
                              allow_unicode=True, width=1000)
    size = len(text.encode("utf-8"))
    if size > MAX_BYTES:
        raise AnsibleFilterError("cos_cloud_config: the document has %d bytes, more than the %d a metadata value "
                                 "may hold; move large files into a container image or a disk" % (size, MAX_BYTES))
    return text


class FilterModule(object):
    def filters(self):
        return {"cos_cloud_config": cos_cloud_config}
