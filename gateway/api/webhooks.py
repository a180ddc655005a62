"""/v1/webhooks: subscriptions per event type, their signing secrets (shown once) and delivery logs."""

from __future__ import annotations

import uuid
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Query
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from gateway.adapters.itsm.webhooks import new_secret
from gateway.adapters.store import messaging
from gateway.adapters.store.models import OutboxMessage, WebhookSubscription
from gateway.api.deps import principal, require, services
from gateway.domain.clock import aware, rfc3339
from gateway.domain.identity import Principal, Role
from gateway.errors import InvalidRequest
from gateway.ledger import ledger
from gateway.pipeline.outbox import EVENT_TYPES, WEBHOOK
from gateway.services import Services

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
ADMINS = frozenset({Role.ADMIN})


def _known_event(v: str) -> str:
    """One event pattern; checked per item, so an error points at the pattern (/events/1), not the list."""
    families = {e.split(".")[0] + ".*" for e in EVENT_TYPES}
    if v != "*" and v not in EVENT_TYPES and v not in families:
        raise ValueError(f"unknown event type {v!r}; known: {sorted(EVENT_TYPES)}, '*', or 'family.*'")
    return v


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str
    events: list[Annotated[str, AfterValidator(_known_event)]] = Field(min_length=1)
    description: str = ""

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an http(s) URL")
        return v


def _sub_view(sub: WebhookSubscription) -> dict[str, Any]:
    return {
        "id": sub.id, "url": sub.url, "events": sub.events, "description": sub.description, "active": sub.active,
        "created_by": sub.created_by, "created_at": rfc3339(aware(sub.created_at)),
    }  # fmt: skip


@router.post("", status_code=201)
def create(
    spec: SubscriptionIn, who: Principal = Depends(principal), svc: Services = Depends(services)
) -> dict[str, Any]:
    """The signing secret is in this response only; receivers verify with it (Standard Webhooks)."""
    require(who, ADMINS, "manage webhooks")
    sub = WebhookSubscription(
        id="whk_" + uuid.uuid4().hex[:16], url=spec.url, events=spec.events, secret=new_secret(),
        description=spec.description, created_by=who.id, created_at=svc.clock.now(),
    )  # fmt: skip
    with svc.db.unit_of_work() as s:
        messaging.add_subscription(s, sub=sub)
        ledger.append(s, type="webhook.subscribed", actor=who.id,
                      data={"id": sub.id, "url": sub.url, "events": sub.events})  # fmt: skip
    return {**_sub_view(sub), "secret": sub.secret}


@router.get("")
def list_subscriptions(
    who: Principal = Depends(principal), svc: Services = Depends(services)
) -> dict[str, Any]:
    require(who, ADMINS, "manage webhooks")
    with svc.db.read() as s:
        return {"items": [_sub_view(x) for x in messaging.subscriptions(s, active_only=False)]}


@router.delete("/{sub_id}")
def delete(
    sub_id: str, who: Principal = Depends(principal), svc: Services = Depends(services)
) -> dict[str, Any]:
    """Deactivates the subscription; what is still queued for it is dropped at its next attempt."""
    require(who, ADMINS, "manage webhooks")
    with svc.db.unit_of_work() as s:
        sub = messaging.get_subscription(s, sub_id=sub_id)
        if not sub.active:
            raise InvalidRequest(f"subscription {sub_id} is deleted already")
        sub.active = False
        s.add(sub)
        ledger.append(s, type="webhook.unsubscribed", actor=who.id, data={"id": sub_id})
        return _sub_view(sub)


@router.get("/{sub_id}/deliveries")
def deliveries(
    sub_id: str, limit: int = Query(100, ge=1, le=1000), who: Principal = Depends(principal),
    svc: Services = Depends(services),
) -> dict[str, Any]:  # fmt: skip
    """The delivery log: every message for this subscription and each attempt at it."""
    require(who, ADMINS, "read webhook deliveries")
    with svc.db.read() as s:
        messaging.get_subscription(s, sub_id=sub_id)
        msgs = messaging.messages_for(s, kind=WEBHOOK, target=sub_id, limit=limit)
        attempts = messaging.attempts_for(s, message_ids=[m.id for m in msgs if m.id is not None])
        return {"items": [message_view(m, attempts.get(m.id or 0, [])) for m in msgs]}


def message_view(m: OutboxMessage, attempts: list[Any]) -> dict[str, Any]:
    return {
        "msg_id": m.msg_id, "event_type": m.event_type, "request_id": m.request_id, "status": m.status,
        "attempts": m.attempts, "next_attempt_at": rfc3339(aware(m.next_attempt_at)) if m.status == "pending" else None,
        "last_error": m.last_error,
        "log": [{"attempt": a.attempt, "at": rfc3339(aware(a.at)), "ok": a.ok, "status": a.status, "error": a.error,
                 "duration_ms": a.duration_ms} for a in attempts],
    }  # fmt: skip
