"""`govgate drift` and POST /v1/inventory/drift: what changed in the cloud behind the gateway's back is found,
recorded once on the ledger and in the inventory, and a resource gone from the cloud stops counting as spend."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from gateway.adapters.cloud import aws_s3_bucket
from gateway.adapters.cloud.iam import action_for, allowed_actions, policy_document
from gateway.adapters.store import repositories as repo
from gateway.domain.drift import differences, normalise_rules
from gateway.domain.identity import Role
from tests.factories import bucket, database, instance, request, security_group

SSH = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}


def _client(sandbox_url: str, service: str, region: str = "eu-west-1") -> Any:
    return boto3.client(service, region_name=region, endpoint_url=sandbox_url,
                        aws_access_key_id="sandbox", aws_secret_access_key="sandbox")  # fmt: skip


def _drift(gateway, headers, **params) -> dict[str, Any]:
    resp = gateway.client.post("/v1/inventory/drift", params=params, headers=headers)
    assert resp.status_code == 200, resp.text
    return resp.json()


def _events(gateway, auditor, type: str, **params) -> list[dict[str, Any]]:
    return gateway.client.get("/v1/audit/events", params={"type": type, "limit": 1000, **params},
                              headers=auditor).json()["items"]  # fmt: skip


def _rows(gateway, auditor) -> dict[str, dict[str, Any]]:
    items = gateway.client.get("/v1/inventory", params={"status": "all"}, headers=auditor).json()["items"]
    return {r["address"]: r for r in items}


def _by_address(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {i["address"]: i for i in items}


def test_drift_is_found_recorded_once_and_resolved(gateway, alice, auditor, sandbox_url):
    created = gateway.submit(
        request(instance("web-1"), instance("web-2"), security_group("web"),
                bucket("assets", versioning=[{"enabled": True}]), bucket("scratch")),
        alice,
    ).json()  # fmt: skip
    assert created["state"] == "succeeded", created
    rid = created["id"]
    ids = {addr: out["id"] for addr, out in created["outputs"].items()}

    # Just made as declared: nothing differs, nothing is recorded.
    clean = _drift(gateway, auditor)
    assert (clean["checked"], clean["unchanged"], clean["drifted"], clean["missing"]) == (5, 5, [], [])
    assert clean["cloud"] == "sandbox" and clean["sandbox"] is True and clean["errors"] == []
    assert _events(gateway, auditor, "inventory.drift") == []
    with gateway.services.db.read() as s:
        committed_before = repo.committed_monthly(s, team="payments")

    # Behind the gateway's back: a resized instance, an opened port, a bucket's versioning suspended and its tags
    # changed, an instance terminated and a bucket deleted.
    ec2, s3 = _client(sandbox_url, "ec2"), _client(sandbox_url, "s3")
    ec2.stop_instances(InstanceIds=[ids["aws_instance.web-1"]])
    ec2.modify_instance_attribute(InstanceId=ids["aws_instance.web-1"], InstanceType={"Value": "t3.large"})
    ec2.authorize_security_group_ingress(GroupId=ids["aws_security_group.web"], IpPermissions=[SSH])
    assets = ids["aws_s3_bucket.assets"]
    s3.put_bucket_versioning(Bucket=assets, VersioningConfiguration={"Status": "Suspended"})
    tags = s3.get_bucket_tagging(Bucket=assets)["TagSet"]
    tags = [t for t in tags if t["Key"] != "owner"] + [{"Key": "owner", "Value": "mallory"}]
    s3.put_bucket_tagging(Bucket=assets, Tagging={"TagSet": tags})
    ec2.terminate_instances(InstanceIds=[ids["aws_instance.web-2"]])
    s3.delete_bucket(Bucket=ids["aws_s3_bucket.scratch"])

    report = _drift(gateway, auditor)

    assert report["checked"] == 5 and report["unchanged"] == 0 and report["errors"] == []
    drifted = _by_address(report["drifted"])
    assert set(drifted) == {"aws_instance.web-1", "aws_security_group.web", "aws_s3_bucket.assets"}
    assert all(d["new"] for d in report["drifted"] + report["missing"])
    assert drifted["aws_instance.web-1"]["differences"] == [
        {"property": "instance_type", "expected": "t3.small", "actual": "t3.large"}
    ]
    web_rule = {"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_blocks": ["0.0.0.0/0"]}
    ssh_rule = {"protocol": "tcp", "from_port": 22, "to_port": 22, "cidr_blocks": ["0.0.0.0/0"]}
    assert drifted["aws_security_group.web"]["differences"] == [
        {"property": "ingress", "expected": [web_rule], "actual": [ssh_rule, web_rule]}
    ]
    bucket_diffs = {d["property"]: d for d in drifted["aws_s3_bucket.assets"]["differences"]}
    assert set(bucket_diffs) == {"tags", "versioning"}
    assert bucket_diffs["versioning"]["expected"] == [{"enabled": True}]
    assert bucket_diffs["versioning"]["actual"] == [{"enabled": False}]
    assert bucket_diffs["tags"]["expected"]["owner"] == "payments"
    assert bucket_diffs["tags"]["actual"]["owner"] == "mallory"
    assert not any(k.startswith("govgate:") for k in bucket_diffs["tags"]["actual"])
    assert {m["address"] for m in report["missing"]} == {"aws_instance.web-2", "aws_s3_bucket.scratch"}

    # One ledger event per drifted resource, on the request that made it.
    events = _events(gateway, auditor, "inventory.drift")
    assert len(events) == 5 and all(e["request_id"] == rid and e["actor"] == "gateway" for e in events)
    data = {e["data"]["address"]: e["data"] for e in events}
    assert data["aws_instance.web-1"]["differences"] == drifted["aws_instance.web-1"]["differences"]
    assert data["aws_instance.web-1"]["resource_id"] == ids["aws_instance.web-1"]
    assert (
        data["aws_instance.web-1"]["team"] == "payments"
        and data["aws_instance.web-1"]["type"] == "aws_instance"
    )
    assert data["aws_s3_bucket.scratch"]["missing"] is True and data["aws_instance.web-2"]["missing"] is True
    of_request = gateway.client.get("/v1/audit/events", params={"request_id": rid, "limit": 1000},
                                    headers=auditor).json()["items"]  # fmt: skip
    assert sum(e["type"] == "inventory.drift" for e in of_request) == 5

    # The inventory holds it too; what is gone is `missing` and no longer counts toward the team's spend.
    rows = _rows(gateway, auditor)
    assert rows["aws_instance.web-1"]["drift"] == {
        "differences": drifted["aws_instance.web-1"]["differences"]
    }
    assert rows["aws_instance.web-1"]["status"] == "active"
    assert rows["aws_instance.web-1"]["drift_checked_at"].endswith("Z")
    assert rows["aws_instance.web-2"]["status"] == rows["aws_s3_bucket.scratch"]["status"] == "missing"
    assert rows["aws_instance.web-2"]["drift"] == {"missing": True}
    assert rows["aws_security_group.web"]["lease_expires_at"] is None
    assert "retire_request_id" in rows["aws_security_group.web"]
    gone_cost = rows["aws_instance.web-2"]["monthly_cost"] + rows["aws_s3_bucket.scratch"]["monthly_cost"]
    assert rows["aws_instance.web-2"]["monthly_cost"] > 0
    with gateway.services.db.read() as s:
        assert repo.committed_monthly(s, team="payments") == pytest.approx(
            committed_before - gone_cost, abs=0.01
        )
    active = gateway.client.get("/v1/inventory", headers=alice).json()["items"]
    assert ids["aws_instance.web-2"] not in {r["id"] for r in active}
    missing = gateway.client.get("/v1/inventory", params={"status": "missing"}, headers=alice).json()["items"]
    assert {r["id"] for r in missing} == {ids["aws_instance.web-2"], ids["aws_s3_bucket.scratch"]}

    # Nothing new: nothing more on the ledger.
    again = _drift(gateway, auditor)
    assert len(again["drifted"]) == 3 and len(again["missing"]) == 2
    assert not any(d["new"] for d in again["drifted"] + again["missing"])
    assert len(_events(gateway, auditor, "inventory.drift")) == 5

    # Put right by hand: resolved, once.
    ec2.revoke_security_group_ingress(GroupId=ids["aws_security_group.web"], IpPermissions=[SSH])
    fixed = _drift(gateway, auditor)
    assert [r["address"] for r in fixed["resolved"]] == ["aws_security_group.web"]
    resolved = _events(gateway, auditor, "inventory.drift_resolved")
    assert len(resolved) == 1 and resolved[0]["data"]["address"] == "aws_security_group.web"
    assert resolved[0]["data"]["previous"]["differences"][0]["property"] == "ingress"
    assert _rows(gateway, auditor)["aws_security_group.web"]["drift"] == {}
    _drift(gateway, auditor)
    assert len(_events(gateway, auditor, "inventory.drift_resolved")) == 1
    assert len(_events(gateway, auditor, "inventory.drift")) == 5

    # The reads are on the ledger too, without a request, and the gateway's IAM policy allows each of them.
    calls = [e for e in _events(gateway, auditor, "cloud.call") if e["data"].get("purpose") == "drift"]
    assert calls and all(c["request_id"] is None for c in calls)
    used = {action_for(c["data"]["service"], c["data"]["operation"]) for c in calls}
    assert {"ec2:DescribeInstances", "ec2:DescribeSecurityGroups", "s3:GetBucketVersioning"} <= used
    assert used - allowed_actions(policy_document()) == set()


def test_a_database_changed_behind_the_gateways_back_is_drift(gateway, alice, auditor, sandbox_url):
    created = gateway.submit(request(database()), alice).json()
    assert created.get("state") == "succeeded", created
    ident = created["outputs"]["aws_db_instance.ledger"]["id"]
    assert _drift(gateway, auditor)["unchanged"] == 1

    _client(sandbox_url, "rds").modify_db_instance(
        DBInstanceIdentifier=ident, AllocatedStorage=50, ApplyImmediately=True
    )
    report = _drift(gateway, auditor)

    assert report["drifted"][0]["differences"] == [
        {"property": "allocated_storage", "expected": 20, "actual": 50}
    ]


def test_a_read_that_fails_is_reported_and_the_run_goes_on(gateway, alice, auditor, monkeypatch):
    made = gateway.submit(request(instance(), bucket()), alice).json()["outputs"]

    def throttled(*_: Any) -> None:
        raise ClientError(
            {"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}, "GetBucketVersioning"
        )

    monkeypatch.setattr(aws_s3_bucket, "read", throttled)
    report = _drift(gateway, auditor)

    assert report["checked"] == 1 and report["unchanged"] == 1
    assert report["errors"] == [
        {"resource_id": made["aws_s3_bucket.assets"]["id"], "type": "aws_s3_bucket", "address": "aws_s3_bucket.assets",
         "team": "payments", "error": "Throttling: Rate exceeded"}
    ]  # fmt: skip
    rows = _rows(gateway, auditor)
    assert rows["aws_s3_bucket.assets"]["drift_checked_at"] is None
    assert rows["aws_s3_bucket.assets"]["status"] == "active"
    assert rows["aws_instance.web-1"]["drift_checked_at"] is not None


def test_only_admins_and_auditors_run_drift_checks_and_a_team_can_be_chosen(gateway, alice):
    gateway.submit(request(instance()), alice)
    denied = gateway.client.post("/v1/inventory/drift", headers=alice)
    assert denied.status_code == 403
    assert "drift" in denied.json()["detail"]

    admin = gateway.token("root", Role.ADMIN)
    assert _drift(gateway, admin, team="platform")["checked"] == 0
    assert _drift(gateway, admin, team="payments")["checked"] == 1


def test_govgate_drift_prints_differences_and_exits_1_on_drift(gateway, alice, auditor, sandbox_url, cli):
    sg = gateway.submit(request(security_group("web")), alice).json()["outputs"]["aws_security_group.web"][
        "id"
    ]

    clean = cli("drift", token=auditor)
    assert clean.exit_code == 0, clean.output
    assert "1 resource(s) checked in the sandbox cloud: 0 drifted, 0 missing, 1 unchanged" in clean.output

    _client(sandbox_url, "ec2").authorize_security_group_ingress(GroupId=sg, IpPermissions=[SSH])
    found = cli("drift", "--team", "payments", token=auditor)
    assert found.exit_code == 1, found.output
    assert sg in found.output and "aws_security_group.web" in found.output and "ingress" in found.output
    assert '"from_port": 22' in found.output and "1 drifted" in found.output

    denied = cli("drift", token=alice)
    assert denied.exit_code == 1 and "cannot run a drift check" in denied.output


def test_differences_compare_only_what_both_sides_have_in_a_canonical_form():
    declared = {
        "instance_type": "t3.small",
        "ami": "ami-1",
        "tags": {"owner": "payments"},
        "metadata_options": [{"http_tokens": "required"}],
        "root_block_device": [{"volume_size": 20}],  # not read back: never drift
    }
    live = {
        "instance_type": "t3.small",
        "ami": "ami-1",
        "tags": {"owner": "payments", "govgate:request-id": "r1"},
        "metadata_options": [{"http_tokens": "required", "http_endpoint": "enabled"}],
        "monitoring": True,  # not declared: never drift
    }
    assert differences("aws_instance", declared, live) == []
    live["tags"] = {"owner": "payments", "extra": "x"}
    assert differences("aws_instance", declared, live) == [
        {"property": "tags", "expected": {"owner": "payments"}, "actual": {"extra": "x", "owner": "payments"}}
    ]

    # AWS merges rules with the same ports; the order of rules and sources carries no meaning.
    declared_rules = [
        {
            "from_port": 443,
            "to_port": 443,
            "protocol": "tcp",
            "cidr_blocks": ["10.0.0.0/8"],
            "description": "a",
        },
        {"from_port": 443, "to_port": 443, "protocol": "6", "cidr_blocks": ["0.0.0.0/0"]},
        {"from_port": 0, "to_port": 0, "protocol": "-1", "cidr_blocks": ["0.0.0.0/0"]},
    ]
    live_rules = [
        {"protocol": "-1", "cidr_blocks": ["0.0.0.0/0"]},
        {"from_port": 443, "to_port": 443, "protocol": "tcp", "cidr_blocks": ["0.0.0.0/0", "10.0.0.0/8"]},
    ]
    assert normalise_rules(declared_rules) == normalise_rules(live_rules)

    # A bucket without a declared public access block is expected to have every flag set, as the driver does.
    open_block = [{k: False for k in ("block_public_acls", "ignore_public_acls", "block_public_policy",
                                      "restrict_public_buckets")}]  # fmt: skip
    diffs = differences("aws_s3_bucket", {"tags": {}}, {"tags": {}, "public_access_block": open_block})
    assert [d["property"] for d in diffs] == ["public_access_block"]
