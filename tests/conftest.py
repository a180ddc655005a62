"""Shared fixtures: one real OPA and one sandbox moto server per session; a fresh database per test.

The suite runs on SQLite by default and on PostgreSQL when GATEWAY_TEST_DATABASE_URL is set (scripts/test.sh
runs it both ways).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import SQLModel

from gateway.adapters.bundle_server import BundleServer
from gateway.adapters.cloud.sandbox import SandboxCloud
from gateway.adapters.opa_process import LocalOpa
from gateway.adapters.policy_source import load_policy_source
from gateway.app import create_app
from gateway.domain.identity import Role
from gateway.pipeline import tokens
from gateway.settings import PROJECT_ROOT, Settings
from tests.clock import ManualClock

POLICY_DIR = PROJECT_ROOT / "policies"
PG_URL = os.environ.get("GATEWAY_TEST_DATABASE_URL")


@pytest.fixture(scope="session")
def opa_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One OPA for the session, fed by a bundle server as an external OPA would be."""
    src = load_policy_source(POLICY_DIR)
    server = BundleServer()
    server.publish(src.bundles)
    opa = LocalOpa(server.url, tmp_path_factory.mktemp("opa"))
    opa.start(revisions=src.revisions)
    yield opa.url
    opa.stop()
    server.close()


@pytest.fixture(scope="session")
def sandbox_url() -> Iterator[str]:
    sandbox = SandboxCloud()
    url = sandbox.start()
    yield url
    sandbox.stop()


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    if not PG_URL:
        yield f"sqlite:///{tmp_path / 'gateway.db'}"
        return
    from sqlalchemy import create_engine

    import gateway.adapters.store.models  # noqa: F401

    engine = create_engine(PG_URL)
    SQLModel.metadata.drop_all(engine)
    with engine.begin() as conn:  # so the next gateway migrates from scratch
        conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
    engine.dispose()
    yield PG_URL


@pytest.fixture
def settings(tmp_path: Path, database_url: str, opa_url: str, sandbox_url: str) -> Settings:
    return Settings(
        data_dir=tmp_path,
        database_url=database_url,
        opa_url=opa_url,
        policy_dir=POLICY_DIR,
        cloud="sandbox",
        aws_endpoint_url=sandbox_url,
        tick_seconds=3600,  # tests run due work themselves (scheduler.tick, dispatcher.deliver_due)
    )


class Gateway:
    """The real app behind a TestClient, with helpers to make principals."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.services = client.app.state.services  # type: ignore[attr-defined]

    def token(
        self, name: str, role: Role = Role.REQUESTER, groups: list[str] | None = None
    ) -> dict[str, str]:
        tok = tokens.create(self.services.db, name=name, role=role, groups=groups or [])
        return {"Authorization": f"Bearer {tok}"}

    def submit(self, body: dict[str, Any], headers: dict[str, str]) -> Any:
        return self.client.post("/v1/requests", json=body, headers=headers)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def gateway(settings: Settings, clock: ManualClock) -> Iterator[Gateway]:
    with TestClient(create_app(settings, clock=clock)) as client:
        yield Gateway(client)


@pytest.fixture
def alice(gateway: Gateway) -> dict[str, str]:
    return gateway.token("alice", Role.REQUESTER, ["payments", "analytics"])


@pytest.fixture
def bob(gateway: Gateway) -> dict[str, str]:
    return gateway.token("bob", Role.APPROVER, ["finance"])


@pytest.fixture
def auditor(gateway: Gateway) -> dict[str, str]:
    return gateway.token("carol", Role.AUDITOR)


@pytest.fixture
def cli(gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Runs `govgate` commands whose client talks to the test app; GATEWAY_TOKEN picks the principal."""
    from typer.testing import CliRunner

    from gateway import cli as cli_module
    from gateway import cli_drift, cli_exemptions
    from gateway.client import GatewayClient

    class InProcess(GatewayClient):
        def __init__(self, url: str, token: str | None, **_: object) -> None:
            self._http = gateway.client
            self._token = token

        def call(self, method: str, path: str, **kw: Any) -> Any:
            kw["headers"] = {**kw.get("headers", {}), "Authorization": f"Bearer {self._token}"}
            return super().call(method, path, **kw)

        def close(self) -> None:
            pass  # the test app's client outlives each command

    monkeypatch.setattr(cli_module, "GatewayClient", InProcess)
    monkeypatch.setattr(cli_exemptions, "GatewayClient", InProcess)
    monkeypatch.setattr(cli_drift, "GatewayClient", InProcess)
    monkeypatch.setenv("GATEWAY_DATABASE_URL", gateway.services.db.url)
    monkeypatch.setenv("COLUMNS", "250")  # rich tables unwrapped, so outputs can be searched
    runner = CliRunner()

    def run(*args: str, token: dict[str, str] | None = None, input: str | None = None) -> Any:
        if token is not None:
            monkeypatch.setenv("GATEWAY_TOKEN", token["Authorization"].split()[1])
        return runner.invoke(cli_module.app, list(args), input=input)

    return run
