package gateway.compliance_test

import data.gateway.compliance
import data.gateway.fixtures_test as fx

_in_env(environment, changes) := object.union(fx.plan(changes), {"request": {"environment": environment}})

_instance_in(region) := object.union(fx.instance, {"region": region})

test_prod_disallowed_region_denied if {
	inp := _in_env("prod", [fx.rc("aws_instance", "web-1", "create", _instance_in("us-east-1"))])
	denies := compliance.deny with input as inp
	fx.ids(denies) == {"region_not_allowed"}
	some v in denies
	contains(v.msg, "aws_instance.web-1: region us-east-1 is not allowed for environment prod (allowed: eu-central-1, eu-west-1)")
}

test_regions_per_environment if {
	every environment, region in {"staging": "us-east-1", "dev": "us-west-2", "prod": "eu-central-1"} {
		inp := _in_env(environment, [fx.rc("aws_instance", "web-1", "create", _instance_in(region))])
		count(compliance.deny) == 0 with input as inp
	}
	inp := _in_env("staging", [fx.rc("aws_instance", "web-1", "create", _instance_in("us-west-2"))])
	"region_not_allowed" in fx.ids(compliance.deny) with input as inp
}

test_delete_uses_before_region if {
	inp := _in_env("prod", [fx.rc("aws_s3_bucket", "old", "delete", object.union(fx.bucket, {"region": "us-west-2"}))])
	some v in compliance.deny with input as inp
	v.address == "aws_s3_bucket.old"
	contains(v.msg, "region us-west-2 is not allowed")
}

test_update_checks_after_region if {
	after := _instance_in("us-east-1")
	inp := _in_env("prod", [fx.change("aws_instance", "web-1", ["update"], fx.instance, after)])
	"region_not_allowed" in fx.ids(compliance.deny) with input as inp
}

test_provider_region_fallback if {
	values := json.patch(fx.instance, [{"op": "remove", "path": "/region"}])
	inp := _in_env("prod", [fx.rc("aws_instance", "web-1", "create", values)])
	count(compliance.deny) == 0 with input as inp
	inp2 := json.patch(inp, [{"op": "replace", "path": "/configuration/provider_config/aws/expressions/region/constant_value", "value": "ap-south-1"}])
	some v in compliance.deny with input as inp2
	contains(v.msg, "region ap-south-1 is not allowed")
}

test_unknown_region_denied if {
	values := json.patch(fx.instance, [{"op": "remove", "path": "/region"}])
	inp := json.patch(fx.plan([fx.rc("aws_instance", "web-1", "create", values)]), [{"op": "remove", "path": "/configuration"}])
	some v in compliance.deny with input as inp
	contains(v.msg, "region (unset) is not allowed")
}

test_unknown_environment_denied if {
	inp := _in_env("qa", [fx.rc("aws_instance", "web-1", "create", fx.instance)])
	some v in compliance.deny with input as inp
	contains(v.msg, "not allowed for environment qa (allowed: none)")
}

test_missing_environment_denied if {
	inp := json.patch(fx.plan([fx.rc("aws_instance", "web-1", "create", fx.instance)]), [{"op": "remove", "path": "/request/environment"}])
	some v in compliance.deny with input as inp
	contains(v.msg, "environment (unset)")
}

test_regions_from_data if {
	inp := _in_env("prod", [fx.rc("aws_instance", "web-1", "create", _instance_in("us-east-1"))])
	count(compliance.deny) == 0 with input as inp with data.data.regions.prod as ["us-east-1"]
}
