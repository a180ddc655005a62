# Advisory: documented security group rules.
package gateway.compliance

import data.gateway.lib

# METADATA
# title: Security group rule without description
# description: >-
#   Every ingress and egress rule of a created or updated security group should say why it
#   exists, so reviews and audits can tell intended openings from mistakes.
# custom:
#   id: sg_rule_description_missing
#   severity: low
#   remediation: set description on each ingress and egress rule (e.g. "HTTPS from the ALB")
warn contains v if {
	some r in lib.planned_by_type.aws_security_group
	some direction in ["ingress", "egress"]
	rules := r.values[direction]
	is_array(rules)
	some i, rule in rules
	not lib.non_empty_string(object.get(rule, "description", null))
	v := lib.violation(rego.metadata.rule(), r.address, sprintf("%s[%d] has no description", [direction, i]))
}
