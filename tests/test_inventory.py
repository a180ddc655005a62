"""GET /v1/inventory and `govgate inventory list`: what the gateway manages, by team, with its cost."""

from __future__ import annotations

from gateway.domain.identity import Role
from tests.factories import bucket, instance, request


def test_the_inventory_lists_managed_resources_by_who_may_see_them(gateway, alice, auditor, cli):
    platform = gateway.token("pat", Role.REQUESTER, ["platform"])
    made = gateway.submit(request(instance(), bucket()), alice).json()["outputs"]
    gateway.submit(request(instance("ops-1"), team="platform"), platform)

    mine = gateway.client.get("/v1/inventory", headers=alice).json()
    assert {r["id"] for r in mine["items"]} == {o["id"] for o in made.values()}
    assert all(r["team"] == "payments" and r["sandbox"] for r in mine["items"])
    assert mine["monthly_cost"] == round(sum(r["monthly_cost"] for r in mine["items"]), 2) > 0

    everything = gateway.client.get("/v1/inventory", headers=auditor).json()["items"]
    assert {r["team"] for r in everything} == {"payments", "platform"}
    only = gateway.client.get("/v1/inventory", params={"type": "aws_s3_bucket"}, headers=auditor).json()[
        "items"
    ]
    assert [r["type"] for r in only] == ["aws_s3_bucket"]

    iid = made["aws_instance.web-1"]["id"]
    gone = {"action": "delete", "type": "aws_instance", "name": "web-1", "id": iid}
    deleted = gateway.submit(request(gone), alice).json()
    assert deleted["state"] == "succeeded", deleted.get("decision")
    active = {r["id"] for r in gateway.client.get("/v1/inventory", headers=alice).json()["items"]}
    assert iid not in active
    retired = gateway.client.get("/v1/inventory", params={"status": "retired"}, headers=alice).json()["items"]
    assert [r["id"] for r in retired] == [iid]

    shown = cli("inventory", "list", "--status", "all", token=alice)
    assert shown.exit_code == 0 and iid in shown.output and "(sandbox)" in shown.output
