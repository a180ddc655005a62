"""How set results fold into one decision (pure domain rules; the real-OPA tests are in test_decisions.py)."""

from __future__ import annotations

from gateway.domain.decision import Cost, Decision, RequiredApproval, SetResult, Violation, decide
from gateway.domain.entry import entry_module
from gateway.domain.policy_sets import PolicySet

COST = Cost(monthly=10.0)


def _set(name: str, enforcement: str, override: str | None = None) -> PolicySet:
    return PolicySet(name=name, bundle=name, query=f"data.gateway.{name}", enforcement=enforcement,  # type: ignore[arg-type]
                     override_group=override)  # fmt: skip


def _decide(*results: tuple[PolicySet, dict]):
    return decide([SetResult(ps, r, "rev") for ps, r in results], cost=COST, decision_id="d")


def test_a_rule_annotation_can_soften_a_hard_set_to_a_warning():
    d = _decide(
        (_set("security", "hard-mandatory"), {"deny": [{"msg": "m", "rule": "r", "enforcement": "advisory"}]})
    )
    assert d.outcome == "approved" and d.violations == [] and d.warnings[0].enforcement == "advisory"


def test_soft_mandatory_without_an_override_group_cannot_be_approved():
    d = _decide((_set("cost", "soft-mandatory"), {"deny": ["over budget"]}))
    assert d.outcome == "rejected" and d.required_approvals == []


def test_plain_string_messages_and_merged_approvals():
    d = _decide(
        (_set("cost", "soft-mandatory", "finance"), {"deny": ["over budget"],
                                                     "require_approval": [{"group": "finance", "reason": "big"}]}),
        (_set("compliance", "hard-mandatory"), {"require_approval": [{"group": "cab", "count": 2, "reason": "prod"}]}),
    )  # fmt: skip
    assert d.outcome == "pending_approval"
    assert [(a.group, a.count, a.override) for a in d.required_approvals] == [
        ("finance", 1, True),
        ("cab", 2, False),
    ]
    assert d.violations[0].msg == "over budget" and d.violations[0].rule == "cost"


def test_any_hard_violation_rejects_and_drops_approvals():
    d = _decide(
        (_set("security", "hard-mandatory"), {"deny": [{"msg": "open ssh", "rule": "ssh"}]}),
        (
            _set("cost", "soft-mandatory", "finance"),
            {"require_approval": [{"group": "finance", "reason": "big"}]},
        ),
    )
    assert d.outcome == "rejected" and d.required_approvals == []


def test_entry_module_gathers_every_set_with_its_profile():
    scalr = PolicySet(name="scalr", bundle="scalr", query="data.terraform.scalr", profile="scalr")
    module = entry_module([_set("security", "hard-mandatory"), scalr])
    assert module.startswith("package gateway_entry")
    assert (
        'sets["security"] := result if {\n\tresult := data.gateway.security with input as input.doc' in module
    )
    assert 'data.terraform.scalr with input as {"tfplan": input.doc, "tfrun": input.profiles.tfrun}' in module


def test_recheck_is_worse_when_it_asks_for_more_than_was_approved():
    def decision(*pairs, violations=(), **flags):
        needed = [RequiredApproval(group=g, count=c, reason="r", **flags) for g, c in pairs]
        found = [Violation(set=s, rule=r, msg=m, enforcement="soft-mandatory") for s, r, m in violations]
        return Decision(outcome="pending_approval", cost=COST, decision_id="d", required_approvals=needed,
                        violations=found)  # fmt: skip

    assert not decision(("finance", 1)).worse_than(decision(("finance", 2)))
    assert decision(("finance", 2)).worse_than(decision(("finance", 1)))
    assert decision(("finance", 1), ("cab", 1)).worse_than(decision(("finance", 1)))
    # The same group, but now to override a violation, or no longer shareable with another group.
    assert decision(("finance", 1), override=True).worse_than(decision(("finance", 1)))
    assert decision(("finance", 1)).worse_than(decision(("finance", 1), shared=True))
    # A new finding is worse; the same finding reworded is not; rule-less (conftest) findings differ by message.
    budget = ("cost", "team_budget_exceeded", "over budget by 10 USD")
    assert decision(("finance", 1), violations=[budget]).worse_than(decision(("finance", 1)))
    reworded = ("cost", "team_budget_exceeded", "over budget by 12 USD")
    assert not decision(("finance", 1), violations=[reworded]).worse_than(
        decision(("finance", 1), violations=[budget])
    )
    plain = ("conftest", "conftest", "bucket is public")
    other = ("conftest", "conftest", "bucket has no owner tag")
    assert decision(violations=[plain, other]).worse_than(decision(violations=[plain]))
