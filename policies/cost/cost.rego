# METADATA
# title: Cost policy set
# description: >-
#   Cost controls: finance approval above a monthly threshold, and a soft-mandatory deny
#   (an override by the set's override group) when a request would take the team over its
#   monthly budget. Amounts come from input.cost, which the gateway fills (the budget from
#   policies/data/teams.json), so third-party packs see the same numbers.
# scope: package
package gateway.cost

import data.gateway.lib

# METADATA
# title: Monthly cost estimate
# description: The request's estimated monthly cost (input.cost.monthly), exposed for convenience.
estimate := input.cost.monthly

# This set has no advisory findings yet.
warn := set()

# METADATA
# title: Monthly cost above the approval threshold
# description: >-
#   A request whose estimated monthly cost exceeds data.data.cost.approval_threshold_monthly
#   needs an approval from data.data.cost.approval_group.
# custom:
#   id: cost_above_approval_threshold
#   severity: medium
#   remediation: obtain the approval group's sign-off, or reduce the request's monthly cost below the threshold
require_approval contains {"group": data.data.cost.approval_group, "reason": reason} if {
	threshold := data.data.cost.approval_threshold_monthly
	input.cost.monthly > threshold
	currency := object.get(input.cost, "currency", "USD")
	reason := sprintf("Estimated monthly cost %s %s exceeds the approval threshold of %s %s", [
		currency, lib.money(input.cost.monthly),
		currency, lib.money(threshold),
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
	team := input.cost.team
	delta := input.cost.delta_monthly
	delta > 0
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
#   data.data.cost (policies/data/cost.json) is not loaded, so the approval threshold cannot be
#   applied. Rejects instead of silently skipping finance approval; hard-mandatory because
#   this is a deployment fault, not something finance can approve away.
# custom:
#   id: policy_data_missing
#   severity: critical
#   enforcement: hard-mandatory
#   remediation: >-
#     load policies/data/cost.json into OPA (non-bundle mode reads every *.json; a bundle only
#     reads files named data.json)
deny contains v if {
	missing := lib.missing_data([["cost", "approval_threshold_monthly"], ["cost", "approval_group"]])
	count(missing) > 0
	problem := sprintf("policy data %s is not loaded, cost approvals cannot be evaluated", [concat(", ", missing)])
	v := lib.violation(rego.metadata.rule(), "request", problem)
}
