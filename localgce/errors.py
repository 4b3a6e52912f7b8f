"""Errors in the shapes Google's APIs return them.

Compute v1 answers with ``{"error": {"code", "message", "errors": [{"message", "domain", "reason"}]}}``.
Errors raised by Google's JSON front end (unknown fields, bad types) also carry ``status`` and
``details``; Secret Manager and other "v1" APIs use ``{"error": {"code", "message", "status"}}``.
"""

from __future__ import annotations

HTTP_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    412: "FAILED_PRECONDITION",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

# Reason used when a fault only names a status.
DEFAULT_REASON = {
    400: "invalid",
    401: "authError",
    403: "rateLimitExceeded",
    404: "notFound",
    409: "alreadyExists",
    412: "conditionNotMet",
    429: "rateLimitExceeded",
    500: "backendError",
    503: "backendError",
    504: "backendError",
}

DEFAULT_MESSAGE = {
    403: "Rate Limit Exceeded",
    429: "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute'.",
    500: "Internal error. Please try again or contact Google Support.",
    503: "The service is currently unavailable.",
    504: "Deadline exceeded.",
}

HTTP_REASON_PHRASE = {
    400: "BAD REQUEST",
    403: "FORBIDDEN",
    404: "NOT FOUND",
    409: "CONFLICT",
    412: "PRECONDITION FAILED",
    429: "TOO MANY REQUESTS",
    500: "INTERNAL SERVER ERROR",
    503: "SERVICE UNAVAILABLE",
}


class ApiError(Exception):
    """An error answer. ``body()`` renders it; ``op_error()`` renders it for a failed operation."""

    def __init__(self, status, reason, message, *, domain="global", extra=None, rpc_status=False, details=None):
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message
        self.domain = domain
        self.extra = extra or {}
        self.rpc_status = rpc_status
        self.details = details
        self.headers = {}

    def body(self):
        item = {"message": self.message, "domain": self.domain, "reason": self.reason}
        item.update(self.extra)
        err = {"code": self.status, "message": self.message, "errors": [item]}
        if self.rpc_status:
            err["status"] = HTTP_STATUS.get(self.status, "UNKNOWN")
        if self.details:
            err["details"] = self.details
        return {"error": err}

    def op_error(self):
        return {"errors": [{"code": _op_code(self.reason), "message": self.message}]}


def _op_code(reason):
    # Operation errors use upper-case codes (e.g. RESOURCE_NOT_FOUND) rather than reasons.
    return {
        "notFound": "RESOURCE_NOT_FOUND",
        "alreadyExists": "RESOURCE_ALREADY_EXISTS",
        "resourceInUseByAnotherResource": "RESOURCE_IN_USE_BY_ANOTHER_RESOURCE",
        "invalid": "INVALID_FIELD_VALUE",
    }.get(reason, reason.upper() if reason else "INTERNAL_ERROR")


def not_found(resource_path):
    return ApiError(404, "notFound", f"The resource '{resource_path}' was not found")


def already_exists(resource_path):
    return ApiError(409, "alreadyExists", f"The resource '{resource_path}' already exists")


def invalid(message, reason="invalid"):
    return ApiError(400, reason, message)


def invalid_field(field, value, why):
    return ApiError(400, "invalid", f"Invalid value for field '{field}': '{value}'. {why}")


def required(field):
    return ApiError(400, "required", f"Required field '{field}' not specified")


def json_payload(message, field):
    """An error from Google's JSON front end: these also carry status and a BadRequest detail."""
    return ApiError(
        400,
        "invalid",
        message,
        rpc_status=True,
        details=[
            {
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": [{"field": field, "description": message}],
            }
        ],
    )


def condition_not_met(message):
    return ApiError(412, "conditionNotMet", message, extra={"location": "If-Match", "locationType": "header"})


def in_use(resource_path, user_path, resource="disk"):
    """``resource`` names the type as the API does: disk, address, health_check, instance_template."""
    return ApiError(
        400,
        "resourceInUseByAnotherResource",
        f"The {resource} resource '{resource_path}' is already being used by '{user_path}'",
    )


def unauthenticated():
    return ApiError(
        401,
        "authError",
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or "
        "other valid authentication credential. See "
        "https://developers.google.com/identity/sign-in/web/devconsole-project.",
        extra={"location": "Authorization", "locationType": "header"},
        rpc_status=True,
    )


def rpc_error(status, message):
    """The plain v1 shape (Secret Manager)."""
    return {"error": {"code": status, "message": message, "status": HTTP_STATUS.get(status, "UNKNOWN")}}
