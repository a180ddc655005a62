"""Stage 2: policy evaluation in OPA, one query for all policy sets, folded into one decision."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from gateway.adapters.opa import OpaClient
from gateway.adapters.policy_source import PolicySource
from gateway.domain.decision import Cost, Decision, SetResult, decide
from gateway.domain.policy_sets import ENTRY_ID, ENTRY_PATH, entry_module
from gateway.errors import PolicyUnavailable


class Evaluator:
    def __init__(self, opa: OpaClient, source: Callable[[], PolicySource]) -> None:
        self.opa = opa
        self.source = source
        self._installed: str | None = None

    def _install_entry(self, src: PolicySource) -> None:
        module = entry_module(src.sets)
        digest = hashlib.sha256(module.encode()).hexdigest()
        if self._installed != digest:
            self.opa.put_policy(ENTRY_ID, module)
            self._installed = digest

    def _query(self, src: PolicySource, input_doc: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        self._install_entry(src)
        try:
            return self.opa.query(ENTRY_PATH, input_doc)
        except PolicyUnavailable:
            # OPA may have restarted and lost the entry policy (policies PUT over the API live in memory).
            self._installed = None
            self._install_entry(src)
            return self.opa.query(ENTRY_PATH, input_doc)

    def evaluate(self, input_doc: dict[str, Any]) -> tuple[Decision, dict[str, Any]]:
        """Returns the decision and an OPA decision-log style record (without the input) for the ledger."""
        src = self.source()
        result, decision_id = self._query(src, input_doc)
        results = []
        for ps in src.sets:
            if not isinstance(result.get(ps.name), dict):
                raise PolicyUnavailable(
                    f"policy set {ps.name} ({ps.query}) is not loaded in the policy engine"
                )
            results.append(SetResult(ps, result[ps.name], src.revisions[ps.name]))
        record = {
            "decision_id": decision_id,
            "path": ENTRY_PATH,
            "bundles": {ps.bundle: {"revision": src.revisions[ps.name]} for ps in src.sets},
            "result": result,
        }
        c = input_doc["cost"]
        cost = Cost(monthly=c["monthly"], delta_monthly=c["delta_monthly"], currency=c["currency"])
        return decide(results, cost=cost, decision_id=decision_id or ""), record
