"""Cache policy for stages whose result names files: same input, config and code, and the files still there.

A cached stage (scrub, split, fine-tune) is keyed on its input's digest, its config section and the code
of ``tasks/``: re-running the same data and config reuses it, any change reruns it. Its result is a
reference to files in an earlier run's folder; when a person has deleted that folder, the record is
passed over and the stage runs again (under the next key of the same series, so the fresh result is
the one the next run reuses).

Records are JSON (``RESULT_SERIALIZER``), never pickles: a record is a file in the work folder, and the key
is computed by reading it. ``compute_key`` reads each record itself (``tasks/records.py``) and hands Prefect
only a key whose record is absent or is JSON tunegate wrote; a record that asks for pickle, another decoder
or a foreign class is passed over (with a warning) and never loaded.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect.cache_policies import CachePolicy
from prefect.serializers import JSONSerializer

from tasks.errors import TunegateError
from tasks.records import UnsafeRecord, load_record

ROOT = Path(__file__).resolve().parent.parent


def _code_digest() -> str:
    h = hashlib.sha256()
    for p in sorted((ROOT / "tasks").rglob("*.py")):
        h.update(p.relative_to(ROOT).as_posix().encode() + p.read_bytes())
    return h.hexdigest()[:16]


CODE_DIGEST = _code_digest()
# The only format cached results are written in and read back from: JSON, decoded into tunegate's models only.
RESULT_SERIALIZER = JSONSerializer(object_decoder="tasks.records.decode_object")
_SAFE = RESULT_SERIALIZER.model_dump(mode="json")


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
        store = task_ctx.result_store
        folder = getattr(store.result_storage, "basepath", None)
        if folder is None or store.serializer.model_dump(mode="json") != _SAFE:
            return None  # not a JSON store in a local folder (see stored_in): run without caching
        try:
            base = f"{self.key(inputs)}-{CODE_DIGEST}"
        except TunegateError:  # e.g. no pseudonym key: the task itself raises it, with its message
            return None
        for generation in range(self.generations):
            key = f"{base}-{generation}" if generation else base
            path = Path(folder).expanduser() / key
            if not path.exists():
                return key
            try:
                result = load_record(path.read_bytes(), _SAFE)
            except (UnsafeRecord, OSError) as e:  # never handed to Prefect, which would believe it
                logging.getLogger("tunegate.cache").warning("cache record %s passed over: %s", path, e)
                continue
            try:
                if all(Path(p).exists() for p in self.paths(result)):
                    return key
            except (AttributeError, IndexError, KeyError, TypeError):  # a record of another shape: leave it
                continue
        return None  # more lost results than generations: run without caching


def stored_in(task, store: Path):
    """A cached task with its records kept in ``store`` (the work dir's, not ~/.prefect), written as JSON."""
    return task.with_options(result_storage=Path(store).resolve(), result_serializer=RESULT_SERIALIZER)
