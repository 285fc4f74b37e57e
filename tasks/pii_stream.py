"""Streaming scrub of a CSV, JSON-lines or Parquet file, on all cores, in constant memory.

Rows are read in windows of ``READ_ROWS``, scrubbed (in worker processes once a file is big enough to
repay their start-up), scanned for residual identifiers and written out in order before the next
window is read. Output goes to a temporary sibling that replaces the target only when the residual
gate passes, so a failed gate leaves nothing at the output path.
"""

from __future__ import annotations

import csv
import json
import multiprocessing as mp
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from tasks.config import PiiConfig
from tasks.errors import InputError, PiiGateFailed
from tasks.refs import atomic_file
from tasks.residual import scan

READ_ROWS = 4096
MIN_POOL_ROWS = 1000  # below this, worker start-up (spaCy load) costs more than it saves


@dataclass
class ScrubStats:
    docs: int = 0
    docs_touched: int = 0
    by_entity: Counter = field(default_factory=Counter)
    by_operator: Counter = field(default_factory=Counter)
    residual: Counter = field(default_factory=Counter)

    @property
    def residual_count(self) -> int:
        return sum(self.residual.values())

    @property
    def residual_rate(self) -> float:
        return self.residual_count / self.docs if self.docs else 0.0

    def gate_message(self, max_rate: float) -> str:
        kinds = ", ".join(f"{k}={v}" for k, v in sorted(self.residual.items()))
        return (f"{self.residual_count} identifiers survived scrubbing in {self.docs} documents "
                f"(rate {self.residual_rate:.4f} > pii.residual_max_rate {max_rate}); by type: {kinds}. "
                "Add or fix a recognizer or reference pattern for these types, then rerun.")


def resolve_workers(workers: int | str) -> int:
    if workers == "auto":
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, int(workers))


# --- worker processes --------------------------------------------------------------------------------
_WORKER = None


def _init_worker(pii_json: str, key: bytes | None) -> None:
    global _WORKER
    import sys

    # Presidio imports transformers and torch if they are installed (~5 s per process); the NER-only
    # spaCy path never uses them, so a worker that has not imported them yet never will.
    for name in ("transformers", "torch"):
        sys.modules.setdefault(name, None)
    from tasks.pii_engine import Scrubber

    _WORKER = Scrubber(PiiConfig.model_validate_json(pii_json), key)


def _scrub_in_worker(texts: list[str]) -> list:
    return _pack(_WORKER.scrub_batch(texts))


def _pack(results: list) -> list:
    return [(t, [(s.start, s.end, s.entity) for s in spans], dict(ops)) for t, spans, ops in results]


class _Engine:
    """Scrubs windows of texts in-process, or in a pool once the input proves big enough."""

    def __init__(self, pii: PiiConfig, key: bytes | None, workers: int):
        self.pii, self.key, self.workers = pii, key, workers
        self.local = None
        self.pool = None
        self.seen = 0

    def __enter__(self) -> "_Engine":
        return self

    def __exit__(self, *exc) -> None:  # noqa: ANN002
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()

    def scrub(self, texts: list[str | None]) -> list[tuple[str | None, list, dict]]:
        self.seen += len(texts)
        idx = [i for i, t in enumerate(texts) if isinstance(t, str) and t]
        todo = [texts[i] for i in idx]
        if self.workers > 1 and (self.pool is not None or self.seen >= MIN_POOL_ROWS or len(texts) == READ_ROWS):
            if self.pool is None:
                ctx = mp.get_context("spawn")  # fork under Prefect's threads can deadlock
                self.pool = ctx.Pool(self.workers, _init_worker, (self.pii.model_dump_json(), self.key))
            step = max(1, min(self.pii.batch_size * 2, -(-len(todo) // self.workers)))
            parts = self.pool.map(_scrub_in_worker, [todo[i:i + step] for i in range(0, len(todo), step)])
            done = [r for part in parts for r in part]
        else:
            if self.local is None:
                from tasks.pii_engine import Scrubber

                self.local = Scrubber(self.pii, self.key)
            done = _pack(self.local.scrub_batch(todo))
        out: list = [(t, [], {}) for t in texts]
        for i, r in zip(idx, done):
            out[i] = r
        return out


# --- readers and writers -----------------------------------------------------------------------------
def file_format(path: Path) -> str:
    suffix = "".join(path.suffixes[-1:]).lower()
    fmt = {".csv": "csv", ".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}.get(suffix)
    if fmt is None:
        raise InputError(f"{path}: unsupported file type '{suffix}'; use .csv, .jsonl or .parquet.")
    return fmt


def _text_value(v: object, where: str, column: str) -> str | None:
    if v is None or isinstance(v, str):
        return v
    raise InputError(f"{where}: column '{column}' holds {type(v).__name__}, not text; pass the text column "
                     "with --text-column or fix the data.")


def _windows(src: Path, fmt: str, column: str, id_column: str) -> Iterator[tuple[object, list, list]]:
    """(payload, texts, ids) per window of rows; payload is what the writer needs to write them back."""
    if fmt == "parquet":
        try:
            pf = pq.ParquetFile(src)
        except (pa.ArrowInvalid, OSError) as e:
            raise InputError(f"{src}: not a readable Parquet file ({type(e).__name__}); check the file.") from None
        names = pf.schema_arrow.names
        if column not in names:
            raise InputError(f"{src}: no column '{column}' (columns: {', '.join(names)}); pass --text-column.")
        ftype = pf.schema_arrow.field(column).type
        if not (pa.types.is_string(ftype) or pa.types.is_large_string(ftype) or pa.types.is_null(ftype)):
            raise InputError(f"{src}: column '{column}' is {ftype}, not text; pass the text column with --text-column.")
        row = 0
        for batch in pf.iter_batches(batch_size=READ_ROWS):
            texts = batch.column(column).to_pylist()
            ids = batch.column(id_column).to_pylist() if id_column in names else list(range(row, row + len(texts)))
            row += len(texts)
            yield batch, texts, [str(i) for i in ids]
        return
    try:
        with open(src, encoding="utf-8", newline="") as f:
            if fmt == "jsonl":
                yield from _jsonl_windows(f, src, column, id_column)
            else:
                yield from _csv_windows(f, src, column, id_column)
    except UnicodeDecodeError as e:
        raise InputError(f"{src}: not UTF-8 text (bad byte at offset {e.start}); convert the file to UTF-8.") from None
    except FileNotFoundError:
        raise InputError(f"{src}: file not found; check --input.") from None


def _jsonl_windows(f, src: Path, column: str, id_column: str):  # noqa: ANN001, ANN202
    recs, n = [], 0
    for n, line in enumerate(f, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError(f"{src}:{n}:{e.colno}: not valid JSON ({e.msg}); fix or remove the line.") from None
        if not isinstance(rec, dict):
            raise InputError(f"{src}:{n}: each line must be a JSON object; fix or remove the line.")
        _text_value(rec.get(column), f"{src}:{n}", column)
        recs.append(rec)
        if len(recs) == READ_ROWS:
            yield _jsonl_payload(recs, column, id_column, n)
            recs = []
    if recs:
        yield _jsonl_payload(recs, column, id_column, n)


def _jsonl_payload(recs: list[dict], column: str, id_column: str, last: int):  # noqa: ANN202
    return recs, [r.get(column) for r in recs], [str(r.get(id_column, "")) for r in recs]


def _csv_windows(f, src: Path, column: str, id_column: str):  # noqa: ANN001, ANN202
    reader = csv.reader(f)
    header = next(reader, None)
    if header is None or column not in header:
        raise InputError(f"{src}:1: no column '{column}' in the header ({', '.join(header or [])}); pass --text-column.")
    ti, ii = header.index(column), header.index(id_column) if id_column in header else None
    rows, n = [], 0
    first = True
    for n, row in enumerate(reader, 2):
        rows.append(row)
        if len(rows) == READ_ROWS:
            yield (header if first else None, rows, ti), [r[ti] if ti < len(r) else None for r in rows], \
                [r[ii] if ii is not None and ii < len(r) else str(n) for r in rows]
            rows, first = [], False
    if rows or first:
        yield (header if first else None, rows, ti), [r[ti] if ti < len(r) else None for r in rows], \
            [r[ii] if ii is not None and ii < len(r) else str(n) for r in rows]


class _Writer:
    def __init__(self, path: Path, fmt: str, column: str):
        self.path, self.fmt, self.column = path, fmt, column
        self.pq, self.f, self.csv = None, None, None

    def write(self, payload: object, texts: list[str | None]) -> None:
        if self.fmt == "parquet":
            batch: pa.RecordBatch = payload
            i = batch.schema.get_field_index(self.column)
            ftype = batch.schema.field(i).type
            ftype = pa.string() if pa.types.is_null(ftype) else ftype
            schema = batch.schema.set(i, pa.field(self.column, ftype))
            batch = pa.RecordBatch.from_arrays(
                [pa.array(texts, ftype) if j == i else batch.column(j) for j in range(batch.num_columns)], schema=schema)
            if self.pq is None:
                self.pq = pq.ParquetWriter(self.path, batch.schema)
            self.pq.write_batch(batch)
            return
        if self.f is None:
            self.f = open(self.path, "w", encoding="utf-8", newline="")
            self.csv = csv.writer(self.f) if self.fmt == "csv" else None
        if self.fmt == "jsonl":
            for rec, t in zip(payload, texts):
                if self.column in rec:
                    rec[self.column] = t
                self.f.write(json.dumps(rec, ensure_ascii=False) + "\n")
        else:
            header, rows, ti = payload
            if header is not None:
                self.csv.writerow(header)
            for row, t in zip(rows, texts):
                if ti < len(row):
                    row[ti] = t
                self.csv.writerow(row)

    def close(self) -> None:
        if self.pq is not None:
            self.pq.close()
        if self.f is not None:
            self.f.close()


def scrub_file(src: Path, dst: Path, column: str, pii: PiiConfig, key: bytes | None, spans_path: Path,
               id_column: str = "id", workers: int | str | None = None) -> ScrubStats:
    """Scrub ``column`` of every row of ``src`` into ``dst`` (same format), spans into ``spans_path``.

    Raises PiiGateFailed (and writes nothing) when the residual rate exceeds ``pii.residual_max_rate``.
    """
    src, dst = Path(src), Path(dst)
    fmt = file_format(src)
    if file_format(dst) != fmt:
        raise InputError(f"{dst}: output must have the same format as the input ({fmt}); change its suffix.")
    stats = ScrubStats()
    n_workers = resolve_workers(pii.workers if workers is None else workers)
    with atomic_file(dst) as tmp, atomic_file(spans_path) as tmp_spans, _Engine(pii, key, n_workers) as engine:
        writer = _Writer(tmp, fmt, column)
        try:
            with open(tmp_spans, "w", encoding="utf-8") as sf:
                for payload, texts, ids in _windows(src, fmt, column, id_column):
                    results = engine.scrub(texts)
                    for doc_id, (out, spans, ops) in zip(ids, results):
                        stats.docs += 1
                        stats.docs_touched += bool(spans)
                        stats.by_entity.update(t for _, _, t in spans)
                        stats.by_operator.update(ops)
                        if out:
                            stats.residual.update(scan(out))
                        sf.write(json.dumps({"id": doc_id, "spans": [
                            {"start": s, "end": e, "type": t} for s, e, t in spans]}) + "\n")
                    writer.write(payload, [r[0] for r in results])
        finally:
            writer.close()
        if fmt == "parquet" and writer.pq is None:  # zero rows: still write the (empty) table
            pq.write_table(pq.read_schema(src).empty_table(), tmp)
        if stats.residual_rate > pii.residual_max_rate:
            err = PiiGateFailed(stats.gate_message(pii.residual_max_rate))
            err.stats = stats  # counts only, for the evidence file of a failed run
            raise err
    return stats


def describe_parquet(path: Path, scrubbed: bool) -> "DatasetRef":
    """A DatasetRef for a canonical Parquet file, hashed over its rows (id, text, label, timestamp)."""
    import hashlib

    from tasks.refs import CANONICAL_COLUMNS, DatasetRef

    pf = pq.ParquetFile(path)
    schema = pf.schema_arrow
    cols = [c for c in CANONICAL_COLUMNS if c in schema.names]
    h, labels = hashlib.sha256(), Counter()
    for batch in pf.iter_batches(batch_size=READ_ROWS, columns=cols):
        data = batch.to_pydict()
        for row in zip(*(data[c] for c in cols)):
            h.update(json.dumps(row, default=str, ensure_ascii=False).encode() + b"\n")
        if "label" in data:
            labels.update(x for x in data["label"] if x is not None)
    return DatasetRef(uri=str(path), sha256=h.hexdigest(), rows=pf.metadata.num_rows,
                      columns={f.name: str(f.type) for f in schema}, label_counts=dict(labels), scrubbed=scrubbed)
