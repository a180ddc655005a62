package gateway.lib_test

import data.gateway.fixtures_test as fx
import data.gateway.lib

test_resources_normalises_create_update_delete if {
	inp := fx.plan([
		fx.rc("aws_instance", "a", "create", fx.instance),
		fx.rc("aws_instance", "b", "update", fx.instance),
		fx.rc("aws_instance", "c", "delete", fx.instance),
	])
	rs := lib.resources with input as inp
	count(rs) == 3
	some a in rs
	a.address == "aws_instance.a"
	a.creating
	not a.deleting
	a.values == fx.instance
	some c in rs
	c.address == "aws_instance.c"
	c.deleting
	c.values == fx.instance
}

test_replacement_counts_as_create if {
	inp := fx.plan([fx.change("aws_instance", "r", ["delete", "create"], fx.instance, fx.instance)])
	some r in lib.planned with input as inp
	r.creating
	not r.deleting
}

test_data_sources_skipped if {
	ds := object.union(fx.rc("aws_instance", "d", "create", fx.instance), {"mode": "data"})
	count(lib.resources) == 0 with input as fx.plan([ds])
}

test_planned_excludes_deletes if {
	inp := fx.plan([
		fx.rc("aws_instance", "keep", "create", fx.instance),
		fx.rc("aws_instance", "gone", "delete", fx.instance),
	])
	{r.address | some r in lib.planned} == {"aws_instance.keep"} with input as inp
}

test_update_lays_after_over_before if {
	before := fx.instance
	after := {"instance_type": "t3.medium", "region": "eu-west-1"}
	inp := fx.plan([fx.change("aws_instance", "u", ["update"], before, after)])
	some r in lib.planned with input as inp
	r.values.instance_type == "t3.medium"
	r.values.metadata_options == before.metadata_options
}

test_update_merge_is_shallow if {
	before := object.union(fx.instance, {"tags": {"owner": "x", "cost-center": "cc-1"}})
	after := {"tags": {"owner": "y"}, "region": "eu-west-1"}
	inp := fx.plan([fx.change("aws_instance", "u", ["update"], before, after)])
	some r in lib.planned with input as inp
	r.values.tags == {"owner": "y"}
	r.values.ami == fx.instance.ami
}

test_update_without_before_uses_after if {
	after := {"instance_type": "t3.medium", "region": "eu-west-1"}
	inp := fx.plan([fx.change("aws_instance", "u", ["update"], null, after)])
	some r in lib.planned with input as inp
	r.values == after
}

test_region_from_values if {
	lib.region({"values": {"region": "eu-central-1"}}) == "eu-central-1"
}

test_region_falls_back_to_provider if {
	lib.region({"values": {}}) == "eu-west-1" with input as fx.plan([])
}

test_region_unset if {
	lib.region({"values": null}) == "(unset)" with input as {}
}

test_blocks if {
	lib.blocks({"a": [1]}, "a") == [1]
	lib.blocks({"a": null}, "a") == []
	lib.blocks({}, "a") == []
}

test_map_attr if {
	lib.map_attr({"t": {"k": "v"}}, "t") == {"k": "v"}
	lib.map_attr({"t": null}, "t") == {}
}

test_non_empty_string if {
	lib.non_empty_string("x")
	not lib.non_empty_string("  ")
	not lib.non_empty_string(3)
}

test_money if {
	lib.money(1200) == "1200.00"
	lib.money(15.186) == "15.19"
	lib.money(15.0) == "15.00"
	lib.money(-0.5) == "-0.50"
	lib.money(0) == "0.00"
}

test_violation_without_enforcement if {
	meta := {"custom": {"id": "some_rule", "remediation": "fix it"}}
	lib.violation(meta, "aws_instance.x", "broken") == {
		"rule": "some_rule",
		"msg": "aws_instance.x: broken. Remediation: fix it",
		"address": "aws_instance.x",
	}
}

test_violation_with_enforcement_override if {
	meta := {"custom": {"id": "some_rule", "remediation": "fix it", "enforcement": "advisory"}}
	v := lib.violation(meta, "request", "broken")
	v.enforcement == "advisory"
	v.rule == "some_rule"
}

test_violation_ignores_unknown_enforcement if {
	meta := {"custom": {"id": "some_rule", "remediation": "fix it", "enforcement": "blocking"}}
	v := lib.violation(meta, "request", "broken")
	not "enforcement" in object.keys(v)
}

# METADATA
# title: Metadata round trip
# custom:
#   id: metadata_round_trip
#   remediation: none needed
#   enforcement: soft-mandatory
test_violation_from_rule_metadata if {
	v := lib.violation(rego.metadata.rule(), "request", "checked")
	v == {
		"rule": "metadata_round_trip",
		"msg": "request: checked. Remediation: none needed",
		"address": "request",
		"enforcement": "soft-mandatory",
	}
}

test_missing_data if {
	lib.missing_data([["cost", "approval_group"], ["regions", "prod"]]) == [] with data.data as {"cost": {"approval_group": "finance"}, "regions": {"prod": []}}
	lib.missing_data([["cost", "approval_group"], ["regions"]]) == ["data.data.regions"] with data.data as {"cost": {"approval_group": "finance"}}
	lib.missing_data([["regions"]]) == ["data.data.regions"] with data.data as {}
	lib.missing_data([["regions"]]) == ["data.data.regions"] with data.data as null
}

test_resources_carry_name if {
	some r in lib.resources with input as fx.plan([fx.rc("aws_instance", "web-1", "create", fx.instance)])
	r.name == "web-1"
	nameless := object.remove(fx.rc("aws_instance", "web-1", "create", fx.instance), ["name"])
	some n in lib.resources with input as fx.plan([nameless])
	n.name == ""
}

test_environment if {
	lib.environment == "prod" with input as fx.plan([])
	lib.environment == "(unset)" with input as {}
}

test_tags_merge_tags_all_over_tags if {
	lib.tags({"tags": {"a": "1", "b": "2"}, "tags_all": {"b": "3", "c": "4"}}) == {"a": "1", "b": "3", "c": "4"}
	lib.tags({"tags": null}) == {}
	lib.tags({}) == {}
}

test_list_text if {
	lib.list_text(["b", "a"]) == "a, b"
	lib.list_text({"x"}) == "x"
	lib.list_text([]) == "none"
}

test_planned_by_type if {
	inp := fx.plan([
		fx.rc("aws_instance", "a", "create", fx.instance),
		fx.rc("aws_instance", "b", "update", fx.instance),
		fx.rc("aws_instance", "c", "delete", fx.instance),
		fx.rc("aws_s3_bucket", "d", "create", fx.bucket),
	])
	by_type := lib.planned_by_type with input as inp
	{t: {r.address | some r in rs} | some t, rs in by_type} == {
		"aws_instance": {"aws_instance.a", "aws_instance.b"},
		"aws_s3_bucket": {"aws_s3_bucket.d"},
	}
	lib.planned_of("aws_instance") == by_type.aws_instance with input as inp
	lib.planned_of("aws_db_instance") == set() with input as inp
}
