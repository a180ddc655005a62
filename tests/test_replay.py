"""`govgate policy replay`: a real policy change replayed on a few hundred stored requests, in two real OPAs."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from gateway.adapters.store import repositories as repo
from gateway.cli import app as cli
from gateway.domain.identity import Role, Visibility
from tests.clock import DEFAULT_NOW
from tests.conftest import POLICY_DIR
from tests.factories import expensive, instance, request, security_group

APPROVED, PENDING, REJECTED = 12, 60, 150

NO_M5 = """package gateway.security

# METADATA
# title: No m5 instances
# custom:
#   id: draft_no_m5
#   severity: medium
#   remediation: use m6i
deny contains {"rule": "draft_no_m5", "msg": msg, "address": rc.address} if {
	some rc in input.resource_changes
	startswith(rc.change.after.instance_type, "m5.")
	msg := sprintf("%s: m5 is retired", [rc.address])
}
"""

SMALL_NEEDS_PLATFORM = """package gateway.cost

require_approval contains {"group": "platform", "reason": "draft: t3.small needs platform sign-off"} if {
	some rc in input.resource_changes
	rc.change.after.instance_type == "t3.small"
}
"""


@pytest.fixture
def seeded(gateway, alice, settings, monkeypatch):
    """Past requests of three kinds, decided by the current policies."""
    for i in range(APPROVED):
        assert gateway.submit(request(instance(f"app-{i}")), alice).json()["state"] == "succeeded"
    for _ in range(PENDING):
        assert gateway.submit(expensive(), alice).json()["state"] == "pending_approval"
    for i in range(REJECTED):
        assert (
            gateway.submit(request(security_group(f"ssh-{i}", port=22)), alice).json()["state"] == "rejected"
        )
    monkeypatch.setenv("GATEWAY_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("GATEWAY_POLICY_DIR", str(POLICY_DIR))
    return gateway


@pytest.fixture
def draft(tmp_path):
    target = tmp_path / "draft"
    shutil.copytree(POLICY_DIR, target)
    (target / "security" / "no_m5.rego").write_text(NO_M5)
    (target / "cost" / "small.rego").write_text(SMALL_NEEDS_PLATFORM)
    return target


def test_replay_reports_the_flips_of_a_policy_change(seeded, draft, tmp_path):
    out = tmp_path / "impact.json"
    result = CliRunner().invoke(
        cli, ["policy", "replay", "--policies", str(draft), "--format", "json", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output

    report = json.loads(out.read_text())
    total = APPROVED + PENDING + REJECTED
    assert report["total"] == total and report["changed"] == APPROVED + PENDING
    assert report["flips"] == {
        "approved -> pending_approval": APPROVED,
        "pending_approval -> rejected": PENDING,
    }
    assert report["outcomes"]["before"] == {
        "approved": APPROVED,
        "pending_approval": PENDING,
        "rejected": REJECTED,
    }
    # Each pending request has four m5 instances: four new violations apiece.
    assert report["violations_by_rule"]["new"] == {"security/draft_no_m5": 4 * PENDING}
    with seeded.services.db.read() as s:
        approved_cost = sum(
            r.cost_monthly
            for r in repo.list_requests(s, visible=Visibility(everything=True), state="succeeded", limit=1000)
        )
    assert approved_cost > 0
    assert report["approved_cost_monthly"]["change"] == pytest.approx(-approved_cost, abs=0.05)
    assert report["changed_bundles"] == ["cost", "security"]
    flipped = next(r for r in report["requests"] if r["before"] == "approved")
    assert flipped["new_approvals"] == ["platform x1"]


def test_replay_markdown_and_exported_requests_for_policy_repo_ci(seeded, draft, tmp_path):
    runner = CliRunner()
    exported = tmp_path / "requests.jsonl"
    r = runner.invoke(cli, ["policy", "export-requests", "-o", str(exported)])
    assert r.exit_code == 0, r.output
    assert len(exported.read_text().splitlines()) == APPROVED + PENDING + REJECTED

    md = tmp_path / "impact.md"
    args = ["policy", "replay", "--policies", str(draft), "--requests", str(exported), "--format", "markdown"]
    r = runner.invoke(cli, [*args, "-o", str(md), "--fail-on-change"])
    assert r.exit_code == 3, r.output
    text = md.read_text()
    assert f"| pending_approval -> rejected | {PENDING} |" in text
    assert f"| `security/draft_no_m5` | {4 * PENDING} | 0 |" in text

    future = (DEFAULT_NOW + timedelta(days=1)).date().isoformat()  # requests carry the test clock's time
    r = runner.invoke(
        cli, ["policy", "replay", "--policies", str(draft), "--since", future, "--format", "json"]
    )
    assert r.exit_code == 0 and json.loads(r.stdout)["total"] == 0


def test_replay_applies_exemptions_in_force_and_never_expired_ones(seeded, gateway, clock, tmp_path):
    clock.set(datetime.now(UTC))  # replay reads exemptions at the real time
    admin, approver = gateway.token("root", Role.ADMIN), gateway.token("lead", Role.APPROVER)
    spec = {"rule": "security/sg_admin_port_open_to_world", "team": "payments", "reason": "replay test exemption",
            "ticket": "CHG0040002", "expires_at": (datetime.now(UTC) + timedelta(days=3)).isoformat()}  # fmt: skip
    eid = gateway.client.post("/v1/exemptions", json=spec, headers=admin).json()["id"]
    gateway.client.post(f"/v1/exemptions/{eid}/approvals", json={"verdict": "approve"}, headers=approver)

    def rejected_now() -> int:
        r = CliRunner().invoke(cli, ["policy", "replay", "--policies", str(POLICY_DIR), "--format", "json"])
        assert r.exit_code == 0, r.output
        return json.loads(r.stdout)["outcomes"]["before"].get("rejected", 0)

    assert rejected_now() == 0  # in force: the SSH requests would pass today
    with gateway.services.db.unit_of_work() as s:
        row = repo.get_exemption(s, exemption_id=eid)
        row.expires_at = datetime.now(UTC) - timedelta(minutes=1)
        s.add(row)
    assert rejected_now() == REJECTED


def test_a_stored_answer_is_reused_only_while_its_revisions_are_current(tmp_path):
    from gateway.app import policy_engine
    from gateway.domain.cost import default_catalog
    from gateway.domain.identity import Principal
    from gateway.domain.plan import PlanContext, build_input
    from gateway.pipeline.replay import StoredInput, replay

    ctx = PlanContext(
        request_id="r-1", requester=Principal("alice", Role.REQUESTER, ("payments",)),
        submitted_at="2026-11-27T08:00:00Z", now="2026-11-27T08:00:00Z", catalog=default_catalog(),
        budget_monthly=5000.0,
    )  # fmt: skip
    doc = build_input(request(instance()), ctx)
    engine = policy_engine(POLICY_DIR, tmp_path / "opa")
    try:
        every = [s.name for s in engine.source.sets]
        answer = engine.evaluator.evaluate_batch(engine.source, [doc], [every])[0]
        # A stored answer that says "rejected": used as it is while the revisions it cites are current...
        doctored = {**answer["sets"], "security": {"deny": ["stored: rejected"], "warn": []}}
        current = StoredInput("r-1", doc, doctored, answer["revisions"])
        report = replay([current], engine, engine)
        assert report.outcomes_before == {"rejected": 1}
        # ...and ignored once a revision differs: then the set is evaluated again.
        stale = StoredInput("r-1", doc, doctored, {**answer["revisions"], "security": "sha256:older"})
        assert replay([stale], engine, engine).outcomes_before == {"approved": 1}
    finally:
        engine.close()
