package gateway.compliance_test

import data.gateway.compliance
import data.gateway.fixtures_test as fx

_tagged(tags, tags_all) := json.patch(fx.instance, [
	{"op": "replace", "path": "/tags", "value": tags},
	{"op": "replace", "path": "/tags_all", "value": tags_all},
])

_create(values) := fx.plan([fx.rc("aws_instance", "web-1", "create", values)])

test_missing_tags_denied if {
	denies := compliance.deny with input as _create(_tagged({}, {}))
	fx.ids(denies) == {"required_tags_missing"}
	some v in denies
	v.address == "aws_instance.web-1"
	contains(v.msg, "aws_instance.web-1: missing or empty required tags: cost-center, owner. Remediation:")
}

test_empty_tag_value_denied if {
	tags := {"cost-center": "  ", "owner": "payments"}
	some v in compliance.deny with input as _create(_tagged(tags, tags))
	v.rule == "required_tags_missing"
	contains(v.msg, "tags: cost-center.")
}

test_non_string_tag_value_denied if {
	tags := {"cost-center": 42, "owner": "payments"}
	"required_tags_missing" in fx.ids(compliance.deny) with input as _create(_tagged(tags, null))
}

test_tags_all_satisfies if {
	count(compliance.deny) == 0 with input as _create(_tagged(null, fx.tags))
}

test_tags_fallback_when_tags_all_absent if {
	values := json.patch(fx.instance, [{"op": "remove", "path": "/tags_all"}])
	count(compliance.deny) == 0 with input as _create(values)
}

test_default_tags_from_tags_all_count if {
	count(compliance.deny) == 0 with input as _create(_tagged({"owner": "payments"}, fx.tags))
}

test_every_taggable_type_checked if {
	every type in ["aws_instance", "aws_s3_bucket", "aws_security_group", "aws_db_instance"] {
		inp := fx.plan([fx.rc(type, "x", "create", {"region": "eu-west-1"})])
		"required_tags_missing" in fx.ids(compliance.deny) with input as inp
	}
}

test_untaggable_type_ignored if {
	inp := fx.plan([fx.rc("aws_iam_policy_attachment", "x", "create", {"region": "eu-west-1"})])
	count(compliance.deny) == 0 with input as inp
}

test_update_and_delete_not_tag_checked if {
	inp := fx.plan([
		fx.rc("aws_instance", "legacy", "update", _tagged({}, {})),
		fx.rc("aws_instance", "old", "delete", _tagged({}, {})),
	])
	count(compliance.deny) == 0 with input as inp
}

test_required_tags_from_data if {
	inp := _create(fx.instance)
	some v in compliance.deny with input as inp
		with data.data.compliance.required_tags as ["owner", "data-classification"]
	contains(v.msg, "tags: data-classification.")
}

_with_tags(tags) := _create(_tagged(tags, tags))

test_malformed_cost_center_denied if {
	denies := compliance.deny with input as _with_tags({"cost-center": "42", "owner": "payments"})
	denies == {{
		"rule": "tag_value_invalid",
		"address": "aws_instance.web-1",
		"msg": `aws_instance.web-1: tag cost-center = "42" does not match ^cc-[0-9]+$. Remediation: fix the tag value to match the pattern in policies/data/compliance.json (e.g. cost-center = "cc-42", owner = "payments")`,
	}}
}

test_malformed_owner_and_classification_denied if {
	tags := {"cost-center": "cc-7", "owner": "Payments Team", "data-classification": "secret"}
	denies := compliance.deny with input as _with_tags(tags)
	fx.ids(denies) == {"tag_value_invalid"}
	count(denies) == 2
}

test_well_formed_tags_allowed if {
	tags := {"cost-center": "cc-1234", "owner": "data-platform", "data-classification": "internal", "free-text": "Anything Goes"}
	count(compliance.deny) == 0 with input as _with_tags(tags)
}

test_tag_format_skips_missing_and_empty_tags if {
	denies := compliance.deny with input as _with_tags({"cost-center": "", "owner": "payments"})
	fx.ids(denies) == {"required_tags_missing"}
}

test_tag_format_from_default_tags if {
	"tag_value_invalid" in fx.ids(compliance.deny) with input as _create(_tagged(fx.tags, {"cost-center": "CC-42", "owner": "payments"}))
}

test_tag_format_not_checked_on_update_or_untaggable if {
	bad := _tagged({"cost-center": "42", "owner": "payments"}, null)
	count(compliance.deny) == 0 with input as fx.plan([fx.rc("aws_instance", "legacy", "update", bad)])
	inp := fx.plan([fx.rc("aws_iam_policy_attachment", "x", "create", {"region": "eu-west-1", "tags": {"cost-center": "42"}})])
	count(compliance.deny) == 0 with input as inp
}

test_tag_formats_from_data if {
	some v in compliance.deny with input as _create(fx.instance)
		with data.data.compliance.tag_formats as {"owner": "^team-"}
	contains(v.msg, `tag owner = "payments" does not match ^team-`)
}
