# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module is PRIVATE to the gce.cos collection: it may change at any time, without notice.
# Do not use it from other collections or from your own plugins.
"""Turn API, auth and transport failures into one-line messages a user can act on.

Every message names the operation, the resource, the HTTP status and reason, and what to
check. Nothing here imports the client library: exceptions are recognised by their
attributes, so that building a message never costs an import.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re


class GcpError(Exception):
    """A failure already phrased for the user; modules pass ``str(exc)`` to fail_json."""

    def __init__(self, message, status=None, reason=None, details=None):
        super(GcpError, self).__init__(message)
        self.message = message
        self.status = status
        self.reason = reason
        self.details = details or {}


class GcpTimeoutError(GcpError):
    pass


class GcpOperationError(GcpError):
    pass


# What to check for each HTTP status, in the user's terms.
_HINTS = {
    400: "check the values sent for this resource",
    401: "the credentials were refused or the access token has expired: refresh the token "
    "(gcloud auth print-access-token), or check auth_kind and the key file",
    403: "the account lacks permission or the Compute Engine API is not enabled in this project: "
    "check IAM roles (e.g. roles/compute.instanceAdmin.v1) and that compute.googleapis.com is enabled",
    404: "check the project, zone and name",
    409: "the resource already exists or is busy: re-run the task to reconcile",
    412: "the resource changed while this task ran (fingerprint mismatch): re-run the task",
    429: "API rate limit or quota exceeded after retries: wait, or raise the project's quota",
    500: "Compute Engine had an internal error after retries: re-run the task later",
    502: "the API was unavailable after retries: re-run the task later",
    503: "the API was unavailable after retries: re-run the task later",
    504: "the API timed out after retries: re-run the task later",
}

_RATE_LIMIT_REASONS = ("rateLimitExceeded", "userRateLimitExceeded")
# A resource quota used up (operation error code, or the HTTP error's reason).
_QUOTA_REASONS = ("QUOTA_EXCEEDED", "quotaExceeded", "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS")
# The API's wording: "Quota 'CPUS' exceeded.  Limit: 24.0 in region us-central1." (or "... globally.").
_QUOTA_RE = re.compile(r"Quota '(?P<metric>[^']+)' exceeded\.\s*Limit:\s*(?P<limit>[0-9.]+)\s*"
                       r"(?:in region (?P<region>[a-z0-9-]+)|(?P<globally>globally))?")


def quota_hint(message, project=None):
    """What to check for a quota error: which quota, where, and the commands that show it."""
    match = _QUOTA_RE.search(message or "")
    project_flag = " --project %s" % project if project else ""
    console = "or the Console's IAM & Admin > Quotas page (filter on the metric)"
    if match and match.group("region"):
        region = match.group("region")
        return (
            "the project's quota %s in region %s is used up (limit %s): see its usage with 'gcloud compute regions "
            "describe %s%s --format=\"table(quotas.metric,quotas.limit,quotas.usage)\"' %s; free some (delete unused "
            "VMs, disks or addresses in %s), use another region, or request a higher quota"
            % (match.group("metric"), region, _limit(match.group("limit")), region, project_flag, console, region)
        )
    if match:
        return (
            "the project's global quota %s is used up (limit %s): see its usage with 'gcloud compute project-info "
            "describe%s --format=\"table(quotas.metric,quotas.limit,quotas.usage)\"' %s; free some, or request a "
            "higher quota" % (match.group("metric"), _limit(match.group("limit")), project_flag, console)
        )
    return (
        "a quota of the project is used up: see which with 'gcloud compute regions describe REGION%s' (regional "
        "quotas: CPUs, disks, addresses) and 'gcloud compute project-info describe%s' (global ones: firewalls, "
        "templates, networks), %s; free some, or request a higher quota" % (project_flag, project_flag, console)
    )


def _limit(text):
    return text[:-2] if text.endswith(".0") else text


def api_error_reason(exc):
    """The Google error reason (e.g. ``notFound``) of a google.api_core exception, if any."""
    errors = getattr(exc, "errors", None) or []
    for err in errors:
        if isinstance(err, dict) and err.get("reason"):
            return err["reason"]
    reason = getattr(exc, "reason", None)
    return reason or None


def api_error_status(exc):
    code = getattr(exc, "code", None)
    try:
        return int(code)
    except (TypeError, ValueError):
        return None


# The REST transport prefixes messages with the request line; the user needs the reason.
_REQUEST_LINE_RE = re.compile(r"^(GET|POST|PUT|PATCH|DELETE) \S+: ")


def _first_line(text):
    text = str(text or "").strip()
    return _REQUEST_LINE_RE.sub("", text.splitlines()[0]) if text else ""


def describe_api_error(exc, doing, project=None):
    """A GcpError for a google.api_core.exceptions.GoogleAPICallError (``project``: the project it was sent to)."""
    status = api_error_status(exc)
    reason = api_error_reason(exc)
    message = _first_line(getattr(exc, "message", None) or exc)
    hint = _HINTS.get(status, "check the request")
    if status == 403 and reason in _RATE_LIMIT_REASONS:
        hint = _HINTS[429]
    if reason in _QUOTA_REASONS or _QUOTA_RE.search(message):
        hint = quota_hint(message, project or _project_of(doing))
    elif reason in _RATE_LIMIT_REASONS or status == 429:
        hint = ("API rate limit exceeded after retries: wait and re-run, lower the play's forks, or see the Compute "
                "Engine API's quotas ('Queries per minute') in the Console's IAM & Admin > Quotas page")
    text = "%s failed: HTTP %s%s: %s; %s" % (
        doing,
        status if status is not None else "error",
        " " + reason if reason else "",
        message,
        hint,
    )
    return GcpError(text, status=status, reason=reason)


def _project_of(text):
    """The project named in a resource description or URL (``projects/P/...``), if any."""
    match = re.search(r"projects/([a-z][a-z0-9-]*[a-z0-9])", text or "")
    return match.group(1) if match else None


def describe_transport_error(exc, doing, endpoint):
    """A GcpError for a connection-level failure (refused, DNS, TLS, timeout)."""
    detail = _first_line(exc)
    # requests wraps urllib3 errors in long reprs; keep the informative tail.
    if "Connection refused" in detail:
        detail = "connection refused"
    elif "Name or service not known" in detail or "Temporary failure in name resolution" in detail:
        detail = "host name not resolved"
    elif "timed out" in detail.lower():
        detail = "timed out"
    return GcpError(
        "%s failed: cannot reach the Compute Engine API at %s (%s); check api_endpoint "
        "(or GCE_COS_API_ENDPOINT) and the network" % (doing, endpoint, detail),
        reason="timeout" if detail == "timed out" else "unreachable",
    )


# What a connection-level failure looks like in google-auth's TransportError text (requests/urllib3 wording).
_NETWORK_MARKERS = (
    ("Connection refused", "connection refused"),
    ("Failed to resolve", "host name not resolved"),
    ("Name or service not known", "host name not resolved"),
    ("Temporary failure in name resolution", "host name not resolved"),
    ("nodename nor servname", "host name not resolved"),
    ("No route to host", "no route to host"),
    ("Network is unreachable", "network unreachable"),
    ("timed out", "timed out"),
    ("Connection reset", "connection reset"),
    ("RemoteDisconnected", "connection closed"),
    ("SSLError", "TLS handshake failed"),
    ("ProxyError", "the proxy refused or failed"),
)


def network_failure(exc):
    """The short cause when ``exc`` (a google.auth error) is a network failure, else None."""
    text = str(exc)
    for marker, cause in _NETWORK_MARKERS:
        if marker.lower() in text.lower():
            return cause
    if type(exc).__name__ == "TransportError":
        return "network error"
    return None


def token_endpoint(credentials):
    """The URL a credentials object gets its tokens from, when it has one."""
    for attr in ("_token_uri", "token_uri"):
        value = getattr(credentials, attr, None)
        if isinstance(value, str) and value:
            return value
    if type(credentials).__module__.startswith("google.auth.compute_engine"):
        return "the metadata server (http://metadata.google.internal)"
    return None


def describe_auth_error(exc, auth_kind, credentials=None):
    """A GcpError for google.auth failures (no ADC, bad key file, token refresh refused).

    A token request that never reached its endpoint (DNS, refused, timeout, proxy, TLS) is reported as the
    network failure it is, with the URL, never as a bad key.
    """
    detail = _first_line(exc)
    cause = network_failure(exc)
    if cause:
        url = token_endpoint(credentials) or "the token endpoint"
        return GcpError(
            "authentication failed (auth_kind=%s) on a network failure, not a bad credential: cannot reach %s to get "
            "an access token (%s). Check that this machine reaches that URL (DNS, firewall, HTTPS_PROXY/NO_PROXY); "
            "a service account key's token_uri names it (the default is https://oauth2.googleapis.com/token)"
            % (auth_kind, url, cause),
            reason="unreachable",
        )
    if auth_kind == "application":
        hint = (
            "run 'gcloud auth application-default login', set GOOGLE_APPLICATION_CREDENTIALS, "
            "or use auth_kind=serviceaccount with service_account_file"
        )
    elif auth_kind == "serviceaccount":
        hint = "check that service_account_file/service_account_contents holds a valid, enabled service account key"
    elif auth_kind == "machineaccount":
        hint = "machineaccount works only on a Compute Engine VM with a service account attached"
    else:
        # A bare token cannot be refreshed: google-auth's "missing fields" text would mislead.
        detail = "the API refused the access token and it cannot be refreshed (it is invalid or has expired)"
        hint = "get a new one (gcloud auth print-access-token), or use another auth_kind"
    return GcpError("authentication failed (auth_kind=%s): %s; %s" % (auth_kind, detail, hint), reason="auth")


def operation_error(op, doing):
    """A GcpOperationError for a DONE operation that carries ``error.errors`` (as a dict)."""
    errors = (op.get("error") or {}).get("errors") or []
    parts = []
    for err in errors:
        code = err.get("code", "")
        msg = err.get("message", "")
        parts.append(("%s: %s" % (code, msg)) if code else msg)
    status = op.get("httpErrorStatusCode")
    text = "%s failed: operation %s ended with %s%s" % (
        doing,
        op.get("name", "?"),
        "; ".join(parts) or "an error",
        (" (HTTP %s %s)" % (status, op.get("httpErrorMessage", ""))).rstrip() if status else "",
    )
    reason = errors[0].get("code") if errors else None
    if any(err.get("code") in _QUOTA_REASONS for err in errors):
        text += "; " + quota_hint(" ".join(err.get("message", "") for err in errors), _project_of(op.get(
            "selfLink") or op.get("targetLink")))
    return GcpOperationError(text, status=int(status) if status else None, reason=reason)
