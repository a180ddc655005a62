# Shared test fixtures: a compliant prod request (normal change with a ticket and a window in
# early December 2026, before the year-end freeze) and one compliant resource of each type.
# Tests change one attribute at a time (json.patch / object.union) and assert the outcome.
package gateway.fixtures_test

request := {
	"id": "req-0001",
	"title": "Payments web tier",
	"team": "payments",
	"environment": "prod",
	"change": {
		"type": "normal", "ticket": "CHG0031337",
		"window": {"start": "2026-12-01T22:00:00Z", "end": "2026-12-02T02:00:00Z"},
	},
	"lease": {"days": 30},
	"requester": {"id": "alice", "groups": []},
	"submitted_at": "2026-11-27T10:00:00Z",
}

cost := {
	"currency": "USD",
	"monthly": 120.5,
	"delta_monthly": 120.5,
	"by_resource": {"aws_instance.web-1": 15.18},
	"team": {"budget_monthly": 5000, "committed_monthly": 1200},
}

tags := {"cost-center": "cc-42", "owner": "payments"}

instance := {
	"instance_type": "t3.small",
	"ami": "ami-0abcdef1234567890",
	"region": "eu-west-1",
	"tags": tags,
	"tags_all": tags,
	"metadata_options": [{"http_tokens": "required", "http_endpoint": "enabled", "http_put_response_hop_limit": 1}],
	"root_block_device": [{"volume_size": 20, "volume_type": "gp3", "encrypted": true}],
	"ebs_block_device": [{"device_name": "/dev/sdf", "volume_size": 100, "volume_type": "gp3", "encrypted": true}],
	"subnet_id": "subnet-0123456789abcdef0",
	"vpc_security_group_ids": ["sg-0123456789abcdef0"],
	"associate_public_ip_address": false,
	"monitoring": true,
}

bucket := {
	"bucket": "payments-artifacts",
	"region": "eu-west-1",
	"tags": tags,
	"tags_all": tags,
	"acl": "private",
	"force_destroy": false,
	"versioning": [{"enabled": true}],
	"server_side_encryption_configuration": [{"rule": [{"apply_server_side_encryption_by_default": [{"sse_algorithm": "aws:kms", "kms_master_key_id": "alias/payments"}]}]}],
	"public_access_block": [{
		"block_public_acls": true,
		"block_public_policy": true,
		"ignore_public_acls": true,
		"restrict_public_buckets": true,
	}],
}

security_group := {
	"name": "web",
	"description": "Web tier",
	"vpc_id": "vpc-0123456789abcdef0",
	"region": "eu-west-1",
	"tags": tags,
	"tags_all": tags,
	"ingress": [{
		"from_port": 443, "to_port": 443, "protocol": "tcp",
		"cidr_blocks": ["0.0.0.0/0"], "ipv6_cidr_blocks": ["::/0"],
		"description": "HTTPS from anywhere",
	}],
	"egress": [{
		"from_port": 0, "to_port": 0, "protocol": "-1",
		"cidr_blocks": ["0.0.0.0/0"], "ipv6_cidr_blocks": [],
		"description": "All outbound",
	}],
}

db_instance := {
	"identifier": "payments-db",
	"engine": "postgres",
	"engine_version": "16.3",
	"instance_class": "db.t3.medium",
	"allocated_storage": 50,
	"storage_type": "gp3",
	"storage_encrypted": true,
	"kms_key_id": "alias/rds",
	"username": "app",
	"manage_master_user_password": true,
	"multi_az": true,
	"publicly_accessible": false,
	"backup_retention_period": 7,
	"deletion_protection": true,
	"skip_final_snapshot": false,
	"region": "eu-west-1",
	"tags": tags,
	"tags_all": tags,
}

# A resource change; action is "create", "update" (before = after) or "delete" (after = null).
rc(type, name, action, values) := change(type, name, ["delete"], values, null) if {
	action == "delete"
} else := change(type, name, [action], values, values) if {
	action == "update"
} else := change(type, name, [action], null, values)

change(type, name, actions, before, after) := {
	"address": sprintf("%s.%s", [type, name]),
	"mode": "managed",
	"type": type,
	"name": name,
	"provider_name": "registry.terraform.io/hashicorp/aws",
	"change": {"actions": actions, "before": before, "after": after, "after_unknown": {}},
}

# A complete input document around the given resource changes.
plan(changes) := {
	"format_version": "1.2",
	"resource_changes": changes,
	"configuration": {"provider_config": {"aws": {
		"name": "aws",
		"expressions": {"region": {"constant_value": "eu-west-1"}},
	}}},
	"request": request,
	"cost": cost,
	"exemptions": [],
	"now": "2026-11-27T10:00:05Z",
}

# One compliant create of each resource type.
compliant_changes := [
	rc("aws_instance", "web-1", "create", instance),
	rc("aws_s3_bucket", "artifacts", "create", bucket),
	rc("aws_security_group", "web", "create", security_group),
	rc("aws_db_instance", "main", "create", db_instance),
]

# Rule ids in a deny / warn set.
ids(findings) := {f.rule | some f in findings}

# Findings of one rule id.
by_rule(findings, id) := {f | some f in findings; f.rule == id}
