package gateway.security_test

import data.gateway.fixtures_test as fx
import data.gateway.security

_db_plan(db) := fx.plan([fx.rc("aws_db_instance", "main", "create", db)])

test_rds_unencrypted_denied if {
	denies := security.deny with input as _db_plan(object.union(fx.db_instance, {"storage_encrypted": false}))
	fx.ids(denies) == {"rds_storage_not_encrypted"}
	some v in denies
	v.address == "aws_db_instance.main"
	contains(v.msg, "storage_encrypted is not true. Remediation: set storage_encrypted = true")
}

test_rds_encryption_absent_denied if {
	db := json.patch(fx.db_instance, [{"op": "remove", "path": "/storage_encrypted"}])
	"rds_storage_not_encrypted" in fx.ids(security.deny) with input as _db_plan(db)
}

test_rds_public_denied if {
	db := object.union(fx.db_instance, {"publicly_accessible": true})
	fx.ids(security.deny) == {"rds_publicly_accessible"} with input as _db_plan(db)
}

test_rds_private_encrypted_allowed if {
	count(security.deny) == 0 with input as _db_plan(fx.db_instance)
	db := json.patch(fx.db_instance, [{"op": "remove", "path": "/publicly_accessible"}])
	count(security.deny) == 0 with input as _db_plan(db)
}
