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
    from filelock import FileLock, Timeout

    for path in Path(run_dir).rglob(IN_USE):
        if str(path.parent) in _HELD:
            return True
        try:
            FileLock(str(path), thread_local=False).acquire(timeout=0).lock.release()
        except Timeout:
            return True
    return False


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
