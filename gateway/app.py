"""The composition root: create_app(settings) builds every adapter once and wires the routers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from functools import partial
from pathlib import Path

import anyio.to_thread
import httpx
from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from gateway import __version__
from gateway.adapters.bundle_server import BundleServer
from gateway.adapters.cloud.client import Cloud
from gateway.adapters.cloud.retry import StepRetry
from gateway.adapters.cloud.sandbox import SandboxCloud
from gateway.adapters.itsm.servicenow import ServiceNowClient
from gateway.adapters.itsm.webhooks import WebhookSender
from gateway.adapters.oidc import OidcVerifier
from gateway.adapters.opa import OpaClient
from gateway.adapters.opa_process import LocalOpa
from gateway.adapters.policy_source import PolicySource, PolicyWatcher, load_policy_source
from gateway.adapters.store.db import Database
from gateway.api import audit, audit_export, errors, exemptions, inventory, itsm, requests, system, webhooks
from gateway.api.middleware import TimingAndLabel
from gateway.domain.clock import Clock, SystemClock
from gateway.domain.cost import default_catalog
from gateway.ledger.archive import Archiver, Place
from gateway.ledger.checkpoints import Checkpointer
from gateway.ledger.signing import load_signer
from gateway.pipeline.approve import Approvals
from gateway.pipeline.deliver import Backoff, Dispatcher
from gateway.pipeline.evaluate import Evaluator
from gateway.pipeline.execute import Executor
from gateway.pipeline.idempotency import Idempotency
from gateway.pipeline.leases import Leases
from gateway.pipeline.replay import Engine
from gateway.pipeline.runner import Runner
from gateway.pipeline.scheduler import Scheduler
from gateway.pipeline.validate import Validator
from gateway.pipeline.worker import Worker
from gateway.services import Services
from gateway.settings import Settings

log = logging.getLogger("gateway")


def _oidc(settings: Settings) -> OidcVerifier | None:
    if not settings.oidc_jwks:
        return None
    return OidcVerifier(
        settings.oidc_jwks, issuer=settings.oidc_issuer, audience=settings.oidc_audience,
        subject_claim=settings.oidc_subject_claim, groups_claim=settings.oidc_groups_claim,
        role_claim=settings.oidc_role_claim, default_role=settings.oidc_default_role,
        leeway_seconds=settings.oidc_leeway_seconds,
    )  # fmt: skip


def _dispatcher(settings: Settings, db: Database, clock: Clock, http: httpx.Client) -> Dispatcher:
    servicenow = None
    if settings.servicenow_url:
        servicenow = ServiceNowClient(
            base_url=settings.servicenow_url, http=http, user=settings.servicenow_user,
            password=settings.servicenow_password, token=settings.servicenow_token,
        )  # fmt: skip
    backoff = Backoff(
        base_seconds=settings.outbox_backoff_seconds, max_seconds=settings.outbox_backoff_max_seconds,
        max_attempts=settings.outbox_max_attempts,
    )  # fmt: skip
    return Dispatcher(
        db=db, clock=clock, webhooks=WebhookSender(http), servicenow=servicenow, backoff=backoff
    )


def build_services(settings: Settings, clock: Clock | None = None) -> Services:
    """Starts what the settings ask for: local OPA unless GATEWAY_OPA_URL, the sandbox unless GATEWAY_CLOUD=aws."""
    clock = clock or SystemClock()
    closers: list[Callable[[], None]] = []
    try:
        servers: list[BundleServer] = []

        def publish(src: PolicySource) -> None:
            for server in servers:
                server.publish(src.bundles)

        if settings.bundle_addr:
            host, _, port = settings.bundle_addr.rpartition(":")
            servers.append(BundleServer(host or "127.0.0.1", int(port)))
            closers.append(servers[-1].close)
        if not settings.opa_url:
            servers.append(BundleServer())
            closers.append(servers[-1].close)
        watcher = PolicyWatcher(settings.policy_dir, on_change=publish)
        db = Database(settings.effective_database_url)
        closers.append(db.dispose)
        db.create_all()
        opa_url = settings.opa_url
        if not opa_url:
            local = LocalOpa(servers[-1].url, settings.data_dir, binary=settings.opa_binary)
            local.start(revisions=watcher.current().revisions)
            closers.append(local.stop)
            opa_url = local.url
        opa = OpaClient(opa_url, timeout=settings.opa_timeout_seconds)
        closers.append(opa.close)
        endpoint = settings.aws_endpoint_url
        if settings.sandbox and not endpoint:
            sandbox = SandboxCloud()
            endpoint = sandbox.start()
            closers.append(sandbox.stop)
        cloud = Cloud(label=settings.cloud, endpoint_url=endpoint, max_attempts=settings.cloud_max_attempts)
        oidc = _oidc(settings)
        if oidc is not None:
            closers.append(oidc.close)
        # One pooled client for every outgoing delivery (webhooks, ServiceNow).
        http = httpx.Client(timeout=settings.outbox_timeout_seconds, follow_redirects=False)
        closers.append(http.close)
        signer = load_signer(settings.ledger_signing_key, settings.data_dir, sandbox=settings.sandbox)
        checkpointer = Checkpointer(db=db, signer=signer, every_events=settings.ledger_checkpoint_events,
                                    every_seconds=settings.ledger_checkpoint_seconds)  # fmt: skip
    except BaseException:
        for fn in reversed(closers):
            fn()
        raise

    current_source = watcher.current
    evaluator = Evaluator(opa, current_source, reload_timeout=settings.policy_reload_timeout_seconds)
    runner = Runner(
        db=db,
        validator=Validator(settings.schema_dir),
        evaluator=evaluator,
        executor=Executor(
            cloud,
            retry=StepRetry(
                attempts=settings.cloud_retry_attempts,
                base_seconds=settings.cloud_retry_base_seconds,
                max_seconds=settings.cloud_retry_max_seconds,
            ),
        ),
        catalog=default_catalog(),
        source=current_source,
        cloud_label=settings.cloud,
        clock=clock,
    )
    approvals = Approvals(db=db, clock=clock, vote_expiry=timedelta(hours=settings.approval_expiry_hours))
    worker = Worker(
        db=db, execution=runner.execution, evaluate=runner.evaluate_stored, clock=clock,
        lease=timedelta(seconds=settings.execution_lease_seconds),
        retry_after=timedelta(seconds=settings.retry_after_seconds), max_attempts=settings.execution_max_attempts,
    )  # fmt: skip
    if settings.execute_inline:
        runner.execute_now = worker.run_now
    leases = Leases(
        db=db, runner=runner, clock=clock, warn_before=timedelta(hours=settings.lease_warning_hours),
        retry_after=timedelta(hours=settings.lease_retry_hours),
    )  # fmt: skip
    scheduler = Scheduler(
        db=db, runner=runner, approvals=approvals, clock=clock,
        pending_expiry=timedelta(hours=settings.pending_expiry_hours),
        idempotency_ttl=timedelta(hours=settings.idempotency_key_hours), worker=worker, leases=leases,
    )  # fmt: skip
    idempotency = Idempotency(db=db, clock=clock, ttl=timedelta(hours=settings.idempotency_key_hours))
    archiver = Archiver(db=db, cloud=cloud, signer=signer,
                        place=Place(settings.ledger_archive_bucket, settings.ledger_archive_region))  # fmt: skip
    return Services(
        settings=settings, db=db, opa=opa, cloud=cloud, runner=runner, approvals=approvals, scheduler=scheduler,
        worker=worker, signer=signer, checkpointer=checkpointer, archiver=archiver,
        idempotency=idempotency, dispatcher=_dispatcher(settings, db, clock, http), clock=clock,
        source=current_source, watcher=watcher, oidc=oidc, closers=closers,
    )  # fmt: skip


def policy_engine(policy_dir: Path, work_dir: Path, opa_binary: str | None = None) -> Engine:
    """A temporary OPA loaded with one policy directory (policy replay); decision logs off, no database."""
    source = load_policy_source(policy_dir)
    server = BundleServer(decision_logs=False)
    server.publish(source.bundles)
    opa = LocalOpa(server.url, work_dir, binary=opa_binary)
    try:
        opa.start(revisions=source.revisions)
    except BaseException:
        server.close()
        raise
    client = OpaClient(opa.url, timeout=120.0)

    def close() -> None:
        client.close()
        opa.stop()
        server.close()

    return Engine(source=source, evaluator=Evaluator(client, lambda: source), close=close)


def bundle_publisher(policy_dir: Path, addr: str) -> tuple[PolicyWatcher, Callable[[], None]]:
    """A standalone bundle server for the policy directory (`govgate policy serve`)."""
    host, _, port = addr.rpartition(":")
    server = BundleServer(host or "127.0.0.1", int(port))
    try:
        watcher = PolicyWatcher(policy_dir, on_change=lambda src: server.publish(src.bundles))
    except BaseException:
        server.close()
        raise
    return watcher, server.close


async def _every(seconds: float, work: Callable[[], int], what: str) -> None:
    """Runs due work forever; one failure is logged and the loop goes on."""
    while True:
        await asyncio.sleep(seconds)
        try:
            n = await run_in_threadpool(work)
            if n:
                log.info("%s: %d", what, n)
        except Exception:
            log.exception("%s failed", what)


def create_app(settings: Settings | None = None, clock: Clock | None = None) -> FastAPI:
    """`clock` is for tests that move time (windows, expiries, retries); the system clock otherwise."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Sync endpoints run in anyio's thread pool. A few threads keep both cores busy (OPA is the other
        # process); forty threads only queue on the GIL and the database write lock and inflate latency.
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.worker_threads
        sys.setswitchinterval(0.001)
        svc = await run_in_threadpool(build_services, settings, clock)
        app.state.services = svc
        log.warning("governance-gateway %s ready (cloud=%s)", __version__, settings.cloud)
        # Deliveries get their own loop: a slow receiver must not hold back change windows and expiries.
        tasks = [
            asyncio.create_task(_every(settings.tick_seconds, svc.scheduler.tick, "due requests moved")),
            asyncio.create_task(_every(settings.tick_seconds, svc.dispatcher.deliver_due, "deliveries sent")),
            asyncio.create_task(
                _every(settings.tick_seconds, svc.checkpointer.tick, "ledger checkpoints signed")
            ),
        ]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            try:  # the head as it is at shutdown, signed
                await run_in_threadpool(partial(svc.checkpointer.tick, force=True))
            except Exception:
                log.exception("could not sign the ledger head at shutdown")
            await run_in_threadpool(svc.close)

    app = FastAPI(
        title="governance-gateway",
        version=__version__,
        lifespan=lifespan,
    )
    app.state.settings = settings
    errors.install(app)
    for router in (
        requests.router,
        inventory.router,
        exemptions.router,
        itsm.router,
        webhooks.router,
        audit.router,
        audit_export.router,
        system.router,
    ):
        app.include_router(router)

    app.add_middleware(TimingAndLabel, sandbox=settings.sandbox)
    return app
