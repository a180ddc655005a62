"""Exemptions: a governed, expiring waiver of one rule for one team's resources (no I/O here).

An exemption applies only while it is `active` and before `expires_at`; expiry is checked at the moment of use,
so an expired exemption never applies anywhere, whatever its stored status says.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fnmatch import fnmatchcase
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

RULE_PATTERN = r"^[a-z][a-z0-9_-]*/[A-Za-z0-9_.*?-]+$"


class ExemptionCreate(BaseModel):
    """What an admin asks for: `rule` is `<set>/<rule id>` (the rule part may use * and ?)."""

    model_config = ConfigDict(extra="forbid")

    rule: str = Field(pattern=RULE_PATTERN, description="policy set and rule id, e.g. security/s3_public_acl")
    team: str = Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9-]*$")
    environment: str = Field(default="*", pattern=r"^(\*|dev|staging|prod)$")
    address: str = Field(default="*", min_length=1, max_length=200, description="resource address pattern")
    reason: str = Field(min_length=10, max_length=2000)
    ticket: str = Field(min_length=3, max_length=64)
    expires_at: datetime

    @field_validator("expires_at")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        if v.tzinfo is None:
            raise ValueError("expires_at needs a time zone (RFC 3339, e.g. 2026-12-31T00:00:00Z)")
        return v.astimezone(UTC)


def check_expiry(expires_at: datetime, now: datetime, max_days: int) -> str | None:
    """Why this expiry is refused, or None."""
    if expires_at <= now:
        return "expires_at must be in the future"
    if expires_at - now > timedelta(days=max_days):
        return f"an exemption may last at most {max_days} days"
    return None


def in_force(record: dict[str, Any], now: datetime) -> bool:
    expires = record["expires_at"]
    if isinstance(expires, str):
        expires = datetime.fromisoformat(expires.replace("Z", "+00:00"))
    if expires.tzinfo is None:
        expires = expires.replace(tzinfo=UTC)
    return bool(record["status"] == "active" and expires > now)


def relevant(record: dict[str, Any], team: str, environment: str) -> bool:
    return bool(record["team"] == team and record["environment"] in ("*", environment))


def covers(record: dict[str, Any], set_name: str, rule: str, address: str | None) -> bool:
    """Does this exemption waive the violation `set_name/rule` at `address`? Request-level violations (no
    resource) are covered only by an address pattern of `*`."""
    set_part, rule_part = record["rule"].split("/", 1)
    if set_part != set_name or not fnmatchcase(rule, rule_part):
        return False
    return fnmatchcase(address or "request", record["address"]) if record["address"] != "*" else True
