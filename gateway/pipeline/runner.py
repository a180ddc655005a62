"""Runs the stages in order and owns every unit of work: a state change and its ledger events commit together."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import uuid
from collections.abc import Callable
from typing import Any

import rfc8785

from gateway.adapters.policy_source import PolicySource
from gateway.adapters.store import repositories as repo
from gateway.adapters.store.db import Database
from gateway.adapters.store.models import ChangeRequest, InventoryResource
from gateway.domain.cost import Catalog
from gateway.domain.decision import Decision
from gateway.domain.identity import Principal, Role
from gateway.domain.plan import build_input
from gateway.domain.states import State, check_transition
from gateway.errors import Conflict, DatabaseUnavailable, InvalidRequest, PolicyUnavailable
from gateway.ledger import ledger
from gateway.pipeline.context import before_states, plan_context
from gateway.pipeline.evaluate import Evaluator
from gateway.pipeline.execute import Done, Executor
from gateway.pipeline.validate import Validator

log = logging.getLogger("gateway.runner")
SYSTEM = "gateway"


def content_hash(envelope: dict[str, Any]) -> str:
    return "sha256:" + hashlib.sha256(rfc8785.dumps(envelope)).hexdigest()


def _record_exemption_use(s: Any, request_id: str, decision: Decision) -> None:
    """Every use of an exemption is on the ledger: which one, which violations it waived, under which decision."""
    used: dict[str, list[dict[str, Any]]] = {}
    for v in decision.exempted:
        used.setdefault(v.exemption or "", []).append(v.model_dump(exclude={"exemption"}))
    for exemption_id, waived in used.items():
        ledger.append(
            s, type="exemption.used", actor=SYSTEM, request_id=request_id,
            data={"exemption_id": exemption_id, "decision_id": decision.decision_id, "waived": waived},
        )  # fmt: skip


class Runner:
    def __init__(
        self,
        *,
        db: Database,
        validator: Validator,
        evaluator: Evaluator,
        executor: Executor,
        catalog: Catalog,
        source: Callable[[], PolicySource],
        cloud_label: str,
    ) -> None:
        self.db = db
        self.validator = validator
        self.evaluator = evaluator
        self.executor = executor
        self.catalog = catalog
        self.source = source
        self.cloud_label = cloud_label

    # -- stage 1 -------------------------------------------------------------------------------------------
    def _validated(self, body: Any, principal: Principal) -> tuple[dict[str, Any], dict[int, dict[str, Any]]]:
        try:
            envelope = self.validator.validate(body)
            before: dict[int, dict[str, Any]] = {}
            if any(r["action"] != "create" for r in envelope["resources"]):
                with self.db.read() as s:
                    before = before_states(s, envelope)
        except InvalidRequest as exc:
            with self.db.unit_of_work() as s:
                ledger.append(s, type="request.invalid", actor=principal.id, data={"errors": exc.errors})
            raise
        return envelope, before

    def submit(self, body: Any, principal: Principal) -> str:
        """Stores the request as `received` before policy runs, so an OPA outage loses nothing."""
        envelope, _ = self._validated(body, principal)
        rid = str(uuid.uuid4())
        with self.db.unit_of_work() as s:
            req = ChangeRequest(
                id=rid,
                title=envelope["title"],
                team=envelope["team"],
                environment=envelope["environment"],
                requester=principal.id,
                requester_groups=list(principal.groups),
                state=State.RECEIVED,
                cloud=self.cloud_label,
                envelope=envelope,
                content_hash=content_hash(envelope),
            )
            repo.add_request(s, request=req)
            ledger.append(
                s,
                type="request.submitted",
                actor=principal.id,
                request_id=rid,
                data={"request": envelope, "content_hash": req.content_hash, "cloud": self.cloud_label},
            )
        # The background retry (or another replica) may evaluate it first; either way the request goes on.
        with contextlib.suppress(Conflict):
            self.evaluate_received(rid)
        return rid

    # -- stage 2 -------------------------------------------------------------------------------------------
    def _evaluate(self, req: ChangeRequest) -> tuple[Decision, dict[str, Any]]:
        requester = Principal(req.requester, Role.REQUESTER, tuple(req.requester_groups))
        with self.db.read() as s:
            ctx = plan_context(
                s,
                envelope=req.envelope,
                request_id=req.id,
                requester=requester,
                submitted_at=req.created_at.isoformat().replace("+00:00", "Z"),
                catalog=self.catalog,
                source=self.source(),
            )
        input_doc = build_input(req.envelope, ctx)
        try:
            decision, record = self.evaluator.evaluate(input_doc, input_doc["exemptions"])
        except PolicyUnavailable as exc:
            with self.db.unit_of_work() as s:
                ledger.append(
                    s, type="policy.unavailable", actor=SYSTEM, request_id=req.id, data={"error": exc.detail}
                )
            raise PolicyUnavailable(exc.detail, request_id=req.id) from exc
        return decision, {**record, "input": input_doc}

    def evaluate_received(self, request_id: str) -> None:
        """Evaluates a `received` request (at submission, or again once the policy engine is back)."""
        with self.db.read() as s:
            req = repo.get_request(s, request_id=request_id)
        if req.state != State.RECEIVED:
            raise Conflict(f"request {request_id} was evaluated already (state '{req.state}')")
        decision, record = self._evaluate(req)
        outcome = State(decision.outcome)
        with self.db.unit_of_work() as s:
            repo.transition(
                s,
                request_id=request_id,
                expected=State.RECEIVED,
                values={
                    "state": outcome,
                    "decision": decision.model_dump(),
                    "cost_monthly": decision.cost.monthly,
                },
            )
            ledger.append(
                s,
                type="policy.evaluated",
                actor=SYSTEM,
                request_id=request_id,
                data={"decision": decision.model_dump(), "opa": record},
            )
            _record_exemption_use(s, request_id, decision)
            ledger.append(s, type=f"request.{outcome}", actor=SYSTEM, request_id=request_id, data={})
        if outcome == State.APPROVED:
            self.execute(request_id)

    def retry_received(self, limit: int = 50) -> int:
        """Finishes what an outage interrupted: evaluates `received` requests and executes `approved` ones
        (whose re-check could not run). Stops at the first sign OPA is still down."""
        with self.db.read() as s:
            work = [
                (rid, self.evaluate_received)
                for rid in repo.ids_in_state(s, state=State.RECEIVED, limit=limit)
            ]
            work += [(rid, self.execute) for rid in repo.ids_in_state(s, state=State.APPROVED, limit=limit)]
        done = 0
        for rid, step in work:
            try:
                step(rid)
                done += 1
            except Conflict:
                continue  # another request handler or replica got there first
            except (PolicyUnavailable, DatabaseUnavailable):
                break
            except Exception:
                log.exception("retrying request %s failed", rid)
        return done

    def dry_run(self, body: Any, principal: Principal) -> Decision:
        """POST /v1/evaluate: validate and evaluate; store nothing but one audit event."""
        envelope, _ = self._validated(body, principal)
        rid = "dry-run-" + str(uuid.uuid4())
        with self.db.read() as s:
            ctx = plan_context(
                s,
                envelope=envelope,
                request_id=rid,
                requester=principal,
                submitted_at=ledger.now_rfc3339(),
                catalog=self.catalog,
                source=self.source(),
            )
        input_doc = build_input(envelope, ctx)
        decision, record = self.evaluator.evaluate(input_doc, input_doc["exemptions"])
        with self.db.unit_of_work() as s:
            ledger.append(
                s,
                type="policy.dry_run",
                actor=principal.id,
                data={
                    "decision": decision.model_dump(),
                    "content_hash": content_hash(envelope),
                    "opa": record,
                },
            )
        return decision

    # -- stage 4 -------------------------------------------------------------------------------------------
    def execute(self, request_id: str) -> None:
        """Re-checks policy on the current revision, then calls the cloud. A worse outcome stops here."""
        with self.db.read() as s:
            req = repo.get_request(s, request_id=request_id)
        check_transition(req.state, State.EXECUTING)
        approved = Decision.model_validate(req.decision)
        try:
            recheck, record = self._evaluate(req)
            with self.db.read() as s:
                before = before_states(s, req.envelope)
        except InvalidRequest as exc:
            # What it changes is no longer in the inventory (retired by another request since approval).
            self._stop(request_id, State.REJECTED, {"reason": exc.detail, "errors": exc.errors})
            return
        revisions = {"before": approved.policy_revisions, "now": recheck.policy_revisions}
        if recheck.outcome == "rejected" or recheck.worse_than(approved):
            target = State.REJECTED if recheck.outcome == "rejected" else State.PENDING_APPROVAL
            data = {"decision": recheck.model_dump(), "opa": record, "revisions": revisions}
            self._stop(request_id, target, data, decision=recheck.model_dump())
            return
        with self.db.unit_of_work() as s:
            repo.transition(
                s, request_id=request_id, expected=State.APPROVED, values={"state": State.EXECUTING}
            )
            ledger.append(
                s, type="policy.rechecked", actor=SYSTEM, request_id=request_id,
                data={"decision_id": recheck.decision_id, "outcome": recheck.outcome, "revisions": revisions},
            )  # fmt: skip
            _record_exemption_use(s, request_id, recheck)
            ledger.append(
                s, type="execution.started", actor=SYSTEM, request_id=request_id, data={"cloud": req.cloud}
            )
        log.info("cloud=%s executing request %s", self.cloud_label, request_id)
        try:
            result = self.executor.run(request_id, req.envelope, before)
            self._finish(req, result)
        except Exception as exc:
            log.exception("request %s: execution could not be completed or recorded", request_id)
            self._fail(request_id, f"execution could not be completed or recorded: {exc}")
            raise

    def _stop(
        self, request_id: str, target: State, data: dict[str, Any], decision: dict[str, Any] | None = None
    ) -> None:
        """The re-check before execution stopped an approved request: back to approval, or rejected."""
        values: dict[str, Any] = {"state": target}
        if decision is not None:
            values["decision"] = decision
        with self.db.unit_of_work() as s:
            repo.transition(s, request_id=request_id, expected=State.APPROVED, values=values)
            ledger.append(
                s,
                type="policy.rechecked",
                actor=SYSTEM,
                request_id=request_id,
                data={**data, "stopped": True},
            )
            ledger.append(s, type=f"request.{target}", actor=SYSTEM, request_id=request_id, data={})

    def _finish(self, req: ChangeRequest, result: Any) -> None:
        with self.db.unit_of_work() as s:
            for call in result.calls:
                ledger.append(s, type="cloud.call", actor=SYSTEM, request_id=req.id, data=call.as_dict())
            for d in result.done:
                self._record_inventory(s, req, d)
            outputs = {d.address: {"id": d.resource_id, "action": d.action} for d in result.done}
            final = State.FAILED if result.error else State.SUCCEEDED
            repo.transition(
                s, request_id=req.id, expected=State.EXECUTING,
                values={"state": final, "outputs": outputs, "error": result.error},
            )  # fmt: skip
            ledger.append(
                s, type=f"execution.{final}", actor=SYSTEM, request_id=req.id,
                data={"cloud": req.cloud, "outputs": outputs, "error": result.error, "rolled_back": result.rolled_back},
            )  # fmt: skip

    def _fail(self, request_id: str, error: str) -> None:
        """Best effort: never leave a request `executing` after an error we could see."""
        try:
            with self.db.unit_of_work() as s:
                repo.transition(
                    s,
                    request_id=request_id,
                    expected=State.EXECUTING,
                    values={"state": State.FAILED, "error": error},
                )
                ledger.append(
                    s, type="execution.failed", actor=SYSTEM, request_id=request_id, data={"error": error}
                )
        except Exception:
            log.exception("request %s could not be marked failed", request_id)

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
