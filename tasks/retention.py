"""How long personal data stays on disk: raw copies for the run that needs them, predictions for a set time.

Common layer. Ingest writes an unscrubbed copy of the documents into the run folder (``RAW_FILES``); the
scrub stage reads it. With ``retention.keep_raw_days: 0`` (the default) the copy is deleted as soon as
the scrubbed dataset is written, and by the flows' failure and cancellation hooks when a run stops
before that; ``tunegate purge`` removes copies kept longer, and prediction-store days past
``retention.predictions_days``. Nothing here reads a file's contents.
"""

from __future__ import annotations

import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class RetentionConfig(BaseModel):
    """How long personal data, and models trained on it, stay on disk (``tunegate purge``; the stores that can
    serve or restore a model are purged by ``tasks.subjects.stores``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Days the unscrubbed copy stays after the scrub (0: deleted once the scrubbed data is written, or the run fails).
    keep_raw_days: int = Field(0, ge=0)
    predictions_days: int | None = Field(None, ge=1)  # days of predictions `tunegate purge` keeps (None: all)
    # A version trained on an erased subject, once one trained without them is champion, loses its aliases;
    # "delete_artifacts" also deletes its weights and reference sample (card, eval, lineage stay); "keep" not.
    erased_versions: Literal["delete_artifacts", "keep"] = "delete_artifacts"
    # Maximum ages of what could serve or restore a model (each purged by `tunegate purge`): resume checkpoints
    # under train-work/ (a failed or killed fine-tune's; one training now is never touched) ...
    checkpoints_days: int = Field(7, ge=0)
    # ... the artifacts of MLflow runs soft-deleted or never registered as a version (counted from their end) ...
    deleted_runs_days: int = Field(30, ge=0)
    # ... a run folder's own model copy when no version of that run is registered ...
    run_models_days: int = Field(30, ge=0)
    # ... the monitor's cached reference profiles (texts, embeddings) not used for this long ...
    monitor_cache_days: int = Field(30, ge=0)
    # ... and ``.tmp-*`` leftovers of writes a crash cut off (hours: a live write is younger).
    leftovers_hours: int = Field(24, ge=1)
    # A version pending erasure (trained on an erased subject) is archived after this many days even when no
    # version trained without the subject has become champion (None: only a replacement archives it).
    pending_versions_days: int | None = Field(30, ge=0)
    # Records, not personal data, that no purge or erasure deletes younger than this: audit entries and monitoring
    # summaries (days; EU AI Act Art. 19: at least six months) and technical files (years; Art. 18: ten).
    # Nothing in tunegate deletes them at all today; the technical file states its own keep-until date.
    audit_days: int = Field(183, ge=1)
    technical_file_years: int = Field(10, ge=1)


# Every unscrubbed copy a run writes: ingest's dataset, the training set with a batch's rows, a
# monitored batch's sample.
RAW_FILES = ("dataset.parquet", "dataset_with_batch.parquet", "scored.parquet")
RUN_FOLDERS = ("runs", "predictions")  # under work_dir: pipeline/monitor runs, predict runs


IN_USE = ".raw-in-use.lock"
_HELD: dict[str, object] = {}  # run folder -> the FileLock this process holds on it


def hold_raw(run_dir: Path) -> None:
    """Mark a run's unscrubbed copy as in use until ``release_raw`` (or this process ends: the OS drops the
    lock of a killed run, whose leftovers ``purge`` may then delete)."""
    from filelock import FileLock

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if str(run_dir) not in _HELD:
        lock = FileLock(str(run_dir / IN_USE), thread_local=False)
        lock.acquire()
        _HELD[str(run_dir)] = lock


def release_raw(run_dir: Path) -> None:
    """Release the holds on ``run_dir`` and its sub-folders (a retrain's ``batch/``)."""
    for key in [k for k in _HELD if Path(k) == Path(run_dir) or Path(k).is_relative_to(Path(run_dir))]:
        _HELD.pop(key).release()


def in_use(run_dir: Path) -> bool:
    """Whether a live run (this process or another) holds ``run_dir`` or a sub-folder of it."""
    from tasks.locks import lock_held  # not at the top: tasks.locks imports the config, which imports this

    return any(str(path.parent) in _HELD or lock_held(path) for path in Path(run_dir).rglob(IN_USE))


def raw_copies(run_dir: Path) -> list[Path]:
    """The unscrubbed copies in one run folder (its sub-folders too: a retrain's ``batch/``)."""
    run_dir = Path(run_dir)
    return sorted(p for name in RAW_FILES for p in run_dir.rglob(name) if p.is_file()) if run_dir.is_dir() else []


def discard_raw(run_dir: Path) -> int:
    """Delete a run's unscrubbed copies; returns how many files went."""
    gone = 0
    for p in raw_copies(run_dir):
        p.unlink(missing_ok=True)
        gone += 1
    release_raw(run_dir)
    return gone


def run_dirs(work_dir: Path, suffix: str = "") -> list[Path]:
    """Run folders under ``work_dir`` (``suffix``: those whose name ends with it, e.g. a flow run's id)."""
    return sorted(d for sub in RUN_FOLDERS for d in (Path(work_dir) / sub).glob(f"*{suffix}")
                  if d.is_dir() and not d.name.startswith("date="))


def purge(work_dir: Path, keep_raw_days: int, predictions_days: int | None, now: float | None = None) -> dict:
    """Raw copies older than ``keep_raw_days`` and prediction-store days older than ``predictions_days``."""
    now = time.time() if now is None else now
    raw = 0
    for d in run_dirs(work_dir):
        if in_use(d):  # a run between its ingest and its scrub: the copy is its input, whatever its age
            continue
        for p in raw_copies(d):
            if now - p.stat().st_mtime >= keep_raw_days * 86400:
                p.unlink(missing_ok=True)
                raw += 1
    days = 0
    if predictions_days is not None:
        cutoff = (datetime.fromtimestamp(now, UTC) - timedelta(days=predictions_days)).date()
        for part in sorted((Path(work_dir) / "predictions").glob("date=*")):
            try:
                day = datetime.strptime(part.name[5:], "%Y-%m-%d").date()
            except ValueError:
                continue
            if day < cutoff:
                shutil.rmtree(part)
                days += 1
    return {"raw_copies_deleted": raw, "prediction_days_deleted": days}
