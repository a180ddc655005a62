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

_db_env_plan(db, environment) := json.patch(_db_plan(db), [{"op": "replace", "path": "/request/environment", "value": environment}])

_db_with(patch) := object.union(fx.db_instance, patch)

test_backup_retention_below_prod_minimum_denied if {
	denies := security.deny with input as _db_plan(_db_with({"backup_retention_period": 3}))
	fx.ids(denies) == {"rds_backup_retention_too_short"}
	some v in denies
	v.msg == "aws_db_instance.main: backup_retention_period is 3, environment prod requires at least 7 days. Remediation: set backup_retention_period to at least the environment's minimum (7 days in prod), up to 35"
}

test_backup_retention_absent_denied if {
	db := json.patch(fx.db_instance, [{"op": "remove", "path": "/backup_retention_period"}])
	some v in security.deny with input as _db_plan(db)
	contains(v.msg, "backup_retention_period is not set, environment prod requires at least 7 days")
}

test_backup_retention_not_a_number_denied if {
	"rds_backup_retention_too_short" in fx.ids(security.deny) with input as _db_plan(_db_with({"backup_retention_period": "30"}))
}

test_backup_retention_minimum_per_environment if {
	count(security.deny) == 0 with input as _db_plan(_db_with({"backup_retention_period": 35}))
	count(security.deny) == 0 with input as _db_env_plan(_db_with({"backup_retention_period": 3}), "staging")
	"rds_backup_retention_too_short" in fx.ids(security.deny) with input as _db_env_plan(_db_with({"backup_retention_period": 2}), "staging")
	count(security.deny) == 0 with input as _db_env_plan(_db_with({"backup_retention_period": 1}), "dev")
}

test_backup_retention_default_entry if {
	some v in security.deny with input as _db_env_plan(_db_with({"backup_retention_period": 0}), "qa")
	contains(v.msg, "backup_retention_period is 0, environment qa requires at least 1 days")
}

test_deletion_protection_off_in_prod_denied if {
	denies := security.deny with input as _db_plan(_db_with({"deletion_protection": false}))
	fx.ids(denies) == {"rds_deletion_protection_disabled"}
	some v in denies
	contains(v.msg, "aws_db_instance.main: deletion_protection is not true in environment prod. Remediation:")
	db := json.patch(fx.db_instance, [{"op": "remove", "path": "/deletion_protection"}])
	"rds_deletion_protection_disabled" in fx.ids(security.deny) with input as _db_plan(db)
}

test_deletion_protection_off_outside_prod_allowed if {
	count(security.deny) == 0 with input as _db_env_plan(_db_with({"deletion_protection": false}), "dev")
}

test_final_snapshot_skipped_in_prod_denied if {
	denies := security.deny with input as _db_plan(_db_with({"skip_final_snapshot": true}))
	fx.ids(denies) == {"rds_final_snapshot_skipped"}
	some v in denies
	contains(v.msg, "skip_final_snapshot is true in environment prod")
}

test_final_snapshot_default_or_outside_prod_allowed if {
	db := json.patch(fx.db_instance, [{"op": "remove", "path": "/skip_final_snapshot"}])
	count(security.deny) == 0 with input as _db_plan(db)
	count(security.deny) == 0 with input as _db_env_plan(_db_with({"skip_final_snapshot": true}), "staging")
}

test_protected_environments_from_data if {
	inp := _db_env_plan(_db_with({"skip_final_snapshot": true, "deletion_protection": false}), "staging")
	fx.ids(security.deny) == {"rds_final_snapshot_skipped", "rds_deletion_protection_disabled"} with input as inp
		with data.data.security.protected_environments as ["prod", "staging"]
}

test_master_password_not_managed_denied if {
	denies := security.deny with input as _db_plan(_db_with({"manage_master_user_password": false}))
	denies == {{
		"rule": "rds_master_password_not_managed",
		"address": "aws_db_instance.main",
		"msg": "aws_db_instance.main: manage_master_user_password is not true. Remediation: set manage_master_user_password = true and grant readers secretsmanager:GetSecretValue on the generated secret through IAM",
	}}
	db := json.patch(fx.db_instance, [{"op": "remove", "path": "/manage_master_user_password"}])
	"rds_master_password_not_managed" in fx.ids(security.deny) with input as _db_env_plan(db, "dev")
}

test_deleted_database_not_checked if {
	db := _db_with({"deletion_protection": false, "manage_master_user_password": false, "backup_retention_period": 0})
	count(security.deny) == 0 with input as fx.plan([fx.rc("aws_db_instance", "main", "delete", db)])
}
