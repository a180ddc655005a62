"""The schema comes from Alembic migrations, and a database from before them is upgraded in place."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlmodel import SQLModel

from gateway.adapters.store.db import MIGRATIONS, Database

HEAD = ScriptDirectory(str(MIGRATIONS)).get_current_head()

VOTE = (
    'INSERT INTO approvals (request_id, principal, "group", verdict, comment, content_hash, created_at) '
    "VALUES ('r1', 'bob', 'finance', 'approve', '', :hash, '2026-11-01 11:00:00')"
)


def test_the_migrations_build_exactly_the_models_schema(database_url):
    db = Database(database_url)
    db.create_all()
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    db.dispose()
    assert diff == []


def test_a_database_from_before_migrations_is_upgraded_with_its_data(database_url):
    db = Database(database_url)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with (
        db.engine.begin() as conn
    ):  # the tables as the previous release created them, without alembic_version
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        conn.execute(text("DROP TABLE alembic_version"))
        conn.execute(text(
            "INSERT INTO change_requests (id, title, team, environment, requester, state, cloud, cost_monthly, "
            "envelope, requester_groups, content_hash, outputs, created_at, updated_at) VALUES ('r1', 'old', "
            "'payments', 'dev', 'alice', 'pending_approval', 'sandbox', 0, '{}', '[]', 'sha256:a', '{}', "
            "'2026-11-01 10:00:00', '2026-11-01 10:00:00')"
        ))  # fmt: skip
        conn.execute(text(VOTE), {"hash": "sha256:a"})

    db.create_all()

    with db.engine.begin() as conn:
        columns = {c["name"] for c in inspect(conn).get_columns("change_requests")}
        assert {"window_start", "window_end", "on_behalf_of", "review", "pending_since"} <= columns
        assert conn.execute(text("SELECT title FROM change_requests WHERE id = 'r1'")).scalar_one() == "old"
        # The same person may vote again on new content (the old unique constraint is gone).
        conn.execute(text(VOTE), {"hash": "sha256:b"})
        assert conn.execute(text("SELECT count(*) FROM approvals")).scalar_one() == 2
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == HEAD
    db.dispose()


def test_requests_approved_before_the_execution_queue_are_queued_by_the_upgrade(database_url):
    db = Database(database_url)
    db.migrate("0003")
    with db.engine.begin() as conn:
        for rid, state in (("r1", "approved"), ("r2", "scheduled"), ("r3", "succeeded")):
            conn.execute(text(
                "INSERT INTO change_requests (id, title, team, environment, requester, state, cloud, cost_monthly, "
                "envelope, requester_groups, content_hash, outputs, created_at, updated_at, approval_round) VALUES "
                "(:id, 'old', 'payments', 'dev', 'alice', :state, 'sandbox', 0, '{}', '[]', 'sha256:a', '{}', "
                "'2026-11-01 10:00:00', '2026-11-01 10:00:00', 0)"
            ), {"id": rid, "state": state})  # fmt: skip

    db.create_all()

    with db.engine.begin() as conn:
        queued = conn.execute(text("SELECT request_id, status FROM execution_jobs ORDER BY request_id")).all()
        assert [tuple(r) for r in queued] == [("r1", "queued"), ("r2", "queued")]
    db.dispose()


def test_a_database_at_an_earlier_revision_gets_the_later_ones(database_url):
    db = Database(database_url)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0002")
    db.create_all()
    with db.engine.begin() as conn:
        assert "subject" in {c["name"] for c in inspect(conn).get_columns("api_tokens")}
        assert "round" in {c["name"] for c in inspect(conn).get_columns("approvals")}
    db.dispose()
