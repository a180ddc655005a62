package gateway.compliance_test

import data.gateway.compliance
import data.gateway.fixtures_test as fx

_window := {"start": "2026-12-01T22:00:00Z", "end": "2026-12-02T02:00:00Z"}

_with_change(environment, change) := json.patch(fx.plan(fx.compliant_changes), [
	{"op": "replace", "path": "/request/environment", "value": environment},
	{"op": "replace", "path": "/request/change", "value": change},
])

test_prod_without_ticket_denied if {
	denies := compliance.deny with input as _with_change("prod", {"type": "normal", "window": _window})
	denies == {{
		"rule": "change_ticket_missing",
		"address": "request",
		"msg": "request: prod normal change has no change ticket. Remediation: raise a change in the ITSM tool and set change.ticket to its number (CHG or RFC followed by 7 digits, e.g. CHG0031337); emergency changes need one too",
	}}
}

test_emergency_still_needs_ticket if {
	some v in compliance.deny with input as _with_change("prod", {"type": "emergency", "ticket": ""})
	v.rule == "change_ticket_missing"
	contains(v.msg, "prod emergency change has no change ticket")
}

test_emergency_with_ticket_allowed if {
	count(compliance.deny) == 0 with input as _with_change("prod", {"type": "emergency", "ticket": "RFC0000042"})
}

test_missing_change_block_denied if {
	inp := json.patch(fx.plan(fx.compliant_changes), [{"op": "remove", "path": "/request/change"}])
	some v in compliance.deny with input as inp
	contains(v.msg, "prod (unknown type) change has no change ticket")
}

test_malformed_ticket_denied if {
	every ticket in ["INC0031337", "CHG31337", "chg0031337", "CHG00313370", " CHG0031337"] {
		denies := compliance.deny with input as _with_change("prod", {"type": "standard", "ticket": ticket})
		fx.ids(denies) == {"change_ticket_malformed"}
	}
	some v in compliance.deny with input as _with_change("prod", {"type": "standard", "ticket": "INC1"})
	contains(v.msg, `request: change ticket "INC1" does not match ^(CHG|RFC)[0-9]{7}$.`)
}

test_valid_tickets_allowed if {
	every ticket in ["CHG0031337", "RFC1234567"] {
		count(compliance.deny) == 0 with input as _with_change("prod", {"type": "normal", "ticket": ticket, "window": _window})
	}
}

test_non_prod_needs_no_ticket if {
	every environment in ["staging", "dev"] {
		count(compliance.deny) == 0 with input as _with_change(environment, {"type": "normal"})
		count(compliance.deny) == 0 with input as _with_change(environment, {"type": "normal", "ticket": "n/a"})
	}
}

test_ticket_environments_from_data if {
	inp := _with_change("staging", {"type": "normal"})
	"change_ticket_missing" in fx.ids(compliance.deny) with input as inp
		with data.data.compliance.ticket_required_environments as ["prod", "staging"]
}
