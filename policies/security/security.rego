# METADATA
# title: Security policy set
# description: >-
#   Hard-mandatory security guardrails for the four supported AWS resource types: network
#   exposure (admin, database, plaintext and all ports open to the internet), encryption at
#   rest (EBS, S3, RDS) and in transit, public access (S3 ACLs and public access block, RDS
#   endpoints, EC2 public IPs in protected environments), EC2 IMDSv2, RDS backups, deletion
#   protection and managed credentials. Settings live in policies/data/security.json.
#   deny / warn / require_approval follow the gateway's output contract (see policies/lib).
# scope: package
package gateway.security

import data.gateway.lib

# This set never asks for approvals: its violations are rejected outright.
require_approval := set()

# METADATA
# title: Security policy data missing
# description: >-
#   data.data.security (policies/data/security.json) is not loaded, so the rules that read it
#   (hop limit, protected environments, backup retention, port lists) cannot be evaluated.
#   Rejects instead of silently passing.
# custom:
#   id: policy_data_missing
#   severity: critical
#   remediation: >-
#     load policies/data/security.json into OPA (non-bundle mode reads every *.json; a bundle
#     only reads files named data.json)
deny contains v if {
	missing := lib.missing_data([
		["security", "imds_max_hop_limit"],
		["security", "public_ip_forbidden_environments"],
		["security", "protected_environments"],
		["security", "rds_min_backup_retention_days", "default"],
		["security", "database_ports"],
		["security", "plaintext_ports"],
	])
	count(missing) > 0
	problem := sprintf("policy data %s is not loaded, security rules cannot be evaluated", [concat(", ", missing)])
	v := lib.violation(rego.metadata.rule(), "request", problem)
}
