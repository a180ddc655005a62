"""Stage 2: policy evaluation in OPA, one query for all policy sets, folded into one decision."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from gateway.adapters.opa import OpaClient
from gateway.adapters.policy_source import PolicySource
from gateway.domain.decision import Cost, Decision, SetResult, decide
from gateway.domain.entry import BATCH_PATH, DECISION_PATH
from gateway.domain.profiles import wrap
from gateway.errors import PolicyUnavailable


def stale_bundles(expected: dict[str, str], loaded: dict[str, Any]) -> dict[str, str]:
    """Bundles whose loaded revision is not the one on disk: {name: "loaded -> expected"}."""
    return {
        name: f"{loaded.get(name, '(not loaded)')} -> {rev}"
        for name, rev in expected.items()
        if loaded.get(name) != rev
    }


def fold(
    src: PolicySource,
    answer: Any,
    input_doc: dict[str, Any],
    decision_id: str | None,
    exemptions: list[dict[str, Any]] | None = None,
) -> Decision:
    """One entry-policy answer ({sets, revisions}) to a decision; a set missing from it fails closed."""
    sets = answer.get("sets") if isinstance(answer, dict) else None
    if not isinstance(sets, dict):
        raise PolicyUnavailable("the gateway entry policy is not loaded in the policy engine")
    results = []
    for ps in src.sets:
        if not isinstance(sets.get(ps.name), dict):
            raise PolicyUnavailable(f"policy set {ps.name} ({ps.query}) is not loaded in the policy engine")
        results.append(SetResult(ps, sets[ps.name], src.revisions[ps.bundle]))
    c = input_doc["cost"]
    cost = Cost(monthly=c["monthly"], delta_monthly=c["delta_monthly"], currency=c["currency"])
    revisions = {k: v for k, v in sorted((answer.get("revisions") or {}).items()) if k in src.revisions}
    return decide(
        results, cost=cost, decision_id=decision_id or "", exemptions=exemptions, revisions=revisions
    )


class Evaluator:
    def __init__(
        self, opa: OpaClient, source: Callable[[], PolicySource], *, reload_timeout: float = 10.0
    ) -> None:
        self.opa = opa
        self.source = source
        self.reload_timeout = reload_timeout

    def _current_answer(self, src: PolicySource, doc: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        """Queries until OPA runs the revisions on disk: right after an edit it may still be activating them."""
        deadline = time.monotonic() + self.reload_timeout
        while True:
            answer, decision_id = self.opa.query(DECISION_PATH, wrap(doc, src.profiles))
            loaded = answer.get("revisions", {}) if isinstance(answer, dict) else {}
            stale = stale_bundles(src.revisions, loaded)
            if not stale:
                return answer, decision_id
            if time.monotonic() > deadline:
                raise PolicyUnavailable(
                    "the policy engine does not run the policies on disk (a bundle failed to load, see OPA's "
                    f"log): {', '.join(f'{k}: {v}' for k, v in stale.items())}"
                )
            time.sleep(0.02)

    def evaluate(
        self,
        input_doc: dict[str, Any],
        exemptions: list[dict[str, Any]] | None = None,
        source: PolicySource | None = None,
    ) -> tuple[Decision, dict[str, Any]]:
        """Returns the decision and an OPA decision-log style record (without the input) for the ledger. `source`
        is the policy source the input was built from, when the caller has looked at the files already."""
        src = source or self.source()
        answer, decision_id = self._current_answer(src, input_doc)
        decision = fold(src, answer, input_doc, decision_id, exemptions)
        record = {
            "decision_id": decision_id,
            "path": DECISION_PATH,
            "bundles": {name: {"revision": rev} for name, rev in decision.policy_revisions.items()},
            "result": answer["sets"],
        }
        return decision, record

    def evaluate_batch(
        self, src: PolicySource, docs: list[dict[str, Any]], only: list[list[str]]
    ) -> list[Any]:
        """Many inputs in one OPA call (policy replay), each evaluating only the sets named for it; answers in
        order."""
        if not docs:
            return []
        names = {n for o in only for n in o}
        profiles: set[str] = {s.profile for s in src.sets if s.name in names}
        batch = [{**wrap(d, profiles), "only": o} for d, o in zip(docs, only, strict=True)]
        answer, _ = self.opa.query(BATCH_PATH, {"batch": batch})
        if not isinstance(answer, list) or len(answer) != len(docs):
            raise PolicyUnavailable("the policy engine did not answer the batch")
        return answer
