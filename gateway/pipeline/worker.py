"""Execution workers: claim a queued request from the database, run it, give the job back.

Any number of workers (threads of one gateway, replicas, `govgate worker` processes) share one queue. A claim is
a lease: a worker that dies (SIGKILL, power loss) simply stops renewing it, and once it runs out another worker
claims the job and resumes the request from its journal."""

from __future__ import annotations

import logging
import os
import socket
import threading
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
            return jobs.open_jobs(s, now=self.clock.now()) == 0

    def _claim(self, request_id: str | None) -> tuple[str, str, int] | None:
        now = self.clock.now()
        with self.db.unit_of_work() as s:
            for rid in jobs.claimable_ids(s, now=now, limit=5, request_id=request_id):
                # One token per claim: even two threads of this worker never both hold one request.
                token = f"{self.id}/{uuid.uuid4().hex[:8]}"
                if jobs.claim(s, request_id=rid, worker=token, now=now, lease_until=now + self.lease):
                    job = jobs.get_job(s, request_id=rid)
                    return rid, token, job.attempts if job else 0
        return None

    def _claim_and_run(self, request_id: str | None) -> bool:
        claimed = self._claim(request_id)
        if claimed is None:
            return False
        rid, token, failures = claimed
        if failures >= self.max_attempts:
            # Its workers kept dying in it (each takeover counts): running it again would kill the next one too.
            self._give_up(
                rid, token, f"execution was cut off {failures} times (its workers stopped); given up"
            )
            return True
        journal = Journal(db=self.db, clock=self.clock, request_id=rid, worker=token, lease=self.lease)
        # The last attempt a cloud that keeps failing gets: its failure is then final (and rolled back).
        final = failures + 1 >= self.max_attempts
        try:
            with Heartbeat(journal, every=self.lease.total_seconds() / 3):
                release = self.execution.run(rid, self.evaluate, journal, final_attempt=final)
        except LostClaim:
            log.warning("request %s: lease lost to another worker; leaving it to that one", rid)
            return True
        except (PolicyUnavailable, DatabaseUnavailable) as exc:
            # Fails closed: nothing is done until they answer again. An outage of ours is not the request's
            # failure, so it does not count toward giving up.
            log.warning(
                "request %s: %s; trying again in %ss", rid, exc.detail, self.retry_after.total_seconds()
            )
            self._release(rid, token, Release(done=False, not_before=self.clock.now() + self.retry_after))
            return True
        except CloudUnavailable as exc:
            # The cloud kept throttling or failing: the step stays open and is tried again later, backing off.
            wait = self.retry_after * min(2**failures, 64)
            log.warning("request %s: %s; trying again in %ss", rid, exc.detail, wait.total_seconds())
            self._release(rid, token, Release(done=False, not_before=self.clock.now() + wait), failed=True)
            return True
        except Exception as exc:
            log.exception("request %s: execution attempt %d failed", rid, failures + 1)
            if final:
                self._give_up(rid, token, f"execution failed {failures + 1} times; the last error: {exc}")
                return True
            retry = Release(done=False, not_before=self.clock.now() + self.retry_after * 2**failures)
            self._release(rid, token, retry, failed=True)
            return True
        self._release(rid, token, release)
        return True

    def _give_up(self, rid: str, token: str, reason: str) -> None:
        try:
            self.execution.give_up(rid, reason)
        except Exception:
            log.exception("request %s: could not be marked failed", rid)
            return  # its lease runs out, and the next claim tries again
        self._release(rid, token, Release(done=True))

    def _release(self, rid: str, token: str, release: Release, failed: bool = False) -> None:
        try:
            with self.db.unit_of_work() as s:
                jobs.release(s, request_id=rid, worker=token, now=self.clock.now(), failed=failed,
                             status="done" if release.done else "queued", not_before=release.not_before)  # fmt: skip
        except DatabaseUnavailable:
            log.warning("request %s: could not give the job back; its lease runs out instead", rid)


class Heartbeat:
    """Renews a claim's lease in the background while its request runs, so a long step (an instance stopping, a
    cloud answering slowly) never outlives it. A renewal that finds the claim gone marks the journal lost: its next
    record raises LostClaim."""

    def __init__(self, journal: Journal, every: float) -> None:
        self.journal = journal
        self.every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-{journal.request_id[:8]}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.journal.heartbeat()
            except LostClaim:
                return
            except Exception:
                log.warning("request %s: could not renew its lease; trying again", self.journal.request_id)
