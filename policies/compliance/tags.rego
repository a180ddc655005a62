# Required tags and tag value formats on new resources.
package gateway.compliance

import data.gateway.lib

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
	tags := lib.tags(r.values)
	missing := [t | some t in data.data.compliance.required_tags; not lib.non_empty_string(object.get(tags, t, null))]
	count(missing) > 0
	v := lib.violation(rego.metadata.rule(), r.address, sprintf("missing or empty required tags: %s", [concat(", ", missing)]))
}

# METADATA
# title: Tag value malformed
# description: >-
#   On a created resource of a taggable type, each tag named in data.data.compliance.tag_formats
#   that is present with a non-empty string value must match its pattern (cost-center
#   ^cc-[0-9]+$, owner a lower-case team name, data-classification one of the known classes).
#   Missing or empty tags are required_tags_missing's business.
# custom:
#   id: tag_value_invalid
#   severity: medium
#   remediation: >-
#     fix the tag value to match the pattern in policies/data/compliance.json (e.g.
#     cost-center = "cc-42", owner = "payments")
deny contains v if {
	some r in lib.planned
	r.creating
	r.type in data.data.compliance.taggable_types
	tags := lib.tags(r.values)
	some key, pattern in data.data.compliance.tag_formats
	value := tags[key]
	lib.non_empty_string(value)
	not regex.match(pattern, value)
	v := lib.violation(rego.metadata.rule(), r.address, sprintf("tag %s = %q does not match %s", [key, value, pattern]))
}
