# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module is PRIVATE to the gce.cos collection: it may change at any time, without notice.
# Do not use it from other collections or from your own plugins.
"""Render a normalised container spec as the systemd unit the cos agent installs.

The unit text is the metadata value of ``cos-container-NAME`` (docs/dev/internals.md): its
second line is ``# cos-spec: <canonical JSON>``, its third ``# cos-image: IMAGE`` (what the
agent reports), and its revision is the first 16 hex digits of its SHA-256. Rendering is a
pure function of the normalised spec, so equal specs give byte-identical units and equal
revisions.

The text ends without a trailing newline on purpose: a shell that reads the value with
``$(...)`` strips trailing newlines, and the agent's sha256sum must see the stored bytes.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import re

from ansible_collections.gce.cos.plugins.module_utils._vm.vm_contract import (
    DISK_MOUNT_ROOT,
    DOCKER_CONFIG_DIR,
    FETCH_SECRETS_PATH,
    IMAGE_LINE_PREFIX,
    READY_LINE_PREFIX,
    SPEC_LINE_PREFIX,
    SWITCH_LINE_PREFIX,
    container_units,
    metadata_key,
    secrets_file,
    unit_name,
)
from ansible_collections.gce.cos.plugins.module_utils.container_spec import (
    IMAGE_RE,
    ROW,
    canonical_json,
    validate,
)

DOCKER = "/usr/bin/docker"
BASH = "/bin/bash"
RM = "/bin/rm"
START_TIMEOUT = "15min"
STOP_GRACE = 30
RESTART_SEC = 5
REDACTED = "********"
# A start-first unit is installed as cos-container-NAME@REVISION.service: its container is NAME-%i (systemd's
# instance specifier), so that two revisions run side by side. Rendered through exec_quote as this word, then
# replaced (exec_quote would double the %).
_INSTANCE = "@@INSTANCE@@"
# Without a readiness probe, a start-first update gated on a docker health check gives up after this long at least.
HEALTHCHECK_DEADLINE = 60
_DURATION_PART_RE = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ns|us|ms|s|m|h)")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}

_BASE_DEPS = ("docker.socket", "network-online.target")
# COS reaches gcr-online.target once gcr.io resolves and answers, and never in a VPC without a
# route or DNS to gcr.io: only a container whose image comes from Google's registries waits for it.
GCR_TARGET = "gcr-online.target"
_GOOGLE_REGISTRY_RE = re.compile(r"^(gcr\.io|[a-z0-9.-]+\.gcr\.io|[a-z0-9.-]+\.pkg\.dev)$")


def image_registry(image):
    """The registry host of an image reference ("docker.io" when it names none)."""
    first = image.split("/", 1)[0]
    if "/" in image and ("." in first or ":" in first or first == "localhost"):
        return first.lower()
    return "docker.io"


def needs_gcr(image):
    """Whether the image comes from gcr.io, *.gcr.io or *.pkg.dev (its unit waits for gcr-online.target)."""
    return bool(_GOOGLE_REGISTRY_RE.match(image_registry(image).split(":", 1)[0]))


# The unit's main process: start the created container detached and wait for it, exiting with its
# status. Nothing is attached, so the container's output goes only to its log driver (json-file),
# never also into the unit's journal: COS's logging agent ships both, so an attached
# `docker run` would ship each line twice. docker's own errors still reach the journal.
START_AND_WAIT = (
    '%s start -- "$1" >/dev/null || exit 125; rc=$(%s wait -- "$1") || exit 125; exit "$rc"' % (DOCKER, DOCKER)
)
# Words that need no quoting in a systemd command line (after % and $ are doubled).
_EXEC_SAFE_RE = re.compile(r"^[A-Za-z0-9_@%$+=:,./-]+$")
_ESCAPE_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:_.")


def systemd_escape_path(path):
    """The same as ``systemd-escape --path PATH``."""
    trimmed = "/".join(p for p in path.split("/") if p)
    if not trimmed:
        return "-"
    out = []
    for i, ch in enumerate(trimmed):
        if ch == "/":
            out.append("-")
        elif ch in _ESCAPE_SAFE and not (i == 0 and ch == "."):
            out.append(ch)
        else:
            out.extend("\\x%02x" % b for b in bytearray(ch.encode("utf-8")))
    return "".join(out)


def disk_mount_path(device_name, partition=None):
    """Where the role mounts a disk: /mnt/disks/DEVICE, or /mnt/disks/DEVICE-partN."""
    if partition:
        return "%s/%s-part%d" % (DISK_MOUNT_ROOT, device_name, partition)
    return "%s/%s" % (DISK_MOUNT_ROOT, device_name)


def disk_mount_unit(device_name, partition=None):
    """The mount unit the role's disk units define for disk_mount_path()."""
    return systemd_escape_path(disk_mount_path(device_name, partition)) + ".mount"


def exec_quote(word):
    """Quote one word for a systemd Exec*= line.

    systemd expands %-specifiers when loading and $VARIABLES when executing, so both are
    doubled; anything beyond plain characters goes in double quotes with C escapes.
    """
    escaped = word.replace("%", "%%").replace("$", "$$")
    if word and _EXEC_SAFE_RE.match(word):
        return escaped
    escaped = escaped.replace("\\", "\\\\").replace('"', '\\"').replace("\t", "\\t")
    if "\n" in escaped or "\r" in escaped:
        # validate() rejects control characters; refuse rather than emit a broken unit.
        raise ValueError("cannot put a newline in a systemd command line: %r" % word)
    return '"' + escaped + '"'


def exec_line(words):
    return " ".join(exec_quote(w) for w in words)


def _image_has_digest(image):
    m = IMAGE_RE.match(image)
    return bool(m and m.group("digest"))


def _flag(field):
    """The docker option of a spec field (its row in container_spec)."""
    return ROW[field].flag


def start_first(spec):
    """Whether updates of this normalised spec are start-first (the agent's port switch)."""
    return spec.get("order") == "start-first"


def container_name(spec):
    """The docker container's name in the unit: NAME, or NAME-%i for a start-first unit (one per revision)."""
    return spec["name"] + "-" + _INSTANCE if start_first(spec) else spec["name"]


def _seconds(duration):
    return sum(float(n) * _DURATION_UNITS[u] for n, u in _DURATION_PART_RE.findall(duration or "0s"))


def switch_deadline(spec):
    """Seconds a start-first revision has to become ready: the probe's deadline, or for a docker health check
    its start period plus enough intervals for its retries (at least HEALTHCHECK_DEADLINE)."""
    if spec.get("readiness"):
        return spec["readiness"]["deadline"]
    hc = spec["healthcheck"]
    wait = _seconds(hc["start_period"]) + (hc["retries"] + 1) * (_seconds(hc["interval"]) + _seconds(hc["timeout"]))
    return max(HEALTHCHECK_DEADLINE, int(wait + 0.999))


def switch_line(spec):
    """The ``# cos-switch:`` line of a start-first spec: DEADLINE DRAIN PORT/PROTO..."""
    return SWITCH_LINE_PREFIX + " ".join([str(switch_deadline(spec)), str(spec["drain"]), *list(spec["ports"])])


def _docker_run_groups(spec):
    """The docker run argv as groups of words; each group is one line of ExecStart."""
    name = container_name(spec)
    # The unit creates the container in ExecStartPre, starts it detached and waits for it
    # (START_AND_WAIT). No --rm: its exit status must still be there for `docker wait` however
    # quickly it exits, and `docker logs` shows its last run until the next start removes it
    # (ExecStartPre docker rm -f; the agent removes it with its unit).
    groups = [["create"], [_flag("name"), name], ["--network", spec.get("network") or "host"]]
    groups.append([_flag("log_driver"), spec["log_driver"]])
    for key in sorted(spec["log_opts"]):
        groups.append([_flag("log_opts"), "%s=%s" % (key, spec["log_opts"][key])])
    for key in sorted(spec["labels"]):
        groups.append([_flag("labels"), "%s=%s" % (key, spec["labels"][key])])
    if spec["secret_env"]:
        groups.append(["--env-file", secrets_file(spec["name"])])
    for key in sorted(spec["env"]):
        groups.append([_flag("env"), "%s=%s" % (key, spec["env"][key])])
    for vol in spec["volumes"]:
        if vol["type"] == "tmpfs":
            opts = "type=tmpfs,destination=%s" % vol["container_path"]
            if vol["size"]:
                opts += ",tmpfs-size=%s" % vol["size"]
            groups.append(["--mount", opts])
            continue
        if vol["type"] == "disk":
            source = disk_mount_path(vol["device_name"], vol["partition"])
            if vol["sub_path"]:
                source += "/" + vol["sub_path"]
        else:
            source = vol["host_path"]
        bind = "%s:%s" % (source, vol["container_path"])
        if vol["read_only"]:
            bind += ":ro"
        groups.append(["--volume", bind])
    if spec["privileged"]:
        groups.append([_flag("privileged")])
    if spec["stdin"]:
        # konlet semantics: stdin stays open but nothing is attached to it ("docker create -i",
        # then "docker start" detached).
        groups.append(["--interactive"])
    if spec["tty"]:
        groups.append([_flag("tty")])
    if spec["user"] is not None:
        groups.append([_flag("user"), spec["user"]])
    if spec["workdir"] is not None:
        groups.append([_flag("workdir"), spec["workdir"]])
    for cap in spec["cap_add"]:
        groups.append([_flag("cap_add"), cap])
    for cap in spec["cap_drop"]:
        groups.append([_flag("cap_drop"), cap])
    if spec["read_only"]:
        groups.append([_flag("read_only")])
    if spec["apparmor_profile"] is not None:
        groups.append(["--security-opt", "apparmor=%s" % spec["apparmor_profile"]])
    for opt in spec["security_opt"]:
        groups.append([_flag("security_opt"), opt])
    if spec["memory"] is not None:
        groups.append([_flag("memory"), spec["memory"]])
    if spec["cpus"] is not None:
        groups.append([_flag("cpus"), spec["cpus"]])
    hc = spec["healthcheck"]
    if hc is not None:
        groups.append(["--health-cmd", hc["command"]])
        groups.append(["--health-interval", hc["interval"]])
        groups.append(["--health-timeout", hc["timeout"]])
        groups.append(["--health-retries", str(hc["retries"])])
        groups.append(["--health-start-period", hc["start_period"]])
    groups.append(["--stop-timeout", str(spec["stop_timeout"])])
    if spec["docker_args"]:
        groups.append(list(spec["docker_args"]))
    command = spec["command"]
    if command:
        # docker's --entrypoint takes one word; the rest of the command goes before args,
        # which runs the same argv as Entrypoint=command, Cmd=args.
        groups.append(["--entrypoint", command[0]])
    groups.append([spec["image"], *list(command[1:]), *list(spec["args"])])
    return groups


def docker_argv(spec):
    """The ``docker create`` argv of a normalised spec, as a list (``docker`` first).

    The unit runs it in ``ExecStartPre``, then starts the container detached and waits for it
    (``START_AND_WAIT``); the exited container stays until the next start removes it.
    """
    argv = ["docker"]
    for group in _docker_run_groups(spec):
        argv.extend(group)
    return [w.replace(_INSTANCE, "%i") for w in argv]


_PROBE_WORD_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._/=:,@+-")


def probe_word(word):
    """A word of a command probe as one space-free token: bytes outside a plain set become %XX (the agent
    turns them back with printf %b); an empty word is ``%-``."""
    return "".join(ch if ch in _PROBE_WORD_SAFE else "".join("%%%02X" % b for b in bytearray(ch.encode("utf-8")))
                   for ch in word) or "%-"


def readiness_line(probe):
    """The ``# cos-ready:`` line of a normalised readiness probe: TYPE INTERVAL TIMEOUT DEADLINE, then PORT STATUS
    PATH (http), PORT (tcp) or the command's words, %-encoded (command)."""
    words = [probe["type"], str(probe["interval"]), str(probe["timeout"]), str(probe["deadline"])]
    if probe["type"] == "http":
        words += [str(probe["port"]), str(probe["status"]), probe["path"]]
    elif probe["type"] == "tcp":
        words.append(str(probe["port"]))
    else:
        words.extend(probe_word(w) for w in probe["command"])
    return READY_LINE_PREFIX + " ".join(words)


def _firewall_open(port, tool):
    number, proto = port.split("/")
    rule = "INPUT -p %s --dport %s -j ACCEPT" % (proto, number)
    # -C first, so that restarts and cloud-init's own openings never add duplicates.
    return [BASH, "-c", "%s -w -C %s 2>/dev/null || %s -w -A %s" % (tool, rule, tool, rule)]


def _firewall_close(port):
    number, proto = port.split("/")
    rule = "INPUT -p %s --dport %s -j ACCEPT" % (proto, number)
    script = "; ".join("while %s -w -D %s 2>/dev/null; do :; done" % (tool, rule) for tool in ("iptables", "ip6tables"))
    return [BASH, "-c", script]


def render(spec):
    """Unit text for a normalised spec (validate() it first)."""
    name = spec["name"]
    cname = container_name(spec)
    image = spec["image"]
    deps = ((GCR_TARGET,) if needs_gcr(image) else ()) + _BASE_DEPS
    lines = [
        "# Managed by gce.cos from instance metadata key %s; local changes are overwritten." % metadata_key(name),
        SPEC_LINE_PREFIX + canonical_json(spec),
        IMAGE_LINE_PREFIX + image,
    ]
    if spec.get("readiness"):
        lines.append(readiness_line(spec["readiness"]))
    if start_first(spec):
        lines.append(switch_line(spec))
    lines += [
        "[Unit]",
        "Description=gce.cos container %s" % name,
        "Wants=%s" % " ".join(deps),
        "After=%s" % " ".join(deps),
    ]
    disks = sorted({disk_mount_unit(v["device_name"], v["partition"]) for v in spec["volumes"] if v["type"] == "disk"})
    if disks:
        # Requires, not Wants: without its disk the container would write into the tmpfs
        # under /mnt/disks and lose the data (the /mnt/disks trap).
        mounts = " ".join(disks)
        lines.append("Requires=%s" % mounts)
        lines.append("After=%s" % mounts)
    host_paths = sorted({v["host_path"] for v in spec["volumes"] if v["type"] == "host_path"})
    if host_paths:
        # host paths hold no spaces, quotes or % (validate() checks), so no quoting is needed.
        lines.append("RequiresMountsFor=%s" % " ".join(host_paths))
    policy = spec["restart_policy"]
    if policy == "on-failure" and spec["max_retries"]:
        # One first start plus max_retries restarts, counted over the unit's lifetime;
        # the agent runs reset-failed before it applies a new revision.
        lines.append("StartLimitIntervalSec=infinity")
        lines.append("StartLimitBurst=%d" % (spec["max_retries"] + 1))
    elif policy != "never":
        # docker's restart policies never give up; neither does systemd then.
        lines.append("StartLimitIntervalSec=0")

    lines.append("")
    lines.append("[Service]")
    lines.append("Type=simple")
    lines.append("Environment=DOCKER_CONFIG=%s" % DOCKER_CONFIG_DIR)
    lines.append("UMask=0077")
    lines.append("TimeoutStartSec=%s" % START_TIMEOUT)
    lines.append("TimeoutStopSec=%d" % (spec["stop_timeout"] + STOP_GRACE))
    lines.append("Restart=%s" % {"always": "always", "on-failure": "on-failure", "never": "no"}[policy])
    if policy != "never":
        lines.append("RestartSec=%d" % RESTART_SEC)
    # docker run exits 143 when the container ends on the SIGTERM of docker stop.
    lines.append("SuccessExitStatus=143")
    lines.append("ExecStartPre=-" + exec_line([DOCKER, "rm", "-f", cname]))
    # konlet ran this container as klt-NAME-xxxx with docker's restart=always, and
    # /var/lib/docker outlives reboots: after a migration that container comes back with
    # the VM and holds the ports. The unit that replaces it removes it first.
    konlet = (
        "for c in $(%s ps -a --format '{{.Names}}'); do [[ $c =~ ^klt-%s-[a-z]{4}$ ]] && %s rm -f \"$c\"; done; true"
        % (DOCKER, name, DOCKER)
    )
    lines.append("ExecStartPre=-" + exec_line([BASH, "-c", konlet]))
    if _image_has_digest(image):
        # A digest never changes: pull only when missing, so restarts survive a registry outage.
        pull = "%s image inspect %s >/dev/null 2>&1 || %s pull %s" % (DOCKER, image, DOCKER, image)
        lines.append("ExecStartPre=" + exec_line([BASH, "-c", pull]))
    else:
        # A tag may move: pull at every start, as konlet did.
        lines.append("ExecStartPre=" + exec_line([DOCKER, "pull", image]))
    if spec["secret_env"]:
        refs = ["%s=%s" % (k, spec["secret_env"][k]) for k in sorted(spec["secret_env"])]
        lines.append("ExecStartPre=" + exec_line([BASH, FETCH_SECRETS_PATH, name, *refs]))
    # A start-first container is on docker's bridge network: the agent forwards its ports to it (DNAT) once it
    # is ready, so the unit opens nothing on the host firewall.
    host_ports = [] if start_first(spec) else spec["ports"]
    for port in host_ports:
        lines.append("ExecStartPre=" + exec_line(_firewall_open(port, "iptables")))
        # Not every VM has IPv6; a failure there must not keep the container down.
        lines.append("ExecStartPre=-" + exec_line(_firewall_open(port, "ip6tables")))

    groups = _docker_run_groups(spec)
    run = ["ExecStartPre=" + exec_line([DOCKER, *groups[0]])]
    run.extend("    " + exec_line(g) for g in groups[1:])
    lines.append(" \\\n".join(run))
    lines.append("ExecStart=" + exec_line([BASH, "-c", START_AND_WAIT, "bash", cname]))
    lines.append("ExecStop=-" + exec_line([DOCKER, "stop", "-t", str(spec["stop_timeout"]), cname]))
    if spec["secret_env"] and not start_first(spec):
        # (Two start-first revisions share the env file: the one that runs on keeps it.)
        lines.append("ExecStopPost=-" + exec_line([RM, "-f", secrets_file(name)]))
    for port in host_ports:
        lines.append("ExecStopPost=-" + exec_line(_firewall_close(port)))
    lines.append("")
    lines.append("[Install]")
    lines.append("WantedBy=multi-user.target")
    return "\n".join(lines).replace(_INSTANCE, "%i")


def revision(unit_text):
    """First 16 hex digits of the SHA-256 of the unit text (the metadata value's bytes)."""
    if not isinstance(unit_text, bytes):
        unit_text = unit_text.encode("utf-8")
    return hashlib.sha256(unit_text).hexdigest()[:16]


def recorded_spec(unit_text):
    """The normalised spec recorded on a unit's ``# cos-spec:`` line, or None."""
    lines = unit_text.split("\n", 2)
    if len(lines) < 2 or not lines[1].startswith(SPEC_LINE_PREFIX):
        return None
    try:
        return json.loads(lines[1][len(SPEC_LINE_PREFIX):])
    except ValueError:
        return None


def spec_view(unit_text):
    """The spec recorded in a unit, or a stand-in for a value not written by this collection."""
    spec = recorded_spec(unit_text)
    if spec is None:
        return {"revision": revision(unit_text), "note": "no cos-spec line in this unit"}
    return spec


def spec_views(metadata):
    """{container name: spec_view(its unit)} of a metadata dict: how a diff shows the containers."""
    return {name: spec_view(unit) for name, unit in container_units(metadata).items()}


def build(spec, path=""):
    """Validate a user spec and render it: the module's one-call entry point.

    Returns a dict with ``spec`` (normalised), ``unit`` (text), ``unit_name``,
    ``metadata_key``, ``revision`` and ``docker_argv`` (the unit's whole ``docker create`` argv;
    the spec's ``docker_args`` are only its extra arguments).
    """
    normalised = validate(spec, path)
    text = render(normalised)
    return {
        "spec": normalised,
        "unit": text,
        "unit_name": unit_name(normalised["name"]),
        "metadata_key": metadata_key(normalised["name"]),
        "revision": revision(text),
        "docker_argv": docker_argv(normalised),
    }


def redact(value, secrets, mask=REDACTED):
    """Replace every occurrence of each secret string inside value (str, list, tuple or dict).

    Defence in depth for module results: the unit, argv and spec hold secret references
    only, but anything that may have met a resolved value passes through here.
    """
    secrets = sorted((s for s in secrets if isinstance(s, str) and s), key=len, reverse=True)
    if not secrets:
        return value
    return _redact(value, secrets, mask)


def _redact(value, secrets, mask):
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, mask)
        return value
    if isinstance(value, dict):
        return {_redact(k, secrets, mask): _redact(v, secrets, mask) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_redact(v, secrets, mask) for v in value)
    return value
