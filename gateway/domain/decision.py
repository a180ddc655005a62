"""The policy decision (design section 8), derived from each policy set's deny / warn / require_approval."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field

from gateway.domain.exemptions import covers
from gateway.domain.policy_sets import ENFORCEMENTS, PolicySet

Outcome = Literal["rejected", "pending_approval", "approved"]


class Violation(BaseModel):
    set: str
    rule: str
    msg: str
    enforcement: str
    address: str | None = None
    # The exemption that waived this violation (only in Decision.exempted).
    exemption: str | None = None

    @property
    def key(self) -> tuple[str, str, str | None, str | None]:
        """What makes two violations the same finding. Rules without an id (conftest-style string messages, whose
        rule is the set's name) are told apart by their message; rules with one are not, so a changed wording is
        not a new finding."""
        return (self.set, self.rule, self.address, self.msg if self.rule == self.set else None)


class RequiredApproval(BaseModel):
    group: str
    count: int = 1
    reason: str
    # Set when the approval overrides a soft-mandatory violation: the approver must give a justification.
    override: bool = False
    # Policy allows one person's vote to count for this group and another shared group of the same request.
    shared: bool = False
    # An expedited path (emergency changes: the ECAB): when policy asks for one, it replaces every other approval.
    expedite: bool = False


class Cost(BaseModel):
    monthly: float
    delta_monthly: float = 0.0
    currency: str = "USD"


class Decision(BaseModel):
    outcome: Outcome
    violations: list[Violation] = Field(default_factory=list)
    warnings: list[Violation] = Field(default_factory=list)
    # Violations an active exemption waived: recorded, not enforced.
    exempted: list[Violation] = Field(default_factory=list)
    required_approvals: list[RequiredApproval] = Field(default_factory=list)
    cost: Cost
    policy_revisions: dict[str, str] = Field(default_factory=dict)
    # OPA's decision_id for the one query that evaluated every set.
    decision_id: str

    def worse_than(self, other: Decision) -> bool:
        """True when this decision asks for more than `other` did (the re-check before execution): rejected now,
        a group that must approve (again, or more often, or now to override), or a violation not there before."""
        if self.outcome == "rejected":
            return other.outcome != "rejected"
        theirs = {a.group: a for a in other.required_approvals}
        for a in self.required_approvals:
            had = theirs.get(a.group)
            if had is None or a.count > had.count or (a.override and not had.override):
                return True
            if had.shared and not a.shared:  # one person's vote may no longer cover this group and another
                return True
        seen = {v.key for v in other.violations}
        return any(v.key not in seen for v in self.violations)


@dataclass(frozen=True)
class SetResult:
    """One policy set's answer as OPA gave it."""

    policy_set: PolicySet
    result: dict[str, Any]
    revision: str


def _messages(items: Any) -> list[dict[str, Any]]:
    """conftest conventions: a set of strings, or of objects with `msg`."""
    out: list[dict[str, Any]] = []
    for item in items or []:
        if isinstance(item, str):
            out.append({"msg": item})
        elif isinstance(item, dict) and "msg" in item:
            out.append(item)
        else:
            out.append({"msg": str(item)})
    return out


def _violation(ps: PolicySet, item: dict[str, Any], default: str) -> Violation:
    enforcement = item.get("enforcement", default)
    if enforcement not in ENFORCEMENTS:
        enforcement = default
    return Violation(
        set=ps.name,
        rule=str(item.get("rule") or item.get("id") or ps.name),
        msg=str(item["msg"]),
        enforcement=enforcement,
        address=item.get("address"),
    )


def decide(
    results: list[SetResult],
    *,
    cost: Cost,
    decision_id: str,
    exemptions: list[dict[str, Any]] | None = None,
    revisions: dict[str, str] | None = None,
) -> Decision:
    """`exemptions` are those in force for this request's team and environment (domain.exemptions)."""
    violations: list[Violation] = []
    warnings: list[Violation] = []
    exempted: list[Violation] = []
    approvals: dict[str, RequiredApproval] = {}
    rejected = False

    def need(group: str, count: int, reason: str, override: bool = False, **flags: bool) -> None:
        have = approvals.get(group)
        if have is None:
            approvals[group] = RequiredApproval(
                group=group, count=count, reason=reason, override=override, **flags
            )
        else:
            approvals[group] = RequiredApproval(
                group=group,
                count=max(have.count, count),
                reason=have.reason if reason in have.reason else f"{have.reason}; {reason}",
                override=have.override or override,
                # Sharing must be allowed by every rule that asks for the group.
                shared=have.shared and flags.get("shared", False),
                expedite=have.expedite or flags.get("expedite", False),
            )

    for r in results:
        ps = r.policy_set
        for item in _messages(r.result.get("deny")):
            v = _violation(ps, item, ps.enforcement)
            waiver = next((e for e in exemptions or [] if covers(e, ps.name, v.rule, v.address)), None)
            if waiver is not None:
                exempted.append(v.model_copy(update={"exemption": waiver["id"]}))
                continue
            if v.enforcement == "advisory":
                warnings.append(v)
                continue
            violations.append(v)
            if v.enforcement == "hard-mandatory" or not ps.override_group:
                # A soft-mandatory violation with nobody allowed to override it cannot be approved.
                rejected = True
            else:
                need(ps.override_group, 1, f"override {ps.name}/{v.rule}: {v.msg}", override=True)
        for item in _messages(r.result.get("warn")):
            warnings.append(_violation(ps, item, "advisory").model_copy(update={"enforcement": "advisory"}))
        for item in r.result.get("require_approval") or []:
            if isinstance(item, dict) and item.get("group"):
                flags = {k: item.get(k) is True for k in ("shared", "expedite")}
                # At least one vote: a count of 0 from broken policy data must not approve by itself.
                count = max(1, int(item.get("count", 1)))
                need(str(item["group"]), count, str(item.get("reason", ps.name)), **flags)

    required = _expedited(list(approvals.values()))
    outcome: Outcome = "rejected" if rejected else ("pending_approval" if required else "approved")
    return Decision(
        outcome=outcome,
        violations=violations,
        warnings=warnings,
        exempted=exempted,
        required_approvals=[] if rejected else required,
        cost=cost,
        policy_revisions=revisions
        if revisions is not None
        else {r.policy_set.name: r.revision for r in results},
        decision_id=decision_id,
    )


def _expedited(required: list[RequiredApproval]) -> list[RequiredApproval]:
    """An expedited group (the ECAB for emergency changes) stands in for every other approval. It inherits their
    override duty, so the justification for waiving a soft-mandatory violation is still given."""
    fast = [a for a in required if a.expedite]
    if not fast:
        return required
    others = [a for a in required if not a.expedite]
    if not others:
        return fast
    reasons = "; ".join(a.reason for a in others)
    override = any(a.override for a in others)
    return [
        a.model_copy(
            update={"reason": f"{a.reason} (in place of: {reasons})", "override": a.override or override}
        )
        for a in fast
    ]
