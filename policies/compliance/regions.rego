# Allowed regions per environment.
package gateway.compliance

import data.gateway.lib

# METADATA
# title: Region not allowed for the environment
# description: >-
#   Every resource change (create, update and delete) must be in a region allowed for the
#   request's environment by data.data.regions. The region is the resource's after.region
#   (before.region for a delete), else the AWS provider's region. An environment without an
#   entry allows no region.
# custom:
#   id: region_not_allowed
#   severity: high
#   remediation: move the resource to one of the environment's allowed regions, or ask governance to extend policies/data/regions.json
deny contains v if {
	environment := object.get(input, ["request", "environment"], "(unset)")
	allowed := object.get(data.data.regions, environment, [])
	some r in lib.resources
	region := lib.region(r)
	not region in allowed
	problem := sprintf("region %s is not allowed for environment %s (allowed: %s)", [
		region, environment,
		lib.list_text(allowed),
	])
	v := lib.violation(rego.metadata.rule(), r.address, problem)
}
