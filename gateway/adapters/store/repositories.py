"""Keyword-only data access. None of these commit: the pipeline runner owns the transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import and_, func, or_, update
from sqlmodel import Session, SQLModel, col, select

from gateway.adapters.store.models import (
    ApiToken,
    Approval,
    ChangeRequest,
    Exemption,
    InventoryResource,
    utcnow,
)
from gateway.domain.identity import Visibility
from gateway.domain.states import State
from gateway.errors import Conflict, NotFound

_Row = TypeVar("_Row", bound=SQLModel)


def _add(session: Session, row: _Row) -> _Row:
    session.add(row)
    session.flush()
    return row


def _get(session: Session, model: type[_Row], key: str, lock: bool, what: str) -> _Row:
    """With lock=True the row stays locked (FOR UPDATE on PostgreSQL) until the caller's transaction ends."""
    stmt = select(model).where(model.id == key)  # type: ignore[attr-defined]
    row = session.exec(stmt.with_for_update() if lock else stmt).first()
    if row is None:
        raise NotFound(f"no {what} with id {key}")
    return row


def add_request(session: Session, *, request: ChangeRequest) -> ChangeRequest:
    return _add(session, request)


def get_request(session: Session, *, request_id: str, lock: bool = False) -> ChangeRequest:
    return _get(session, ChangeRequest, request_id, lock, "request")


def list_requests(
    session: Session,
    *,
    visible: Visibility,
    state: str | None = None,
    team: str | None = None,
    since: datetime | None = None,
    review: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[ChangeRequest]:
    stmt = select(ChangeRequest)
    if not visible.everything:
        stmt = stmt.where(
            or_(
                col(ChangeRequest.team).in_(visible.teams),
                col(ChangeRequest.requester) == visible.principal,
            )
        )
    if review:
        stmt = stmt.where(ChangeRequest.review == review)
    if state:
        stmt = stmt.where(ChangeRequest.state == state)
    if team:
        stmt = stmt.where(ChangeRequest.team == team)
    if since:
        stmt = stmt.where(ChangeRequest.created_at >= since)
    stmt = stmt.order_by(col(ChangeRequest.created_at).desc()).offset(offset).limit(limit)
    return list(session.exec(stmt).all())


def ids_in_state(session: Session, *, state: str, limit: int = 100) -> list[str]:
    stmt = (
        select(ChangeRequest.id).where(ChangeRequest.state == state).order_by(col(ChangeRequest.created_at))
    )
    return list(session.exec(stmt.limit(limit)).all())


def due_requests(
    session: Session, *, now: datetime, pending_before: datetime, limit: int
) -> list[ChangeRequest]:
    """Requests with work due, oldest first: waiting for policy, and pending ones whose window closed or that
    waited since before `pending_before`. (Approved ones are the execution queue's.)"""
    waited = func.coalesce(col(ChangeRequest.pending_since), col(ChangeRequest.updated_at)) <= pending_before
    stmt = select(ChangeRequest).where(
        or_(
            col(ChangeRequest.state) == State.RECEIVED,
            and_(
                col(ChangeRequest.state) == State.PENDING_APPROVAL,
                or_(col(ChangeRequest.window_end) <= now, waited),
            ),
        )
    )
    return list(session.exec(stmt.order_by(col(ChangeRequest.created_at)).limit(limit)).all())


def set_review(session: Session, *, request_id: str, review: str) -> None:
    session.connection().execute(
        update(ChangeRequest).where(col(ChangeRequest.id) == request_id).values(review=review)
    )


def transition(
    session: Session,
    *,
    request_id: str,
    expected: str,
    values: dict[str, Any],
    content_hash: str | None = None,
) -> None:
    """Compare-and-set on the state (and, when given, the content hash), so two racing writers make exactly one
    transition, and a decision about content that has been amended since is never stored."""
    conditions = [col(ChangeRequest.id) == request_id, col(ChangeRequest.state) == expected]
    if content_hash is not None:
        conditions.append(col(ChangeRequest.content_hash) == content_hash)
    stmt = update(ChangeRequest).where(*conditions).values(**{"updated_at": utcnow(), **values})
    result = session.connection().execute(stmt)
    if result.rowcount != 1:
        raise Conflict(f"request {request_id} is no longer in state '{expected}' (or its content changed)")
    session.expire_all()


def votes(session: Session, *, request: ChangeRequest) -> list[Approval]:
    """The votes that may count: on the request's current content, in its current approval round."""
    stmt = select(Approval).where(
        Approval.request_id == request.id,
        Approval.content_hash == request.content_hash,
        Approval.round == request.approval_round,
    )
    return list(session.exec(stmt.order_by(col(Approval.id))).all())


def add_vote(session: Session, *, vote: Approval) -> Approval:
    session.add(vote)
    session.flush()
    return vote


def add_token(session: Session, *, token: ApiToken) -> ApiToken:
    if session.exec(select(ApiToken).where(ApiToken.name == token.name)).first():
        raise Conflict(f"a token named {token.name!r} exists already")
    session.add(token)
    session.flush()
    return token


def token_by_hash(session: Session, *, token_hash: str) -> ApiToken | None:
    return session.exec(
        select(ApiToken).where(ApiToken.token_hash == token_hash, col(ApiToken.revoked_at).is_(None))
    ).first()


def list_tokens(session: Session) -> list[ApiToken]:
    return list(session.exec(select(ApiToken).order_by(col(ApiToken.id))).all())


def revoke_token(session: Session, *, name: str) -> ApiToken:
    tok = session.exec(select(ApiToken).where(ApiToken.name == name)).first()
    if tok is None:
        raise NotFound(f"no token named {name!r}")
    tok.revoked_at = utcnow()
    session.add(tok)
    return tok


def inventory_get(session: Session, *, resource_id: str) -> InventoryResource | None:
    return session.get(InventoryResource, resource_id)


def inventory_list(
    session: Session,
    *,
    visible: Visibility,
    team: str | None = None,
    rtype: str | None = None,
    status: str | None = "active",
    limit: int = 500,
) -> list[InventoryResource]:
    stmt = select(InventoryResource)
    if not visible.everything:
        stmt = stmt.where(col(InventoryResource.team).in_(visible.teams))
    if team:
        stmt = stmt.where(InventoryResource.team == team)
    if rtype:
        stmt = stmt.where(InventoryResource.type == rtype)
    if status:
        stmt = stmt.where(InventoryResource.status == status)
    return list(session.exec(stmt.order_by(col(InventoryResource.created_at)).limit(limit)).all())


def inventory_put(session: Session, *, resource: InventoryResource) -> None:
    session.merge(resource)
    session.flush()


def inventory_retire(session: Session, *, resource_id: str) -> None:
    # A statement, not an ORM change: the state transition in the same unit of work expires the session, which
    # would silently drop an unflushed attribute change.
    session.connection().execute(
        update(InventoryResource).where(col(InventoryResource.id) == resource_id).values(status="retired")
    )


def inventory_update(
    session: Session,
    *,
    resource_id: str,
    properties: dict[str, Any],
    monthly_cost: float,
    lease_expires_at: datetime | None = None,
) -> None:
    """An update's result: the properties it set, and no drift (the next check looks again). With a lease, the
    lease starts over: a new end, a new warning, no retirement filed."""
    values: dict[str, Any] = {"properties": properties, "monthly_cost": monthly_cost, "drift": {}}
    if lease_expires_at is not None:
        values.update(lease_expires_at=lease_expires_at, lease_warned_at=None, retire_request_id=None)
    session.connection().execute(
        update(InventoryResource).where(col(InventoryResource.id) == resource_id).values(**values)
    )


def inventory_active_count(session: Session, *, request_id: str) -> int:
    """Resources of the request not retired (a `missing` one may come back)."""
    stmt = select(func.count()).where(
        InventoryResource.request_id == request_id, col(InventoryResource.status).in_(["active", "missing"])
    )
    return int(session.exec(stmt).one())


def committed_monthly(session: Session, *, team: str) -> float:
    stmt = select(func.coalesce(func.sum(InventoryResource.monthly_cost), 0.0)).where(
        InventoryResource.team == team, InventoryResource.status == "active"
    )
    return float(session.exec(stmt).one())


def add_exemption(session: Session, *, exemption: Exemption) -> Exemption:
    return _add(session, exemption)


def get_exemption(session: Session, *, exemption_id: str, lock: bool = False) -> Exemption:
    return _get(session, Exemption, exemption_id, lock, "exemption")


def list_exemptions(
    session: Session, *, team: str | None = None, status: str | None = None, limit: int = 500
) -> list[Exemption]:
    stmt = select(Exemption)
    if team:
        stmt = stmt.where(Exemption.team == team)
    if status:
        stmt = stmt.where(Exemption.status == status)
    return list(session.exec(stmt.order_by(col(Exemption.created_at).desc()).limit(limit)).all())


def exemptions_in_force(session: Session, *, team: str, environment: str, now: datetime) -> list[Exemption]:
    """Active and not expired at `now`, for this team and environment."""
    stmt = select(Exemption).where(
        Exemption.status == "active",
        Exemption.team == team,
        col(Exemption.environment).in_(["*", environment]),
        Exemption.expires_at > now,
    )
    return list(session.exec(stmt.order_by(col(Exemption.created_at))).all())
