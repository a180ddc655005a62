package gateway.security_test

import data.gateway.fixtures_test as fx
import data.gateway.security

test_compliant_plan_has_no_findings if {
	inp := fx.plan(fx.compliant_changes)
	count(security.deny) == 0 with input as inp
	count(security.warn) == 0 with input as inp
	count(security.require_approval) == 0 with input as inp
}

test_sets_defined_on_empty_input if {
	count(security.deny) == 0 with input as {}
	count(security.warn) == 0 with input as {}
	count(security.require_approval) == 0 with input as {}
}

test_deletes_are_not_property_checked if {
	bad := json.patch(fx.instance, [{"op": "replace", "path": "/metadata_options/0/http_tokens", "value": "optional"}])
	count(security.deny) == 0 with input as fx.plan([fx.rc("aws_instance", "old", "delete", bad)])
}

test_violation_shape if {
	bad := json.patch(fx.db_instance, [{"op": "replace", "path": "/publicly_accessible", "value": true}])
	denies := security.deny with input as fx.plan([fx.rc("aws_db_instance", "main", "create", bad)])
	denies == {{
		"rule": "rds_publicly_accessible",
		"address": "aws_db_instance.main",
		"msg": "aws_db_instance.main: publicly_accessible is true. Remediation: set publicly_accessible = false and reach the database through the VPC (private subnets, VPN or bastion)",
	}}
}

test_security_data_missing_denied if {
	denies := security.deny with input as fx.plan(fx.compliant_changes) with data.data as {}
	denies == {{
		"rule": "policy_data_missing",
		"address": "request",
		"msg": "request: policy data data.data.security.imds_max_hop_limit, data.data.security.public_ip_forbidden_environments, data.data.security.protected_environments, data.data.security.rds_min_backup_retention_days.default, data.data.security.database_ports, data.data.security.plaintext_ports is not loaded, security rules cannot be evaluated. Remediation: load policies/data/security.json into OPA (non-bundle mode reads every *.json; a bundle only reads files named data.json)",
	}}
}

test_security_data_partly_missing_denied if {
	some v in security.deny with input as fx.plan(fx.compliant_changes) with data.data.security.plaintext_ports as null
	v.rule == "policy_data_missing"
	contains(v.msg, "policy data data.data.security.plaintext_ports is not loaded")
}
