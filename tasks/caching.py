"""Cache policy for stages whose result names files: same input, config and code, and the files still there.

A cached stage (scrub, split, fine-tune) is keyed on its input's digest, its config section and the code
of ``tasks/``: re-running the same data and config reuses it, any change reruns it. Its result is a
reference to files in an earlier run's folder; when a person has deleted that folder, the record is
passed over and the stage runs again (under the next key of the same series, so the fresh result is
the one the next run reuses).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect.cache_policies import CachePolicy

ROOT = Path(__file__).resolve().parent.parent


def _code_digest() -> str:
    h = hashlib.sha256()
    for p in sorted((ROOT / "tasks").rglob("*.py")):
        h.update(p.relative_to(ROOT).as_posix().encode() + p.read_bytes())
    return h.hexdigest()[:16]


CODE_DIGEST = _code_digest()


def config_digest(section) -> str:
    """Digest of a config section (a pydantic model)."""
    return hashlib.sha256(json.dumps(section.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class FilesStillThere(CachePolicy):
    """``key(inputs)`` + the code digest, skipping any record whose ``paths(result)`` are gone."""

    key: Callable[[dict[str, Any]], str] | None = None
    paths: Callable[[Any], list] | None = None
    generations: int = 50

    def compute_key(self, task_ctx, inputs: dict[str, Any], flow_parameters: dict[str, Any],
                    **kwargs: Any) -> str | None:
        base = f"{self.key(inputs)}-{CODE_DIGEST}"
        store = task_ctx.result_store
        for generation in range(self.generations):
            key = f"{base}-{generation}" if generation else base
            if not store.exists(key):
                return key
            try:
                result = store.read(key).result
            except Exception:  # an unreadable record: leave it, use the next key
                continue
            if all(Path(p).exists() for p in self.paths(result)):
                return key
        return None  # more lost results than generations: run without caching


def stored_in(task, store: Path):
    """A cached task with its records kept in ``store`` (the work dir's, not ~/.prefect)."""
    return task.with_options(result_storage=Path(store).resolve())
