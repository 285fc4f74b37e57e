"""Where a predictions file may go: never onto tunegate's own records.

``predict``'s ``output`` comes from the CLI (``--output``) or from a deployment's run form, so whoever may
start a run chooses it. It may not resolve (symlinks and ``..`` followed) inside:

- the work folder: audit log and head, keys under ``secrets/``, ``mlflow.db`` and ``mlartifacts/``, the
  stack's credential and state, erasure lists, ``runs/``, the Prefect home and ``predictions/`` (the
  prediction store the monitor reads, and each predict run's folder);
- the folder the monitor reads (``deploy.monitor_batch``): a predictions file there would be taken for a
  production batch, its predictions for labels;
- a local MLflow database named by ``registry.tracking_uri`` or ``$MLFLOW_TRACKING_URI`` outside the work
  folder (and its journal files).

Predictions go anywhere else, e.g. ``exports/`` beside the work folder.
"""

from __future__ import annotations

import os
from pathlib import Path

from tasks.config import RegistryScope
from tasks.errors import InputError


def _within(path: Path, root: Path) -> bool:
    return path == root or path.is_relative_to(root)


def _tracking_db(reg: RegistryScope) -> Path | None:
    uri = reg.registry.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or ""
    if uri.startswith("sqlite:///"):
        return Path(uri.removeprefix("sqlite:///").split("?")[0] or ".").resolve()
    return None


def check_output(reg: RegistryScope, monitor_batch: str | None, output: str | os.PathLike) -> Path:
    """The resolved output path, or ``InputError`` when it would land on tunegate's own records (``reg``: the work
    folder and the tracking database; ``monitor_batch``: ``deploy.monitor_batch``)."""
    out = Path(output).expanduser().resolve()
    work = reg.work_path().resolve()
    if _within(out, work):
        raise InputError(f"output (--output) {out}: inside the work folder {work}, which holds tunegate's own "
                         "records (audit log, keys, registry, prediction store); write predictions outside it.")
    batch = monitor_batch
    if batch and _within(out, Path(batch).expanduser().resolve()):
        raise InputError(f"output (--output) {out}: inside deploy.monitor_batch, the folder the monitor reads "
                         "as production batches; write predictions outside it.")
    db = _tracking_db(reg)
    if db is not None and out.parent == db.parent and (out.name == db.name or out.name.startswith(f"{db.name}-")):
        raise InputError(f"output (--output) {out}: the MLflow tracking database; write predictions elsewhere.")
    return out
