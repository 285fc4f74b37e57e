"""The registry's audit trail: alias moves serialised by one lock, and each recorded in ``audit.jsonl``.

``registry_lock`` is a file lock beside the work folder that every process moving an alias (promotion,
approval, rollback) holds while it reads and moves it; ``audit`` appends one JSON line saying who or
what triggered the move, when, what and why, and ``read_audit`` reads the log back (the monitor's
retrain cooldown reads it too).
"""

from __future__ import annotations

import getpass
import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from filelock import FileLock

from tasks.config import PipelineConfig


@contextmanager
def registry_lock(cfg: PipelineConfig, timeout_s: float = 600) -> Iterator[None]:
    """Serialise alias moves: a file lock beside the work folder (shared by every process using it)."""
    path = cfg.work_path("registry.lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path), timeout=timeout_s, thread_local=False):
        yield


def audit(cfg: PipelineConfig, action: str, **fields) -> dict:
    """Append one line to ``audit.jsonl``: who/what triggered it, when, what and why."""
    entry = {
        "ts": datetime.now(UTC).isoformat(timespec="seconds"),
        "action": action,
        "model": cfg.model_name,
        "actor": f"{getpass.getuser()}@{socket.gethostname()}",
        **fields,
    }
    path = cfg.work_path("audit.jsonl")
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock", timeout=60, thread_local=False):
        with path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(entry, default=str) + "\n")
    return entry


def read_audit(cfg: PipelineConfig) -> list[dict]:
    path = cfg.work_path("audit.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
