package gateway.compliance_test

import data.gateway.compliance
import data.gateway.fixtures_test as fx

_win(start, end) := {"start": start, "end": end}

# The compliant plan with request.environment, request.change and input.now replaced.
_at(environment, change, now) := json.patch(fx.plan(fx.compliant_changes), [
	{"op": "replace", "path": "/request/environment", "value": environment},
	{"op": "replace", "path": "/request/change", "value": change},
	{"op": "replace", "path": "/now", "value": now},
])

_normal(window) := {"type": "normal", "ticket": "CHG0031337", "window": window}

_before_freeze := "2026-11-27T10:00:05Z"

_in_freeze := "2026-12-24T12:00:00Z"

test_window_overlapping_freeze_denied if {
	inp := _at("prod", _normal(_win("2026-12-19T22:00:00Z", "2026-12-20T02:00:00Z")), _before_freeze)
	denies := compliance.deny with input as inp
	denies == {{
		"rule": "change_freeze_conflict",
		"address": "request",
		"msg": `request: change window 2026-12-19T22:00:00Z to 2026-12-20T02:00:00Z overlaps change freeze "year-end freeze" (2026-12-20T00:00:00Z to 2027-01-04T00:00:00Z) for environment prod. Remediation: move change.window outside the freeze, or, for a genuine emergency, raise it as an emergency change (change.type = "emergency") with its ticket`,
	}}
}

test_window_outside_freeze_allowed if {
	every window in [
		_win("2026-12-01T22:00:00Z", "2026-12-02T02:00:00Z"),
		_win("2026-12-19T22:00:00Z", "2026-12-20T00:00:00Z"), # ends as the freeze starts
		_win("2027-01-04T00:00:00Z", "2027-01-04T04:00:00Z"), # starts as the freeze ends
	] {
		count(compliance.deny) == 0 with input as _at("prod", _normal(window), _before_freeze)
	}
}

test_window_decides_not_now if {
	# Submitted during the freeze for a window after it: allowed.
	count(compliance.deny) == 0 with input as _at("prod", _normal(_win("2027-01-05T22:00:00Z", "2027-01-06T02:00:00Z")), _in_freeze)
}

test_no_window_uses_now if {
	change := {"type": "standard"}
	some v in compliance.deny with input as _at("staging", change, _in_freeze)
	v.rule == "change_freeze_conflict"
	contains(v.msg, `request: time 2026-12-24T12:00:00Z (no change window) overlaps change freeze "year-end freeze"`)
	count(compliance.deny) == 0 with input as _at("staging", change, _before_freeze)
	count(compliance.deny) == 0 with input as _at("staging", change, "2027-01-04T00:00:00Z")
}

test_freeze_only_for_its_environments if {
	count(compliance.deny) == 0 with input as _at("dev", {"type": "standard"}, _in_freeze)
	count(compliance.deny) == 0 with input as _at("dev", _normal(_win("2026-12-22T22:00:00Z", "2026-12-23T02:00:00Z")), _before_freeze)
}

test_emergency_change_exempt_but_warned if {
	change := {"type": "emergency", "ticket": "CHG0031337"}
	inp := _at("prod", change, _in_freeze)
	count(compliance.deny) == 0 with input as inp
	warns := fx.by_rule(compliance.warn, "emergency_change_in_freeze") with input as inp
	warns == {{
		"rule": "emergency_change_in_freeze",
		"address": "request",
		"msg": `request: emergency change during change freeze "year-end freeze" (time 2026-12-24T12:00:00Z (no change window)). Remediation: none needed to proceed; make sure the emergency change is reviewed after the freeze as the change process requires`,
	}}
	fx.ids(compliance.warn) == {"emergency_change"} with input as _at("prod", change, _before_freeze)
}

test_freezes_from_data if {
	freezes := [{"name": "black friday", "start": "2026-11-26T00:00:00Z", "end": "2026-11-30T00:00:00Z", "environments": ["dev"]}]
	inp := _at("dev", {"type": "standard"}, _before_freeze)
	"change_freeze_conflict" in fx.ids(compliance.deny) with input as inp with data.data.calendar.freezes as freezes
	count(compliance.deny) == 0 with input as inp with data.data.calendar.freezes as freezes
		with data.data.calendar.freeze_exempt_change_types as ["standard"]
}

test_prod_normal_change_without_window_denied if {
	denies := compliance.deny with input as _at("prod", {"type": "normal", "ticket": "CHG0031337"}, _before_freeze)
	denies == {{
		"rule": "change_window_missing",
		"address": "request",
		"msg": "request: prod normal change has no change window. Remediation: set change.window.start and change.window.end (RFC 3339) to the window agreed in the change ticket",
	}}
	"change_window_missing" in fx.ids(compliance.deny) with input as _at("prod", _normal(null), _before_freeze)
}

test_window_not_required_elsewhere if {
	every environment, change in {
		"staging": {"type": "normal"},
		"dev": {"type": "normal"},
		"prod": {"type": "standard", "ticket": "CHG0031337"},
	} {
		count(compliance.deny) == 0 with input as _at(environment, change, _before_freeze)
	}
	count(compliance.deny) == 0 with input as _at("prod", {"type": "emergency", "ticket": "CHG0031337"}, _before_freeze)
}

test_window_requirement_from_data if {
	"change_window_missing" in fx.ids(compliance.deny) with input as _at("staging", {"type": "standard"}, _before_freeze)
		with data.data.calendar.window_required as {"environments": ["staging"], "change_types": ["standard"]}
}

test_unparseable_window_denied if {
	denies := compliance.deny with input as _at("dev", _normal(_win("next tuesday", "2026-12-02T02:00:00Z")), _before_freeze)
	denies == {{
		"rule": "change_time_invalid",
		"address": "request",
		"msg": "request: change.window.start next tuesday is not an RFC 3339 time. Remediation: give change.window.start and change.window.end as RFC 3339 times (e.g. 2026-12-01T22:00:00Z) with end after start",
	}}
}

test_window_problems_reported if {
	missing_end := compliance.deny with input as _at("dev", _normal({"start": "2026-12-01T22:00:00Z"}), _before_freeze)
	{v.msg | some v in missing_end; v.rule == "change_time_invalid"; contains(v.msg, "change.window.end null is not an RFC 3339 time")} != set()
	backwards := compliance.deny with input as _at("dev", _normal(_win("2026-12-02T02:00:00Z", "2026-12-01T22:00:00Z")), _before_freeze)
	some b in backwards
	contains(b.msg, "change.window.end is not after change.window.start")
	not_object := compliance.deny with input as _at("dev", _normal("tonight"), _before_freeze)
	some n in not_object
	contains(n.msg, "change.window is not an object with start and end")
	numeric := compliance.deny with input as _at("dev", _normal(_win(1, 2)), _before_freeze)
	count(fx.by_rule(numeric, "change_time_invalid")) == 2
}

test_backwards_window_in_freeze_still_denied if {
	# An invalid window cannot be placed on the calendar: denied as invalid, not as a freeze conflict.
	inp := _at("prod", _normal(_win("2026-12-23T02:00:00Z", "2026-12-22T22:00:00Z")), _before_freeze)
	fx.ids(compliance.deny) == {"change_time_invalid"} with input as inp
}

test_unparseable_now_denied if {
	some v in compliance.deny with input as _at("dev", {"type": "standard"}, "yesterday")
	v.rule == "change_time_invalid"
	contains(v.msg, "input.now yesterday is not an RFC 3339 time")
	inp := json.patch(fx.plan(fx.compliant_changes), [{"op": "replace", "path": "/request/change", "value": {"type": "standard"}}, {"op": "remove", "path": "/now"}])
	some w in compliance.deny with input as inp
	contains(w.msg, "input.now null is not an RFC 3339 time")
}

test_now_not_needed_with_a_window if {
	count(compliance.deny) == 0 with input as _at("prod", _normal(_win("2026-12-01T22:00:00Z", "2026-12-02T02:00:00Z")), "yesterday")
}

test_missing_change_block_without_window if {
	inp := json.patch(fx.plan(fx.compliant_changes), [
		{"op": "replace", "path": "/request/environment", "value": "staging"},
		{"op": "remove", "path": "/request/change"},
		{"op": "replace", "path": "/now", "value": _in_freeze},
	])
	"change_freeze_conflict" in fx.ids(compliance.deny) with input as inp
}

test_invalid_freeze_data_denied if {
	freezes := [
		{"name": "ok", "start": "2026-12-20T00:00:00Z", "end": "2027-01-04T00:00:00Z", "environments": ["prod"]},
		{"name": "bad start", "start": "20 Dec", "end": "2027-01-04T00:00:00Z", "environments": ["prod"]},
		{"name": "no end", "start": "2026-12-20T00:00:00Z", "environments": ["prod"]},
		{"name": "backwards", "start": "2027-01-04T00:00:00Z", "end": "2026-12-20T00:00:00Z", "environments": ["prod"]},
		{"start": "2026-12-20T00:00:00Z", "end": "2027-01-04T00:00:00Z", "environments": "prod"},
	]
	denies := compliance.deny with input as _at("dev", {"type": "standard"}, _before_freeze)
		with data.data.calendar.freezes as freezes
	{v.msg | some v in denies; v.rule == "policy_data_invalid"} == {
		"request: policy data data.data.calendar.freezes[1] (bad start): start is not an RFC 3339 time. Remediation: fix policies/data/calendar.json: each freeze needs name, start and end (RFC 3339, end after start) and environments (a list)",
		"request: policy data data.data.calendar.freezes[2] (no end): end is not an RFC 3339 time. Remediation: fix policies/data/calendar.json: each freeze needs name, start and end (RFC 3339, end after start) and environments (a list)",
		"request: policy data data.data.calendar.freezes[3] (backwards): end is not after start. Remediation: fix policies/data/calendar.json: each freeze needs name, start and end (RFC 3339, end after start) and environments (a list)",
		"request: policy data data.data.calendar.freezes[4] ((unnamed)): environments is not a list. Remediation: fix policies/data/calendar.json: each freeze needs name, start and end (RFC 3339, end after start) and environments (a list)",
	}
}

test_shipped_calendar_is_valid if {
	count({f | some f in compliance.deny; f.rule == "policy_data_invalid"}) == 0 with input as fx.plan(fx.compliant_changes)
	some freeze in data.data.calendar.freezes
	time.parse_rfc3339_ns(freeze.start) > time.parse_rfc3339_ns("2026-11-27T23:59:59Z")
}
