"""Input profiles (design section 5): the same plan, shaped the way other policy tools hand it to Rego.

The gateway sends OPA the native document once, plus the few profile-only pieces built here; the entry policy
(domain/entry.py) assembles each set's input with `with input as`, so the plan is never serialised twice.
"""

from __future__ import annotations

from typing import Any, Literal

Profile = Literal["native", "terraform", "scalr", "spacelift", "hcp"]
PROFILES: tuple[str, ...] = ("native", "terraform", "scalr", "spacelift", "hcp")

# Scalr names environment types this way; anything else is "unmapped".
_SCALR_ENVIRONMENT_TYPES = {"prod": "production", "staging": "staging", "dev": "development"}

# Rego expression building each profile's input from the entry policy's `input` ({"doc", "profiles"}).
PROFILE_INPUT: dict[str, str] = {
    "native": "input.doc",
    "terraform": "input.doc",
    "scalr": '{"tfplan": input.doc, "tfrun": input.profiles.tfrun}',
    "spacelift": (
        '{"spacelift": input.profiles.spacelift, "terraform": input.doc, '
        '"third_party_metadata": {"custom": {"infracost": input.profiles.infracost}}}'
    ),
    "hcp": '{"plan": input.doc, "run": input.profiles.run, "cost_estimate": input.profiles.cost_estimate}',
}


def _money(x: float) -> str:
    """Infracost and HCP write amounts as decimal strings."""
    return f"{x:.2f}"


def _prior(doc: dict[str, Any]) -> float:
    return round(float(doc["cost"]["monthly"]) - float(doc["cost"]["delta_monthly"]), 2)


def _all_deletes(doc: dict[str, Any]) -> bool:
    changes = doc["resource_changes"]
    return bool(changes) and all(rc["change"]["actions"] == ["delete"] for rc in changes)


def infracost(doc: dict[str, Any]) -> dict[str, Any]:
    """An Infracost `breakdown --format json` document for the request (what Spacelift passes on)."""
    cost = doc["cost"]
    req = doc["request"]
    resources = [
        {"name": addr, "resourceType": addr.split(".", 1)[0], "monthlyCost": _money(monthly)}
        for addr, monthly in sorted(cost["by_resource"].items())
    ]
    total, prior = float(cost["monthly"]), _prior(doc)
    project = {
        "name": f"{req['team']}/{req['environment']}",
        "metadata": {"path": req["id"]},
        "breakdown": {"resources": resources, "totalMonthlyCost": _money(total)},
        "pastBreakdown": {"resources": [], "totalMonthlyCost": _money(prior)},
        "diff": {"resources": [], "totalMonthlyCost": _money(total - prior)},
    }
    return {
        "version": "0.2",
        "currency": cost["currency"],
        "projects": [project],
        "totalMonthlyCost": _money(total),
        "pastTotalMonthlyCost": _money(prior),
        "diffTotalMonthlyCost": _money(total - prior),
    }


def tfrun(doc: dict[str, Any]) -> dict[str, Any]:
    """Scalr's `tfrun` object: run, workspace and environment facts, and the cost estimate as numbers."""
    req = doc["request"]
    cost = doc["cost"]
    return {
        "id": req["id"],
        "message": req["title"],
        "source": "governance-gateway",
        "is_destroy": _all_deletes(doc),
        "is_dry": False,
        "created_by": {"username": req["requester"]["id"], "email": "", "full_name": ""},
        "workspace": {
            "name": f"{req['team']}-{req['environment']}",
            "environment_type": _SCALR_ENVIRONMENT_TYPES.get(req["environment"], "unmapped"),
            "tags": [req["team"], req["environment"]],
        },
        "environment": {"id": req["environment"], "name": req["environment"]},
        "cost_estimate": {
            "prior_monthly_cost": _prior(doc),
            "proposed_monthly_cost": float(cost["monthly"]),
            "delta_monthly_cost": float(cost["delta_monthly"]),
        },
    }


def spacelift(doc: dict[str, Any]) -> dict[str, Any]:
    """Spacelift's plan-policy `spacelift` object: the run and its stack."""
    req = doc["request"]
    return {
        "run": {
            "id": req["id"],
            "type": "PROPOSED",
            "state": "UNCONFIRMED",
            "triggered_by": req["requester"]["id"],
            "created_at": req["submitted_at"],
            "message": req["title"],
        },
        "stack": {
            "id": f"{req['team']}-{req['environment']}",
            "name": f"{req['team']}-{req['environment']}",
            "labels": [f"team:{req['team']}", f"environment:{req['environment']}"],
        },
    }


def run(doc: dict[str, Any]) -> dict[str, Any]:
    """HCP Terraform's `run` object."""
    req = doc["request"]
    return {
        "id": req["id"],
        "created_at": req["submitted_at"],
        "created_by": req["requester"]["id"],
        "message": req["title"],
        "is_destroy": _all_deletes(doc),
        "workspace": {
            "name": f"{req['team']}-{req['environment']}",
            "tags": [req["team"], req["environment"]],
        },
        "organization": {"name": req["team"]},
    }


def cost_estimate(doc: dict[str, Any]) -> dict[str, Any]:
    """HCP Terraform's cost estimate: decimal strings, as its API returns them."""
    cost = doc["cost"]
    prior = _prior(doc)
    return {
        "prior_monthly_cost": _money(prior),
        "proposed_monthly_cost": _money(float(cost["monthly"])),
        "delta_monthly_cost": _money(float(cost["delta_monthly"])),
    }


def wrap(doc: dict[str, Any], profiles: set[str]) -> dict[str, Any]:
    """The entry policy's input: the native document and only the profile pieces the loaded sets use."""
    extra: dict[str, Any] = {}
    if "scalr" in profiles:
        extra["tfrun"] = tfrun(doc)
    if "spacelift" in profiles:
        extra["spacelift"] = spacelift(doc)
        extra["infracost"] = infracost(doc)
    if "hcp" in profiles:
        extra["run"] = run(doc)
        extra["cost_estimate"] = cost_estimate(doc)
    return {"doc": doc, "profiles": extra}


def profile_input(doc: dict[str, Any], profile: str) -> dict[str, Any]:
    """The document one profile's policies see (for tests, docs and `govgate policy input`)."""
    w = wrap(doc, {profile})
    p = w["profiles"]
    if profile == "scalr":
        return {"tfplan": doc, "tfrun": p["tfrun"]}
    if profile == "spacelift":
        return {
            "spacelift": p["spacelift"],
            "terraform": doc,
            "third_party_metadata": {"custom": {"infracost": p["infracost"]}},
        }
    if profile == "hcp":
        return {"plan": doc, "run": p["run"], "cost_estimate": p["cost_estimate"]}
    return doc
