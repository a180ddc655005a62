# S3 buckets: encryption at rest, public access and deletion safety.
package gateway.security

import data.gateway.lib

# Nested blocks are read inline (a block that is not an array holds nothing), as lib.blocks would.
_encrypted(bucket) if {
	configs := bucket.server_side_encryption_configuration
	is_array(configs)
	some config in configs
	rules := config.rule
	is_array(rules)
	some rule in rules
	defaults := rule.apply_server_side_encryption_by_default
	is_array(defaults)
	some by_default in defaults
	by_default.sse_algorithm in {"AES256", "aws:kms", "aws:kms:dsse"}
}

# METADATA
# title: S3 bucket without default encryption
# description: >-
#   The bucket must declare server_side_encryption_configuration with sse_algorithm AES256,
#   aws:kms or aws:kms:dsse. A bucket without the block is denied.
# custom:
#   id: s3_encryption_missing
#   severity: high
#   remediation: >-
#     add server_side_encryption_configuration.rule.apply_server_side_encryption_by_default
#     with sse_algorithm = "aws:kms" (and a kms_master_key_id) or "AES256"
deny contains v if {
	some r in lib.planned_by_type.aws_s3_bucket
	not _encrypted(r.values)
	v := lib.violation(rego.metadata.rule(), r.address, "no default server-side encryption (AES256, aws:kms or aws:kms:dsse) is configured")
}

# METADATA
# title: Public S3 bucket ACL
# description: The bucket's canned ACL is public-read, public-read-write or authenticated-read.
# custom:
#   id: s3_public_acl
#   severity: critical
#   remediation: set acl = "private" and grant access through IAM or bucket policies scoped to known principals
deny contains v if {
	some r in lib.planned_by_type.aws_s3_bucket
	r.values.acl in {"public-read", "public-read-write", "authenticated-read"}
	v := lib.violation(rego.metadata.rule(), r.address, sprintf("canned ACL %q makes the bucket public", [r.values.acl]))
}

# METADATA
# title: S3 public access block weakened
# description: >-
#   The bucket declares public_access_block but one of block_public_acls, block_public_policy,
#   ignore_public_acls, restrict_public_buckets is not true. A flag left out counts as false,
#   as in Terraform's aws_s3_bucket_public_access_block.
# custom:
#   id: s3_public_access_block_disabled
#   severity: critical
#   remediation: >-
#     set block_public_acls, block_public_policy, ignore_public_acls and restrict_public_buckets
#     to true in public_access_block
deny contains v if {
	some r in lib.planned_by_type.aws_s3_bucket
	blocks := r.values.public_access_block
	is_array(blocks)
	some i, block in blocks
	off := [flag |
		some flag in ["block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"]
		object.get(block, flag, false) != true
	]
	count(off) > 0
	problem := sprintf("public_access_block[%d] does not enable %s", [i, concat(", ", off)])
	v := lib.violation(rego.metadata.rule(), r.address, problem)
}

# METADATA
# title: S3 public access block not explicit
# description: >-
#   The bucket has no public_access_block. AWS blocks public access on new buckets by default,
#   so this is allowed, but an explicit block keeps it so if account defaults change.
# custom:
#   id: s3_public_access_block_not_explicit
#   severity: low
#   remediation: >-
#     add public_access_block with block_public_acls, block_public_policy, ignore_public_acls
#     and restrict_public_buckets set to true
warn contains v if {
	some r in lib.planned_by_type.aws_s3_bucket
	count(lib.blocks(r.values, "public_access_block")) == 0
	v := lib.violation(rego.metadata.rule(), r.address, "public access is not blocked explicitly (relying on the AWS default)")
}

# METADATA
# title: S3 force_destroy in a protected environment
# description: >-
#   force_destroy = true lets deleting the bucket also delete every object in it. Denied in the
#   environments listed in data.data.security.protected_environments (prod).
# custom:
#   id: s3_force_destroy_in_protected_environment
#   severity: high
#   remediation: set force_destroy = false; empty the bucket deliberately (lifecycle rules or a reviewed job) before deleting it
deny contains v if {
	some r in lib.planned_by_type.aws_s3_bucket
	r.values.force_destroy == true
	lib.environment in data.data.security.protected_environments
	problem := sprintf("force_destroy is true in environment %s", [lib.environment])
	v := lib.violation(rego.metadata.rule(), r.address, problem)
}
