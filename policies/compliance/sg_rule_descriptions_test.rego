package gateway.compliance_test

import data.gateway.compliance
import data.gateway.fixtures_test as fx

_sg_plan(sg) := fx.plan([fx.rc("aws_security_group", "web", "create", sg)])

test_undescribed_rules_warned if {
	sg := json.patch(fx.security_group, [
		{"op": "remove", "path": "/ingress/0/description"},
		{"op": "replace", "path": "/egress/0/description", "value": ""},
	])
	warns := compliance.warn with input as _sg_plan(sg)
	{w.msg | some w in warns} == {
		`aws_security_group.web: ingress[0] has no description. Remediation: set description on each ingress and egress rule (e.g. "HTTPS from the ALB")`,
		`aws_security_group.web: egress[0] has no description. Remediation: set description on each ingress and egress rule (e.g. "HTTPS from the ALB")`,
	}
	fx.ids(warns) == {"sg_rule_description_missing"}
	count(compliance.deny) == 0 with input as _sg_plan(sg)
}

test_described_rules_not_warned if {
	count(compliance.warn) == 0 with input as _sg_plan(fx.security_group)
}

test_sg_without_rules_not_warned if {
	sg := object.union(fx.security_group, {"ingress": null, "egress": []})
	count(compliance.warn) == 0 with input as _sg_plan(sg)
}

test_deleted_sg_not_warned if {
	sg := json.patch(fx.security_group, [{"op": "remove", "path": "/ingress/0/description"}])
	count(compliance.warn) == 0 with input as fx.plan([fx.rc("aws_security_group", "web", "delete", sg)])
}
