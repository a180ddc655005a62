"""The process's long-lived parts, built once by the composition root (gateway.app) and shared."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from gateway.adapters.cloud.client import Cloud
from gateway.adapters.opa import OpaClient
from gateway.adapters.policy_source import PolicySource, PolicyWatcher
from gateway.adapters.store.db import Database
from gateway.pipeline.runner import Runner
from gateway.settings import Settings


@dataclass
class Services:
    settings: Settings
    db: Database
    opa: OpaClient
    cloud: Cloud
    runner: Runner
    source: Callable[[], PolicySource]
    watcher: PolicyWatcher
    # Called in reverse order on shutdown (local OPA, sandbox server, pools).
    closers: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        for fn in reversed(self.closers):
            fn()
        self.closers.clear()
