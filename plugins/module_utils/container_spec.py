# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The container spec: validation and normalisation.

``validate(spec)`` checks a user's container spec and returns its canonical form: every
field present, defaults filled in, and unordered collections sorted, so that two specs
meaning the same thing compare equal (and render to byte-identical units). All problems
are collected and raised together as one ``SpecError``; each names the field path, the
bad value and the fix.

docs/docsite/rst/guide_container_spec.rst describes every field; keep the two in step.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import difflib
import json
import math
import posixpath
import re

from ansible_collections.gce.cos.plugins.module_utils._vm.vm_contract import NAME_RE, STATE_DIR

ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# Docker image reference grammar (distribution/reference), restricted to sha256 digests.
_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = _ALNUM + r"(?:" + _SEPARATOR + _ALNUM + r")*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = _DOMAIN_COMPONENT + r"(?:\." + _DOMAIN_COMPONENT + r")*(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"sha256:[a-f0-9]{64}"
IMAGE_RE = re.compile(
    r"^(?P<name>(?:(?P<domain>" + _DOMAIN + r")/)?" + _PATH_COMPONENT + r"(?:/" + _PATH_COMPONENT + r")*)"
    r"(?::(?P<tag>" + _TAG + r"))?(?:@(?P<digest>" + _DIGEST + r"))?$"
)

# Secret Manager version references; the short form sm://P/S[#V] is documented too.
_PROJECT = r"[a-z][a-z0-9-]{4,28}[a-z0-9]|[0-9]{1,20}"
_SECRET = r"[A-Za-z0-9_-]{1,255}"
_VERSION = r"[1-9][0-9]*|latest"
SECRET_REF_RE = re.compile(
    r"^projects/(?P<project>" + _PROJECT + r")/secrets/(?P<secret>" + _SECRET + r")"
    r"/versions/(?P<version>" + _VERSION + r")$"
)
SECRET_SHORT_RE = re.compile(
    r"^sm://(?P<project>" + _PROJECT + r")/(?P<secret>" + _SECRET + r")(?:#(?P<version>" + _VERSION + r"))?$"
)

# Docker's size syntax (units.RAMInBytes): a number with an optional b/k/m/g/t/p unit.
SIZE_RE = re.compile(r"^([0-9]+(?:\.[0-9]+)?) ?([kmgtp]?)(?:i?b)?$", re.IGNORECASE)
# Go durations as docker parses them for health checks.
DURATION_RE = re.compile(r"^(?:[0-9]+(?:\.[0-9]+)?(?:ns|us|ms|s|m|h))+$")
CAPABILITY_RE = re.compile(r"^[A-Z][A-Z0-9_]*$")
# Host paths also go into RequiresMountsFor=, which has no escapes: keep them plain.
HOST_PATH_RE = re.compile(r"^[A-Za-z0-9._@+~/-]+$")
SECRET_NAME_RE = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|PRIVATE_KEY|API_KEY|CREDENTIAL", re.IGNORECASE)
PORT_RE = re.compile(r"^([0-9]{1,5})(?:/(tcp|udp))?$")

HOST_PATH_ROOTS = ("/var", "/home", "/mnt/disks")
# The agent keeps registry credentials and its own state there.
HOST_PATH_FORBIDDEN = (STATE_DIR,)
# Paths inside the docker -v/--mount syntax cannot hold these.
PATH_FORBIDDEN_CHARS = (":", ",")

RESTART_POLICIES = ("always", "on-failure", "never")
LOG_DRIVERS = ("json-file", "gcplogs")
# konlet's json-file limits, kept as the default.
JSON_FILE_DEFAULT_OPTS = {"max-size": "500m", "max-file": "3"}
DEFAULT_STOP_TIMEOUT = 10
HEALTHCHECK_DEFAULTS = {"interval": "30s", "timeout": "30s", "retries": 3, "start_period": "0s"}
# The readiness probe the cos agent runs on the VM (plugins/module_utils/_agent/cos-agent): its kinds, the
# fields each kind takes, and the defaults in seconds.
READINESS_TYPES = ("http", "tcp", "command")
READINESS_KIND_FIELDS = {"http": ("port", "path", "status"), "tcp": ("port",), "command": ("command",)}
READINESS_DEFAULTS = {"path": "/", "status": 200, "interval": 1, "timeout": 2, "deadline": 60}
# An HTTP path as curl sends it: printable URL characters only, no spaces.
READINESS_PATH_RE = re.compile(r"^/[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*$")
# How an update replaces a running container (the cos agent, docs/dev/agent.md): start-first starts the new
# revision beside the old one on docker's bridge network and moves the declared ports to it once it is ready;
# stop-first stops the old one first (konlet's way, on the host network).
ORDERS = ("start-first", "stop-first")
NETWORKS = ("host", "bridge")
DEFAULT_DRAIN = 10
# The agent stops an old revision at most this long after the ports moved away from it.
MAX_DRAIN = 300

# docker run options the unit sets itself; an escape hatch must not fight them.
RESERVED_DOCKER_ARGS = {
    "--rm": "the unit removes the container itself (docker rm -f before each start)",
    "--name": "the container name comes from the spec's name",
    "--network": "use network: host or bridge",
    "--net": "use network: host or bridge",
    "-d": "systemd supervises the foreground docker client",
    "--detach": "systemd supervises the foreground docker client",
    "--restart": "use restart_policy: systemd restarts the container",
    "--env-file": "use env or secret_env",
}

VOLUME_FIELDS = {
    "host_path": ("type", "host_path", "container_path", "read_only"),
    "tmpfs": ("type", "container_path", "size"),
    "disk": ("type", "device_name", "partition", "sub_path", "container_path", "read_only"),
}

_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


class FieldError:
    """One problem with one field: where, what was given, what is wrong, how to fix it."""

    def __init__(self, path, value, problem, fix, hide_value=False):
        self.path = path
        self.value = value
        self.problem = problem
        self.fix = fix
        self.hide_value = hide_value

    def __str__(self):
        shown = "(value hidden: it may be a secret)" if self.hide_value else show(self.value)
        return "%s: %s %s. Fix: %s" % (self.path or "spec", shown, self.problem, self.fix)

    def __repr__(self):
        return "FieldError(%r)" % str(self)


class SpecError(ValueError):
    """All the problems found in a spec, raised at once."""

    def __init__(self, errors):
        self.errors = list(errors)
        ValueError.__init__(self, self.message())

    def message(self):
        if len(self.errors) == 1:
            return "invalid container spec: %s" % self.errors[0]
        lines = ["invalid container spec (%d problems):" % len(self.errors)]
        lines.extend("- %s" % e for e in self.errors)
        return "\n".join(lines)


def show(value, limit=80):
    """A short printable form of a value for error messages."""
    try:
        text = json.dumps(value, sort_keys=True, ensure_ascii=True)
    except (TypeError, ValueError):
        text = repr(value)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text


def join(path, key):
    """Field path: join('containers[1]', 'volumes') -> 'containers[1].volumes'."""
    if isinstance(key, int):
        return "%s[%d]" % (path, key)
    return "%s.%s" % (path, key) if path else key


class _Checker:
    """Collects errors while the normalisers walk the spec."""

    def __init__(self):
        self.errors = []

    def error(self, path, value, problem, fix, hide_value=False):
        self.errors.append(FieldError(path, value, problem, fix, hide_value))

    # --- scalar helpers; each returns the normalised value or None after an error ---

    def string(self, path, value, allow_empty=False, what="a string"):
        if isinstance(value, bool):
            # YAML reads unquoted true/false/yes/no as booleans: say so once.
            self.error(path, value, "is not %s but a boolean" % what,
                       "quote it in YAML (\"true\", \"yes\"): unquoted, true, false, yes and no are booleans")
            return None
        if not isinstance(value, str):
            self.error(path, value, "is not %s" % what, "give %s (quote it in YAML)" % what)
            return None
        if not allow_empty and value == "":
            self.error(path, value, "is empty", "give a non-empty value or leave the field out")
            return None
        bad = _control_char(value)
        if bad is not None:
            self.error(
                path, value, "contains the control character %r" % bad,
                "remove newlines and control characters (for multi-line data use a volume or secret_env)",
            )
            return None
        return value

    def boolean(self, path, value):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in _TRUE + _FALSE:
            return value.lower() in _TRUE
        self.error(path, value, "is not a boolean", "use true or false")
        return None

    def integer(self, path, value, minimum=None, maximum=None):
        number = None
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, str) and re.match(r"^[0-9]+$", value):
            number = int(value)
        if number is None:
            self.error(path, value, "is not an integer", "give a whole number")
            return None
        if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
            self.error(path, value, "is out of range", "use a value from %s to %s" % (minimum, maximum))
            return None
        return number

    def string_list(self, path, value, what="a list of strings"):
        if isinstance(value, str):
            self.error(path, value, "is a string, not a list", "write it as a YAML list: [%s]" % show(value))
            return None
        if not isinstance(value, (list, tuple)):
            self.error(path, value, "is not %s" % what, "give %s" % what)
            return None
        out = []
        for i, item in enumerate(value):
            if isinstance(item, (int, float)) and not isinstance(item, bool):
                item = str(item)
            text = self.string(join(path, i), item, allow_empty=True)
            if text is not None:
                out.append(text)
        return out

    def mapping(self, path, value):
        if not isinstance(value, dict):
            self.error(path, value, "is not a mapping", "give a mapping of keys to values")
            return None
        return value

    def unknown_keys(self, path, value, known):
        for key in sorted(value, key=str):
            if key not in known:
                close = difflib.get_close_matches(str(key), known, n=1)
                fix = "did you mean %r?" % close[0] if close else "remove it; known fields: %s" % ", ".join(known)
                self.error(join(path, str(key)), value[key], "is not a known field", fix)


def _control_char(text):
    for ch in text:
        if (ord(ch) < 32 and ch != "\t") or ord(ch) == 127:
            return ch
    return None


def parse_secret_ref(ref):
    """Return (project, secret, version) of a full or sm:// reference, or None."""
    m = SECRET_REF_RE.match(ref) or SECRET_SHORT_RE.match(ref)
    if not m:
        return None
    return m.group("project"), m.group("secret"), m.group("version") or "latest"


def secret_ref(project, secret, version="latest"):
    return "projects/%s/secrets/%s/versions/%s" % (project, secret, version)


def size_string(text):
    """Canonical docker size ('512MiB' -> '512m'), or None when it is not a size."""
    m = SIZE_RE.match(text.strip()) if isinstance(text, str) else None
    if not m:
        return None
    number = m.group(1)
    if "." in number:
        number = number.rstrip("0").rstrip(".")
    return number + m.group(2).lower()


def size_bytes(text):
    """Bytes of a canonical docker size string."""
    m = SIZE_RE.match(text)
    mult = 1024 ** "bkmgtp".index(m.group(2).lower() or "b")
    return int(float(m.group(1)) * mult)


def _absolute_path(chk, path, value, fix, plain_re=None):
    """The normalised absolute path, or None after an error; ``plain_re`` limits the characters."""
    text = chk.string(path, value)
    if text is None:
        return None
    if not text.startswith("/"):
        chk.error(path, value, "is not an absolute path", fix)
        return None
    if ".." in text.split("/"):
        chk.error(path, value, "contains a '..' component", "write the path without '..'")
        return None
    for ch in PATH_FORBIDDEN_CHARS:
        if ch in text:
            chk.error(path, value, "contains %r, which docker's volume syntax cannot carry" % ch,
                      "use a path without %r" % ch)
            return None
    if plain_re is not None and not plain_re.match(text):
        chk.error(path, value, "contains characters other than letters, digits and . _ @ + ~ / -",
                  "use a host directory with a plain name")
        return None
    norm = posixpath.normpath(text)
    if norm.startswith("//"):
        norm = "/" + norm.lstrip("/")
    return norm


def _normalise_host_path(chk, path, value, read_only=False):
    """A host directory: writable ones below HOST_PATH_ROOTS; read-only ones anywhere (konlet bound
    system paths such as /etc/ssl/certs read-only, and / is read-only on COS anyway); never the agent's."""
    norm = _absolute_path(chk, path, value, "start the path with /, e.g. /var/lib/APP", HOST_PATH_RE)
    if norm is None:
        return None
    if read_only is not True and not any(norm.startswith(root + "/") for root in HOST_PATH_ROOTS):
        chk.error(
            path, value,
            "is not allowed for a writable volume: on Container-Optimized OS writable host paths must be below "
            "/var, /home or /mnt/disks (/ is read-only, /etc and /tmp are wiped at boot)",
            "use a directory such as /var/lib/APP, a disk volume for data that must persist, or read_only: true "
            "to bind a system path such as /etc/ssl/certs",
        )
        return None
    for forbidden in HOST_PATH_FORBIDDEN:
        if norm in (forbidden, "/") or norm.startswith(forbidden + "/") or forbidden.startswith(norm + "/"):
            chk.error(path, value, "overlaps %s, which holds the cos agent's credentials" % forbidden,
                      "use another directory, e.g. /var/lib/APP")
            return None
    return norm


def _normalise_container_path(chk, path, value):
    norm = _absolute_path(chk, path, value, "start the container path with /")
    if norm is None:
        return None
    if norm == "/":
        chk.error(path, value, "is the container's root", "mount the volume on a directory such as /data")
        return None
    return norm


def _normalise_volume(chk, path, value):
    vol = chk.mapping(path, value)
    if vol is None:
        return None
    kind = vol.get("type")
    if "host_path" in vol and "device_name" in vol:
        chk.error(path, value, "has both host_path and device_name", "keep one source per volume")
        return None
    if kind is None:
        if "host_path" in vol:
            kind = "host_path"
        elif "device_name" in vol:
            kind = "disk"
        else:
            chk.error(path, value, "has no source",
                      "give host_path, device_name (a persistent disk) or type: tmpfs")
            return None
    if kind not in VOLUME_FIELDS:
        chk.error(join(path, "type"), kind, "is not a volume type", "use host_path, tmpfs or disk")
        return None
    fields = VOLUME_FIELDS[kind]
    chk.unknown_keys(path, vol, fields)
    out = {"type": kind}
    if "container_path" not in vol:
        chk.error(join(path, "container_path"), None, "is missing",
                  "give the absolute path where the volume appears inside the container")
    else:
        out["container_path"] = _normalise_container_path(chk, join(path, "container_path"), vol["container_path"])
    if kind == "host_path":
        read_only = chk.boolean(join(path, "read_only"), vol.get("read_only", False))
        out["host_path"] = _normalise_host_path(chk, join(path, "host_path"), vol.get("host_path"), read_only)
        out["read_only"] = read_only
    elif kind == "tmpfs":
        size = vol.get("size")
        if size is not None:
            if isinstance(size, int) and not isinstance(size, bool):
                size = str(size)
            size = size_string(size)
            if size is None or size_bytes(size) == 0:
                chk.error(join(path, "size"), vol.get("size"), "is not a size", "use docker's syntax, e.g. 64m or 1g")
        out["size"] = size
    else:
        device = vol.get("device_name")
        if not isinstance(device, str) or not NAME_RE.match(device):
            chk.error(join(path, "device_name"), device, "is not a disk device name",
                      "give the deviceName the disk is attached with (lowercase letters, digits, hyphens)")
        out["device_name"] = device
        partition = vol.get("partition")
        out["partition"] = None if partition is None else chk.integer(join(path, "partition"), partition, 1, 128)
        sub = vol.get("sub_path", "")
        if sub is None:
            sub = ""
        sub_text = chk.string(join(path, "sub_path"), sub, allow_empty=True)
        if sub_text:
            parts = sub_text.split("/")
            if sub_text.startswith("/") or ".." in parts:
                chk.error(join(path, "sub_path"), sub, "must be a relative path inside the disk without '..'",
                          "write it like data/app")
                sub_text = None
            elif not HOST_PATH_RE.match(sub_text):
                chk.error(join(path, "sub_path"), sub,
                          "contains characters other than letters, digits and . _ @ + ~ / -",
                          "use a directory with a plain name")
                sub_text = None
            else:
                sub_text = posixpath.normpath(sub_text)
                if sub_text == ".":
                    sub_text = ""
        out["sub_path"] = sub_text
        out["read_only"] = chk.boolean(join(path, "read_only"), vol.get("read_only", False))
    return out


def _normalise_env(chk, path, value):
    """env as a mapping, or as a konlet-style list of {name, value}; returns a dict."""
    env = {}
    if isinstance(value, dict):
        items = [(join(path, str(k)), k, v) for k, v in value.items()]
    elif isinstance(value, (list, tuple)):
        items = []
        for i, item in enumerate(value):
            ipath = join(path, i)
            if not isinstance(item, dict) or "name" not in item:
                chk.error(ipath, item, "is not a {name, value} entry", "write env as a mapping NAME: value")
                continue
            chk.unknown_keys(ipath, item, ("name", "value"))
            items.append((join(ipath, "value"), item["name"], item.get("value", "")))
    else:
        chk.error(path, value, "is not a mapping", "write env as a mapping NAME: value")
        return {}
    for vpath, name, val in items:
        if not isinstance(name, str) or not ENV_NAME_RE.match(name):
            chk.error(vpath, name, "is not a valid environment variable name",
                      "use letters, digits and underscores, not starting with a digit")
            continue
        if name in env:
            chk.error(vpath, name, "is set twice", "keep one entry per variable")
            continue
        if val is None:
            val = ""
        if isinstance(val, (int, float)) and not isinstance(val, bool):
            val = str(val)
        text = chk.string(vpath, val, allow_empty=True, what="a string")
        if text is not None:
            env[name] = text
    return env


def _normalise_secret_env(chk, path, value):
    out = {}
    if not isinstance(value, dict):
        chk.error(path, value, "is not a mapping",
                  "write secret_env as NAME: projects/P/secrets/S/versions/V", hide_value=True)
        return out
    for name in sorted(value, key=str):
        ref = value[name]
        npath = join(path, str(name))
        if not isinstance(name, str) or not ENV_NAME_RE.match(name):
            chk.error(npath, name, "is not a valid environment variable name",
                      "use letters, digits and underscores, not starting with a digit")
            continue
        parsed = parse_secret_ref(ref) if isinstance(ref, str) else None
        if parsed is None:
            # The value may be the secret itself, pasted by mistake: never echo it.
            chk.error(npath, ref, "is not a Secret Manager version reference",
                      "give projects/PROJECT/secrets/SECRET/versions/VERSION (or .../versions/latest, or "
                      "sm://PROJECT/SECRET[#VERSION]); put plain values in env", hide_value=True)
            continue
        out[name] = secret_ref(*parsed)
    return out


def _normalise_port(chk, path, value):
    if isinstance(value, int) and not isinstance(value, bool):
        port, proto = value, "tcp"
    else:
        m = PORT_RE.match(value) if isinstance(value, str) else None
        if not m:
            chk.error(path, value, "is not a port", "use a number or NUMBER/tcp or NUMBER/udp, e.g. 8080 or 53/udp")
            return None
        port, proto = int(m.group(1)), m.group(2) or "tcp"
    if not 1 <= port <= 65535:
        chk.error(path, value, "is not a port number", "use 1-65535")
        return None
    return (port, proto)


def _normalise_healthcheck(chk, path, value):
    hc = chk.mapping(path, value)
    if hc is None:
        return None
    chk.unknown_keys(path, hc, HEALTHCHECK_FIELDS)
    out = {}
    command = hc.get("command")
    if isinstance(command, (list, tuple)):
        words = chk.string_list(join(path, "command"), command)
        # docker --health-cmd always runs through /bin/sh -c; quote the words for it.
        out["command"] = " ".join(shell_quote(w) for w in words) if words else None
        if words == []:
            chk.error(join(path, "command"), command, "is empty", "give the check command, e.g. curl -f http://localhost/")
    elif command is None:
        chk.error(join(path, "command"), None, "is missing", "give the check command, e.g. curl -f http://localhost/")
        out["command"] = None
    else:
        out["command"] = chk.string(join(path, "command"), command)
    for key in ("interval", "timeout", "start_period"):
        dur = hc.get(key, HEALTHCHECK_DEFAULTS[key])
        if isinstance(dur, int) and not isinstance(dur, bool):
            dur = "%ds" % dur
        if not isinstance(dur, str) or not DURATION_RE.match(dur):
            chk.error(join(path, key), hc.get(key), "is not a duration",
                      "use seconds or a Go duration like 30s or 1m30s")
            dur = None
        out[key] = dur
    out["retries"] = chk.integer(join(path, "retries"), hc.get("retries", HEALTHCHECK_DEFAULTS["retries"]), 1, 1000)
    return out


def _normalise_readiness(chk, path, value, ports):
    """The readiness probe: exactly one kind, its fields, and the timing; every key present."""
    probe = chk.mapping(path, value)
    if probe is None:
        return None
    chk.unknown_keys(path, probe, READINESS_FIELDS)
    kind = probe.get("type")
    if kind is None:
        kind = "command" if "command" in probe else ("http" if "path" in probe or "status" in probe else None)
    if kind is None:
        chk.error(join(path, "type"), None, "is missing", "set type: http (port, path, status), tcp (port) or command")
        return None
    if kind not in READINESS_TYPES:
        chk.error(join(path, "type"), probe.get("type"), "is not a readiness probe type",
                  "use http (port, path, status), tcp (port) or command")
        return None
    out = {"type": kind, "port": None, "path": None, "status": None, "command": None}
    for key in ("port", "path", "status", "command"):
        if key in probe and probe[key] is not None and key not in READINESS_KIND_FIELDS[kind]:
            chk.error(join(path, key), probe[key], "does not apply to a %s probe" % kind,
                      "remove it, or use type: %s" % ("command" if key == "command" else "http"))
    if kind in ("http", "tcp"):
        port = probe.get("port")
        number = None
        if port is None:
            chk.error(join(path, "port"), None, "is missing", "give the port the probe connects to on the VM")
        else:
            number = chk.integer(join(path, "port"), port, 1, 65535)
        # The probe connects to a port the container declares (on the host network, or at its bridge address).
        if number is not None and "%d/tcp" % number not in (ports or []):
            declared = ", ".join(p for p in (ports or []) if p.endswith("/tcp")) or "none"
            chk.error(join(path, "port"), port,
                      "is not a TCP port the container declares in ports (declared: %s)" % declared,
                      "add %d to ports, or probe a declared port" % number)
        out["port"] = number
    if kind == "http":
        probe_path = probe.get("path", READINESS_DEFAULTS["path"])
        text = chk.string(join(path, "path"), probe_path)
        if text is not None and not READINESS_PATH_RE.match(text):
            chk.error(join(path, "path"), probe_path, "is not an HTTP path",
                      "start it with / and use URL characters only, e.g. /healthz (percent-encode spaces)")
            text = None
        out["path"] = text
        out["status"] = chk.integer(join(path, "status"), probe.get("status", READINESS_DEFAULTS["status"]), 100, 599)
    if kind == "command":
        command = probe.get("command")
        words = chk.string_list(join(path, "command"), command) if command is not None else None
        if not words or words[0] == "":
            chk.error(join(path, "command"), command, "is missing or empty",
                      "give the command to run in the container as a list, e.g. [pg_isready, -q]")
            words = None
        out["command"] = words
    for key in ("interval", "timeout", "deadline"):
        out[key] = chk.integer(join(path, key), probe.get(key, READINESS_DEFAULTS[key]), 1, 3600)
    if out["interval"] is not None and out["deadline"] is not None and out["deadline"] < out["interval"]:
        chk.error(join(path, "deadline"), out["deadline"],
                  "is shorter than the interval (%ds): the probe would never run twice" % out["interval"],
                  "give a deadline of at least the interval")
    return out


def shell_quote(word):
    """POSIX shell quoting (as shlex.quote, kept here to avoid the import)."""
    if word and re.match(r"^[A-Za-z0-9_@%+=:,./-]+$", word):
        return word
    return "'" + word.replace("'", "'\"'\"'") + "'"


def _normalise_capabilities(chk, path, value):
    caps = chk.string_list(path, value)
    if caps is None:
        return []
    out = set()
    for i, cap in enumerate(caps):
        upper = cap.upper()
        if upper.startswith("CAP_"):
            upper = upper[4:]
        if not CAPABILITY_RE.match(upper):
            chk.error(join(path, i), cap, "is not a capability name", "use names like NET_ADMIN or ALL")
            continue
        out.add(upper)
    return sorted(out)


def _normalise_cpus(chk, path, value):
    number = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            number = None
    if number is None or math.isnan(number) or number <= 0 or number > 1024:
        chk.error(path, value, "is not a CPU count", "give a positive number such as 0.5 or 2")
        return None
    # One text per value: 1, 1.0 and "1" must hash the same.
    return ("%.3f" % number).rstrip("0").rstrip(".")


def _normalise_docker_args(chk, path, value):
    args = chk.string_list(path, value)
    if args is None:
        return []
    for i, arg in enumerate(args):
        flag = arg.split("=", 1)[0]
        if flag in RESERVED_DOCKER_ARGS:
            chk.error(join(path, i), arg, "is set by the unit itself (%s)" % RESERVED_DOCKER_ARGS[flag],
                      "remove it from docker_args")
    return args


def _string_map(chk, path, value, key_re=None):
    out = {}
    mapping = chk.mapping(path, value)
    if mapping is None:
        return out
    for key in sorted(mapping, key=str):
        kpath = join(path, str(key))
        if not isinstance(key, str) or not key or "=" in key or (key_re and not key_re.match(key)):
            chk.error(kpath, key, "is not a valid key", "use a non-empty key without '='")
            continue
        val = mapping[key]
        if isinstance(val, (int, float)) and not isinstance(val, bool):
            val = str(val)
        text = chk.string(kpath, "" if val is None else val, allow_empty=True,
                          what="a string")
        if text is not None and _control_char(key) is None:
            out[key] = text
    return out


def validate(spec, path=""):
    """Check a container spec and return its canonical form.

    ``path`` prefixes every error's field path (the module passes ``containers[1]``).
    Raises SpecError carrying every problem found.
    """
    chk = _Checker()
    out = _normalise(chk, spec, path)
    if chk.errors:
        raise SpecError(chk.errors)
    return out


def _normalise(chk, spec, path):
    if not isinstance(spec, dict):
        chk.error(path, spec, "is not a mapping", "give the container spec as a mapping with at least name and image")
        return None
    chk.unknown_keys(path, spec, FIELDS)
    out = {}
    # Each row's normaliser sees the fields before it in ``out`` (a few rules join two fields).
    for row in ROWS:
        value = row.normalise(chk, join(path, row.name), spec.get(row.name, row.absent), spec, out)
        if value is not None or not row.omit_unset:
            out[row.name] = value
    return out


# --- one normaliser per field: (chk, path, value, raw spec, fields normalised so far) -> value ---

def _name(chk, path, value, spec, out):
    if not isinstance(value, str) or not NAME_RE.match(value):
        chk.error(path, value, "is not a valid container name",
                  "use 1-63 characters: a lowercase letter first, then lowercase letters, digits or hyphens, "
                  "not ending with a hyphen")
    return value


def _image(chk, path, value, spec, out):
    m = IMAGE_RE.match(value) if isinstance(value, str) else None
    if not m or len(m.group("name")) > 255:
        fix = "give REPOSITORY[:TAG][@sha256:DIGEST], e.g. nginx:1.27 or us-docker.pkg.dev/P/R/app@sha256:..."
        if isinstance(value, str) and value.lower() != value and IMAGE_RE.match(value.lower()):
            fix = "repository names are lowercase: %s" % value.lower()
        chk.error(path, value, "is not a valid image reference", fix)
    return value


def _words(chk, path, value, spec, out):
    return chk.string_list(path, value or []) or []


def _command(chk, path, value, spec, out):
    words = _words(chk, path, value, spec, out)
    if words and words[0] == "":
        chk.error(path + "[0]", "", "is empty", "give the program to run first")
    return words


def _env(chk, path, value, spec, out):
    return _normalise_env(chk, path, value or {})


def _secret_env(chk, path, value, spec, out):
    refs = _normalise_secret_env(chk, path, value or {})
    for both in sorted(set(out["env"]) & set(refs)):
        chk.error(join(path, both), both, "is also set in env", "set each variable in env or secret_env, not both")
    return refs


def _volumes(chk, path, value, spec, out):
    raw_volumes = value or []
    if not isinstance(raw_volumes, (list, tuple)):
        chk.error(path, raw_volumes, "is not a list", "give a list of volumes")
        raw_volumes = []
    volumes, seen = [], {}
    for i, raw in enumerate(raw_volumes):
        vol = _normalise_volume(chk, join(path, i), raw)
        if vol is None:
            continue
        target = vol.get("container_path")
        if target is not None:
            if target in seen:
                chk.error(join(join(path, i), "container_path"), target,
                          "is already used by volumes[%d]" % seen[target], "mount each container path once")
            seen[target] = i
        volumes.append(vol)
    return sorted(volumes, key=lambda v: (v.get("container_path") or "", json.dumps(v, sort_keys=True)))


def _ports(chk, path, value, spec, out):
    raw_ports = value or []
    if not isinstance(raw_ports, (list, tuple)):
        chk.error(path, raw_ports, "is not a list", "give a list such as [80, 443, 53/udp]")
        raw_ports = []
    ports = set()
    for i, raw in enumerate(raw_ports):
        port = _normalise_port(chk, join(path, i), raw)
        if port:
            ports.add(port)
    return ["%d/%s" % pp for pp in sorted(ports)]


def _restart_policy(chk, path, value, spec, out):
    policy = value
    if isinstance(policy, str) and policy.startswith("on-failure:") and spec.get("max_retries") is None:
        policy = "on-failure"
    if policy not in RESTART_POLICIES:
        fix = "use always, on-failure or never (with on-failure, max_retries limits the retries)"
        if isinstance(policy, str) and policy.lower() in RESTART_POLICIES:
            fix = "write it in lowercase: %s" % policy.lower()
        chk.error(path, policy, "is not a restart policy", fix)
    return policy


def _max_retries(chk, path, value, spec, out):
    retries = value
    policy = spec.get("restart_policy")
    if retries is None and isinstance(policy, str) and policy.startswith("on-failure:"):
        retries = policy.split(":", 1)[1]
    if retries is None:
        return None
    if out["restart_policy"] != "on-failure":
        chk.error(path, retries, "only applies with restart_policy: on-failure",
                  "remove max_retries or set restart_policy: on-failure")
    return chk.integer(path, retries, 1, 1000000)


def _flag(chk, path, value, spec, out):
    return chk.boolean(path, value)


def _optional_string(chk, path, value, spec, out):
    return None if value is None else chk.string(path, value)


def _user(chk, path, value, spec, out):
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    return _optional_string(chk, path, value, spec, out)


def _workdir(chk, path, value, spec, out):
    workdir = _optional_string(chk, path, value, spec, out)
    if workdir is not None and not workdir.startswith("/"):
        chk.error(path, workdir, "is not an absolute path", "start the working directory with /")
    return workdir


def _capabilities(chk, path, value, spec, out):
    return _normalise_capabilities(chk, path, value or [])


def _security_opt(chk, path, value, spec, out):
    opts = chk.string_list(path, value or []) or []
    if out["apparmor_profile"] is not None and any(o.startswith("apparmor") for o in opts):
        sibling = path[: -len("security_opt")] + "apparmor_profile"
        chk.error(sibling, out["apparmor_profile"], "conflicts with an apparmor entry in security_opt",
                  "set the profile in one place")
    return sorted(set(opts))


def _memory(chk, path, value, spec, out):
    if value is None:
        return None
    memory = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    memory = size_string(memory)
    if memory is None:
        chk.error(path, value, "is not a memory size", "use docker's syntax, e.g. 512m or 2g")
    elif size_bytes(memory) < 6 * 1024 * 1024:
        chk.error(path, value, "is below docker's minimum of 6m", "give at least 6m")
        memory = None
    return memory


def _cpus(chk, path, value, spec, out):
    return None if value is None else _normalise_cpus(chk, path, value)


def _healthcheck(chk, path, value, spec, out):
    return None if value is None else _normalise_healthcheck(chk, path, value)


def _readiness(chk, path, value, spec, out):
    return None if value is None else _normalise_readiness(chk, path, value, out["ports"])


def _log_driver(chk, path, value, spec, out):
    if value not in LOG_DRIVERS:
        chk.error(path, value, "is not a supported log driver",
                  "use json-file (shipped to Cloud Logging by the COS logging agent) or gcplogs")
    return value


def _log_opts(chk, path, value, spec, out):
    opts = dict(JSON_FILE_DEFAULT_OPTS) if out["log_driver"] == "json-file" else {}
    opts.update(_string_map(chk, path, value or {}))
    return opts


def _labels(chk, path, value, spec, out):
    return _string_map(chk, path, value or {})


def _stop_timeout(chk, path, value, spec, out):
    return chk.integer(path, value, 0, 3600)


def _docker_args(chk, path, value, spec, out):
    return _normalise_docker_args(chk, path, value or [])


def start_first_possible(out):
    """Why start-first cannot work for a normalised spec ('' when it can): it needs a declared port to switch
    and a readiness probe or a docker health check to gate the switch on."""
    if not out.get("ports"):
        return "the container declares no ports, so there is no traffic to move to the new revision"
    if not out.get("readiness") and not out.get("healthcheck"):
        return "the container has neither a readiness probe nor a healthcheck to tell when the new revision is ready"
    return ""


def _network(chk, path, value, spec, out):
    if value is not None and value not in NETWORKS:
        chk.error(path, value, "is not a network", "use host (konlet's, the default for stop-first) or bridge "
                  "(docker's bridge network, with order: start-first)")
        return None
    return value


def _order(chk, path, value, spec, out):
    """start-first or stop-first. Left out: start-first for a container that declares ports and a readiness
    probe, unless it asks for the host network; stop-first otherwise (recorded only when start-first, so that
    the units of existing containers do not change)."""
    network_path = path[: -len("order")] + "network"
    if value is not None and value not in ORDERS:
        chk.error(path, value, "is not an update order", "use start-first or stop-first")
        return None
    if value is None:
        if out.get("ports") and out.get("readiness") and out.get("network") != "host":
            value = "start-first"
        elif out.get("network") == "bridge":
            value = "stop-first"  # refused below
    if value == "start-first":
        why = start_first_possible(out)
        if why:
            chk.error(path, value, "cannot work: %s" % why,
                      "declare the ports and a readiness probe (or a healthcheck), or use order: stop-first")
        if out.get("network") == "host":
            chk.error(path, value, "cannot work with network: host: the new revision would bind the declared "
                      "ports (%s) while the old one still holds them" % ", ".join(out.get("ports") or []),
                      "remove network: host (start-first runs the container on docker's bridge network), or use "
                      "order: stop-first")
        out["network"] = "bridge"
    elif value is not None and out.get("network") == "bridge":
        chk.error(network_path, "bridge", "only works with order: start-first (the agent's port switch)",
                  "use order: start-first, or remove network: bridge")
        return None
    return value


def _drain(chk, path, value, spec, out):
    if out.get("order") != "start-first":
        if value is not None:
            chk.error(path, value, "only applies with order: start-first (the old revision drains after the switch)",
                      "remove drain, or use order: start-first")
        return None
    drain = chk.integer(path, DEFAULT_DRAIN if value is None else value, 0, 10 ** 6)
    if drain is not None and drain > MAX_DRAIN:
        chk.error(path, value, "is longer than the agent keeps an old revision after the switch (%d s)" % MAX_DRAIN,
                  "give at most %d seconds" % MAX_DRAIN)
    return drain


# --- the rows: the one declaration of the spec's fields ---------------------------------------

class Field:
    """One field of the container spec.

    ``type``/``elements``/``choices``/``options`` are the Ansible argument spec (the module's
    options and the role's argument_specs.yml are made from them); ``doc`` is the description
    everywhere (module, role, docs/docsite/rst/guide_container_spec.rst); ``default`` is the documented default;
    ``docker`` says what the field becomes in the unit (``flag`` when it is one docker option);
    ``normalise`` checks and canonicalises the value (None for suboptions, which their parent
    normalises); ``absent`` is the value it is given when the field is left out; ``omit_unset``
    leaves the field out of the normalised spec while it is None, so that a field added in a later
    release does not change the spec (its unit, its revision) of a container that does not use it.
    """

    def __init__(self, name, type, doc, normalise=None, elements=None, choices=None, options=None, required=False,
                 default=None, docker=None, flag=None, absent=None, omit_unset=False):
        self.name, self.type, self.normalise, self.absent = name, type, normalise, absent
        self.omit_unset = omit_unset
        # The argument spec.
        self.elements, self.choices, self.options, self.required = elements, choices, options, required
        # The documentation.
        self.doc = [doc] if isinstance(doc, str) else list(doc)
        self.default, self.flag = default, flag
        self.docker = docker if docker is not None else ("C(%s)" % flag if flag else None)

    def argument_spec(self, top_level=True):
        """This field as an AnsibleModule option (top-level fields are never required there)."""
        out = {"type": self.type}
        for key in ("elements", "choices"):
            if getattr(self, key) is not None:
                out[key] = list(getattr(self, key)) if key == "choices" else self.elements
        if self.options:
            out["options"] = {row.name: row.argument_spec(top_level=False) for row in self.options}
        if self.required and not top_level:
            out["required"] = True
        if self.name == "secret_env":
            out["no_log"] = False  # references to Secret Manager, not secret values
        return out

    def documentation(self, nested_key, top_level_required):
        """This field as a documented option; ``nested_key`` is ``suboptions`` (modules) or ``options`` (roles)."""
        out = {"description": list(self.doc), "type": self.type}
        if self.elements is not None:
            out["elements"] = self.elements
        if self.choices is not None:
            out["choices"] = list(self.choices)
        if self.required and (top_level_required or self.normalise is None):
            out["required"] = True
        if self.options:
            out[nested_key] = {row.name: row.documentation(nested_key, True) for row in self.options}
        return out


VOLUME_ROWS = (
    Field("type", "str", "The kind of volume; inferred from C(host_path) or C(device_name) when not set.",
          choices=("host_path", "tmpfs", "disk")),
    Field("container_path", "str", "Where the volume appears in the container (absolute, not C(/)).",
          required=True),
    Field("host_path", "str",
          "A host directory below C(/var), C(/home) or C(/mnt/disks) (C(/) is read-only on COS and C(/etc) is wiped "
          "at boot); with C(read_only: true) any absolute path, such as C(/etc/ssl/certs); never "
          "C(/var/lib/cos-agent)."),
    Field("device_name", "str",
          "A persistent disk, by the device name it is attached with. It is mounted at C(/mnt/disks/DEVICE) by the "
          "VM's disk units, and the container's unit requires that mount."),
    Field("partition", "int", "The partition of the disk to use (the role's disk units mount whole disks)."),
    Field("sub_path", "str", "A relative directory inside the disk to mount instead of its root."),
    Field("size", "str", "The size limit of a tmpfs volume, in docker's syntax (C(64m)). Default unlimited."),
    Field("read_only", "bool", "Mount read-only (host paths and disks). Default V(false)."),
)

HEALTHCHECK_ROWS = (
    Field("command", "raw", "The check, a string run by C(/bin/sh -c) or a list of words (shell-quoted).",
          required=True),
    Field("interval", "raw", "Time between checks, seconds or a Go duration (C(30s)). Default C(30s)."),
    Field("timeout", "raw", "Time a check may take. Default C(30s)."),
    Field("retries", "int", "Failures in a row that make the container unhealthy. Default V(3)."),
    Field("start_period", "raw", "Grace time after start. Default C(0s)."),
)

READINESS_ROWS = (
    Field("type", "str", "V(http), V(tcp) or V(command); inferred from C(command), C(path) or C(status) when not set.",
          choices=READINESS_TYPES),
    Field("port", "int",
          "V(http) and V(tcp): the port the probe connects to on the VM (C(127.0.0.1); a start-first container at "
          "its bridge address); it must be declared in C(ports)."),
    Field("path", "str", "V(http): the path of the C(GET) request. Default C(/)."),
    Field("status", "int", "V(http): the status the answer must have. Default V(200)."),
    Field("command", "list", "V(command): a command run in the container (C(docker exec)); ready when it exits 0.",
          elements="str"),
    Field("interval", "int", "Seconds between two probes. Default V(1)."),
    Field("timeout", "int", "Seconds one probe may take. Default V(2)."),
    Field("deadline", "int",
          "Seconds after the container started within which it must be ready, else it is reported C(failed); at "
          "least the interval. Default V(60)."),
)

ROWS = (
    Field("name", "str",
          "The container's name (RFC1035 label). It names the container, its unit C(cos-container-NAME.service) and "
          "its metadata key C(cos-container-NAME).",
          _name, required=True, flag="--name"),
    Field("image", "str",
          "The image, C(REPOSITORY[:TAG][@sha256:DIGEST]). A tag is pulled at every start; a digest only when "
          "missing.",
          _image, required=True, docker="the image argument; C(docker pull) in C(ExecStartPre)"),
    Field("command", "list", "Replaces the image's entrypoint (konlet's C(command)).", _command, elements="str",
          default="the image's", docker="C(--entrypoint) first word; the other words go before C(args)"),
    Field("args", "list", "Replaces the image's cmd.", _words, elements="str", default="the image's",
          docker="words after the image"),
    Field("env", "dict",
          "Plain environment variables, C(NAME: value). Stored in clear in the instance metadata; use C(secret_env) "
          "for secrets.",
          _env, default="{}", flag="--env"),
    Field("secret_env", "dict",
          ["Environment variables resolved on the VM from Secret Manager, C(NAME: projects/P/secrets/S/versions/V) "
           "(or C(.../versions/latest), or C(sm://P/S[#V])). Values never reach the metadata, the unit or the task "
           "result.", "The VM's service account needs C(roles/secretmanager.secretAccessor) on the secrets."],
          _secret_env, default="{}", docker="C(--env-file /run/cos-agent/secrets/NAME.env), written by fetch-secrets"),
    Field("volumes", "list", "Volumes, each with a C(container_path) and one source (see the volume table).",
          _volumes, elements="dict", options=VOLUME_ROWS, default="[]",
          docker="C(--volume), C(--mount type=tmpfs)"),
    Field("ports", "list",
          "Ports to open on the host firewall, as C(N), C(N/tcp) or C(N/udp): each is accepted on C(INPUT) for IPv4 "
          "and IPv6 while the container runs. COS drops every other inbound port (INPUT policy DROP, except SSH), so "
          "a port not listed, or listed with the wrong protocol, does not answer from outside the VM. On the host "
          "network (stop-first) there is no port mapping; a start-first container (C(order)) is on docker's bridge "
          "network and the cos agent forwards these ports of the VM's IPv4 addresses to it (DNAT) once it is ready.",
          _ports, elements="raw", default="[]",
          docker="C(iptables)/C(ip6tables -A INPUT ... -j ACCEPT) in C(ExecStartPre), removed in C(ExecStopPost); "
                 "start-first: the agent's DNAT rules"),
    Field("restart_policy", "str",
          "When systemd restarts the container - V(always), V(on-failure) (also C(on-failure:N)) or V(never).",
          _restart_policy, default="always", docker="C(Restart=always), C(on-failure) or C(no)", absent="always"),
    Field("max_retries", "int", "With C(restart_policy: on-failure), the number of restarts after the first start.",
          _max_retries, default="unlimited", docker="C(StartLimitBurst=N+1), C(StartLimitIntervalSec=infinity)"),
    Field("privileged", "bool", "Run with full host access. Default V(false).", _flag, default="false",
          flag="--privileged", absent=False),
    Field("stdin", "bool", "Keep stdin open with nothing attached (as konlet did). Default V(false).", _flag,
          default="false", absent=False,
          docker="C(--interactive); the container is started detached, so nothing is attached to stdin"),
    Field("tty", "bool", "Allocate a pseudo-TTY. Default V(false).", _flag, default="false", flag="--tty",
          absent=False),
    Field("user", "str", "The user, C(UID[:GID]) or a name.", _user, default="the image's", flag="--user"),
    Field("workdir", "str", "The working directory (absolute).", _workdir, default="the image's", flag="--workdir"),
    Field("cap_add", "list", "Capabilities to add, with or without C(CAP_).", _capabilities, elements="str",
          default="[]", flag="--cap-add"),
    Field("cap_drop", "list", "Capabilities to drop, or C(ALL).", _capabilities, elements="str", default="[]",
          flag="--cap-drop"),
    Field("read_only", "bool", "Make the container's root filesystem read-only. Default V(false).", _flag,
          default="false", flag="--read-only", absent=False),
    Field("apparmor_profile", "str", "The AppArmor profile.", _optional_string, default="docker's",
          docker="C(--security-opt apparmor=PROFILE)"),
    Field("security_opt", "list", "Other docker security options.", _security_opt, elements="str", default="[]",
          flag="--security-opt"),
    Field("memory", "str", "Memory limit in docker's syntax (C(512m), C(2g)); at least C(6m).", _memory,
          default="none", flag="--memory"),
    Field("cpus", "float", "CPU limit, for example V(0.5) or V(2).", _cpus, default="none", flag="--cpus"),
    Field("healthcheck", "dict", "A docker health check.", _healthcheck, options=HEALTHCHECK_ROWS, default="none",
          docker="C(--health-cmd), C(--health-interval), C(--health-timeout), C(--health-retries), "
                 "C(--health-start-period)"),
    Field("readiness", "dict",
          ["A readiness probe the cos agent runs on the VM: an HTTP C(GET) (port, path, expected status), a TCP "
           "connect (port), or a command in the container. The container counts as C(running) (for the agent's "
           "report, the module's wait and a group's batches) only once a probe succeeds; one that is not ready "
           "within C(deadline) seconds is reported C(failed).",
           "Without a probe, a container with a docker health check (C(healthcheck), or the image's) counts as "
           "running once docker says it is healthy; otherwise once it has been up for a few seconds."],
          _readiness, options=READINESS_ROWS, default="none", omit_unset=True,
          docker="a C(# cos-ready:) line the agent reads; nothing in C(docker create)"),
    Field("log_driver", "str",
          ["V(json-file) (default) keeps logs on the VM, and the COS logging agent ships them to Cloud Logging when "
           "the instance has C(google-logging-enabled=true).",
           "V(gcplogs) ships directly, but the container fails to start unless the VM's service account has "
           "C(roles/logging.logWriter) and the instance the C(logging-write) or C(cloud-platform) scope (a warning "
           "says so)."],
          _log_driver, choices=LOG_DRIVERS, default="json-file", flag="--log-driver", absent="json-file"),
    Field("log_opts", "dict",
          "Log driver options, merged over the json-file defaults C(max-size=500m) and C(max-file=3).", _log_opts,
          default="json-file: max-size=500m, max-file=3", flag="--log-opt"),
    Field("labels", "dict", "Container labels.", _labels, default="{}", flag="--label"),
    Field("stop_timeout", "int", "Seconds between SIGTERM and SIGKILL when the container stops. Default V(10).",
          _stop_timeout, default="10", absent=DEFAULT_STOP_TIMEOUT,
          docker="C(--stop-timeout N), C(ExecStop=docker stop -t N), C(TimeoutStopSec=N+30)"),
    Field("docker_args", "list",
          "Extra C(docker run) arguments, an escape hatch. Options the unit sets itself (C(--rm), C(--name), "
          "C(--network), C(--restart), C(--env-file), C(-d)) are refused.",
          _docker_args, elements="str", default="[]", docker="as given, before the image"),
    Field("network", "str",
          ["V(host) (konlet's: the container shares the VM's network, its ports are opened on the host firewall) "
           "or V(bridge) (docker's bridge network, ports not published: the cos agent forwards the declared ports "
           "to the container, which start-first needs).",
           "Default V(bridge) when the update order is start-first, else V(host)."],
          _network, choices=NETWORKS, default="bridge with start-first, else host", omit_unset=True,
          docker="C(--network host) or C(--network bridge)"),
    Field("order", "str",
          ["How an update replaces the running container. V(start-first) starts the new revision beside the old "
           "one (on the bridge network), waits until it is ready (C(readiness), or C(healthcheck)), moves the "
           "declared ports to it in one firewall transaction (connections already open finish on the old one), "
           "lets the old one drain for C(drain) seconds, then stops it; a new revision that is not ready in time "
           "is removed and the old one never stopped. V(stop-first) stops the old container, then starts the new "
           "one (on the host network); one with a C(readiness) probe that is not ready in time is rolled back "
           "to the previous revision.",
           "Default V(start-first) for a container that declares C(ports) and a C(readiness) probe (and not "
           "C(network: host)), else V(stop-first). A healthcheck alone does not change the default: set "
           "V(start-first) to opt in."],
          _order, choices=ORDERS, default="start-first with ports and readiness, else stop-first", omit_unset=True,
          docker="a C(# cos-switch:) line the agent reads; C(--network bridge)"),
    Field("drain", "int",
          "With V(start-first): seconds the old revision keeps running after the ports moved to the new one, so "
          "that connections already open finish, before it is stopped (C(stop_timeout) then applies). At most "
          "V(300). Default V(10).",
          _drain, default="10 (start-first only)", omit_unset=True,
          docker="a C(# cos-switch:) line the agent reads"),
)
ROW = {row.name: row for row in ROWS}
FIELDS = tuple(row.name for row in ROWS)
HEALTHCHECK_FIELDS = tuple(row.name for row in HEALTHCHECK_ROWS)
READINESS_FIELDS = tuple(row.name for row in READINESS_ROWS)


def argument_spec():
    """The spec's fields as AnsibleModule options: the single form's options, and each entry of a list form."""
    return {row.name: row.argument_spec() for row in ROWS}


def documentation(nested_key="suboptions", required=False):
    """The spec's fields as documented options (``required`` marks name and image, as the role needs them)."""
    return {row.name: row.documentation(nested_key, required) for row in ROWS}


def warnings(spec):
    """Warnings for a normalised spec (things that are valid but can bite)."""
    out = []
    if spec.get("log_driver") == "gcplogs":
        out.append(
            "container %s uses the gcplogs log driver: the container fails to start unless the VM's service "
            "account has roles/logging.logWriter, the instance has the logging-write (or cloud-platform) scope "
            "and the Cloud Logging API is enabled" % spec.get("name")
        )
    for name in sorted(spec.get("env") or {}):
        if SECRET_NAME_RE.search(name):
            out.append(
                "container %s: env %s looks like a secret, and env values are stored in clear in instance "
                "metadata; move it to secret_env (a Secret Manager reference)" % (spec.get("name"), name)
            )
    for arg in spec.get("docker_args") or []:
        if arg in ("-e", "--env") or arg.startswith(("-e=", "--env=")):
            out.append(
                "container %s: environment given in docker_args is stored in clear in instance metadata; "
                "use env, or secret_env for secrets" % spec.get("name")
            )
            break
    return out


def canonical_json(spec):
    """Compact JSON with sorted keys: the form hashed into revisions and shown in diffs."""
    return json.dumps(spec, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
