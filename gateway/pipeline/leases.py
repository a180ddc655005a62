"""Leases: a created resource may carry a lease (`lease.days`). Before it ends, subscribers are warned
(`lease.expiring`); when it ends, the gateway files a delete request of its own for the resources, which goes
through policy and approval like any other (production may need an approval to retire). A retirement a person
rejects keeps the resources, without a lease (`lease.kept`); one that ends otherwise without retiring them
(rejected by policy, expired, cancelled, failed) is filed again after a while (`lease.retry`)."""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from gateway.adapters.store import leases as store
from gateway.adapters.store import repositories as repo
from gateway.adapters.store.db import Database
from gateway.adapters.store.models import ChangeRequest, InventoryResource
from gateway.domain.clock import Clock, aware, rfc3339
from gateway.domain.identity import Principal, Role
from gateway.domain.states import State
from gateway.errors import GatewayError
from gateway.ledger import ledger
from gateway.pipeline import outbox
from gateway.pipeline.recording import SYSTEM
from gateway.pipeline.runner import Runner

log = logging.getLogger("gateway.leases")

# The requester of every retirement the gateway files. An integration may submit for any team.
LEASE_PRINCIPAL = Principal(id="gateway:lease", role=Role.INTEGRATION)
# How a retirement can end without retiring its resources (a success retires them as it executes).
UNSUCCESSFUL = (State.REJECTED, State.EXPIRED, State.CANCELLED, State.FAILED)


class Leases:
    def __init__(
        self,
        *,
        db: Database,
        runner: Runner,
        clock: Clock,
        warn_before: timedelta,
        retry_after: timedelta = timedelta(hours=24),
    ) -> None:
        self.db = db
        self.runner = runner
        self.clock = clock
        self.warn_before = warn_before
        # After a retirement that ended without retiring its resources, the next one is filed this much later.
        self.retry_after = retry_after

    def tick(self, limit: int = 50) -> int:
        """Warns about leases ending soon, settles retirements that ended without retiring their resources and
        files retirements for the leases that ended; returns how many."""
        return self._warn(limit) + self._settle(limit) + self._retire(limit)

    def _warn(self, limit: int) -> int:
        now = self.clock.now()
        with self.db.read() as s:
            due = store.leases_to_warn(s, before=now + self.warn_before, limit=limit)
        for res in due:
            with self.db.unit_of_work() as s:
                if not store.mark_warned(s, resource_id=res.id, now=now):
                    continue  # another replica warned first
                data = _lease_data(res)
                ledger.append(s, type="lease.expiring", actor=SYSTEM, request_id=res.request_id, data=data)
                outbox.notify(
                    s, event_type="lease.expiring", request_id=res.request_id, now=now, data={"lease": data}
                )
        return len(due)

    def _retire(self, limit: int) -> int:
        now = self.clock.now()
        with self.db.read() as s:
            ended = store.leases_ended(s, now=now, limit=limit)
        by_origin: dict[str, list[InventoryResource]] = defaultdict(list)
        for res in ended:
            by_origin[res.request_id].append(res)
        filed = 0
        for origin, resources in by_origin.items():
            try:
                self._file(origin, resources, now)
                filed += 1
            except GatewayError as exc:
                log.warning("could not file the lease retirement of request %s: %s", origin, exc.detail)
        return filed

    def _file(self, origin: str, resources: list[InventoryResource], now: datetime) -> None:
        with self.db.read() as s:
            source = store.origin_request(s, request_id=origin)
        first = resources[0]
        ended_at = min(aware(r.lease_expires_at) for r in resources if r.lease_expires_at)
        change: dict[str, Any] = {"type": "standard"}
        if ticket := (source.envelope.get("change") or {}).get("ticket") if source else None:
            change["ticket"] = ticket  # the change the resources were made under
        envelope = {
            "title": f"Lease ended: retire {len(resources)} resource(s) of request {origin}"[:200],
            "team": first.team,
            "environment": first.environment,
            "justification": f"The lease of request {origin} ended at {rfc3339(ended_at)}.",
            "change": change,
            "retirement": {"reason": "lease", "of": origin, "lease_ended_at": rfc3339(ended_at)},
            "resources": [
                {
                    "action": "delete",
                    "type": r.type,
                    "name": r.address.split(".", 1)[1],
                    "id": r.id,
                    "region": r.region,
                }
                for r in resources
            ],
        }
        ids = [r.id for r in resources]

        def link(s: Session, rid: str) -> None:
            # In the unit of work that stores the request: a lease is retired by exactly one request.
            if not store.mark_retiring(s, resource_ids=ids, request_id=rid):
                raise LeaseTaken(f"the resources of request {origin} are being retired already")
            data = {"resources": ids, "retirement_request": rid, "ended_at": rfc3339(ended_at)}
            ledger.append(s, type="lease.ended", actor=SYSTEM, request_id=origin, data=data)

        principal = Principal(id=LEASE_PRINCIPAL.id, role=LEASE_PRINCIPAL.role, groups=(first.team,))
        rid = self.runner.submit(envelope, principal, on_stored=link)
        log.info("lease of request %s ended: filed retirement request %s", origin, rid)

    def _settle(self, limit: int) -> int:
        """Releases the resources of retirements that ended without retiring them: kept when a person rejected
        the retirement, otherwise given a new lease end so that it is filed again."""
        with self.db.read() as s:
            ended = store.retirements_ended(s, states=[str(st) for st in UNSUCCESSFUL], limit=limit)
        settled = 0
        for rid in ended:
            try:
                if self._settle_one(rid):
                    settled += 1
            except GatewayError as exc:
                log.warning("could not settle the lease retirement request %s: %s", rid, exc.detail)
        return settled

    def _settle_one(self, rid: str) -> bool:
        now = self.clock.now()
        with self.db.unit_of_work() as s:
            req = repo.get_request(s, request_id=rid)
            if req.state not in UNSUCCESSFUL:
                return False  # cannot happen (final states), but nothing to settle if it did
            rejects = [v for v in repo.votes(s, request=req) if v.verdict == "reject"]
            origin = (req.envelope.get("retirement") or {}).get("of")
            if req.state == State.REJECTED and rejects:
                # Only the rows still linked change: another replica settling the same request changes none.
                ids = store.release(s, request_id=rid, lease_expires_at=None)
                if not ids:
                    return False
                vote = rejects[0]
                data: dict[str, Any] = {
                    "resources": ids, "retirement_request": rid, "by": vote.principal,
                    "groups": sorted({v.group for v in rejects}), "comment": vote.comment,
                }  # fmt: skip
                ledger.append(s, type="lease.kept", actor=SYSTEM, request_id=origin, data=data)
                log.info(
                    "retirement %s of request %s was rejected by %s: resources kept",
                    rid,
                    origin,
                    vote.principal,
                )
                return True
            retry_at = now + self.retry_after
            ids = store.release(s, request_id=rid, lease_expires_at=retry_at)
            if not ids:
                return False
            data = {
                "resources": ids, "retirement_request": rid, "state": str(req.state),
                "reason": _why(s, req), "next_attempt_at": rfc3339(retry_at),
            }  # fmt: skip
            ledger.append(s, type="lease.retry", actor=SYSTEM, request_id=origin, data=data)
        log.info(
            "retirement %s of request %s ended %s: filed again after %s", rid, origin, req.state, retry_at
        )
        return True


class LeaseTaken(GatewayError):
    status = 409
    title = "Lease retirement filed already"
    type_slug = "lease-taken"


def _lease_data(res: InventoryResource) -> dict[str, Any]:
    return {
        "resource_id": res.id, "type": res.type, "address": res.address, "team": res.team,
        "environment": res.environment,
        "lease_expires_at": rfc3339(aware(res.lease_expires_at)) if res.lease_expires_at else None,
    }  # fmt: skip


def _why(s: Session, req: ChangeRequest) -> str | None:
    """Why a retirement ended without retiring its resources: its error, the policy's reasons, or what its last
    state change recorded."""
    if req.error:
        return req.error
    decision = req.decision or {}
    if req.state == State.REJECTED and decision.get("outcome") == "rejected":
        msgs = [str(v.get("msg")) for v in decision.get("violations") or [] if v.get("msg")]
        if msgs:
            return "; ".join(msgs)
    why = None
    for ev in ledger.iter_events(s, request_id=req.id):
        if ev["type"] in (f"request.{req.state}", f"execution.{req.state}"):
            d = ev["data"] or {}
            why = d.get("reason") or d.get("error") or f"{req.state} by {ev['actor']}"
    return why
