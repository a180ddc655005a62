"""Policy events as OPA decision logs: one JSON object per line, the shape OPA's decision log plugin sends
(https://www.openpolicyagent.org/docs/latest/management-decision-logs/), so tools that read OPA's logs read the
gateway's decisions too.

Each `policy.evaluated`, `policy.rechecked` and `policy.dry_run` event gives one entry: `decision_id`, `path`,
`input`, `result`, `bundles` (`{name: {"revision": ...}}`), `timestamp` (the event's `ts`) and `labels`. What OPA
does not have goes under `gateway`: the request, the ledger event (seq, id, hash) and the gateway's outcome. A
re-check that let a request go on records only its decision id, outcome and revisions on the ledger: its entry has
those and no `input` or `result` (`erased` lists them, as OPA does for what it leaves out).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import orjson

from gateway.ledger.filters import Row, obj

POLICY_EVENTS = ("policy.evaluated", "policy.rechecked", "policy.dry_run")
LABELS = {"app": "governance-gateway"}
# The decision the gateway queries (gateway.pipeline.evaluate.DECISION_PATH), for events that did not record it.
DEFAULT_PATH = "gateway_entry/decision"


def entry(event: dict[str, Any]) -> dict[str, Any] | None:
    """The decision log entry of one ledger event, None for events that are not policy decisions."""
    if event["type"] not in POLICY_EVENTS:
        return None
    data = obj(event["data"])
    opa = obj(data.get("opa"))
    decision = obj(data.get("decision"))
    bundles = opa.get("bundles")
    if not isinstance(bundles, dict):
        revisions = (data.get("revisions") or {}).get("now") or decision.get("policy_revisions") or {}
        bundles = {name: {"revision": rev} for name, rev in revisions.items()}
    out: dict[str, Any] = {
        "decision_id": opa.get("decision_id") or decision.get("decision_id") or data.get("decision_id"),
        "path": opa.get("path") or DEFAULT_PATH,
    }
    erased = []
    for name in ("input", "result"):
        if name in opa:
            out[name] = opa[name]
        else:
            erased.append(f"/{name}")
    out["bundles"] = bundles
    out["timestamp"] = event["ts"]
    out["labels"] = LABELS
    if erased:
        out["erased"] = erased
    out["gateway"] = {
        "request_id": event["request_id"],
        "event": {"seq": event["seq"], "id": event["id"], "type": event["type"], "hash": event["hash"]},
        "outcome": decision.get("outcome") or data.get("outcome"),
        **({"stopped": True} if data.get("stopped") else {}),
    }
    return out


def lines(rows: Iterable[Row], *, chunk_size: int = 64 * 1024) -> Iterator[bytes]:
    buf: list[bytes] = []
    size = 0
    for row in rows:
        doc = entry(row.event)
        if doc is None:
            continue
        line = orjson.dumps(doc) + b"\n"
        buf.append(line)
        size += len(line)
        if size >= chunk_size:
            yield b"".join(buf)
            buf, size = [], 0
    if buf:
        yield b"".join(buf)
