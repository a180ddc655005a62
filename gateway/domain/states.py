"""Request states (design section 7) and the transitions allowed between them."""

from __future__ import annotations

from enum import StrEnum

from gateway.errors import Conflict


class State(StrEnum):
    RECEIVED = "received"
    PENDING_APPROVAL = "pending_approval"
    APPROVED = "approved"
    # Approved, waiting for its change window to open.
    SCHEDULED = "scheduled"
    REJECTED = "rejected"
    EXPIRED = "expired"
    EXECUTING = "executing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    RETIRED = "retired"
    CANCELLED = "cancelled"


OPEN_STATES = frozenset({State.RECEIVED, State.PENDING_APPROVAL, State.APPROVED, State.SCHEDULED})
# A request's content may change (and earlier votes become void) only before it is approved.
AMENDABLE_STATES = frozenset({State.RECEIVED, State.PENDING_APPROVAL})

TRANSITIONS: dict[State, frozenset[State]] = {
    # received -> received: amended while policy had not run yet.
    State.RECEIVED: frozenset(
        {State.RECEIVED, State.REJECTED, State.PENDING_APPROVAL, State.APPROVED, State.CANCELLED}
    ),
    # Back to received: amended, and evaluated again.
    State.PENDING_APPROVAL: frozenset(
        {State.APPROVED, State.REJECTED, State.EXPIRED, State.CANCELLED, State.RECEIVED}
    ),
    # The re-check right before execution may send an approved request back or reject it. `failed` without
    # executing: its execution kept failing before any cloud call, and the worker gave up.
    State.APPROVED: frozenset(
        {
            State.EXECUTING,
            State.SCHEDULED,
            State.EXPIRED,
            State.PENDING_APPROVAL,
            State.REJECTED,
            State.CANCELLED,
            State.FAILED,
        }
    ),
    State.SCHEDULED: frozenset(
        {
            State.EXECUTING,
            State.EXPIRED,
            State.PENDING_APPROVAL,
            State.REJECTED,
            State.CANCELLED,
            State.FAILED,
        }
    ),
    State.EXECUTING: frozenset({State.SUCCEEDED, State.FAILED}),
    State.SUCCEEDED: frozenset({State.RETIRED}),
}


def check_transition(current: State | str, target: State) -> None:
    current = State(current)
    if target not in TRANSITIONS.get(current, frozenset()):
        raise Conflict(f"a request in state '{current}' cannot become '{target}'", state=str(current))
