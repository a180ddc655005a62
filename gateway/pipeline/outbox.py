"""Telling other systems what happened: webhook subscribers and the ServiceNow record a request came from.

Messages are written to the outbox inside the same unit of work as the change they report (the transactional
outbox), and delivered later by pipeline.deliver, so a crash can neither lose one nor send one for a change that
rolled back.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlmodel import Session

from gateway.adapters.store import messaging
from gateway.adapters.store import repositories as repo
from gateway.adapters.store.models import ChangeRequest, OutboxMessage
from gateway.domain.clock import rfc3339
from gateway.domain.servicenow import change_update
from gateway.domain.states import State

SERVICENOW = "servicenow"
WEBHOOK = "webhook"

# What a subscription may ask for: every state as `request.<state>` (derived from State, so a new state can be
# subscribed to by name as soon as it exists), plus these.
EVENT_TYPES = frozenset(
    {f"request.{state}" for state in State}
    | {"request.submitted", "request.amended", "approval.recorded", "review.completed", "lease.expiring"}
)


def matches(patterns: list[str], event_type: str) -> bool:
    """`*` is every event, `request.*` every event of that family, otherwise the exact type."""
    return any(
        p == "*" or p == event_type or (p.endswith(".*") and event_type.startswith(p[:-1])) for p in patterns
    )


def summary(req: ChangeRequest) -> dict[str, Any]:
    """What subscribers get about a request: enough to act on without calling back."""
    decision = req.decision or {}
    return {
        "id": req.id,
        "state": req.state,
        "title": req.title,
        "team": req.team,
        "environment": req.environment,
        "requester": req.requester,
        "change_type": (req.envelope.get("change") or {}).get("type"),
        "content_hash": req.content_hash,
        "cloud": req.cloud,
        "outcome": decision.get("outcome"),
        "violations": decision.get("violations", []),
        "required_approvals": decision.get("required_approvals", []),
        "cost_monthly": req.cost_monthly,
        "error": req.error,
    }


def notify(
    s: Session,
    *,
    event_type: str,
    request_id: str,
    now: datetime,
    data: dict[str, Any] | None = None,
    state_changed: bool = False,
    detail: str | None = None,
) -> None:
    """Queues the event for every matching subscription and, for a state change, the linked ServiceNow record."""
    req = repo.get_request(s, request_id=request_id)
    body = {
        "type": event_type,
        "timestamp": rfc3339(now),
        "data": {"request": summary(req), **(data or {})},
    }
    for sub in messaging.subscriptions(s):
        if matches(sub.events, event_type):
            _queue(s, kind=WEBHOOK, target=sub.id, event_type=event_type, request_id=request_id, payload=body,
                   now=now)  # fmt: skip
    if not state_changed:
        return
    link = messaging.link_for_request(s, request_id=request_id)
    if link is None or link.system != SERVICENOW:
        return
    fields = change_update(state=req.state, request_id=req.id, decision=req.decision, detail=detail)
    _queue(
        s, kind=SERVICENOW, target=link.external_id, event_type=event_type, request_id=request_id,
        payload=fields, now=now, ordering_key=f"{SERVICENOW}:{link.external_id}",
    )  # fmt: skip


def _queue(
    s: Session,
    *,
    kind: str,
    target: str,
    event_type: str,
    request_id: str,
    payload: dict[str, Any],
    now: datetime,
    ordering_key: str | None = None,
) -> None:
    messaging.add_message(
        s,
        message=OutboxMessage(
            msg_id="msg_" + uuid.uuid4().hex, kind=kind, target=target, ordering_key=ordering_key,
            event_type=event_type, request_id=request_id, payload=payload, next_attempt_at=now, created_at=now,
        ),
    )  # fmt: skip
