"""The sandbox cloud: an in-process moto server on loopback. Nothing here touches real AWS."""

from __future__ import annotations

import logging

from moto.server import ThreadedMotoServer

log = logging.getLogger("gateway.cloud")


class SandboxCloud:
    def __init__(self) -> None:
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.endpoint_url = ""

    def start(self) -> str:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"
        log.warning("cloud=sandbox: moto server at %s (no real AWS resources are created)", self.endpoint_url)
        return self.endpoint_url

    def stop(self) -> None:
        self._server.stop()
