"""The retrain lock: one training run, retrain or erasure of a model at a time.

``work_dir/retrain.lock`` is held by the retrain flow while it gates, trains and registers, by
``tunegate run`` for its whole pipeline, and by ``tunegate subject erase`` (tasks/subjects/erase.py) while it
erases: an erasure never races a training run that could register a model trained on the erased subject.
Taken without waiting: a busy lock is ``RetrainBusy`` at once, never a hang.

With a Prefect server configured the same lock is also a global concurrency limit on it
(``tunegate-retrain-<model>``, ``tasks/server_locks.py``), so workers on other machines, with other work
folders, are turned away too. ``registry.shared_dir`` (several machines) requires that server, and
``shared_path`` puts what every worker must read the same copy of (the audit log, the erasure list) there.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

from filelock import FileLock, Timeout

from tasks.config import RegistryScope
from tasks.errors import LockServerUnreachable, RetrainBusy

RETRAIN_LOCK = "retrain.lock"


def lock_held(path: Path) -> bool:
    """Whether a live holder (another process, or another handle in this one) has the file lock at ``path``."""
    try:
        FileLock(str(path), thread_local=False).acquire(timeout=0).lock.release()
    except Timeout:
        return True
    return False


def shared_path(reg: RegistryScope, *parts: str) -> Path:
    """``<registry.shared_dir>/<model>/…`` where workers on several machines share it, else ``<work_dir>/…``."""
    shared = reg.registry.shared_dir
    return Path(shared, reg.model_name).joinpath(*parts) if shared else reg.work_path(*parts)


def use_server(reg: RegistryScope) -> bool:
    """Whether ``reg``'s locks are also taken on the Prefect server: whenever ``PREFECT_API_URL`` is set, and
    always with ``registry.shared_dir``, where a missing server is an error (file locks hold one machine)."""
    from tasks.server_locks import server_url

    if server_url():
        return True
    if reg.registry.shared_dir:
        raise LockServerUnreachable(
            f"{reg.model_name}: registry.shared_dir is set (workers on several machines), so its locks live on "
            "the Prefect server, and PREFECT_API_URL is not set; point it at the server every worker uses "
            "(nothing was started).")
    return False


def retrain_lock(reg: RegistryScope) -> ExitStack:
    """The retrain lock, acquired (use it as a context manager to release it); RetrainBusy when held."""
    from tasks.server_locks import limit_name, server_lock

    path = reg.work_path(RETRAIN_LOCK)
    path.parent.mkdir(parents=True, exist_ok=True)
    held = ExitStack()
    try:
        if use_server(reg):
            name = limit_name("retrain", reg.model_name)
            held.enter_context(server_lock(name, 0, lambda: RetrainBusy(
                f"{reg.model_name}: another training run, retrain or erasure holds the lock {name} on the Prefect "
                "server (perhaps on another machine); run again when it has finished (nothing was started).")))
        try:
            held.enter_context(FileLock(str(path), timeout=0, thread_local=False))
        except Timeout:
            raise RetrainBusy(f"{reg.model_name}: another training run, retrain or erasure holds {path}; run again "
                              "when it has finished (nothing was started).") from None
    except BaseException:
        held.close()
        raise
    return held
