"""A plain ASGI middleware (BaseHTTPMiddleware costs about a millisecond a request): latency metrics and the
sandbox label on every response."""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.metrics import HTTP_LATENCY


class TimingAndLabel:
    def __init__(self, app: ASGIApp, *, sandbox: bool) -> None:
        self.app = app
        self.sandbox = sandbox

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status: dict[str, Any] = {"code": 500}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                if self.sandbox:
                    message.setdefault("headers", []).append((b"x-gateway-cloud", b"sandbox"))
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            HTTP_LATENCY.labels(scope["method"], route, str(status["code"])).observe(time.perf_counter() - t0)
