# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The container spec: validation and normalisation.

``validate(spec)`` checks a user's container spec and returns its canonical form: every
field present, defaults filled in, and unordered collections sorted, so that two specs
meaning the same thing compare equal (and render to byte-identical units). All problems
are collected and raised together as one ``SpecError``; each names the field path, the
bad value and the fix.

docs/container-spec.md describes every field; keep the two in step.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import difflib
import json
import math
import posixpath
import re

# RFC1035 label: the name is used in the unit name, the docker name and the metadata key.
NAME_RE = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
# Compute Engine device names follow the same rule.
DEVICE_NAME_RE = NAME_RE
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
HOST_PATH_FORBIDDEN = ("/var/lib/cos-agent",)
# Paths inside the docker -v/--mount syntax cannot hold these.
PATH_FORBIDDEN_CHARS = (":", ",")

RESTART_POLICIES = ("always", "on-failure", "never")
LOG_DRIVERS = ("json-file", "gcplogs")
# konlet's json-file limits (FACTS §1), kept as the default.
JSON_FILE_DEFAULT_OPTS = {"max-size": "500m", "max-file": "3"}
DEFAULT_STOP_TIMEOUT = 10
HEALTHCHECK_DEFAULTS = {"interval": "30s", "timeout": "30s", "retries": 3, "start_period": "0s"}

# docker run options the unit sets itself; an escape hatch must not fight them.
RESERVED_DOCKER_ARGS = {
    "--rm": "the unit always runs the container with --rm",
    "--name": "the container name comes from the spec's name",
    "--network": "containers always use the host network",
    "--net": "containers always use the host network",
    "-d": "systemd supervises the foreground docker client",
    "--detach": "systemd supervises the foreground docker client",
    "--restart": "use restart_policy: systemd restarts the container",
    "--env-file": "use env or secret_env",
}

FIELDS = (
    "name", "image", "command", "args", "env", "secret_env", "volumes", "ports",
    "restart_policy", "max_retries", "privileged", "stdin", "tty", "user", "workdir",
    "cap_add", "cap_drop", "read_only", "apparmor_profile", "security_opt", "memory", "cpus",
    "healthcheck", "log_driver", "log_opts", "labels", "stop_timeout", "docker_args",
)
VOLUME_FIELDS = {
    "host_path": ("type", "host_path", "container_path", "read_only"),
    "tmpfs": ("type", "container_path", "size"),
    "disk": ("type", "device_name", "partition", "sub_path", "container_path", "read_only"),
}
HEALTHCHECK_FIELDS = ("command", "interval", "timeout", "retries", "start_period")

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
        if isinstance(value, bool) or not isinstance(value, str):
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


def _normalise_host_path(chk, path, value, roots=HOST_PATH_ROOTS):
    text = chk.string(path, value)
    if text is None:
        return None
    if not text.startswith("/"):
        chk.error(path, value, "is not an absolute path", "start the path with /, e.g. /var/lib/APP")
        return None
    if ".." in text.split("/"):
        chk.error(path, value, "contains a '..' component", "write the path without '..'")
        return None
    for ch in PATH_FORBIDDEN_CHARS:
        if ch in text:
            chk.error(path, value, "contains %r, which docker's volume syntax cannot carry" % ch,
                      "use a path without %r" % ch)
            return None
    if not HOST_PATH_RE.match(text):
        chk.error(path, value, "contains characters other than letters, digits and . _ @ + ~ / -",
                  "use a host directory with a plain name")
        return None
    norm = posixpath.normpath(text)
    if norm.startswith("//"):
        norm = "/" + norm.lstrip("/")
    if roots is not None:
        if not any(norm.startswith(root + "/") for root in roots):
            chk.error(
                path, value,
                "is not allowed: on Container-Optimized OS host paths must be below /var, /home or "
                "/mnt/disks (/ is read-only, /etc is wiped at boot)",
                "use a directory such as /var/lib/APP, or a disk volume for data that must persist",
            )
            return None
        for forbidden in HOST_PATH_FORBIDDEN:
            if norm == forbidden or norm.startswith(forbidden + "/") or forbidden.startswith(norm + "/"):
                chk.error(path, value, "overlaps %s, which holds the cos agent's credentials" % forbidden,
                          "use another directory, e.g. /var/lib/APP")
                return None
    return norm


def _normalise_container_path(chk, path, value):
    text = chk.string(path, value)
    if text is None:
        return None
    if not text.startswith("/"):
        chk.error(path, value, "is not an absolute path", "start the container path with /")
        return None
    if ".." in text.split("/"):
        chk.error(path, value, "contains a '..' component", "write the path without '..'")
        return None
    for ch in PATH_FORBIDDEN_CHARS:
        if ch in text:
            chk.error(path, value, "contains %r, which docker's volume syntax cannot carry" % ch,
                      "use a path without %r" % ch)
            return None
    norm = posixpath.normpath(text)
    if norm.startswith("//"):
        norm = "/" + norm.lstrip("/")
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
        out["host_path"] = _normalise_host_path(chk, join(path, "host_path"), vol.get("host_path"))
        out["read_only"] = chk.boolean(join(path, "read_only"), vol.get("read_only", False))
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
        if not isinstance(device, str) or not DEVICE_NAME_RE.match(device):
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
        text = chk.string(vpath, val, allow_empty=True, what="a string (quote true/false in YAML)")
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
                          what="a string (quote true/false in YAML)")
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

    def p(key):
        return join(path, key)

    out = {}

    name = spec.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        chk.error(p("name"), name, "is not a valid container name",
                  "use 1-63 characters: a lowercase letter first, then lowercase letters, digits or hyphens, "
                  "not ending with a hyphen")
    out["name"] = name

    image = spec.get("image")
    m = IMAGE_RE.match(image) if isinstance(image, str) else None
    if not m or len(m.group("name")) > 255:
        fix = "give REPOSITORY[:TAG][@sha256:DIGEST], e.g. nginx:1.27 or us-docker.pkg.dev/P/R/app@sha256:..."
        if isinstance(image, str) and image.lower() != image and IMAGE_RE.match(image.lower()):
            fix = "repository names are lowercase: %s" % image.lower()
        chk.error(p("image"), image, "is not a valid image reference", fix)
    out["image"] = image

    out["command"] = chk.string_list(p("command"), spec.get("command") or []) or []
    out["args"] = chk.string_list(p("args"), spec.get("args") or []) or []
    if out["command"] and out["command"][0] == "":
        chk.error(p("command") + "[0]", "", "is empty", "give the program to run first")

    out["env"] = _normalise_env(chk, p("env"), spec.get("env") or {})
    out["secret_env"] = _normalise_secret_env(chk, p("secret_env"), spec.get("secret_env") or {})
    for both in sorted(set(out["env"]) & set(out["secret_env"])):
        chk.error(join(p("secret_env"), both), both, "is also set in env",
                  "set each variable in env or secret_env, not both")

    volumes = []
    raw_volumes = spec.get("volumes") or []
    if not isinstance(raw_volumes, (list, tuple)):
        chk.error(p("volumes"), raw_volumes, "is not a list", "give a list of volumes")
        raw_volumes = []
    seen = {}
    for i, raw in enumerate(raw_volumes):
        vol = _normalise_volume(chk, join(p("volumes"), i), raw)
        if vol is None:
            continue
        target = vol.get("container_path")
        if target is not None:
            if target in seen:
                chk.error(join(join(p("volumes"), i), "container_path"), target,
                          "is already used by volumes[%d]" % seen[target], "mount each container path once")
            seen[target] = i
        volumes.append(vol)
    out["volumes"] = sorted(volumes, key=lambda v: (v.get("container_path") or "", json.dumps(v, sort_keys=True)))

    ports = set()
    raw_ports = spec.get("ports") or []
    if not isinstance(raw_ports, (list, tuple)):
        chk.error(p("ports"), raw_ports, "is not a list", "give a list such as [80, 443, 53/udp]")
        raw_ports = []
    for i, raw in enumerate(raw_ports):
        port = _normalise_port(chk, join(p("ports"), i), raw)
        if port:
            ports.add(port)
    out["ports"] = ["%d/%s" % pp for pp in sorted(ports)]

    policy = spec.get("restart_policy", "always")
    retries = spec.get("max_retries")
    if isinstance(policy, str) and policy.startswith("on-failure:") and retries is None:
        policy, retries = "on-failure", policy.split(":", 1)[1]
    if policy not in RESTART_POLICIES:
        fix = "use always, on-failure or never (with on-failure, max_retries limits the retries)"
        if isinstance(policy, str) and policy.lower() in RESTART_POLICIES:
            fix = "write it in lowercase: %s" % policy.lower()
        chk.error(p("restart_policy"), policy, "is not a restart policy", fix)
    out["restart_policy"] = policy
    if retries is not None:
        if policy != "on-failure":
            chk.error(p("max_retries"), retries, "only applies with restart_policy: on-failure",
                      "remove max_retries or set restart_policy: on-failure")
        retries = chk.integer(p("max_retries"), retries, 1, 1000000)
    out["max_retries"] = retries

    for key in ("privileged", "stdin", "tty", "read_only"):
        out[key] = chk.boolean(p(key), spec.get(key, False))
    for key in ("user", "workdir", "apparmor_profile"):
        val = spec.get(key)
        if isinstance(val, int) and not isinstance(val, bool) and key == "user":
            val = str(val)
        out[key] = None if val is None else chk.string(p(key), val)
    if out["workdir"] is not None and not out["workdir"].startswith("/"):
        chk.error(p("workdir"), out["workdir"], "is not an absolute path", "start the working directory with /")

    out["cap_add"] = _normalise_capabilities(chk, p("cap_add"), spec.get("cap_add") or [])
    out["cap_drop"] = _normalise_capabilities(chk, p("cap_drop"), spec.get("cap_drop") or [])
    security_opt = chk.string_list(p("security_opt"), spec.get("security_opt") or []) or []
    out["security_opt"] = sorted(set(security_opt))
    if out["apparmor_profile"] is not None and any(o.startswith("apparmor") for o in security_opt):
        chk.error(p("apparmor_profile"), out["apparmor_profile"], "conflicts with an apparmor entry in security_opt",
                  "set the profile in one place")

    memory = spec.get("memory")
    if memory is not None:
        raw_memory = memory
        if isinstance(memory, int) and not isinstance(memory, bool):
            memory = str(memory)
        memory = size_string(memory)
        if memory is None:
            chk.error(p("memory"), raw_memory, "is not a memory size", "use docker's syntax, e.g. 512m or 2g")
        elif size_bytes(memory) < 6 * 1024 * 1024:
            chk.error(p("memory"), raw_memory, "is below docker's minimum of 6m", "give at least 6m")
            memory = None
    out["memory"] = memory
    cpus = spec.get("cpus")
    out["cpus"] = None if cpus is None else _normalise_cpus(chk, p("cpus"), cpus)

    hc = spec.get("healthcheck")
    out["healthcheck"] = None if hc is None else _normalise_healthcheck(chk, p("healthcheck"), hc)

    driver = spec.get("log_driver", "json-file")
    if driver not in LOG_DRIVERS:
        chk.error(p("log_driver"), driver, "is not a supported log driver",
                  "use json-file (shipped to Cloud Logging by the COS logging agent) or gcplogs")
    out["log_driver"] = driver
    log_opts = dict(JSON_FILE_DEFAULT_OPTS) if driver == "json-file" else {}
    log_opts.update(_string_map(chk, p("log_opts"), spec.get("log_opts") or {}))
    out["log_opts"] = log_opts

    out["labels"] = _string_map(chk, p("labels"), spec.get("labels") or {})
    out["stop_timeout"] = chk.integer(p("stop_timeout"), spec.get("stop_timeout", DEFAULT_STOP_TIMEOUT), 0, 3600)
    out["docker_args"] = _normalise_docker_args(chk, p("docker_args"), spec.get("docker_args") or [])
    return out


def warnings(spec):
    """Warnings for a normalised spec (things that are valid but can bite)."""
    out = []
    if spec.get("log_driver") == "gcplogs":
        out.append(
            "container %s uses the gcplogs log driver: the container fails to start unless the VM's service "
            "account has roles/logging.logWriter and the Cloud Logging API is enabled" % spec.get("name")
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
