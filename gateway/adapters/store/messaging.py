"""Keyword-only data access for what the gateway tells other systems: webhook subscriptions, the outbox and its
delivery log, ITSM links, and Idempotency-Key records. None of these commit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, exists, or_, update
from sqlalchemy.orm import aliased
from sqlalchemy.orm.attributes import get_history
from sqlmodel import Session, col, select

from gateway.adapters.store.models import (
    DeliveryAttempt,
    IdempotencyKey,
    ItsmLink,
    OutboxMessage,
    WebhookSubscription,
)
from gateway.errors import Conflict, NotFound


def add_subscription(session: Session, *, sub: WebhookSubscription) -> WebhookSubscription:
    session.add(sub)
    session.flush()
    return sub


def subscriptions(session: Session, *, active_only: bool = True) -> list[WebhookSubscription]:
    stmt = select(WebhookSubscription)
    if active_only:
        stmt = stmt.where(col(WebhookSubscription.active).is_(True))
    return list(session.exec(stmt.order_by(col(WebhookSubscription.created_at))).all())


def get_subscription(session: Session, *, sub_id: str) -> WebhookSubscription:
    sub = session.get(WebhookSubscription, sub_id)
    if sub is None:
        raise NotFound(f"no webhook subscription with id {sub_id}")
    return sub


def add_message(session: Session, *, message: OutboxMessage) -> None:
    session.add(message)


def due_messages(session: Session, *, now: datetime, limit: int, lock: bool) -> list[OutboxMessage]:
    """Pending messages due at `now`, oldest first, each the oldest pending one of its ordering key (a later
    message of a key waits, due or not, while an earlier one is pending). Filtered in SQL, so a backlog of
    messages backing off can never fill the batch and starve due ones. With lock, a second replica waits for
    the first one's short claim."""
    earlier = aliased(OutboxMessage)
    head_of_key = ~exists().where(
        col(earlier.status) == "pending",
        col(earlier.ordering_key) == col(OutboxMessage.ordering_key),
        col(earlier.id) < col(OutboxMessage.id),
    )
    stmt = (
        select(OutboxMessage)
        .where(
            col(OutboxMessage.status) == "pending",
            col(OutboxMessage.next_attempt_at) <= now,
            or_(col(OutboxMessage.ordering_key).is_(None), head_of_key),
        )
        .order_by(col(OutboxMessage.id))
        .limit(limit)
    )
    if lock:
        stmt = stmt.with_for_update()
    return list(session.exec(stmt).all())


def get_message(session: Session, *, message_id: int) -> OutboxMessage:
    msg = session.get(OutboxMessage, message_id)
    if msg is None:
        raise NotFound(f"no outbox message {message_id}")
    return msg


def messages_for(
    session: Session, *, kind: str | None = None, target: str | None = None, limit: int = 200
) -> list[OutboxMessage]:
    stmt = select(OutboxMessage)
    if kind:
        stmt = stmt.where(OutboxMessage.kind == kind)
    if target:
        stmt = stmt.where(OutboxMessage.target == target)
    return list(session.exec(stmt.order_by(col(OutboxMessage.id).desc()).limit(limit)).all())


def add_attempt(session: Session, *, attempt: DeliveryAttempt) -> None:
    session.add(attempt)


def attempts_for(session: Session, *, message_ids: list[int]) -> dict[int, list[DeliveryAttempt]]:
    out: dict[int, list[DeliveryAttempt]] = {i: [] for i in message_ids}
    if not message_ids:
        return out
    stmt = select(DeliveryAttempt).where(col(DeliveryAttempt.message_id).in_(message_ids))
    for a in session.exec(stmt.order_by(col(DeliveryAttempt.id))).all():
        out[a.message_id].append(a)
    return out


def add_link(session: Session, *, link: ItsmLink) -> ItsmLink:
    """Adds a link; a link loaded earlier and pointed at a new request (a ServiceNow record sent again after
    its request closed) moves, compare-and-set on the request it pointed at when loaded, so two racing
    resubmissions cannot both move it and leave a second request unlinked."""
    if link.id is None:
        session.add(link)
        session.flush()
        return link
    before = get_history(link, "request_id").deleted
    session.flush()  # the request it moves to is in this unit of work: insert it before pointing at it
    stmt = (
        update(ItsmLink)
        .where(col(ItsmLink.id) == link.id, col(ItsmLink.request_id) == (before[0] if before else link.request_id))
        .values(
            request_id=link.request_id, number=link.number, requested_by=link.requested_by, extra=link.extra,
            record_hash=link.record_hash,
        )
    )  # fmt: skip
    if session.connection().execute(stmt).rowcount != 1:
        raise Conflict(f"ServiceNow record {link.external_id} was resubmitted by another call meanwhile")
    return link


def link_for_request(session: Session, *, request_id: str) -> ItsmLink | None:
    return session.exec(select(ItsmLink).where(ItsmLink.request_id == request_id)).first()


def link_by_external_id(session: Session, *, system: str, external_id: str) -> ItsmLink | None:
    stmt = select(ItsmLink).where(ItsmLink.system == system, ItsmLink.external_id == external_id)
    return session.exec(stmt).first()


def idempotency_key(session: Session, *, principal: str, key: str) -> IdempotencyKey | None:
    stmt = select(IdempotencyKey).where(IdempotencyKey.principal == principal, IdempotencyKey.key == key)
    return session.exec(stmt).first()


def add_idempotency_key(session: Session, *, record: IdempotencyKey) -> None:
    session.add(record)
    session.flush()


def finish_idempotency_key(
    session: Session,
    *,
    principal: str,
    key: str,
    status: int,
    body: dict[str, Any],
    request_id: str | None,
) -> None:
    """Stores the response, unless the key is bound to another request (an attempt that took it over)."""
    record = idempotency_key(session, principal=principal, key=key)
    if record is not None and record.request_id in (None, request_id):
        record.status = "done"
        record.response_status = status
        record.response_body = body
        record.request_id = request_id
        session.add(record)


def delete_idempotency_key(session: Session, *, principal: str, key: str, unbound_only: bool = False) -> None:
    stmt = delete(IdempotencyKey).where(
        col(IdempotencyKey.principal) == principal, col(IdempotencyKey.key) == key
    )
    if unbound_only:
        stmt = stmt.where(col(IdempotencyKey.request_id).is_(None))
    session.connection().execute(stmt)


def bind_idempotency_key(session: Session, *, principal: str, key: str, request_id: str) -> bool:
    """Binds the key to the request only if no other attempt has bound it already; False otherwise."""
    stmt = (
        update(IdempotencyKey)
        .where(
            col(IdempotencyKey.principal) == principal,
            col(IdempotencyKey.key) == key,
            col(IdempotencyKey.request_id).is_(None),
            col(IdempotencyKey.status)
            != "done",  # answered already (e.g. a 422 to the attempt that took it over)
        )
        .values(request_id=request_id)
    )
    return bool(session.connection().execute(stmt).rowcount == 1)


def purge_idempotency_keys(session: Session, *, older_than: datetime) -> int:
    stmt = delete(IdempotencyKey).where(col(IdempotencyKey.created_at) < older_than)
    return int(session.connection().execute(stmt).rowcount or 0)
