"""Stage 3: votes, cancellation, expiry and the review after an emergency change. Racing writers are settled by
the row lock on the request and compare-and-set transitions."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session

from gateway.adapters.store import repositories as repo
from gateway.adapters.store.db import Database
from gateway.adapters.store.models import Approval, ChangeRequest
from gateway.domain import approvals
from gateway.domain.clock import Clock, aware
from gateway.domain.decision import Decision
from gateway.domain.identity import APPROVERS, Principal, check_owner, is_one_of
from gateway.domain.states import OPEN_STATES, State
from gateway.errors import Conflict, Forbidden, InvalidRequest
from gateway.ledger import ledger
from gateway.pipeline import outbox
from gateway.pipeline.transitions import move


def live_votes(s: Session, req: ChangeRequest, *, now: datetime, expiry: timedelta) -> list[approvals.Vote]:
    """Votes on the request's current content that have not expired."""
    rows = repo.votes(s, request=req)
    votes = [approvals.Vote(v.principal, v.group, v.verdict, aware(v.created_at)) for v in rows]
    return approvals.live(votes, now=now, expiry=expiry)


def _check_seen(req: ChangeRequest, content_hash: str | None, approval_round: int | None) -> None:
    """A vote is for what its approver looked at: refused if the content was amended, or the request was sent
    back for approval, since."""
    changed = []
    if content_hash is not None and content_hash != req.content_hash:
        changed.append(
            {"pointer": "/content_hash", "detail": f"the request's content is now {req.content_hash}"}
        )
    if approval_round is not None and approval_round != req.approval_round:
        changed.append(
            {"pointer": "/approval_round", "detail": f"the approval round is now {req.approval_round}"}
        )
    if changed:
        raise Conflict(
            f"request {req.id} was amended or sent back for approval after you looked at it: review it again",
            errors=changed, state=req.state,
        )  # fmt: skip


class Approvals:
    def __init__(self, *, db: Database, clock: Clock, vote_expiry: timedelta) -> None:
        self.db = db
        self.clock = clock
        self.vote_expiry = vote_expiry

    def vote(
        self,
        *,
        request_id: str,
        principal: Principal,
        verdict: str,
        comment: str,
        group: str | None = None,
        content_hash: str | None = None,
        approval_round: int | None = None,
    ) -> State:
        """Records one vote; returns the request's state afterwards (approved means: execute it now)."""
        if verdict not in ("approve", "reject"):
            raise InvalidRequest(
                "verdict must be approve or reject", errors=[{"pointer": "/verdict", "detail": verdict}]
            )
        now = self.clock.now()
        with self.db.unit_of_work() as s:
            req = repo.get_request(s, request_id=request_id, lock=True)
            if req.state != State.PENDING_APPROVAL:
                raise Conflict(
                    f"request {request_id} is '{req.state}', not waiting for approval", state=req.state
                )
            _check_seen(req, content_hash, approval_round)
            decision = Decision.model_validate(req.decision)
            prior = live_votes(s, req, now=now, expiry=self.vote_expiry)
            requesters = {req.requester} | ({req.on_behalf_of} if req.on_behalf_of else set())
            groups = approvals.groups_for_vote(
                principal, requesters=requesters, required=decision.required_approvals, votes=prior,
                verdict=verdict, group=group,
            )  # fmt: skip
            approvals.check_comment(groups, verdict, comment)
            for g in groups:
                repo.add_vote(
                    s,
                    vote=Approval(
                        request_id=request_id, principal=principal.id, group=g.group, verdict=verdict,
                        comment=comment, content_hash=req.content_hash, round=req.approval_round, created_at=now,
                    ),
                )  # fmt: skip
            data = {"groups": [g.group for g in groups], "verdict": verdict, "comment": comment,
                    "content_hash": req.content_hash, "override": any(g.override for g in groups),
                    "expires_at": (now + self.vote_expiry).isoformat()}  # fmt: skip
            ledger.append(s, type="approval.recorded", actor=principal.id, request_id=request_id, data=data)
            outbox.notify(
                s, event_type="approval.recorded", request_id=request_id, now=now,
                data={"approval": {"principal": principal.id, **data}},
            )  # fmt: skip
            votes = [*prior, *(approvals.Vote(principal.id, g.group, verdict, now) for g in groups)]
            if verdict == "reject":
                new_state = State.REJECTED
            elif approvals.satisfied(decision.required_approvals, votes):
                new_state = State.APPROVED
            else:
                return State.PENDING_APPROVAL
            detail = f"{verdict} by {principal.id}: {comment}" if comment else None
            move(s, request_id=request_id, expected=State.PENDING_APPROVAL, target=new_state,
                 actor=principal.id, now=now, detail=detail)  # fmt: skip
        return new_state

    def cancel(self, *, request_id: str, principal: Principal) -> None:
        with self.db.unit_of_work() as s:
            req = repo.get_request(s, request_id=request_id, lock=True)
            check_owner(principal, req.requester, "cancel")
            if req.state not in OPEN_STATES:
                raise Conflict(
                    f"request {request_id} is '{req.state}' and can no longer be cancelled", state=req.state
                )
            move(s, request_id=request_id, expected=req.state, target=State.CANCELLED, actor=principal.id,
                 now=self.clock.now(), detail=f"cancelled by {principal.id}")  # fmt: skip

    def expire(self, *, request_id: str, reason: str, seen_since: datetime | None) -> None:
        """A request waited too long for approval, or its change window closed first. `seen_since` is the
        pending_since the scheduler judged it by: if a vote approved it, or an amendment restarted the wait,
        since then, nothing expires."""
        with self.db.unit_of_work() as s:
            req = repo.get_request(s, request_id=request_id, lock=True)
            if req.state != State.PENDING_APPROVAL or req.pending_since != seen_since:
                raise Conflict(
                    f"request {request_id} changed since it was found due to expire", state=req.state
                )
            move(s, request_id=request_id, expected=State.PENDING_APPROVAL, target=State.EXPIRED, actor="gateway",
                 now=self.clock.now(), data={"reason": reason}, detail=reason)  # fmt: skip

    def review(self, *, request_id: str, principal: Principal, comment: str) -> None:
        """The post-implementation review of an emergency change, by an approver other than the requester."""
        if not comment.strip():
            raise InvalidRequest(
                "a review needs a comment", errors=[{"pointer": "/comment", "detail": "required"}]
            )
        now = self.clock.now()
        with self.db.unit_of_work() as s:
            req = repo.get_request(s, request_id=request_id, lock=True)
            if principal.role not in APPROVERS:
                raise Forbidden(f"role '{principal.role}' cannot review changes; an approver or admin can")
            if is_one_of(principal, {req.requester, req.on_behalf_of}):
                raise Forbidden("the requester cannot review their own change")
            if req.review != "pending":
                raise Conflict(f"request {request_id} has no review pending", state=req.state)
            if req.state not in (State.SUCCEEDED, State.FAILED):
                raise Conflict(
                    f"request {request_id} is '{req.state}'; it is reviewed after implementation",
                    state=req.state,
                )
            repo.set_review(s, request_id=request_id, review="done")
            data = {"comment": comment, "reviewer": principal.id}
            ledger.append(s, type="review.completed", actor=principal.id, request_id=request_id, data=data)
            outbox.notify(
                s, event_type="review.completed", request_id=request_id, now=now, data={"review": data}
            )
