"""Due work, run by the background loop on every replica: requests accepted while OPA was down, approvals that
waited too long or whose change window closed, leases, the execution queue, and Idempotency-Key records past
their lifetime."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from gateway.adapters.store import messaging
from gateway.adapters.store import repositories as repo
from gateway.adapters.store.db import Database
from gateway.adapters.store.models import ChangeRequest
from gateway.domain.clock import Clock, aware
from gateway.domain.states import State
from gateway.errors import Conflict, DatabaseUnavailable, PolicyUnavailable
from gateway.pipeline.approve import Approvals
from gateway.pipeline.leases import Leases
from gateway.pipeline.runner import Runner
from gateway.pipeline.worker import Worker

log = logging.getLogger("gateway.scheduler")


class Scheduler:
    def __init__(
        self,
        *,
        db: Database,
        runner: Runner,
        approvals: Approvals,
        clock: Clock,
        pending_expiry: timedelta,
        idempotency_ttl: timedelta,
        worker: Worker | None = None,
        leases: Leases | None = None,
    ) -> None:
        self.worker = worker
        self.leases = leases
        self.db = db
        self.runner = runner
        self.approvals = approvals
        self.clock = clock
        self.pending_expiry = pending_expiry
        self.idempotency_ttl = idempotency_ttl

    def tick(self, limit: int = 50) -> int:
        """Runs what is due; returns how many requests moved. Stops at the first sign OPA is still down."""
        now = self.clock.now()
        with self.db.read() as s:
            rows = repo.due_requests(s, now=now, pending_before=now - self.pending_expiry, limit=limit)
        work: list[tuple[str, Callable[[], None]]] = []
        for r in rows:
            step = self._due(r, now)
            if step is not None:
                work.append((r.id, step))
        done = 0
        for rid, step in work:
            try:
                step()
                done += 1
            except Conflict:
                continue  # a request handler or another replica got there first
            except (PolicyUnavailable, DatabaseUnavailable):
                break
            except Exception:
                log.exception("due work on request %s failed", rid)
        with self.db.unit_of_work() as s:
            messaging.purge_idempotency_keys(s, older_than=now - self.idempotency_ttl)
        if self.leases is not None:
            done += self.leases.tick()
        if self.worker is not None:
            done += self.worker.drain()
        return done

    def _due(self, r: ChangeRequest, now: datetime) -> Callable[[], None] | None:
        rid = r.id
        if r.state == State.RECEIVED:
            return lambda: self.runner.evaluate_received(rid)
        end = aware(r.window_end) if r.window_end else None
        # pending_approval (approved and scheduled requests are the execution queue's)
        seen = r.pending_since
        if end and end <= now:
            return lambda: self.approvals.expire(
                request_id=rid,
                reason="the change window closed before the request was approved",
                seen_since=seen,
            )
        since = aware(r.pending_since) if r.pending_since else aware(r.updated_at)
        if since + self.pending_expiry <= now:
            hours = self.pending_expiry.total_seconds() / 3600
            return lambda: self.approvals.expire(
                request_id=rid,
                reason=f"no decision within {hours:g} hours of waiting for approval",
                seen_since=seen,
            )
        return None
