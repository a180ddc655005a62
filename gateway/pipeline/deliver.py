"""Delivers the outbox: webhooks and ServiceNow updates, retried with exponential backoff, every attempt logged.

A message is claimed by pushing its next attempt a lease into the future inside a short transaction; the HTTP
call happens outside any transaction. A replica that dies mid-call leaves the message to be retried once the
lease passes, so delivery is at least once (receivers deduplicate by `webhook-id`). Messages that share an
ordering key (one ServiceNow record) go one at a time, oldest first, so the record never moves backwards.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from gateway.adapters.itsm.delivery import Delivery
from gateway.adapters.itsm.servicenow import ServiceNowClient
from gateway.adapters.itsm.webhooks import WebhookSender
from gateway.adapters.store import messaging
from gateway.adapters.store.db import Database
from gateway.adapters.store.models import DeliveryAttempt
from gateway.domain.clock import Clock
from gateway.ledger import ledger
from gateway.metrics import DELIVERIES
from gateway.pipeline.outbox import SERVICENOW, WEBHOOK

log = logging.getLogger("gateway.deliver")
LEASE = timedelta(seconds=120)


@dataclass(frozen=True)
class Claimed:
    id: int
    msg_id: str
    kind: str
    target: str
    event_type: str
    request_id: str | None
    payload: dict[str, Any]
    attempt: int


@dataclass(frozen=True)
class Backoff:
    base_seconds: float
    max_seconds: float
    max_attempts: int

    def delay(self, attempt: int) -> timedelta:
        """Exponential from the base, capped, with up to 10% jitter so retries from many messages spread out."""
        seconds = min(self.base_seconds * 2 ** (attempt - 1), self.max_seconds)
        return timedelta(seconds=seconds * (1 + random.random() / 10))


class Dispatcher:
    def __init__(
        self,
        *,
        db: Database,
        clock: Clock,
        webhooks: WebhookSender,
        servicenow: ServiceNowClient | None,
        backoff: Backoff,
    ) -> None:
        self.db = db
        self.clock = clock
        self.webhooks = webhooks
        self.servicenow = servicenow
        self.backoff = backoff

    def deliver_due(self, limit: int = 50) -> int:
        """Sends what is due now, up to `limit` attempts; returns how many messages were attempted.

        Claims again after each batch, so a message delivered now lets the next one of its ordering key (the
        next state of the same ServiceNow record) go in this same call rather than one tick later."""
        attempted = 0
        while attempted < limit:
            claimed = self._claim(limit - attempted)
            if not claimed:
                break
            for msg in claimed:
                try:
                    result = self._send(msg)
                except Exception as exc:  # a bug must not stall the outbox: log it as a retryable failure
                    log.exception("delivering %s failed unexpectedly", msg.msg_id)
                    result = Delivery(False, None, True, f"internal error: {exc}", 0.0)
                self._record(msg, result)
            attempted += len(claimed)
        return attempted

    def _claim(self, limit: int) -> list[Claimed]:
        now = self.clock.now()
        out: list[Claimed] = []
        with self.db.unit_of_work() as s:
            for m in messaging.due_messages(s, now=now, limit=limit, lock=not self.db.is_sqlite):
                m.attempts += 1
                m.next_attempt_at = now + LEASE
                s.add(m)
                out.append(Claimed(m.id or 0, m.msg_id, m.kind, m.target, m.event_type, m.request_id,
                                   m.payload, m.attempts))  # fmt: skip
        return out

    def _send(self, msg: Claimed) -> Delivery:
        if msg.kind == WEBHOOK:
            with self.db.read() as s:
                sub = messaging.subscriptions(s, active_only=False)
            found = next((x for x in sub if x.id == msg.target and x.active), None)
            if found is None:
                return Delivery(False, None, False, "the subscription was deleted", 0.0)
            # The signature's timestamp is the moment of sending (receivers check it against their own clock).
            return self.webhooks.send(url=found.url, secret=found.secret, msg_id=msg.msg_id,
                                      timestamp=datetime.now(UTC), body=orjson.dumps(msg.payload))  # fmt: skip
        if msg.kind == SERVICENOW:
            if self.servicenow is None:
                return Delivery(
                    False, None, False, "ServiceNow is not configured (GATEWAY_SERVICENOW_URL)", 0.0
                )
            return self.servicenow.update_change(msg.target, msg.payload)
        return Delivery(False, None, False, f"unknown message kind {msg.kind!r}", 0.0)

    def _record(self, msg: Claimed, d: Delivery) -> None:
        now = self.clock.now()
        with self.db.unit_of_work() as s:
            m = messaging.get_message(s, message_id=msg.id)
            messaging.add_attempt(
                s,
                attempt=DeliveryAttempt(message_id=msg.id, attempt=msg.attempt, at=now, ok=d.ok, status=d.status,
                                        error=d.error, duration_ms=d.duration_ms),
            )  # fmt: skip
            m.last_error = d.error
            if d.ok:
                m.status, m.delivered_at = "delivered", now
                result = "delivered"
            elif d.retryable and msg.attempt < self.backoff.max_attempts:
                m.next_attempt_at = now + self.backoff.delay(msg.attempt)
                result = "retry"
            else:
                m.status = result = "failed"
                # Recorded once, and not retried for ever: refused credentials need a person, not a loop.
                ledger.append(
                    s, type="delivery.failed", actor="gateway", request_id=msg.request_id,
                    data={"kind": msg.kind, "target": msg.target, "event_type": msg.event_type, "msg_id": msg.msg_id,
                          "attempts": msg.attempt, "status": d.status, "error": d.error},
                )  # fmt: skip
                log.warning(
                    "giving up on %s %s after %d attempt(s): %s", msg.kind, msg.msg_id, msg.attempt, d.error
                )
            s.add(m)
        DELIVERIES.labels(msg.kind, result).inc()
