# Test fixture: the gateway's input for samples/allow.json under the "scalr" profile (plan in tfplan, run and
# cost estimate in tfrun), as gateway.domain.profiles.profile_input builds it.
package terraform.scalr_cost

allow_input = {
	"tfplan": {
		"format_version": "1.2",
		"resource_changes": [
			{
				"address": "aws_instance.web-1",
				"mode": "managed",
				"type": "aws_instance",
				"name": "web-1",
				"provider_name": "registry.terraform.io/hashicorp/aws",
				"change": {
					"actions": [
						"create",
					],
					"before": null,
					"after": {
						"instance_type": "t3.small",
						"ami": "ami-0abcdef1234567890",
						"tags": {
							"cost-center": "cc-42",
							"owner": "payments",
							"Name": "checkout-web-1",
						},
						"metadata_options": [
							{
								"http_tokens": "required",
							},
						],
						"root_block_device": [
							{
								"volume_size": 20,
								"encrypted": true,
							},
						],
						"region": "eu-west-1",
						"tags_all": {
							"cost-center": "cc-42",
							"owner": "payments",
							"Name": "checkout-web-1",
						},
					},
					"after_unknown": {
						"id": true,
					},
				},
			},
		],
		"configuration": {
			"provider_config": {
				"aws": {
					"name": "aws",
					"expressions": {
						"region": {
							"constant_value": "eu-west-1",
						},
					},
				},
			},
		},
		"request": {
			"id": "req-0001",
			"title": "Checkout web node (dev)",
			"team": "payments",
			"environment": "dev",
			"justification": "About 20 USD a month, under the development limit of 250",
			"change": {
				"type": "standard",
			},
			"lease": {},
			"requester": {
				"id": "alice",
				"role": "requester",
				"groups": [
					"payments",
				],
			},
			"submitted_at": "2026-11-27T10:00:00Z",
		},
		"cost": {
			"currency": "USD",
			"monthly": 18.4,
			"delta_monthly": 18.4,
			"by_resource": {
				"aws_instance.web-1": 18.4,
			},
			"team": {
				"budget_monthly": 5000.0,
				"committed_monthly": 0.0,
			},
		},
		"exemptions": [],
		"now": "2026-11-27T10:00:01Z",
	},
	"tfrun": {
		"id": "req-0001",
		"message": "Checkout web node (dev)",
		"source": "governance-gateway",
		"is_destroy": false,
		"is_dry": false,
		"created_by": {
			"username": "alice",
			"email": "",
			"full_name": "",
		},
		"workspace": {
			"name": "payments-dev",
			"environment_type": "development",
			"tags": [
				"payments",
				"dev",
			],
		},
		"environment": {
			"id": "dev",
			"name": "dev",
		},
		"cost_estimate": {
			"prior_monthly_cost": 0.0,
			"proposed_monthly_cost": 18.4,
			"delta_monthly_cost": 18.4,
		},
	},
}
