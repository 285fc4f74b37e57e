"""Every store that could serve or restore a model trained on a subject: searched, emptied, reported, purged.

The stores, by the names the erasure report uses:

- ``registry``: registered versions trained on the subject; their weights stay until the version is archived
  (a version trained without the subject becomes champion, or ``retention.pending_versions_days`` pass).
- ``mlflow deleted runs`` / ``mlflow unregistered runs``: MLflow runs soft-deleted (a registration undone)
  or never registered as a version (a killed registration), whose artifacts are still in the store.
- ``train-work``: fine-tune resume checkpoints (``<work_dir>/train-work/<key>``, and ``.model.work``
  beside a run's model) of runs that failed or were killed.
- ``run folders``: a run folder's own copy of the weights (``model/``, ``version/model/``).
- ``monitor_cache`` / ``registry_cache``: the monitor's reference profiles and downloaded versions.
- ``leftovers``: ``.tmp-*`` files and folders of writes a crash cut off.

``erase_stores`` (``tunegate subject erase``) deletes what holds the subject's documents, found by the digests
of the datasets that held them, their run folders and the versions trained on them, and returns what is
left per store; ``purge_stores`` (``tunegate purge``) deletes each store's content past its maximum age
(``retention.*``), whoever it holds. Nothing here reads a document.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from tasks.config import RegistryScope
from tasks.locks import lock_held
from tasks.registry.erasure import ARCHIVED, DATA_ARTIFACTS, PENDING
from tasks.retention import RetentionConfig

STORES = ("registry", "mlflow deleted runs", "mlflow unregistered runs", "train-work", "run folders",
          "monitor_cache", "registry_cache", "leftovers")
GRACE_S = 3600  # a .tmp-* younger than this may be a write in progress: erasure reports it, purge waits longer
RUN_MODELS = ("model", "version/model", ".model.work")  # a run folder's copies of its weights
DAY, HOUR = 86400, 3600


@dataclass(frozen=True)
class Scope:
    """What ties an artifact to the subject: the datasets that held their documents (digests before the
    rewrite), the run folders that held them, the versions trained on them."""

    datasets: set[str] = field(default_factory=set)
    folders: set[Path] = field(default_factory=set)
    versions: set[int] = field(default_factory=set)

    @classmethod
    def of(cls, plan: dict) -> Scope:
        return cls(set(plan.get("datasets", [])), {Path(f).resolve() for f in plan.get("folders", {})},
                   {int(v) for v in plan.get("versions", {})})


def _newest(path: Path) -> float:
    """The newest modification time in a file or folder tree."""
    try:
        t = path.lstat().st_mtime
    except OSError:
        return 0.0
    if path.is_dir() and not path.is_symlink():
        for root, dirs, files in os.walk(path):
            for n in dirs + files:
                try:
                    t = max(t, os.lstat(os.path.join(root, n)).st_mtime)
                except OSError:
                    pass
    return t


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _rel(reg: RegistryScope, path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(reg.work_path().resolve()))
    except ValueError:
        return str(path)


def _busy(checkpoints: Path) -> bool:
    """Whether a fine-tune holds this resume folder now (its ``<key>.lock`` beside it)."""
    lock = checkpoints.with_name(f"{checkpoints.name}.lock")
    return lock.exists() and lock_held(lock)


# ---- the stores, one finder each ---------------------------------------------------------------------
def _train_work(reg: RegistryScope, scope: Scope | None) -> list[Path]:
    roots = [d for d in reg.work_path("train-work").glob("*") if d.is_dir()]
    roots += [d for f in (scope.folders if scope else []) for d in Path(f).glob(".*.work") if d.is_dir()]
    if scope is None:
        return roots
    hits = []
    for d in roots:
        try:
            run = json.loads((d / "run.json").read_text())
        except (OSError, ValueError):
            run = {}
        train = Path(str(run.get("train_file") or "/")).resolve()
        if run.get("dataset_sha256") in scope.datasets or any(train.is_relative_to(f) for f in scope.folders):
            hits.append(d)
    return hits


def _run_models(folders) -> list[Path]:
    return [Path(f) / m for f in folders for m in RUN_MODELS if (Path(f) / m).exists()]


def _caches(reg: RegistryScope, versions: set[int]) -> tuple[list[Path], list[Path]]:
    monitor = [d for v in sorted(versions) if (d := reg.work_path("monitor_cache", reg.model_name, f"v{v}")).exists()]
    reg = reg.work_path("registry_cache", reg.model_name)
    cached = [p for v in sorted(versions) for pat in (f"v{v}-*", f".v{v}-*") for p in reg.glob(pat)]
    return monitor, cached


def _leftovers(reg: RegistryScope) -> list[Path]:
    out = []
    for root, dirs, files in os.walk(reg.work_path()):
        for n in [d for d in dirs if ".tmp-" in d]:
            out.append(Path(root) / n)
            dirs.remove(n)
        out += [Path(root) / n for n in files if ".tmp-" in n]
    return out


def _mlflow_runs(reg: RegistryScope, datasets: set[str] | None):
    """(run, its complete version or None) for each MLflow run of the model's experiment that still holds
    model or reference artifacts; with ``datasets``, only runs trained on one of them."""
    from mlflow.entities import ViewType

    from tasks.registry.versions import client_for

    client = client_for(reg)
    exp = client.get_experiment_by_name(reg.registry.experiment or reg.model_name)
    if exp is None:
        return client, []
    runs, token = [], None
    while True:
        page = client.search_runs([exp.experiment_id], run_view_type=ViewType.ALL, max_results=1000,
                                  page_token=token)
        runs += list(page)
        token = page.token
        if not token:
            break
    versions = {mv.run_id: mv for mv in client.search_model_versions(f"name='{reg.model_name}'")}
    out = []
    for run in runs:
        if datasets is not None and run.data.tags.get("dataset_sha256") not in datasets:
            continue
        held = {a.path for a in client.list_artifacts(run.info.run_id)}
        if held & set(DATA_ARTIFACTS) or (datasets is None and held):
            out.append((run, versions.get(run.info.run_id), held))
    return client, out


def _empty_run(run, parts) -> None:
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    repo = get_artifact_repository(run.info.artifact_uri)
    for part in parts:
        try:
            repo.delete_artifacts(part)
        except Exception:  # noqa: BLE001 - the store refused: the rescan reports it as left
            pass


def _registry_label(mv) -> str:
    tags = mv.tags or {}
    if PENDING in tags:
        return f"v{mv.version} (erasure pending)"
    if ARCHIVED in tags:
        return f"v{mv.version} (archived; artifacts kept: retention.erased_versions is keep)"
    return f"v{mv.version}"


def _unrelated(reg: RegistryScope, scope: Scope, leftover: Path) -> bool:
    """A leftover known to belong to something trained without the subject: a resume folder whose run.json
    names another dataset, a cached version not trained on them."""
    import re

    parts = Path(_rel(reg, leftover)).parts
    if len(parts) > 2 and parts[0] == "train-work":
        root = reg.work_path(*parts[:2])
        return (root / "run.json").is_file() and root not in _train_work(reg, scope)
    if len(parts) > 2 and parts[0] in ("registry_cache", "monitor_cache") and parts[1] == reg.model_name:
        m = re.match(r"\.?v(\d+)-|v(\d+)$", parts[2])
        return bool(m) and int(m.group(1) or m.group(2)) not in scope.versions
    return False


# ---- erasure and purge -------------------------------------------------------------------------------
def scan(reg: RegistryScope, scope: Scope) -> dict[str, list[str]]:
    """What each store still holds of the subject (names and version numbers only)."""
    found: dict[str, list[str]] = {s: [] for s in STORES}
    _, runs = _mlflow_runs(reg, scope.datasets)
    for run, mv, _ in runs:
        if mv is not None:
            found["registry"].append(_registry_label(mv))
        else:
            store = "mlflow deleted runs" if run.info.lifecycle_stage == "deleted" else "mlflow unregistered runs"
            found[store].append(f"run {run.info.run_id}")
    found["train-work"] = [_rel(reg, p) for p in _train_work(reg, scope)]
    found["run folders"] = [_rel(reg, p) for p in _run_models(scope.folders)]
    monitor, cached = _caches(reg, scope.versions)
    found["monitor_cache"], found["registry_cache"] = [_rel(reg, p) for p in monitor], [_rel(reg, p) for p in cached]
    found["leftovers"] = [_rel(reg, p) for p in _leftovers(reg) if not _unrelated(reg, scope, p)]
    return {k: sorted(v) for k, v in found.items()}


def erase_stores(reg: RegistryScope, scope: Scope) -> dict[str, list[str]]:
    """Delete what holds the subject in every store but the registry (whose versions are archived), and every
    ``.tmp-*`` leftover no live write can own; returns what is left, per store."""
    _, runs = _mlflow_runs(reg, scope.datasets)
    for run, mv, held in runs:
        if mv is None:
            _empty_run(run, sorted(held))
    for p in _train_work(reg, scope):
        if not _busy(p):
            _remove(p)
    for p in _run_models(scope.folders):
        _remove(p)
    for group in _caches(reg, scope.versions):
        for p in group:
            _remove(p)
    now = time.time()
    for p in _leftovers(reg):
        if now - _newest(p) >= GRACE_S:
            _remove(p)
    return scan(reg, scope)


def purge_stores(reg: RegistryScope, retention: RetentionConfig, now: float | None = None) -> dict[str, int]:
    """Each store's content past its maximum age (``retention.*``); counts of what went."""
    from tasks.registry.erasure import archive_overdue

    now = time.time() if now is None else now
    r, out = retention, {}
    old = [p for p in _train_work(reg, None) if now - _newest(p) >= r.checkpoints_days * DAY and not _busy(p)]
    for p in old:
        _remove(p)
    out["checkpoints_deleted"] = len(old)
    client, runs = _mlflow_runs(reg, None)
    emptied = 0
    for run, mv, held in runs:
        ended = (run.info.end_time or run.info.start_time or 0) / 1000
        unfinished = run.info.lifecycle_stage != "deleted" and run.info.status == "RUNNING"
        if mv is None and not unfinished and now - ended >= r.deleted_runs_days * DAY:
            _empty_run(run, sorted(held))
            emptied += 1
    out["mlflow_runs_emptied"] = emptied
    registered = {(mv.tags or {}).get("tunegate_run_id") for mv in client.search_model_versions(
        f"name='{reg.model_name}'") if ARCHIVED not in (mv.tags or {})}
    folders = [d for d in reg.work_path("runs").glob("*") if d.is_dir() and d.name not in registered]
    models = [p for p in _run_models(folders) if now - _newest(p) >= r.run_models_days * DAY]
    for p in models:
        _remove(p)
    out["run_models_deleted"] = len(models)
    caches = [d for d in reg.work_path("monitor_cache").glob("*/v*") if now - _newest(d) >= r.monitor_cache_days * DAY]
    for p in caches:
        _remove(p)
    out["monitor_cache_deleted"] = len(caches)
    left = [p for p in _leftovers(reg) if now - _newest(p) >= r.leftovers_hours * HOUR]
    for p in left:
        _remove(p)
    out["leftovers_deleted"] = len(left)
    archived = archive_overdue(reg, r.erased_versions, r.pending_versions_days, now)
    out["pending_versions_archived"] = len(archived)
    return out


def purge_all(reg: RegistryScope, retention: RetentionConfig, now: float | None = None) -> dict[str, int]:
    """Everything ``retention`` no longer allows on disk: unscrubbed copies, prediction-store days, and each
    store that could serve or restore a model (``tunegate purge`` and the purge deployment)."""
    from tasks.retention import purge

    r = retention
    return purge(reg.work_path(), r.keep_raw_days, r.predictions_days, now=now) | purge_stores(reg, r, now=now)


def purge_lines(reg: RegistryScope, retention: RetentionConfig, out: dict[str, int]) -> list[str]:
    """``tunegate purge``'s report: counts per store, with the maximum age that applied."""
    r = retention
    kept = "until deleted by hand" if r.predictions_days is None else f"{r.predictions_days} days"
    return [f"deleted {out['raw_copies_deleted']} unscrubbed copies (kept {r.keep_raw_days} days) and "
            f"{out['prediction_days_deleted']} days of the prediction store (kept {kept}) under {reg.work_path()}",
            f"deleted {out['checkpoints_deleted']} train-work checkpoint folders ({r.checkpoints_days} days), "
            f"emptied {out['mlflow_runs_emptied']} deleted or unregistered MLflow runs ({r.deleted_runs_days} days), "
            f"deleted {out['run_models_deleted']} unregistered run models ({r.run_models_days} days), "
            f"{out['monitor_cache_deleted']} monitor caches ({r.monitor_cache_days} days), "
            f"{out['leftovers_deleted']} .tmp-* leftovers ({r.leftovers_hours} hours); archived "
            f"{out['pending_versions_archived']} versions pending erasure (after {r.pending_versions_days} days)",
            f"kept: the audit log and monitoring summaries (at least {r.audit_days} days), technical files and "
            f"version records (at least {r.technical_file_years} years), the erasure list and journals"]
