"""Runs a real `opa run --server` on a free loopback port when no external OPA is configured."""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from gateway.adapters.bundle_server import opa_config
from gateway.adapters.opa import OpaClient
from gateway.errors import PolicyUnavailable
from gateway.settings import PROJECT_ROOT

log = logging.getLogger("gateway.opa")


def find_opa(configured: str | None = None) -> str:
    candidates = [configured, str(PROJECT_ROOT / ".cache" / "bin" / "opa"), shutil.which("opa")]
    for c in candidates:
        if c and Path(c).is_file() and os.access(c, os.X_OK):
            return c
    raise PolicyUnavailable(
        "no OPA binary found: run `scripts/install-opa.sh` (it uses the opa on PATH if its version fits, "
        "or builds the pinned version with Go), or set GATEWAY_OPA_URL to an OPA server"
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalOpa:
    """Owns one OPA child process that takes its bundles (and, through discovery, its configuration) from a
    bundle server. Decision logs go to `log_dir/opa.log` when the bundle server asks for them."""

    def __init__(
        self, bundle_url: str, log_dir: Path, binary: str | None = None, port: int | None = None
    ) -> None:
        self.binary = find_opa(binary)
        self.bundle_url = bundle_url
        self.log_dir = log_dir
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, *, revisions: dict[str, str], timeout: float = 30.0) -> None:
        """Starts OPA and waits until it runs exactly these bundle revisions."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        config = self.log_dir / f"opa-{self.port}.yaml"
        config.write_text(json.dumps(opa_config(self.bundle_url), indent=1))
        logfile = open(self.log_dir / "opa.log", "ab")  # noqa: SIM115  (lives as long as the process)
        cmd = [
            self.binary, "run", "--server",
            "--addr", f"127.0.0.1:{self.port}",
            "--log-level", "error",
            "--config-file", str(config),
        ]  # fmt: skip
        log.info("starting local OPA: %s", " ".join(cmd))
        self.proc = subprocess.Popen(cmd, stdout=logfile, stderr=logfile, stdin=subprocess.DEVNULL)
        logfile.close()
        client = OpaClient(self.url, timeout=1.0)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    tail = (self.log_dir / "opa.log").read_text(errors="replace")[-2000:]
                    raise PolicyUnavailable(
                        f"OPA exited with code {self.proc.returncode} while starting:\n{tail}"
                    )
                loaded = client.revisions() or {}
                if all(loaded.get(k) == v for k, v in revisions.items()):
                    log.info("local OPA ready at %s with bundles from %s", self.url, self.bundle_url)
                    return
                time.sleep(0.02)
        finally:
            client.close()
        self.stop()
        tail = (self.log_dir / "opa.log").read_text(errors="replace")[-2000:]
        raise PolicyUnavailable(f"OPA did not load the policy bundles within {timeout:.0f}s:\n{tail}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
