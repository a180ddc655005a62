"""Reads the policy directory (set definitions, bundles, team budgets) and notices when it changes."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from gateway.adapters.bundles import Bundle, build_bundles
from gateway.domain.policy_sets import PolicySet, parse_policy_sets
from gateway.errors import InvalidRequest

log = logging.getLogger("gateway.policies")


@dataclass(frozen=True)
class PolicySource:
    root: Path
    sets: list[PolicySet]
    bundles: dict[str, Bundle]
    data: dict[str, Any] = field(default_factory=dict)
    fingerprint: str = ""

    @property
    def revisions(self) -> dict[str, str]:
        """Every bundle's revision, by bundle name: what OPA must report before a decision counts."""
        return {name: b.revision for name, b in self.bundles.items()}

    @property
    def profiles(self) -> set[str]:
        return {s.profile for s in self.sets}

    @property
    def assignment_groups(self) -> dict[str, str]:
        """ServiceNow assignment group (name or sys_id) -> gateway team."""
        return dict(self.data.get("itsm", {}).get("servicenow", {}).get("assignment_groups", {}))

    @property
    def servicenow_users(self) -> dict[str, str]:
        """ServiceNow user (sys_id, user_name or display name) -> gateway principal."""
        return dict(self.data.get("itsm", {}).get("servicenow", {}).get("users", {}))

    def budget_for(self, team: str) -> float:
        teams = self.data.get("teams", {})
        return float(teams.get("budgets", {}).get(team, teams.get("default_budget_monthly", 0.0)))


def fingerprint(root: Path) -> str:
    """Names, sizes and modification times of every file: cheap enough to check before each decision."""
    h = hashlib.sha256()
    stack = [str(root)]
    while stack:
        d = stack.pop()
        try:
            entries = sorted(os.scandir(d), key=lambda e: e.name)
        except FileNotFoundError:
            continue
        for e in entries:
            if e.is_dir(follow_symlinks=True):
                stack.append(e.path)
            elif e.is_file(follow_symlinks=True):
                st = e.stat()
                h.update(f"{e.path}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
    return h.hexdigest()


def load_policy_source(root: Path) -> PolicySource:
    """Raises InvalidRequest with what is wrong (a missing directory, a bad key, clashing roots)."""
    root = root.resolve()
    stamp = fingerprint(root)
    spec = root / "policy-sets.yaml"
    try:
        doc = yaml.safe_load(spec.read_text())
        sets = parse_policy_sets(doc)
    except FileNotFoundError:
        raise InvalidRequest(f"{spec} is missing") from None
    except (yaml.YAMLError, ValidationError) as exc:
        raise InvalidRequest(f"{spec} is not valid: {exc}") from None
    names = [s.name for s in sets]
    if len(set(names)) != len(names):
        raise InvalidRequest(f"{spec}: policy set names must be unique")
    try:
        bundles = build_bundles(root, sets)
    except (ValueError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise InvalidRequest(f"policy directory {root}: {exc}") from None
    # The policy data the gateway itself reads (budgets; ServiceNow assignment groups to teams).
    data: dict[str, Any] = {}
    for name in ("teams.json", "itsm.json"):
        path = root / "data" / name
        if path.is_file():
            data.update(json.loads(path.read_text()))
    return PolicySource(root=root, sets=sets, bundles=bundles, data=data, fingerprint=stamp)


class PolicyWatcher:
    """Hands out the current policy source; reloads it when a file changed and tells `on_change`.

    A broken edit (bad YAML, clashing roots) keeps the last good source in force and is reported in `error`;
    a Rego error is OPA's to report: it keeps the last good bundle, and the gateway then fails closed because the
    revision OPA runs is not the one on disk.
    """

    def __init__(self, root: Path, on_change: Callable[[PolicySource], None] | None = None) -> None:
        self.root = root
        self._on_change = on_change
        self._lock = threading.Lock()
        self._source = load_policy_source(root)
        self.error: str | None = None
        if on_change:
            on_change(self._source)

    def current(self) -> PolicySource:
        if fingerprint(self._source.root) == self._source.fingerprint:
            return self._source
        with self._lock:
            stamp = fingerprint(self._source.root)
            if stamp == self._source.fingerprint:
                return self._source
            try:
                fresh = load_policy_source(self.root)
            except InvalidRequest as exc:
                if self.error != exc.detail:
                    log.error("policy directory change not loaded: %s", exc.detail)
                self.error = exc.detail
                # Do not retry the same broken state on every decision.
                self._source = _restamped(self._source, stamp)
                return self._source
            self.error = None
            changed = fresh.revisions != self._source.revisions
            self._source = fresh
            if changed:
                log.warning("policies changed: %s", fresh.revisions)
                if self._on_change:
                    self._on_change(fresh)
            return fresh


def _restamped(src: PolicySource, stamp: str) -> PolicySource:
    return PolicySource(src.root, src.sets, src.bundles, src.data, stamp)
