"""Stage 4: carry out an approved request through the resource drivers, undoing its creations on failure."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from gateway.adapters.cloud.client import CallRecord, Cloud
from gateway.adapters.cloud.driver import Target
from gateway.adapters.cloud.registry import driver_for
from gateway.domain.plan import address

log = logging.getLogger("gateway.execute")


@dataclass
class Done:
    """One resource carried out: the record that goes into outputs and the inventory."""

    index: int
    rtype: str
    address: str
    action: str
    resource_id: str
    target: Target


@dataclass
class Outcome:
    done: list[Done] = field(default_factory=list)
    calls: list[CallRecord] = field(default_factory=list)
    error: str | None = None
    rolled_back: list[str] = field(default_factory=list)


def targets(request_id: str, envelope: dict[str, Any], before: dict[int, dict[str, Any]]) -> list[Target]:
    out = []
    for i, res in enumerate(envelope["resources"]):
        prior = before.get(i) or {}
        props = {**prior, **(res.get("properties") or {})}
        out.append(
            Target(
                request_id=request_id,
                team=envelope["team"],
                address=address(res),
                name=res["name"],
                region=res.get("region") or prior.get("region", ""),
                properties=props,
                resource_id=res.get("id"),
                changes=dict(res.get("properties") or {}),
            )
        )
    return out


class Executor:
    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud

    def run(self, request_id: str, envelope: dict[str, Any], before: dict[int, dict[str, Any]]) -> Outcome:
        outcome = Outcome()
        with self.cloud.recording() as calls:
            for i, (res, t) in enumerate(
                zip(envelope["resources"], targets(request_id, envelope, before), strict=True)
            ):
                drv = driver_for(res["type"])
                action = res["action"]
                try:
                    if action == "create":
                        rid = drv.create(self.cloud, t)
                    elif action == "delete":
                        drv.delete(self.cloud, t)
                        rid = str(t.resource_id)
                    else:
                        drv.update(self.cloud, t)
                        rid = str(t.resource_id)
                except Exception as exc:
                    outcome.error = f"{t.address}: {exc}"
                    log.warning(
                        "cloud=%s request %s failed at %s: %s", self.cloud.label, request_id, t.address, exc
                    )
                    self._undo(outcome)
                    break
                outcome.done.append(Done(i, res["type"], t.address, action, rid, t))
            outcome.calls = list(calls)
        return outcome

    def preflight(
        self, request_id: str, envelope: dict[str, Any], before: dict[int, dict[str, Any]]
    ) -> dict[str, Any]:
        """Asks the cloud whether each call would succeed, changing nothing; the calls made are part of the answer."""
        checks = []
        with self.cloud.recording() as calls:
            for res, t in zip(envelope["resources"], targets(request_id, envelope, before), strict=True):
                try:
                    problem = driver_for(res["type"]).preflight(self.cloud, t, res["action"])
                except (
                    Exception
                ) as exc:  # unreachable endpoint, bad credentials: the answer is "it would fail"
                    problem = f"{exc.__class__.__name__}: {exc}"
                checks.append({"address": t.address, "action": res["action"], "ok": problem is None,
                               "detail": problem or "would succeed"})  # fmt: skip
            recorded = [c.as_dict() for c in calls]
        return {"cloud": self.cloud.label, "sandbox": self.cloud.label == "sandbox",
                "ok": all(c["ok"] for c in checks), "checks": checks, "calls": recorded}  # fmt: skip

    def _undo(self, outcome: Outcome) -> None:
        """Remove what this request created before the failure, newest first."""
        for d in reversed(outcome.done):
            if d.action != "create":
                continue
            target = Target(**{**d.target.__dict__, "resource_id": d.resource_id})
            try:
                driver_for(d.rtype).delete(self.cloud, target)
                outcome.rolled_back.append(d.address)
            except Exception as exc:
                log.error("could not remove %s (%s) after a failure: %s", d.address, d.resource_id, exc)
        outcome.done = [d for d in outcome.done if d.address not in outcome.rolled_back]
