"""The model registry (MLflow): register versions atomically, move aliases under a lock, audit every move.

A version is only usable once it carries the tag ``complete=true``, set after every artifact is logged;
a registration that fails or is interrupted deletes what it started, and one killed outright leaves a
version without that tag, which ``get_version`` ignores and the next registration sweeps away.
The lock that every alias move goes through is ``tasks.registry.lock``; the audit log is ``tasks.audit``.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from tasks.config import RegistryScope
from tasks.errors import NoChampion, PromotionError
from tasks.keys import signing_key
from tasks.refs import VersionRef, atomic_dir
from tasks.registry.lock import publish_head
from tasks.registry.signing import registration_tags
from tasks.runtime import offline_environment

for _name in ("mlflow", "alembic", "mlflow.store.db.utils"):
    logging.getLogger(_name).setLevel(logging.WARNING)

COMPLETE_TAG = "complete"
STALE_INCOMPLETE_S = 3600  # an incomplete version this old belongs to a killed registration


def tracking_uri(reg: RegistryScope) -> str:
    """``registry.tracking_uri``, else ``$MLFLOW_TRACKING_URI``, else SQLite under the work folder."""
    uri = reg.registry.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    db = reg.work_path("mlflow.db").resolve()
    db.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{db}"


def _is_local(uri: str) -> bool:
    return uri.startswith(("sqlite:", "file:")) or "://" not in uri


def client_for(reg: RegistryScope):
    offline_environment()  # before MLflow reads its settings
    from mlflow.tracking import MlflowClient

    uri = tracking_uri(reg)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def code_version() -> str:
    """Git commit of the checkout (``-dirty`` with local changes), else the installed package version."""
    root = Path(__file__).resolve().parents[2]  # the checkout: tasks/registry/versions.py
    if (root / ".git").exists():
        try:
            sha = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                                 timeout=10, check=True).stdout.strip()
            dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                                   capture_output=True, text=True, timeout=10).stdout.strip()
            return sha + ("-dirty" if dirty else "")
        except (OSError, subprocess.SubprocessError):
            pass
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"tunegate-{version('tunegate')}"
    except PackageNotFoundError:
        return "unknown"


def _version_by_alias(client, name: str, alias: str):
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def champion_version(reg: RegistryScope) -> int | None:
    mv = _version_by_alias(client_for(reg), reg.model_name, "champion")
    return int(mv.version) if mv is not None else None


def set_alias(reg: RegistryScope, alias: str, version: int) -> None:
    """Point ``alias`` at ``version``; re-read it so a lost race on a remote store is detected."""
    client = client_for(reg)
    client.set_registered_model_alias(reg.model_name, alias, str(version))
    after = _version_by_alias(client, reg.model_name, alias)
    if after is None or int(after.version) != version:
        raise PromotionError(f"alias '{alias}' of model '{reg.model_name}' was moved by another process while "
                             f"setting it to v{version}; re-run the promotion.")


def clear_alias(reg: RegistryScope, alias: str, only_if: int | None = None) -> None:
    """Remove ``alias`` (only while it still points at ``only_if``, when given)."""
    client = client_for(reg)
    mv = _version_by_alias(client, reg.model_name, alias)
    if mv is not None and (only_if is None or int(mv.version) == only_if):
        client.delete_registered_model_alias(reg.model_name, alias)


def _ensure_model(client, name: str) -> None:
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
    except MlflowException:
        try:
            client.create_registered_model(name, description="tunegate fine-tuned model; see each version's card")
        except MlflowException:
            client.get_registered_model(name)  # created concurrently by another run


def _experiment_id(reg: RegistryScope, client) -> str:
    from mlflow.exceptions import MlflowException

    name = reg.registry.experiment or reg.model_name
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    location = None
    if _is_local(tracking_uri(reg)):
        location = reg.work_path("mlartifacts").resolve().as_uri()
    try:
        return client.create_experiment(name, artifact_location=location)
    except MlflowException:
        return client.get_experiment_by_name(name).experiment_id


def _is_complete(mv) -> bool:
    return (mv.tags or {}).get(COMPLETE_TAG) == "true"


def sweep_incomplete(reg: RegistryScope, older_than_s: float = STALE_INCOMPLETE_S) -> list[int]:
    """Delete versions a killed registration left without ``complete=true`` (older than ``older_than_s``)."""
    client = client_for(reg)
    cutoff = (time.time() - older_than_s) * 1000
    removed = []
    for mv in client.search_model_versions(f"name='{reg.model_name}'"):
        if not _is_complete(mv) and mv.creation_timestamp < cutoff:
            client.delete_model_version(reg.model_name, mv.version)
            removed.append(int(mv.version))
    return removed


def _flat(prefix: str, value) -> dict[str, str]:
    if isinstance(value, dict):
        out: dict[str, str] = {}
        for k, v in value.items():
            out.update(_flat(f"{prefix}.{k}" if prefix else str(k), v))
        return out
    return {prefix: (json.dumps(value) if isinstance(value, list) else str(value))[:6000]}


def register_version(reg: RegistryScope, artifacts: Path, params: dict, metrics: dict[str, float],
                     tags: dict[str, str], finalize: Callable[[int, str], Path | None] | None = None
                     ) -> tuple[int, str]:
    """Log one MLflow run with ``artifacts`` (the version layout), register it (with the signed digests of its
    evidence files: ``tasks/registry/signing.py``), then mark it complete.

    ``finalize(version, run_id)`` may write a last file (the model card, which names its version); it is
    logged before the ``complete`` tag. Any failure or interrupt deletes the version and the run.
    Returns ``(version, mlflow_run_id)``.
    """
    from mlflow.entities import Metric, Param, RunTag

    signer = signing_key(reg)  # first: a deployment's run without the evidence key registers nothing
    client = client_for(reg)
    sweep_incomplete(reg)
    _ensure_model(client, reg.model_name)
    run = client.create_run(_experiment_id(reg, client), run_name=tags.get("tunegate_run_id"),
                            tags={"mlflow.source.name": "tunegate train_pipeline"})
    run_id, version = run.info.run_id, None
    try:
        now = int(time.time() * 1000)
        flat = _flat("", params)
        client.log_batch(run_id, params=[Param(k, v) for k, v in sorted(flat.items())],
                         metrics=[Metric(k, float(v), now, 0) for k, v in sorted(metrics.items())],
                         tags=[RunTag(k, str(v)[:5000]) for k, v in sorted(tags.items())])
        client.log_artifacts(run_id, str(artifacts))
        signed = registration_tags(signer, Path(artifacts), reg.model_name, run_id)  # what a pack is checked against
        mv = client.create_model_version(reg.model_name, source=f"{run.info.artifact_uri}/model", run_id=run_id,
                                         tags={k: str(v)[:5000] for k, v in tags.items()} | signed,
                                         description=f"tunegate run {tags.get('tunegate_run_id', run_id)}")
        version = int(mv.version)
        if finalize is not None:
            extra = finalize(version, run_id)
            if extra is not None:
                client.log_artifact(run_id, str(extra))
        client.set_model_version_tag(reg.model_name, str(version), COMPLETE_TAG, "true")
        client.set_terminated(run_id, "FINISHED")
        client.set_registered_model_alias(reg.model_name, "challenger", str(version))
    except BaseException as e:
        _undo(client, reg.model_name, version, run_id)
        if isinstance(e, Exception) and not isinstance(e, PromotionError):
            raise PromotionError(f"registering model '{reg.model_name}' failed ({type(e).__name__}: {e}); "
                                 "nothing was registered and the champion is unchanged.") from e
        raise
    publish_head(reg)
    return version, run_id


def _undo(client, name: str, version: int | None, run_id: str) -> None:
    try:
        if version is not None:
            client.delete_model_version(name, str(version))
        client.set_terminated(run_id, "KILLED")
        client.delete_run(run_id)
    except Exception:  # best effort; an incomplete version is ignored and swept later anyway
        logging.getLogger(__name__).warning("could not clean up run %s / version %s", run_id, version)


def _resolve(reg: RegistryScope, client, which: str | int):
    from mlflow.exceptions import MlflowException

    name = reg.model_name
    if isinstance(which, int) or str(which).isdigit():
        try:
            mv = client.get_model_version(name, str(int(which)))
        except MlflowException:
            mv = None
        if mv is None or not _is_complete(mv):
            raise PromotionError(f"model '{name}' has no complete version {which} in {tracking_uri(reg)}; "
                                 "list versions with `mlflow ui` or use --model-version champion.")
        if "archived" in (mv.tags or {}):
            raise PromotionError(f"model '{name}' v{which} is archived ({mv.tags['archived']}): it was trained on "
                                 "an erased subject's documents and cannot be served or restored; use a later version.")
        return mv
    mv = _version_by_alias(client, name, str(which))
    if mv is None or not _is_complete(mv):
        if which == "champion":
            from tasks.registry.withdraw import withdrawn_error  # an erasure took it away: ChampionWithdrawn
            raise withdrawn_error(client, name) or NoChampion(
                f"model '{name}' has no champion in {tracking_uri(reg)}; run `tunegate run CONFIG`, or pass "
                "--model-version N.")
        raise PromotionError(f"model '{name}' has no alias '{which}'; use 'champion' or a version number.")
    return mv


def get_version(reg: RegistryScope, which: str | int = "champion") -> VersionRef:
    """Resolve ``champion`` (or a version number) and download its artifacts once (cached per version)."""
    client = client_for(reg)
    mv = _resolve(reg, client, which)
    local = reg.work_path("registry_cache", reg.model_name, f"v{mv.version}-{mv.run_id[:12]}")
    if not (local / "model").is_dir():
        with atomic_dir(local) as tmp:
            client.download_artifacts(mv.run_id, "", str(tmp))
    return VersionRef(version=int(mv.version), local_dir=local.resolve(), tags=dict(mv.tags or {}),
                      model_name=reg.model_name, run_id=mv.run_id)


def unregister(reg: RegistryScope, version: int, run_id: str) -> None:
    """Delete a version and its run (a later pipeline step failed before it was put to use)."""
    _undo(client_for(reg), reg.model_name, version, run_id)


def version_tags(config_sha256: str, task: str, dataset_sha256: str, pii: dict | None, code: str, base_model: str,
                 trigger: str, run_id: str, promote: bool) -> dict[str, str]:
    """The tags of a registered version: its lineage, and the PII evidence in counts."""
    ev = pii or {}
    counts = {k: ev.get(k) for k in ("docs", "docs_touched", "residual_count", "residual_rate", "passed")}
    counts["entities_replaced"] = sum((ev.get("counts_by_entity") or {}).values())
    counts["estimated_recall"] = (ev.get("estimated_recall") or {}).get("_overall", {}).get("recall")
    return {"dataset_sha256": dataset_sha256, "config_sha256": config_sha256, "code_version": code,
            "base_model": base_model, "task": task, "trigger": trigger, "tunegate_run_id": run_id,
            "pii_evidence": json.dumps(counts, sort_keys=True), "decision": "promote" if promote else "reject"}


def run_metrics(report, champion, train_metrics: dict, baseline=None,
                membership: dict | None = None) -> dict[str, float]:
    """The MLflow metrics of a version: the candidate's, the champion's and the TF-IDF baseline's on the same
    test split, training's."""
    out = {k: v for k, v in {"accuracy": report.accuracy, "macro_f1": report.macro_f1, "ece": report.ece,
                             "rouge_l": report.rouge_l, "perplexity": report.perplexity}.items() if v is not None}
    out.update({f"f1_{label}": s["f1"] for label, s in report.per_class.items()})
    if champion is not None:
        out.update({f"champion_{k}": v for k in ("macro_f1", "accuracy", "rouge_l", "perplexity")
                    if (v := champion.metric(k)) is not None})
    if baseline is not None:
        out.update({f"baseline_{k}": v for k in ("macro_f1", "accuracy", "ece")
                    if (v := baseline.metric(k)) is not None})
    out.update({f"train_{k}": float(v) for k, v in train_metrics.items()})
    if membership and membership.get("measured") and membership.get("method") == "canary_exposure":
        out.update(canary_mean_exposure_bits=membership["mean_exposure_bits"],
                   canaries_extracted=membership["extracted"], membership_seconds=membership["seconds"])
    elif membership and membership.get("measured"):
        out.update(membership_auc=membership["auc"], membership_seconds=membership["seconds"])
    return out
