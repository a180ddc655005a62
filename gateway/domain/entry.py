"""The gateway's generated entry policy: every set in one query, each with its own input profile.

One query gives one OPA decision_id for the whole decision, and reading the bundle revisions in that same query
ties the decision to exactly the policy revisions that produced it (a reload between two queries cannot split it).
"""

from __future__ import annotations

from gateway.domain.policy_sets import PolicySet
from gateway.domain.profiles import PROFILE_INPUT

ENTRY_BUNDLE = "gateway-entry"
ENTRY_ROOT = "gateway_entry"
DECISION_PATH = "gateway_entry/decision"
BATCH_PATH = "gateway_entry/batch"


def entry_module(sets: list[PolicySet]) -> str:
    """A missing package leaves its key out of `sets`; the evaluator treats that as unavailable (fail closed)."""
    rules = [
        f'sets["{s.name}"] := result if {{\n\tresult := {s.query} with input as {PROFILE_INPUT[s.profile]}\n}}\n'
        for s in sets
    ]
    return (
        "package gateway_entry\n\n"
        + "\n".join(rules)
        + "\nrevisions[name] := bundle.manifest.revision if {\n\tsome name, bundle in data.system.bundles\n}\n"
        + '\ndecision := {"sets": sets, "revisions": revisions}\n'
        + "\n# Only the sets an input names in `only` (policy replay skips sets a draft does not change).\n"
        + 'selected := {\n\t"sets": {name: result | some name in input.only; result := sets[name]},\n'
        + '\t"revisions": revisions,\n}\n'
        + "\n# Many requests in one call (policy replay): each item is an input of the shape above, plus `only`.\n"
        + "batch := [d | some item in input.batch; d := selected with input as item]\n"
    )
