# Required tags on new resources.
package gateway.compliance

import data.gateway.lib

# Tags the resource will carry: tags_all (tags merged with provider default tags), with tags as fallback.
_tags(values) := object.union(lib.map_attr(values, "tags"), lib.map_attr(values, "tags_all"))

# METADATA
# title: Required tags missing
# description: >-
#   A resource created with a taggable type (data.data.compliance.taggable_types) must carry
#   every tag in data.data.compliance.required_tags with a non-empty value. tags_all is
#   checked, falling back to tags. Updates and deletes are not checked.
# custom:
#   id: required_tags_missing
#   severity: medium
#   remediation: add the missing tags with non-empty values to the resource's tags (or the provider's default_tags)
deny contains v if {
	some r in lib.planned
	r.creating
	r.type in data.data.compliance.taggable_types
	tags := _tags(r.values)
	missing := [t | some t in data.data.compliance.required_tags; not lib.non_empty_string(object.get(tags, t, null))]
	count(missing) > 0
	v := lib.violation(rego.metadata.rule(), r.address, sprintf("missing or empty required tags: %s", [concat(", ", missing)]))
}
