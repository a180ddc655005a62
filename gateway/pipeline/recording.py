"""Small record-keeping helpers shared by the stages."""

from __future__ import annotations

import hashlib
from typing import Any

import rfc8785

from gateway.domain.decision import Decision
from gateway.ledger import ledger

# The actor of what the gateway does by itself.
SYSTEM = "gateway"


def content_hash(envelope: dict[str, Any]) -> str:
    return "sha256:" + hashlib.sha256(rfc8785.dumps(envelope)).hexdigest()


def record_exemption_use(s: Any, request_id: str, decision: Decision) -> None:
    """Every use of an exemption is on the ledger: which one, which violations it waived, under which decision."""
    used: dict[str, list[dict[str, Any]]] = {}
    for v in decision.exempted:
        used.setdefault(v.exemption or "", []).append(v.model_dump(exclude={"exemption"}))
    for exemption_id, waived in used.items():
        ledger.append(
            s, type="exemption.used", actor=SYSTEM, request_id=request_id,
            data={"exemption_id": exemption_id, "decision_id": decision.decision_id, "waived": waived},
        )  # fmt: skip
