"""Fault injection for the crash tests: `GATEWAY_FAULT_KILL_AT=<point>:<n>` kills the process with SIGKILL the n-th
time it passes <point>. Points: `executing` (the request marked executing, nothing called yet), `step-started`
(a step recorded as started, its calls not made), `cloud-call` (a call that changes the cloud returned, not yet
recorded), `step-done` (a step's end recorded). Unset, as in any real deployment, every point is a no-op."""

from __future__ import annotations

import os
import signal
from collections import Counter

ENV = "GATEWAY_FAULT_KILL_AT"
_passed: Counter[str] = Counter()


def point(name: str) -> None:
    spec = os.environ.get(ENV)
    if not spec:
        return
    want, _, nth = spec.partition(":")
    if want != name:
        return
    _passed[name] += 1
    if _passed[name] == int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
