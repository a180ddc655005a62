"""`govgate` against the real app: tokens on the local database, requests and votes through the API."""

from __future__ import annotations

import json

from tests.factories import expensive, instance, request


def test_tokens_create_list_and_revoke(gateway, cli):
    made = cli("tokens", "create", "ops", "--role", "approver", "--group", "finance", "--group", "security")
    assert made.exit_code == 0, made.output
    token = made.output.strip().splitlines()[-1]
    assert token.startswith("ggw_")
    headers = {"Authorization": f"Bearer {token}"}
    assert gateway.client.get("/v1/requests", headers=headers).status_code == 200

    listed = cli("tokens", "list")
    assert "ops" in listed.output and "finance,security" in listed.output and "active" in listed.output
    assert token not in listed.output  # shown once, never again

    assert cli("tokens", "create", "ops", "--role", "auditor").exit_code == 1  # names are unique
    assert cli("tokens", "revoke", "ops").exit_code == 0
    assert "revoked" in cli("tokens", "list").output
    assert gateway.client.get("/v1/requests", headers=headers).status_code == 401


def test_requests_list_show_approve_and_reject(gateway, cli, alice, bob, tmp_path):
    held = gateway.submit(expensive(), alice).json()["id"]
    other = gateway.submit(expensive(n=5), alice).json()["id"]

    listed = cli("requests", "list", "--state", "pending_approval", token=bob)
    assert listed.exit_code == 0 and held[:8] in listed.output and "finance" in listed.output

    shown = cli("requests", "show", held, token=alice)
    assert shown.exit_code == 0 and "needs 1 approval(s) from finance" in shown.output

    own = cli("approve", held, "--comment", "mine", "--yes", token=alice)
    assert own.exit_code == 1 and "own request" in own.output

    declined = cli("approve", held, "--comment", "Q4 plan", token=bob, input="n\n")
    assert declined.exit_code == 1 and "Approve this content?" in declined.output
    ok = cli("approve", held, "--comment", "Q4 plan", "--group", "finance", token=bob, input="y\n")
    assert ok.exit_code == 0 and "succeeded" in ok.output

    # A vote names the content it approves: after an amendment, the old hash is refused.
    other_held = gateway.submit(expensive(), alice).json()
    gateway.client.put(f"/v1/requests/{other_held['id']}", json=expensive(n=5), headers=alice)
    stale = cli("approve", other_held["id"], "--content-hash", other_held["content_hash"], token=bob)
    assert stale.exit_code == 1 and "amended" in stale.output

    no_comment = cli("reject", other, "--comment", " ", token=bob)
    assert no_comment.exit_code == 1 and "/comment" in no_comment.output
    rejected = cli("reject", other, "--comment", "not this quarter", token=bob)
    assert rejected.exit_code == 0 and "rejected" in rejected.output


def test_requests_amend_and_cancel(gateway, cli, alice, bob):
    rid = gateway.submit(expensive(), alice).json()["id"]
    path = gateway.services.settings.data_dir / "amended.json"
    path.write_text(json.dumps(request(instance("web-9"))))

    amended = cli("requests", "amend", rid, str(path), token=alice)
    assert amended.exit_code == 0, amended.output
    view = gateway.client.get(f"/v1/requests/{rid}", headers=alice).json()
    assert view["state"] == "succeeded"  # one small instance: nothing left to approve
    assert [r["name"] for r in view["request"]["resources"]] == ["web-9"]

    held = gateway.submit(expensive(), alice).json()["id"]
    assert cli("requests", "cancel", held, token=bob).exit_code == 1
    cancelled = cli("requests", "cancel", held, token=alice)
    assert cancelled.exit_code == 0 and "cancelled" in cancelled.output
