"""The composition root: create_app(settings) builds every adapter once and wires the routers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import anyio.to_thread
from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from gateway import __version__
from gateway.adapters.bundle_server import BundleServer
from gateway.adapters.cloud.client import Cloud
from gateway.adapters.cloud.sandbox import SandboxCloud
from gateway.adapters.opa import OpaClient
from gateway.adapters.opa_process import LocalOpa
from gateway.adapters.policy_source import PolicySource, PolicyWatcher, load_policy_source
from gateway.adapters.store.db import Database
from gateway.api import audit, errors, exemptions, requests, system
from gateway.api.middleware import TimingAndLabel
from gateway.domain.cost import default_catalog
from gateway.pipeline.evaluate import Evaluator
from gateway.pipeline.execute import Executor
from gateway.pipeline.replay import Engine
from gateway.pipeline.runner import Runner
from gateway.pipeline.validate import Validator
from gateway.services import Services
from gateway.settings import Settings

log = logging.getLogger("gateway")


def build_services(settings: Settings) -> Services:
    """Starts what the settings ask for: local OPA unless GATEWAY_OPA_URL, the sandbox unless GATEWAY_CLOUD=aws."""
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
        cloud = Cloud(label=settings.cloud, endpoint_url=endpoint)
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
        executor=Executor(cloud),
        catalog=default_catalog(),
        source=current_source,
        cloud_label=settings.cloud,
    )
    return Services(settings=settings, db=db, opa=opa, cloud=cloud, runner=runner, source=current_source,
                    watcher=watcher, closers=closers)  # fmt: skip


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


async def _retry_received(svc: Services) -> None:
    """Requests accepted while OPA was down are evaluated as soon as it answers again."""
    while True:
        await asyncio.sleep(svc.settings.retry_interval_seconds)
        try:
            n = await run_in_threadpool(svc.runner.retry_received)
            if n:
                log.info("evaluated %d request(s) accepted while the policy engine was unavailable", n)
        except Exception:
            log.exception("retrying received requests failed")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Sync endpoints run in anyio's thread pool. A few threads keep both cores busy (OPA is the other
        # process); forty threads only queue on the GIL and the database write lock and inflate latency.
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.worker_threads
        sys.setswitchinterval(0.001)
        svc = await run_in_threadpool(build_services, settings)
        app.state.services = svc
        log.warning("governance-gateway %s ready (cloud=%s)", __version__, settings.cloud)
        task = asyncio.create_task(_retry_received(svc))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await run_in_threadpool(svc.close)

    app = FastAPI(
        title="governance-gateway",
        version=__version__,
        lifespan=lifespan,
    )
    app.state.settings = settings
    errors.install(app)
    for router in (requests.router, exemptions.router, audit.router, system.router):
        app.include_router(router)

    app.add_middleware(TimingAndLabel, sandbox=settings.sandbox)
    return app
