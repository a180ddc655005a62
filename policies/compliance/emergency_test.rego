package gateway.compliance_test

import data.gateway.compliance
import data.gateway.fixtures_test as fx

# The compliant plan with request.environment and request.change replaced.
_changed(environment, change) := json.patch(fx.plan(fx.compliant_changes), [
	{"op": "replace", "path": "/request/environment", "value": environment},
	{"op": "replace", "path": "/request/change", "value": change},
])

_ecab_reason := "emergency change CHG0031337: expedited approval by the ECAB; a post-implementation review follows"

test_emergency_change_asks_the_ecab_expedited if {
	inp := _changed("prod", {"type": "emergency", "ticket": "CHG0031337"})
	count(compliance.deny) == 0 with input as inp
	approvals := compliance.require_approval with input as inp
	approvals == {{"group": "ecab", "count": 1, "reason": _ecab_reason, "expedite": true}}
}

test_normal_and_standard_changes_need_no_ecab if {
	every change in [
		{"type": "normal", "ticket": "CHG0031337", "window": {"start": "2026-12-01T22:00:00Z", "end": "2026-12-02T02:00:00Z"}},
		{"type": "standard", "ticket": "CHG0031337"},
	] {
		count(compliance.require_approval) == 0 with input as _changed("prod", change)
		count(compliance.warn) == 0 with input as _changed("prod", change)
	}
	inp := json.patch(fx.plan(fx.compliant_changes), [{"op": "remove", "path": "/request/change"}])
	count(compliance.require_approval) == 0 with input as inp
}

test_emergency_group_count_and_types_from_data if {
	emergency := {"group": "cab-oncall", "count": 2, "change_types": ["emergency", "expedited"]}
	inp := _changed("prod", {"type": "expedited", "ticket": "RFC0000042"})
	approvals := compliance.require_approval with input as inp with data.data.approvals.emergency as emergency
	approvals == {{
		"group": "cab-oncall", "count": 2, "expedite": true,
		"reason": "emergency change RFC0000042: expedited approval by the ECAB; a post-implementation review follows",
	}}
	"emergency_change" in fx.ids(compliance.warn) with input as inp with data.data.approvals.emergency as emergency
	not_listed := _changed("prod", {"type": "emergency", "ticket": "CHG0031337"})
	count(compliance.require_approval) == 0 with input as not_listed with data.data.approvals.emergency.change_types as ["expedited"]
}

test_emergency_approvals_data_missing_denied if {
	inp := _changed("prod", {"type": "emergency", "ticket": "CHG0031337"})
	denies := compliance.deny with input as inp with data.data.approvals as null
	{v.msg | some v in denies} == {"request: policy data data.data.approvals.emergency.group, data.data.approvals.emergency.count, data.data.approvals.emergency.change_types is not loaded, compliance rules cannot be evaluated. Remediation: load policies/data/compliance.json, regions.json, residency.json, calendar.json and approvals.json into OPA (non-bundle mode reads every *.json; a bundle only reads files named data.json)"}
	fx.ids(denies) == {"policy_data_missing"}
	count(compliance.require_approval) == 0 with input as inp with data.data.approvals as null
	count(compliance.warn) == 0 with input as inp with data.data.approvals as null

	# Partial data fails closed too, for every request.
	# (Replaces data.data whole: a `with` on data.data.approvals.emergency would be merged into
	# the loaded object when lib.missing_data reads data.data.)
	without_types := json.remove(data.data, ["approvals/emergency/change_types"])
	partial := compliance.deny with input as fx.plan(fx.compliant_changes) with data.data as without_types
	some p in partial
	p.rule == "policy_data_missing"
	contains(p.msg, "request: policy data data.data.approvals.emergency.change_types is not loaded")
}

test_emergency_reason_without_ticket if {
	every change in [{"type": "emergency"}, {"type": "emergency", "ticket": " "}] {
		approvals := compliance.require_approval with input as _changed("dev", change)
		{a.reason | some a in approvals} == {"emergency change (no ticket): expedited approval by the ECAB; a post-implementation review follows"}
	}
}

test_emergency_change_warned_for_review if {
	warns := compliance.warn with input as _changed("prod", {"type": "emergency", "ticket": "CHG0031337"})
	warns == {{
		"rule": "emergency_change",
		"address": "request",
		"msg": "request: emergency change CHG0031337 needs a post-implementation review. Remediation: none needed to proceed; hold the post-implementation review after the change and record its outcome on the change ticket, as the emergency change process requires",
	}}
	some w in compliance.warn with input as _changed("dev", {"type": "emergency"})
	w.msg == "request: emergency change (no ticket) needs a post-implementation review. Remediation: none needed to proceed; hold the post-implementation review after the change and record its outcome on the change ticket, as the emergency change process requires"
}

test_emergency_change_in_freeze_warned_twice_and_expedited if {
	inp := json.patch(_changed("prod", {"type": "emergency", "ticket": "CHG0031337"}), [
		{"op": "replace", "path": "/now", "value": "2026-12-24T12:00:00Z"},
	])
	count(compliance.deny) == 0 with input as inp
	fx.ids(compliance.warn) == {"emergency_change", "emergency_change_in_freeze"} with input as inp
	approvals := compliance.require_approval with input as inp
	approvals == {{"group": "ecab", "count": 1, "reason": _ecab_reason, "expedite": true}}
}
