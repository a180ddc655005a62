"""The gateway's notion of now. Windows, vote expiry, idempotency keys and outbox backoff all read it, so
tests can move time instead of sleeping."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def rfc3339(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def aware(t: datetime) -> datetime:
    """SQLite hands datetimes back naive; everything the gateway stores is UTC."""
    return t if t.tzinfo else t.replace(tzinfo=UTC)
