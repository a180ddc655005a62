"""Stage 2 against the real OPA: the three policy sets decide, and the decision says why."""

from __future__ import annotations

from tests.factories import bucket, expensive, instance, request, security_group


def test_clean_request_is_approved_and_executed_in_the_sandbox(gateway, alice):
    r = gateway.submit(request(instance(), bucket(), security_group()), alice)

    assert r.status_code == 201
    body = r.json()
    assert r.headers["location"] == f"/v1/requests/{body['id']}"
    assert body["state"] == "succeeded"
    assert body["cloud"] == "sandbox" and body["sandbox"] is True
    d = body["decision"]
    assert d["outcome"] == "approved" and d["violations"] == [] and d["required_approvals"] == []
    assert set(d["policy_revisions"]) == {"security", "cost", "compliance", "lib", "data", "gateway-entry"}
    assert len(d["decision_id"]) == 36  # OPA's decision_id for the one query over all sets
    assert d["cost"] == {"monthly": 18.4, "delta_monthly": 18.4, "currency": "USD"}


def test_ssh_from_the_world_is_rejected_with_the_rule_and_its_message(gateway, alice):
    r = gateway.submit(request(security_group("debug", port=22)), alice)

    body = r.json()
    assert body["state"] == "rejected"
    (v,) = body["decision"]["violations"]
    assert v["set"] == "security" and v["rule"] == "sg_admin_port_open_to_world"
    assert v["enforcement"] == "hard-mandatory"
    assert "22" in v["msg"] and "Remediation" in v["msg"]
    assert body["outputs"] == {}


def test_ipv6_world_rdp_is_rejected_too(gateway, alice):
    sg = security_group("rdp", port=3389)
    sg["properties"]["ingress"][0] = {"from_port": 3389, "to_port": 3389, "protocol": "tcp",
                                      "ipv6_cidr_blocks": ["::/0"], "description": "rdp"}  # fmt: skip
    assert gateway.submit(request(sg), alice).json()["state"] == "rejected"


def test_unencrypted_bucket_and_imdsv1_are_rejected(gateway, alice):
    b = bucket()
    del b["properties"]["server_side_encryption_configuration"]
    i = instance(metadata_options=[{"http_tokens": "optional"}])
    rules = {v["rule"] for v in gateway.submit(request(b, i), alice).json()["decision"]["violations"]}
    assert rules == {"s3_encryption_missing", "ec2_imdsv2_not_required"}


def test_expensive_request_waits_for_finance(gateway, alice):
    body = gateway.submit(expensive(), alice).json()

    assert body["state"] == "pending_approval"
    d = body["decision"]
    assert d["outcome"] == "pending_approval"
    assert d["cost"]["monthly"] > 500
    assert [(a["group"], a["count"]) for a in d["required_approvals"]] == [("finance", 1)]


def test_over_budget_is_a_soft_mandatory_violation_finance_must_override(gateway, alice):
    # analytics has a 2000 USD budget; 14 m5.xlarge in eu-west-1 cost about 2,200 a month.
    body = request(*[instance(f"w{i}", "m5.xlarge") for i in range(14)], team="analytics")
    d = gateway.submit(body, alice).json()["decision"]

    assert d["outcome"] == "pending_approval"
    (v,) = d["violations"]
    assert (v["set"], v["rule"], v["enforcement"]) == ("cost", "team_budget_exceeded", "soft-mandatory")
    (a,) = d["required_approvals"]
    assert a["group"] == "finance" and a["override"] is True


def test_production_needs_a_ticket_a_window_and_an_allowed_region(gateway, alice):
    body = request(instance(region="us-east-1"), env="prod")
    body["change"] = {"type": "normal"}
    d = gateway.submit(body, alice).json()["decision"]
    assert d["outcome"] == "rejected"
    assert {v["rule"] for v in d["violations"]} == {
        "change_ticket_missing", "change_window_missing", "region_not_allowed",
    }  # fmt: skip


def test_a_window_in_a_change_freeze_is_rejected_unless_emergency(gateway, alice):
    body = request(instance(), env="prod")
    body["change"]["window"] = {"start": "2026-12-24T22:00:00Z", "end": "2026-12-25T02:00:00Z"}
    d = gateway.submit(body, alice).json()["decision"]
    assert [v["rule"] for v in d["violations"]] == ["change_freeze_conflict"]
    assert "Remediation:" in d["violations"][0]["msg"]
    body["change"]["type"] = "emergency"
    d = gateway.client.post("/v1/evaluate", json=body, headers=alice).json()
    assert d["violations"] == []
    assert {w["rule"] for w in d["warnings"]} == {"emergency_change", "emergency_change_in_freeze"}
    assert [(a["group"], a["expedite"]) for a in d["required_approvals"]] == [("ecab", True)]


def test_missing_required_tags_are_rejected(gateway, alice):
    i = instance()
    i["properties"]["tags"] = {"owner": "payments"}
    (v,) = gateway.submit(request(i), alice).json()["decision"]["violations"]
    assert v["rule"] == "required_tags_missing" and "cost-center" in v["msg"]


def test_dry_run_returns_the_decision_and_stores_only_an_audit_event(gateway, alice, auditor):
    r = gateway.client.post("/v1/evaluate", json=expensive(), headers=alice)

    assert r.status_code == 200
    assert r.json()["outcome"] == "pending_approval"
    assert gateway.client.get("/v1/requests", headers=alice).json()["items"] == []
    types = [e["type"] for e in gateway.client.get("/v1/audit/events", headers=auditor).json()["items"]]
    assert "policy.dry_run" in types and "request.submitted" not in types


def test_policies_endpoint_lists_sets_with_revisions(gateway, alice):
    sets = gateway.client.get("/v1/policies", headers=alice).json()["sets"]
    assert [(s["name"], s["enforcement"]) for s in sets] == [
        ("security", "hard-mandatory"), ("cost", "soft-mandatory"), ("compliance", "hard-mandatory"),
    ]  # fmt: skip
    assert all(s["revision"].startswith("sha256:") for s in sets)
