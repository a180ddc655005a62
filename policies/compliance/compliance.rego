# METADATA
# title: Compliance policy set
# description: >-
#   Hard-mandatory organisational rules: required tags, allowed regions per environment and
#   change tickets for ticketed environments, plus advisory hygiene findings. Settings live in
#   policies/data/compliance.json and policies/data/regions.json.
# scope: package
package gateway.compliance

import data.gateway.lib

# This set never asks for approvals: its violations are rejected outright.
require_approval := set()

# METADATA
# title: Compliance policy data missing
# description: >-
#   data.data.compliance or data.data.regions (policies/data/compliance.json, regions.json) is
#   not loaded, so the tag, region and ticket rules cannot be evaluated. Rejects instead of
#   silently passing.
# custom:
#   id: policy_data_missing
#   severity: critical
#   remediation: >-
#     load policies/data/compliance.json and regions.json into OPA (non-bundle mode reads every
#     *.json; a bundle only reads files named data.json)
deny contains v if {
	missing := lib.missing_data([
		["compliance", "required_tags"],
		["compliance", "taggable_types"],
		["compliance", "ticket_required_environments"],
		["compliance", "ticket_pattern"],
		["regions"],
	])
	count(missing) > 0
	problem := sprintf("policy data %s is not loaded, compliance rules cannot be evaluated", [concat(", ", missing)])
	v := lib.violation(rego.metadata.rule(), "request", problem)
}
