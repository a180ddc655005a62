package gateway.security_test

import data.gateway.fixtures_test as fx
import data.gateway.security

_bucket_plan(bucket) := fx.plan([fx.rc("aws_s3_bucket", "artifacts", "create", bucket)])

_bucket_without(key) := json.patch(fx.bucket, [{"op": "remove", "path": key}])

test_encryption_missing_denied if {
	denies := security.deny with input as _bucket_plan(_bucket_without("/server_side_encryption_configuration"))
	fx.ids(denies) == {"s3_encryption_missing"}
	some v in denies
	v.address == "aws_s3_bucket.artifacts"
	contains(v.msg, "Remediation: add server_side_encryption_configuration")
}

test_encryption_empty_block_denied if {
	bucket := object.union(fx.bucket, {"server_side_encryption_configuration": []})
	"s3_encryption_missing" in fx.ids(security.deny) with input as _bucket_plan(bucket)
}

test_encryption_unknown_algorithm_denied if {
	bucket := json.patch(fx.bucket, [{
		"op": "replace",
		"path": "/server_side_encryption_configuration/0/rule/0/apply_server_side_encryption_by_default/0/sse_algorithm",
		"value": "none",
	}])
	"s3_encryption_missing" in fx.ids(security.deny) with input as _bucket_plan(bucket)
}

test_encryption_algorithms_allowed if {
	every algorithm in ["AES256", "aws:kms", "aws:kms:dsse"] {
		bucket := json.patch(fx.bucket, [{
			"op": "replace",
			"path": "/server_side_encryption_configuration/0/rule/0/apply_server_side_encryption_by_default/0/sse_algorithm",
			"value": algorithm,
		}])
		count(security.deny) == 0 with input as _bucket_plan(bucket)
	}
}

test_public_acls_denied if {
	every acl in ["public-read", "public-read-write", "authenticated-read"] {
		denies := security.deny with input as _bucket_plan(object.union(fx.bucket, {"acl": acl}))
		fx.ids(denies) == {"s3_public_acl"}
		some v in denies
		contains(v.msg, sprintf("canned ACL %q", [acl]))
	}
}

test_private_acl_allowed if {
	every acl in ["private", "log-delivery-write", null] {
		count(security.deny) == 0 with input as _bucket_plan(object.union(fx.bucket, {"acl": acl}))
	}
}

test_public_access_block_flag_false_denied if {
	bucket := json.patch(fx.bucket, [
		{"op": "replace", "path": "/public_access_block/0/block_public_policy", "value": false},
		{"op": "replace", "path": "/public_access_block/0/restrict_public_buckets", "value": false},
	])
	denies := security.deny with input as _bucket_plan(bucket)
	fx.ids(denies) == {"s3_public_access_block_disabled"}
	some v in denies
	contains(v.msg, "public_access_block[0] does not enable block_public_policy, restrict_public_buckets")
}

test_public_access_block_flag_missing_denied if {
	bucket := json.patch(fx.bucket, [{"op": "remove", "path": "/public_access_block/0/ignore_public_acls"}])
	"s3_public_access_block_disabled" in fx.ids(security.deny) with input as _bucket_plan(bucket)
}

test_public_access_block_absent_allowed_with_warning if {
	inp := _bucket_plan(_bucket_without("/public_access_block"))
	count(security.deny) == 0 with input as inp
	warns := security.warn with input as inp
	fx.ids(warns) == {"s3_public_access_block_not_explicit"}
	some w in warns
	w.address == "aws_s3_bucket.artifacts"
	not "enforcement" in object.keys(w)
}

test_public_access_block_null_warns if {
	bucket := object.union(fx.bucket, {"public_access_block": null})
	"s3_public_access_block_not_explicit" in fx.ids(security.warn) with input as _bucket_plan(bucket)
}

test_public_access_block_complete_no_warning if {
	count(security.warn) == 0 with input as _bucket_plan(fx.bucket)
}

test_force_destroy_in_prod_denied if {
	denies := security.deny with input as _bucket_plan(object.union(fx.bucket, {"force_destroy": true}))
	fx.ids(denies) == {"s3_force_destroy_in_protected_environment"}
	some v in denies
	contains(v.msg, "aws_s3_bucket.artifacts: force_destroy is true in environment prod. Remediation: set force_destroy = false")
}

test_force_destroy_outside_prod_allowed if {
	inp := json.patch(_bucket_plan(object.union(fx.bucket, {"force_destroy": true})), [{"op": "replace", "path": "/request/environment", "value": "dev"}])
	count(security.deny) == 0 with input as inp
	count(security.deny) == 0 with input as _bucket_plan(_bucket_without("/force_destroy"))
}
