"""Request states (design section 7) and the transitions allowed between them."""

from __future__ import annotations

from enum import StrEnum

from gateway.errors import Conflict


class State(StrEnum):
    RECEIVED = "received"
    PENDING_APPROVAL = "pending_approval"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    EXECUTING = "executing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    RETIRED = "retired"
    CANCELLED = "cancelled"


OPEN_STATES = frozenset({State.RECEIVED, State.PENDING_APPROVAL, State.APPROVED})

TRANSITIONS: dict[State, frozenset[State]] = {
    State.RECEIVED: frozenset({State.REJECTED, State.PENDING_APPROVAL, State.APPROVED, State.CANCELLED}),
    State.PENDING_APPROVAL: frozenset({State.APPROVED, State.REJECTED, State.EXPIRED, State.CANCELLED}),
    # The re-check right before execution may send an approved request back or reject it.
    State.APPROVED: frozenset({State.EXECUTING, State.PENDING_APPROVAL, State.REJECTED, State.CANCELLED}),
    State.EXECUTING: frozenset({State.SUCCEEDED, State.FAILED}),
    State.SUCCEEDED: frozenset({State.RETIRED}),
}


def check_transition(current: State | str, target: State) -> None:
    current = State(current)
    if target not in TRANSITIONS.get(current, frozenset()):
        raise Conflict(f"a request in state '{current}' cannot become '{target}'", state=str(current))
