"""The gateway's own retry policy for a cloud step, on top of botocore's per-call retries (standard mode).

botocore retries each call a few times within seconds; a throttled account or a regional 5xx episode can last
longer. A step is safe to run again (drivers look for what they made before creating, and deletes that find
nothing are done), so the whole step is retried with exponential backoff and jitter. 4xx errors are the request's
fault and are never retried."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from botocore.exceptions import ClientError, ConnectionError, HTTPClientError
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

T = TypeVar("T")

# The codes AWS uses for throttling (botocore's standard retry mode knows the same set).
THROTTLING = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
    "TooManyRequestsException", "ProvisionedThroughputExceededException", "TransactionInProgressException",
    "RequestLimitExceeded", "BandwidthLimitExceeded", "LimitExceededException", "RequestThrottled", "SlowDown",
    "PriorRequestNotComplete", "EC2ThrottledException",
})  # fmt: skip


def is_transient(exc: BaseException) -> bool:
    """Throttling, a 5xx, or no answer at all: worth asking again later. Anything else is final."""
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code"))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        return code in THROTTLING or status >= 500
    return isinstance(exc, ConnectionError | HTTPClientError)


class StepRetry:
    def __init__(self, *, attempts: int, base_seconds: float, max_seconds: float) -> None:
        self.attempts = attempts
        self.base_seconds = base_seconds
        self.max_seconds = max_seconds

    def call(self, fn: Callable[[], T], on_retry: Callable[[int, BaseException], None] | None = None) -> T:
        def before_sleep(state: Any) -> None:
            if on_retry is not None and state.outcome is not None:
                on_retry(state.attempt_number, state.outcome.exception())

        retrying = Retrying(
            retry=retry_if_exception(is_transient),
            stop=stop_after_attempt(self.attempts),
            wait=wait_random_exponential(multiplier=self.base_seconds, max=self.max_seconds),
            before_sleep=before_sleep,
            reraise=True,
        )
        return retrying(fn)
