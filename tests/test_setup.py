"""The embedded defaults: local OPA lifecycle, tokens, the pricing catalog, the demo."""

from __future__ import annotations

import json

import httpx
import pytest
from fastapi.testclient import TestClient
from rich.console import Console
from typer.testing import CliRunner

from gateway.app import create_app
from gateway.cli import app as cli
from gateway.demo import run_demo
from gateway.domain.cost import default_catalog
from gateway.settings import PROJECT_ROOT
from tests.clock import ManualClock


def test_gateway_starts_and_stops_its_own_opa(settings):
    app = create_app(settings.model_copy(update={"opa_url": None}))
    with TestClient(app) as client:
        assert client.get("/readyz").json()["checks"] == {"opa": "ok", "database": "ok"}
        opa_url = app.state.services.opa.url
        assert opa_url.startswith("http://127.0.0.1:") and opa_url != settings.opa_url
        assert httpx.get(opa_url + "/health").status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(opa_url + "/health", timeout=1)


def test_tokens_are_printed_once_and_stored_hashed(settings, monkeypatch):
    monkeypatch.setenv("GATEWAY_DATABASE_URL", settings.effective_database_url)
    result = CliRunner().invoke(cli, ["tokens", "create", "ops", "--role", "approver", "--group", "finance"])
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    assert token.startswith("ggw_")

    app = create_app(settings)
    with TestClient(app) as client:
        from sqlalchemy import text

        with app.state.services.db.engine.connect() as conn:
            stored = conn.execute(text("SELECT token_hash FROM api_tokens WHERE name='ops'")).scalar_one()
        assert token not in stored and len(stored) == 64
        headers = {"Authorization": f"Bearer {token}"}
        assert client.get("/v1/requests", headers=headers).status_code == 200

        assert CliRunner().invoke(cli, ["tokens", "revoke", "ops"]).exit_code == 0
        assert client.get("/v1/requests", headers=headers).status_code == 401


def test_pricing_catalog_covers_every_allowed_type_in_every_region():
    schemas = PROJECT_ROOT / "schemas" / "resources"
    regions = json.loads((schemas / "common.schema.json").read_text())["$defs"]["region"]["enum"]
    types = json.loads((schemas / "aws_instance.schema.json").read_text())["properties"]["instance_type"][
        "enum"
    ]
    classes = json.loads((schemas / "aws_db_instance.schema.json").read_text())["properties"][
        "instance_class"
    ]["enum"]
    cat = default_catalog()
    assert cat.data["captured"] and cat.data["source"]
    for region in regions:
        prices = cat.data["regions"][region]
        assert set(types) <= set(prices["aws_instance"]), region
        assert set(classes) <= set(prices["aws_db_instance"]), region
        for t in types:
            assert cat.monthly("aws_instance", region, {"instance_type": t}) > 0


def test_demo_shows_three_outcomes_and_a_verified_ledger(tmp_path, monkeypatch):
    monkeypatch.delenv("GATEWAY_DATABASE_URL", raising=False)
    console = Console(record=True, width=160)
    # The test clock keeps the demo's production window clear of the year-end freeze whatever today is.
    assert run_demo(console, data_dir=tmp_path / "demo", clock=ManualClock()) == 0
    out = console.export_text()
    assert out.count("succeeded") >= 2 and "rejected" in out
    assert "sg_admin_port_open_to_world" in out and "pending_approval" in out
    assert "sandbox" in out and "intact" in out
