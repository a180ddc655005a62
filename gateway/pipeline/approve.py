"""Stage 3: votes and cancellation. Racing writers are settled by row locks and compare-and-set transitions."""

from __future__ import annotations

from gateway.adapters.store import repositories as repo
from gateway.adapters.store.db import Database
from gateway.adapters.store.models import Approval
from gateway.domain import approvals
from gateway.domain.decision import Decision
from gateway.domain.identity import Principal, Role
from gateway.domain.states import OPEN_STATES, State
from gateway.errors import Conflict, Forbidden, InvalidRequest
from gateway.ledger import ledger


def vote(db: Database, *, request_id: str, principal: Principal, verdict: str, comment: str) -> State:
    """Records one vote; returns the request's state afterwards (approved means: execute it now)."""
    if verdict not in ("approve", "reject"):
        raise InvalidRequest(
            "verdict must be approve or reject", errors=[{"pointer": "/verdict", "detail": verdict}]
        )
    with db.unit_of_work() as s:
        req = repo.get_request(s, request_id=request_id, lock=True)
        if req.state != State.PENDING_APPROVAL:
            raise Conflict(
                f"request {request_id} is '{req.state}', not waiting for approval", state=req.state
            )
        decision = Decision.model_validate(req.decision)
        prior = [
            approvals.Vote(v.principal, v.group, v.verdict)
            for v in repo.votes(s, request_id=request_id, content_hash=req.content_hash)
        ]
        required = approvals.group_for_vote(principal, req.requester, decision.required_approvals, prior)
        approvals.check_comment(required, verdict, comment)
        repo.add_vote(
            s,
            vote=Approval(
                request_id=request_id, principal=principal.id, group=required.group, verdict=verdict,
                comment=comment, content_hash=req.content_hash,
            ),
        )  # fmt: skip
        ledger.append(
            s, type="approval.recorded", actor=principal.id, request_id=request_id,
            data={"group": required.group, "verdict": verdict, "comment": comment, "content_hash": req.content_hash,
                  "override": required.override},
        )  # fmt: skip
        votes = [*prior, approvals.Vote(principal.id, required.group, verdict)]
        if verdict == "reject":
            new_state = State.REJECTED
        elif approvals.satisfied(decision.required_approvals, votes):
            new_state = State.APPROVED
        else:
            return State.PENDING_APPROVAL
        repo.transition(
            s, request_id=request_id, expected=State.PENDING_APPROVAL, values={"state": new_state}
        )
        ledger.append(s, type=f"request.{new_state}", actor=principal.id, request_id=request_id, data={})
    return new_state


def cancel(db: Database, *, request_id: str, principal: Principal) -> None:
    with db.unit_of_work() as s:
        req = repo.get_request(s, request_id=request_id, lock=True)
        if principal.id != req.requester and principal.role != Role.ADMIN:
            raise Forbidden("only the requester (or an admin) can cancel a request")
        if req.state not in OPEN_STATES:
            raise Conflict(
                f"request {request_id} is '{req.state}' and can no longer be cancelled", state=req.state
            )
        repo.transition(s, request_id=request_id, expected=req.state, values={"state": State.CANCELLED})
        ledger.append(s, type="request.cancelled", actor=principal.id, request_id=request_id, data={})
