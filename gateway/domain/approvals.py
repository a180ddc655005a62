"""Approval rules: who may vote, for which group, and when a request's approvals are complete.

- Required approvals come from policy (group, count, reason); each group needs its own quorum.
- One live vote per person; the requester (and whoever an integration submitted for) never votes.
- One person's vote counts for one group, unless policy marked every group involved `shared`.
- A vote is bound to the request's content hash and counts only until it expires.
- Any rejection rejects, and needs a comment; overriding a soft-mandatory violation needs a justification.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from gateway.domain.decision import RequiredApproval
from gateway.domain.identity import APPROVERS, Principal, is_one_of
from gateway.errors import Forbidden, InvalidRequest


@dataclass(frozen=True)
class Vote:
    principal: str
    group: str
    verdict: str
    at: datetime


def live(votes: list[Vote], *, now: datetime, expiry: timedelta) -> list[Vote]:
    """The votes that still count: an approval older than the expiry is void."""
    return [v for v in votes if now - v.at < expiry]


def approvals_for(group: str, votes: list[Vote]) -> int:
    return sum(1 for v in votes if v.group == group and v.verdict == "approve")


def open_groups(required: list[RequiredApproval], votes: list[Vote]) -> list[RequiredApproval]:
    return [a for a in required if approvals_for(a.group, votes) < a.count]


def satisfied(required: list[RequiredApproval], votes: list[Vote]) -> bool:
    return not open_groups(required, votes)


def groups_for_vote(
    principal: Principal,
    *,
    requesters: set[str],
    required: list[RequiredApproval],
    votes: list[Vote],
    verdict: str,
    group: str | None = None,
) -> list[RequiredApproval]:
    """The required groups this principal's vote counts for (first one first), or an error saying why it cannot
    vote. `votes` are the live votes on the request's current content."""
    if is_one_of(principal, set(requesters)):
        raise Forbidden("the requester cannot approve or reject their own request")
    if principal.role not in APPROVERS:
        raise Forbidden(f"role '{principal.role}' cannot approve; an approver or admin can")
    if any(v.principal == principal.id for v in votes):
        raise Forbidden(f"{principal.id} has already voted on this request")
    # A rejection may come from any member of a required group; an approval only where one is still missing.
    candidates = required if verdict == "reject" else open_groups(required, votes)
    mine = [a for a in candidates if a.group in principal.groups]
    if group is not None:
        # The chosen group first; the others stay eligible for sharing.
        mine = sorted(mine, key=lambda a: a.group != group)
    if not mine or (group is not None and mine[0].group != group):
        needed = ", ".join(a.group for a in candidates) or "none"
        raise Forbidden(
            f"{principal.id} is not a member of a group whose approval is still needed ({needed})"
        )
    first = mine[0]
    if verdict == "reject" or not first.shared:
        return [first]
    # Separation of duties: one person satisfies several groups only where policy said each may be shared.
    return [first, *(a for a in mine[1:] if a.shared)]


def check_comment(groups: list[RequiredApproval], verdict: str, comment: str) -> None:
    if verdict == "reject" and not comment.strip():
        raise InvalidRequest(
            "a rejection needs a comment", errors=[{"pointer": "/comment", "detail": "required"}]
        )
    if verdict == "approve" and any(a.override for a in groups) and not comment.strip():
        raise InvalidRequest(
            "overriding a soft-mandatory violation needs a justification in the comment",
            errors=[{"pointer": "/comment", "detail": "justification required for an override"}],
        )
