# METADATA
# title: Shared helpers for the gateway policy sets
# description: >-
#   Normalises the Terraform-plan-shaped input document and builds the violation
#   objects the gateway reads ({rule, msg, address[, enforcement]}).
package gateway.lib

# Enforcement levels a rule may set in METADATA custom.enforcement to override its set's default.
enforcement_levels := {"advisory", "soft-mandatory", "hard-mandatory"}

# METADATA
# title: Managed resource changes
# description: >-
#   Every managed resource change as {address, type, name, actions, creating, deleting, values}.
#   values is the state after the change for create/update (for an update, after's top-level
#   attributes laid over before's, so a partial after still sees the unchanged attributes) and
#   the before state for a delete. Data sources (mode "data") are skipped.
resources contains r if {
	some rc in input.resource_changes
	object.get(rc, "mode", "managed") == "managed"
	actions := rc.change.actions
	r := {
		"address": rc.address,
		"type": rc.type,
		"name": object.get(rc, "name", ""),
		"actions": actions,
		"creating": "create" in actions,
		"deleting": actions == ["delete"],
		"values": _values(rc.change),
	}
}

# METADATA
# title: Created or updated resources
# description: >-
#   The resources whose properties policies examine: everything in `resources` except
#   plain deletes, and only where the planned state is an object.
planned contains r if {
	some r in resources
	not r.deleting
	is_object(r.values)
}

# METADATA
# title: Created or updated resources by type
# description: >-
#   The members of `planned` grouped by type, {type: set of resources}; a type the request
#   does not touch has no entry. Evaluated once per query, so a rule for one type reads
#   planned_by_type[type] (cheaper than calling planned_of for every rule).
planned_by_type := {t: {r | some r in planned; r.type == t} | some t in {r.type | some r in planned}}

# METADATA
# title: Created or updated resources of one type
# description: The members of `planned` whose type is resource_type.
planned_of(resource_type) := {r | some r in planned; r.type == resource_type}

_values(change) := change.before if {
	change.actions == ["delete"]
} else := object.union(object.remove(change.before, object.keys(change.after)), change.after) if {
	"update" in change.actions
	is_object(change.before)
	is_object(change.after)
} else := change.after

# METADATA
# title: Region of a resource change
# description: >-
#   values.region (after for create/update, before for delete), else the AWS provider's
#   constant region from the configuration, else "(unset)".
region(r) := region if {
	region := r.values.region
	is_string(region)
	region != ""
} else := input.configuration.provider_config.aws.expressions.region.constant_value if {
	is_string(input.configuration.provider_config.aws.expressions.region.constant_value)
} else := "(unset)"

# METADATA
# title: Request environment
# description: input.request.environment, or "(unset)" when the request carries none.
environment := object.get(input, ["request", "environment"], "(unset)")

# METADATA
# title: Resource tags
# description: >-
#   The tags a resource will carry: tags_all (tags merged with the provider's default tags)
#   laid over tags, so either alone is enough.
tags(values) := object.union_n([attrs |
	some key in ["tags", "tags_all"]
	attrs := values[key]
	is_object(attrs)
])

# METADATA
# title: Comma-separated list
# description: The items sorted and joined with ", ", or "none" for an empty collection.
list_text(items) := concat(", ", sort(items)) if count(items) > 0

else := "none"

# METADATA
# title: Nested block or list attribute
# description: obj[key] when it is an array, otherwise [] (absent or null).
blocks(obj, key) := obj[key] if {
	is_array(obj[key])
} else := []

# METADATA
# title: Map attribute
# description: obj[key] when it is an object, otherwise {} (absent or null).
map_attr(obj, key) := obj[key] if {
	is_object(obj[key])
} else := {}

# METADATA
# title: Non-empty string
# description: True when x is a string with something other than whitespace in it.
non_empty_string(x) if {
	is_string(x)
	trim_space(x) != ""
}

# METADATA
# title: Missing policy data
# description: >-
#   The paths under data.data (each an array of keys) that are not loaded, as dotted strings.
#   Lets a set fail closed when its JSON files were not loaded, e.g. when policies/ is loaded in
#   bundle mode, where OPA only reads files named data.json / data.yaml.
missing_data(paths) := [concat(".", array.concat(["data", "data"], path)) |
	some path in paths
	object.get(loaded, path, null) == null
] if {
	# Bound once, outside the loop. data.data itself is undefined when no data file at all was
	# loaded, and then every path is missing.
	loaded := data.data
	is_object(loaded)
} else := [concat(".", array.concat(["data", "data"], path)) | some path in paths]

# METADATA
# title: Money
# description: >-
#   A number formatted with two decimals. Works on whole cents so that integers
#   (which sprintf's %f rejects) and floats format the same way.
money(x) := sprintf("%s%d.%02d", [_sign(x), floor(cents / 100), cents % 100]) if {
	cents := round(abs(x) * 100)
}

_sign(x) := "-" if x < 0

else := ""

# METADATA
# title: Violation object
# description: >-
#   Builds {rule, msg, address} from the calling rule's metadata (pass rego.metadata.rule()).
#   msg is "<address>: <problem>. Remediation: <custom.remediation>". A valid
#   custom.enforcement is copied into the object as "enforcement".
violation(meta, address, problem) := {
	"rule": meta.custom.id,
	"msg": sprintf("%s: %s. Remediation: %s", [address, problem, meta.custom.remediation]),
	"address": address,
	"enforcement": meta.custom.enforcement,
} if {
	meta.custom.enforcement in enforcement_levels
} else := {
	"rule": meta.custom.id,
	"msg": sprintf("%s: %s. Remediation: %s", [address, problem, meta.custom.remediation]),
	"address": address,
}
