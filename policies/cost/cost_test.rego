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
		"count": 1,
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
		"msg": "request: policy data data.data.cost.approval_threshold_monthly, data.data.cost.approval_group, data.data.cost.escalation.increase_above_monthly, data.data.cost.escalation.approvals, data.data.cost.resource_warn_monthly, data.data.cost.instance_families is not loaded, cost approvals cannot be evaluated. Remediation: load policies/data/cost.json into OPA (non-bundle mode reads every *.json; a bundle only reads files named data.json)",
	}}
}

test_cost_reduction_needs_no_approval if {
	count(cost.require_approval) == 0 with input as _with_cost({"monthly": 900, "delta_monthly": 0})
	count(cost.require_approval) == 0 with input as _with_cost({"monthly": 900, "delta_monthly": -150})
}

test_increase_above_escalation_needs_two_finance_approvals if {
	approvals := cost.require_approval with input as _with_cost({"monthly": 6200, "delta_monthly": 5600.5})
	approvals == {
		{
			"group": "finance",
			"count": 1,
			"reason": "Estimated monthly cost USD 6200.00 exceeds the approval threshold of USD 500.00",
		},
		{
			"group": "finance",
			"count": 2,
			"reason": "Monthly cost increase USD 5600.50 exceeds the escalation threshold of USD 5000.00 (2 approvals)",
		},
	}
}

test_increase_exactly_at_escalation_threshold_single_approval if {
	approvals := cost.require_approval with input as _with_cost({"monthly": 5000, "delta_monthly": 5000})
	{a.count | some a in approvals} == {1}
}

test_update_escalation_judged_on_increase if {
	# An update of a large fleet: a high run rate, a small increase.
	approvals := cost.require_approval with input as _with_cost({"monthly": 9000, "delta_monthly": 300})
	{a.count | some a in approvals} == {1}
}

test_delete_never_escalates_or_blocks if {
	inp := _with_cost({"monthly": 0, "delta_monthly": -7000, "team": {"budget_monthly": 100, "committed_monthly": 9000}})
	count(cost.require_approval) == 0 with input as inp
	count(cost.deny) == 0 with input as inp
}

test_escalation_from_data if {
	approvals := cost.require_approval with input as _with_cost({"monthly": 1200, "delta_monthly": 1200, "currency": "EUR"})
		with data.data.cost.escalation as {"increase_above_monthly": 1000, "approvals": 3}
	some a in approvals
	a.count == 3
	a.reason == "Monthly cost increase EUR 1200.00 exceeds the escalation threshold of EUR 1000.00 (3 approvals)"
}

_sized(type, name, values, environment) := json.patch(fx.plan([fx.rc(type, name, "create", values)]), [{"op": "replace", "path": "/request/environment", "value": environment}])

_instance_sized(itype, environment) := _sized("aws_instance", "web-1", object.union(fx.instance, {"instance_type": itype}), environment)

_db_sized(klass, environment) := _sized("aws_db_instance", "main", object.union(fx.db_instance, {"instance_class": klass}), environment)

test_instance_family_not_allowed_in_dev if {
	denies := cost.deny with input as _instance_sized("r5.large", "dev")
	denies == {{
		"rule": "instance_family_not_allowed",
		"address": "aws_instance.web-1",
		"msg": "aws_instance.web-1: instance_type r5.large (family r5) is not allowed in environment dev (allowed: c5, m5, t3). Remediation: pick a size from an allowed family for the environment, or ask finance to approve the exception (or governance to extend policies/data/cost.json)",
	}}
}

test_instance_families_allowed_per_environment if {
	every itype, environment in {"r5.large": "prod", "m5.xlarge": "dev", "t3.small": "dev", "c5.large": "staging"} {
		count(cost.deny) == 0 with input as _instance_sized(itype, environment)
	}
}

test_db_family_not_allowed_in_dev if {
	denies := cost.deny with input as _db_sized("db.m5.large", "dev")
	some v in denies
	v.rule == "instance_family_not_allowed"
	contains(v.msg, "aws_db_instance.main: instance_class db.m5.large (family m5) is not allowed in environment dev (allowed: t3)")
	"instance_family_not_allowed" in fx.ids(cost.deny) with input as _db_sized("db.r5.large", "staging")
}

test_db_families_allowed_per_environment if {
	every klass, environment in {"db.r5.large": "prod", "db.m5.large": "staging", "db.t3.micro": "dev"} {
		count(cost.deny) == 0 with input as _db_sized(klass, environment)
	}
}

test_unknown_environment_allows_no_family if {
	some v in cost.deny with input as _instance_sized("t3.small", "qa")
	contains(v.msg, "is not allowed in environment qa (allowed: none)")
}

test_malformed_sizes_denied if {
	some v in cost.deny with input as _instance_sized("t3", "prod")
	contains(v.msg, "instance_type t3 (family (unknown))")
	some w in cost.deny with input as _db_sized("t3.medium", "prod")
	contains(w.msg, "instance_class t3.medium (family (unknown))")
}

test_family_rule_checks_updates_not_deletes if {
	big := object.union(fx.instance, {"instance_type": "r5.large"})
	upd := json.patch(fx.plan([fx.rc("aws_instance", "web-1", "update", big)]), [{"op": "replace", "path": "/request/environment", "value": "dev"}])
	"instance_family_not_allowed" in fx.ids(cost.deny) with input as upd
	del := json.patch(fx.plan([fx.rc("aws_instance", "web-1", "delete", big)]), [{"op": "replace", "path": "/request/environment", "value": "dev"}])
	count(cost.deny) == 0 with input as del
}

test_family_rule_ignores_other_types_and_missing_sizes if {
	inp := _sized("aws_s3_bucket", "b", fx.bucket, "dev")
	count(cost.deny) == 0 with input as inp
	no_size := json.patch(fx.instance, [{"op": "remove", "path": "/instance_type"}])
	count(cost.deny) == 0 with input as _sized("aws_instance", "web-1", no_size, "dev")
}

test_families_from_data if {
	inp := _instance_sized("t3.small", "dev")
	"instance_family_not_allowed" in fx.ids(cost.deny) with input as inp
		with data.data.cost.instance_families.aws_instance.dev as ["t4g"]
}

test_expensive_resource_warned if {
	inp := _with_cost({"by_resource": {"aws_db_instance.main": 406.3, "aws_instance.web-1": 15.18, "aws_s3_bucket.b": 0}})
	warns := cost.warn with input as inp
	warns == {{
		"rule": "resource_cost_high",
		"address": "aws_db_instance.main",
		"msg": "aws_db_instance.main: estimated USD 406.30 per month exceeds the single-resource warning level of USD 300.00. Remediation: check the size against actual needs (a smaller size, no Multi-AZ outside prod, or a savings plan / reserved instance for steady load)",
	}}
	count(cost.deny) == 0 with input as inp
}

test_resource_at_warning_level_not_warned if {
	count(cost.warn) == 0 with input as _with_cost({"by_resource": {"aws_db_instance.main": 300, "x.y": "n/a"}})
	count(cost.warn) == 0 with input as {}
}
