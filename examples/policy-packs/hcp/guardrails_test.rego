# Unit tests (`opa test .`): each test changes a fixture run (fixtures_test.rego) and checks deny / warn.
package terraform.policies.hcp_guardrails

patched(ops) := json.patch(allow_input, ops)

multi_az(value) := {"op": "replace", "path": "/plan/resource_changes/0/change/after/multi_az", "value": value}

workspace(name) := {"op": "replace", "path": "/run/workspace/name", "value": name}

delta(amount) := {"op": "replace", "path": "/cost_estimate/delta_monthly_cost", "value": amount}

test_multi_az_database_in_prod_passes if {
	count(deny) == 0 with input as allow_input
	count(warn) == 0 with input as allow_input
}

test_single_az_database_in_prod_denied if {
	run := patched([multi_az(false)])
	deny == {"aws_db_instance.ledger: databases in production workspace payments-prod must set multi_az = true"} with input as run
}

test_multi_az_unset_in_prod_denied if {
	run := patched([{"op": "remove", "path": "/plan/resource_changes/0/change/after/multi_az"}])
	count(deny) == 1 with input as run
}

test_multi_az_checked_on_update if {
	run := patched([
		multi_az(false),
		{"op": "replace", "path": "/plan/resource_changes/0/change/actions", "value": ["update"]},
		{"op": "replace", "path": "/plan/resource_changes/0/change/before", "value": allow_input.plan.resource_changes[0].change.after},
	])
	count(deny) == 1 with input as run
}

test_single_az_database_outside_prod_passes if {
	count(deny) == 0 with input as patched([multi_az(false), workspace("payments-staging")])
	count(deny) == 0 with input as patched([multi_az(false), workspace("prod-payments-dev")])
}

test_deleting_protected_database_denied if {
	deny == {"aws_db_instance.ledger: cannot delete a resource with deletion_protection enabled; disable it in a separate run first"} with input as delete_input
}

test_replacing_protected_database_denied if {
	run := json.patch(delete_input, [
		{"op": "replace", "path": "/plan/resource_changes/0/change/actions", "value": ["delete", "create"]},
		{"op": "replace", "path": "/plan/resource_changes/0/change/after", "value": allow_input.plan.resource_changes[0].change.after},
	])
	count(deny) == 1 with input as run
}

test_deleting_unprotected_database_passes if {
	run := json.patch(delete_input, [{"op": "replace", "path": "/plan/resource_changes/0/change/before/deletion_protection", "value": false}])
	count(deny) == 0 with input as run
}

test_destroy_run_warns if {
	warn == {"run req-0001 destroys every resource it changes in workspace payments-prod"} with input as delete_input
}

test_large_cost_increase_denied if {
	run := patched([delta("2600.25")])
	deny == {"the run increases the monthly cost by $2600.25, more than the $2500 allowed"} with input as run
}

test_cost_increase_at_limit_passes if {
	count(deny) == 0 with input as patched([delta("2500.00")])
}

test_cost_not_checked_on_destroy_runs if {
	run := json.patch(delete_input, [
		{"op": "replace", "path": "/plan/resource_changes/0/change/before/deletion_protection", "value": false},
		delta("9999.00"),
	])
	count(deny) == 0 with input as run
}
