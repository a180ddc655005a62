"""Keyword-only data access for the execution queue and its step records. None of these commit."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, and_, case, or_, update
from sqlmodel import Session, col, select

from gateway.adapters.store.models import ExecutionJob, ExecutionStep


def enqueue(session: Session, *, request_id: str, now: datetime, not_before: datetime | None = None) -> None:
    """Queues (or queues again, after the re-check sent it back for approval) one request's execution."""
    job = session.get(ExecutionJob, request_id)
    if job is None:
        session.add(
            ExecutionJob(request_id=request_id, not_before=not_before or now, created_at=now, updated_at=now)
        )
    else:
        job.status, job.not_before, job.worker, job.lease_until = "queued", not_before or now, None, None
        job.updated_at, job.attempts = now, 0  # approved again: a new execution, a new budget
        session.add(job)
    session.flush()


def _claimable(now: datetime) -> ColumnElement[bool]:
    # Queued and due, or running under a lease that ran out (its worker died).
    return or_(
        and_(col(ExecutionJob.status) == "queued", col(ExecutionJob.not_before) <= now),
        and_(col(ExecutionJob.status) == "running", col(ExecutionJob.lease_until) < now),
    )


def claimable_ids(session: Session, *, now: datetime, limit: int, request_id: str | None = None) -> list[str]:
    """Due jobs, oldest first. FOR UPDATE SKIP LOCKED on PostgreSQL: replicas claiming at once each get other rows
    (SQLite, which has one writer at a time, ignores it; the conditional claim below still decides)."""
    stmt = select(ExecutionJob.request_id).where(_claimable(now))
    if request_id is not None:
        stmt = stmt.where(ExecutionJob.request_id == request_id)
    stmt = stmt.order_by(col(ExecutionJob.not_before)).limit(limit).with_for_update(skip_locked=True)
    return list(session.exec(stmt).all())


def claim(session: Session, *, request_id: str, worker: str, now: datetime, lease_until: datetime) -> bool:
    """Takes one job for `worker` (a claim token: one per claim) if it is still claimable: True if it now holds it.
    Taking over a job whose worker's lease ran out counts as a failed attempt (that worker died in it)."""
    stmt = (
        update(ExecutionJob)
        .where(col(ExecutionJob.request_id) == request_id, _claimable(now))
        .values(
            status="running",
            worker=worker,
            lease_until=lease_until,
            updated_at=now,
            attempts=ExecutionJob.attempts + case((col(ExecutionJob.status) == "running", 1), else_=0),
        )
    )
    return bool(session.connection().execute(stmt).rowcount == 1)


def renew(session: Session, *, request_id: str, worker: str, now: datetime, lease_until: datetime) -> bool:
    """Extends this worker's lease; False if the job is no longer this worker's (its lease ran out and another
    worker took it over)."""
    stmt = (
        update(ExecutionJob)
        .where(
            col(ExecutionJob.request_id) == request_id,
            col(ExecutionJob.worker) == worker,
            col(ExecutionJob.status) == "running",
        )
        .values(lease_until=lease_until, updated_at=now)
    )
    return bool(session.connection().execute(stmt).rowcount == 1)


def release(
    session: Session,
    *,
    request_id: str,
    worker: str,
    now: datetime,
    status: str,
    not_before: datetime | None = None,
    failed: bool = False,
) -> None:
    """Gives the job back: `done`, or `queued` again until `not_before` (a change window that has not opened, or a
    retry after a failed attempt, which `failed` counts)."""
    values: dict[str, object] = {"status": status, "worker": None, "lease_until": None, "updated_at": now}
    if failed:
        values["attempts"] = ExecutionJob.attempts + 1
    if not_before is not None:
        values["not_before"] = not_before
    session.connection().execute(
        update(ExecutionJob)
        .where(col(ExecutionJob.request_id) == request_id, col(ExecutionJob.worker) == worker)
        .values(**values)
    )


def get_job(session: Session, *, request_id: str) -> ExecutionJob | None:
    return session.get(ExecutionJob, request_id)


def open_jobs(session: Session, *, now: datetime) -> int:
    """Jobs running, or queued and due: what a worker asked to run until idle waits for (not a change window
    that opens next week)."""
    stmt = select(ExecutionJob.request_id).where(
        or_(col(ExecutionJob.status) == "running",
            and_(col(ExecutionJob.status) == "queued", col(ExecutionJob.not_before) <= now))
    )  # fmt: skip
    return len(session.exec(stmt).all())


def steps(session: Session, *, request_id: str) -> dict[tuple[str, int], ExecutionStep]:
    stmt = select(ExecutionStep).where(ExecutionStep.request_id == request_id)
    return {(st.phase, st.idx): st for st in session.exec(stmt).all()}


def start_step(
    session: Session, *, request_id: str, phase: str, idx: int, address: str, action: str, now: datetime
) -> ExecutionStep:
    """Records that a step's cloud calls are about to be made (again, after a crash: attempts counts them)."""
    stmt = select(ExecutionStep).where(
        ExecutionStep.request_id == request_id, ExecutionStep.phase == phase, ExecutionStep.idx == idx
    )
    step = session.exec(stmt).first()
    if step is None:
        step = ExecutionStep(request_id=request_id, phase=phase, idx=idx, address=address, action=action,
                             status="started", started_at=now)  # fmt: skip
    else:
        step.attempts += 1  # started_at stays the first attempt's: what a resumed step made is newer than it
        step.status, step.error = "started", None
    session.add(step)
    session.flush()
    return step


def end_step(
    session: Session,
    *,
    request_id: str,
    phase: str,
    idx: int,
    status: str,
    now: datetime,
    resource_id: str | None = None,
    error: str | None = None,
) -> None:
    session.connection().execute(
        update(ExecutionStep)
        .where(
            col(ExecutionStep.request_id) == request_id,
            col(ExecutionStep.phase) == phase,
            col(ExecutionStep.idx) == idx,
        )
        .values(status=status, resource_id=resource_id, error=error, finished_at=now)
    )
