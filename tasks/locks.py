"""The retrain lock: one training run, retrain or erasure of a model at a time.

``work_dir/retrain.lock`` is held by the retrain flow while it gates, trains and registers, by
``tunegate run`` for its whole pipeline, and by ``tunegate subject erase`` (tasks/subjects/erase.py) while it
erases: an erasure never races a training run that could register a model trained on the erased subject.
Taken without waiting: a busy lock is ``RetrainBusy`` at once, never a hang.
"""

from __future__ import annotations

from pathlib import Path

from filelock import FileLock, Timeout

from tasks.config import RegistryScope
from tasks.errors import RetrainBusy

RETRAIN_LOCK = "retrain.lock"


def lock_held(path: Path) -> bool:
    """Whether a live holder (another process, or another handle in this one) has the file lock at ``path``."""
    try:
        FileLock(str(path), thread_local=False).acquire(timeout=0).lock.release()
    except Timeout:
        return True
    return False


def retrain_lock(reg: RegistryScope) -> FileLock:
    """The retrain lock, acquired (use it as a context manager to release it); RetrainBusy when held."""
    path = reg.work_path(RETRAIN_LOCK)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return FileLock(str(path), timeout=0, thread_local=False).acquire()
    except Timeout:
        raise RetrainBusy(f"{reg.model_name}: another training run, retrain or erasure holds {path}; run again when "
                          "it has finished (nothing was started).") from None
