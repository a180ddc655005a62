"""Every state change goes through move(): the compare-and-set on the request, its ledger event, and the
messages to subscribers and the linked ITSM record, all in the caller's unit of work."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from gateway.adapters.store import jobs
from gateway.adapters.store import repositories as repo
from gateway.domain.states import State, check_transition
from gateway.ledger import ledger
from gateway.pipeline import outbox


def move(
    s: Session,
    *,
    request_id: str,
    expected: State | str,
    target: State,
    actor: str,
    now: datetime,
    values: dict[str, Any] | None = None,
    data: dict[str, Any] | None = None,
    event: str | None = None,
    detail: str | None = None,
    content_hash: str | None = None,
) -> None:
    """`event` names the ledger event when it is not `request.<target>` (execution.started, ...)."""
    check_transition(expected, target)
    repo.transition(
        s,
        request_id=request_id,
        expected=str(expected),
        values={"state": target, "updated_at": now, **(values or {})},
        content_hash=content_hash,
    )
    ledger.append(s, type=event or f"request.{target}", actor=actor, request_id=request_id, data=data or {})
    if target == State.APPROVED:
        jobs.enqueue(s, request_id=request_id, now=now)  # durable with the approval itself
    # Subscribers see states as request.<state>; an amendment keeps its own name.
    webhook_type = event if event and event.startswith("request.") else f"request.{target}"
    outbox.notify(
        s, event_type=webhook_type, request_id=request_id, now=now, state_changed=True, detail=detail
    )
