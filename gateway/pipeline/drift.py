"""Drift detection: compare the inventory with the cloud, and record each difference on the ledger and the row.

Each resource is read on its own (its cloud calls recorded), then checked and recorded in its own unit of work:
a read that fails (throttled, access denied) is reported for that resource and the run goes on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from gateway.adapters.cloud.client import CallRecord, Cloud
from gateway.adapters.cloud.driver import error_of
from gateway.adapters.cloud.registry import driver_for
from gateway.adapters.store import inventory_drift as store
from gateway.adapters.store.db import Database
from gateway.adapters.store.models import InventoryResource
from gateway.domain.clock import Clock, rfc3339
from gateway.domain.drift import differences
from gateway.ledger import ledger
from gateway.pipeline.recording import SYSTEM

log = logging.getLogger("gateway.drift")

MISSING: dict[str, Any] = {"missing": True}


@dataclass
class Read:
    live: dict[str, Any] | None = None
    error: str | None = None


class DriftCheck:
    def __init__(self, *, db: Database, cloud: Cloud, clock: Clock) -> None:
        self.db = db
        self.cloud = cloud
        self.clock = clock

    def run(self, team: str | None = None) -> dict[str, Any]:
        with self.db.read() as s:
            rows = store.drift_candidates(s, team=team)
        report: dict[str, Any] = {
            "cloud": self.cloud.label, "sandbox": self.cloud.label == "sandbox", "team": team,
            "checked_at": rfc3339(self.clock.now()), "checked": 0, "unchanged": 0,
            "drifted": [], "missing": [], "resolved": [], "errors": [],
        }  # fmt: skip
        for row in rows:
            self._check(row, report)
        log.info(
            "cloud=%s drift check: %d checked, %d drifted, %d missing, %d could not be read",
            self.cloud.label, report["checked"], len(report["drifted"]), len(report["missing"]),
            len(report["errors"]),
        )  # fmt: skip
        return report

    def _read(self, row: InventoryResource) -> tuple[Read, list[CallRecord]]:
        with self.cloud.recording() as calls:
            try:
                result = Read(live=driver_for(row.type).read(self.cloud, row.region, row.id))
            except ClientError as exc:
                result = Read(error=error_of(exc))
            except Exception as exc:  # unreachable endpoint, bad credentials, no driver: this resource only
                result = Read(error=f"{exc.__class__.__name__}: {exc}")
            return result, list(calls)

    def _check(self, row: InventoryResource, report: dict[str, Any]) -> None:
        read, calls = self._read(row)
        ident = {"resource_id": row.id, "type": row.type, "address": row.address, "team": row.team}
        now = self.clock.now()
        with self.db.unit_of_work() as s:
            for call in calls:
                ledger.append(s, type="cloud.call", actor=SYSTEM, request_id=None,
                              data={**call.as_dict(), "purpose": "drift", "resource_id": row.id})  # fmt: skip
            if read.error is not None:
                log.warning("cloud=%s drift: could not read %s: %s", self.cloud.label, row.id, read.error)
                report["errors"].append({**ident, "error": read.error})
                return
            state = store.drift_state(s, resource_id=row.id)
            if state is None or state.status not in store.CHECKED:
                return  # retired (or removed) since the list was read: nothing to compare it with
            status, before = state.status, state.drift
            if read.live is None:
                drift, new_status = MISSING, "missing"
            else:
                diffs = differences(row.type, state.properties, read.live)
                drift, new_status = ({"differences": diffs} if diffs else {}), "active"
            store.record_drift(s, resource_id=row.id, drift=drift, checked_at=now,
                               status=new_status if new_status != status else None)  # fmt: skip
            self._record_event(
                s, row, ident, before, drift, came_back=status == "missing" and read.live is not None
            )
        report["checked"] += 1
        changed = drift != before
        if drift == MISSING:
            report["missing"].append({**ident, "new": changed})
        elif drift:
            report["drifted"].append({**ident, "differences": drift["differences"], "new": changed})
        else:
            report["unchanged"] += 1
            if before:
                report["resolved"].append({**ident, "previous": before})

    @staticmethod
    def _record_event(
        s: Any, row: InventoryResource, ident: dict[str, Any], before: dict[str, Any], drift: dict[str, Any],
        came_back: bool,
    ) -> None:  # fmt: skip
        """An event only when what differs changed since the last check; the request that made the resource as
        the inventory holds it is the event's request."""
        if drift == before:
            return
        if drift:
            ledger.append(s, type="inventory.drift", actor=SYSTEM, request_id=row.request_id,
                          data={**ident, **drift, "previous": before or None})  # fmt: skip
        else:
            ledger.append(s, type="inventory.drift_resolved", actor=SYSTEM, request_id=row.request_id,
                          data={**ident, "previous": before, "reappeared": came_back})  # fmt: skip
