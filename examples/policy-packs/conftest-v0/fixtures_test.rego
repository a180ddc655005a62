# Test fixture: the gateway's input for samples/allow.json under the "terraform" profile (the native plan
# document at the input root), as gateway.domain.profiles.profile_input builds it.
package terraform.conftest_aws

allow_plan = {
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
		{
			"address": "aws_s3_bucket.assets",
			"mode": "managed",
			"type": "aws_s3_bucket",
			"name": "assets",
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
						"Name": "checkout-assets",
						"data-classification": "internal",
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
						"Name": "checkout-assets",
						"data-classification": "internal",
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
		"title": "Checkout web tier (dev)",
		"team": "payments",
		"environment": "dev",
		"justification": "Approved instance type, versioned bucket, Name tags",
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
			"aws_s3_bucket.assets": 0.0,
		},
		"team": {
			"budget_monthly": 5000.0,
			"committed_monthly": 0.0,
		},
	},
	"exemptions": [],
	"now": "2026-11-27T10:00:01Z",
}
