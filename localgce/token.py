"""OAuth2 token endpoint (``/token``), so a service-account key whose ``token_uri`` points
here works with the real google-auth JWT flow, and refresh tokens work too; and
``/tokeninfo?access_token=T`` (as oauth2.googleapis.com/tokeninfo), which tells the scopes and
account a token was issued for (the metadata server's tokens carry the instance's scopes).

The JWT assertion is parsed (not signature-checked). Access tokens are opaque; any bearer
token is accepted by the API except those starting with ``expired`` (401), which lets
clients test their handling of expired credentials.
"""

from __future__ import annotations

import base64
import collections
import json
import secrets
import threading
import time
import urllib.parse

from .responses import json_response

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def fake_id_token(email, audience):
    now = int(time.time())
    header = {"alg": "RS256", "typ": "JWT", "kid": "localgce"}
    claims = {"iss": "https://accounts.google.com", "aud": audience, "sub": "1" + str(abs(hash(email)))[:20],
              "email": email, "email_verified": True, "iat": now, "exp": now + 3600}
    return ".".join([_b64url(json.dumps(header).encode()), _b64url(json.dumps(claims).encode()),
                     _b64url(b"localgce-signature")])


class IssuedTokens:
    """Access tokens this server issued, with their account and scopes (bounded: oldest dropped)."""

    LIMIT = 10000

    def __init__(self):
        self.lock = threading.Lock()
        self.tokens = collections.OrderedDict()

    def issue(self, email, scopes, lifetime=3599):
        token = "ya29.localgce-" + secrets.token_urlsafe(24)
        with self.lock:
            self.tokens[token] = {"email": email, "scopes": list(scopes), "exp": int(time.time()) + lifetime}
            while len(self.tokens) > self.LIMIT:
                self.tokens.popitem(last=False)
        return {"access_token": token, "expires_in": lifetime, "token_type": "Bearer"}

    def get(self, token):
        with self.lock:
            return self.tokens.get(token)


def tokeninfo(app, method, query, body):
    """GET or POST /tokeninfo?access_token=T: Google's answer for a token; 400 for any other."""
    if method == "POST" and body:
        query = {**query, **urllib.parse.parse_qs(body.decode(), keep_blank_values=True)}
    token = (query.get("access_token") or [""])[-1]
    info = app.issued_tokens.get(token) if token else None
    if info is None:
        return _json(400, {"error": "invalid_token", "error_description": "Invalid Value"})
    remaining = max(0, info["exp"] - int(time.time()))
    return _json(200, {"azp": info["email"], "aud": info["email"], "scope": " ".join(info["scopes"]),
                       "exp": str(info["exp"]), "expires_in": str(remaining), "email": info["email"],
                       "email_verified": "true", "access_type": "online"})


def _json(status, obj):
    return json_response(status, obj)


def handle(method, headers, body):
    if method != "POST":
        return _json(405, {"error": "invalid_request", "error_description": "POST required"})
    ctype = (headers.get("Content-Type") or "").split(";")[0].strip()
    if ctype == "application/json":
        try:
            form = {k: str(v) for k, v in json.loads(body or b"{}").items()}
        except ValueError:
            return _json(400, {"error": "invalid_request", "error_description": "Malformed JSON body"})
    else:
        form = {k: v[-1] for k, v in urllib.parse.parse_qs(body.decode(), keep_blank_values=True).items()}
    grant = form.get("grant_type")
    scope = form.get("scope") or "https://www.googleapis.com/auth/cloud-platform"
    if grant == JWT_BEARER:
        assertion = form.get("assertion", "")
        try:
            _h, payload, _s = assertion.split(".")
            claims = json.loads(_unb64url(payload))
        except ValueError:
            return _json(400, {"error": "invalid_grant", "error_description": "Invalid JWT: malformed assertion"})
        if not claims.get("iss"):
            return _json(400, {"error": "invalid_grant", "error_description": "Invalid JWT: no issuer"})
        if claims.get("target_audience"):
            return _json(200, {"id_token": fake_id_token(claims["iss"], claims["target_audience"])})
        scope = claims.get("scope") or scope
    elif grant == "refresh_token":
        if not form.get("refresh_token"):
            return _json(400, {"error": "invalid_request", "error_description": "Missing required parameter: "
                               "refresh_token"})
    else:
        return _json(400, {"error": "unsupported_grant_type", "error_description": f"Invalid grant_type: {grant}"})
    return _json(200, {"access_token": "ya29.localgce-" + secrets.token_urlsafe(24), "expires_in": 3599,
                       "token_type": "Bearer", "scope": scope})
