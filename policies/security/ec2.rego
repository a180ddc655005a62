# EC2 instances: instance metadata service and volume encryption.
package gateway.security

import data.gateway.lib

_http_tokens(instance) := sprintf("%q", [instance.metadata_options[0].http_tokens]) if {
	instance.metadata_options[0].http_tokens
} else := "not set"

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
	some r in lib.planned_of("aws_instance")
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
	some r in lib.planned_of("aws_instance")
	some kind in ["root_block_device", "ebs_block_device"]
	some i, device in lib.blocks(r.values, kind)
	object.get(device, "encrypted", false) != true
	problem := sprintf("%s is not encrypted", [_volume_label(kind, i, device)])
	v := lib.violation(rego.metadata.rule(), r.address, problem)
}
