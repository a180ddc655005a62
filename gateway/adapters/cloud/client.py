"""boto3 clients for the configured cloud, with every call recorded for the ledger."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

from gateway import faults

SECRET_KEYS = ("password", "secret", "userdata", "privatekey", "token")
READ_PREFIXES = ("Describe", "Get", "List", "Head")


@dataclass
class CallRecord:
    service: str
    operation: str
    region: str
    params: dict[str, Any]
    status: int | None = None
    request_id: str | None = None
    error: str | None = None
    duration_ms: float = 0.0
    # Attempts botocore made beyond the first (throttling, 5xx) before this answer.
    retries: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "operation": self.operation,
            "region": self.region,
            "params": self.params,
            "http_status": self.status,
            "aws_request_id": self.request_id,
            "error": self.error,
            "duration_ms": round(self.duration_ms, 2),
            "retries": self.retries,
        }


def redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: "***" if any(s in k.lower() for s in SECRET_KEYS) else redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return value


_recording: ContextVar[list[CallRecord] | None] = ContextVar("cloud_calls", default=None)


class Cloud:
    """Hands out one boto3 client per (service, region); boto3 clients are thread-safe once built."""

    def __init__(self, *, label: str, endpoint_url: str | None, max_attempts: int = 4) -> None:
        self.label = label
        self.endpoint_url = endpoint_url
        self.max_attempts = max_attempts
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()
        self._session = boto3.session.Session()

    def client(self, service: str, region: str) -> Any:
        key = (service, region)
        with self._lock:
            if key not in self._clients:
                kwargs: dict[str, Any] = {
                    "region_name": region,
                    "config": Config(retries={"mode": "standard", "total_max_attempts": self.max_attempts}),
                }
                if self.endpoint_url:
                    kwargs["endpoint_url"] = self.endpoint_url
                if self.label == "sandbox":
                    kwargs.update(aws_access_key_id="sandbox", aws_secret_access_key="sandbox")
                client = self._session.client(service, **kwargs)  # type: ignore[call-overload]
                client.meta.events.register("before-parameter-build", _before_call)
                client.meta.events.register("after-call", _after_call)
                client.meta.events.register("after-call-error", _after_call_error)
                self._clients[key] = client
            return self._clients[key]

    @contextmanager
    def recording(self) -> Iterator[list[CallRecord]]:
        calls: list[CallRecord] = []
        token = _recording.set(calls)
        try:
            yield calls
        finally:
            _recording.reset(token)


def _before_call(params: Any, model: Any, context: dict[str, Any], **_: Any) -> None:
    calls = _recording.get()
    if calls is None:
        return
    rec = CallRecord(
        service=model.service_model.service_name,
        operation=model.name,
        region=context.get("client_region", ""),
        params=redact(dict(params)),
    )
    context["govgate_record"] = rec
    context["govgate_t0"] = time.perf_counter()
    calls.append(rec)


def _finish(context: dict[str, Any]) -> CallRecord | None:
    rec: CallRecord | None = context.get("govgate_record")
    if rec is not None:
        rec.duration_ms = (time.perf_counter() - context["govgate_t0"]) * 1000
    return rec


def _after_call(http_response: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    rec = _finish(context)
    if rec is None:
        return
    meta = parsed.get("ResponseMetadata", {})
    rec.status = meta.get("HTTPStatusCode", getattr(http_response, "status_code", None))
    rec.request_id = meta.get("RequestId")
    rec.retries = int(meta.get("RetryAttempts") or 0)
    if "Error" in parsed:
        rec.error = f"{parsed['Error'].get('Code')}: {parsed['Error'].get('Message')}"
    elif not rec.operation.startswith(READ_PREFIXES):
        faults.point("cloud-call")  # the cloud changed; the record of it is not written yet


def _after_call_error(exception: Exception, context: dict[str, Any], **_: Any) -> None:
    rec = _finish(context)
    if rec is not None:
        rec.error = f"{exception.__class__.__name__}: {exception}"
