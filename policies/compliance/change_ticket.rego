# Change tickets for ticketed environments.
package gateway.compliance

import data.gateway.lib

# METADATA
# title: Change ticket missing
# description: >-
#   A request for an environment in data.data.compliance.ticket_required_environments must
#   carry request.change.ticket. Emergency changes are not exempt.
# custom:
#   id: change_ticket_missing
#   severity: high
#   remediation: >-
#     raise a change in the ITSM tool and set change.ticket to its number (CHG or RFC followed
#     by 7 digits, e.g. CHG0031337); emergency changes need one too
deny contains v if {
	input.request.environment in data.data.compliance.ticket_required_environments
	not lib.non_empty_string(object.get(input.request, ["change", "ticket"], null))
	problem := sprintf("%s %s change has no change ticket", [
		input.request.environment,
		object.get(input.request, ["change", "type"], "(unknown type)"),
	])
	v := lib.violation(rego.metadata.rule(), "request", problem)
}

# METADATA
# title: Change ticket malformed
# description: >-
#   request.change.ticket must match data.data.compliance.ticket_pattern
#   (default ^(CHG|RFC)[0-9]{7}$) in environments that need a ticket.
# custom:
#   id: change_ticket_malformed
#   severity: high
#   remediation: set change.ticket to the ITSM change number, CHG or RFC followed by 7 digits (e.g. CHG0031337)
deny contains v if {
	input.request.environment in data.data.compliance.ticket_required_environments
	ticket := object.get(input.request, ["change", "ticket"], null)
	lib.non_empty_string(ticket)
	not regex.match(data.data.compliance.ticket_pattern, ticket)
	problem := sprintf("change ticket %q does not match %s", [ticket, data.data.compliance.ticket_pattern])
	v := lib.violation(rego.metadata.rule(), "request", problem)
}
