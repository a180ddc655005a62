"""Packs written for other tools' Terraform-plan inputs act on gateway requests with no edits (real OPA).

Each pack in examples/policy-packs reads the plan where its own tool puts it (conftest: at the root, Scalr:
`tfplan`/`tfrun`, Spacelift: `terraform` + Infracost, HCP: `plan`/`run`/`cost_estimate`); two are Rego v0.
"""

from __future__ import annotations

import json
import shutil
import textwrap

import pytest
import yaml
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.domain.cost import default_catalog
from gateway.domain.identity import Principal, Role
from gateway.domain.plan import PlanContext, build_input
from gateway.domain.profiles import infracost, profile_input
from gateway.settings import PROJECT_ROOT
from tests.conftest import POLICY_DIR, Gateway
from tests.factories import expensive

PACKS = PROJECT_ROOT / "examples" / "policy-packs"
SETS = {s["bundle"]: s for s in yaml.safe_load((PACKS / "policy-sets.yaml").read_text())["sets"]}
# The outcome each pack's deny sample gets, by the enforcement its entry declares.
EXPECTED = {
    "conftest-v0": "rejected",
    "scalr-v0": "pending_approval",
    "spacelift": "rejected",
    "hcp": "pending_approval",
}


@pytest.fixture(scope="module")
def with_packs(tmp_path_factory, opa_url):
    """The native policies plus all four packs, dropped in as a governance team would: copy, append."""
    root = tmp_path_factory.mktemp("packs") / "policies"
    shutil.copytree(POLICY_DIR, root)
    with (root / "policy-sets.yaml").open("a") as f:
        f.write(textwrap.indent(yaml.safe_dump(list(SETS.values()), sort_keys=False), "  "))
    for pack in SETS:
        shutil.copytree(PACKS / pack, root / pack)
    return root


@pytest.fixture
def packed(settings, with_packs):
    app = create_app(settings.model_copy(update={"opa_url": None, "policy_dir": with_packs}))
    with TestClient(app) as client:
        yield Gateway(client)


def _sample(pack: str, kind: str) -> dict:
    return json.loads((PACKS / "samples" / pack / f"{kind}.json").read_text())


def test_every_pack_is_loaded_as_its_own_bundle_with_its_rego_version(packed):
    alice = packed.token("alice", groups=["payments"])
    bundles = packed.client.get("/v1/policies", headers=alice).json()["bundles"]
    for pack, entry in SETS.items():
        assert bundles[pack]["rego_version"] == entry["rego_version"]
        assert bundles[pack]["roots"] == ["/".join(entry["query"].split(".")[1:])]
        assert bundles[pack]["loaded_revision"] == bundles[pack]["revision"]


@pytest.mark.parametrize("pack", sorted(SETS))
def test_a_pack_in_its_profile_acts_on_gateway_requests(packed, pack):
    alice = packed.token("alice", groups=["payments"])
    name = SETS[pack]["name"]

    denied = packed.client.post("/v1/evaluate", json=_sample(pack, "deny"), headers=alice).json()
    allowed = packed.client.post("/v1/evaluate", json=_sample(pack, "allow"), headers=alice).json()

    assert denied["outcome"] == EXPECTED[pack], denied
    assert {v["set"] for v in denied["violations"]} == {name}
    assert allowed["outcome"] == "approved", allowed
    assert allowed["violations"] == []
    if SETS[pack]["enforcement"] == "soft-mandatory":
        group = SETS[pack]["override_group"]
        assert [(a["group"], a["override"]) for a in denied["required_approvals"]] == [(group, True)]


def _doc(body: dict) -> dict:
    ctx = PlanContext(
        request_id="r-1", requester=Principal("alice", Role.REQUESTER, ("payments",)),
        submitted_at="2026-11-27T08:00:00Z", now="2026-11-27T08:00:00Z", catalog=default_catalog(),
        budget_monthly=5000.0, committed_monthly=120.0,
    )  # fmt: skip
    return build_input(body, ctx)


def test_profile_documents_carry_the_plan_and_the_cost_where_each_tool_puts_them():
    doc = _doc(expensive())
    monthly = doc["cost"]["monthly"]
    assert profile_input(doc, "terraform") is doc and profile_input(doc, "native") is doc
    scalr = profile_input(doc, "scalr")
    assert scalr["tfplan"] is doc and scalr["tfrun"]["cost_estimate"]["proposed_monthly_cost"] == monthly
    assert scalr["tfrun"]["workspace"]["environment_type"] == "development"
    spacelift = profile_input(doc, "spacelift")
    cost = spacelift["third_party_metadata"]["custom"]["infracost"]
    assert spacelift["terraform"] is doc and cost["totalMonthlyCost"] == f"{monthly:.2f}"
    assert sum(
        float(r["monthlyCost"]) for r in cost["projects"][0]["breakdown"]["resources"]
    ) == pytest.approx(monthly, abs=0.05)
    hcp = profile_input(doc, "hcp")
    assert (
        hcp["plan"] is doc
        and hcp["cost_estimate"]["delta_monthly_cost"] == f"{doc['cost']['delta_monthly']:.2f}"
    )
    assert hcp["run"]["workspace"]["name"] == "payments-dev" and hcp["run"]["is_destroy"] is False


def test_infracost_diff_is_the_change_not_the_total():
    doc = _doc(expensive())
    doc["cost"] = {**doc["cost"], "monthly": 300.0, "delta_monthly": -40.0}
    ic = infracost(doc)
    assert (ic["pastTotalMonthlyCost"], ic["totalMonthlyCost"], ic["diffTotalMonthlyCost"]) == (
        "340.00", "300.00", "-40.00"
    )  # fmt: skip
