# Change windows and freeze calendars (data.data.calendar). Times are RFC 3339; a window and
# a freeze are half-open intervals [start, end).
package gateway.compliance

import data.gateway.lib

# Helpers are functions, not rules, so the package document stays deny / warn / require_approval.
# The rules read the change as object.get(input, ["request", "change"], {}) (request.change, {}
# without one) and try the cheapest condition that can fail first. Function calls with the same
# ground arguments (e.g. _interval) are evaluated once per query.
_window_given(change) if object.get(change, "window", null) != null

_valid_time(x) if is_number(time.parse_rfc3339_ns(x))

# The change's time span in nanoseconds: its window, or the instant input.now without one.
_interval(change, now) := [start, end] if {
	_window_given(change)
	start := time.parse_rfc3339_ns(change.window.start)
	end := time.parse_rfc3339_ns(change.window.end)
	start < end
} else := [t, t + 1] if {
	not _window_given(change)
	t := time.parse_rfc3339_ns(now)
}

_when(change, _) := sprintf("change window %s to %s", [change.window.start, change.window.end]) if {
	_window_given(change)
} else := sprintf("time %s (no change window)", [input.now])

_freeze_exempt(change) if change.type in data.data.calendar.freeze_exempt_change_types

# METADATA
# title: Change during a change freeze
# description: >-
#   A change whose window overlaps a freeze in data.data.calendar.freezes for the request's
#   environment (or, with no window, whose input.now falls inside one) is denied, unless its
#   change.type is in data.data.calendar.freeze_exempt_change_types (emergency).
# custom:
#   id: change_freeze_conflict
#   severity: high
#   remediation: >-
#     move change.window outside the freeze, or, for a genuine emergency, raise it as an
#     emergency change (change.type = "emergency") with its ticket
deny contains v if {
	some freeze in data.data.calendar.freezes
	lib.environment in freeze.environments
	change := object.get(input, ["request", "change"], {})
	not _freeze_exempt(change)
	[start, end] := _interval(change, input.now)
	time.parse_rfc3339_ns(freeze.start) < end
	start < time.parse_rfc3339_ns(freeze.end)
	problem := sprintf("%s overlaps change freeze %q (%s to %s) for environment %s", [
		_when(change, input.now), freeze.name, freeze.start, freeze.end, lib.environment,
	])
	v := lib.violation(rego.metadata.rule(), "request", problem)
}

# METADATA
# title: Emergency change during a change freeze
# description: >-
#   A freeze-exempt (emergency) change overlaps a change freeze for the request's environment.
#   Allowed, and recorded as a warning so the post-freeze review sees it.
# custom:
#   id: emergency_change_in_freeze
#   severity: medium
#   remediation: >-
#     none needed to proceed; make sure the emergency change is reviewed after the freeze as the
#     change process requires
warn contains v if {
	some freeze in data.data.calendar.freezes
	lib.environment in freeze.environments
	change := object.get(input, ["request", "change"], {})
	_freeze_exempt(change)
	[start, end] := _interval(change, input.now)
	time.parse_rfc3339_ns(freeze.start) < end
	start < time.parse_rfc3339_ns(freeze.end)
	problem := sprintf("emergency change during change freeze %q (%s)", [freeze.name, _when(change, input.now)])
	v := lib.violation(rego.metadata.rule(), "request", problem)
}

# METADATA
# title: Change window missing
# description: >-
#   A request whose environment is in data.data.calendar.window_required.environments (prod)
#   and whose change.type is in data.data.calendar.window_required.change_types (normal) must
#   carry change.window {start, end}, so freezes and the CAB schedule can be checked.
# custom:
#   id: change_window_missing
#   severity: medium
#   remediation: >-
#     set change.window.start and change.window.end (RFC 3339) to the window agreed in the
#     change ticket
deny contains v if {
	required := data.data.calendar.window_required
	lib.environment in required.environments
	change := object.get(input, ["request", "change"], {})
	change.type in required.change_types
	not _window_given(change)
	problem := sprintf("%s %s change has no change window", [lib.environment, change.type])
	v := lib.violation(rego.metadata.rule(), "request", problem)
}

# Why the change's time cannot be placed on the calendar (empty when it can, i.e. when
# _interval(change, now) is defined, which change_time_invalid checks first).
_time_problems(change, now) := ((shape | times) | order) | clock if {
	shape := {"change.window is not an object with start and end" |
		_window_given(change)
		not is_object(change.window)
	}
	times := {sprintf("change.window.%s %v is not an RFC 3339 time", [key, value]) |
		is_object(change.window)
		some key in ["start", "end"]
		value := object.get(change.window, key, null)
		not _valid_time(value)
	}
	order := {"change.window.end is not after change.window.start" |
		time.parse_rfc3339_ns(change.window.end) <= time.parse_rfc3339_ns(change.window.start)
	}
	clock := {sprintf("input.now %v is not an RFC 3339 time", [now]) |
		not _window_given(change)
		not _valid_time(now)
	}
}

# METADATA
# title: Change time invalid
# description: >-
#   The change's time cannot be placed on the calendar: change.window is not an object, its
#   start or end is not an RFC 3339 time, its end is not after its start, or (without a window)
#   input.now is not an RFC 3339 time. Denied because freezes could not be checked.
# custom:
#   id: change_time_invalid
#   severity: high
#   remediation: >-
#     give change.window.start and change.window.end as RFC 3339 times (e.g.
#     2026-12-01T22:00:00Z) with end after start
deny contains v if {
	is_object(input.request)
	change := object.get(input, ["request", "change"], {})
	now := object.get(input, "now", null)
	not _interval(change, now)
	some problem in _time_problems(change, now)
	v := lib.violation(rego.metadata.rule(), "request", problem)
}

_freeze_name(freeze) := freeze.name if is_string(freeze.name)

else := "(unnamed)"

# freeze[key], or null when the freeze is not an object or lacks the key.
_field(freeze, key) := freeze[key] if is_object(freeze)

else := null

# A freeze that can be enforced: start before end, both RFC 3339, and a list of environments
# (_freeze_problem is undefined for it).
_freeze_valid(freeze) if {
	time.parse_rfc3339_ns(freeze.start) < time.parse_rfc3339_ns(freeze.end)
	is_array(freeze.environments)
}

_freeze_problem(freeze) := "start is not an RFC 3339 time" if {
	not _valid_time(_field(freeze, "start"))
} else := "end is not an RFC 3339 time" if {
	not _valid_time(_field(freeze, "end"))
} else := "end is not after start" if {
	time.parse_rfc3339_ns(freeze.end) <= time.parse_rfc3339_ns(freeze.start)
} else := "environments is not a list" if {
	not is_array(_field(freeze, "environments"))
}

# METADATA
# title: Change freeze data invalid
# description: >-
#   An entry of data.data.calendar.freezes lacks a valid RFC 3339 start or end, ends before it
#   starts, or has no environments list, so it could not be enforced. Rejects every request
#   until the calendar is fixed, instead of silently ignoring the freeze.
# custom:
#   id: policy_data_invalid
#   severity: critical
#   remediation: >-
#     fix policies/data/calendar.json: each freeze needs name, start and end (RFC 3339, end after
#     start) and environments (a list)
deny contains v if {
	some i, freeze in data.data.calendar.freezes
	not _freeze_valid(freeze)
	problem := sprintf("policy data data.data.calendar.freezes[%d] (%s): %s", [i, _freeze_name(freeze), _freeze_problem(freeze)])
	v := lib.violation(rego.metadata.rule(), "request", problem)
}
