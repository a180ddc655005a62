# METADATA
# title: Cost policy set
# description: >-
#   Cost controls: finance approval above a monthly threshold (and a second finance approval
#   when a request adds more than the escalation amount), a soft-mandatory deny (an override by
#   the set's override group) when a request would take the team over its monthly budget or
#   uses an instance family the environment does not allow, and an advisory warning for a
#   single expensive resource. Amounts come from input.cost, which the gateway fills (the
#   budget from policies/data/teams.json), so third-party packs see the same numbers;
#   thresholds and families come from policies/data/cost.json.
# scope: package
package gateway.cost

import data.gateway.lib

# METADATA
# title: Monthly cost estimate
# description: The request's estimated monthly cost (input.cost.monthly), exposed for convenience.
estimate := input.cost.monthly

# Helpers are functions, not rules, so the package document stays estimate / deny / warn / require_approval.
# The currency is object.get(input.cost, "currency", "USD").

# METADATA
# title: Monthly cost above the approval threshold
# description: >-
#   A request whose estimated monthly cost (input.cost.monthly, the run rate of everything it
#   creates or updates) exceeds data.data.cost.approval_threshold_monthly needs one approval
#   from data.data.cost.approval_group. Requests that do not increase spend
#   (input.cost.delta_monthly <= 0, e.g. deletes and downsizing) need none.
# custom:
#   id: cost_above_approval_threshold
#   severity: medium
#   remediation: obtain the approval group's sign-off, or reduce the request's monthly cost below the threshold
require_approval contains {"group": data.data.cost.approval_group, "count": 1, "reason": reason} if {
	threshold := data.data.cost.approval_threshold_monthly
	input.cost.monthly > threshold
	input.cost.delta_monthly > 0
	currency := object.get(input.cost, "currency", "USD")
	reason := sprintf("Estimated monthly cost %s %s exceeds the approval threshold of %s %s", [
		currency, lib.money(input.cost.monthly),
		currency, lib.money(threshold),
	])
}

# METADATA
# title: Monthly cost increase above the escalation threshold
# description: >-
#   A request that raises monthly spend (input.cost.delta_monthly: for an update the increase
#   over the current resource, for a delete a negative amount) by more than
#   data.data.cost.escalation.increase_above_monthly needs data.data.cost.escalation.approvals
#   (two) approvals from the approval group. Judged on the increase, so resizing a large
#   existing resource slightly does not escalate, and a delete never does.
# custom:
#   id: cost_increase_above_escalation_threshold
#   severity: high
#   remediation: >-
#     obtain the required number of approvals from the approval group, or split or shrink the
#     request so that it adds less than the escalation threshold per month
require_approval contains {"group": data.data.cost.approval_group, "count": escalation.approvals, "reason": reason} if {
	escalation := data.data.cost.escalation
	input.cost.delta_monthly > escalation.increase_above_monthly
	currency := object.get(input.cost, "currency", "USD")
	reason := sprintf("Monthly cost increase %s %s exceeds the escalation threshold of %s %s (%d approvals)", [
		currency, lib.money(input.cost.delta_monthly),
		currency, lib.money(escalation.increase_above_monthly),
		escalation.approvals,
	])
}

# METADATA
# title: Team budget exceeded
# description: >-
#   The team's committed monthly spend plus this request's monthly delta exceeds the team's
#   monthly budget (input.cost.team). Requests that lower spend (delta <= 0) are never blocked.
#   Enforced as the set's default, soft-mandatory: the set's override group may approve it.
# custom:
#   id: team_budget_exceeded
#   severity: high
#   remediation: >-
#     reduce the request's size or lease, retire unused resources of the team, or ask finance
#     to override or raise the team budget
deny contains v if {
	delta := input.cost.delta_monthly
	delta > 0
	team := input.cost.team
	total := team.committed_monthly + delta
	total > team.budget_monthly
	currency := object.get(input.cost, "currency", "USD")
	problem := sprintf("team %s: committed %s + this request %s = %s %s per month exceeds the monthly budget of %s %s", [
		object.get(input, ["request", "team"], "(unknown)"),
		lib.money(team.committed_monthly), lib.money(delta),
		lib.money(total), currency,
		lib.money(team.budget_monthly), currency,
	])
	v := lib.violation(rego.metadata.rule(), "request", problem)
}

# Family of an instance type ("m5.xlarge" -> "m5") or DB instance class ("db.r5.large" -> "r5").
_family("aws_instance", size) := parts[0] if {
	parts := split(size, ".")
	count(parts) == 2
} else := "(unknown)"

_family("aws_db_instance", size) := parts[1] if {
	parts := split(size, ".")
	count(parts) == 3
	parts[0] == "db"
} else := "(unknown)"

# METADATA
# title: Instance family not allowed in the environment
# description: >-
#   A created or updated aws_instance (instance_type, e.g. m5.xlarge) or aws_db_instance
#   (instance_class, e.g. db.r5.large) must use a family that
#   data.data.cost.instance_families.<type>.<environment> allows. An environment without an
#   entry allows no family. Soft-mandatory: the set's override group may approve an exception.
# custom:
#   id: instance_family_not_allowed
#   severity: medium
#   remediation: >-
#     pick a size from an allowed family for the environment, or ask finance to approve the
#     exception (or governance to extend policies/data/cost.json)
deny contains v if {
	# attribute: the size attribute whose family data.data.cost.instance_families governs.
	some r in lib.planned
	attribute := {"aws_instance": "instance_type", "aws_db_instance": "instance_class"}[r.type]
	size := r.values[attribute]
	is_string(size)
	family := _family(r.type, size)
	allowed := object.get(data.data.cost.instance_families, [r.type, lib.environment], [])
	not family in allowed
	problem := sprintf("%s %s (family %s) is not allowed in environment %s (allowed: %s)", [
		attribute, size, family, lib.environment,
		lib.list_text(allowed),
	])
	v := lib.violation(rego.metadata.rule(), r.address, problem)
}

# METADATA
# title: Expensive single resource
# description: >-
#   One created or updated resource costs more than data.data.cost.resource_warn_monthly per
#   month (input.cost.by_resource). Advisory: recorded and shown, never blocking.
# custom:
#   id: resource_cost_high
#   severity: low
#   remediation: >-
#     check the size against actual needs (a smaller size, no Multi-AZ outside prod, or a
#     savings plan / reserved instance for steady load)
warn contains v if {
	limit := data.data.cost.resource_warn_monthly
	some address, monthly in input.cost.by_resource
	is_number(monthly)
	monthly > limit
	currency := object.get(input.cost, "currency", "USD")
	problem := sprintf("estimated %s %s per month exceeds the single-resource warning level of %s %s", [
		currency, lib.money(monthly),
		currency, lib.money(limit),
	])
	v := lib.violation(rego.metadata.rule(), address, problem)
}

# The four numbers the cost rules need are all there (cost_estimate_missing then finds nothing).
_cost_complete(cost) if {
	is_number(cost.monthly)
	is_number(cost.delta_monthly)
	is_number(cost.team.budget_monthly)
	is_number(cost.team.committed_monthly)
}

# METADATA
# title: Cost estimate missing
# description: >-
#   input.cost lacks a numeric monthly, delta_monthly, team.budget_monthly or
#   team.committed_monthly, so the cost rules above cannot be evaluated. Fails towards a
#   (soft-mandatory) review rather than silently passing.
# custom:
#   id: cost_estimate_missing
#   severity: medium
#   remediation: >-
#     make sure the gateway's cost estimator produced input.cost (monthly, delta_monthly,
#     team.budget_monthly, team.committed_monthly) for this request
deny contains v if {
	not _cost_complete(object.get(input, "cost", null))
	missing := [sprintf("cost.%s", [concat(".", path)]) |
		some path in [["monthly"], ["delta_monthly"], ["team", "budget_monthly"], ["team", "committed_monthly"]]
		not is_number(object.get(input, array.concat(["cost"], path), null))
	]
	count(missing) > 0
	problem := sprintf("the cost estimate lacks %s, so the cost controls could not be evaluated", [concat(", ", missing)])
	v := lib.violation(rego.metadata.rule(), "request", problem)
}

# METADATA
# title: Cost policy data missing
# description: >-
#   data.data.cost (policies/data/cost.json) is not loaded, so approval thresholds and instance
#   families cannot be applied. Rejects instead of silently skipping finance approval;
#   hard-mandatory because this is a deployment fault, not something finance can approve away.
# custom:
#   id: policy_data_missing
#   severity: critical
#   enforcement: hard-mandatory
#   remediation: >-
#     load policies/data/cost.json into OPA (non-bundle mode reads every *.json; a bundle only
#     reads files named data.json)
deny contains v if {
	missing := lib.missing_data([
		["cost", "approval_threshold_monthly"],
		["cost", "approval_group"],
		["cost", "escalation", "increase_above_monthly"],
		["cost", "escalation", "approvals"],
		["cost", "resource_warn_monthly"],
		["cost", "instance_families"],
	])
	count(missing) > 0
	problem := sprintf("policy data %s is not loaded, cost approvals cannot be evaluated", [concat(", ", missing)])
	v := lib.violation(rego.metadata.rule(), "request", problem)
}
