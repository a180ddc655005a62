# Spacelift plan policy: data classification tags and an Infracost budget guard.
#
# Attach it to stacks as a PLAN policy. Spacelift passes the plan in input.terraform, the run and stack
# in input.spacelift and, with the Infracost integration, the breakdown in
# input.third_party_metadata.custom.infracost (amounts are decimal strings).
package spacelift.plan_checks

# Resource types that hold data and must say how sensitive it is.
data_store_types := {"aws_s3_bucket", "aws_db_instance"}

classifications := {"public", "internal", "confidential", "restricted"}

# Largest monthly cost increase (USD) one run may add without going back to the drawing board.
max_monthly_increase := 1000

# Sample every evaluation so policy changes can be checked in the policy workbench.
sample := true

creates_or_updates(rc) if "create" in rc.change.actions

creates_or_updates(rc) if "update" in rc.change.actions

deny contains sprintf("%s: data stores need a data-classification tag (one of %s), found %s", [
	rc.address,
	concat(", ", sort(classifications)),
	describe(classification),
]) if {
	some rc in input.terraform.resource_changes
	rc.type in data_store_types
	creates_or_updates(rc)
	classification := object.get(rc.change.after, ["tags_all", "data-classification"], null)
	not classification in classifications
}

describe(value) := "none" if value == null

else := sprintf("%q", [value])

# Sum of every Infracost project's diff; 0 when the stack has no Infracost integration.
monthly_cost_increase := sum([to_number(project.diff.totalMonthlyCost) |
	some project in input.third_party_metadata.custom.infracost.projects
	is_string(project.diff.totalMonthlyCost)
])

deny contains sprintf("this run adds $%v a month (Infracost), more than the $%v limit", [
	monthly_cost_increase,
	max_monthly_increase,
]) if {
	monthly_cost_increase > max_monthly_increase
}

# The stack's team:<name> labels; the owner tag of what the stack creates should name one of them.
stack_teams contains substring(label, count("team:"), -1) if {
	some label in input.spacelift.stack.labels
	startswith(label, "team:")
}

warn contains sprintf("%s: owner tag %q does not match the stack's team label (%s)", [
	rc.address,
	owner,
	concat(", ", sort(stack_teams)),
]) if {
	count(stack_teams) > 0
	some rc in input.terraform.resource_changes
	creates_or_updates(rc)
	owner := rc.change.after.tags_all.owner
	not owner in stack_teams
}
