# conftest unit tests: `conftest verify` (or `opa test --v0-compatible .`).
# Each test changes the fixture plan (fixtures_test.rego) at one JSON pointer and checks deny / warn.
package terraform.conftest_aws

with_change(plan, path, value) = json.patch(plan, [{"op": "add", "path": path, "value": value}])

without(plan, path) = json.patch(plan, [{"op": "remove", "path": path}])

test_compliant_plan_passes {
	count(deny) == 0 with input as allow_plan
	count(warn) == 0 with input as allow_plan
}

test_unapproved_instance_type_denied {
	plan := with_change(allow_plan, "/resource_changes/0/change/after/instance_type", "m5.xlarge")
	deny == {`aws_instance.web-1: instance type "m5.xlarge" is not approved (allowed: c5.large, m5.large, t3.large, t3.medium, t3.micro, t3.small)`} with input as plan
}

test_instance_type_checked_on_update {
	plan := json.patch(allow_plan, [
		{"op": "replace", "path": "/resource_changes/0/change/actions", "value": ["update"]},
		{"op": "replace", "path": "/resource_changes/0/change/before", "value": {"instance_type": "t3.small"}},
		{"op": "replace", "path": "/resource_changes/0/change/after/instance_type", "value": "r5.large"},
	])
	count(deny) == 1 with input as plan
}

test_deleted_instance_not_checked {
	before := allow_plan.resource_changes[0].change.after
	plan := json.patch(allow_plan, [
		{"op": "replace", "path": "/resource_changes/0/change/actions", "value": ["delete"]},
		{"op": "replace", "path": "/resource_changes/0/change/before", "value": object.union(before, {"instance_type": "r5.large", "tags": {}})},
		{"op": "replace", "path": "/resource_changes/0/change/after", "value": null},
	])
	count(deny) == 0 with input as plan
	count(warn) == 0 with input as plan
}

test_bucket_without_versioning_denied {
	plan := without(allow_plan, "/resource_changes/1/change/after/versioning")
	deny == {"aws_s3_bucket.assets: S3 bucket must enable versioning (versioning { enabled = true })"} with input as plan
}

test_bucket_with_versioning_disabled_denied {
	plan := with_change(allow_plan, "/resource_changes/1/change/after/versioning", [{"enabled": false}])
	count(deny) == 1 with input as plan
}

test_missing_name_tag_warns {
	plan := without(allow_plan, "/resource_changes/0/change/after/tags/Name")
	warn == {"aws_instance.web-1: resource has no Name tag"} with input as plan
	count(deny) == 0 with input as plan
}

test_blank_name_tag_warns {
	plan := with_change(allow_plan, "/resource_changes/1/change/after/tags/Name", "  ")
	warn == {"aws_s3_bucket.assets: resource has no Name tag"} with input as plan
}

test_resource_without_tags_warns {
	plan := without(allow_plan, "/resource_changes/0/change/after/tags")
	count(warn) == 1 with input as plan
}
