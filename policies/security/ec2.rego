# EC2 instances: instance metadata service, volume encryption and public addressing.
package gateway.security

import data.gateway.lib

_http_tokens(instance) := sprintf("%q", [instance.metadata_options[0].http_tokens]) if {
	instance.metadata_options[0].http_tokens
} else := "not set"

_within(x, limit) if {
	is_number(x)
	x <= limit
}

_volume_label(kind, i, device) := sprintf("%s[%d] (%s)", [kind, i, device.device_name]) if {
	lib.non_empty_string(device.device_name)
} else := sprintf("%s[%d]", [kind, i])

# METADATA
# title: EC2 instance without IMDSv2
# description: >-
#   metadata_options[0].http_tokens must be "required" so the instance only serves IMDSv2
#   (session tokens). A missing metadata_options block is denied, since AWS defaults may allow IMDSv1.
# custom:
#   id: ec2_imdsv2_not_required
#   severity: high
#   remediation: set metadata_options.http_tokens = "required"
deny contains v if {
	some r in lib.planned_by_type.aws_instance
	not r.values.metadata_options[0].http_tokens == "required"
	problem := sprintf("IMDSv2 is not enforced (metadata_options.http_tokens is %s)", [_http_tokens(r.values)])
	v := lib.violation(rego.metadata.rule(), r.address, problem)
}

# METADATA
# title: Unencrypted EBS volume
# description: >-
#   Every root_block_device and ebs_block_device block of an instance must set encrypted = true.
#   An instance without a root_block_device block is not checked here.
# custom:
#   id: ebs_volume_unencrypted
#   severity: high
#   remediation: set encrypted = true (optionally with kms_key_id) on every root_block_device and ebs_block_device
deny contains v if {
	some r in lib.planned_by_type.aws_instance
	some kind in ["root_block_device", "ebs_block_device"]
	devices := r.values[kind]
	is_array(devices)
	some i, device in devices
	object.get(device, "encrypted", false) != true
	problem := sprintf("%s is not encrypted", [_volume_label(kind, i, device)])
	v := lib.violation(rego.metadata.rule(), r.address, problem)
}

# METADATA
# title: EC2 instance metadata hop limit too high
# description: >-
#   metadata_options[0].http_put_response_hop_limit above data.data.security.imds_max_hop_limit
#   lets IMDS tokens travel further than the instance (through containers, proxies or forwarded
#   traffic), widening SSRF credential theft. An absent value keeps the AWS default (1) and passes.
# custom:
#   id: ec2_imds_hop_limit_too_high
#   severity: medium
#   remediation: >-
#     set metadata_options.http_put_response_hop_limit to 1 (2 for instances that run containers),
#     at most the configured maximum
deny contains v if {
	some r in lib.planned_by_type.aws_instance
	hops := r.values.metadata_options[0].http_put_response_hop_limit
	hops != null
	max_hops := data.data.security.imds_max_hop_limit
	not _within(hops, max_hops)
	problem := sprintf("metadata_options.http_put_response_hop_limit is %v (maximum %v)", [hops, max_hops])
	v := lib.violation(rego.metadata.rule(), r.address, problem)
}

# METADATA
# title: EC2 instance with a public IP in a protected environment
# description: >-
#   associate_public_ip_address = true is denied in the environments listed in
#   data.data.security.public_ip_forbidden_environments (prod): instances there are reached
#   through load balancers, VPN or SSM, never directly from the internet.
# custom:
#   id: ec2_public_ip_in_protected_environment
#   severity: high
#   remediation: >-
#     set associate_public_ip_address = false, launch into a private subnet and expose the
#     service through a load balancer (administration through SSM Session Manager)
deny contains v if {
	some r in lib.planned_by_type.aws_instance
	r.values.associate_public_ip_address == true
	lib.environment in data.data.security.public_ip_forbidden_environments
	problem := sprintf("associate_public_ip_address is true in environment %s", [lib.environment])
	v := lib.violation(rego.metadata.rule(), r.address, problem)
}
