"""Reads the policy directory: the set definitions, each set's content revision, and team budgets."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gateway.domain.policy_sets import PolicySet, parse_policy_sets
from gateway.errors import InvalidRequest

# Shared directories every set depends on; a change there changes every set's revision.
SHARED_DIRS = ("lib", "data")


def _tree_hash(paths: list[Path], root: Path) -> str:
    digest = hashlib.sha256()
    for p in paths:
        for f in sorted(x for x in p.rglob("*") if x.is_file()):
            digest.update(str(f.relative_to(root)).encode() + b"\0")
            digest.update(f.read_bytes() + b"\0")
    return "sha256:" + digest.hexdigest()[:16]


@dataclass(frozen=True)
class PolicySource:
    root: Path
    sets: list[PolicySet]
    revisions: dict[str, str]
    data: dict[str, Any]

    def budget_for(self, team: str) -> float:
        teams = self.data.get("teams", {})
        return float(teams.get("budgets", {}).get(team, teams.get("default_budget_monthly", 0.0)))


def load_policy_source(root: Path) -> PolicySource:
    spec = root / "policy-sets.yaml"
    try:
        doc = yaml.safe_load(spec.read_text())
    except FileNotFoundError:
        raise InvalidRequest(f"{spec} is missing") from None
    sets = parse_policy_sets(doc)
    shared = [root / d for d in SHARED_DIRS if (root / d).is_dir()]
    revisions = {s.name: _tree_hash([root / s.bundle, *shared], root) for s in sets}
    data: dict[str, Any] = {}
    teams = root / "data" / "teams.json"
    if teams.is_file():
        data.update(json.loads(teams.read_text()))
    return PolicySource(root=root, sets=sets, revisions=revisions, data=data)
