"""Approval rules, first cut: group membership, no self-approval, every required group satisfied."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.domain.decision import RequiredApproval
from gateway.domain.identity import APPROVERS, Principal
from gateway.errors import Forbidden, InvalidRequest


@dataclass(frozen=True)
class Vote:
    principal: str
    group: str
    verdict: str


def group_for_vote(
    principal: Principal, requester: str, required: list[RequiredApproval], votes: list[Vote]
) -> RequiredApproval:
    """The required group this principal's vote counts for, or an error saying why it cannot vote."""
    if principal.id == requester:
        raise Forbidden("the requester cannot approve or reject their own request")
    if principal.role not in APPROVERS:
        raise Forbidden(f"role '{principal.role}' cannot approve; an approver or admin can")
    if any(v.principal == principal.id for v in votes):
        raise Forbidden(f"{principal.id} has already voted on this request")
    open_groups = [a for a in required if _approvals(a.group, votes) < a.count]
    for a in open_groups:
        if a.group in principal.groups:
            return a
    needed = ", ".join(a.group for a in open_groups) or "none"
    raise Forbidden(f"{principal.id} is not a member of a group whose approval is still needed ({needed})")


def check_comment(req: RequiredApproval, verdict: str, comment: str) -> None:
    if verdict == "reject" and not comment.strip():
        raise InvalidRequest(
            "a rejection needs a comment", errors=[{"pointer": "/comment", "detail": "required"}]
        )
    if req.override and verdict == "approve" and not comment.strip():
        raise InvalidRequest(
            "overriding a soft-mandatory violation needs a justification in the comment",
            errors=[{"pointer": "/comment", "detail": "justification required for an override"}],
        )


def _approvals(group: str, votes: list[Vote]) -> int:
    return sum(1 for v in votes if v.group == group and v.verdict == "approve")


def satisfied(required: list[RequiredApproval], votes: list[Vote]) -> bool:
    return all(_approvals(a.group, votes) >= a.count for a in required)
