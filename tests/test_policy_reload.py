"""Policy edits reach the next decision without a restart; a broken edit fails closed until it is fixed."""

from __future__ import annotations

import shutil
import time

import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from tests.conftest import POLICY_DIR, Gateway
from tests.factories import instance, request

NO_T3_SMALL = """package gateway.security

# METADATA
# title: No t3.small
# custom:
#   id: draft_no_t3_small
#   severity: low
#   remediation: pick another size
deny contains {"rule": "draft_no_t3_small", "msg": msg, "address": rc.address} if {
	some rc in input.resource_changes
	rc.change.after.instance_type == "t3.small"
	msg := sprintf("%s: t3.small is retired", [rc.address])
}
"""

# A Rego v0 pack in Scalr's style, dropped in as a new policy set with no edits.
SCALR_V0 = """package terraform.scalr_instances

deny[reason] {
	rc := input.tfplan.resource_changes[_]
	rc.provider_name == "registry.terraform.io/hashicorp/aws"
	rc.type == "aws_instance"
	input.tfrun.workspace.environment_type == "development"
	reason := sprintf("%s: %s in %s", [rc.address, rc.change.after.instance_type, input.tfrun.workspace.name])
}
"""

SCALR_SET = """
  - name: scalr-instances
    bundle: scalr-instances
    query: data.terraform.scalr_instances
    enforcement: advisory
    profile: scalr
    rego_version: v0
    override_group: null
"""


@pytest.fixture
def policy_dir(tmp_path):
    target = tmp_path / "policies"
    shutil.copytree(POLICY_DIR, target, ignore=shutil.ignore_patterns("*_test.rego"))
    return target


@pytest.fixture
def own(settings, policy_dir):
    """A gateway that runs its own OPA on a private copy of the policies."""
    app = create_app(
        settings.model_copy(
            update={"opa_url": None, "policy_dir": policy_dir, "policy_reload_timeout_seconds": 2.0}
        )
    )
    with TestClient(app) as client:
        yield Gateway(client)


def _decide(gw: Gateway, headers: dict[str, str], itype: str = "t3.small") -> dict:
    return gw.client.post("/v1/evaluate", json=request(instance(itype=itype)), headers=headers).json()


def test_editing_a_policy_file_changes_the_next_decision_without_restart(own, policy_dir):
    alice = own.token("alice", groups=["payments"])
    first = _decide(own, alice)
    assert first["outcome"] == "approved"

    (policy_dir / "security" / "retired.rego").write_text(NO_T3_SMALL)
    second = _decide(own, alice)

    assert second["outcome"] == "rejected"
    assert [v["rule"] for v in second["violations"]] == ["draft_no_t3_small"]
    assert second["policy_revisions"]["security"] != first["policy_revisions"]["security"]
    assert second["policy_revisions"]["cost"] == first["policy_revisions"]["cost"]
    shown = own.client.get("/v1/policies", headers=alice).json()
    security = next(s for s in shown["sets"] if s["name"] == "security")
    assert security["revision"] == security["loaded_revision"] == second["policy_revisions"]["security"]
    assert shown["in_sync"] is True

    (policy_dir / "security" / "retired.rego").unlink()
    assert _decide(own, alice)["outcome"] == "approved"


ADVISORY_IN_A_HARD_SET = """package gateway.security

import data.gateway.lib

# METADATA
# title: Small instances are noted
# description: Only a note, although the security set is hard-mandatory.
# custom:
#   id: small_instance_noted
#   severity: low
#   remediation: none needed
#   enforcement: advisory
deny contains v if {
	some r in lib.planned_of("aws_instance")
	v := lib.violation(rego.metadata.rule(), r.address, "a small instance")
}
"""


def test_a_rules_metadata_sets_its_own_enforcement(own, policy_dir):
    alice = own.token("alice", groups=["payments"])
    (policy_dir / "security" / "noted.rego").write_text(ADVISORY_IN_A_HARD_SET)
    d = _decide(own, alice)
    assert d["outcome"] == "approved" and d["violations"] == []
    noted = next(w for w in d["warnings"] if w["rule"] == "small_instance_noted")
    assert noted["enforcement"] == "advisory" and noted["msg"].endswith("Remediation: none needed")


def test_a_decision_records_the_revisions_and_decision_id_opa_used(own, policy_dir):
    alice = own.token("alice", groups=["payments"])
    auditor = own.token("carol", role="auditor")
    rid = own.submit(request(instance()), alice).json()["id"]
    events = own.client.get("/v1/audit/events", params={"request_id": rid}, headers=auditor).json()["items"]
    evaluated = next(e for e in events if e["type"] == "policy.evaluated")
    opa = evaluated["data"]["opa"]
    assert opa["decision_id"] and opa["decision_id"] == evaluated["data"]["decision"]["decision_id"]
    loaded = own.client.get("/v1/policies", headers=alice).json()["bundles"]
    assert opa["bundles"] == {name: {"revision": b["loaded_revision"]} for name, b in loaded.items()}


def test_adding_a_rego_v0_set_in_another_profile_needs_no_restart(own, policy_dir):
    alice = own.token("alice", groups=["payments"])
    (policy_dir / "scalr-instances").mkdir()
    (policy_dir / "scalr-instances" / "instances.rego").write_text(SCALR_V0)
    with (policy_dir / "policy-sets.yaml").open("a") as f:
        f.write(SCALR_SET)

    d = _decide(own, alice)

    assert d["outcome"] == "approved"  # advisory: shown, not enforced
    assert {
        "set": "scalr-instances", "rule": "scalr-instances", "enforcement": "advisory",
        "msg": "aws_instance.web-1: t3.small in payments-dev", "address": None, "exemption": None,
    } in d["warnings"]  # fmt: skip
    bundles = own.client.get("/v1/policies", headers=alice).json()["bundles"]
    assert bundles["scalr-instances"]["rego_version"] == "v0"
    assert bundles["scalr-instances"]["roots"] == ["terraform/scalr_instances"]


def test_a_broken_policy_edit_fails_closed_and_recovers_when_fixed(own, policy_dir):
    alice = own.token("alice", groups=["payments"])
    broken = policy_dir / "security" / "broken.rego"
    broken.write_text("package gateway.security\n\ndeny contains msg if {\n")

    r = own.submit(request(instance()), alice)

    assert r.status_code == 503 and r.headers["retry-after"]
    assert "security" in r.json()["detail"]
    rid = r.json()["request_id"]
    assert own.client.get(f"/v1/requests/{rid}", headers=alice).json()["state"] == "received"
    assert own.client.get("/v1/policies", headers=alice).json()["in_sync"] is False
    assert own.client.get("/readyz").status_code == 503

    broken.unlink()
    r = own.client.post(f"/v1/requests/{rid}/evaluate", headers=alice)
    assert r.status_code == 200 and r.json()["state"] == "succeeded"


def test_a_bad_policy_sets_file_keeps_the_last_good_policies_and_says_why(own, policy_dir):
    alice = own.token("alice", groups=["payments"])
    spec = policy_dir / "policy-sets.yaml"
    good = spec.read_text()
    spec.write_text(good.replace("enforcement: hard-mandatory", "enforcement: very-mandatory", 1))
    time.sleep(0.01)

    assert _decide(own, alice)["outcome"] == "approved"
    shown = own.client.get("/v1/policies", headers=alice).json()
    assert "enforcement" in shown["reload_error"] and shown["in_sync"] is True

    spec.write_text(good)
    _decide(own, alice)
    assert own.client.get("/v1/policies", headers=alice).json()["reload_error"] is None
