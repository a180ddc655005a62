# RDS instances: encryption at rest and network exposure.
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
	some r in lib.planned_of("aws_db_instance")
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
	some r in lib.planned_of("aws_db_instance")
	r.values.publicly_accessible == true
	v := lib.violation(rego.metadata.rule(), r.address, "publicly_accessible is true")
}
