"""The process's long-lived parts, built once by the composition root (gateway.app) and shared."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from gateway.adapters.cloud.client import Cloud
from gateway.adapters.oidc import OidcVerifier
from gateway.adapters.opa import OpaClient
from gateway.adapters.policy_source import PolicySource, PolicyWatcher
from gateway.adapters.store.db import Database
from gateway.domain.clock import Clock
from gateway.ledger.archive import Archiver
from gateway.ledger.checkpoints import Checkpointer
from gateway.ledger.signing import Signer
from gateway.pipeline.approve import Approvals
from gateway.pipeline.deliver import Dispatcher
from gateway.pipeline.idempotency import Idempotency
from gateway.pipeline.runner import Runner
from gateway.pipeline.scheduler import Scheduler
from gateway.pipeline.worker import Worker
from gateway.settings import Settings


@dataclass
class Services:
    settings: Settings
    db: Database
    opa: OpaClient
    cloud: Cloud
    runner: Runner
    approvals: Approvals
    scheduler: Scheduler
    worker: Worker
    signer: Signer
    checkpointer: Checkpointer
    archiver: Archiver
    idempotency: Idempotency
    dispatcher: Dispatcher
    clock: Clock
    source: Callable[[], PolicySource]
    watcher: PolicyWatcher
    # Checks JWT bearer tokens when OIDC is configured; local `ggw_` tokens need none.
    oidc: OidcVerifier | None = None
    # Called in reverse order on shutdown (local OPA, sandbox server, pools).
    closers: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        for fn in reversed(self.closers):
            fn()
        self.closers.clear()
