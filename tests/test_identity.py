"""Who may do what: tokens, roles, teams, and what each principal may read."""

from __future__ import annotations

import hashlib

from sqlalchemy import text

from gateway.domain.identity import Role
from tests.factories import expensive, instance, request

OPEN_PATHS = {"/healthz", "/readyz"}


def test_every_endpoint_but_health_and_readiness_needs_a_token(gateway):
    checked = 0
    for path, operations in gateway.client.app.openapi()["paths"].items():
        url = path.replace("{", "").replace("}", "")
        for method in operations:
            r = gateway.client.request(method.upper(), url, json={})
            if path in OPEN_PATHS:
                assert r.status_code == 200, path
            else:
                assert r.status_code == 401, (method, path, r.status_code)
                assert r.headers["www-authenticate"] == "Bearer"
                assert r.headers["content-type"] == "application/problem+json"
            checked += 1
    assert checked > 20


def test_tokens_are_shown_once_stored_as_sha256_and_revocable(gateway):
    from gateway.pipeline import tokens

    token = tokens.create(gateway.services.db, name="ops", role=Role.AUDITOR, groups=[])
    assert token.startswith("ggw_")
    with gateway.services.db.engine.connect() as conn:
        stored = conn.execute(text("SELECT token_hash FROM api_tokens WHERE name='ops'")).scalar_one()
    assert stored == hashlib.sha256(token.encode()).hexdigest()
    headers = {"Authorization": f"Bearer {token}"}
    assert gateway.client.get("/v1/requests", headers=headers).status_code == 200
    tokens.revoke(gateway.services.db, name="ops")
    assert gateway.client.get("/v1/requests", headers=headers).status_code == 401


def test_a_requester_submits_only_for_its_own_teams(gateway):
    dana = gateway.token("dana", Role.REQUESTER, ["analytics"])
    r = gateway.submit(request(instance(), team="payments"), dana)
    assert r.status_code == 403
    assert r.json()["errors"][0]["pointer"] == "/team"
    integration = gateway.token("snow", Role.INTEGRATION)
    assert gateway.submit(request(instance(), team="payments"), integration).status_code == 201


def test_a_requester_sees_its_teams_requests_and_no_others(gateway, alice):
    dana = gateway.token("dana", Role.REQUESTER, ["platform"])
    erin = gateway.token("erin", Role.REQUESTER, ["payments"])
    mine = gateway.submit(request(instance(), team="payments"), alice).json()["id"]
    theirs = gateway.submit(request(instance(), team="platform"), dana).json()["id"]

    listed = {r["id"] for r in gateway.client.get("/v1/requests", headers=erin).json()["items"]}
    assert listed == {mine}  # erin is in payments: alice's payments request, not dana's
    assert gateway.client.get(f"/v1/requests/{mine}", headers=erin).status_code == 200
    assert gateway.client.get(f"/v1/requests/{theirs}", headers=erin).status_code == 404
    # Writes do not reveal it either (no 403 or 409 that would tell its state).
    for action in ("cancel", "review", "evaluate"):
        assert (
            gateway.client.post(
                f"/v1/requests/{theirs}/{action}", json={"comment": "x"}, headers=erin
            ).status_code
            == 404
        )
    assert (
        gateway.client.put(f"/v1/requests/{theirs}", json=request(instance()), headers=erin).status_code
        == 404
    )


def test_an_auditor_reads_everything_and_never_approves_or_submits(gateway, alice, auditor):
    rid = gateway.submit(expensive(), alice).json()["id"]
    assert gateway.client.get(f"/v1/requests/{rid}", headers=auditor).status_code == 200
    assert gateway.client.get("/v1/audit/events", headers=auditor).status_code == 200
    r = gateway.client.post(f"/v1/requests/{rid}/approvals", json={"verdict": "approve"}, headers=auditor)
    assert r.status_code == 403
    assert gateway.submit(request(instance()), auditor).status_code == 403
    assert gateway.client.get("/v1/audit/events", headers=alice).status_code == 403


def test_an_integration_reads_only_what_it_submitted(gateway, alice):
    snow = gateway.token("snow", Role.INTEGRATION)
    own = gateway.submit(request(instance()), snow).json()["id"]
    other = gateway.submit(request(instance("web-2")), alice).json()["id"]
    listed = {r["id"] for r in gateway.client.get("/v1/requests", headers=snow).json()["items"]}
    assert listed == {own}
    assert gateway.client.get(f"/v1/requests/{other}", headers=snow).status_code == 404


def test_one_persons_tokens_share_a_subject_so_they_cannot_approve_their_own_request(gateway, cli):
    from gateway.pipeline import tokens

    db = gateway.services.db
    as_requester = tokens.create(
        db, name="sam-laptop", role=Role.REQUESTER, groups=["payments"], subject="sam"
    )
    made = cli(
        "tokens", "create", "sam-approver", "--role", "approver", "--group", "finance", "--subject", "sam"
    )
    as_approver = made.output.strip().splitlines()[-1]
    rid = gateway.submit(expensive(), {"Authorization": f"Bearer {as_requester}"}).json()["id"]
    assert (
        gateway.client.get(f"/v1/requests/{rid}", headers={"Authorization": f"Bearer {as_requester}"}).json()[
            "requester"
        ]
        == "sam"
    )
    r = gateway.client.post(f"/v1/requests/{rid}/approvals", json={"verdict": "approve", "comment": "mine"},
                            headers={"Authorization": f"Bearer {as_approver}"})  # fmt: skip
    assert r.status_code == 403 and "own request" in r.json()["detail"]
    assert "sam" in cli("tokens", "list").output
