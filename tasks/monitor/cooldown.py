"""Whether a retrain request may train now: pure, table-tested; the retrain flow acts on it.

A request is *satisfied* when a retrain completed after it was made (a storm of drift events and clicks
collapses into the one retrain that was already running). Automatic requests (drift, schedule) are also
held back for ``cooldown_minutes`` after the last completed retrain; a person's manual request is not, nor
an erasure request (a data subject's right does not wait for a cooldown).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from tasks.audit import COMPLETED


class RetrainGate(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    go: bool
    why: str


def is_manual(reason: str) -> bool:
    """A person asked: a click in the UI or the command line, or a data subject's erasure request."""
    return reason.strip().lower().startswith(("manual", "erasure"))


def last_completed(entries: list[dict], model: str) -> datetime | None:
    """Completion time of the newest retrain of ``model`` in the audit log entries."""
    times = [datetime.fromisoformat(e.get("completed_at") or e["ts"]) for e in entries
             if e.get("action") == COMPLETED and e.get("model") == model and "ts" in e]
    return max(times, default=None)


def gate_retrain(last_done: datetime | None, requested_at: datetime, cooldown_minutes: int,
                   reason: str) -> RetrainGate:
    """Train unless a retrain finished after this request, or (automatic requests) within the cooldown."""
    if last_done is None:
        return RetrainGate(go=True, why="no earlier retrain")
    if last_done >= requested_at:
        return RetrainGate(go=False, why=f"already satisfied: a retrain completed at {last_done:%Y-%m-%dT%H:%M:%SZ}, "
                                         f"after this request ({requested_at:%Y-%m-%dT%H:%M:%SZ})")
    window = timedelta(0) if is_manual(reason) else timedelta(minutes=cooldown_minutes)
    if requested_at - last_done < window:
        return RetrainGate(go=False, why=f"cooldown: last retrain completed {last_done:%Y-%m-%dT%H:%M:%SZ}, "
                                         f"less than {cooldown_minutes} min before this request")
    return RetrainGate(go=True, why="outside the cooldown")


def clean_batch(batch: str | None) -> str | None:
    """Triggers render a missing payload field as None or an empty string."""
    return None if batch is None or batch.strip() in ("", "None", "null") else batch


def request_time(requested_at: str | None, scheduled: datetime) -> datetime:
    """When this retrain was asked for: the drift event's time when a trigger passed it, else the run's
    first scheduled time; never later than that. An automation may create the run for an old event after a
    retrain finished: the event, not the run, is the request the cooldown compares."""
    cleaned = clean_batch(requested_at)
    if cleaned is None:
        return scheduled
    try:
        when = datetime.fromisoformat(cleaned)
    except ValueError:
        return scheduled
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    return min(when, scheduled)


def newest_file(folder: Path) -> Path | None:
    files = [p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
             and not p.name.endswith(".pii.jsonl")] if folder.is_dir() else []
    return max(files, key=lambda p: (p.stat().st_mtime, p.name), default=None)
