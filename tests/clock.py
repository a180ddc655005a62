"""A clock tests move by hand, so change windows, vote expiry and retry backoff need no sleeping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

# Inside tests.factories.WINDOW (2026-12-01T22:00Z to 02:00Z) and before the year-end freeze, so production
# requests from the factories run at once whatever today's date is.
DEFAULT_NOW = datetime(2026, 12, 1, 22, 30, tzinfo=UTC)


class ManualClock:
    def __init__(self, at: datetime = DEFAULT_NOW) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> datetime:
        self.at += timedelta(**delta)
        return self.at

    def set(self, at: datetime) -> None:
        self.at = at
