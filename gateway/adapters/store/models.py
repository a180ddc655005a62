"""Tables. Base classes hold the public fields; `table=True` classes add what only storage needs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class ChangeRequestBase(SQLModel):
    title: str
    team: str = Field(index=True)
    environment: str
    requester: str = Field(index=True)
    state: str = Field(index=True)
    cloud: str
    cost_monthly: float = 0.0
    error: str | None = None
    # The person an integration submitted for (ServiceNow's requested_by): never an approver of it either.
    on_behalf_of: str | None = None
    # change.window, when given: executed only inside it.
    window_start: datetime | None = None
    window_end: datetime | None = None
    # Emergency changes: "pending" until someone reviews them after implementation, then "done".
    review: str | None = Field(default=None, index=True)


class ChangeRequest(ChangeRequestBase, table=True):
    __tablename__ = "change_requests"

    id: str = Field(primary_key=True)
    envelope: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    requester_groups: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    content_hash: str
    decision: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    # Cloud ids of what execution created, by resource address.
    outputs: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, index=True)
    updated_at: datetime = Field(default_factory=utcnow)
    # When the request last started waiting for approval (pending requests expire from here).
    pending_since: datetime | None = None
    # Raised when the re-check before execution sends the request back for approval: earlier votes stop counting.
    approval_round: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


class Approval(SQLModel, table=True):
    """One vote. Only votes for the request's current content hash, younger than the expiry, count."""

    __tablename__ = "approvals"

    id: int | None = Field(default=None, primary_key=True)
    request_id: str = Field(index=True, foreign_key="change_requests.id")
    principal: str
    group: str
    verdict: str
    comment: str = ""
    content_hash: str
    round: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    created_at: datetime = Field(default_factory=utcnow)


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_tokens"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True)
    # The person or system the token belongs to (the principal id); one person's tokens share it, so separation
    # of duties holds across them. Defaults to the token's name.
    subject: str | None = None
    role: str
    groups: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    token_hash: str = Field(index=True, unique=True)
    created_at: datetime = Field(default_factory=utcnow)
    revoked_at: datetime | None = None


class InventoryResource(SQLModel, table=True):
    """What the gateway manages in the cloud: the `before` of updates and deletes, a team's committed spend."""

    __tablename__ = "inventory"

    id: str = Field(primary_key=True)
    type: str
    address: str
    team: str = Field(index=True)
    environment: str
    region: str
    cloud: str
    properties: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    request_id: str = Field(foreign_key="change_requests.id")
    monthly_cost: float = 0.0
    status: str = Field(
        default="active", index=True
    )  # active | retired | missing (drift: gone from the cloud)
    created_at: datetime = Field(default_factory=utcnow)
    # Leases: when the gateway files a request to retire it, when subscribers were warned, and that request.
    lease_expires_at: datetime | None = Field(default=None, index=True)
    lease_warned_at: datetime | None = None
    retire_request_id: str | None = Field(default=None, index=True)
    # Drift: what differed from the cloud at the last check (empty when nothing did), and when that was.
    drift: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False, server_default="{}")
    )
    drift_checked_at: datetime | None = None


class ExecutionJob(SQLModel, table=True):
    """The execution queue: one row per approved request. A worker claims a row (FOR UPDATE SKIP LOCKED on
    PostgreSQL) for a lease; a worker that dies loses its claim when the lease runs out, and another resumes."""

    __tablename__ = "execution_jobs"

    request_id: str = Field(primary_key=True, foreign_key="change_requests.id")
    status: str = Field(default="queued", index=True)  # queued | running | done
    not_before: datetime = Field(default_factory=utcnow, index=True)
    worker: str | None = None
    lease_until: datetime | None = None
    attempts: int = 0
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class ExecutionStep(SQLModel, table=True):
    """One resource of one request, recorded before its cloud calls (`started`) and after (`done`/`failed`). After
    a crash, `started` without an end is the step to look for in the cloud before doing it again."""

    __tablename__ = "execution_steps"
    __table_args__ = (UniqueConstraint("request_id", "phase", "idx"),)

    id: int | None = Field(default=None, primary_key=True)
    request_id: str = Field(index=True, foreign_key="change_requests.id")
    phase: str  # apply | rollback
    idx: int
    address: str
    action: str
    status: str  # started | done | failed
    resource_id: str | None = None
    error: str | None = None
    attempts: int = 1
    started_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None


class LedgerEvent(SQLModel, table=True):
    """Append-only: triggers refuse UPDATE, and DELETE of anything not archived (migration 0005)."""

    __tablename__ = "ledger_events"
    # Two writers can never both append after one event, so the chain cannot fork.
    __table_args__ = (UniqueConstraint("prev_hash", name="uq_ledger_events_prev_hash"),)

    seq: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    id: str = Field(unique=True)
    ts: str
    type: str = Field(index=True)
    request_id: str | None = Field(default=None, index=True)
    actor: str
    data: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    prev_hash: str
    hash: str


class LedgerCheckpoint(SQLModel, table=True):
    """A signed statement that the chain's head was `hash` at `seq`: what was there then can never be rewritten
    without the signing key, not even by recomputing every hash."""

    __tablename__ = "ledger_checkpoints"

    seq: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    hash: str
    ts: str
    key_id: str
    signature: str


class LedgerSegment(SQLModel, table=True):
    """Events moved to object storage (`govgate audit archive`): a signed JSONL segment per contiguous range. Only
    archived events may leave the events table (its delete trigger checks this table)."""

    __tablename__ = "ledger_segments"

    id: int | None = Field(default=None, primary_key=True)
    first_seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    last_seq: int = Field(sa_column=Column(BigInteger, nullable=False, unique=True))
    prev_hash: str
    last_hash: str
    url: str
    sha256: str
    events: int
    created_at: str


class LedgerHead(SQLModel, table=True):
    """One row; appenders lock it (FOR UPDATE on PostgreSQL) so the chain never forks."""

    __tablename__ = "ledger_head"

    id: int = Field(default=1, primary_key=True)
    seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    hash: str


class Exemption(SQLModel, table=True):
    """A waiver of one rule for one team: requested by an admin, in force once a second person approves it."""

    __tablename__ = "exemptions"

    id: str = Field(primary_key=True)
    rule: str  # <set>/<rule id pattern>
    team: str = Field(index=True)
    environment: str
    address: str
    reason: str
    ticket: str
    expires_at: datetime
    status: str = Field(index=True)  # pending | active | rejected | revoked
    granted_by: str
    approved_by: str | None = None
    decided_at: datetime | None = None
    comment: str = ""
    created_at: datetime = Field(default_factory=utcnow)


class IdempotencyKey(SQLModel, table=True):
    """POST /v1/requests with an Idempotency-Key: the first response, replayed for the same key and body."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("principal", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    principal: str
    key: str
    fingerprint: str
    status: str = "in_flight"  # in_flight | done
    response_status: int | None = None
    response_body: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    request_id: str | None = None
    created_at: datetime = Field(default_factory=utcnow, index=True)


class ItsmLink(SQLModel, table=True):
    """A gateway request created from an ITSM record, and the record it updates on every state change."""

    __tablename__ = "itsm_links"
    __table_args__ = (UniqueConstraint("system", "external_id"),)

    id: int | None = Field(default=None, primary_key=True)
    request_id: str = Field(index=True, foreign_key="change_requests.id")
    system: str  # servicenow
    external_id: str  # sys_id
    number: str | None = None
    requested_by: str | None = None
    extra: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    record_hash: str
    created_at: datetime = Field(default_factory=utcnow)


class WebhookSubscription(SQLModel, table=True):
    __tablename__ = "webhook_subscriptions"

    id: str = Field(primary_key=True)
    url: str
    events: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    secret: str
    description: str = ""
    created_by: str
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow)


class OutboxMessage(SQLModel, table=True):
    """A message to another system, written in the same transaction as the change it reports, so a crash can
    neither lose it nor send it for a change that never committed."""

    __tablename__ = "outbox"

    id: int | None = Field(default=None, primary_key=True)
    msg_id: str = Field(unique=True)
    kind: str  # webhook | servicenow
    target: str  # subscription id, or the ServiceNow sys_id
    # Messages with the same ordering key are delivered one at a time, oldest first (ServiceNow state updates).
    ordering_key: str | None = Field(default=None, index=True)
    event_type: str
    request_id: str | None = Field(default=None, index=True)
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    status: str = Field(default="pending", index=True)  # pending | delivered | failed
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, index=True)
    last_error: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    delivered_at: datetime | None = None


class DeliveryAttempt(SQLModel, table=True):
    """The delivery log: one row per attempt."""

    __tablename__ = "delivery_attempts"

    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(index=True, foreign_key="outbox.id")
    attempt: int
    at: datetime = Field(default_factory=utcnow)
    ok: bool
    status: int | None = None
    error: str | None = None
    duration_ms: float = 0.0
