"""Exemptions as governed objects: an admin asks, a second person approves, an admin may revoke; all ledgered."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlmodel import Session

from gateway.adapters.store import repositories as repo
from gateway.adapters.store.db import Database
from gateway.adapters.store.models import Exemption
from gateway.domain.exemptions import ExemptionCreate, check_expiry, in_force
from gateway.domain.identity import APPROVERS, Principal, Role
from gateway.errors import Conflict, Forbidden, InvalidRequest
from gateway.ledger import ledger


def _utc(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _rfc3339(dt: datetime) -> str:
    return _utc(dt).isoformat().replace("+00:00", "Z")


def view(e: Exemption, now: datetime | None = None) -> dict[str, Any]:
    """`status` reads `expired` once the expiry has passed, whatever is stored."""
    now = now or datetime.now(UTC)
    record = record_of(e)
    status = "expired" if e.status == "active" and not in_force(record, now) else e.status
    return {**record, "status": status, "approved_by": e.approved_by, "comment": e.comment,
            "created_at": _rfc3339(e.created_at)}  # fmt: skip


def record_of(e: Exemption) -> dict[str, Any]:
    """What policies see in input.exemptions and what a decision cites."""
    return {
        "id": e.id, "rule": e.rule, "team": e.team, "environment": e.environment, "address": e.address,
        "reason": e.reason, "ticket": e.ticket, "expires_at": _rfc3339(e.expires_at), "status": e.status,
        "granted_by": e.granted_by,
    }  # fmt: skip


def in_force_for(session: Session, *, team: str, environment: str, now: datetime) -> list[dict[str, Any]]:
    rows = repo.exemptions_in_force(session, team=team, environment=environment, now=now)
    return [r for r in map(record_of, rows) if in_force(r, now)]


def _pointer_errors(exc: ValidationError) -> list[dict[str, str]]:
    return [
        {"pointer": "/" + "/".join(str(p) for p in err["loc"]), "detail": err["msg"]} for err in exc.errors()
    ]


def create(db: Database, *, body: Any, principal: Principal, max_days: int, now: datetime) -> str:
    if principal.role != Role.ADMIN:
        raise Forbidden("only an admin may request an exemption")
    try:
        spec = ExemptionCreate.model_validate(body)
    except ValidationError as exc:
        raise InvalidRequest("the exemption is not valid", errors=_pointer_errors(exc)) from None
    problem = check_expiry(spec.expires_at, now, max_days)
    if problem:
        raise InvalidRequest(problem, errors=[{"pointer": "/expires_at", "detail": problem}])
    eid = "exm-" + uuid.uuid4().hex[:12]
    with db.unit_of_work() as s:
        e = repo.add_exemption(
            s,
            exemption=Exemption(
                id=eid, status="pending", granted_by=principal.id, created_at=now, **spec.model_dump()
            ),
        )
        ledger.append(s, type="exemption.requested", actor=principal.id, data=record_of(e))
    return eid


def decide(
    db: Database, *, exemption_id: str, principal: Principal, verdict: str, comment: str, now: datetime
) -> None:
    """The second approver: not the admin who asked, with an approving role."""
    if principal.role not in APPROVERS:
        raise Forbidden(f"role '{principal.role}' cannot approve exemptions")
    if verdict not in ("approve", "reject"):
        raise InvalidRequest(
            "verdict must be approve or reject", errors=[{"pointer": "/verdict", "detail": verdict}]
        )
    if verdict == "reject" and not comment.strip():
        raise InvalidRequest(
            "a rejection needs a comment", errors=[{"pointer": "/comment", "detail": "empty"}]
        )
    with db.unit_of_work() as s:
        e = repo.get_exemption(s, exemption_id=exemption_id, lock=True)
        if e.status != "pending":
            raise Conflict(f"exemption {exemption_id} is '{e.status}', not pending")
        if principal.id == e.granted_by:
            raise Forbidden("the admin who requested an exemption cannot also approve it")
        if verdict == "approve" and _utc(e.expires_at) <= now:
            raise Conflict(f"exemption {exemption_id} expired before it was approved")
        e.status = "active" if verdict == "approve" else "rejected"
        e.approved_by, e.decided_at, e.comment = principal.id, now, comment
        s.add(e)
        kind = "approved" if verdict == "approve" else "rejected"
        ledger.append(s, type=f"exemption.{kind}", actor=principal.id, data={"id": e.id, "comment": comment})


def revoke(db: Database, *, exemption_id: str, principal: Principal, comment: str) -> None:
    if principal.role != Role.ADMIN:
        raise Forbidden("only an admin may revoke an exemption")
    with db.unit_of_work() as s:
        e = repo.get_exemption(s, exemption_id=exemption_id, lock=True)
        if e.status not in ("pending", "active"):
            raise Conflict(f"exemption {exemption_id} is '{e.status}' already")
        e.status, e.comment = "revoked", comment
        s.add(e)
        ledger.append(s, type="exemption.revoked", actor=principal.id, data={"id": e.id, "comment": comment})
