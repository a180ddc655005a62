# Lease retirements: the delete request the gateway files itself when a lease ends.
package gateway.compliance

# METADATA
# title: Retiring production resources at the end of their lease needs an approval
# description: >-
#   When a lease ends the gateway files a delete request for the leased resources, with
#   request.retirement.reason "lease". In the environments listed in
#   data.data.approvals.lease_retirement.environments (prod) it waits for
#   data.data.approvals.lease_retirement.count approvals from its group, so nobody loses a
#   production resource to a calendar alone. Elsewhere it proceeds like any other request.
# custom:
#   id: lease_retirement_approval
#   severity: medium
#   remediation: >-
#     approve the retirement, or reject it to keep the resources (then extend their lease with a
#     new request)
require_approval contains approval if {
	retirement := object.get(input, ["request", "retirement"], {})
	retirement.reason == "lease"
	settings := data.data.approvals.lease_retirement
	input.request.environment in settings.environments
	approval := {
		"group": settings.group,
		"count": settings.count,
		"reason": sprintf("the lease of request %s ended: retiring %s resources needs an approval", [
			object.get(retirement, "of", "(unknown)"),
			input.request.environment,
		]),
	}
}
