"""Execution workers: claim a queued request from the database, run it, give the job back.

Any number of workers (threads of one gateway, replicas, `govgate worker` processes) share one queue. A claim is
a lease: a worker that dies (SIGKILL, power loss) simply stops renewing it, and once it runs out another worker
claims the job and resumes the request from its journal."""

from __future__ import annotations

import logging
import os
import socket
import uuid
from datetime import timedelta

from gateway.adapters.store import jobs
from gateway.adapters.store.db import Database
from gateway.domain.clock import Clock
from gateway.errors import CloudUnavailable, DatabaseUnavailable, PolicyUnavailable
from gateway.pipeline.execution import Evaluate, Execution, Release
from gateway.pipeline.journal import Journal, LostClaim

log = logging.getLogger("gateway.worker")


class Worker:
    def __init__(
        self,
        *,
        db: Database,
        execution: Execution,
        evaluate: Evaluate,
        clock: Clock,
        lease: timedelta,
        retry_after: timedelta,
        max_attempts: int,
    ) -> None:
        self.db = db
        self.execution = execution
        self.evaluate = evaluate
        self.clock = clock
        self.lease = lease
        self.retry_after = retry_after
        self.max_attempts = max_attempts
        self.id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def drain(self, limit: int = 20) -> int:
        """Runs due jobs one claim at a time (a claim's lease then covers only the job it is for)."""
        ran = 0
        while ran < limit and self._claim_and_run(None):
            ran += 1
        return ran

    def run_now(self, request_id: str) -> bool:
        """Runs this request's job now if it is due and nobody holds it (right after an approval)."""
        return self._claim_and_run(request_id)

    def idle(self) -> bool:
        with self.db.read() as s:
            return jobs.open_jobs(s) == 0

    def _claim(self, request_id: str | None) -> tuple[str, int] | None:
        now = self.clock.now()
        with self.db.unit_of_work() as s:
            for rid in jobs.claimable_ids(s, now=now, limit=5, request_id=request_id):
                if jobs.claim(s, request_id=rid, worker=self.id, now=now, lease_until=now + self.lease):
                    job = jobs.get_job(s, request_id=rid)
                    return rid, job.attempts if job else 1
        return None

    def _claim_and_run(self, request_id: str | None) -> bool:
        claimed = self._claim(request_id)
        if claimed is None:
            return False
        rid, attempt = claimed
        journal = Journal(db=self.db, clock=self.clock, request_id=rid, worker=self.id, lease=self.lease)
        final = attempt >= self.max_attempts
        try:
            release = self.execution.run(rid, self.evaluate, journal, final_attempt=final)
        except LostClaim:
            log.warning("request %s: lease lost to another worker; leaving it to that one", rid)
            return True
        except (PolicyUnavailable, DatabaseUnavailable, CloudUnavailable) as exc:
            # Fails closed: nothing more is done now, and the job waits to be tried again (backing off).
            wait = self.retry_after * min(2 ** (attempt - 1), 64)
            log.warning("request %s: %s; trying again in %ss", rid, exc.detail, wait.total_seconds())
            self._release(rid, Release(done=False, not_before=self.clock.now() + wait))
            return True
        except Exception:
            log.exception("request %s: execution attempt %d failed", rid, attempt)
            self._release(rid, Release(done=False, not_before=self.clock.now() + self.retry_after))
            return True
        self._release(rid, release)
        return True

    def _release(self, rid: str, release: Release) -> None:
        try:
            with self.db.unit_of_work() as s:
                jobs.release(s, request_id=rid, worker=self.id, now=self.clock.now(),
                             status="done" if release.done else "queued", not_before=release.not_before)  # fmt: skip
        except DatabaseUnavailable:
            log.warning("request %s: could not give the job back; its lease runs out instead", rid)
