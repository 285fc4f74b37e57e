"""The erasure list, and stored files rewritten without a subject's documents.

``<work_dir>/erasures/erased.parquet`` (``<registry.shared_dir>/<model>/erasures/`` where workers on several
machines share it: ``tasks.locks.shared_path``) holds, for every erasure request, the keyed hashes of the
subject's identifiers (request, entity, hash), never a value, and the fingerprint of the key that made
them. Every training run drops the documents whose subject index holds one of them (``drop_erased``),
so a retrain never brings them back while the source system still holds them.

A folder is rewritten whole: each file keyed by document id (Parquet with an ``id`` column, JSON lines
with an ``"id"`` field) is written without the documents to a temporary sibling first, and only when
every one is ready are they renamed over the originals, the subject index last. Rewriting is
idempotent: a second pass over a rewritten folder removes nothing.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tasks.errors import ConfigError
from tasks.pii.ops import key_fingerprint
from tasks.pii.subjects import SUBJECT_INDEX, find_in_indexes
from tasks.refs import DatasetRef, atomic_file

ERASURES = "erasures"  # under work_dir: the erasure list and one journal per request
ERASED = "erased.parquet"


@dataclass(frozen=True)
class ErasedList:
    """Every erasure request so far (oldest first) and the keyed hashes of their subjects' identifiers."""

    rows: list[tuple[str, str, str]]  # (request, entity, hash)

    @property
    def requests(self) -> list[str]:
        return list(dict.fromkeys(r for r, _, _ in self.rows))

    @property
    def hashes(self) -> set[tuple[str, str]]:
        return {(e, h) for _, e, h in self.rows}

    def of(self, request: str) -> set[tuple[str, str]]:
        return {(e, h) for r, e, h in self.rows if r == request}


def erased_path(work_dir: Path) -> Path:
    return Path(work_dir) / ERASURES / ERASED


def read_erased(work_dir: Path, key: bytes) -> ErasedList:
    """The erasure list (empty when none); a list made with another key is a named error."""
    path = erased_path(work_dir)
    if not path.is_file():
        return ErasedList(rows=[])
    table = pq.read_table(path)
    if (table.schema.metadata or {}).get(b"tunegate.key", b"").decode() != key_fingerprint(key):
        raise ConfigError(f"{path}: the erasure list was written with another pseudonymisation key; set the key "
                          "the pipeline used (its environment variable or Secret block), or no erased subject "
                          "could be kept out of training.")
    return ErasedList(rows=list(zip(*(table[c].to_pylist() for c in ("request", "entity", "hash")))))


def add_erased(work_dir: Path, request: str, hashes: set[tuple[str, str]], key: bytes) -> None:
    """Append one request's hashes to the erasure list (atomically; a request already there is left alone)."""
    current = read_erased(work_dir, key)
    if request in current.requests:
        return
    rows = current.rows + [(request, e, h) for e, h in sorted(hashes)]
    table = pa.table({c: [row[i] for row in rows] for i, c in enumerate(("request", "entity", "hash"))},
                     schema=pa.schema([("request", pa.string()), ("entity", pa.string()), ("hash", pa.string())],
                                      metadata={"tunegate.key": key_fingerprint(key)}))
    with atomic_file(erased_path(work_dir)) as tmp:
        pq.write_table(table, tmp)


def id_files(folder: Path) -> list[Path]:
    """Files under ``folder`` keyed by document id; the subject index comes last."""
    out = []
    for p in sorted(Path(folder).rglob("*")):
        if not p.is_file() or p.name.startswith("."):
            continue
        if p.suffix == ".parquet" and "id" in pq.read_schema(p).names:
            out.append(p)
        elif p.suffix == ".jsonl":
            with p.open(encoding="utf-8") as f:
                first = f.readline()
            try:
                keyed = isinstance(row := json.loads(first), dict) and "id" in row
            except ValueError:  # not JSON lines after all: not a file of documents
                keyed = False
            if keyed:
                out.append(p)
    return sorted(out, key=lambda p: p.name == SUBJECT_INDEX)


def _without(path: Path, ids: set[str]) -> tuple[int, Path | None]:
    """Write ``path`` without the documents to a temporary sibling: (rows removed, the sibling or None)."""
    tmp = path.with_name(f".{path.name}.erasing")
    if path.suffix == ".parquet":
        table = pq.read_table(path)
        drop = pc.is_in(table["id"].cast(pa.string()), value_set=pa.array(sorted(ids), pa.string()))
        removed = pc.sum(drop).as_py() or 0
        if removed:
            pq.write_table(table.filter(pc.invert(drop)), tmp)
        return removed, tmp if removed else None
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [x for x in lines if not x.strip() or str(json.loads(x).get("id")) not in ids]
    if len(kept) == len(lines):
        return 0, None
    tmp.write_text("".join(kept), encoding="utf-8")
    return len(lines) - len(kept), tmp


def rewrite_without(folder: Path, ids: set[str], files: list[Path] | None = None) -> dict[str, int]:
    """Remove the documents from every id-keyed file of ``folder`` (or just ``files``), all or none staged
    before any is replaced. Returns rows removed per file (relative to the folder)."""
    staged: list[tuple[Path, Path, int]] = []
    try:
        for f in (id_files(folder) if files is None else files):
            removed, tmp = _without(f, ids)
            if tmp is not None:
                staged.append((tmp, f, removed))
    except BaseException:
        for tmp, _, _ in staged:
            tmp.unlink(missing_ok=True)
        raise
    for tmp, f, _ in staged:
        os.replace(tmp, f)
    return {str(f.relative_to(folder)): n for _, f, n in staged}


def drop_erased(dataset: DatasetRef, work_dir: Path, key: bytes) -> DatasetRef:
    """The scrubbed dataset without the documents of any erased subject (its folder rewritten when it held
    some), with the number of erasure requests it was checked against."""
    from tasks.pii.stream import describe_parquet

    erased = read_erased(work_dir, key)
    if not erased.requests:
        return dataset
    folder = Path(dataset.uri).parent
    if not (folder / SUBJECT_INDEX).is_file():
        raise ConfigError(f"{folder}: erasure requests are on record but this dataset has no subject index, so "
                          "erased subjects cannot be kept out of training; set pii.subject_index: true and rerun.")
    hits = find_in_indexes([folder], erased.hashes, key)
    if hits:
        rewrite_without(folder, set(hits[0].ids))
    # described again even without a hit here: an erasure may have rewritten a cached scrub's folder
    ref = describe_parquet(Path(dataset.uri), scrubbed=True, label_is_text=dataset.label_is_text)
    return ref.model_copy(update={"erasures": len(erased.requests)})
