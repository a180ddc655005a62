"""Stage 4: carry out an approved request through the resource drivers, undoing its creations on failure."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

from botocore.exceptions import ClientError

from gateway.adapters.cloud.client import Cloud
from gateway.adapters.cloud.driver import Target, error_of
from gateway.adapters.cloud.registry import driver_for
from gateway.adapters.cloud.retry import StepRetry, is_transient
from gateway.domain.plan import address
from gateway.errors import CloudUnavailable
from gateway.pipeline.journal import Journal, LostClaim, StepRecord

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


class StepFailed(Exception):
    """A step the cloud refused for good; `error` is what the journal recorded, and what the request says."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


@dataclass
class Outcome:
    done: list[Done] = field(default_factory=list)
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
                before=dict(prior),
            )
        )
    return out


class Executor:
    def __init__(self, cloud: Cloud, retry: StepRetry | None = None) -> None:
        self.cloud = cloud
        self.retry = retry or StepRetry(attempts=1, base_seconds=0.0, max_seconds=0.0)

    def run(
        self,
        request_id: str,
        envelope: dict[str, Any],
        before: dict[int, dict[str, Any]],
        journal: Journal,
        *,
        final_attempt: bool = False,
        gone: dict[int, str] | None = None,
        deleted: frozenset[int] = frozenset(),
    ) -> Outcome:
        """Carries out each resource in order, resuming after whatever the journal says is done. A step cut off
        by a crash is done again with `resuming` set: drivers find what it made by its tags first. On a failure
        the resources this request created are removed again, unless the request says `on_failure: keep`.

        Raises CloudUnavailable when the cloud kept throttling or failing beyond every retry (the step stays
        open, to be resumed later), unless this is the final attempt, when that too is a failure. `gone` names the
        resources to update that another request retired while this one waited: those steps fail without a call;
        `deleted` the resources to delete that another request deleted meanwhile: done, without a call (the name
        may belong to someone else's resource by now)."""
        outcome = Outcome()
        recorded = journal.recorded()
        plan = list(zip(envelope["resources"], targets(request_id, envelope, before), strict=True))
        for i, (res, t) in enumerate(plan):
            step = recorded.get(("apply", i))
            if step is not None and step.status == "done":
                outcome.done.append(Done(i, res["type"], t.address, res["action"], str(step.resource_id), t))
                continue
            if step is not None and step.status == "failed":
                outcome.error = step.error
                break
            resuming = step is not None  # started, never ended: the worker died during it
            journal.started(phase="apply", idx=i, address=t.address, action=res["action"], resuming=resuming)
            if gone and i in gone:
                outcome.error = f"{t.address}: {gone[i]}"
                journal.ended(phase="apply", idx=i, address=t.address, calls=[], error=outcome.error)
                break
            if i in deleted:
                journal.ended(
                    phase="apply", idx=i, address=t.address, calls=[], resource_id=str(t.resource_id)
                )
                outcome.done.append(Done(i, res["type"], t.address, res["action"], str(t.resource_id), t))
                continue
            t = replace(t, resuming=resuming, first_attempt_at=step.started_at if step else None)
            try:
                rid = self._apply(i, res, t, journal, final_attempt)
            except StepFailed as exc:
                outcome.error = exc.error
                log.warning("cloud=%s request %s failed: %s", self.cloud.label, request_id, exc.error)
                break
            outcome.done.append(Done(i, res["type"], t.address, res["action"], rid, t))
        if outcome.error and envelope.get("on_failure", "rollback") == "rollback":
            self._undo(outcome, recorded, journal, final_attempt)
        return outcome

    def _apply(self, i: int, res: dict[str, Any], t: Target, journal: Journal, final_attempt: bool) -> str:
        drv = driver_for(res["type"])
        action = res["action"]

        def once() -> str:
            if action == "create":
                return str(drv.create(self.cloud, t))
            if action == "delete":
                drv.delete(self.cloud, t)
            else:
                drv.update(self.cloud, t)
            return str(t.resource_id)

        def retrying(attempt: int, exc: BaseException) -> None:
            log.warning(
                "cloud=%s %s: attempt %d failed (%s); retrying", self.cloud.label, t.address, attempt, exc
            )

        with self.cloud.recording() as calls:
            try:
                rid = self.retry.call(once, on_retry=retrying)
            except Exception as exc:
                if is_transient(exc) and not final_attempt:
                    journal.calls_only(list(calls))
                    raise CloudUnavailable(f"{t.address}: {_reason(exc)}") from exc
                if isinstance(exc, LostClaim):
                    raise
                error = f"{t.address}: {_reason(exc)}"
                if action == "create":
                    error += self._remove_leftover(drv, t, journal)
                journal.ended(phase="apply", idx=i, address=t.address, calls=list(calls), error=error)
                raise StepFailed(error) from exc
        journal.ended(phase="apply", idx=i, address=t.address, calls=list(calls), resource_id=rid)
        return rid

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

    def _remove_leftover(self, drv: Any, t: Target, journal: Journal) -> str:
        """A failed creation may have left part of its resource (a group without its rules, a bucket without its
        encryption; made by this attempt or by one cut off by a crash): found by its tags and removed. Returns
        what to add to the error if that did not work."""
        journal.heartbeat()  # a worker that lost its claim must not remove what the new holder made
        try:
            leftover = self.retry.call(partial(drv.find, self.cloud, t))
            if leftover is None:
                return ""
            self.retry.call(
                partial(drv.delete, self.cloud, replace(t, resource_id=leftover, rolling_back=True))
            )
            log.warning(
                "cloud=%s removed %s (%s) left by its failed creation", self.cloud.label, t.address, leftover
            )
            return ""
        except Exception as exc:
            log.error("could not remove what the failed creation of %s left: %s", t.address, exc)
            return f" (and what it left could not be removed: {_reason(exc)})"

    def _undo(
        self,
        outcome: Outcome,
        recorded: dict[tuple[str, int], StepRecord],
        journal: Journal,
        final_attempt: bool,
    ) -> None:
        """Remove what this request created before the failure, newest first, each removal a journalled step."""
        for d in reversed(outcome.done):
            if d.action != "create":
                continue
            step = recorded.get(("rollback", d.index))
            if step is not None and step.status == "done":
                outcome.rolled_back.append(d.address)
                continue
            journal.started(phase="rollback", idx=d.index, address=d.address, action="delete",
                            resuming=step is not None)  # fmt: skip
            target = replace(d.target, resource_id=d.resource_id, rolling_back=True)
            with self.cloud.recording() as calls:
                try:
                    self.retry.call(partial(driver_for(d.rtype).delete, self.cloud, target))
                except Exception as exc:
                    if is_transient(exc) and not final_attempt:
                        # Tried again later, from this removal on; the request stays `executing` meanwhile.
                        journal.calls_only(list(calls))
                        raise CloudUnavailable(f"removing {d.address}: {_reason(exc)}") from exc
                    # Left in the inventory (below), tagged with the request: visible, and removable by a delete.
                    log.error("could not remove %s (%s) after a failure: %s", d.address, d.resource_id, exc)
                    journal.ended(phase="rollback", idx=d.index, address=d.address, calls=list(calls),
                                  resource_id=d.resource_id, error=_reason(exc))  # fmt: skip
                    continue
            journal.ended(phase="rollback", idx=d.index, address=d.address, calls=list(calls),
                          resource_id=d.resource_id)  # fmt: skip
            outcome.rolled_back.append(d.address)
        outcome.done = [d for d in outcome.done if d.address not in outcome.rolled_back]


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return error_of(exc)
    return str(exc) or exc.__class__.__name__
