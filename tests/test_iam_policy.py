"""`govgate iam-policy`: the printed policy allows every call the drivers make (checked against the ledger)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from gateway.adapters.cloud.iam import action_for, allowed_actions
from gateway.cli import app as cli
from tests.factories import TAGS, bucket, database, instance, request, security_group
from tests.factories import change as _change


def test_the_printed_policy_allows_every_call_the_drivers_made(gateway, alice, auditor):
    created = gateway.submit(request(instance(), bucket(), security_group(), database()), alice).json()
    assert created["state"] == "succeeded", created
    ids = {addr: out["id"] for addr, out in created["outputs"].items()}
    updates = request(
        _change("aws_instance", "web-1", ids["aws_instance.web-1"], "update", instance_type="t3.medium"),
        _change("aws_s3_bucket", "assets", ids["aws_s3_bucket.assets"], "update",
                versioning=[{"enabled": True}], tags={**TAGS, "tier": "web"}),
        _change("aws_security_group", "web", ids["aws_security_group.web"], "update",
                ingress=[{"from_port": 443, "to_port": 443, "protocol": "tcp", "cidr_blocks": ["10.0.0.0/8"],
                          "description": "in"}]),
        _change("aws_db_instance", "ledger", ids["aws_db_instance.ledger"], "update", allocated_storage=30),
    )  # fmt: skip
    assert gateway.submit(updates, alice).json()["state"] == "succeeded"
    deletes = request(*(_change(a.split(".")[0], a.split(".")[1], i, "delete") for a, i in ids.items()))
    assert gateway.submit(deletes, alice).json()["state"] == "succeeded"

    printed = CliRunner().invoke(cli, ["iam-policy"])
    assert printed.exit_code == 0
    allowed = allowed_actions(json.loads(printed.stdout))
    calls = gateway.client.get("/v1/audit/events", params={"type": "cloud.call", "limit": 1000},
                               headers=auditor).json()["items"]  # fmt: skip
    used = {action_for(c["data"]["service"], c["data"]["operation"]) for c in calls}
    assert {"ec2:RunInstances", "s3:CreateBucket", "rds:CreateDBInstance", "ec2:DeleteSecurityGroup"} <= used
    assert used - allowed == set(), f"calls the policy does not allow: {sorted(used - allowed)}"
