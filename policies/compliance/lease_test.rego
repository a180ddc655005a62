package gateway.compliance_test

import data.gateway.compliance
import data.gateway.fixtures_test as fx

_retirement(environment) := json.patch(fx.plan(fx.compliant_changes), [
	{"op": "replace", "path": "/request/environment", "value": environment},
	{"op": "add", "path": "/request/retirement", "value": {"reason": "lease", "of": "req-1"}},
])

test_a_prod_lease_retirement_waits_for_the_cab if {
	approvals := compliance.require_approval with input as _retirement("prod")
	approvals == {{
		"group": "cab", "count": 1,
		"reason": "the lease of request req-1 ended: retiring prod resources needs an approval",
	}}
}

test_a_dev_lease_retirement_needs_no_approval if {
	count(compliance.require_approval) == 0 with input as _retirement("dev")
}

test_an_ordinary_prod_request_is_not_a_retirement if {
	inp := json.patch(fx.plan(fx.compliant_changes), [{"op": "replace", "path": "/request/environment", "value": "prod"}])
	approvals := compliance.require_approval with input as inp
	every a in approvals {
		a.group != "cab"
	}
}

test_group_count_and_environments_from_data if {
	settings := {"group": "platform-leads", "count": 2, "environments": ["staging"]}
	approvals := compliance.require_approval with input as _retirement("staging")
		with data.data.approvals.lease_retirement as settings
	approvals == {{
		"group": "platform-leads", "count": 2,
		"reason": "the lease of request req-1 ended: retiring staging resources needs an approval",
	}}
}
