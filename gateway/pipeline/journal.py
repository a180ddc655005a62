"""The execution journal: each step of a request recorded before its cloud calls and after them, each in its own
committed unit of work, with the calls themselves as `cloud.call` ledger events. A worker that dies leaves the
journal saying exactly how far it got; the next one resumes from there."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from gateway import faults
from gateway.adapters.cloud.client import CallRecord
from gateway.adapters.store import jobs
from gateway.adapters.store.db import Database
from gateway.domain.clock import Clock, aware
from gateway.errors import GatewayError
from gateway.ledger import ledger
from gateway.pipeline.recording import SYSTEM


class LostClaim(GatewayError):
    """This worker's lease on the request ran out and another worker took it over: stop at once."""

    status = 409
    title = "Execution claimed by another worker"
    type_slug = "lost-claim"


@dataclass(frozen=True)
class StepRecord:
    phase: str
    idx: int
    status: str  # started | done | failed
    resource_id: str | None
    error: str | None
    started_at: datetime


class Journal:
    def __init__(self, *, db: Database, clock: Clock, request_id: str, worker: str, lease: timedelta) -> None:
        self.db = db
        self.clock = clock
        self.request_id = request_id
        self.worker = worker
        self.lease = lease
        self.lost = False

    def recorded(self) -> dict[tuple[str, int], StepRecord]:
        with self.db.read() as s:
            rows = jobs.steps(s, request_id=self.request_id)
        return {k: StepRecord(r.phase, r.idx, r.status, r.resource_id, r.error, aware(r.started_at))
                for k, r in rows.items()}  # fmt: skip

    def _renew(self, s: Session) -> None:
        now = self.clock.now()
        if self.lost or not jobs.renew(s, request_id=self.request_id, worker=self.worker, now=now,
                                       lease_until=now + self.lease):  # fmt: skip
            self.lost = True
            raise LostClaim(f"request {self.request_id} is now being executed by another worker")

    def heartbeat(self) -> None:
        with self.db.unit_of_work() as s:
            self._renew(s)

    def started(self, *, phase: str, idx: int, address: str, action: str, resuming: bool) -> None:
        now = self.clock.now()
        with self.db.unit_of_work() as s:
            self._renew(s)
            step = jobs.start_step(s, request_id=self.request_id, phase=phase, idx=idx, address=address,
                                   action=action, now=now)  # fmt: skip
            ledger.append(
                s, type="execution.step_started", actor=SYSTEM, request_id=self.request_id,
                data={"phase": phase, "index": idx, "address": address, "action": action,
                      "attempt": step.attempts, "resumed": resuming, "worker": self.worker},
            )  # fmt: skip
        faults.point("step-started")

    def ended(
        self,
        *,
        phase: str,
        idx: int,
        address: str,
        calls: list[CallRecord],
        resource_id: str | None = None,
        error: str | None = None,
    ) -> None:
        """The step's calls and its end, together: a failed step is as final as a done one."""
        status = "failed" if error else "done"
        try:
            self._end(phase=phase, idx=idx, address=address, calls=calls, status=status, resource_id=resource_id,
                      error=error)  # fmt: skip
        except LostClaim:
            self.calls_only(calls)  # they were made all the same: the ledger has every call
            raise
        faults.point("step-done")

    def _end(
        self, *, phase: str, idx: int, address: str, calls: list[CallRecord], status: str,
        resource_id: str | None, error: str | None,
    ) -> None:  # fmt: skip
        with self.db.unit_of_work() as s:
            self._renew(s)
            for call in calls:
                ledger.append(
                    s, type="cloud.call", actor=SYSTEM, request_id=self.request_id, data=call.as_dict()
                )
            jobs.end_step(s, request_id=self.request_id, phase=phase, idx=idx, status=status,
                          now=self.clock.now(), resource_id=resource_id, error=error)  # fmt: skip
            ledger.append(
                s, type=f"execution.step_{'failed' if error else 'succeeded'}", actor=SYSTEM,
                request_id=self.request_id,
                data={"phase": phase, "index": idx, "address": address, "resource_id": resource_id, "error": error},
            )  # fmt: skip

    def calls_only(self, calls: list[CallRecord]) -> None:
        """Calls of a step that will be tried again later (the cloud kept failing): recorded, the step left open."""
        if not calls:
            return
        with self.db.unit_of_work() as s:
            for call in calls:
                ledger.append(
                    s, type="cloud.call", actor=SYSTEM, request_id=self.request_id, data=call.as_dict()
                )
