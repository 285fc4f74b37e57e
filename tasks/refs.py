"""Small frozen references that tasks pass between each other instead of objects.

Each task writes its own files into the run folder and returns one of these. None of them may hold
raw document text: they are Prefect results.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict

CANONICAL_COLUMNS = ("id", "text", "label", "timestamp")


class _Ref(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DatasetRef(_Ref):
    """A canonical Parquet dataset: columns id, text, label, timestamp, then kept extras."""

    uri: str  # path of the .parquet file
    sha256: str  # over canonical rows, independent of file layout
    rows: int
    columns: dict[str, str]  # column name -> Arrow type
    label_counts: dict[str, int] = {}  # class -> rows; empty when the label is free text
    scrubbed: bool = False
    label_is_text: bool = False  # the label is a causal LM's free-text target: scrubbed, never counted
    erasures: int = 0  # erasure requests its documents were checked against (tasks/subjects/erased.py)


class SplitRef(_Ref):
    """A seeded, stratified split of one dataset, recorded so every run tests on the same rows."""

    train: DatasetRef
    val: DatasetRef | None
    test: DatasetRef
    dataset_sha256: str
    seed: int
    test_ids_sha256: str


class AdapterRef(_Ref):
    """A fine-tuned model folder written by the training recipe (see tasks/train/recipe.py)."""

    path: str  # folder with adapter/, tokenizer/, label_map.json, train_config.json, metrics.json, manifest.json
    base_model: str
    task: str
    labels: list[str] = []
    manifest_sha256: str
    metrics: dict[str, float] = {}


class VersionRef(_Ref):
    """A complete registered version with its artifacts downloaded to ``local_dir``.

    ``local_dir`` holds ``model/`` (the training output folder), ``reference/reference.parquet``,
    ``eval/eval.json``, ``model_card.md`` and ``pii_evidence.json``.
    """

    version: int
    local_dir: Path
    tags: dict[str, str]
    model_name: str
    run_id: str


def new_run_id(prefix: str = "run") -> str:
    """``<prefix>-<UTC time>-<6 hex>``; inside a flow run the hex is the flow run id's, so that the run's
    failure hooks find its folder (``tasks.retention``)."""
    from tasks.runtime import current_flow_run_id

    run = current_flow_run_id()
    return f"{prefix}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{(run or uuid.uuid4().hex)[:6]}"


@contextmanager
def atomic_dir(final: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling folder; rename it to ``final`` only if the block succeeds.

    Bad input then leaves nothing half-written behind.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    try:
        yield tmp
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextmanager
def atomic_file(final: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling path; move it onto ``final`` only if the block succeeds."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{final.name}.tmp-", dir=final.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
