"""Runs a real `opa run --server` on a free loopback port when no external OPA is configured."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

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
    """Owns one OPA child process. Decision logging is on so that every answer carries a decision_id."""

    def __init__(
        self, policy_dir: Path, log_dir: Path, binary: str | None = None, port: int | None = None
    ) -> None:
        self.binary = find_opa(binary)
        self.policy_dir = policy_dir.resolve()
        self.log_dir = log_dir
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, *, wait_paths: list[str], timeout: float = 30.0) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        logfile = open(self.log_dir / "opa.log", "ab")  # noqa: SIM115  (lives as long as the process)
        cmd = [
            self.binary, "run", "--server",
            "--addr", f"127.0.0.1:{self.port}",
            "--log-level", "error",
            "--set", "decision_logs.console=true",
            "--ignore", "policy-sets.yaml",
            "--ignore", "*_test.rego",
            str(self.policy_dir),
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
                if client.loaded(wait_paths):
                    log.info("local OPA ready at %s with %s", self.url, self.policy_dir)
                    return
                time.sleep(0.05)
        finally:
            client.close()
        self.stop()
        raise PolicyUnavailable(f"OPA did not report its policies loaded within {timeout:.0f}s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
