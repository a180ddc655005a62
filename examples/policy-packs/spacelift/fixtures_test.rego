# Test fixture: the gateway's input for samples/allow.json under the "spacelift" profile (plan in terraform,
# Infracost breakdown in third_party_metadata.custom.infracost), as gateway.domain.profiles.profile_input builds it.
package spacelift.plan_checks

allow_input := {
	"spacelift": {
		"run": {
			"id": "req-0001",
			"type": "PROPOSED",
			"state": "UNCONFIRMED",
			"triggered_by": "alice",
			"created_at": "2026-11-27T10:00:00Z",
			"message": "Checkout receipts bucket (dev)",
		},
		"stack": {
			"id": "payments-dev",
			"name": "payments-dev",
			"labels": [
				"team:payments",
				"environment:dev",
			],
		},
	},
	"terraform": {
		"format_version": "1.2",
		"resource_changes": [
			{
				"address": "aws_s3_bucket.receipts",
				"mode": "managed",
				"type": "aws_s3_bucket",
				"name": "receipts",
				"provider_name": "registry.terraform.io/hashicorp/aws",
				"change": {
					"actions": [
						"create",
					],
					"before": null,
					"after": {
						"tags": {
							"cost-center": "cc-42",
							"owner": "payments",
							"Name": "checkout-receipts",
							"data-classification": "confidential",
						},
						"versioning": [
							{
								"enabled": true,
							},
						],
						"server_side_encryption_configuration": [
							{
								"rule": [
									{
										"apply_server_side_encryption_by_default": [
											{
												"sse_algorithm": "AES256",
											},
										],
									},
								],
							},
						],
						"public_access_block": [
							{
								"block_public_acls": true,
								"block_public_policy": true,
								"ignore_public_acls": true,
								"restrict_public_buckets": true,
							},
						],
						"region": "eu-west-1",
						"tags_all": {
							"cost-center": "cc-42",
							"owner": "payments",
							"Name": "checkout-receipts",
							"data-classification": "confidential",
						},
					},
					"after_unknown": {
						"id": true,
					},
				},
			},
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
			"title": "Checkout receipts bucket (dev)",
			"team": "payments",
			"environment": "dev",
			"justification": "The bucket says how sensitive its data is",
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
				"aws_s3_bucket.receipts": 0.0,
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
	"third_party_metadata": {
		"custom": {
			"infracost": {
				"version": "0.2",
				"currency": "USD",
				"projects": [
					{
						"name": "payments/dev",
						"metadata": {
							"path": "req-0001",
						},
						"breakdown": {
							"resources": [
								{
									"name": "aws_instance.web-1",
									"resourceType": "aws_instance",
									"monthlyCost": "18.40",
								},
								{
									"name": "aws_s3_bucket.receipts",
									"resourceType": "aws_s3_bucket",
									"monthlyCost": "0.00",
								},
							],
							"totalMonthlyCost": "18.40",
						},
						"pastBreakdown": {
							"resources": [],
							"totalMonthlyCost": "0.00",
						},
						"diff": {
							"resources": [],
							"totalMonthlyCost": "18.40",
						},
					},
				],
				"totalMonthlyCost": "18.40",
				"pastTotalMonthlyCost": "0.00",
				"diffTotalMonthlyCost": "18.40",
			},
		},
	},
}
