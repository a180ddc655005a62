"""How requests look in responses. The cloud label says `sandbox` wherever execution results show."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from gateway.adapters.store.models import Approval, ChangeRequest
from gateway.domain.clock import aware, rfc3339


def request_view(
    req: ChangeRequest, votes: list[Approval], *, now: datetime, vote_expiry: timedelta
) -> dict[str, Any]:
    """`votes` are those on the current content; each says until when it counts."""
    window = None
    if req.window_start and req.window_end:
        window = {"start": rfc3339(aware(req.window_start)), "end": rfc3339(aware(req.window_end))}
    return {
        "id": req.id,
        "state": req.state,
        "title": req.title,
        "team": req.team,
        "environment": req.environment,
        "requester": req.requester,
        "on_behalf_of": req.on_behalf_of,
        "cloud": req.cloud,
        "sandbox": req.cloud == "sandbox",
        "created_at": req.created_at.isoformat(),
        "updated_at": req.updated_at.isoformat(),
        "content_hash": req.content_hash,
        # Raised by every amendment and every return for approval: only votes of this round count.
        "approval_round": req.approval_round,
        "window": window,
        "review": req.review,
        "decision": req.decision,
        "approvals": [
            {
                "principal": v.principal,
                "group": v.group,
                "verdict": v.verdict,
                "comment": v.comment,
                "at": rfc3339(aware(v.created_at)),
                "expires_at": rfc3339(aware(v.created_at) + vote_expiry),
                "counts": now - aware(v.created_at) < vote_expiry,
            }
            for v in votes
        ],
        "outputs": req.outputs,
        "error": req.error,
        "request": req.envelope,
    }
