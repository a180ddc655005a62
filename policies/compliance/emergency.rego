# Emergency changes: the expedited approval path (data.data.approvals.emergency).
package gateway.compliance

import data.gateway.lib

# Helpers are functions, not rules, so the package document stays deny / warn / require_approval.
# The rules read the change as object.get(input, ["request", "change"], {}), as calendar.rego does.
_emergency(change) if change.type in data.data.approvals.emergency.change_types

_ticket(change) := change.ticket if lib.non_empty_string(change.ticket)

else := "(no ticket)"

# METADATA
# title: Emergency change needs expedited approval
# description: >-
#   A change whose change.type is in data.data.approvals.emergency.change_types (emergency)
#   needs data.data.approvals.emergency.count approvals from data.data.approvals.emergency.group
#   (the ECAB), marked expedite: the gateway then drops every other required approval of the
#   request in favour of this one (which inherits their override duty), so the change waits for
#   the ECAB's vote only. A post-implementation review follows (warning emergency_change).
# custom:
#   id: emergency_change_approval
#   severity: medium
#   remediation: >-
#     obtain the ECAB's approval; if the change is not a genuine emergency, raise it as a normal
#     or standard change instead
require_approval contains approval if {
	change := object.get(input, ["request", "change"], {})
	_emergency(change)
	emergency := data.data.approvals.emergency
	approval := {
		"group": emergency.group,
		"count": emergency.count,
		"reason": sprintf("emergency change %s: expedited approval by the ECAB; a post-implementation review follows", [_ticket(change)]),
		"expedite": true,
	}
}

# METADATA
# title: Emergency change needs a post-implementation review
# description: >-
#   Every change whose change.type is in data.data.approvals.emergency.change_types is recorded
#   as a warning, so the decision and the ledger show that its post-implementation review is due.
# custom:
#   id: emergency_change
#   severity: low
#   remediation: >-
#     none needed to proceed; hold the post-implementation review after the change and record
#     its outcome on the change ticket, as the emergency change process requires
warn contains v if {
	change := object.get(input, ["request", "change"], {})
	_emergency(change)
	problem := sprintf("emergency change %s needs a post-implementation review", [_ticket(change)])
	v := lib.violation(rego.metadata.rule(), "request", problem)
}
