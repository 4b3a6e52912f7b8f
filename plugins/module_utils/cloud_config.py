# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Edit a VM's cloud-init ``user-data`` (a ``#cloud-config`` document) in place.

cos_container adds the cos agent to a konlet VM's user-data, and (``apply: restart``) the
container units themselves. Entries it owns are recognised by their paths and replaced;
everything else in the user's document is kept. The document is re-emitted by PyYAML, so
comments are lost on the first edit; later edits are stable (same input, same bytes).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.gce.cos.plugins.module_utils import container_unit, cos_agent

try:
    import yaml

    HAS_YAML = True
except ImportError:  # pragma: no cover - PyYAML comes with ansible-core
    HAS_YAML = False

HEADER = "#cloud-config"
# The agent's script path: present in any user-data that installs the agent.
AGENT_MARKER = cos_agent.AGENT_PATH
UNIT_DIR = "/etc/systemd/system/"


class CloudConfigError(ValueError):
    pass


def has_agent(user_data):
    return bool(user_data) and AGENT_MARKER in user_data


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
    if not HAS_YAML:
        raise CloudConfigError("editing %s needs PyYAML: pip install PyYAML" % what)
    try:
        doc = yaml.safe_load(user_data)
    except yaml.YAMLError as exc:
        raise CloudConfigError("%s is not valid YAML: %s" % (what, str(exc).splitlines()[0]))
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise CloudConfigError("%s: a #cloud-config document must be a mapping, not %s" % (what, type(doc).__name__))
    return doc


class _Dumper(yaml.SafeDumper if HAS_YAML else object):
    pass


def _str_representer(dumper, value):
    # Scripts and units read far better as literal blocks than as escaped one-liners.
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


if HAS_YAML:
    _Dumper.add_representer(str, _str_representer)


def dump(doc):
    body = yaml.dump(doc, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True, width=4096)
    return HEADER + "\n" + body


def _merge(doc, fragment, owned_file, owned_cmd):
    """``doc`` without owned write_files/runcmd entries, then the fragment's appended."""
    out = dict(doc)
    for key, owned in (("write_files", owned_file), ("runcmd", owned_cmd)):
        current = out.get(key) or []
        if not isinstance(current, list):
            raise CloudConfigError("user-data: %s must be a list" % key)
        kept = [entry for entry in current if not owned(entry)]
        merged = kept + list(fragment.get(key) or [])
        if merged:
            out[key] = merged
        else:
            out.pop(key, None)
    return out


def _path_of(entry):
    return entry.get("path", "") if isinstance(entry, dict) else ""


def _words(entry):
    if isinstance(entry, list):
        return " ".join(str(w) for w in entry)
    return str(entry)


def _agent_file(entry):
    return _path_of(entry) in (cos_agent.AGENT_PATH, cos_agent.FETCH_SECRETS_PATH, cos_agent.AGENT_UNIT_PATH)


def _agent_cmd(entry):
    return cos_agent.AGENT_UNIT_NAME in _words(entry)


def with_agent(user_data):
    """user-data with the cos agent installed and started (cos_agent.cloud_init_fragment)."""
    doc = load(user_data)
    merged = _merge(doc, cos_agent.cloud_init_fragment(), _agent_file, _agent_cmd)
    # The agent ships the fetch-secrets helper: a copy written for apply: restart goes.
    paths = [_path_of(e) for e in merged.get("write_files") or []]
    if paths.count(cos_agent.FETCH_SECRETS_PATH) > 1:
        first = paths.index(cos_agent.FETCH_SECRETS_PATH)
        merged["write_files"] = [e for i, e in enumerate(merged["write_files"]) if i != first]
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
            "path": UNIT_DIR + container_unit.unit_name(name),
            "permissions": "0644",
            "owner": "root",
            "content": units[name],
        })
    if helper and any(container_unit.FETCH_SECRETS in text for text in units.values()):
        files.append({
            "path": container_unit.FETCH_SECRETS,
            "permissions": "0755",
            "owner": "root",
            "content": cos_agent.FETCH_SECRETS_SCRIPT,
        })
    cmds = []
    if units:
        start = " ".join(container_unit.unit_name(n) for n in sorted(units))
        cmds.append(["/bin/bash", "-c", "systemctl daemon-reload && systemctl start --no-block %s" % start])
    return {"write_files": files, "runcmd": cmds}


def with_units(user_data, units):
    """user-data whose container units are exactly ``units``; other entries are kept."""
    doc = load(user_data)
    # With the agent installed, the helper belongs to the agent's entries: leave it alone.
    owns_helper = not has_agent(user_data)

    def owned_file(entry):
        path = _path_of(entry)
        if path.startswith(UNIT_DIR + container_unit.UNIT_PREFIX):
            return True
        return owns_helper and path == container_unit.FETCH_SECRETS

    def owned_cmd(entry):
        return container_unit.UNIT_PREFIX in _words(entry)

    merged = _merge(doc, units_fragment(units, helper=owns_helper), owned_file, owned_cmd)
    if merged == doc:
        return user_data  # same content: keep the user's formatting and comments
    return dump(merged)


def units_in(user_data):
    """{name: unit text} of the container units a user-data document writes ({} if none or unreadable)."""
    try:
        doc = load(user_data)
    except CloudConfigError:
        return {}
    out = {}
    prefix = UNIT_DIR + container_unit.UNIT_PREFIX
    for entry in doc.get("write_files") or []:
        path = _path_of(entry)
        if path.startswith(prefix) and path.endswith(".service"):
            out[path[len(prefix):-len(".service")]] = entry.get("content", "")
    return out
