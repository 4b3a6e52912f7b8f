# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module is PRIVATE to the gce.cos collection: it may change at any time, without notice.
# Do not use it from other collections or from your own plugins.
"""The one wait loop: read, test, sleep by a back-off clock, give up at a deadline with a message.

Every wait of the collection (operations, agent reports, a stopping instance, a group's health
and stability) is ``poll(read, done, timeout, describe)``: the loop, the deadline arithmetic
and the timeout error live here; a wait says only what it reads, when it is done and how to
describe what it still waits for.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_errors import GcpTimeoutError


class Deadline:
    """A point in time ``seconds`` from now (or ``at``, on the ``now`` clock)."""

    def __init__(self, seconds, now=time.monotonic, at=None):
        self.now = now
        self.at = now() + seconds if at is None else at

    def remaining(self):
        return self.at - self.now()


class Backoff:
    """Delays from ``first`` growing by ``growth`` up to ``cap``.

    ``near(value)`` true: the next read comes after ``near_delay`` instead, and the delay does
    not grow (what was awaited is seconds away, e.g. a container reported "starting").
    ``after(value)``: a delay of its own for a value, or None for the back-off's.
    """

    def __init__(self, first=1.0, growth=1.5, cap=5.0, near=None, near_delay=None):
        self.delay = first
        self.growth = growth
        self.cap = cap
        self.near = near
        self.near_delay = near_delay

    def __call__(self, value):
        if self.near is not None and self.near(value):
            return self.near_delay
        delay = self.delay
        self.delay = min(self.cap, self.delay * self.growth)
        return delay


class PollTimeout(GcpTimeoutError):
    """The deadline passed; ``value`` is the last read."""

    def __init__(self, message, value):
        GcpTimeoutError.__init__(self, message, reason="timeout")
        self.value = value


def poll(read, done, timeout, describe, delay=None, sleep=time.sleep, clock=time.monotonic):
    """``read()`` until ``done(value)``; return that value.

    ``timeout``: seconds, or a Deadline. ``delay(value)``: seconds before the next read (default
    a Backoff of 1 s growing to 5 s); a read never sleeps past the deadline. When the deadline
    passes, raises PollTimeout with ``describe(value)`` as its message. ``read`` and ``done`` may
    raise to end the wait early (a failed operation, a crashed container).
    """
    deadline = timeout if isinstance(timeout, Deadline) else Deadline(timeout, clock)
    delay = delay or Backoff()
    while True:
        value = read()
        if done(value):
            return value
        remaining = deadline.remaining()
        if remaining <= 0:
            raise PollTimeout(describe(value), value)
        pause = delay(value)
        if pause > 0:
            sleep(min(pause, remaining))
