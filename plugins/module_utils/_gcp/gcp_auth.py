# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module is PRIVATE to the gce.cos collection: it may change at any time, without notice.
# Do not use it from other collections or from your own plugins.
"""Shared connection options, their environment fallbacks, and google-auth credentials.

The environment names are the ones AWX's "Google Compute Engine" credential injects
(GCE_CREDENTIALS_FILE_PATH, GCP_SERVICE_ACCOUNT_FILE, GCP_AUTH_KIND, GCP_PROJECT, ...), so
an AWX job needs no extra settings.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_errors import GcpError, describe_auth_error

AUTH_KINDS = ("application", "serviceaccount", "machineaccount", "accesstoken")
# The OAuth scopes of the credentials the modules call the API with (not a VM's scopes).
DEFAULT_API_SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
PROJECT_ENV = ("GCP_PROJECT", "GCE_PROJECT", "GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT")
# Consulted in this order when auth_kind=serviceaccount names no file.
SERVICE_ACCOUNT_FILE_ENV = ("GCP_SERVICE_ACCOUNT_FILE", "GCE_CREDENTIALS_FILE_PATH", "GOOGLE_APPLICATION_CREDENTIALS")


def connection_argument_spec():
    """The options every module of the collection takes (documented in doc_fragments/gcp.py)."""
    # Imported here: the API helper process builds credentials with this file and has no AnsibleModule.
    from ansible.module_utils.basic import env_fallback

    return dict(
        project=dict(type="str", fallback=(env_fallback, list(PROJECT_ENV))),
        auth_kind=dict(type="str", choices=list(AUTH_KINDS), fallback=(env_fallback, ["GCP_AUTH_KIND"])),
        service_account_file=dict(type="path", fallback=(env_fallback, ["GCP_SERVICE_ACCOUNT_FILE"])),
        service_account_contents=dict(
            type="jsonarg", no_log=True, fallback=(env_fallback, ["GCP_SERVICE_ACCOUNT_CONTENTS"])
        ),
        service_account_email=dict(type="str", fallback=(env_fallback, ["GCE_EMAIL"])),
        access_token=dict(type="str", no_log=True, fallback=(env_fallback, ["GCP_ACCESS_TOKEN"])),
        scopes=dict(type="list", elements="str", fallback=(env_fallback, ["GCP_SCOPES"])),
        api_endpoint=dict(type="str", fallback=(env_fallback, ["GCE_COS_API_ENDPOINT"])),
    )


def resolve_auth_kind(params):
    """auth_kind as given, or inferred from which credential option is set."""
    if params.get("auth_kind"):
        return params["auth_kind"]
    if params.get("access_token"):
        return "accesstoken"
    if params.get("service_account_file") or params.get("service_account_contents"):
        return "serviceaccount"
    return "application"


def read_service_account_info(params):
    """The key as a dict, from service_account_contents or a file (option, then env)."""
    contents = params.get("service_account_contents")
    if contents:
        try:
            info = json.loads(contents) if isinstance(contents, str) else dict(contents)
        except ValueError as exc:
            raise GcpError("service_account_contents: not valid JSON (%s); paste the whole key file" % exc)
        return info, "service_account_contents"
    path = params.get("service_account_file")
    source = "service_account_file"
    if not path:
        for name in SERVICE_ACCOUNT_FILE_ENV:
            if os.environ.get(name):
                path, source = os.environ[name], name
                break
    if not path:
        raise GcpError(
            "auth_kind=serviceaccount needs a key: set service_account_file or service_account_contents "
            "(or GCP_SERVICE_ACCOUNT_FILE / GCE_CREDENTIALS_FILE_PATH)"
        )
    path = os.path.expanduser(path)
    try:
        with open(path) as handle:
            info = json.load(handle)
    except (IOError, OSError) as exc:
        raise GcpError("%s: cannot read %s (%s); check the path" % (source, path, exc.strerror or exc))
    except ValueError:
        raise GcpError("%s: %s is not a JSON key file; download a JSON key for the service account" % (source, path))
    return info, "%s %s" % (source, path)


def _credentials_from_info(info, source, scopes):
    """Credentials for the key types a file given to auth_kind=serviceaccount can hold."""
    kind = info.get("type")
    try:
        if kind == "service_account":
            from google.oauth2 import service_account

            return service_account.Credentials.from_service_account_info(info, scopes=scopes)
        if kind == "authorized_user":
            from google.oauth2 import credentials as oauth2_credentials

            return oauth2_credentials.Credentials.from_authorized_user_info(info, scopes=scopes)
    except (ValueError, KeyError) as exc:
        raise GcpError("%s: not a usable key (%s)" % (source, str(exc).splitlines()[0]))
    raise GcpError(
        "%s: keys of type %r are not supported by auth_kind=serviceaccount; use a service account key, "
        "or auth_kind=application with GOOGLE_APPLICATION_CREDENTIALS for workload identity federation"
        % (source, kind)
    )


def service_account_credentials(info, source, scopes):
    """``(credentials, project_or_None)`` from a key already read (``read_service_account_info``)."""
    if not isinstance(info, dict) or "type" not in info:
        raise GcpError("%s: the key has no 'type' field; use a service account JSON key" % source)
    return _credentials_from_info(info, source, scopes), info.get("project_id") or info.get("quota_project_id")


def project_from_params(params, credentials_project=None):
    """The project option (with its env fallbacks), else the key's or ADC's project."""
    project = params.get("project") or credentials_project
    if not project:
        raise GcpError(
            "project: no project given; set the option project, or the environment variable GCP_PROJECT"
        )
    return project


def build_credentials(params, key=None):
    """Return ``(credentials, project_or_None)`` for the auth kind; never touches the network.

    The one credential logic of the collection: modules (plain path), the API helper process and the
    inventory all call it. ``key``: ``(info, source)`` of a service account key already read with
    ``read_service_account_info`` (the helper gets it from the module that read it).

    A service account key (given, or found by Application Default Credentials) signs its own JWT for every
    request (self-signed JWT access, what google-cloud-compute's clients do by default): no path exchanges
    it at the key's ``token_uri``, so a job works the same wherever oauth2.googleapis.com is unreachable.
    Other credentials refresh on the first API call; their failures are translated there.
    """
    credentials, project = _build_credentials(params, key)
    return _self_signed(credentials), project


def _self_signed(credentials):
    """Service account credentials that sign a JWT per request instead of calling the token endpoint."""
    with_jwt = getattr(credentials, "with_always_use_jwt_access", None)
    if with_jwt is not None and type(credentials).__module__ == "google.oauth2.service_account":
        return with_jwt(True)
    return credentials


def _build_credentials(params, key):
    kind = resolve_auth_kind(params)
    scopes = params.get("scopes") or DEFAULT_API_SCOPES
    try:
        if kind == "accesstoken":
            token = params.get("access_token")
            if not token:
                raise GcpError("auth_kind=accesstoken needs access_token (or GCP_ACCESS_TOKEN)")
            from google.oauth2 import credentials as oauth2_credentials

            return oauth2_credentials.Credentials(token=token), None
        if kind == "serviceaccount":
            info, source = key or read_service_account_info(params)
            return service_account_credentials(info, source, scopes)
        if kind == "machineaccount":
            from google.auth import compute_engine

            email = params.get("service_account_email") or "default"
            return compute_engine.Credentials(service_account_email=email, scopes=scopes), None
        import google.auth

        creds, project = google.auth.default(scopes=scopes)
        return creds, project
    except GcpError:
        raise
    except Exception as exc:  # google.auth.exceptions.* - translated without importing them
        if type(exc).__module__.startswith("google.auth"):
            raise describe_auth_error(exc, kind)
        raise
