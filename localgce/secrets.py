"""Secret Manager (minimal): versions.access, plus secrets.get, in Google's v1 JSON shapes.

Secrets are created through the control API (``POST /_localgce/secrets``) or
``App.set_secret``; each call adds a version. Project may be given by id or number.
"""

from __future__ import annotations

import base64
import re

from . import errors
from .responses import json_response

_ACCESS = re.compile(r"^/v1/projects/([^/]+)/secrets/([^/]+)/versions/([^/:]+):access$")
_SECRET = re.compile(r"^/v1/projects/([^/]+)/secrets/([^/:]+)$")


def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc32c_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = _TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def _project_id(store, project):
    if project.isdigit():
        for known in list(store.projects) + [k.split("/")[1] for k in store.secrets]:
            if store.project_number(known) == project:
                return known
    return project


def add_version(store, project, secret, data):
    """Add a version (``data``: bytes or str); returns its number."""
    if isinstance(data, str):
        data = data.encode()
    with store.lock:
        versions = store.secrets.setdefault(f"projects/{project}/secrets/{secret}", [])
        versions.append({"data": base64.b64encode(data).decode(), "state": "ENABLED"})
        store.changed()
        return len(versions)


def _json(status, obj):
    return json_response(status, obj)


def handle(app, method, path, auth):
    store = app.store
    if auth is None:
        return _json(401, errors.rpc_error(
            401, "Request is missing required authentication credential. Expected OAuth 2 access token, login "
            "cookie or other valid authentication credential."))
    m = _ACCESS.match(path)
    if m and method == "GET":
        project, secret, version = m.groups()
        pid = _project_id(store, project)
        num = store.project_number(pid)
        with store.lock:
            versions = store.secrets.get(f"projects/{pid}/secrets/{secret}")
            if not versions:
                return _json(404, errors.rpc_error(
                    404, f"Secret [projects/{num}/secrets/{secret}] not found or has no versions."))
            if version == "latest":
                enabled = [i for i, v in enumerate(versions) if v["state"] == "ENABLED"]
                idx = enabled[-1] if enabled else None
            elif version.isdigit() and 1 <= int(version) <= len(versions):
                idx = int(version) - 1
            else:
                idx = None
            if idx is None:
                return _json(404, errors.rpc_error(
                    404, f"Secret Version [projects/{num}/secrets/{secret}/versions/{version}] not found."))
            if versions[idx]["state"] != "ENABLED":
                return _json(400, errors.rpc_error(
                    400, f"Secret Version [projects/{num}/secrets/{secret}/versions/{idx + 1}] is in DISABLED "
                    "state."))
            data = versions[idx]["data"]
        return _json(200, {
            "name": f"projects/{num}/secrets/{secret}/versions/{idx + 1}",
            "payload": {"data": data, "dataCrc32c": str(crc32c(base64.b64decode(data)))},
        })
    m = _SECRET.match(path)
    if m and method == "GET":
        project, secret = m.groups()
        pid = _project_id(store, project)
        num = store.project_number(pid)
        if f"projects/{pid}/secrets/{secret}" not in store.secrets:
            return _json(404, errors.rpc_error(404, f"Secret [projects/{num}/secrets/{secret}] not found."))
        return _json(200, {"name": f"projects/{num}/secrets/{secret}", "replication": {"automatic": {}},
                           "createTime": "2025-01-01T00:00:00.000000Z"})
    return _json(404, errors.rpc_error(404, f"Method not found: {method} {path}"))
