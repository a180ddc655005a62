"""Exemptions: an admin asks, a second person approves; they waive one rule until they expire, and every use is
on the ledger."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gateway.adapters.store import repositories as repo
from gateway.domain.identity import Role
from tests.clock import DEFAULT_NOW
from tests.factories import request, security_group

RULE = "security/sg_admin_port_open_to_world"


def _later(**kw: float) -> str:
    """Relative to the gateway's (test) clock, which expiry is checked against."""
    return (DEFAULT_NOW + timedelta(**kw)).isoformat().replace("+00:00", "Z")


def _spec(**over: object) -> dict:
    body = {
        "rule": RULE, "team": "payments", "environment": "dev", "address": "aws_security_group.bastion*",
        "reason": "bastion host until the VPN is live", "ticket": "CHG0040001", "expires_at": _later(days=7),
    }  # fmt: skip
    body.update(over)
    return body


@pytest.fixture
def admins(gateway):
    return gateway.token("root", Role.ADMIN), gateway.token("sec-lead", Role.APPROVER, ["security"])


def _grant(gateway, admins, **over: object) -> str:
    admin, approver = admins
    r = gateway.client.post("/v1/exemptions", json=_spec(**over), headers=admin)
    assert r.status_code == 201, r.text
    eid = r.json()["id"]
    assert r.json()["status"] == "pending"
    r = gateway.client.post(f"/v1/exemptions/{eid}/approvals", json={"verdict": "approve"}, headers=approver)
    assert r.status_code == 200 and r.json()["status"] == "active"
    return eid


def _ssh(name: str = "bastion") -> dict:
    return request(security_group(name=name, port=22))


def test_an_approved_exemption_waives_its_rule_and_its_use_is_ledgered(gateway, admins, alice, auditor):
    assert gateway.submit(_ssh(), alice).json()["state"] == "rejected"
    eid = _grant(gateway, admins)

    body = gateway.submit(_ssh(), alice).json()

    assert body["state"] == "succeeded", body["decision"]
    waived = body["decision"]["exempted"]
    assert [(v["rule"], v["exemption"]) for v in waived] == [("sg_admin_port_open_to_world", eid)]
    events = gateway.client.get("/v1/audit/events", params={"request_id": body["id"]}, headers=auditor)
    by_type = {e["type"]: e["data"] for e in events.json()["items"]}
    assert by_type["exemption.used"]["exemption_id"] == eid
    assert by_type["exemption.used"]["waived"][0]["rule"] == "sg_admin_port_open_to_world"
    policy_input = by_type["policy.evaluated"]["opa"]["input"]
    assert [e["id"] for e in policy_input["exemptions"]] == [eid]


def test_an_exemption_covers_only_its_scope(gateway, admins, alice):
    _grant(gateway, admins)
    assert gateway.submit(_ssh(name="web"), alice).json()["state"] == "rejected"  # other address
    prod_like = _ssh()
    prod_like["team"] = "analytics"
    assert gateway.submit(prod_like, alice).json()["state"] == "rejected"  # other team


def test_an_expired_exemption_never_applies(gateway, admins, alice):
    eid = _grant(gateway, admins)
    with gateway.services.db.unit_of_work() as s:  # time passes
        row = repo.get_exemption(s, exemption_id=eid)
        row.expires_at = DEFAULT_NOW - timedelta(seconds=1)
        s.add(row)

    body = gateway.submit(_ssh(), alice).json()

    assert body["state"] == "rejected" and body["decision"]["exempted"] == []
    shown = gateway.client.get(f"/v1/exemptions/{eid}", headers=alice).json()
    assert shown["status"] == "expired"
    listed = gateway.client.get("/v1/exemptions", params={"status": "expired"}, headers=alice).json()
    assert [e["id"] for e in listed["items"]] == [eid]


def test_a_revoked_exemption_stops_applying(gateway, admins, alice):
    admin, _ = admins
    eid = _grant(gateway, admins)
    r = gateway.client.post(f"/v1/exemptions/{eid}/revoke", json={"comment": "VPN is live"}, headers=admin)
    assert r.status_code == 200 and r.json()["status"] == "revoked"
    assert gateway.submit(_ssh(), alice).json()["state"] == "rejected"


def test_granting_needs_an_admin_and_a_different_approver(gateway, admins, alice):
    admin, approver = admins
    assert gateway.client.post("/v1/exemptions", json=_spec(), headers=alice).status_code == 403
    assert gateway.client.post("/v1/exemptions", json=_spec(), headers=approver).status_code == 403
    eid = gateway.client.post("/v1/exemptions", json=_spec(), headers=admin).json()["id"]
    own = gateway.client.post(f"/v1/exemptions/{eid}/approvals", json={"verdict": "approve"}, headers=admin)
    assert own.status_code == 403 and "cannot also approve" in own.json()["detail"]
    no_role = gateway.client.post(
        f"/v1/exemptions/{eid}/approvals", json={"verdict": "approve"}, headers=alice
    )
    assert no_role.status_code == 403
    # Pending is not in force.
    assert gateway.submit(_ssh(), alice).json()["state"] == "rejected"


@pytest.mark.parametrize(
    ("field", "value", "pointer"),
    [
        ("rule", "sg_admin_port_open_to_world", "/rule"),
        ("rule", "*/everything", "/rule"),
        ("expires_at", "2020-01-01T00:00:00Z", "/expires_at"),
        ("expires_at", _later(days=400), "/expires_at"),
        ("expires_at", "2026-12-31T00:00:00", "/expires_at"),
        ("environment", "qa", "/environment"),
        ("reason", "short", "/reason"),
    ],
)
def test_a_bad_exemption_is_a_422_with_the_pointer(gateway, admins, field, value, pointer):
    admin, _ = admins
    r = gateway.client.post("/v1/exemptions", json=_spec(**{field: value}), headers=admin)
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert pointer in [e["pointer"] for e in r.json()["errors"]]
    with gateway.services.db.read() as s:
        assert repo.list_exemptions(s) == []


def test_the_exemptions_command_line_asks_approves_and_lists(gateway, admins, cli):
    admin, approver = admins
    ask = [
        "exemptions",
        "create",
        "--rule",
        RULE,
        "--team",
        "payments",
        "--reason",
        "bastion until the VPN is live",
    ]
    r = cli(*ask, "--ticket", "CHG0040001", "--expires", _later(days=2), token=admin)
    assert r.exit_code == 0 and "pending" in r.output, r.output
    eid = r.output.split("exemption ")[-1].split()[0]
    assert cli("exemptions", "approve", eid, token=approver).exit_code == 0
    listed = cli("exemptions", "list", "--status", "active")
    assert listed.exit_code == 0 and "active" in listed.output
    bad = cli("exemptions", "create", "--rule", "nope", "--team", "payments", "--reason", "x" * 12,
              "--ticket", "CHG1", "--expires", _later(days=1), token=admin)  # fmt: skip
    assert bad.exit_code == 1 and "/rule" in bad.output
