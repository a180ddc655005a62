package gateway.compliance_test

import data.gateway.compliance
import data.gateway.fixtures_test as fx

test_compliant_plan_has_no_findings if {
	inp := fx.plan(fx.compliant_changes)
	count(compliance.deny) == 0 with input as inp
	count(compliance.warn) == 0 with input as inp
	count(compliance.require_approval) == 0 with input as inp
}

test_sets_defined_on_empty_input if {
	count(compliance.deny) == 0 with input as {}
	count(compliance.warn) == 0 with input as {}
	count(compliance.require_approval) == 0 with input as {}
}

test_compliance_data_missing_denied if {
	denies := compliance.deny with input as fx.plan(fx.compliant_changes) with data.data as {"regions": {"prod": ["eu-west-1"]}}
	fx.ids(denies) == {"policy_data_missing"}
	some v in denies
	contains(v.msg, "policy data data.data.compliance.required_tags, data.data.compliance.taggable_types, data.data.compliance.ticket_required_environments, data.data.compliance.ticket_pattern, data.data.compliance.tag_formats, data.data.compliance.naming.resource_name, data.data.compliance.naming.attributes, data.data.residency.zones, data.data.residency.teams, data.data.residency.classification_tag, data.data.residency.classifications, data.data.calendar.freezes, data.data.calendar.freeze_exempt_change_types, data.data.calendar.window_required.environments, data.data.calendar.window_required.change_types, data.data.approvals.emergency.group, data.data.approvals.emergency.count, data.data.approvals.emergency.change_types is not loaded")
	not "enforcement" in object.keys(v)
}

test_regions_data_missing_denied if {
	some v in compliance.deny with input as fx.plan(fx.compliant_changes) with data.data.regions as null
	v.rule == "policy_data_missing"
	contains(v.msg, "data.data.regions is not loaded")
}
