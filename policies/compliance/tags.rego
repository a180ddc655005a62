# Required tags and tag value formats on new resources.
package gateway.compliance

import data.gateway.lib

# The created resources of a taggable type (data.data.compliance.taggable_types) with their tags
# (lib.tags), as [resource, tags]. A function with a placeholder argument rather than a rule, so
# that it is evaluated once per query (function calls with the same ground arguments are
# memoised) without becoming part of the package document; both rules below read it.
_tagged(_) := [[r, lib.tags(r.values)] |
	taggable := data.data.compliance.taggable_types
	some r in lib.planned
	r.creating
	r.type in taggable
]

# The checks below are functions of the tag map, not of the resource, so resources that share
# their tags (e.g. the provider's default_tags) share the (memoised) result.
# The required tags that tags lacks or leaves empty, in data.data.compliance.required_tags order.
_missing_tags(tags) := [t |
	some t in data.data.compliance.required_tags
	not lib.non_empty_string(object.get(tags, t, null))
]

# The non-empty tag values that do not match their data.data.compliance.tag_formats pattern, as
# [key, value, pattern].
_malformed_tags(tags) := [[key, value, pattern] |
	some key, pattern in data.data.compliance.tag_formats
	value := tags[key]
	lib.non_empty_string(value)
	not regex.match(pattern, value)
]

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
	some [r, tags] in _tagged(0)
	missing := _missing_tags(tags)
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
	some [r, tags] in _tagged(0)
	some [key, value, pattern] in _malformed_tags(tags)
	v := lib.violation(rego.metadata.rule(), r.address, sprintf("tag %s = %q does not match %s", [key, value, pattern]))
}
