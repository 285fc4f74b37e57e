"""Whether a retrain request may train now: pure, table-tested; the retrain flow acts on it.

A request is *satisfied* when a retrain completed after it was made (a storm of drift events and clicks
collapses into the one retrain that was already running). Automatic requests (drift, schedule) are also
held back for ``cooldown_minutes`` after the last completed retrain; a person's manual request is not.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict

COMPLETED = "retrain.completed"
SKIPPED = "retrain.skipped"


class RetrainGate(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    go: bool
    why: str


def is_manual(reason: str) -> bool:
    return reason.strip().lower().startswith("manual")


def last_completed(entries: list[dict], model: str) -> datetime | None:
    """Completion time of the newest retrain of ``model`` in the audit log entries."""
    times = [datetime.fromisoformat(e.get("completed_at") or e["ts"]) for e in entries
             if e.get("action") == COMPLETED and e.get("model") == model and "ts" in e]
    return max(times, default=None)


def decide_retrain(last_done: datetime | None, requested_at: datetime, cooldown_minutes: int,
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
