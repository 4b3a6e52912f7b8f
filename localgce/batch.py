"""The batch endpoint, ``POST /batch/compute/v1`` (multipart/mixed), as gcloud uses it.

Each part is an ``application/http`` request (``GET /compute/v1/... HTTP/1.1``, headers, body)
with a ``Content-ID``. Each is answered as if sent on its own (so it is in the request log)
and the answers come back as ``application/http`` parts, in order, with ``Content-ID:
<response-ID>``. A part without an Authorization header carries the batch request's one.
"""

from __future__ import annotations

import uuid

from . import errors
from .responses import Response, error_response

PATH = "/batch/compute/v1"
REASON = {200: "OK", 204: "No Content", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
          404: "Not Found", 409: "Conflict", 412: "Precondition Failed", 429: "Too Many Requests",
          500: "Internal Server Error", 501: "Not Implemented", 503: "Service Unavailable"}


def _parts(content_type, body):
    import email.parser  # lazily: the email package costs start-up time, and batches are rare
    import email.policy

    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    if not msg.is_multipart():
        raise errors.invalid("A batch request must be multipart/mixed.")
    return list(msg.iter_parts())


def _request(part):
    """(method, path, headers, body) of one application/http part."""
    import email.parser
    import email.policy

    payload = part.get_payload(decode=True) or b""
    head, _, rest = payload.replace(b"\r\n", b"\n").partition(b"\n")
    fields = head.decode().split(" ")
    if len(fields) < 2:
        raise errors.invalid(f"Invalid request line in a batch part: {head.decode()!r}.")
    inner = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(rest)
    headers = {k: str(v) for k, v in inner.items()}
    body = inner.get_payload(decode=True) or b""
    return fields[0], fields[1], headers, body if body.strip() else b""


def handle(app, method, headers, body):
    if method != "POST":
        return error_response(errors.ApiError(405, "httpMethodNotAllowed", "The batch endpoint takes POST."))
    ctype = headers.get("Content-Type") or headers.get("content-type") or ""
    if not ctype.startswith("multipart/mixed"):
        return error_response(errors.invalid("A batch request must be multipart/mixed."))
    try:
        parts = _parts(ctype, body)
    except errors.ApiError as exc:
        return error_response(exc)
    auth = headers.get("Authorization") or headers.get("authorization")
    boundary = "batch_" + uuid.uuid4().hex
    out = []
    for part in parts:
        cid = str(part.get("Content-ID") or "").strip()
        try:
            m, path, h, b = _request(part)
        except errors.ApiError as exc:
            resp = error_response(exc)
        else:
            if auth and not any(k.lower() == "authorization" for k in h):
                h["Authorization"] = auth
            resp = app.handle(m, path, h, b)
        rid = f"<response-{cid[1:-1]}>" if cid.startswith("<") else f"<response-{cid}>"
        head = [f"HTTP/1.1 {resp.status} {REASON.get(resp.status, 'Error')}"]
        head += [f"{k}: {v}" for k, v in resp.headers.items()]
        head.append(f"Content-Length: {len(resp.body)}")
        out.append(f"--{boundary}\r\nContent-Type: application/http\r\nContent-ID: {rid}\r\n\r\n".encode()
                   + "\r\n".join(head).encode() + b"\r\n\r\n" + resp.body + b"\r\n")
    out.append(f"--{boundary}--\r\n".encode())
    return Response(200, b"".join(out), {"Content-Type": f"multipart/mixed; boundary={boundary}"})
