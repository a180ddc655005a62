"""Outgoing webhooks signed the Standard Webhooks way (https://www.standardwebhooks.com/).

Receivers verify with any Standard Webhooks library: HMAC-SHA256 over "{id}.{timestamp}.{body}" with the
subscription's secret, sent as `webhook-signature: v1,<base64>`. The id stays the same across retries of one
event, so receivers can drop duplicates.
"""

from __future__ import annotations

import base64
import math
import secrets
from datetime import UTC, datetime

import httpx
from standardwebhooks import Webhook

from gateway.adapters.itsm.delivery import Delivery, deliver

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    """A fresh signing secret in the format standardwebhooks accepts: whsec_ + base64 of 24 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


class WebhookSender:
    def __init__(self, http: httpx.Client) -> None:
        self._http = http

    def send(self, *, url: str, secret: str, msg_id: str, timestamp: datetime, body: bytes) -> Delivery:
        # standardwebhooks' sign() stamps tzinfo=UTC onto the datetime rather than converting it, so an aware
        # non-UTC time would be signed as the wrong instant: hand it UTC (a naive time is taken as UTC).
        if timestamp.tzinfo is not None:
            timestamp = timestamp.astimezone(UTC)
        signature = Webhook(secret).sign(msg_id, timestamp, body.decode())
        headers = {
            "webhook-id": msg_id,
            "webhook-timestamp": str(math.floor(timestamp.replace(tzinfo=UTC).timestamp())),
            "webhook-signature": signature,
            "content-type": "application/json",
            "user-agent": "governance-gateway",
        }
        return deliver(self._http, "POST", url, peer="the webhook receiver", content=body, headers=headers)
