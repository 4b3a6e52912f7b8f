# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module is PRIVATE to the gce.cos collection: it may change at any time, without notice.
# Do not use it from other collections or from your own plugins.
"""Read, merge and write cloud-init ``#cloud-config`` documents: the one owner of that logic.

Two users, one loader, one merge and one dumper:

- cos_container edits a VM's ``user-data`` in place (``with_migration``, ``with_units``): it adds
  the cos agent, the disks' units and the host firewall to a konlet VM's user-data and
  (``apply: restart``) the container units themselves. Entries it owns are recognised by their
  paths and replaced; everything else in the user's document is kept. The document is re-emitted
  by PyYAML, so comments are lost on the first edit; later edits are stable (same input, same bytes).
- the ``gce.cos.cos_cloud_config`` filter (role cos_deploy) builds one document from parts
  (``assemble``): lists concatenate, mappings merge, the agent's part comes last, unknown
  top-level keys, keys COS's cloud-init ignores (``COS_KEYS``), a path written twice and documents
  over the metadata limit are refused. cos_instance's ``user_data`` goes through
  ``check_cos_user_data``.

The agent's part is always ``cos_agent.cloud_init_fragment()``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.common.text.converters import to_text
from ansible_collections.gce.cos.plugins.module_utils._vm import cos_agent, vm_contract

try:
    import yaml

    HAS_YAML = True
except ImportError:  # pragma: no cover - PyYAML comes with ansible-core
    HAS_YAML = False

HEADER = "#cloud-config"
# The agent's script path: present in any user-data that installs the agent.
# One metadata value holds at most 256 KB.
MAX_BYTES = 256 * 1024
# Line widths of the emitted YAML (only lines of plain or quoted scalars ever fold). They differ
# because each caller's output is already deployed: changing one would change those bytes.
EDIT_WIDTH = 4096
ASSEMBLE_WIDTH = 1000

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

# The cloud-init modules Container-Optimized OS runs (its own cloud.cfg, distro ``cos``), and the
# top-level keys each reads. COS skips every other module, so any other key (packages, mounts,
# disk_setup, ssh_authorized_keys, ...) would be silently ignored on the VM: documents built or set
# through gce.cos refuse it. The COS VM simulator runs the same list (localgce/vm/image.py
# COS_MODULES); a unit test keeps the two equal.
COS_MODULE_KEYS = (
    ("bootcmd", ("bootcmd",)),
    ("write_files", ("write_files",)),
    ("users_groups", ("groups", "user", "users")),
    ("runcmd", ("runcmd",)),
    ("scripts_per_once", ()),
    ("scripts_per_boot", ()),
    ("scripts_per_instance", ()),
    ("scripts_user", ()),
    ("final_message", ("final_message",)),
)
COS_KEYS = frozenset(k for _module, keys in COS_MODULE_KEYS for k in keys)


class CloudConfigError(ValueError):
    pass


def has_agent(user_data):
    return bool(user_data) and vm_contract.AGENT_PATH in user_data


def _parse(text, what):
    """The YAML ``text`` as Python data; CloudConfigError with the parser's message if it is not YAML."""
    if not HAS_YAML:
        raise CloudConfigError("editing %s needs PyYAML: pip install PyYAML" % what)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CloudConfigError(str(exc))


def load(user_data, what="user-data"):
    """The document as a dict ({} for empty user-data); CloudConfigError if it is not cloud-config."""
    if not user_data or not user_data.strip():
        return {}
    first = user_data.lstrip().split("\n", 1)[0].strip()
    if first != HEADER:
        kind = "a shell script" if first.startswith("#!") else "a MIME multi-part document" if (
            "Content-Type" in user_data[:2000]) else "not a #cloud-config document"
        raise CloudConfigError(
            "%s is %s (it starts with %r); gce.cos can only add to a #cloud-config document. Convert it to "
            "#cloud-config (a script can become a runcmd entry), then re-run" % (what, kind, first[:40])
        )
    try:
        doc = _parse(user_data, what)
    except CloudConfigError as exc:
        raise CloudConfigError("%s is not valid YAML: %s" % (what, str(exc).splitlines()[0]))
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise CloudConfigError("%s: a #cloud-config document must be a mapping, not %s" % (what, type(doc).__name__))
    return doc


def cos_ignored_keys(doc):
    """The top-level keys of ``doc`` (a mapping) that COS's cloud-init would ignore, sorted."""
    return sorted(str(k) for k in doc if k not in COS_KEYS)


def cos_ignored_error(keys, what):
    return ("%s has top-level keys that Container-Optimized OS's cloud-init ignores (it does not run their "
            "modules): %s. COS runs only %s; do the same work with bootcmd, runcmd or write_files (COS has no "
            "package manager: run software in a container), then re-run"
            % (what, ", ".join(keys), ", ".join(sorted(COS_KEYS))))


def check_cos_user_data(user_data, what="user_data"):
    """CloudConfigError naming each key COS's cloud-init would ignore in a ``#cloud-config`` document.

    Other kinds of user-data (a script, a MIME multi-part document) and empty text are left alone."""
    if not user_data or user_data.lstrip().split("\n", 1)[0].strip() != HEADER:
        return
    doc = load(user_data, what)
    ignored = cos_ignored_keys(doc)
    if ignored:
        raise CloudConfigError(cos_ignored_error(ignored, what))


class _Dumper(yaml.SafeDumper if HAS_YAML else object):
    """Multi-line strings (scripts, units) as literal blocks, so user-data stays readable."""


def _str_representer(dumper, value):
    # Scripts and units read far better as literal blocks than as escaped one-liners.
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


if HAS_YAML:
    _Dumper.add_representer(str, _str_representer)


def dump(doc, width=EDIT_WIDTH):
    """``doc`` as a ``#cloud-config`` document: keys in their order, deterministic bytes."""
    body = yaml.dump(doc, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True, width=width)
    return HEADER + "\n" + body


def _merge(into, part, where=""):
    """Merge ``part`` into ``into``: lists concatenate, mappings merge key by key, new keys go last.

    The same scalar given twice with different values is a CloudConfigError. Only ``into``
    itself is edited: nested mappings and lists are copied before they change, never edited in place.
    """
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
            raise CloudConfigError("%s is given twice with different values (%r and %r)" % (path, into[key], value))


def _replace(doc, fragment, owned_file, owned_cmd):
    """``doc`` without owned write_files/runcmd entries, then the fragment's merged in (appended).

    A list left empty is dropped; a list that stays keeps its place in the document.
    """
    out = dict(doc)
    for key, owned in (("write_files", owned_file), ("runcmd", owned_cmd)):
        current = out.get(key) or []
        if not isinstance(current, list):
            raise CloudConfigError("user-data: %s must be a list" % key)
        if key in out:
            out[key] = [entry for entry in current if not owned(entry)]
    _merge(out, dict((key, list(fragment.get(key) or [])) for key in ("write_files", "runcmd")))
    for key in ("write_files", "runcmd"):
        if not out[key]:
            del out[key]
    return out


def _path_of(entry):
    return entry.get("path", "") if isinstance(entry, dict) else ""


def _words(entry):
    if isinstance(entry, list):
        return " ".join(str(w) for w in entry)
    return str(entry)


def _agent_file(entry):
    return _path_of(entry) in (vm_contract.AGENT_PATH, vm_contract.FETCH_SECRETS_PATH, vm_contract.AGENT_UNIT_PATH)


def _agent_cmd(entry):
    return vm_contract.AGENT_UNIT_NAME in _words(entry)


def with_agent(user_data):
    """user-data with the cos agent installed and started (cos_agent.cloud_init_fragment)."""
    doc = load(user_data)
    merged = _replace(doc, cos_agent.cloud_init_fragment(), _agent_file, _agent_cmd)
    # The agent ships the fetch-secrets helper: a copy written for apply: restart goes.
    paths = [_path_of(e) for e in merged.get("write_files") or []]
    if paths.count(vm_contract.FETCH_SECRETS_PATH) > 1:
        first = paths.index(vm_contract.FETCH_SECRETS_PATH)
        merged["write_files"] = [e for i, e in enumerate(merged["write_files"]) if i != first]
    return dump(merged)


def with_migration(user_data, parts=()):
    """user-data for a VM moved off konlet: ``parts`` (the disks' units, the host firewall), then the cos agent.

    Each part is a dict of ``write_files`` and ``runcmd`` entries (disk_units.fragment,
    konlet.firewall_fragment). Entries a part or the agent writes replace their earlier copies, so
    the same parts give the same document; everything else in the user's document is kept. A
    runcmd entry given by two parts (``systemctl daemon-reload``) is kept once.
    """
    from ansible_collections.gce.cos.plugins.module_utils import konlet
    from ansible_collections.gce.cos.plugins.module_utils._vm import disk_units

    doc = load(user_data)
    fragment = {"write_files": [], "runcmd": []}
    for part in [*parts, cos_agent.cloud_init_fragment()]:
        fragment["write_files"].extend(part.get("write_files") or [])
        for cmd in part.get("runcmd") or []:
            if cmd not in fragment["runcmd"]:
                fragment["runcmd"].append(cmd)
    paths = {_path_of(e) for e in fragment["write_files"]}

    def owned_file(entry):
        path = _path_of(entry)
        return _agent_file(entry) or disk_units.owns_file(path) or path in paths

    def owned_cmd(entry):
        return _agent_cmd(entry) or entry in fragment["runcmd"] or konlet.FIREWALL_MARK in _words(entry)

    merged = _replace(doc, fragment, owned_file, owned_cmd)
    if merged == doc:
        return user_data
    return dump(merged)


def units_fragment(units, helper=True):
    """cloud-config entries that write and start ``units`` ({name: unit text}) at every boot.

    For ``apply: restart`` (no agent). The fetch-secrets helper comes along when a unit
    needs it. One runcmd entry reloads and starts, so that it is recognisable as ours;
    --no-block keeps a long pull from holding up cloud-init.
    """
    files = []
    for name in sorted(units):
        files.append({
            "path": vm_contract.UNIT_DIR + "/" + vm_contract.unit_name(name),
            "permissions": "0644",
            "owner": "root",
            "content": units[name],
        })
    if helper and any(vm_contract.FETCH_SECRETS_PATH in text for text in units.values()):
        files.append({
            "path": vm_contract.FETCH_SECRETS_PATH,
            "permissions": "0755",
            "owner": "root",
            "content": cos_agent.FETCH_SECRETS_SCRIPT,
        })
    cmds = []
    if units:
        start = " ".join(vm_contract.unit_name(n) for n in sorted(units))
        cmds.append(["/bin/bash", "-c", "systemctl daemon-reload && systemctl start --no-block %s" % start])
    return {"write_files": files, "runcmd": cmds}


def with_units(user_data, units):
    """user-data whose container units are exactly ``units``; other entries are kept."""
    doc = load(user_data)
    # With the agent installed, the helper belongs to the agent's entries: leave it alone.
    owns_helper = not has_agent(user_data)

    def owned_file(entry):
        path = _path_of(entry)
        if path.startswith(vm_contract.UNIT_DIR + "/" + vm_contract.UNIT_PREFIX):
            return True
        return owns_helper and path == vm_contract.FETCH_SECRETS_PATH

    def owned_cmd(entry):
        return vm_contract.UNIT_PREFIX in _words(entry)

    merged = _replace(doc, units_fragment(units, helper=owns_helper), owned_file, owned_cmd)
    if merged == doc:
        return user_data  # same content: keep the user's formatting and comments
    return dump(merged)


def _plain(value):
    """Ansible's string and mapping subclasses as plain Python types, for the safe dumper."""
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


def _part(part, index):
    """One part for ``assemble``: a mapping, or YAML text (a ``#cloud-config`` line is a comment)."""
    if part is None:
        return {}
    if isinstance(part, str):
        try:
            part = _parse(to_text(part), "part %d" % index)
        except CloudConfigError as exc:
            raise CloudConfigError("part %d is not valid YAML: %s" % (index, exc))
        if part is None:
            return {}
    if not isinstance(part, dict):
        raise CloudConfigError("part %d is a %s, not a mapping of cloud-config keys" % (index, type(part).__name__))
    return part


def assemble_doc(parts, agent=True):
    """The merged cloud-config of ``parts`` as a dict (``assemble`` without the YAML text).

    Parts (mappings or YAML text, empty ones skipped) merge in order; with ``agent`` the
    agent's part (cos_agent.cloud_init_fragment) comes last, so that the units the other
    parts write exist before the agent starts any container. CloudConfigError for a part that
    is not a mapping, a top-level key cloud-init does not know or COS's cloud-init ignores
    (``COS_KEYS``), a scalar given twice with
    different values, or a path written twice.
    """
    if not isinstance(parts, (list, tuple)):
        raise CloudConfigError("expects a list of parts, got %s" % type(parts).__name__)
    parts = [_part(p, i) for i, p in enumerate(parts)]
    if agent:
        parts.append(cos_agent.cloud_init_fragment())
    doc = {}
    for index, part in enumerate(parts):
        unknown = sorted(k for k in part if k not in SCHEMA_KEYS)
        if unknown:
            raise CloudConfigError("part %d has top-level keys cloud-init does not know: %s"
                                   % (index, ", ".join(map(str, unknown))))
        ignored = cos_ignored_keys(part)
        if ignored:
            raise CloudConfigError(cos_ignored_error(ignored, "part %d" % index))
        _merge(doc, _plain(part), "")
    seen = set()
    for entry in doc.get("write_files", []):
        path = entry.get("path") if isinstance(entry, dict) else None
        if path in seen:
            raise CloudConfigError("write_files writes %s twice" % path)
        seen.add(path)
    return doc


def assemble(parts, agent=True):
    """``assemble_doc`` as a ``#cloud-config`` document; CloudConfigError if over MAX_BYTES."""
    text = dump(assemble_doc(parts, agent=agent), width=ASSEMBLE_WIDTH)
    size = len(text.encode("utf-8"))
    if size > MAX_BYTES:
        raise CloudConfigError("the document has %d bytes, more than the %d a metadata value may hold; move large "
                               "files into a container image or a disk" % (size, MAX_BYTES))
    return text
