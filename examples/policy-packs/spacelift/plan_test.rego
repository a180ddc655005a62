# Unit tests (`opa test .`): each test changes the fixture run (fixtures_test.rego) and checks deny / warn.
package spacelift.plan_checks

patched(ops) := json.patch(allow_input, ops)

bucket_tags := "/terraform/resource_changes/0/change/after/tags_all"

instance_tags := "/terraform/resource_changes/1/change/after/tags_all"

diff(amount) := {"op": "replace", "path": "/third_party_metadata/custom/infracost/projects/0/diff/totalMonthlyCost", "value": amount}

test_classified_bucket_passes if {
	count(deny) == 0 with input as allow_input
	count(warn) == 0 with input as allow_input
	sample
}

test_unclassified_bucket_denied if {
	run := patched([{"op": "remove", "path": concat("/", [bucket_tags, "data-classification"])}])
	deny == {"aws_s3_bucket.receipts: data stores need a data-classification tag (one of confidential, internal, public, restricted), found none"} with input as run
}

test_unknown_classification_denied if {
	run := patched([{"op": "replace", "path": concat("/", [bucket_tags, "data-classification"]), "value": "secret"}])
	deny == {`aws_s3_bucket.receipts: data stores need a data-classification tag (one of confidential, internal, public, restricted), found "secret"`} with input as run
}

test_classification_read_from_tags_all if {
	# A provider default tag reaches tags_all only; that is enough.
	run := patched([{"op": "remove", "path": "/terraform/resource_changes/0/change/after/tags/data-classification"}])
	count(deny) == 0 with input as run
}

test_database_needs_classification_too if {
	run := patched([
		{"op": "replace", "path": "/terraform/resource_changes/1/type", "value": "aws_db_instance"},
		{"op": "replace", "path": "/terraform/resource_changes/1/address", "value": "aws_db_instance.ledger"},
	])
	count(deny) == 1 with input as run
}

test_instances_need_no_classification if {
	run := patched([{"op": "remove", "path": "/terraform/resource_changes/0"}])
	count(deny) == 0 with input as run
}

test_updated_bucket_checked if {
	run := patched([
		{"op": "replace", "path": "/terraform/resource_changes/0/change/actions", "value": ["update"]},
		{"op": "replace", "path": concat("/", [bucket_tags, "data-classification"]), "value": "top-secret"},
	])
	count(deny) == 1 with input as run
}

test_deleted_bucket_not_checked if {
	run := patched([
		{"op": "replace", "path": "/terraform/resource_changes/0/change/actions", "value": ["delete"]},
		{"op": "replace", "path": "/terraform/resource_changes/0/change/before", "value": {"tags": {}, "region": "eu-west-1"}},
		{"op": "replace", "path": "/terraform/resource_changes/0/change/after", "value": null},
	])
	count(deny) == 0 with input as run
	count(warn) == 0 with input as run
}

test_infracost_increase_over_limit_denied if {
	run := patched([diff("1250.40")])
	deny == {"this run adds $1250.4 a month (Infracost), more than the $1000 limit"} with input as run
}

test_infracost_increase_at_limit_passes if {
	count(deny) == 0 with input as patched([diff("1000.00")])
}

test_infracost_projects_are_summed if {
	project := allow_input.third_party_metadata.custom.infracost.projects[0]
	run := patched([
		diff("600.00"),
		{"op": "add", "path": "/third_party_metadata/custom/infracost/projects/-", "value": object.union(project, {"name": "payments/dev-2", "diff": {"totalMonthlyCost": "500.00"}})},
	])
	monthly_cost_increase == 1100 with input as run
	count(deny) == 1 with input as run
}

test_infracost_project_without_diff_skipped if {
	run := patched([diff(null)])
	monthly_cost_increase == 0 with input as run
	count(deny) == 0 with input as run
}

test_no_infracost_no_cost_check if {
	run := patched([{"op": "remove", "path": "/third_party_metadata"}])
	monthly_cost_increase == 0 with input as run
	count(deny) == 0 with input as run
}

test_owner_other_than_stack_team_warns if {
	run := patched([{"op": "replace", "path": concat("/", [instance_tags, "owner"]), "value": "analytics"}])
	warn == {`aws_instance.web-1: owner tag "analytics" does not match the stack's team label (payments)`} with input as run
	count(deny) == 0 with input as run
}

test_stack_without_team_label_no_owner_check if {
	run := patched([
		{"op": "replace", "path": "/spacelift/stack/labels", "value": ["environment:dev"]},
		{"op": "replace", "path": concat("/", [instance_tags, "owner"]), "value": "analytics"},
	])
	count(warn) == 0 with input as run
}
