"""Principals, roles and bearer tokens (stored only as SHA-256)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from enum import StrEnum

TOKEN_PREFIX = "ggw_"


class Role(StrEnum):
    REQUESTER = "requester"
    APPROVER = "approver"
    AUDITOR = "auditor"
    ADMIN = "admin"
    INTEGRATION = "integration"


SUBMITTERS = frozenset({Role.REQUESTER, Role.ADMIN, Role.INTEGRATION})
APPROVERS = frozenset({Role.APPROVER, Role.ADMIN})
AUDITORS = frozenset({Role.AUDITOR, Role.ADMIN})


@dataclass(frozen=True)
class Principal:
    id: str
    role: Role
    groups: tuple[str, ...] = field(default_factory=tuple)

    def as_input(self) -> dict[str, object]:
        return {"id": self.id, "role": str(self.role), "groups": list(self.groups)}


def new_token() -> str:
    """A token is shown once; its recognisable prefix lets secret scanners find leaked ones."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
