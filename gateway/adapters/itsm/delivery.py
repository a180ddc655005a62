"""The result of one outgoing ITSM call, and the rule that says whether it is worth retrying.

The outbox stores a Delivery per attempt and retries only when `retryable` is set, so the adapters never raise
for the receiver's answers: a refusal is data, not an exception.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx

EXCERPT_CHARS = 500

# Transient by definition: timeout, too early, rate limited. 5xx is added below.
RETRYABLE_STATUS = frozenset({408, 425, 429})


@dataclass(frozen=True)
class Delivery:
    ok: bool
    status: int | None
    retryable: bool
    error: str | None
    duration_ms: float
    response_excerpt: str = ""


def classify(
    status: int | None,
    exc: BaseException | None = None,
    *,
    peer: str = "the receiver",
    duration_ms: float = 0.0,
    response_excerpt: str = "",
) -> Delivery:
    """A Delivery from either the HTTP status the receiver answered or the exception that stopped the call."""
    who = peer[:1].upper() + peer[1:]

    def fail(retryable: bool, error: str) -> Delivery:
        return Delivery(False, status, retryable, error, duration_ms, response_excerpt)

    if exc is not None:
        kind = type(exc).__name__
        if isinstance(exc, httpx.TimeoutException):
            return fail(True, f"{who} did not answer in time ({kind})")
        if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
            # A misconfigured URL fails the same way on every attempt.
            return fail(False, f"the URL for {peer} is not usable: {exc}")
        if isinstance(exc, httpx.TransportError):
            return fail(True, f"could not reach {peer}: {kind}: {exc}")
        return fail(False, f"the call to {peer} failed: {kind}: {exc}")
    if status is None:
        return fail(False, f"the call to {peer} produced neither an answer nor an error")
    if 200 <= status < 300:
        return Delivery(True, status, False, None, duration_ms, response_excerpt)
    if status in RETRYABLE_STATUS or status >= 500:
        return fail(True, f"{who} is unavailable or busy ({status})")
    if status in (401, 403):
        return fail(False, f"{who} refused the credentials ({status})")
    if 400 <= status < 500:
        return fail(False, f"{who} rejected the call ({status})")
    # 1xx/3xx: redirects are not followed, since a PATCH or a signed body should not silently go elsewhere.
    return fail(False, f"{who} answered an unexpected {status}")


def deliver(http: httpx.Client, method: str, url: str, *, peer: str, **kwargs: Any) -> Delivery:
    """One timed HTTP call, its outcome classified. Only httpx's errors are caught: anything else is a bug."""
    started = time.perf_counter()
    try:
        resp = http.request(method, url, **kwargs)
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        return classify(None, exc, peer=peer, duration_ms=_elapsed_ms(started))
    return classify(
        resp.status_code,
        peer=peer,
        duration_ms=_elapsed_ms(started),
        response_excerpt=resp.text[:EXCERPT_CHARS],
    )


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)
