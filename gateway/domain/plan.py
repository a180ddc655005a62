"""Turns a request envelope into the Terraform-plan-shaped OPA input document (design section 5)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from gateway.domain.cost import Catalog
from gateway.domain.identity import Principal

PROVIDER_NAME = "registry.terraform.io/hashicorp/aws"


@dataclass(frozen=True)
class PlanContext:
    """What only the gateway knows about a request, gathered by the pipeline before the plan is built."""

    request_id: str
    requester: Principal
    submitted_at: str
    now: str
    catalog: Catalog
    # Inventory records (properties incl. region) for update/delete, by index into envelope["resources"].
    before: dict[int, dict[str, Any]] = field(default_factory=dict)
    budget_monthly: float = 0.0
    committed_monthly: float = 0.0
    default_tags: dict[str, str] = field(default_factory=dict)
    exemptions: list[dict[str, Any]] = field(default_factory=list)


def address(resource: dict[str, Any]) -> str:
    return f"{resource['type']}.{resource['name']}"


def _after(
    resource: dict[str, Any], before: dict[str, Any] | None, default_tags: dict[str, str]
) -> dict[str, Any]:
    props = copy.deepcopy(resource.get("properties") or {})
    after = {**copy.deepcopy(before or {}), **props}
    after["region"] = resource.get("region") or (before or {}).get("region")
    tags = dict(after.get("tags") or {})
    after["tags"] = tags
    after["tags_all"] = {**default_tags, **tags}
    return after


def build_input(envelope: dict[str, Any], ctx: PlanContext) -> dict[str, Any]:
    changes: list[dict[str, Any]] = []
    by_resource: dict[str, float] = {}
    monthly = 0.0
    delta = 0.0
    regions: list[str] = []
    for i, res in enumerate(envelope["resources"]):
        action = res["action"]
        before = ctx.before.get(i)
        after = None if action == "delete" else _after(res, before, ctx.default_tags)
        before_cost = ctx.catalog.monthly(res["type"], before.get("region", ""), before) if before else 0.0
        after_cost = ctx.catalog.monthly(res["type"], after["region"] or "", after) if after else 0.0
        addr = address(res)
        by_resource[addr] = after_cost
        monthly += after_cost
        delta += after_cost - before_cost
        region = (after or before or {}).get("region")
        if region and region not in regions:
            regions.append(region)
        changes.append(
            {
                "address": addr,
                "mode": "managed",
                "type": res["type"],
                "name": res["name"],
                "provider_name": PROVIDER_NAME,
                "change": {
                    "actions": [action],
                    "before": copy.deepcopy(before),
                    "after": after,
                    "after_unknown": {"id": True} if action == "create" else {},
                },
            }
        )
    request = {
        "id": ctx.request_id,
        "title": envelope["title"],
        "team": envelope["team"],
        "environment": envelope["environment"],
        "justification": envelope.get("justification", ""),
        "change": copy.deepcopy(envelope["change"]),
        "lease": copy.deepcopy(envelope.get("lease") or {}),
        "requester": ctx.requester.as_input(),
        "submitted_at": ctx.submitted_at,
    }
    if envelope.get("retirement"):
        request["retirement"] = copy.deepcopy(envelope["retirement"])
    return {
        "format_version": "1.2",
        "resource_changes": changes,
        "configuration": {
            "provider_config": {
                "aws": {
                    "name": "aws",
                    "expressions": {"region": {"constant_value": regions[0] if regions else None}},
                }
            }
        },
        "request": request,
        "cost": {
            "currency": ctx.catalog.currency,
            "monthly": round(monthly, 2),
            "delta_monthly": round(delta, 2),
            "by_resource": by_resource,
            "team": {
                "budget_monthly": ctx.budget_monthly,
                "committed_monthly": round(ctx.committed_monthly, 2),
            },
        },
        "exemptions": copy.deepcopy(ctx.exemptions),
        "now": ctx.now,
    }
