# Conftest policies for AWS resources in a Terraform plan (`terraform show -json plan.out > plan.json`).
#
#   conftest test --namespace terraform.conftest_aws plan.json
#
# Written for Rego v0 (conftest < 0.56 or --rego-version v0).
package terraform.conftest_aws

# Instance types the platform team has approved for general workloads.
allowed_instance_types = {
	"t3.micro",
	"t3.small",
	"t3.medium",
	"t3.large",
	"m5.large",
	"c5.large",
}

# Resource types that take a `tags` argument.
taggable_types = {
	"aws_instance",
	"aws_s3_bucket",
	"aws_security_group",
	"aws_db_instance",
}

# A resource the plan creates or updates: its planned state is in change.after.
creates_or_updates(rc) {
	rc.change.actions[_] == "create"
}

creates_or_updates(rc) {
	rc.change.actions[_] == "update"
}

versioning_enabled(bucket) {
	bucket.versioning[_].enabled == true
}

has_name_tag(resource) {
	trim_space(resource.tags.Name) != ""
}

deny[msg] {
	rc := input.resource_changes[_]
	rc.type == "aws_instance"
	creates_or_updates(rc)
	instance_type := rc.change.after.instance_type
	not allowed_instance_types[instance_type]
	msg := sprintf("%s: instance type %q is not approved (allowed: %s)", [rc.address, instance_type, concat(", ", sort(allowed_instance_types))])
}

deny[msg] {
	rc := input.resource_changes[_]
	rc.type == "aws_s3_bucket"
	creates_or_updates(rc)
	not versioning_enabled(rc.change.after)
	msg := sprintf("%s: S3 bucket must enable versioning (versioning { enabled = true })", [rc.address])
}

warn[msg] {
	rc := input.resource_changes[_]
	taggable_types[rc.type]
	creates_or_updates(rc)
	not has_name_tag(rc.change.after)
	msg := sprintf("%s: resource has no Name tag", [rc.address])
}
