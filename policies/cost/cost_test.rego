package gateway.cost_test

import data.gateway.cost
import data.gateway.fixtures_test as fx

_with_cost(patch) := object.union(fx.plan(fx.compliant_changes), {"cost": object.union(fx.cost, patch)})

test_cheap_request_passes if {
	inp := fx.plan(fx.compliant_changes)
	count(cost.deny) == 0 with input as inp
	count(cost.warn) == 0 with input as inp
	count(cost.require_approval) == 0 with input as inp
	cost.estimate == 120.5 with input as inp
}

test_above_threshold_needs_finance if {
	approvals := cost.require_approval with input as _with_cost({"monthly": 612.4, "delta_monthly": 612.4})
	approvals == {{
		"group": "finance",
		"reason": "Estimated monthly cost USD 612.40 exceeds the approval threshold of USD 500.00",
	}}
}

test_exactly_at_threshold_no_approval if {
	count(cost.require_approval) == 0 with input as _with_cost({"monthly": 500, "delta_monthly": 500})
}

test_threshold_and_group_come_from_data if {
	inp := _with_cost({"monthly": 150, "currency": "EUR"})
	approvals := cost.require_approval with input as inp
		with data.data.cost as {"approval_threshold_monthly": 100, "approval_group": "cloud-finance"}
	some a in approvals
	a.group == "cloud-finance"
	contains(a.reason, "EUR 150.00 exceeds the approval threshold of EUR 100.00")
}

test_threshold_uses_monthly_not_delta if {
	count(cost.require_approval) == 0 with input as _with_cost({"monthly": 450, "delta_monthly": 900})
}

test_over_budget_denied if {
	inp := _with_cost({"delta_monthly": 400, "team": {"budget_monthly": 5000, "committed_monthly": 4800}})
	denies := cost.deny with input as inp
	denies == {{
		"rule": "team_budget_exceeded",
		"address": "request",
		"msg": "request: team payments: committed 4800.00 + this request 400.00 = 5200.00 USD per month exceeds the monthly budget of 5000.00 USD. Remediation: reduce the request's size or lease, retire unused resources of the team, or ask finance to override or raise the team budget",
	}}
}

test_exactly_at_budget_allowed if {
	inp := _with_cost({"delta_monthly": 200, "team": {"budget_monthly": 5000, "committed_monthly": 4800}})
	count(cost.deny) == 0 with input as inp
}

test_cost_reduction_never_denied if {
	inp := _with_cost({"monthly": 0, "delta_monthly": -300, "team": {"budget_monthly": 5000, "committed_monthly": 6000}})
	count(cost.deny) == 0 with input as inp
}

test_budget_deny_without_team_name if {
	inp := json.patch(
		_with_cost({"delta_monthly": 400, "team": {"budget_monthly": 1000, "committed_monthly": 700}}),
		[{"op": "remove", "path": "/request/team"}],
	)
	some v in cost.deny with input as inp
	contains(v.msg, "team (unknown): committed 700.00")
}

test_missing_cost_estimate_denied if {
	denies := cost.deny with input as object.remove(fx.plan(fx.compliant_changes), ["cost"])
	fx.ids(denies) == {"cost_estimate_missing"}
	some v in denies
	contains(v.msg, "lacks cost.monthly, cost.delta_monthly, cost.team.budget_monthly, cost.team.committed_monthly")
}

test_partial_cost_estimate_denied if {
	inp := _with_cost({"team": {"budget_monthly": null, "committed_monthly": 10}})
	some v in cost.deny with input as inp
	v.rule == "cost_estimate_missing"
	contains(v.msg, "lacks cost.team.budget_monthly, so")
}

test_estimate_undefined_without_cost if {
	not cost.estimate with input as {}
}

test_cost_data_missing_is_hard_mandatory if {
	denies := cost.deny with input as fx.plan(fx.compliant_changes) with data.data as {}
	denies == {{
		"rule": "policy_data_missing",
		"address": "request",
		"enforcement": "hard-mandatory",
		"msg": "request: policy data data.data.cost.approval_threshold_monthly, data.data.cost.approval_group is not loaded, cost approvals cannot be evaluated. Remediation: load policies/data/cost.json into OPA (non-bundle mode reads every *.json; a bundle only reads files named data.json)",
	}}
}
