"""RetryPolicy on its own: which failures are retried, how long it backs off, when it stops."""

import pytest
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_retry import RetryPolicy, is_retryable


class FakeApiError(Exception):
    """Shaped like google.api_core.exceptions.GoogleAPICallError (code, errors)."""

    def __init__(self, code, reason=None):
        super().__init__("HTTP %s" % code)
        self.code = code
        self.errors = [{"reason": reason}] if reason else []


class ConnectionError(OSError):
    pass


@pytest.mark.parametrize(
    "exc, expected",
    [
        (FakeApiError(429), True),
        (FakeApiError(500), True),
        (FakeApiError(502), True),
        (FakeApiError(503), True),
        (FakeApiError(403, "rateLimitExceeded"), True),
        (FakeApiError(403, "userRateLimitExceeded"), True),
        (FakeApiError(403, "forbidden"), False),
        (FakeApiError(400, "invalid"), False),
        (FakeApiError(404, "notFound"), False),
        (FakeApiError(409, "alreadyExists"), False),
        (FakeApiError(412, "conditionNotMet"), False),
        (ConnectionError("refused"), True),
        (ValueError("bug"), False),
    ],
)
def test_retryable_classification(exc, expected):
    assert is_retryable(exc) is expected


def test_backoff_is_jittered_exponential_and_capped():
    slept = []
    policy = RetryPolicy(initial=1.0, cap=4.0, deadline=1000, max_attempts=6, sleep=slept.append, rand=lambda: 1.0)
    calls = []

    def flaky():
        calls.append(1)
        raise FakeApiError(503)

    with pytest.raises(FakeApiError):
        policy.call(flaky)
    assert len(calls) == 6
    assert slept == [1.0, 2.0, 4.0, 4.0, 4.0]


def test_retry_stops_at_the_deadline():
    slept = []
    policy = RetryPolicy(initial=10.0, cap=60.0, deadline=25.0, max_attempts=10, sleep=slept.append, rand=lambda: 1.0)
    with pytest.raises(FakeApiError):
        policy.call(lambda: (x for x in ()).throw(FakeApiError(503)))
    # 10 s then 20 s would pass the 25 s budget: only the first delay fits.
    assert slept == [10.0]


def test_success_after_transient_failures_returns_the_result():
    outcomes = [FakeApiError(503), FakeApiError(429), "done"]

    def call():
        item = outcomes.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    policy = RetryPolicy(initial=0.01, sleep=lambda s: None)
    assert policy.call(call) == "done"
    assert policy.attempts == 3


def test_permanent_errors_are_not_retried():
    calls = []

    def call():
        calls.append(1)
        raise FakeApiError(400, "invalid")

    with pytest.raises(FakeApiError):
        RetryPolicy(initial=0.01, sleep=lambda s: None).call(call)
    assert len(calls) == 1
