# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module is PRIVATE to the gce.cos collection: it may change at any time, without notice.
# Do not use it from other collections or from your own plugins.
"""Wait for Compute Engine operations, bounded by wait_timeout.

``ExtendedOperation.result()`` polls through a client built without the caller's endpoint
(always the real Google one), so operations are waited on here with the ``*Operations.wait``
long-poll of the same ComputeApi, which keeps the endpoint and the credentials.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_errors import GcpError, operation_error
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_names import basename
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_poll import Deadline, poll


def operation_scope(op):
    """("zone_operations", {"zone": z}) etc. for an operation dict."""
    if op.get("zone"):
        return "zone_operations", {"zone": basename(op["zone"])}
    if op.get("region"):
        return "region_operations", {"region": basename(op["region"])}
    return "global_operations", {}


def wait_for_operation(api, op, doing, timeout, clock=time.monotonic):
    """Block until ``op`` is DONE; raise GcpOperationError if it failed, GcpTimeoutError on timeout.

    ``doing`` says what the operation does, for error messages (as ComputeApi.call's).
    """
    if op.get("status") != "DONE":
        op = _poll_operation(api, op, doing, timeout, clock)
    if (op.get("error") or {}).get("errors"):
        raise operation_error(op, doing)
    return op


def _poll_operation(api, op, doing, timeout, clock):
    deadline = Deadline(timeout, clock)
    service, scope = operation_scope(op)
    last = {"op": op, "took": 0.0}

    def wait_once():
        remaining = max(deadline.remaining(), 0.5)
        started = clock()
        try:
            # The server holds a wait up to ~2 min whatever our deadline; the HTTP timeout
            # keeps wait_timeout honest when less than that remains. A wait changes nothing,
            # so 503s and rate limits are retried whatever the timeout, within what remains.
            last["op"] = api.call(
                service,
                "wait",
                doing=doing,
                retry=max(remaining, 1.0),
                timeout=min(remaining, 120.0) + 10.0 if remaining > 120 else remaining + 0.5,
                project=api.project,
                operation=last["op"]["name"],
                **scope
            )
        except GcpError as exc:
            if exc.reason != "timeout":
                raise
        last["took"] = clock() - started
        return last["op"]

    def describe(current):
        return (
            "%s: timed out after %ds waiting for operation %s (still %s on the server); "
            "raise wait_timeout, or re-run the task to pick up where it stopped"
            % (doing, int(timeout), current.get("name"), current.get("status", "PENDING"))
        )

    # A wait is itself the pause; a server that answers at once without DONE must not make this spin.
    return poll(wait_once, lambda current: current.get("status") == "DONE", deadline, describe,
                delay=lambda _current: 0.5 if last["took"] < 0.5 else 0.0)


def mutate(api, service, method, timeout, /, *, doing, wait=True, **fields):
    """Call a mutating ``*_unary`` method and wait for its operation (unless wait=False)."""
    op = api.call(service, method, doing=doing, **fields)
    if wait:
        op = wait_for_operation(api, op, doing, timeout)
    return op


def with_fresh_fingerprint(current, read, write):
    """Run ``write(current)``; on 412 (stale fingerprint) ``read()`` once and write again.

    ``write(resource)`` sends a change carrying ``resource``'s fingerprint (setLabels,
    setMetadata, setTags). A concurrent writer between the module's read and its write then
    costs one more read instead of a failed task; a second 412 is raised, because someone
    keeps changing the resource.
    """
    try:
        return write(current)
    except GcpError as exc:
        if exc.status != 412:
            raise
    return write(read())
