"""Principals, roles and bearer tokens (stored only as SHA-256)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from enum import StrEnum

from gateway.errors import Forbidden

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
# Roles that read every request; a requester reads its teams' requests, an integration those it submitted.
READ_ALL = frozenset({Role.APPROVER, Role.AUDITOR, Role.ADMIN})


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


def is_one_of(principal: Principal, people: set[str | None]) -> bool:
    """Separation of duties compares people without regard to case: ServiceNow logins and many IdPs ignore it."""
    return principal.id.casefold() in {p.casefold() for p in people if p}


def check_owner(principal: Principal, requester: str, action: str) -> None:
    """Only the requester, or an admin, may change or withdraw a request."""
    if principal.id != requester and principal.role != Role.ADMIN:
        raise Forbidden(f"only the requester (or an admin) can {action} a request")


def check_team(principal: Principal, team: str) -> None:
    """A requester submits only for a team it belongs to (its groups); admins and integrations for any team."""
    if principal.role == Role.REQUESTER and team not in principal.groups:
        raise Forbidden(
            f"{principal.id} is not a member of team '{team}' and cannot submit for it",
            errors=[
                {
                    "pointer": "/team",
                    "detail": f"not one of your teams: {', '.join(principal.groups) or 'none'}",
                }
            ],
        )


@dataclass(frozen=True)
class Visibility:
    """Which requests a principal may read: everything, or its teams' and its own."""

    everything: bool
    teams: tuple[str, ...] = ()
    principal: str = ""

    def allows(self, *, team: str, requester: str) -> bool:
        return self.everything or requester == self.principal or team in self.teams


def visibility(principal: Principal) -> Visibility:
    if principal.role in READ_ALL:
        return Visibility(everything=True)
    teams = principal.groups if principal.role == Role.REQUESTER else ()
    return Visibility(everything=False, teams=tuple(teams), principal=principal.id)
