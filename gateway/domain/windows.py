"""Change windows: a request with change.window runs only inside it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from gateway.errors import InvalidRequest


def parse(value: str) -> datetime:
    """RFC 3339 (checked by the schema's format, which allows lower-case t and z) as an aware datetime."""
    return datetime.fromisoformat(value.upper().replace("Z", "+00:00"))


def window_of(envelope: dict[str, Any]) -> tuple[datetime, datetime] | None:
    """The window as datetimes; the schema has already checked both are RFC 3339 times."""
    window = (envelope.get("change") or {}).get("window")
    if not window:
        return None
    return parse(window["start"]), parse(window["end"])


def check_window(envelope: dict[str, Any], now: datetime) -> None:
    """A window that is over already could never run (the validator has checked that it ends after it starts)."""
    window = window_of(envelope)
    if window is None:
        return
    if window[1] <= now:
        raise InvalidRequest(
            "the change window is over already",
            errors=[{"pointer": "/change/window/end", "detail": f"{window[1].isoformat()} is in the past"}],
        )
