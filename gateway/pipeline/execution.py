"""Stage 4: an approved request waits for its change window, is re-checked against the current policies, then
carried out in the cloud. Every step is a compare-and-set transition, so two workers never run one request."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from gateway.adapters.store import repositories as repo
from gateway.adapters.store.db import Database
from gateway.adapters.store.models import ChangeRequest, InventoryResource
from gateway.domain.clock import Clock, aware, rfc3339
from gateway.domain.cost import Catalog
from gateway.domain.decision import Decision
from gateway.domain.states import State
from gateway.errors import Conflict, InvalidRequest
from gateway.ledger import ledger
from gateway.pipeline.context import before_states
from gateway.pipeline.execute import Done, Executor, Outcome
from gateway.pipeline.recording import SYSTEM, record_exemption_use
from gateway.pipeline.transitions import move

log = logging.getLogger("gateway.execution")

Evaluate = Callable[[ChangeRequest], tuple[Decision, dict[str, Any]]]
RUNNABLE = (State.APPROVED, State.SCHEDULED)


class Execution:
    def __init__(
        self, *, db: Database, executor: Executor, catalog: Catalog, clock: Clock, cloud_label: str
    ) -> None:
        self.db = db
        self.executor = executor
        self.catalog = catalog
        self.clock = clock
        self.cloud_label = cloud_label

    def run(self, request_id: str, evaluate: Evaluate) -> None:
        with self.db.read() as s:
            req = repo.get_request(s, request_id=request_id)
        if req.state not in RUNNABLE:
            raise Conflict(f"request {request_id} is '{req.state}', not approved", state=req.state)
        if not self._in_window(req):
            return
        approved = Decision.model_validate(req.decision)
        try:
            recheck, record = evaluate(req)
            with self.db.read() as s:
                before = before_states(s, req.envelope)
        except InvalidRequest as exc:
            # What it changes is no longer in the inventory (retired by another request since approval).
            self._stop(req, State.REJECTED, {"reason": exc.detail, "errors": exc.errors})
            return
        revisions = {"before": approved.policy_revisions, "now": recheck.policy_revisions}
        if recheck.outcome == "rejected" or recheck.worse_than(approved):
            target = State.REJECTED if recheck.outcome == "rejected" else State.PENDING_APPROVAL
            data = {"decision": recheck.model_dump(), "opa": record, "revisions": revisions}
            self._stop(req, target, data, decision=recheck.model_dump())
            return
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
                 values={"review": "pending"} if emergency else None, data={"cloud": req.cloud},
                 event="execution.started")  # fmt: skip
        log.info("cloud=%s executing request %s", self.cloud_label, request_id)
        try:
            result = self.executor.run(request_id, req.envelope, before)
            self._finish(req, result)
        except Exception as exc:
            log.exception("request %s: execution could not be completed or recorded", request_id)
            # Recorded as failed, the request is answered like any other outcome; only an unrecorded one raises.
            if not self._fail(request_id, f"execution could not be completed or recorded: {exc}"):
                raise

    def _in_window(self, req: ChangeRequest) -> bool:
        """Before the window opens the request is `scheduled`; once it has closed, `expired`."""
        if req.window_start is None or req.window_end is None:
            return True
        now = self.clock.now()
        start, end = aware(req.window_start), aware(req.window_end)
        window = {"start": rfc3339(start), "end": rfc3339(end)}
        if now >= end:
            with self.db.unit_of_work() as s:
                move(s, request_id=req.id, expected=req.state, target=State.EXPIRED, actor=SYSTEM, now=now,
                     data={"reason": "the change window ended before the request could run", "window": window},
                     detail="the change window ended before the request could run")  # fmt: skip
            return False
        if now < start:
            if req.state == State.APPROVED:
                with self.db.unit_of_work() as s:
                    move(s, request_id=req.id, expected=State.APPROVED, target=State.SCHEDULED, actor=SYSTEM,
                         now=now, data={"window": window}, detail=f"scheduled for {window['start']}")  # fmt: skip
            return False
        return True

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
            for call in result.calls:
                ledger.append(s, type="cloud.call", actor=SYSTEM, request_id=req.id, data=call.as_dict())
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
        if d.action == "delete":
            repo.inventory_retire(s, resource_id=d.resource_id)
            return
        t = d.target
        repo.inventory_put(
            s,
            resource=InventoryResource(
                id=d.resource_id, type=d.rtype, address=d.address, team=req.team, environment=req.environment,
                region=t.region, cloud=req.cloud, properties=t.properties, request_id=req.id,
                monthly_cost=self.catalog.monthly(d.rtype, t.region, t.properties),
            ),
        )  # fmt: skip
