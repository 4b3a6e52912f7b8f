"""OAuth2 token endpoint (``/token``), so a service-account key whose ``token_uri`` points
here works with the real google-auth JWT flow, and refresh tokens work too.

The JWT assertion is parsed (not signature-checked). Access tokens are opaque; any bearer
token is accepted by the API except those starting with ``expired`` (401), which lets
clients test their handling of expired credentials.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
import urllib.parse

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


def _json(status, obj):
    from .server import json_response

    return json_response(status, obj)


def handle(app, method, headers, body):
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
