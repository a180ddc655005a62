# RDS instances: encryption at rest, network exposure, backups, deletion safety and credentials.
package gateway.security

import data.gateway.lib

# METADATA
# title: RDS storage not encrypted
# description: storage_encrypted must be true on every aws_db_instance; a missing value counts as false.
# custom:
#   id: rds_storage_not_encrypted
#   severity: high
#   remediation: >-
#     set storage_encrypted = true (optionally with kms_key_id); an existing unencrypted
#     instance must be migrated through an encrypted snapshot copy
deny contains v if {
	some r in lib.planned_by_type.aws_db_instance
	object.get(r.values, "storage_encrypted", false) != true
	v := lib.violation(rego.metadata.rule(), r.address, "storage_encrypted is not true")
}

# METADATA
# title: RDS instance publicly accessible
# description: publicly_accessible = true gives the instance a public endpoint.
# custom:
#   id: rds_publicly_accessible
#   severity: critical
#   remediation: set publicly_accessible = false and reach the database through the VPC (private subnets, VPN or bastion)
deny contains v if {
	some r in lib.planned_by_type.aws_db_instance
	r.values.publicly_accessible == true
	v := lib.violation(rego.metadata.rule(), r.address, "publicly_accessible is true")
}

# Helpers are functions, not rules, so the package document stays deny / warn / require_approval.
# Minimum backup retention for an environment, else the "default" entry.
_min_backup_days(environment) := days if {
	days := data.data.security.rds_min_backup_retention_days[environment]
} else := data.data.security.rds_min_backup_retention_days["default"]

_retention_ok(values, min_days) if {
	is_number(values.backup_retention_period)
	values.backup_retention_period >= min_days
}

_retention_text(values) := sprintf("%v", [values.backup_retention_period]) if {
	values.backup_retention_period != null
} else := "not set"

# METADATA
# title: RDS backup retention too short
# description: >-
#   backup_retention_period must be at least data.data.security.rds_min_backup_retention_days
#   for the request's environment (its "default" entry for environments without one). An
#   absent value is denied too, so the retention is always stated explicitly; 0 disables
#   automated backups.
# custom:
#   id: rds_backup_retention_too_short
#   severity: high
#   remediation: >-
#     set backup_retention_period to at least the environment's minimum (7 days in prod), up
#     to 35
deny contains v if {
	some r in lib.planned_by_type.aws_db_instance
	min_days := _min_backup_days(lib.environment)
	not _retention_ok(r.values, min_days)
	problem := sprintf("backup_retention_period is %s, environment %s requires at least %v days", [
		_retention_text(r.values), lib.environment, min_days,
	])
	v := lib.violation(rego.metadata.rule(), r.address, problem)
}

# METADATA
# title: RDS deletion protection off in a protected environment
# description: >-
#   In the environments listed in data.data.security.protected_environments (prod), every
#   aws_db_instance must set deletion_protection = true; a missing value counts as false.
# custom:
#   id: rds_deletion_protection_disabled
#   severity: high
#   remediation: set deletion_protection = true (turn it off in a separate, ticketed change before a planned decommission)
deny contains v if {
	some r in lib.planned_by_type.aws_db_instance
	object.get(r.values, "deletion_protection", false) != true
	lib.environment in data.data.security.protected_environments
	problem := sprintf("deletion_protection is not true in environment %s", [lib.environment])
	v := lib.violation(rego.metadata.rule(), r.address, problem)
}

# METADATA
# title: RDS final snapshot skipped in a protected environment
# description: >-
#   In the environments listed in data.data.security.protected_environments (prod),
#   skip_final_snapshot = true would delete the database without a last snapshot. An absent
#   value is the provider default (false) and passes.
# custom:
#   id: rds_final_snapshot_skipped
#   severity: high
#   remediation: set skip_final_snapshot = false (and a final_snapshot_identifier) so deletion keeps a last snapshot
deny contains v if {
	some r in lib.planned_by_type.aws_db_instance
	r.values.skip_final_snapshot == true
	lib.environment in data.data.security.protected_environments
	problem := sprintf("skip_final_snapshot is true in environment %s", [lib.environment])
	v := lib.violation(rego.metadata.rule(), r.address, problem)
}

# METADATA
# title: RDS master password not managed by Secrets Manager
# description: >-
#   manage_master_user_password must be true, so the master credential lives in AWS Secrets
#   Manager (rotated, and readable only through IAM permissions on the secret) instead of in
#   the request, the plan or the state. A missing value counts as false.
# custom:
#   id: rds_master_password_not_managed
#   severity: high
#   remediation: >-
#     set manage_master_user_password = true and grant readers secretsmanager:GetSecretValue on
#     the generated secret through IAM
deny contains v if {
	some r in lib.planned_by_type.aws_db_instance
	object.get(r.values, "manage_master_user_password", false) != true
	v := lib.violation(rego.metadata.rule(), r.address, "manage_master_user_password is not true")
}
