# Scalr OPA policy: cost guardrails for AWS workspaces.
#
# Scalr evaluates it after the cost estimate, with the plan in input.tfplan and the run (workspace,
# environment, cost estimate in USD) in input.tfrun. Written for Rego v0.
package terraform.scalr_cost

# Monthly cost ceiling (USD) of one run, by the workspace's environment type.
max_monthly_cost = {
	"production": 3000,
	"staging": 1000,
	"development": 250,
}

# Environment types not listed above get the tightest limit.
fallback_max_monthly_cost = 250

# A run that adds more than this (USD per month) gets a warning in the run log.
warn_monthly_increase = 100

aws_provider = "registry.terraform.io/hashicorp/aws"

# Managed AWS resources the run creates or updates.
aws_changes[rc] {
	rc := input.tfplan.resource_changes[_]
	rc.mode == "managed"
	rc.provider_name == aws_provider
	rc.change.actions[_] == "create"
}

aws_changes[rc] {
	rc := input.tfplan.resource_changes[_]
	rc.mode == "managed"
	rc.provider_name == aws_provider
	rc.change.actions[_] == "update"
}

# Burstable families (t2, t3, t3a, t4g) bill CPU credits on top of the hourly price in unlimited mode.
burstable(instance_type) {
	regex.match(`^t[0-9][a-z]*\.`, instance_type)
}

deny[reason] {
	env_type := input.tfrun.workspace.environment_type
	limit := object.get(max_monthly_cost, env_type, fallback_max_monthly_cost)
	cost := input.tfrun.cost_estimate.proposed_monthly_cost
	cost > limit
	reason := sprintf("Plan is too expensive: proposed monthly cost $%v exceeds the %s limit of $%v (workspace %s)", [cost, env_type, limit, input.tfrun.workspace.name])
}

deny[reason] {
	input.tfrun.workspace.environment_type == "production"
	rc := aws_changes[_]
	rc.type == "aws_instance"
	burstable(rc.change.after.instance_type)
	reason := sprintf("%s: burstable instance type %s is not allowed in production workspaces", [rc.address, rc.change.after.instance_type])
}

warn[reason] {
	delta := input.tfrun.cost_estimate.delta_monthly_cost
	delta > warn_monthly_increase
	reason := sprintf("This run increases the monthly cost by $%v (from $%v to $%v)", [delta, input.tfrun.cost_estimate.prior_monthly_cost, input.tfrun.cost_estimate.proposed_monthly_cost])
}
