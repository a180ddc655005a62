"""Stage 2: policy evaluation in OPA, one query per policy set, folded into one decision."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from gateway.adapters.opa import OpaClient
from gateway.adapters.policy_source import PolicySource
from gateway.domain.decision import Cost, Decision, SetResult, decide


class Evaluator:
    def __init__(self, opa: OpaClient, source: Callable[[], PolicySource]) -> None:
        self.opa = opa
        self.source = source

    def evaluate(self, input_doc: dict[str, Any]) -> tuple[Decision, list[dict[str, Any]]]:
        """Returns the decision and, per set, an OPA decision-log style record for the ledger."""
        src = self.source()
        results: list[SetResult] = []
        log: list[dict[str, Any]] = []
        for ps in src.sets:
            result, decision_id = self.opa.query(ps.data_path, input_doc)
            revision = src.revisions[ps.name]
            results.append(SetResult(ps, result, revision, decision_id))
            log.append(
                {
                    "set": ps.name,
                    "decision_id": decision_id,
                    "path": ps.data_path,
                    "bundles": {ps.bundle: {"revision": revision}},
                    "result": result,
                }
            )
        c = input_doc["cost"]
        cost = Cost(monthly=c["monthly"], delta_monthly=c["delta_monthly"], currency=c["currency"])
        return decide(results, cost=cost, decision_id=str(uuid.uuid4())), log
