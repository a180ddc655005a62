"""Serves the policy bundles to OPA over OPA's bundle and discovery protocol, with long polling.

OPA is configured only with this server and a discovery resource; the discovery bundle tells it which bundles to
load, so adding a policy set needs no OPA restart. With long polling OPA holds a request open and gets a changed
bundle within milliseconds of `publish`, which is how an edit in policies/ reaches the next decision.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
import tarfile
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote, unquote

from gateway.adapters.bundles import Bundle

log = logging.getLogger("gateway.bundles")

SERVICE = "gateway"
DISCOVERY_ROOT = "gateway_discovery"
DISCOVERY_DECISION = "gateway_discovery/config"
CONTENT_TYPE = "application/vnd.openpolicyagent.bundles"  # tells OPA this server supports long polling
LONG_POLL_SECONDS = 30
_WAIT = re.compile(r"wait=(\d+)")


@dataclass(frozen=True)
class _Blob:
    etag: str
    body: bytes


def _blob(body: bytes) -> _Blob:
    return _Blob('"' + hashlib.sha256(body).hexdigest()[:24] + '"', body)


def resource(name: str) -> str:
    return f"bundles/{quote(name, safe='')}.tar.gz"


def discovery_config(names: list[str], *, decision_logs: bool) -> dict[str, Any]:
    polling = {
        "long_polling_timeout_seconds": LONG_POLL_SECONDS,
        "min_delay_seconds": 1,
        "max_delay_seconds": 5,
    }
    config: dict[str, Any] = {
        "bundles": {n: {"service": SERVICE, "resource": resource(n), "polling": polling} for n in names}
    }
    if decision_logs:
        config["decision_logs"] = {"console": True}
    return config


def opa_config(url: str) -> dict[str, Any]:
    """What OPA is started with (or what an operator puts in an external OPA's config)."""
    polling = {
        "long_polling_timeout_seconds": LONG_POLL_SECONDS,
        "min_delay_seconds": 1,
        "max_delay_seconds": 5,
    }
    return {
        "services": {SERVICE: {"url": url}},
        "discovery": {
            "service": SERVICE,
            "resource": "discovery.tar.gz",
            "decision": DISCOVERY_DECISION,
            "polling": polling,
        },
    }


def _discovery_bundle(config: dict[str, Any]) -> bytes:
    data = json.dumps({DISCOVERY_ROOT: {"config": config}}, sort_keys=True).encode()
    manifest = json.dumps(
        {"revision": hashlib.sha256(data).hexdigest()[:16], "roots": [DISCOVERY_ROOT]}
    ).encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for path, body in (("/data.json", data), ("/.manifest", manifest)):
            info = tarfile.TarInfo(path)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    return buf.getvalue()


class BundleServer:
    """A small threaded HTTP server on loopback (or the address given) that only serves bundles."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, decision_logs: bool = True) -> None:
        self._blobs: dict[str, _Blob] = {}
        self._changed = threading.Condition()
        self._closed = False
        self.decision_logs = decision_logs
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                log.debug("bundle server: " + format, *args)

            def do_GET(self) -> None:
                server._serve(self)

        self._httpd = ThreadingHTTPServer((host, port), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://{host}:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="bundle-server", daemon=True)
        self._thread.start()

    def publish(self, bundles: dict[str, Bundle]) -> None:
        """Replaces what is served; OPAs waiting on a long poll get the changed bundles at once."""
        blobs = {resource(b.name): _blob(b.tarball()) for b in bundles.values()}
        config = discovery_config(sorted(bundles), decision_logs=self.decision_logs)
        blobs["discovery.tar.gz"] = _blob(_discovery_bundle(config))
        with self._changed:
            self._blobs = blobs
            self._changed.notify_all()

    def _serve(self, req: BaseHTTPRequestHandler) -> None:
        path = unquote(req.path.split("?", 1)[0].lstrip("/"))
        path = resource(path[len("bundles/") : -len(".tar.gz")]) if path.startswith("bundles/") else path
        known = req.headers.get("If-None-Match")
        wait = _WAIT.search(req.headers.get("Prefer", ""))
        with self._changed:
            blob = self._blobs.get(path)
            if blob is not None and blob.etag == known and wait:
                held = blob
                self._changed.wait_for(
                    lambda: self._closed or self._blobs.get(path, held).etag != known,
                    timeout=min(int(wait.group(1)), LONG_POLL_SECONDS),
                )
                blob = self._blobs.get(path)
        if blob is None:
            req.send_response(404)
            req.send_header("Content-Length", "0")
            req.end_headers()
            return
        if blob.etag == known:
            req.send_response(304)
            req.send_header("ETag", blob.etag)
            req.send_header("Content-Type", CONTENT_TYPE)
            req.end_headers()
            return
        req.send_response(200)
        req.send_header("ETag", blob.etag)
        req.send_header("Content-Type", CONTENT_TYPE)
        req.send_header("Content-Length", str(len(blob.body)))
        req.end_headers()
        req.wfile.write(blob.body)

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        self._httpd.shutdown()
        self._httpd.server_close()
