# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module is PRIVATE to the gce.cos collection: it may change at any time, without notice.
# Do not use it from other collections or from your own plugins.
"""Retry with jittered exponential backoff, bounded in total time.

The client library retries only GETs on 503. Mutations, 429 and 403 rate limits are ours
to retry; a mutation keeps the same requestId across attempts, so the API answers a repeat
with the original operation instead of acting twice.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import random
import time

from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_errors import api_error_reason, api_error_status

RETRY_STATUSES = (429, 500, 502, 503, 504)
RATE_LIMIT_REASONS = ("rateLimitExceeded", "userRateLimitExceeded")


def is_transport_error(exc):
    """A connection-level failure: the request may not have reached the server."""
    # requests.exceptions.ConnectionError/Timeout derive from IOError; avoid importing requests.
    name = type(exc).__name__
    return isinstance(exc, (IOError, OSError)) and name in (
        "ConnectionError",
        "ConnectTimeout",
        "ReadTimeout",
        "Timeout",
        "ProtocolError",
        "ChunkedEncodingError",
    )


def is_retryable(exc):
    status = api_error_status(exc)
    if status in RETRY_STATUSES:
        return True
    if status == 403 and api_error_reason(exc) in RATE_LIMIT_REASONS:
        return True
    return status is None and is_transport_error(exc)


class RetryPolicy:
    """Full-jitter exponential backoff: sleep U(0, min(cap, initial * 2**n)), within ``deadline`` s.

    ``GCE_COS_RETRY_INITIAL_DELAY`` lowers the first delay (tests and benchmarks use it).
    """

    # An endpoint that refuses connections rarely comes back within a task: give up sooner.
    max_transport_attempts = 3

    def __init__(self, initial=None, cap=30.0, deadline=120.0, max_attempts=8, sleep=time.sleep, rand=random.random):
        if initial is None:
            initial = float(os.environ.get("GCE_COS_RETRY_INITIAL_DELAY", "1.0"))
        self.initial = initial
        self.cap = cap
        self.deadline = deadline
        self.max_attempts = max_attempts
        self._sleep = sleep
        self._rand = rand
        self.attempts = 0

    def delays(self):
        """Yield the delay before each retry; stops when attempts or time run out."""
        start = time.monotonic()
        slept = 0.0
        for attempt in range(1, self.max_attempts):
            delay = self._rand() * min(self.cap, self.initial * (2 ** (attempt - 1)))
            # Sleeps count even when the clock says otherwise (an injected sleep in tests).
            if max(time.monotonic() - start, slept) + delay > self.deadline:
                return
            slept += delay
            yield delay

    def call(self, fn, retryable=is_retryable):
        """Call ``fn()`` until it succeeds, fails for good, or the policy gives up."""
        delays = self.delays()
        transport_failures = 0
        while True:
            self.attempts += 1
            try:
                return fn()
            except Exception as exc:
                if not retryable(exc):
                    raise
                if is_transport_error(exc):
                    transport_failures += 1
                    if transport_failures >= self.max_transport_attempts:
                        raise
                delay = next(delays, None)
                if delay is None:
                    raise
                self._sleep(delay)
