"""What every resource driver provides, and the context it is given."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from botocore.exceptions import ClientError

from gateway.adapters.cloud.client import Cloud

REQUEST_TAG = "govgate:request-id"
RESOURCE_TAG = "govgate:resource"


@dataclass(frozen=True)
class Target:
    """One resource of an approved request, as a driver needs it."""

    request_id: str
    team: str
    address: str
    name: str
    region: str
    properties: dict[str, Any]
    resource_id: str | None = None
    # For updates: only the properties this request changes (`properties` is the merged whole).
    changes: dict[str, Any] = field(default_factory=dict)
    # Set when an earlier attempt at this step was cut off (a crash): what it made may be there, untagged. The
    # time that attempt began tells what it made from what was there before.
    resuming: bool = False
    first_attempt_at: datetime | None = None
    # Undoing this request's own creation after a failure: protections it asked for are lifted first.
    rolling_back: bool = False
    # For updates: the resource as the inventory knew it, so a tag the request drops is removed.
    before: dict[str, Any] = field(default_factory=dict)

    @property
    def tags(self) -> dict[str, str]:
        """The requested tags plus the gateway's own, which let it find what it created after a crash."""
        return {
            **(self.properties.get("tags") or {}),
            REQUEST_TAG: self.request_id,
            RESOURCE_TAG: self.address,
        }

    @property
    def client_token(self) -> str:
        # EC2 idempotency token (max 64 chars), unique per request and resource. moto ignores it, so drivers also
        # look for their tags first.
        return hashlib.sha256(f"{self.request_id}/{self.address}".encode()).hexdigest()

    @property
    def removed_tags(self) -> list[str]:
        """Tags the resource had that an update's declared tags no longer have."""
        if "tags" not in self.changes:
            return []
        return sorted(set(self.before.get("tags") or {}) - set(self.changes["tags"] or {}))


class NameTaken(Exception):
    """The name a request gives its resource belongs to one it did not make: never taken over, never retried."""


def tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def ec2_dry_run(call: Any, **kwargs: Any) -> str | None:
    """EC2 checks permissions and parameters without acting when asked DryRun: DryRunOperation means it would
    have succeeded. Returns None then, else why it would fail."""
    try:
        call(DryRun=True, **kwargs)
    except ClientError as exc:
        err = exc.response.get("Error", {})
        if err.get("Code") == "DryRunOperation":
            return None
        return f"{err.get('Code')}: {err.get('Message')}"
    return None


def is_not_found(exc: ClientError, *codes: str) -> bool:
    """A delete that finds nothing has nothing left to do: a retry, or a resumed step after a crash."""
    err = exc.response.get("Error", {})
    return (
        str(err.get("Code")) in codes or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404
    )


def error_of(exc: ClientError) -> str:
    err = exc.response.get("Error", {})
    return f"{err.get('Code')}: {err.get('Message')}"


class Driver(Protocol):
    TYPE: str
    SCHEMA_ID: str
    IAM_ACTIONS: tuple[str, ...]
    UPDATABLE: frozenset[str]

    def create(self, cloud: Cloud, target: Target) -> str: ...

    def find(self, cloud: Cloud, target: Target) -> str | None:
        """What an attempt at creating `target` left in the cloud (found by its tags), to remove after a failure."""
        ...

    def update(self, cloud: Cloud, target: Target) -> None: ...

    def delete(self, cloud: Cloud, target: Target) -> None: ...

    def read(self, cloud: Cloud, region: str, resource_id: str) -> dict[str, Any] | None:
        """The live resource's properties, as the inventory names them (drift), or None if it is gone."""
        ...

    def preflight(self, cloud: Cloud, target: Target, action: str) -> str | None:
        """Asks the cloud, without changing anything, whether `action` would succeed: None, or why not."""
        ...
