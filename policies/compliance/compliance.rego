# METADATA
# title: Compliance policy set
# description: >-
#   Hard-mandatory organisational rules: required tags and tag value formats, allowed regions
#   per environment, data residency, naming conventions, change windows and freeze calendars,
#   and change tickets for ticketed environments, plus advisory hygiene findings. Emergency
#   changes ask for the expedited approval of the emergency group (the ECAB). Settings live in
#   policies/data/compliance.json, regions.json, residency.json, calendar.json and approvals.json.
# scope: package
package gateway.compliance

import data.gateway.lib

# The set's violations are rejected outright; its only approval is the emergency path
# (require_approval, a partial set, in emergency.rego; empty for every other change).

# METADATA
# title: Compliance policy data missing
# description: >-
#   data.data.compliance, data.data.regions, data.data.residency, data.data.calendar or
#   data.data.approvals (policies/data/compliance.json, regions.json, residency.json,
#   calendar.json, approvals.json) is not loaded, so the tag, naming, region, residency,
#   calendar, ticket and emergency approval rules cannot be evaluated. Rejects instead of
#   silently passing (an emergency change would otherwise skip its ECAB approval).
# custom:
#   id: policy_data_missing
#   severity: critical
#   remediation: >-
#     load policies/data/compliance.json, regions.json, residency.json, calendar.json and
#     approvals.json into OPA (non-bundle mode reads every *.json; a bundle only reads files
#     named data.json)
deny contains v if {
	missing := lib.missing_data([
		["compliance", "required_tags"],
		["compliance", "taggable_types"],
		["compliance", "ticket_required_environments"],
		["compliance", "ticket_pattern"],
		["compliance", "tag_formats"],
		["compliance", "naming", "resource_name"],
		["compliance", "naming", "attributes"],
		["regions"],
		["residency", "zones"],
		["residency", "teams"],
		["residency", "classification_tag"],
		["residency", "classifications"],
		["calendar", "freezes"],
		["calendar", "freeze_exempt_change_types"],
		["calendar", "window_required", "environments"],
		["calendar", "window_required", "change_types"],
		["approvals", "emergency", "group"],
		["approvals", "emergency", "count"],
		["approvals", "emergency", "change_types"],
	])
	count(missing) > 0
	problem := sprintf("policy data %s is not loaded, compliance rules cannot be evaluated", [concat(", ", missing)])
	v := lib.violation(rego.metadata.rule(), "request", problem)
}
