package gateway.compliance_test

import data.gateway.compliance
import data.gateway.fixtures_test as fx

# A dev request (every region is allowed there) by team, with one instance in region.
_team_plan(team, region, values) := json.patch(fx.plan([fx.rc("aws_instance", "web-1", "create", object.union(values, {"region": region}))]), [
	{"op": "replace", "path": "/request/environment", "value": "dev"},
	{"op": "replace", "path": "/request/team", "value": team},
])

_classified(value) := object.union(fx.instance, {"tags": {"data-classification": value}})

test_eu_team_outside_eu_denied if {
	denies := compliance.deny with input as _team_plan("analytics", "us-east-1", fx.instance)
	denies == {{
		"rule": "data_residency_violation",
		"address": "aws_instance.web-1",
		"msg": "aws_instance.web-1: region us-east-1 is outside data residency zone eu (eu-*) required by team analytics. Remediation: create the resource in a region of the required zone (e.g. eu-west-1 or eu-central-1 for eu), or correct the data-classification tag if the data is not restricted",
	}}
}

test_eu_team_in_eu_allowed if {
	every region in ["eu-west-1", "eu-central-1"] {
		count(compliance.deny) == 0 with input as _team_plan("analytics", region, fx.instance)
	}
}

test_unrestricted_team_anywhere_allowed if {
	count(compliance.deny) == 0 with input as _team_plan("payments", "us-west-2", fx.instance)
}

test_classification_tag_binds_region if {
	some v in compliance.deny with input as _team_plan("payments", "us-east-1", _classified("personal-eu"))
	v.rule == "data_residency_violation"
	contains(v.msg, "outside data residency zone eu (eu-*) required by tag data-classification = personal-eu")
	"data_residency_violation" in fx.ids(compliance.deny) with input as _team_plan("payments", "eu-west-1", _classified("personal-us"))
	count(compliance.deny) == 0 with input as _team_plan("payments", "us-east-1", _classified("personal-us"))
	count(compliance.deny) == 0 with input as _team_plan("payments", "us-east-1", _classified("internal"))
}

test_team_and_tag_each_reported if {
	denies := compliance.deny with input as _team_plan("analytics", "eu-west-1", _classified("personal-us"))
	count(fx.by_rule(denies, "data_residency_violation")) == 1
	denies2 := compliance.deny with input as _team_plan("analytics", "us-east-1", _classified("personal-eu"))
	count(fx.by_rule(denies2, "data_residency_violation")) == 2
}

test_residency_checks_updates_not_deletes if {
	moved := object.union(fx.instance, {"region": "us-east-1"})
	base := json.patch(fx.plan([]), [
		{"op": "replace", "path": "/request/environment", "value": "dev"},
		{"op": "replace", "path": "/request/team", "value": "analytics"},
	])
	upd := object.union(base, {"resource_changes": [fx.change("aws_instance", "web-1", ["update"], fx.instance, moved)]})
	"data_residency_violation" in fx.ids(compliance.deny) with input as upd
	del := object.union(base, {"resource_changes": [fx.rc("aws_instance", "web-1", "delete", moved)]})
	count(compliance.deny) == 0 with input as del
}

test_unknown_zone_allows_no_region if {
	some v in compliance.deny with input as _team_plan("analytics", "eu-west-1", fx.instance)
		with data.data.residency.teams as {"analytics": "apac"}
	contains(v.msg, "outside data residency zone apac (none)")
}

test_residency_without_team if {
	inp := json.patch(_team_plan("analytics", "us-east-1", fx.instance), [{"op": "remove", "path": "/request/team"}])
	count(compliance.deny) == 0 with input as inp
	"data_residency_violation" in fx.ids(compliance.deny) with input as inp
		with data.data.residency.teams as {"(unknown)": "eu"}
}
