"""HTTP answers as the handlers build them, independent of the server that sends them.

Every handler module (API resources, control, guest metadata, secrets, token) builds its
answer with these, so that handlers sit below ``server.py`` and never import it.
"""

from __future__ import annotations

import json


class Response:
    __slots__ = ("body", "budget", "headers", "status")

    def __init__(self, status, body=b"", headers=None):
        self.budget = None  # guest-attribute queries: the budget's verdict (guest_metadata.GuestBudget)
        self.status = status
        self.body = body
        self.headers = headers or {}


def json_response(status, obj, headers=None):
    h = {"Content-Type": "application/json; charset=UTF-8"}
    if headers:
        h.update(headers)
    return Response(status, json.dumps(obj, separators=(",", ":")).encode(), h)


def error_response(exc):
    """The answer for an ``errors.ApiError``."""
    return json_response(exc.status, exc.body(), exc.headers)
