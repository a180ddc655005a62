package gateway.security_test

import data.gateway.fixtures_test as fx
import data.gateway.security

_instance_plan(instance) := fx.plan([fx.rc("aws_instance", "web-1", "create", instance)])

test_imds_optional_denied if {
	instance := json.patch(fx.instance, [{"op": "replace", "path": "/metadata_options/0/http_tokens", "value": "optional"}])
	denies := security.deny with input as _instance_plan(instance)
	fx.ids(denies) == {"ec2_imdsv2_not_required"}
	some v in denies
	v.msg == `aws_instance.web-1: IMDSv2 is not enforced (metadata_options.http_tokens is "optional"). Remediation: set metadata_options.http_tokens = "required"`
}

test_imds_block_absent_denied if {
	instance := json.patch(fx.instance, [{"op": "remove", "path": "/metadata_options"}])
	denies := security.deny with input as _instance_plan(instance)
	some v in fx.by_rule(denies, "ec2_imdsv2_not_required")
	contains(v.msg, "http_tokens is not set")
}

test_imds_tokens_absent_denied if {
	instance := object.union(fx.instance, {"metadata_options": [{"http_endpoint": "enabled"}]})
	"ec2_imdsv2_not_required" in fx.ids(security.deny) with input as _instance_plan(instance)
}

test_imds_required_allowed if {
	count(security.deny) == 0 with input as _instance_plan(fx.instance)
}

test_imds_partial_update_uses_before if {
	after := {"instance_type": "t3.large", "region": "eu-west-1"}
	inp := fx.plan([fx.change("aws_instance", "web-1", ["update"], fx.instance, after)])
	count(security.deny) == 0 with input as inp
}

test_imds_update_to_optional_denied if {
	after := json.patch(fx.instance, [{"op": "replace", "path": "/metadata_options/0/http_tokens", "value": "optional"}])
	inp := fx.plan([fx.change("aws_instance", "web-1", ["update"], fx.instance, after)])
	"ec2_imdsv2_not_required" in fx.ids(security.deny) with input as inp
}

test_root_volume_unencrypted_denied if {
	instance := json.patch(fx.instance, [{"op": "replace", "path": "/root_block_device/0/encrypted", "value": false}])
	denies := security.deny with input as _instance_plan(instance)
	fx.ids(denies) == {"ebs_volume_unencrypted"}
	some v in denies
	contains(v.msg, "aws_instance.web-1: root_block_device[0] is not encrypted")
}

test_ebs_volume_encryption_missing_denied if {
	instance := json.patch(fx.instance, [{"op": "remove", "path": "/ebs_block_device/0/encrypted"}])
	denies := security.deny with input as _instance_plan(instance)
	some v in fx.by_rule(denies, "ebs_volume_unencrypted")
	contains(v.msg, "ebs_block_device[0] (/dev/sdf) is not encrypted")
}

test_each_unencrypted_volume_reported if {
	instance := object.union(fx.instance, {"ebs_block_device": [
		{"device_name": "/dev/sdf", "encrypted": true},
		{"device_name": "/dev/sdg", "encrypted": false},
		{"device_name": "/dev/sdh", "encrypted": "true"},
	]})
	denies := security.deny with input as _instance_plan(instance)
	count(fx.by_rule(denies, "ebs_volume_unencrypted")) == 2
}

test_volumes_absent_allowed if {
	instance := json.patch(fx.instance, [
		{"op": "remove", "path": "/root_block_device"},
		{"op": "remove", "path": "/ebs_block_device"},
	])
	count(security.deny) == 0 with input as _instance_plan(instance)
}

_in_env(inp, environment) := json.patch(inp, [{"op": "replace", "path": "/request/environment", "value": environment}])

_with_hops(hops) := json.patch(fx.instance, [{"op": "replace", "path": "/metadata_options/0/http_put_response_hop_limit", "value": hops}])

test_hop_limit_too_high_denied if {
	denies := security.deny with input as _instance_plan(_with_hops(3))
	fx.ids(denies) == {"ec2_imds_hop_limit_too_high"}
	some v in denies
	v.msg == "aws_instance.web-1: metadata_options.http_put_response_hop_limit is 3 (maximum 2). Remediation: set metadata_options.http_put_response_hop_limit to 1 (2 for instances that run containers), at most the configured maximum"
}

test_hop_limit_within_maximum_allowed if {
	every hops in [1, 2] {
		count(security.deny) == 0 with input as _instance_plan(_with_hops(hops))
	}
}

test_hop_limit_absent_allowed if {
	instance := json.patch(fx.instance, [{"op": "remove", "path": "/metadata_options/0/http_put_response_hop_limit"}])
	count(security.deny) == 0 with input as _instance_plan(instance)
	count(security.deny) == 0 with input as _instance_plan(_with_hops(null))
}

test_hop_limit_not_a_number_denied if {
	"ec2_imds_hop_limit_too_high" in fx.ids(security.deny) with input as _instance_plan(_with_hops("1"))
}

test_hop_limit_maximum_from_data if {
	"ec2_imds_hop_limit_too_high" in fx.ids(security.deny) with input as _instance_plan(_with_hops(2))
		with data.data.security.imds_max_hop_limit as 1
}

test_public_ip_in_prod_denied if {
	instance := object.union(fx.instance, {"associate_public_ip_address": true})
	denies := security.deny with input as _instance_plan(instance)
	fx.ids(denies) == {"ec2_public_ip_in_protected_environment"}
	some v in denies
	contains(v.msg, "aws_instance.web-1: associate_public_ip_address is true in environment prod. Remediation:")
}

test_public_ip_outside_prod_allowed if {
	instance := object.union(fx.instance, {"associate_public_ip_address": true})
	every environment in ["dev", "staging"] {
		count(security.deny) == 0 with input as _in_env(_instance_plan(instance), environment)
	}
}

test_private_instance_in_prod_allowed if {
	count(security.deny) == 0 with input as _instance_plan(fx.instance)
	instance := json.patch(fx.instance, [{"op": "remove", "path": "/associate_public_ip_address"}])
	count(security.deny) == 0 with input as _instance_plan(instance)
}

test_public_ip_environments_from_data if {
	instance := object.union(fx.instance, {"associate_public_ip_address": true})
	"ec2_public_ip_in_protected_environment" in fx.ids(security.deny) with input as _in_env(_instance_plan(instance), "staging")
		with data.data.security.public_ip_forbidden_environments as ["prod", "staging"]
}
