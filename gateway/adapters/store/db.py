"""The database engine and the unit of work. The pipeline runner owns transactions; repositories never commit."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlmodel import Session, create_engine

from gateway.errors import DatabaseUnavailable

_local = threading.local()
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# The schema every database had before migrations were introduced.
BASELINE = "0001"


def json_text(value: Any) -> str:
    """JSON columns written with sorted keys (orjson: fast, and for most values the canonical form itself)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:  # what orjson will not write (an integer beyond 64 bits): the standard library's way
        return json.dumps(value, sort_keys=True)


_JSON: dict[str, Any] = {"json_serializer": json_text, "json_deserializer": orjson.loads}


def _make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **_JSON)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _rec: Any) -> None:
            # Let SQLAlchemy's begin event issue BEGIN itself, so writers can take the lock up front.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            # BEGIN IMMEDIATE: a writer holds SQLite's write lock from its first read, so two processes can never
            # both read the ledger head and append after it.
            conn.exec_driver_sql("BEGIN IMMEDIATE" if getattr(_local, "writing", False) else "BEGIN")

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20, **_JSON)


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = _make_engine(url)
        self.is_sqlite = url.startswith("sqlite")
        # SQLite has one writer at a time; queueing our own threads here beats its busy-wait sleeps.
        self._write_lock = threading.Lock() if self.is_sqlite else None

    def create_all(self) -> None:
        """Brings the schema to the newest migration (Alembic), then seeds the ledger head."""
        from gateway.adapters.store import models

        with _translate_errors():
            self.migrate()
            self._seed_ledger_head(models.LedgerHead)

    def migrate(self, revision: str = "head") -> None:
        """Alembic upgrade, one process at a time. A database made before migrations existed (the tables of the
        first revision, no alembic_version) is stamped at that revision first."""
        from alembic import command
        from alembic.config import Config
        from sqlalchemy import inspect

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        lock = self._write_lock
        if lock is not None:
            lock.acquire()
        _local.writing = True  # SQLite: BEGIN IMMEDIATE, so a second process waits instead of racing
        try:
            with self.engine.begin() as conn:
                if not self.is_sqlite:
                    conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7301)")  # replicas starting together
                cfg.attributes["connection"] = conn
                tables = set(inspect(conn).get_table_names())
                if "alembic_version" not in tables and "change_requests" in tables:
                    command.stamp(cfg, BASELINE)
                command.upgrade(cfg, revision)
        finally:
            _local.writing = False
            if lock is not None:
                lock.release()

    def _seed_ledger_head(self, head: Any) -> None:
        """The head row exists before the first append, so appenders always have a row to lock."""
        from gateway.ledger.chain import GENESIS

        with Session(self.engine) as s:
            if s.get(head, 1) is None:
                s.add(head(id=1, seq=0, hash=GENESIS))
                try:
                    s.commit()
                except IntegrityError:
                    s.rollback()  # another process seeded it at the same moment

    @contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        """One write transaction: everything inside commits together or not at all."""
        lock = self._write_lock
        if lock is not None:
            lock.acquire()
        _local.writing = True
        try:
            with _translate_errors(), Session(self.engine, expire_on_commit=False) as session:
                try:
                    yield session
                    session.commit()
                except BaseException:
                    session.rollback()
                    raise
        finally:
            _local.writing = False
            if lock is not None:
                lock.release()

    @contextmanager
    def read(self) -> Iterator[Session]:
        with _translate_errors(), Session(self.engine, expire_on_commit=False) as session:
            yield session

    def ping(self) -> None:
        with self.read() as s:
            s.connection().exec_driver_sql("SELECT 1")

    def dispose(self) -> None:
        self.engine.dispose()


@contextmanager
def _translate_errors() -> Iterator[None]:
    try:
        yield
    except OperationalError as exc:
        raise DatabaseUnavailable(f"the database is unavailable: {exc.orig}") from exc
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise DatabaseUnavailable("the database connection was lost") from exc
        raise
