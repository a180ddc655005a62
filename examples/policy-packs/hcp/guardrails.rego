# HCP Terraform OPA policy set: production availability, deletion protection and cost guardrails.
#
# HCP Terraform evaluates it after the plan and cost estimation, with the plan in input.plan, the run in
# input.run and the cost estimate in input.cost_estimate (decimal strings). Query:
# data.terraform.policies.hcp_guardrails.deny
package terraform.policies.hcp_guardrails

# Workspaces follow <team>-<environment>; production ones end in -prod.
production if endswith(input.run.workspace.name, "-prod")

# Largest monthly cost increase (USD) a run may add.
max_monthly_increase := 2500

planned(rc) if "create" in rc.change.actions

planned(rc) if "update" in rc.change.actions

deny contains msg if {
	production
	some rc in input.plan.resource_changes
	rc.type == "aws_db_instance"
	planned(rc)
	object.get(rc.change.after, "multi_az", false) != true
	msg := sprintf("%s: databases in production workspace %s must set multi_az = true", [rc.address, input.run.workspace.name])
}

deny contains msg if {
	some rc in input.plan.resource_changes
	"delete" in rc.change.actions
	rc.change.before.deletion_protection == true
	msg := sprintf("%s: cannot delete a resource with deletion_protection enabled; disable it in a separate run first", [rc.address])
}

deny contains msg if {
	not input.run.is_destroy
	delta := to_number(input.cost_estimate.delta_monthly_cost)
	delta > max_monthly_increase
	msg := sprintf("the run increases the monthly cost by $%s, more than the $%v allowed", [input.cost_estimate.delta_monthly_cost, max_monthly_increase])
}

warn contains msg if {
	input.run.is_destroy
	msg := sprintf("run %s destroys every resource it changes in workspace %s", [input.run.id, input.run.workspace.name])
}
