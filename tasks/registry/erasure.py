"""Erasure in the registry: versions trained on an erased subject, from the request until they are archived.

- ``mark_pending``: the version's reference sample is rewritten without the subject's documents (new
  digest in tag ``reference_sha256``) and the version is tagged ``erasure_pending`` with the newest
  request it owes. It can no longer be restored by a rollback, and while it is champion a candidate
  is judged on the floors alone (it need not beat a model that must go).
- ``archive_erased``: once a version trained without those subjects is champion (its tag
  ``erasures_applied`` covers the request), each pending version loses its aliases and is tagged
  ``archived``; with ``retention.erased_versions: delete_artifacts`` its weights and reference sample
  are deleted from the artifact store, the local cache and its run folder. Card, evaluation and lineage
  stay.
- ``archive_overdue`` (``tunegate purge``): a version pending erasure for ``retention.pending_versions_days``
  is archived the same way, replaced or not: the deadline for the weights of a model trained on the subject.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from tasks.audit import audit
from tasks.config import RegistryScope
from tasks.registry.lock import registry_lock

PENDING, APPLIED, ARCHIVED = "erasure_pending", "erasures_applied", "archived"
DATA_ARTIFACTS = ("model", "reference")  # what a version keeps of its training data


def request_number(request: str) -> int:
    """``erasure-7`` -> 7 (requests are numbered in the order they were made)."""
    return int(request.rsplit("-", 1)[1])


def _repo(reg: RegistryScope, run_id: str):
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    from tasks.registry.versions import client_for

    return get_artifact_repository(client_for(reg).get_run(run_id).info.artifact_uri)


def _drop_cached(reg: RegistryScope, version: int) -> None:
    for d in reg.work_path("registry_cache", reg.model_name).glob(f"v{version}-*"):
        shutil.rmtree(d, ignore_errors=True)


def mark_pending(reg: RegistryScope, version: int, request: str, ids: set[str]) -> int:
    """Rewrite the version's reference sample without ``ids`` and tag it ``erasure_pending``; rows removed."""
    import pandas as pd
    from mlflow.exceptions import MlflowException

    from tasks.datasets import parquet_sha256
    from tasks.registry.versions import client_for

    client = client_for(reg)
    mv = client.get_model_version(reg.model_name, str(version))
    repo, removed = _repo(reg, mv.run_id), 0
    with tempfile.TemporaryDirectory() as tmp:
        try:
            ref = Path(repo.download_artifacts("reference/reference.parquet", tmp))
        except (OSError, MlflowException):  # no reference sample (deleted already): nothing to rewrite
            ref = None
        if ref is not None:
            df = pd.read_parquet(ref)
            keep = ~df["id"].astype(str).isin(ids)
            removed = int((~keep).sum())
            if removed:
                out = Path(tmp) / "out" / "reference.parquet"
                out.parent.mkdir()
                df[keep].to_parquet(out, index=False)
                repo.log_artifact(str(out), "reference")
                client.set_model_version_tag(reg.model_name, str(version), "reference_sha256", parquet_sha256(out))
    before = (mv.tags or {}).get(PENDING)
    if before is None or request_number(before) < request_number(request):
        client.set_model_version_tag(reg.model_name, str(version), PENDING, request)
    _drop_cached(reg, version)
    return removed


def archive_erased(reg: RegistryScope, erased_versions: str, champion: int, trigger: str = "promotion"
                   ) -> list[int]:
    """Archive the versions pending erasure that the champion was trained without (``erased_versions``: the
    ``retention`` setting, what goes of them); returns their numbers."""
    from tasks.registry.versions import client_for

    client = client_for(reg)
    versions = client.search_model_versions(f"name='{reg.model_name}'")
    tags = {int(mv.version): dict(mv.tags or {}) for mv in versions}
    applied = int(tags.get(champion, {}).get(APPLIED, 0) or 0)
    if PENDING in tags.get(champion, {}):
        return []
    archived = []
    for mv in versions:
        v, t = int(mv.version), tags[int(mv.version)]
        if v == champion or PENDING not in t or request_number(t[PENDING]) > applied:
            continue
        _archive(reg, erased_versions, client, mv, f"replaced by v{champion}", champion=champion, trigger=trigger)
        archived.append(v)
    return archived


def archive_overdue(reg: RegistryScope, erased_versions: str, days: int | None, now: float) -> list[int]:
    """Archive the versions pending erasure for ``days`` or more (counted from the request), whether or not a
    version trained without the subject became champion: the deadline for their weights (``tunegate purge``)."""
    import json
    from datetime import datetime

    from tasks.registry.versions import client_for

    if days is None:
        return []
    client = client_for(reg)
    archived = []
    with registry_lock(reg):
        for mv in client.search_model_versions(f"name='{reg.model_name}'"):
            request = (mv.tags or {}).get(PENDING)
            journal = reg.work_path("erasures", f"{request}.json")
            if not request or not journal.is_file():
                continue
            asked = datetime.fromisoformat(json.loads(journal.read_text())["requested_at"]).timestamp()
            if now - asked >= days * 86400:
                _archive(reg, erased_versions, client, mv, f"no version trained without the subject became "
                         f"champion within {days} days", champion=None, trigger="purge")
                archived.append(int(mv.version))
    return archived


def _archive(reg: RegistryScope, erased_versions: str, client, mv, why: str, champion: int | None,
             trigger: str) -> None:
    """Take a pending version's aliases, delete its weights and reference per ``retention.erased_versions``,
    tag it ``archived``; audited."""
    v, t = int(mv.version), dict(mv.tags or {})
    for alias, holder in (client.get_registered_model(reg.model_name).aliases or {}).items():
        if int(holder) == v:
            client.delete_registered_model_alias(reg.model_name, alias)
    deleted = []
    if erased_versions == "delete_artifacts":
        repo = _repo(reg, mv.run_id)
        for part in DATA_ARTIFACTS:
            try:
                repo.delete_artifacts(part)
                deleted.append(part)
            except Exception:  # not there (a second pass) or the store refuses: said in the audit entry
                pass
        _drop_cached(reg, v)
        run_dir = reg.work_path("runs", t.get("tunegate_run_id") or "-")
        for local in (run_dir / "model", run_dir / "version"):  # the run's own copies of the weights
            shutil.rmtree(local, ignore_errors=True)
    client.set_model_version_tag(reg.model_name, str(v), ARCHIVED, f"erasure {t[PENDING]}, {why}")
    client.delete_model_version_tag(reg.model_name, str(v), PENDING)
    audit(reg, action="erasure.archived", version=v, request=t[PENDING], champion=champion, trigger=trigger,
          artifacts_deleted=deleted, policy=erased_versions)
