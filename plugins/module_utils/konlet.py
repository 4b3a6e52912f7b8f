# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Convert a konlet ``gce-container-declaration`` into a gce.cos container spec.

konlet (the deprecated container startup agent) read the declaration with Go's
yaml.v2 into fixed structs: unknown keys were ignored, keys were case-sensitive, any
scalar was accepted as a string (its text), and a type mismatch failed the whole parse.
This module walks the YAML node tree the same way, applies konlet's checks with konlet's
own error texts, and maps what konlet did onto the spec (docs/docsite/rst/guide_migration.rst,
"The conversion, field by field").
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.gce.cos.plugins.module_utils._vm import vm_contract
from ansible_collections.gce.cos.plugins.module_utils.container_spec import (
    NAME_RE,
    SpecError,
    validate,
)

try:
    import yaml

    HAS_YAML = True
    YAML_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - PyYAML is a collection requirement
    HAS_YAML = False
    YAML_IMPORT_ERROR = exc

RESTART_POLICIES = {"Always": "always", "OnFailure": "on-failure", "Never": "never"}
# Where konlet mounted its volumes on the host (volumes.go, createNewMountPath).
KONLET_MOUNT_ROOT = "/mnt/disks/gce-containers-mounts"

_TAG_PREFIX = "tag:yaml.org,2002:"


class KonletError(ValueError):
    """The declaration cannot be converted; ``errors`` lists every reason.

    ``kind`` says whose limit it is: ``refused`` (Refused: konlet itself rejects the declaration),
    ``unsupported`` (Unsupported: konlet runs it, gce.cos cannot convert it yet) or ``error``
    (this controller cannot read it, e.g. PyYAML is missing).
    """

    kind = "error"
    header = "%s cannot be converted" % vm_contract.KONLET_KEY

    def __init__(self, errors):
        self.errors = list(errors)
        if len(self.errors) == 1:
            text = "%s: %s" % (self.header, self.errors[0])
        else:
            text = "%s (%d problems):\n%s" % (
                self.header, len(self.errors), "\n".join("- %s" % e for e in self.errors))
        ValueError.__init__(self, text)


class Refused(KonletError):
    """konlet itself rejects the declaration; ``errors`` are konlet's own texts."""

    kind = "refused"
    header = "%s is refused by konlet itself" % vm_contract.KONLET_KEY


class Unsupported(KonletError):
    """konlet runs the declaration, but gce.cos cannot convert it yet; each error names its fix."""

    kind = "unsupported"
    header = "konlet runs this %s, but gce.cos cannot convert it yet" % vm_contract.KONLET_KEY


class _Reader:
    """yaml.v2-style decoding of the node tree into plain values, collecting type errors."""

    def __init__(self):
        self.errors = []

    def _fail(self, node, target):
        kind = node.tag[len(_TAG_PREFIX):] if node.tag.startswith(_TAG_PREFIX) else node.tag
        shown = " `%s`" % node.value if isinstance(node, yaml.ScalarNode) else ""
        self.errors.append("Cannot parse container declaration: line %d: cannot unmarshal !!%s%s into %s"
                           % (node.start_mark.line + 1, kind, shown, target))

    @staticmethod
    def is_null(node):
        return node is None or (isinstance(node, yaml.ScalarNode) and node.tag == _TAG_PREFIX + "null")

    def mapping(self, node, target):
        """{key text: value node}; later duplicates win, as in yaml.v2 struct decoding."""
        if self.is_null(node):
            return {}
        if not isinstance(node, yaml.MappingNode):
            self._fail(node, target)
            return {}
        out = {}
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                out[key.value] = value
        return out

    def sequence(self, node, target):
        """A list of nodes, or None when absent/null (Go's nil slice)."""
        if self.is_null(node):
            return None
        if not isinstance(node, yaml.SequenceNode):
            self._fail(node, target)
            return None
        return list(node.value)

    def string(self, node):
        # yaml.v2 puts the text of any scalar into a string field (8080 -> "8080").
        if self.is_null(node):
            return ""
        if not isinstance(node, yaml.ScalarNode):
            self._fail(node, "string")
            return ""
        return node.value

    def strings(self, node):
        items = self.sequence(node, "[]string")
        if items is None:
            return None
        return [self.string(item) for item in items]

    def boolean(self, node):
        if self.is_null(node):
            return False
        if isinstance(node, yaml.ScalarNode) and node.tag == _TAG_PREFIX + "bool":
            return node.value.lower() in ("yes", "true", "on")
        self._fail(node, "bool")
        return False

    def integer(self, node):
        if self.is_null(node):
            return 0
        if isinstance(node, yaml.ScalarNode) and node.tag == _TAG_PREFIX + "int":
            return int(yaml.safe_load(node.value))
        self._fail(node, "int")
        return 0


def _compose(text):
    if not HAS_YAML:
        raise KonletError(["reading a konlet declaration needs PyYAML (a requirement of the gce.cos collection): "
                           "install it with `pip install PyYAML` (import error: %s)" % YAML_IMPORT_ERROR])
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise Refused(["Cannot parse container declaration: %s" % exc]) from None


def parse(text):
    """Decode a declaration as konlet did; returns plain data or raises KonletError.

    The result holds only the keys konlet read: {containers: [...], volumes: [...],
    restartPolicy: str or None}, each container with name, image, command, args, env,
    volumeMounts, privileged, stdin and tty.
    """
    root = _compose(text)
    r = _Reader()
    spec = r.mapping(r.mapping(root, "types.ContainerSpec").get("spec"), "types.ContainerSpecStruct")
    out = {"containers": [], "volumes": [], "restartPolicy": None}

    for cnode in r.sequence(spec.get("containers"), "[]types.Container") or []:
        c = r.mapping(cnode, "types.Container")
        env = []
        for enode in r.sequence(c.get("env"), "[]struct { Name string; Value string }") or []:
            e = r.mapping(enode, "struct { Name string; Value string }")
            env.append({"name": r.string(e.get("name")), "value": r.string(e.get("value"))})
        mounts = []
        mount_type = "struct { Name string; MountPath string; ReadOnly bool }"
        for mnode in r.sequence(c.get("volumeMounts"), "[]" + mount_type) or []:
            m = r.mapping(mnode, mount_type)
            mounts.append({"name": r.string(m.get("name")), "mountPath": r.string(m.get("mountPath")),
                           "readOnly": r.boolean(m.get("readOnly"))})
        security = r.mapping(c.get("securityContext"), "types.SecurityContextDeclaration")
        out["containers"].append({
            "name": r.string(c.get("name")),
            "image": r.string(c.get("image")),
            "command": r.strings(c.get("command")),
            "args": r.strings(c.get("args")),
            "env": env,
            "volumeMounts": mounts,
            "privileged": r.boolean(security.get("privileged")),
            "stdin": r.boolean(c.get("stdin")),
            "tty": r.boolean(c.get("tty")),
        })

    for vnode in r.sequence(spec.get("volumes"), "[]types.Volume") or []:
        v = r.mapping(vnode, "types.Volume")
        vol = {"name": r.string(v.get("name")), "hostPath": None, "emptyDir": None, "gcePersistentDisk": None}
        # A key that is present but null is a nil pointer to yaml.v2: not a definition.
        if not r.is_null(v.get("hostPath")):
            vol["hostPath"] = {"path": r.string(r.mapping(v.get("hostPath"), "types.HostPathVolume").get("path"))}
        if not r.is_null(v.get("emptyDir")):
            vol["emptyDir"] = {"medium": r.string(r.mapping(v.get("emptyDir"), "types.EmptyDirVolume").get("medium"))}
        if not r.is_null(v.get("gcePersistentDisk")):
            pd = r.mapping(v.get("gcePersistentDisk"), "types.GcePersistentDiskVolume")
            vol["gcePersistentDisk"] = {"pdName": r.string(pd.get("pdName")), "fsType": r.string(pd.get("fsType")),
                                        "partition": r.integer(pd.get("partition"))}
        out["volumes"].append(vol)

    policy = spec.get("restartPolicy")
    if not r.is_null(policy):
        out["restartPolicy"] = r.string(policy)
    if r.errors:
        raise Refused(r.errors)
    return out


def _check(decl, attached_disks):
    """konlet's own checks, in konlet's order, with konlet's texts; all are collected."""
    errors = []
    count = len(decl["containers"])
    if count != 1:
        errors.append("Container declaration should include exactly 1 container, %d found" % count)
        return errors
    container = decl["containers"][0]
    defined = {v["name"] for v in decl["volumes"]}
    wants_rw = {}
    referenced = set()
    for mount in container["volumeMounts"]:
        if mount["name"] not in defined:
            errors.append("Invalid container declaration: Volume %s referenced in container %s (index: 0) not found "
                          "in volume definitions." % (mount["name"], container["name"]))
            continue
        referenced.add(mount["name"])
        wants_rw[mount["name"]] = wants_rw.get(mount["name"], False) or not mount["readOnly"]
    for vol in decl["volumes"]:
        if vol["name"] not in referenced:
            errors.append("Invalid container declaration: Volume %s not referenced by any container." % vol["name"])
    for vol in decl["volumes"]:
        definitions = sum(1 for k in ("hostPath", "emptyDir", "gcePersistentDisk") if vol[k] is not None)
        if definitions != 1:
            errors.append("Invalid container declaration: Exactly one volume specification required for volume %s, "
                          "%d found." % (vol["name"], definitions))
            continue
        if vol["emptyDir"] is not None and vol["emptyDir"]["medium"] != "Memory":
            errors.append("Volume %s: Unsupported emptyDir volume medium: %s"
                          % (vol["name"], vol["emptyDir"]["medium"]))
        pd = vol["gcePersistentDisk"]
        if pd is not None:
            if pd["fsType"] not in ("", "ext4"):
                errors.append("Volume %s: Unsupported filesystem type: %s" % (vol["name"], pd["fsType"]))
            elif pd["pdName"] == "":
                errors.append("Volume %s: Empty GCE Persistent Disk name!" % vol["name"])
            elif attached_disks is not None:
                mode = attached_disks.get(pd["pdName"])
                if mode is None:
                    errors.append("Volume %s: Could not determine if the GCE Persistent Disk %s is attached read-only "
                                  "or read-write." % (vol["name"], pd["pdName"]))
                elif mode == "READ_ONLY" and wants_rw.get(vol["name"]):
                    errors.append("Volume %s: Volume mount requires read-write access, but the GCE Persistent Disk %s "
                                  "is attached read-only." % (vol["name"], pd["pdName"]))
    policy = decl["restartPolicy"]
    if policy is not None and policy not in RESTART_POLICIES:
        errors.append("Invalid container declaration: Unsupported container restart policy '%s'" % policy)
    return errors


# What konlet did to the host firewall at every start (ACCEPT on INPUT and FORWARD for tcp, udp
# and icmp); the migration does it at every boot, for IPv6 too (COS drops both by default).
FIREWALL_CHAINS = ("INPUT", "FORWARD")
FIREWALL_PROTOCOLS = (("iptables", ("tcp", "udp", "icmp")), ("ip6tables", ("tcp", "udp", "ipv6-icmp")))
# The first word of the runcmd entry that opens it: how the entry is recognised in user-data.
FIREWALL_MARK = ": gce.cos konlet host firewall;"
FIREWALL_TEXT = ("the host firewall is opened at every boot as konlet opened it: ACCEPT for tcp, udp and icmp on "
                 "INPUT and FORWARD, for IPv4 (iptables) and IPv6 (ip6tables)")


def firewall_fragment():
    """The cloud-config runcmd entry that opens the host firewall as konlet did, at every boot.

    -C before -A keeps the rules single when cloud-init runs again; not every VM has IPv6, so
    ip6tables may fail without failing the rest.
    """
    words = [FIREWALL_MARK]
    for tool, protocols in FIREWALL_PROTOCOLS:
        tail = " || true" if tool == "ip6tables" else ""
        for chain in FIREWALL_CHAINS:
            for proto in protocols:
                rule = "%s -p %s -j ACCEPT" % (chain, proto)
                words.append("{ %s -w -C %s 2>/dev/null || %s -w -A %s%s; };" % (tool, rule, tool, rule, tail))
    return {"runcmd": [["/bin/bash", "-c", " ".join(words)]]}


def disks(spec, attached_disks=None):
    """The disks a converted spec uses, as disk_units entries (konlet's format-if-blank and fsck).

    A disk attached READ_ONLY is mounted read-only and neither formatted nor checked.
    """
    from ansible_collections.gce.cos.plugins.module_utils._vm import disk_units

    out, seen = [], set()
    for vol in spec["volumes"]:
        if vol["type"] != "disk":
            continue
        key = (vol["device_name"], vol["partition"])
        if key in seen:
            continue
        seen.add(key)
        mode = (attached_disks or {}).get(vol["device_name"], "READ_WRITE")
        out.append(disk_units.disk(vol["device_name"], vol["partition"], read_only=mode == "READ_ONLY"))
    return out


def convert(text, name=None, attached_disks=None, ports=None):
    """Convert declaration text to a normalised gce.cos spec with konlet's semantics.

    ``name`` overrides the container name (konlet accepted names the spec cannot use).
    ``attached_disks`` maps the instance's disk deviceName to its mode (READ_WRITE or
    READ_ONLY); with it, konlet's attachment checks run too.
    ``ports``: None keeps konlet's open host firewall (``firewall_fragment``, which the caller
    writes into user-data); a list opens only those ports (the container's unit does, while it runs).
    Returns ``(spec, notes)``: notes are what the user should know about the move.
    Raises Refused with konlet's own reasons, or Unsupported with what gce.cos cannot convert and the fix.
    """
    decl = parse(text)
    errors = _check(decl, attached_disks)
    if errors:
        raise Refused(errors)
    container = decl["containers"][0]
    volumes = {v["name"]: v for v in decl["volumes"]}
    if ports is None:
        notes = [FIREWALL_TEXT + "; to open only the ports the container serves instead, migrate with ports: [...]"]
    else:
        notes = ["only ports %s are opened on the host firewall (by the container's unit, while it runs), not "
                 "everything as konlet did; traffic to any other port is dropped"
                 % (", ".join(str(p) for p in ports) or "(none)")]

    env = {}
    for item in container["env"]:
        env[item["name"]] = item["value"]  # docker keeps the last of duplicate names
    spec = {
        "name": name if name is not None else container["name"],
        "image": container["image"],
        "command": container["command"] or [],
        "args": container["args"] or [],
        "env": env,
        "privileged": container["privileged"],
        "stdin": container["stdin"],
        "tty": container["tty"],
        "restart_policy": RESTART_POLICIES[decl["restartPolicy"] or "Always"],
        # konlet's log settings, which are also the spec's defaults; spelled out for clarity.
        "log_driver": "json-file",
        "log_opts": {"max-size": "500m", "max-file": "3"},
        "volumes": [],
    }
    if ports is not None:
        spec["ports"] = list(ports)
    for mount in container["volumeMounts"]:
        vol = volumes[mount["name"]]
        target = {"container_path": mount["mountPath"], "read_only": mount["readOnly"]}
        if vol["hostPath"] is not None:
            target.update(type="host_path", host_path=vol["hostPath"]["path"])
        elif vol["emptyDir"] is not None:
            target = {"type": "tmpfs", "container_path": mount["mountPath"]}
            if mount["readOnly"]:
                notes.append("volume %s: a read-only emptyDir mount is always empty; it becomes a writable tmpfs"
                             % vol["name"])
        else:
            pd = vol["gcePersistentDisk"]
            target.update(type="disk", device_name=pd["pdName"])
            if pd["partition"] > 0:
                target["partition"] = pd["partition"]
            ident = pd["pdName"] + ("-part%d" % pd["partition"] if pd["partition"] > 0 else "")
            notes.append(
                "volume %s: konlet mounted disk %s at %s/gce-persistent-disks/%s; gce.cos mounts it at /mnt/disks/%s "
                "(the container still sees it at %s): at every boot the user-data's cos-disk-prepare-%s.service "
                "formats it only when it is blank and checks it with fsck.ext4 -p, then mounts it" % (
                    vol["name"], pd["pdName"], KONLET_MOUNT_ROOT, pd["pdName"], ident, mount["mountPath"], ident))
        spec["volumes"].append(target)
    if any(v["emptyDir"] is not None for v in decl["volumes"]):
        notes.append("emptyDir volumes become docker tmpfs mounts: still in memory, but emptied at every container "
                     "restart (konlet kept them until the VM rebooted)")
    if decl["restartPolicy"] == "OnFailure":
        notes.append("OnFailure restarts without a limit, as with konlet; set max_retries to cap it")

    if spec["name"] == "" or not NAME_RE.match(spec["name"]):
        fix_name = _suggest_name(spec["name"])
        raise Unsupported([
            "the container name %r cannot be used by gce.cos (it names the unit and the metadata key): use 1-63 "
            "lowercase letters, digits or hyphens, starting with a letter; pass name=%s to convert it under a new "
            "name" % (spec["name"], fix_name)])
    try:
        normalised = validate(spec, path="converted spec")
    except SpecError as exc:
        raise Unsupported([_in_konlet_terms(str(e)) for e in exc.errors]) from None
    return normalised, notes


def _in_konlet_terms(error):
    """A spec error with the fix said in the declaration's terms too."""
    if ".host_path: " in error and "writable volume" in error:
        return error + " (in the declaration: readOnly: true on the volumeMount, or a hostPath below /var, /home " \
                       "or /mnt/disks)"
    return error


def _suggest_name(name):
    cleaned = "".join(ch if ch.isalnum() else "-" for ch in name.lower()).strip("-")
    while "--" in cleaned:
        cleaned = cleaned.replace("--", "-")
    if not cleaned or not cleaned[0].isalpha():
        cleaned = "c-" + cleaned
    return cleaned[:63].rstrip("-")
