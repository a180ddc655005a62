# Data residency: teams and data classifications bound to a set of regions.
package gateway.compliance

import data.gateway.lib

# The residency zones a resource must stay in, as [why, zone] pairs: the request's team
# (data.data.residency.teams) and the resource's classification tag value
# (data.data.residency.classifications). A function of the resource's tags (lib.tags), so
# resources sharing their tags share the (memoised) result.
_residency_requirements(tags, team) := team_zones | tag_zones if {
	team_zones := {[sprintf("team %s", [team]), zone] | zone := data.data.residency.teams[team]}
	tag := data.data.residency.classification_tag
	tag_zones := {[sprintf("tag %s = %s", [tag, value]), zone] |
		value := tags[tag]
		zone := data.data.residency.classifications[value]
	}
}

_in_zone(region, zone) if {
	some pattern in data.data.residency.zones[zone]
	glob.match(pattern, [], region)
}

# METADATA
# title: Data residency violated
# description: >-
#   A created or updated resource must lie in the residency zone of the request's team
#   (data.data.residency.teams, e.g. analytics -> eu) and of its data-classification tag
#   value (data.data.residency.classifications, e.g. personal-eu -> eu). A zone is a list of
#   region globs (eu -> eu-*); a zone without an entry allows no region. Deletes are not checked.
# custom:
#   id: data_residency_violation
#   severity: critical
#   remediation: >-
#     create the resource in a region of the required zone (e.g. eu-west-1 or eu-central-1 for
#     eu), or correct the data-classification tag if the data is not restricted
deny contains v if {
	team := object.get(input, ["request", "team"], "(unknown)")
	some r in lib.planned
	some [source, zone] in _residency_requirements(lib.tags(r.values), team)
	region := lib.region(r)
	not _in_zone(region, zone)
	problem := sprintf("region %s is outside data residency zone %s (%s) required by %s", [
		region, zone,
		lib.list_text(object.get(data.data.residency.zones, zone, [])),
		source,
	])
	v := lib.violation(rego.metadata.rule(), r.address, problem)
}
