package gateway.compliance_test

import data.gateway.compliance
import data.gateway.fixtures_test as fx

test_bad_resource_name_denied if {
	denies := compliance.deny with input as fx.plan([fx.rc("aws_instance", "Web_1", "create", fx.instance)])
	denies == {{
		"rule": "resource_name_invalid",
		"address": "aws_instance.Web_1",
		"msg": `aws_instance.Web_1: resource name "Web_1" does not match ^[a-z][a-z0-9-]{0,62}$. Remediation: rename the resource to lower-case kebab case (e.g. web-1, payments-db), matching the pattern in policies/data/compliance.json`,
	}}
}

test_good_resource_names_allowed if {
	every name in ["web-1", "w0", "payments-db"] {
		count(compliance.deny) == 0 with input as fx.plan([fx.rc("aws_instance", name, "create", fx.instance)])
	}
	every name in ["1web", "web.1", ""] {
		"resource_name_invalid" in fx.ids(compliance.deny) with input as fx.plan([fx.rc("aws_instance", name, "create", fx.instance)])
	}
}

test_existing_resource_names_not_checked if {
	inp := fx.plan([
		fx.rc("aws_instance", "Legacy_Box", "update", fx.instance),
		fx.rc("aws_instance", "Old_Box", "delete", fx.instance),
	])
	count(compliance.deny) == 0 with input as inp
}

test_bucket_name_with_dots_denied if {
	bucket := object.union(fx.bucket, {"bucket": "payments.artifacts"})
	denies := compliance.deny with input as fx.plan([fx.rc("aws_s3_bucket", "artifacts", "create", bucket)])
	fx.ids(denies) == {"physical_name_invalid"}
	some v in denies
	contains(v.msg, `aws_s3_bucket.artifacts: bucket "payments.artifacts" does not match ^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$. Remediation:`)
}

test_physical_names_per_type if {
	sg := object.union(fx.security_group, {"name": "Web SG"})
	"physical_name_invalid" in fx.ids(compliance.deny) with input as fx.plan([fx.rc("aws_security_group", "web", "create", sg)])
	db := object.union(fx.db_instance, {"identifier": "payments-db-"})
	count(compliance.deny) == 0 with input as fx.plan([fx.rc("aws_db_instance", "main", "create", db)])
	db2 := object.union(fx.db_instance, {"identifier": "Payments"})
	"physical_name_invalid" in fx.ids(compliance.deny) with input as fx.plan([fx.rc("aws_db_instance", "main", "create", db2)])
}

test_unset_or_unchecked_physical_names_allowed if {
	bucket := json.patch(fx.bucket, [{"op": "remove", "path": "/bucket"}])
	count(compliance.deny) == 0 with input as fx.plan([fx.rc("aws_s3_bucket", "artifacts", "create", bucket)])
	count(compliance.deny) == 0 with input as fx.plan([fx.rc("aws_s3_bucket", "artifacts", "update", object.union(fx.bucket, {"bucket": "Old.Name"}))])
	count(compliance.deny) == 0 with input as fx.plan([fx.rc("aws_instance", "web-1", "create", object.union(fx.instance, {"name": "Not Checked"}))])
}

test_naming_from_data if {
	inp := fx.plan([fx.rc("aws_s3_bucket", "artifacts", "create", fx.bucket)])
	"physical_name_invalid" in fx.ids(compliance.deny) with input as inp
		with data.data.compliance.naming.attributes as {"aws_s3_bucket": {"bucket": "^acme-"}}
	"resource_name_invalid" in fx.ids(compliance.deny) with input as inp
		with data.data.compliance.naming.resource_name as "^s3-"
}
