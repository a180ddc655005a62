"""How requests look in responses. The cloud label says `sandbox` wherever execution results show."""

from __future__ import annotations

from typing import Any

from gateway.adapters.store.models import Approval, ChangeRequest


def request_view(req: ChangeRequest, votes: list[Approval]) -> dict[str, Any]:
    return {
        "id": req.id,
        "state": req.state,
        "title": req.title,
        "team": req.team,
        "environment": req.environment,
        "requester": req.requester,
        "cloud": req.cloud,
        "sandbox": req.cloud == "sandbox",
        "created_at": req.created_at.isoformat(),
        "updated_at": req.updated_at.isoformat(),
        "content_hash": req.content_hash,
        "decision": req.decision,
        "approvals": [
            {
                "principal": v.principal,
                "group": v.group,
                "verdict": v.verdict,
                "comment": v.comment,
                "at": v.created_at.isoformat(),
            }
            for v in votes
        ],
        "outputs": req.outputs,
        "error": req.error,
        "request": req.envelope,
    }
