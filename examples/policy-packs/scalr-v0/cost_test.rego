# Unit tests (`opa test --v0-compatible .`): each test changes the fixture run (fixtures_test.rego) and
# checks deny / warn.
package terraform.scalr_cost

patched(ops) = json.patch(allow_input, ops)

environment_type(env_type) = {"op": "replace", "path": "/tfrun/workspace/environment_type", "value": env_type}

proposed(cost) = {"op": "replace", "path": "/tfrun/cost_estimate/proposed_monthly_cost", "value": cost}

instance_type(t) = {"op": "replace", "path": "/tfplan/resource_changes/0/change/after/instance_type", "value": t}

test_small_development_run_passes {
	count(deny) == 0 with input as allow_input
	count(warn) == 0 with input as allow_input
}

test_development_run_over_limit_denied {
	run := patched([proposed(315.96)])
	deny == {"Plan is too expensive: proposed monthly cost $315.96 exceeds the development limit of $250 (workspace payments-dev)"} with input as run
}

test_production_limit_is_higher {
	count(deny) == 0 with input as patched([environment_type("production"), proposed(2999.5), instance_type("m5.xlarge")])
	count(deny) == 1 with input as patched([environment_type("production"), proposed(3000.01), instance_type("m5.xlarge")])
}

test_staging_limit {
	count(deny) == 0 with input as patched([environment_type("staging"), proposed(1000)])
	count(deny) == 1 with input as patched([environment_type("staging"), proposed(1000.5)])
}

test_unmapped_environment_gets_fallback_limit {
	run := patched([environment_type("unmapped"), proposed(260)])
	deny == {"Plan is too expensive: proposed monthly cost $260 exceeds the unmapped limit of $250 (workspace payments-dev)"} with input as run
}

test_burstable_instance_denied_in_production {
	run := patched([environment_type("production")])
	deny == {"aws_instance.web-1: burstable instance type t3.small is not allowed in production workspaces"} with input as run
}

test_burstable_instance_checked_on_update {
	run := patched([
		environment_type("production"),
		instance_type("t3.large"),
		{"op": "replace", "path": "/tfplan/resource_changes/0/change/actions", "value": ["update"]},
		{"op": "replace", "path": "/tfplan/resource_changes/0/change/before", "value": {"instance_type": "m5.large", "region": "eu-west-1"}},
	])
	count(deny) == 1 with input as run
}

test_burstable_instance_allowed_outside_production {
	count(deny) == 0 with input as patched([environment_type("staging")])
}

test_non_burstable_instance_allowed_in_production {
	count(deny) == 0 with input as patched([environment_type("production"), instance_type("c5.large")])
}

test_deleted_instance_not_checked {
	run := patched([
		environment_type("production"),
		{"op": "replace", "path": "/tfplan/resource_changes/0/change/actions", "value": ["delete"]},
		{"op": "replace", "path": "/tfplan/resource_changes/0/change/before", "value": allow_input.tfplan.resource_changes[0].change.after},
		{"op": "replace", "path": "/tfplan/resource_changes/0/change/after", "value": null},
	])
	count(deny) == 0 with input as run
}

test_other_providers_ignored {
	run := patched([
		environment_type("production"),
		{"op": "replace", "path": "/tfplan/resource_changes/0/provider_name", "value": "registry.terraform.io/acme/aws"},
	])
	count(aws_changes) == 0 with input as run
	count(deny) == 0 with input as run
}

test_large_increase_warns {
	run := patched([
		proposed(240.5),
		{"op": "replace", "path": "/tfrun/cost_estimate/prior_monthly_cost", "value": 100},
		{"op": "replace", "path": "/tfrun/cost_estimate/delta_monthly_cost", "value": 140.5},
	])
	warn == {"This run increases the monthly cost by $140.5 (from $100 to $240.5)"} with input as run
	count(deny) == 0 with input as run
}
