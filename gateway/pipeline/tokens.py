"""Bearer tokens: created and revoked by admins on the local database, checked on every API call."""

from __future__ import annotations

from gateway.adapters.store import repositories as repo
from gateway.adapters.store.db import Database
from gateway.adapters.store.models import ApiToken
from gateway.domain.identity import Principal, Role, hash_token, new_token
from gateway.errors import Unauthenticated
from gateway.ledger import ledger


def create(
    db: Database,
    *,
    name: str,
    role: Role,
    groups: list[str],
    subject: str | None = None,
    actor: str = "admin-cli",
) -> str:
    token = new_token()
    subject = subject or name
    with db.unit_of_work() as s:
        repo.add_token(
            s,
            token=ApiToken(
                name=name, subject=subject, role=str(role), groups=groups, token_hash=hash_token(token)
            ),
        )
        ledger.append(
            s, type="token.created", actor=actor,
            data={"name": name, "subject": subject, "role": str(role), "groups": groups},
        )  # fmt: skip
    return token


def revoke(db: Database, *, name: str, actor: str = "admin-cli") -> None:
    with db.unit_of_work() as s:
        repo.revoke_token(s, name=name)
        ledger.append(s, type="token.revoked", actor=actor, data={"name": name})


def authenticate(db: Database, token: str) -> Principal:
    with db.read() as s:
        row = repo.token_by_hash(s, token_hash=hash_token(token))
    if row is None:
        raise Unauthenticated("unknown or revoked token")
    return Principal(id=row.subject or row.name, role=Role(row.role), groups=tuple(row.groups))
