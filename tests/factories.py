"""Request bodies for tests: small builders so each test states only what it is about."""

from __future__ import annotations

import copy
from typing import Any

TAGS = {"cost-center": "cc-42", "owner": "payments"}
AMI = "ami-0abcdef1234567890"
# Production normal changes need a change window outside the freezes in policies/data/calendar.json.
WINDOW = {"start": "2026-12-01T22:00:00Z", "end": "2026-12-02T02:00:00Z"}


def instance(
    name: str = "web-1", itype: str = "t3.small", region: str = "eu-west-1", **props: Any
) -> dict[str, Any]:
    p = {
        "instance_type": itype,
        "ami": AMI,
        "tags": dict(TAGS),
        "metadata_options": [{"http_tokens": "required"}],
        "root_block_device": [{"volume_size": 20, "encrypted": True}],
    }
    p.update(props)
    return {"action": "create", "type": "aws_instance", "name": name, "region": region, "properties": p}


def bucket(name: str = "assets", region: str = "eu-west-1", **props: Any) -> dict[str, Any]:
    p: dict[str, Any] = {
        "tags": dict(TAGS),
        "server_side_encryption_configuration": [
            {"rule": [{"apply_server_side_encryption_by_default": [{"sse_algorithm": "AES256"}]}]}
        ],
    }
    p.update(props)
    return {"action": "create", "type": "aws_s3_bucket", "name": name, "region": region, "properties": p}


def security_group(
    name: str = "web", port: int = 443, cidr: str = "0.0.0.0/0", region: str = "eu-west-1"
) -> dict:
    return {
        "action": "create",
        "type": "aws_security_group",
        "name": name,
        "region": region,
        "properties": {
            "description": f"{name} group",
            "tags": dict(TAGS),
            "ingress": [
                {
                    "from_port": port,
                    "to_port": port,
                    "protocol": "tcp",
                    "cidr_blocks": [cidr],
                    "description": "in",
                }
            ],
        },
    }


def request(
    *resources: dict[str, Any], env: str = "dev", team: str = "payments", **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Test change",
        "team": team,
        "environment": env,
        "justification": "tests",
        "change": {"type": "standard"},
        "resources": [copy.deepcopy(r) for r in resources] or [instance()],
    }
    if env == "prod":
        body["change"] = {"type": "normal", "ticket": "CHG0031337", "window": dict(WINDOW)}
    body.update(extra)
    return body


def expensive(n: int = 4, env: str = "dev") -> dict[str, Any]:
    """About 640 USD a month: above the finance threshold (500), within the payments budget."""
    return request(*[instance(f"worker-{i}", "m5.xlarge") for i in range(n)], env=env)


def database(name: str = "ledger") -> dict[str, Any]:
    props = {
        "engine": "postgres", "engine_version": "16.3", "instance_class": "db.t3.micro", "allocated_storage": 20,
        "storage_type": "gp3", "storage_encrypted": True, "username": "app", "manage_master_user_password": True,
        "publicly_accessible": False, "backup_retention_period": 7, "deletion_protection": False,
        "skip_final_snapshot": True, "tags": dict(TAGS),
    }  # fmt: skip
    return {
        "action": "create",
        "type": "aws_db_instance",
        "name": name,
        "region": "eu-west-1",
        "properties": props,
    }


def change(rtype: str, name: str, rid: str, action: str, **props: object) -> dict[str, Any]:
    """An update or delete of a resource the gateway manages."""
    body = {"action": action, "type": rtype, "name": name, "id": rid}
    if props:
        body["properties"] = props
    return body
