"""Change windows: a request with change.window runs only inside it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from gateway.errors import InvalidRequest


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def window_of(envelope: dict[str, Any]) -> tuple[datetime, datetime] | None:
    """The window as datetimes; the schema has already checked both are RFC 3339 times."""
    window = (envelope.get("change") or {}).get("window")
    if not window:
        return None
    return parse(window["start"]), parse(window["end"])


def check_window(envelope: dict[str, Any], now: datetime) -> None:
    """A window must end after it starts and must not be over already: such a request could never run."""
    window = window_of(envelope)
    if window is None:
        return
    start, end = window
    if end <= start:
        raise InvalidRequest(
            "the change window ends before it starts",
            errors=[{"pointer": "/change/window/end", "detail": "must be after /change/window/start"}],
        )
    if end <= now:
        raise InvalidRequest(
            "the change window is over already",
            errors=[{"pointer": "/change/window/end", "detail": f"{window[1].isoformat()} is in the past"}],
        )
