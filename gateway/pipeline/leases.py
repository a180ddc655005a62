"""Leases: a created resource may carry a lease (`lease.days`). Before it ends, subscribers are warned
(`lease.expiring`); when it ends, the gateway files a delete request of its own for the resources, which goes
through policy and approval like any other (production may need an approval to retire)."""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from gateway.adapters.store import leases as store
from gateway.adapters.store.db import Database
from gateway.adapters.store.models import InventoryResource
from gateway.domain.clock import Clock, aware, rfc3339
from gateway.domain.identity import Principal, Role
from gateway.errors import GatewayError
from gateway.ledger import ledger
from gateway.pipeline import outbox
from gateway.pipeline.recording import SYSTEM
from gateway.pipeline.runner import Runner

log = logging.getLogger("gateway.leases")

# The requester of every retirement the gateway files. An integration may submit for any team.
LEASE_PRINCIPAL = Principal(id="gateway:lease", role=Role.INTEGRATION)


class Leases:
    def __init__(self, *, db: Database, runner: Runner, clock: Clock, warn_before: timedelta) -> None:
        self.db = db
        self.runner = runner
        self.clock = clock
        self.warn_before = warn_before

    def tick(self, limit: int = 50) -> int:
        """Warns about leases ending soon and files retirements for the ones that ended; returns how many."""
        return self._warn(limit) + self._retire(limit)

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
