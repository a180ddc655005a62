# Test fixtures: the gateway's inputs under the "hcp" profile (plan in plan, run and cost_estimate beside it),
# as gateway.domain.profiles.profile_input builds them: samples/allow.json, and a request deleting that database
# (its before state is the gateway's inventory record).
package terraform.policies.hcp_guardrails

allow_input := {
	"plan": {
		"format_version": "1.2",
		"resource_changes": [
			{
				"address": "aws_db_instance.ledger",
				"mode": "managed",
				"type": "aws_db_instance",
				"name": "ledger",
				"provider_name": "registry.terraform.io/hashicorp/aws",
				"change": {
					"actions": [
						"create",
					],
					"before": null,
					"after": {
						"identifier": "payments-ledger",
						"engine": "postgres",
						"engine_version": "16.3",
						"instance_class": "db.t3.micro",
						"allocated_storage": 20,
						"storage_type": "gp3",
						"storage_encrypted": true,
						"username": "ledger",
						"manage_master_user_password": true,
						"multi_az": true,
						"publicly_accessible": false,
						"backup_retention_period": 7,
						"deletion_protection": true,
						"skip_final_snapshot": false,
						"tags": {
							"cost-center": "cc-42",
							"owner": "payments",
							"Name": "payments-ledger",
							"data-classification": "confidential",
						},
						"region": "eu-west-1",
						"tags_all": {
							"cost-center": "cc-42",
							"owner": "payments",
							"Name": "payments-ledger",
							"data-classification": "confidential",
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
			"title": "Payments ledger database (prod)",
			"team": "payments",
			"environment": "prod",
			"justification": "Multi-AZ database for the payments ledger",
			"change": {
				"type": "normal",
				"ticket": "CHG0031337",
				"window": {
					"start": "2026-12-02T22:00:00Z",
					"end": "2026-12-03T02:00:00Z",
				},
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
			"monthly": 32.82,
			"delta_monthly": 32.82,
			"by_resource": {
				"aws_db_instance.ledger": 32.82,
			},
			"team": {
				"budget_monthly": 5000.0,
				"committed_monthly": 0.0,
			},
		},
		"exemptions": [],
		"now": "2026-11-27T10:00:01Z",
	},
	"run": {
		"id": "req-0001",
		"created_at": "2026-11-27T10:00:00Z",
		"created_by": "alice",
		"message": "Payments ledger database (prod)",
		"is_destroy": false,
		"workspace": {
			"name": "payments-prod",
			"tags": [
				"payments",
				"prod",
			],
		},
		"organization": {
			"name": "payments",
		},
	},
	"cost_estimate": {
		"prior_monthly_cost": "0.00",
		"proposed_monthly_cost": "32.82",
		"delta_monthly_cost": "32.82",
	},
}

delete_input := {
	"plan": {
		"format_version": "1.2",
		"resource_changes": [
			{
				"address": "aws_db_instance.ledger",
				"mode": "managed",
				"type": "aws_db_instance",
				"name": "ledger",
				"provider_name": "registry.terraform.io/hashicorp/aws",
				"change": {
					"actions": [
						"delete",
					],
					"before": {
						"identifier": "payments-ledger",
						"engine": "postgres",
						"engine_version": "16.3",
						"instance_class": "db.t3.micro",
						"allocated_storage": 20,
						"storage_type": "gp3",
						"storage_encrypted": true,
						"username": "ledger",
						"manage_master_user_password": true,
						"multi_az": true,
						"publicly_accessible": false,
						"backup_retention_period": 7,
						"deletion_protection": true,
						"skip_final_snapshot": false,
						"tags": {
							"cost-center": "cc-42",
							"owner": "payments",
							"Name": "payments-ledger",
							"data-classification": "confidential",
						},
						"region": "eu-west-1",
					},
					"after": null,
					"after_unknown": {},
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
			"title": "Retire the payments ledger database (prod)",
			"team": "payments",
			"environment": "prod",
			"justification": "Multi-AZ database for the payments ledger",
			"change": {
				"type": "normal",
				"ticket": "CHG0031337",
				"window": {
					"start": "2026-12-02T22:00:00Z",
					"end": "2026-12-03T02:00:00Z",
				},
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
			"monthly": 0.0,
			"delta_monthly": -32.82,
			"by_resource": {
				"aws_db_instance.ledger": 0.0,
			},
			"team": {
				"budget_monthly": 5000.0,
				"committed_monthly": 32.82,
			},
		},
		"exemptions": [],
		"now": "2026-11-27T10:00:01Z",
	},
	"run": {
		"id": "req-0001",
		"created_at": "2026-11-27T10:00:00Z",
		"created_by": "alice",
		"message": "Retire the payments ledger database (prod)",
		"is_destroy": true,
		"workspace": {
			"name": "payments-prod",
			"tags": [
				"payments",
				"prod",
			],
		},
		"organization": {
			"name": "payments",
		},
	},
	"cost_estimate": {
		"prior_monthly_cost": "32.82",
		"proposed_monthly_cost": "0.00",
		"delta_monthly_cost": "-32.82",
	},
}
