"""Lineage from data to models: which registered versions were trained on a dataset, and what they keep of it.

Each version carries the digest of the scrubbed dataset it was trained on (tag ``dataset_sha256``) and a
reference sample of its training rows (``reference/reference.parquet``). Together with the subject index
(``tasks.pii.subjects``) this links a person to the model versions that saw their documents.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tasks.config import RegistryScope
from tasks.registry.versions import client_for, get_version


def version_runs(reg: RegistryScope, digests: set[str]) -> dict[int, tuple[str, str]]:
    """Versions trained on one of these datasets: version -> (tunegate run id, dataset digest)."""
    out = {}
    for mv in client_for(reg).search_model_versions(f"name='{reg.model_name}'"):
        tags = mv.tags or {}
        if tags.get("dataset_sha256") in digests:
            out[int(mv.version)] = (tags.get("tunegate_run_id", ""), tags["dataset_sha256"])
    return dict(sorted(out.items()))


def reference_rows(reg: RegistryScope, version: int, ids: set[str]) -> list[str]:
    """Ids among ``ids`` that a version's reference sample holds."""
    ref = get_version(reg, version).local_dir / "reference" / "reference.parquet"
    if not Path(ref).is_file():
        return []
    got = pd.read_parquet(ref, columns=["id"])["id"].astype(str)
    return sorted(set(got) & ids)


def pending_versions(reg: RegistryScope, request: str) -> list[int]:
    """Versions still tagged ``erasure_pending`` for this erasure request."""
    return sorted(int(mv.version) for mv in client_for(reg).search_model_versions(f"name='{reg.model_name}'")
                  if (mv.tags or {}).get("erasure_pending") == request)
