"""Idempotency-Key for POST /v1/requests, as the IETF draft (httpapi-idempotency-key-header) describes: the
same key, body and principal give the first response again; the same key with another body is an error; a
retry while the first is still in flight is a conflict. Keys are scoped to the principal and expire."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import orjson
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from gateway.adapters.store import messaging
from gateway.adapters.store.db import Database
from gateway.adapters.store.models import IdempotencyKey
from gateway.domain.clock import Clock, aware
from gateway.errors import Conflict, InvalidRequest

MAX_KEY_LENGTH = 255
# A key still in flight this long after it was taken, with no request stored under it, belongs to an attempt that
# died before storing anything (storing comes within moments of arrival): a retry may take it over.
IN_FLIGHT_LEASE = timedelta(seconds=60)


def parse_key(header: str) -> str:
    """The draft makes the key a structured-field string ("..."); bare tokens are accepted too."""
    key = header.strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1]
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise InvalidRequest(
            "the Idempotency-Key header is not a usable key",
            errors=[{"pointer": "", "in": "header", "name": "Idempotency-Key",
                     "detail": f"1 to {MAX_KEY_LENGTH} printable characters"}],
        )  # fmt: skip
    return key


def fingerprint(doc: Any) -> str:
    """Of the parsed body, so the same request sent as JSON or as YAML, or re-serialised, is the same."""
    return hashlib.sha256(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS, default=str)).hexdigest()


class Idempotency:
    def __init__(self, *, db: Database, clock: Clock, ttl: timedelta) -> None:
        self.db = db
        self.clock = clock
        self.ttl = ttl

    def begin(self, *, principal: str, key: str, fingerprint: str) -> IdempotencyKey | None:
        """None: go ahead, the key is now held in flight. Otherwise the finished record whose response to replay."""
        for _ in range(3):
            try:
                return self._claim(principal, key, fingerprint)
            except IntegrityError:
                continue  # another request inserted the same key at the same moment; read it again
        raise Conflict("a request with this Idempotency-Key is being processed; retry later")

    def _claim(self, principal: str, key: str, fp: str) -> IdempotencyKey | None:
        now = self.clock.now()
        with self.db.unit_of_work() as s:
            rec = messaging.idempotency_key(s, principal=principal, key=key)
            if rec is not None and aware(rec.created_at) + self.ttl <= now:
                messaging.delete_idempotency_key(s, principal=principal, key=key)
                s.flush()
                rec = None
            if rec is None:
                messaging.add_idempotency_key(
                    s, record=IdempotencyKey(principal=principal, key=key, fingerprint=fp, created_at=now)
                )
                return None
            if rec.fingerprint != fp:
                raise InvalidRequest(
                    "this Idempotency-Key was used with a different request body",
                    errors=[{"pointer": "", "in": "header", "name": "Idempotency-Key",
                             "detail": "reused with another body; use a new key for a new request"}],
                )  # fmt: skip
            if rec.status == "done" or rec.request_id is not None:
                return rec  # answered, or stored before its attempt died: the caller replays or resumes it
            if aware(rec.created_at) + IN_FLIGHT_LEASE <= now:
                rec.created_at = now  # nothing was stored under it: this attempt takes the key over
                s.add(rec)
                return None
            raise Conflict(
                "the first request with this Idempotency-Key is still being processed; retry later"
            )

    def finish(
        self, *, principal: str, key: str, status: int, body: dict[str, Any], request_id: str | None
    ) -> None:
        with self.db.unit_of_work() as s:
            messaging.finish_idempotency_key(
                s, principal=principal, key=key, status=status, body=body, request_id=request_id
            )

    def bind(self, s: Session, *, principal: str, key: str, request_id: str) -> None:
        """Inside the unit of work that stores the request: from then on a retry resumes it, whatever happens."""
        if not messaging.bind_idempotency_key(s, principal=principal, key=key, request_id=request_id):
            # Another attempt took the key over (this one stalled past the lease) and stored its request first:
            # raising rolls this attempt's request back, so the key stands for exactly one request.
            raise Conflict(
                "another request with this Idempotency-Key was stored first; retry to get its response"
            )

    def abandon(self, *, principal: str, key: str) -> None:
        """Nothing was stored: free the key so a retry runs anew (a key bound to a stored request stays)."""
        with self.db.unit_of_work() as s:
            messaging.delete_idempotency_key(s, principal=principal, key=key, unbound_only=True)
