"""Each measurement in a process of its own, so that its peak memory (ru_maxrss) is its own.

A benchmark script re-runs itself with `--one ...`; the child measures once and prints one JSON
line with `emit`; the parent reads it back with `measure`.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from typing import Any


def emit(seconds: float, **extra: Any) -> None:
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_mb": peak_mb, **extra}))


def measure(script: str, *args: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, script, *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])
