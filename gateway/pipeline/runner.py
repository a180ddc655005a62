"""Runs the stages in order and owns every unit of work: a state change and its ledger events commit together."""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Callable
from typing import Any

from sqlmodel import Session

from gateway.adapters.policy_source import PolicySource
from gateway.adapters.store import messaging
from gateway.adapters.store import repositories as repo
from gateway.adapters.store.db import Database
from gateway.adapters.store.models import ChangeRequest, ItsmLink
from gateway.domain.clock import Clock, rfc3339
from gateway.domain.cost import Catalog
from gateway.domain.decision import Decision
from gateway.domain.identity import Principal, Role, check_team
from gateway.domain.plan import build_input
from gateway.domain.states import AMENDABLE_STATES, State
from gateway.domain.windows import check_window, window_of
from gateway.errors import Conflict, Forbidden, InvalidRequest, PolicyUnavailable
from gateway.ledger import ledger
from gateway.pipeline import outbox
from gateway.pipeline.context import before_states, plan_context
from gateway.pipeline.evaluate import Evaluator
from gateway.pipeline.execute import Executor
from gateway.pipeline.execution import Execution
from gateway.pipeline.recording import SYSTEM, content_hash, record_exemption_use
from gateway.pipeline.transitions import move
from gateway.pipeline.validate import Validator

log = logging.getLogger("gateway.runner")


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
        clock: Clock,
    ) -> None:
        self.db = db
        self.validator = validator
        self.evaluator = evaluator
        self.executor = executor
        self.catalog = catalog
        self.source = source
        self.cloud_label = cloud_label
        self.clock = clock
        self.execution = Execution(
            db=db, executor=executor, catalog=catalog, clock=clock, cloud_label=cloud_label
        )
        # Set by the composition root: runs a just-approved request's job right away (GATEWAY_EXECUTE_INLINE).
        self.execute_now: Callable[[str], bool] | None = None

    # -- stage 1 -------------------------------------------------------------------------------------------
    def _validated(self, body: Any, principal: Principal) -> dict[str, Any]:
        try:
            envelope = self.validator.validate(body)
            check_window(envelope, self.clock.now())
            if any(r["action"] != "create" for r in envelope["resources"]):
                with self.db.read() as s:
                    before_states(s, envelope)
        except InvalidRequest as exc:
            with self.db.unit_of_work() as s:
                ledger.append(s, type="request.invalid", actor=principal.id, data={"errors": exc.errors})
            raise
        check_team(principal, envelope["team"])
        return envelope

    @staticmethod
    def _columns(envelope: dict[str, Any]) -> dict[str, Any]:
        """The request's columns that follow from its content (set at submission and on amendment)."""
        window = window_of(envelope)
        return {
            "title": envelope["title"],
            "team": envelope["team"],
            "environment": envelope["environment"],
            "envelope": envelope,
            "content_hash": content_hash(envelope),
            "window_start": window[0] if window else None,
            "window_end": window[1] if window else None,
        }

    def submit(
        self,
        body: Any,
        principal: Principal,
        *,
        on_behalf_of: str | None = None,
        link: ItsmLink | None = None,
        envelope: dict[str, Any] | None = None,
        on_stored: Callable[[Session, str], None] | None = None,
    ) -> str:
        """Stores the request as `received` before policy runs, so an OPA outage loses nothing. An ITSM link, and
        whatever `on_stored` writes (an Idempotency-Key's binding), commit in the same transaction."""
        envelope = envelope or self._validated(body, principal)
        rid = str(uuid.uuid4())
        now = self.clock.now()
        with self.db.unit_of_work() as s:
            req = ChangeRequest(
                id=rid, requester=principal.id, requester_groups=list(principal.groups), on_behalf_of=on_behalf_of,
                state=State.RECEIVED, cloud=self.cloud_label, created_at=now, updated_at=now,
                **self._columns(envelope),
            )  # fmt: skip
            repo.add_request(s, request=req)
            if link is not None:
                link.request_id = rid
                messaging.add_link(s, link=link)
            if on_stored is not None:
                on_stored(s, rid)
            ledger.append(
                s, type="request.submitted", actor=principal.id, request_id=rid,
                data={"request": envelope, "content_hash": req.content_hash, "cloud": self.cloud_label,
                      "on_behalf_of": on_behalf_of},
            )  # fmt: skip
            outbox.notify(s, event_type="request.submitted", request_id=rid, now=now)
        # The background retry (or another replica) may evaluate it first; either way the request goes on.
        with contextlib.suppress(Conflict):
            self.evaluate_received(rid)
        return rid

    def validated(self, body: Any, principal: Principal) -> dict[str, Any]:
        """Stage 1 alone, for callers that need the envelope before submitting (ITSM links)."""
        return self._validated(body, principal)

    def amend(self, request_id: str, body: Any, principal: Principal) -> bool:
        """Replaces the content of a request that is not approved yet. Votes are bound to the old content hash,
        so they stop counting; policy runs again. Returns False when the content did not change."""
        envelope = self._validated(body, principal)
        columns = self._columns(envelope)
        now = self.clock.now()
        with self.db.unit_of_work() as s:
            req = repo.get_request(s, request_id=request_id, lock=True)
            if principal.id != req.requester:
                # Not even an admin: whoever writes the content must stay barred from approving it.
                raise Forbidden("only the requester can amend a request")
            if req.state not in AMENDABLE_STATES:
                raise Conflict(
                    f"request {request_id} is '{req.state}'; a request can be amended only before it is approved",
                    state=req.state,
                )
            if columns["content_hash"] == req.content_hash:
                return False
            previous, state = req.content_hash, req.state
            voided = len(repo.votes(s, request=req))
            # A new round too: amending back to earlier content must not bring that content's votes back.
            values = {**columns, "decision": None, "cost_monthly": 0.0, "pending_since": None,
                      "approval_round": req.approval_round + 1}  # fmt: skip
            data = {"request": envelope, "previous_hash": previous, "content_hash": columns["content_hash"],
                    "votes_voided": voided}  # fmt: skip
            move(s, request_id=request_id, expected=state, target=State.RECEIVED, actor=principal.id, now=now,
                 values=values, data=data, event="request.amended")  # fmt: skip
        with contextlib.suppress(Conflict):
            self.evaluate_received(request_id)
        return True

    # -- stage 2 -------------------------------------------------------------------------------------------
    def evaluate_stored(self, req: ChangeRequest) -> tuple[Decision, dict[str, Any]]:
        requester = Principal(req.requester, Role.REQUESTER, tuple(req.requester_groups))
        source = self.source()  # one look at the policy files for the context and the decision
        with self.db.read() as s:
            ctx = plan_context(
                s,
                envelope=req.envelope,
                request_id=req.id,
                requester=requester,
                submitted_at=rfc3339(req.created_at),
                catalog=self.catalog,
                source=source,
                now=self.clock.now(),
            )
        input_doc = build_input(req.envelope, ctx)
        try:
            decision, record = self.evaluator.evaluate(input_doc, input_doc["exemptions"], source=source)
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
        try:
            decision, record = self.evaluate_stored(req)
        except InvalidRequest as exc:
            # Accepted while OPA was down, and what it changes has left the inventory since: it can never pass.
            with self.db.unit_of_work() as s:
                move(s, request_id=request_id, expected=State.RECEIVED, target=State.REJECTED, actor=SYSTEM,
                     now=self.clock.now(), data={"reason": exc.detail, "errors": exc.errors}, detail=exc.detail,
                     content_hash=req.content_hash)  # fmt: skip
            return
        outcome = State(decision.outcome)
        now = self.clock.now()
        with self.db.unit_of_work() as s:
            ledger.append(
                s,
                type="policy.evaluated",
                actor=SYSTEM,
                request_id=request_id,
                data={"decision": decision.model_dump(), "opa": record},
            )
            record_exemption_use(s, request_id, decision)
            values = {"decision": decision.model_dump(), "cost_monthly": decision.cost.monthly}
            if outcome == State.PENDING_APPROVAL:
                values["pending_since"] = now
            # Only if the content is still what was evaluated: an amendment meanwhile gets its own evaluation.
            move(s, request_id=request_id, expected=State.RECEIVED, target=outcome, actor=SYSTEM, now=now,
                 values=values, content_hash=req.content_hash)  # fmt: skip
        if outcome == State.APPROVED:
            self.execute(request_id)

    def dry_run(
        self, body: Any, principal: Principal, *, cloud_check: bool = False
    ) -> tuple[Decision, dict[str, Any] | None]:
        """POST /v1/evaluate: validate and evaluate; store nothing but one audit event. With cloud_check, also ask
        the cloud (EC2 DryRun, name and existence checks) whether each call would succeed."""
        envelope = self._validated(body, principal)
        rid = "dry-run-" + str(uuid.uuid4())
        source = self.source()  # one look at the policy files for the context and the decision
        with self.db.read() as s:
            ctx = plan_context(
                s,
                envelope=envelope,
                request_id=rid,
                requester=principal,
                submitted_at=ledger.now_rfc3339(),
                catalog=self.catalog,
                source=source,
                now=self.clock.now(),
            )
        input_doc = build_input(envelope, ctx)
        decision, record = self.evaluator.evaluate(input_doc, input_doc["exemptions"], source=source)
        cloud = self.executor.preflight(rid, envelope, ctx.before) if cloud_check else None
        with self.db.unit_of_work() as s:
            ledger.append(
                s,
                type="policy.dry_run",
                actor=principal.id,
                data={
                    "decision": decision.model_dump(),
                    "content_hash": content_hash(envelope),
                    "opa": record,
                    **({"cloud_dry_run": cloud} if cloud is not None else {}),
                },
            )
        return decision, cloud

    # -- stage 4 -------------------------------------------------------------------------------------------
    def execute(self, request_id: str) -> None:
        """An approved request is in the execution queue already (queued with its approval); with inline execution
        on, this worker claims and runs it now instead of leaving it to the next poll."""
        if self.execute_now is not None:
            self.execute_now(request_id)
