# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module is PRIVATE to the gce.cos collection: it may change at any time, without notice.
# Do not use it from other collections or from your own plugins.
"""cos_health_check's options: the argument spec, the defaults of gcloud, and the validator (no API)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_names import name_error, region_error
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_params import raise_input_errors

# type -> the API's field of its settings.
TYPE_FIELDS = {"HTTP": "httpHealthCheck", "HTTPS": "httpsHealthCheck", "TCP": "tcpHealthCheck"}
# gcloud compute health-checks create's defaults.
DEFAULT_PORTS = {"HTTP": 80, "HTTPS": 443, "TCP": 80}
DEFAULT_REQUEST_PATH = "/"
DEFAULT_INTERVAL = 5
DEFAULT_TIMEOUT = 5
DEFAULT_THRESHOLD = 2
MAX_RESPONSE = 1024  # bytes of the expected response the API accepts
# Where Google's health checkers probe from: a firewall rule must let them reach the checked port.
PROBER_RANGES = ["35.191.0.0/16", "130.211.0.0/22"]

ARGUMENT_SPEC = dict(
    name=dict(type="str", required=True),
    region=dict(type="str"),
    state=dict(type="str", default="present", choices=["present", "absent"]),
    type=dict(type="str", default="HTTP", choices=sorted(TYPE_FIELDS)),
    port=dict(type="int"),
    request_path=dict(type="str"),
    host=dict(type="str"),
    response=dict(type="str"),
    check_interval_sec=dict(type="int", default=DEFAULT_INTERVAL),
    timeout_sec=dict(type="int", default=DEFAULT_TIMEOUT),
    healthy_threshold=dict(type="int", default=DEFAULT_THRESHOLD),
    unhealthy_threshold=dict(type="int", default=DEFAULT_THRESHOLD),
    description=dict(type="str"),
)
ARGUMENT_RULES = {}


def health_check_errors(p):
    """Every input error of the params ``p``, each naming the field, the value and the fix."""
    errors = [name_error("name", p["name"], "health check name")]
    if p["region"] is not None:
        errors.append(region_error("region", p["region"]))
    if p["state"] == "absent":
        return [e for e in errors if e]
    if p["port"] is not None and not 1 <= p["port"] <= 65535:
        errors.append("port: %d is not a port: use 1 to 65535" % p["port"])
    if p["type"] == "TCP":
        for field in ("request_path", "host"):
            if p[field] is not None:
                errors.append("%s: TCP health checks send no HTTP request: leave it out, or use type HTTP" % field)
    elif p["request_path"] is not None and not p["request_path"].startswith("/"):
        errors.append("request_path: %r does not start with '/': use e.g. /healthz" % p["request_path"])
    if p["response"] is not None and len(p["response"].encode("utf-8")) > MAX_RESPONSE:
        errors.append("response: %d bytes; the expected response may have at most %d" % (
            len(p["response"].encode("utf-8")), MAX_RESPONSE))
    for field in ("check_interval_sec", "timeout_sec"):
        if not 1 <= p[field] <= 300:
            errors.append("%s: %d is out of range: use 1 to 300 (seconds)" % (field, p[field]))
    for field in ("healthy_threshold", "unhealthy_threshold"):
        if not 1 <= p[field] <= 10:
            errors.append("%s: %d is out of range: use 1 to 10" % (field, p[field]))
    if p["timeout_sec"] > p["check_interval_sec"]:
        errors.append(
            "timeout_sec: %d is longer than check_interval_sec (%d): a probe must end before the next one starts; "
            "use a timeout_sec of at most %d, or a longer check_interval_sec"
            % (p["timeout_sec"], p["check_interval_sec"], p["check_interval_sec"])
        )
    return [e for e in errors if e]


def validate_health_check_params(params):
    """Raise InvalidParams naming every bad option of cos_health_check's ``params`` (defaults applied)."""
    raise_input_errors(health_check_errors(params))


def wanted(p):
    """The health check's summary the options ask for (gcloud's defaults filled in)."""
    out = {
        "name": p["name"],
        "region": p["region"],
        "type": p["type"],
        "port": p["port"] or DEFAULT_PORTS[p["type"]],
        "request_path": None,
        "host": None,
        "response": p["response"] or None,
        "check_interval_sec": p["check_interval_sec"],
        "timeout_sec": p["timeout_sec"],
        "healthy_threshold": p["healthy_threshold"],
        "unhealthy_threshold": p["unhealthy_threshold"],
        "description": p["description"] or None,
    }
    if p["type"] != "TCP":
        out.update(request_path=p["request_path"] or DEFAULT_REQUEST_PATH, host=p["host"] or None)
    return out
