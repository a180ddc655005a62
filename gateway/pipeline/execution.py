"""Stage 4: an approved request waits for its change window, is re-checked against the current policies, then
carried out in the cloud. Every step is a compare-and-set transition, so two workers never run one request."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from gateway import faults
from gateway.adapters.store import jobs
from gateway.adapters.store import repositories as repo
from gateway.adapters.store.db import Database
from gateway.adapters.store.models import ChangeRequest, InventoryResource
from gateway.domain.clock import Clock, aware, rfc3339
from gateway.domain.cost import Catalog
from gateway.domain.decision import Decision
from gateway.domain.states import OPEN_STATES, State
from gateway.errors import CloudUnavailable, DatabaseUnavailable, InvalidRequest
from gateway.ledger import ledger
from gateway.pipeline.context import before_states, retired_meanwhile
from gateway.pipeline.execute import Done, Executor, Outcome, targets
from gateway.pipeline.journal import Journal, LostClaim
from gateway.pipeline.recording import SYSTEM, record_exemption_use
from gateway.pipeline.transitions import move

log = logging.getLogger("gateway.execution")

Evaluate = Callable[[ChangeRequest], tuple[Decision, dict[str, Any]]]
RUNNABLE = (State.APPROVED, State.SCHEDULED)


@dataclass(frozen=True)
class Release:
    """What the worker does with the job afterwards: done, or queued again until `not_before`."""

    done: bool
    not_before: datetime | None = None


DONE = Release(done=True)


class Execution:
    def __init__(
        self, *, db: Database, executor: Executor, catalog: Catalog, clock: Clock, cloud_label: str
    ) -> None:
        self.db = db
        self.executor = executor
        self.catalog = catalog
        self.clock = clock
        self.cloud_label = cloud_label

    def run(
        self, request_id: str, evaluate: Evaluate, journal: Journal, *, final_attempt: bool = False
    ) -> Release:
        """Runs one claimed job: an approved request is checked against its window and the current policies,
        then carried out; one already `executing` (its worker died) is resumed where its journal ends."""
        with self.db.read() as s:
            req = repo.get_request(s, request_id=request_id)
        if req.state == State.EXECUTING:
            with self.db.unit_of_work() as s:
                ledger.append(s, type="execution.resumed", actor=SYSTEM, request_id=request_id,
                              data={"worker": journal.worker})  # fmt: skip
            log.warning(
                "cloud=%s resuming request %s (its worker stopped mid-way)", self.cloud_label, request_id
            )
            return self._carry_out(req, journal, final_attempt)
        if req.state not in RUNNABLE:
            return DONE  # cancelled, expired or sent back meanwhile: nothing to run
        if (wait := self._in_window(req)) is not None:
            return wait
        approved = Decision.model_validate(req.decision)
        try:
            recheck, record = evaluate(req)
        except InvalidRequest as exc:
            # What it changes is no longer in the inventory (retired by another request since approval).
            self._stop(req, State.REJECTED, {"reason": exc.detail, "errors": exc.errors})
            return DONE
        revisions = {"before": approved.policy_revisions, "now": recheck.policy_revisions}
        if recheck.outcome == "rejected" or recheck.worse_than(approved):
            target = State.REJECTED if recheck.outcome == "rejected" else State.PENDING_APPROVAL
            data = {"decision": recheck.model_dump(), "opa": record, "revisions": revisions}
            self._stop(req, target, data, decision=recheck.model_dump())
            return DONE
        now = self.clock.now()
        with self.db.unit_of_work() as s:
            ledger.append(
                s, type="policy.rechecked", actor=SYSTEM, request_id=request_id,
                data={"decision_id": recheck.decision_id, "outcome": recheck.outcome, "revisions": revisions},
            )  # fmt: skip
            record_exemption_use(s, request_id, recheck)
            # Emergency changes skipped the usual approvals: once carried out, someone reviews them.
            emergency = req.envelope["change"]["type"] == "emergency"
            move(s, request_id=request_id, expected=req.state, target=State.EXECUTING, actor=SYSTEM, now=now,
                 values={"review": "pending"} if emergency else None,
                 data={"cloud": req.cloud, "worker": journal.worker}, event="execution.started")  # fmt: skip
        faults.point("executing")
        log.info("cloud=%s executing request %s", self.cloud_label, request_id)
        return self._carry_out(req, journal, final_attempt)

    def _carry_out(self, req: ChangeRequest, journal: Journal, final_attempt: bool) -> Release:
        try:
            with self.db.read() as s:
                before = before_states(s, req.envelope, started=True)
                gone, deleted = retired_meanwhile(s, req.envelope)
            result = self.executor.run(req.id, req.envelope, before, journal, final_attempt=final_attempt, gone=gone,
                                       deleted=deleted)  # fmt: skip
            self._finish(req, result)
        except (CloudUnavailable, LostClaim, DatabaseUnavailable):
            raise  # the worker decides: try again later, or leave it to the worker that took over
        except Exception as exc:
            log.exception("request %s: execution could not be completed or recorded", req.id)
            # Recorded as failed, the request is answered like any other outcome; only an unrecorded one raises.
            if not self._fail(req.id, f"execution could not be completed or recorded: {exc}"):
                raise
        return DONE

    def give_up(self, request_id: str, reason: str) -> None:
        """The worker's last word on a request whose execution kept failing: `failed`, with what its journal says
        was made in the inventory, so nothing it created is untracked."""
        with self.db.read() as s:
            req = repo.get_request(s, request_id=request_id)
            if req.state in RUNNABLE:  # it never got as far as the cloud
                with self.db.unit_of_work() as w:
                    move(w, request_id=request_id, expected=req.state, target=State.FAILED, actor=SYSTEM,
                         now=self.clock.now(), values={"error": reason}, data={"error": reason},
                         event="execution.failed", detail=reason)  # fmt: skip
                return
            if req.state != State.EXECUTING:
                return
            before = before_states(s, req.envelope, started=True)
            recorded = jobs.steps(s, request_id=request_id)
        plan = targets(request_id, req.envelope, before)
        done = []
        for i, (res, t) in enumerate(zip(req.envelope["resources"], plan, strict=True)):
            step = recorded.get(("apply", i))
            undone = recorded.get(("rollback", i))
            if step is not None and step.status == "done" and not (undone and undone.status == "done"):
                done.append(Done(i, res["type"], t.address, res["action"], str(step.resource_id), t))
        self._finish(req, Outcome(done=done, error=reason))

    def _in_window(self, req: ChangeRequest) -> Release | None:
        """None if it may run now. Before the window opens the request is `scheduled` and waits for the start;
        once the window has closed it is `expired`."""
        if req.window_start is None or req.window_end is None:
            return None
        now = self.clock.now()
        start, end = aware(req.window_start), aware(req.window_end)
        window = {"start": rfc3339(start), "end": rfc3339(end)}
        if now >= end:
            with self.db.unit_of_work() as s:
                move(s, request_id=req.id, expected=req.state, target=State.EXPIRED, actor=SYSTEM, now=now,
                     data={"reason": "the change window ended before the request could run", "window": window},
                     detail="the change window ended before the request could run")  # fmt: skip
            return DONE
        if now < start:
            if req.state == State.APPROVED:
                with self.db.unit_of_work() as s:
                    move(s, request_id=req.id, expected=State.APPROVED, target=State.SCHEDULED, actor=SYSTEM,
                         now=now, data={"window": window}, detail=f"scheduled for {window['start']}")  # fmt: skip
            return Release(done=False, not_before=start)
        return None

    def _stop(
        self, req: ChangeRequest, target: State, data: dict[str, Any], decision: dict[str, Any] | None = None
    ) -> None:
        """The re-check before execution stopped an approved request: back to approval, or rejected."""
        now = self.clock.now()
        values: dict[str, Any] = {}
        if decision is not None:
            values["decision"] = decision
        if target == State.PENDING_APPROVAL:
            # A new round: the votes given before covered what the policies asked then, not what they ask now.
            values["pending_since"] = now
            values["approval_round"] = req.approval_round + 1
        with self.db.unit_of_work() as s:
            ledger.append(
                s, type="policy.rechecked", actor=SYSTEM, request_id=req.id, data={**data, "stopped": True}
            )
            move(s, request_id=req.id, expected=req.state, target=target, actor=SYSTEM, now=now, values=values,
                 detail="the policy re-check before execution stopped it")  # fmt: skip

    def _finish(self, req: ChangeRequest, result: Outcome) -> None:
        now = self.clock.now()
        with self.db.unit_of_work() as s:
            for d in result.done:
                self._record_inventory(s, req, d)
            outputs = {d.address: {"id": d.resource_id, "action": d.action} for d in result.done}
            final = State.FAILED if result.error else State.SUCCEEDED
            move(
                s, request_id=req.id, expected=State.EXECUTING, target=final, actor=SYSTEM, now=now,
                values={"outputs": outputs, "error": result.error}, event=f"execution.{final}",
                data={"cloud": req.cloud, "outputs": outputs, "error": result.error, "rolled_back": result.rolled_back},
                detail=result.error,
            )  # fmt: skip

    def _fail(self, request_id: str, error: str) -> bool:
        """Best effort: never leave a request `executing` after an error we could see. False if it could not."""
        try:
            with self.db.unit_of_work() as s:
                move(s, request_id=request_id, expected=State.EXECUTING, target=State.FAILED, actor=SYSTEM,
                     now=self.clock.now(), values={"error": error}, data={"error": error},
                     event="execution.failed", detail=error)  # fmt: skip
        except Exception:
            log.exception("request %s could not be marked failed", request_id)
            return False
        return True

    def _record_inventory(self, s: Any, req: ChangeRequest, d: Done) -> None:
        t = d.target
        if d.action == "delete":
            row = repo.inventory_get(s, resource_id=d.resource_id)
            repo.inventory_retire(s, resource_id=d.resource_id)
            if row is not None:
                self._retire_origin(s, row.request_id, by=req.id)
            return
        monthly = self.catalog.monthly(d.rtype, t.region, t.properties)
        days = (req.envelope.get("lease") or {}).get("days")
        if d.action == "update":
            # Keeps what the creation recorded (its request); the properties are the merged whole. An update that
            # asks for a lease extends it (how a team keeps what a lease would retire).
            lease_end = self.clock.now() + timedelta(days=days) if days else None
            if lease_end is not None:
                self._cancel_retirement(s, resource_id=d.resource_id, by=req.id)
            repo.inventory_update(s, resource_id=d.resource_id, properties=t.properties, monthly_cost=monthly,
                                  lease_expires_at=lease_end)  # fmt: skip
            return
        repo.inventory_put(
            s,
            resource=InventoryResource(
                id=d.resource_id, type=d.rtype, address=d.address, team=req.team, environment=req.environment,
                region=t.region, cloud=req.cloud, properties=t.properties, request_id=req.id,
                monthly_cost=monthly, created_at=self.clock.now(),
                lease_expires_at=self.clock.now() + timedelta(days=days) if days else None,
            ),
        )  # fmt: skip

    def _cancel_retirement(self, s: Any, *, resource_id: str, by: str) -> None:
        """A lease extended by an update: the retirement its end filed, if still open, no longer applies."""
        row = repo.inventory_get(s, resource_id=resource_id)
        if row is None or row.retire_request_id is None:
            return
        retirement = repo.get_request(s, request_id=row.retire_request_id)
        if retirement.state in OPEN_STATES:
            move(s, request_id=retirement.id, expected=retirement.state, target=State.CANCELLED, actor=SYSTEM,
                 now=self.clock.now(), data={"reason": f"the lease was extended by request {by}"},
                 detail=f"the lease was extended by request {by}")  # fmt: skip

    def _retire_origin(self, s: Any, origin: str, *, by: str) -> None:
        """The request that created resources is `retired` once none of them is left (design section 7)."""
        # A request that failed with resources kept stays `failed`: only a success becomes `retired`.
        if repo.inventory_active_count(s, request_id=origin) > 0:
            return
        if repo.get_request(s, request_id=origin).state != State.SUCCEEDED:
            return
        move(s, request_id=origin, expected=State.SUCCEEDED, target=State.RETIRED, actor=SYSTEM,
             now=self.clock.now(), data={"by": by}, detail=f"its resources were deleted by {by}")  # fmt: skip
