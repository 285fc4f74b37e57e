"""Streaming scrub of a CSV, JSON-lines or Parquet file, on all cores, in constant memory.

Rows are read in windows of ``READ_ROWS``, scrubbed (in worker processes once a file is big enough to
repay their start-up), scanned for residual identifiers and written out in order before the next
window is read. Output goes to a temporary sibling that replaces the target only when the residual
gate passes, so a failed gate leaves nothing at the output path.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Self

import pyarrow.parquet as pq

from tasks.config import PiiConfig
from tasks.errors import InputError
from tasks.pii.columns import add_scrubbed, fold_columns, gate_error, more_columns, scan_values
from tasks.pii.files import READ_ROWS, Writer, file_format, read_windows
from tasks.pii.gate import judge_scrub
from tasks.pii.ops import apply_operators, clean_texts, keep_matchers, key_fingerprint, settle, subject_hash
from tasks.pii.residual import KINDS
from tasks.pii.workers import scrub_in_worker, start_pool
from tasks.refs import atomic_file

if TYPE_CHECKING:
    from tasks.refs import DatasetRef

MIN_POOL_ROWS = 1000  # below this, worker start-up (spaCy load) costs more than it saves


@dataclass
class ScrubStats:
    docs: int = 0
    docs_touched: int = 0
    by_entity: Counter = field(default_factory=Counter)
    by_operator: Counter = field(default_factory=Counter)
    residual: Counter = field(default_factory=Counter)
    # Where the residual scan found something: (document id, kind, start, end[, column]) in the output text.
    residual_at: list[tuple] = field(default_factory=list)
    # Per column (``tasks/pii/columns.py``) when a dataset has more than the text: the top level is then the
    # sum over every column (documents counted once, touched when any column was).
    columns: dict[str, ScrubStats] = field(default_factory=dict)

    @property
    def residual_count(self) -> int:
        return sum(self.residual.values())

    @property
    def residual_rate(self) -> float:
        return self.residual_count / self.docs if self.docs else 0.0

    def gate_message(self, max_rate: float) -> str:
        kinds = ", ".join(f"{v} {KINDS.get(k, k)}" for k, v in sorted(self.residual.items()))
        where = "; ".join(f"document {d!r}{f' column {c[0]!r}' if c else ''} at {a}-{b} ({KINDS.get(k, k)})"
                          for d, k, a, b, *c in self.residual_at[:5])
        return (f"{self.residual_count} identifiers survived scrubbing in {self.docs} documents "
                f"(rate {self.residual_rate:.4f} > pii.residual_max_rate {max_rate}): {kinds}. First found: {where} "
                "(offsets in the scrubbed text; pii_evidence.json lists up to 100). If they are personal data, add a "
                "pii.references pattern for their format; if they are domain terms (a product or lab code), add "
                "them to pii.keep.literals or pii.keep.patterns; then rerun.")


def resolve_workers(workers: int | str) -> int:
    if workers == "auto":
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, int(workers))


class ScrubEngine:
    """Scrubs windows of texts in-process, or in a pool once the input proves big enough.

    A context manager; ``start()`` brings the workers up ahead of time so that one engine can serve
    several files (and a benchmark can time steady-state throughput).
    """

    def __init__(self, pii: PiiConfig, key: bytes | None, workers: int, index: bool = False):
        """``index``: also give each document's subject hashes (needs ``key``)."""
        self.pii, self.key, self.workers, self.index = pii, key, workers, index
        self.local = None
        self.pool = None
        self.seen = 0

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()

    def start(self) -> Self:
        """Start (and warm) the worker processes now rather than on the first big window."""
        if self.workers > 1 and self.pool is None:
            self._pool().map(scrub_in_worker, [["warm-up"]] * self.workers, chunksize=1)
        return self

    def _pool(self):
        if self.pool is None:
            self.pool, self.local = start_pool(self.pii, self.key, self.workers, self.local)
        return self.pool

    def scrub(self, texts: list[str | None]) -> list[tuple[str | None, list, dict, list]]:
        return self.submit(texts).result()

    def submit(self, texts: list[str | None]) -> _Job:
        """Start scrubbing a window; in the pool this returns at once, so the caller can write the previous
        window's results (residual scan, output) while the workers scrub this one."""
        self.seen += len(texts)
        todo = clean_texts([t for t in texts if _has_text(t)])
        if self.workers > 1 and (self.pool is not None or self.seen >= MIN_POOL_ROWS or len(texts) == READ_ROWS):
            step = max(1, min(self.pii.batch_size * 2, -(-len(todo) // self.workers)))
            # imap hands every chunk to the workers now; the job waits for the last of them, because
            # every name in the window is judged by the counts of the whole window (``CorpusLabels``).
            parts = self._pool().imap(scrub_in_worker, [todo[i:i + step] for i in range(0, len(todo), step)])
            return _Job(texts, self._settle(todo, parts))
        if self.local is None:
            from tasks.pii.engine import Scrubber

            self.local = Scrubber(self.pii, self.key)
        return _Job(texts, self._settle(todo, iter([self.local.candidates(todo)])))

    def _settle(self, todo: list[str], parts: Iterator[tuple[list[list], object]]) -> Iterator[tuple]:
        """(scrubbed text, spans, operator counts) per text, once every chunk of the window is in."""
        spans, corpus = [], None
        for chunk_spans, counts in parts:
            spans += chunk_spans
            corpus = counts if corpus is None else corpus.merge(counts)
        for text, found in zip(todo, settle(todo, spans, corpus) if corpus else []):
            out, ops = apply_operators(text, found, self.pii.operators, self.key)
            # The subject index's keyed hashes, computed here: the only place both the value and the key are.
            subjects = sorted({(s.entity, subject_hash(s.entity, text[s.start:s.end], self.key)) for s in found}) \
                if self.index and self.key else []
            yield out, [(s.start, s.end, s.entity) for s in found], dict(ops), subjects


def _has_text(t: object) -> bool:
    return isinstance(t, str) and bool(t)


@dataclass
class _Job:
    """A window being scrubbed. Iterating yields (scrubbed text, spans, operator counts, subject hashes) per
    input text in order (once every chunk of the window is done); empty and missing texts come back as they
    were."""

    texts: list[str | None]
    done: Iterator[tuple]

    def __iter__(self) -> Iterator[tuple[str | None, list, dict, list]]:
        for t in self.texts:
            yield next(self.done) if _has_text(t) else (t, [], {}, [])

    def result(self) -> list[tuple[str | None, list, dict, list]]:
        return list(self)


def scrub_file(src: Path, dst: Path, column: str, pii: PiiConfig, key: bytes | None, spans_path: Path,
               id_column: str = "id", workers: int | str | None = None,
               engine: ScrubEngine | None = None, index_path: Path | None = None,
               progress: Callable[[int], None] | None = None, also: Sequence[str] = (),
               scan: Sequence[str] = (), rows: tuple[int, int] | None = None, window: int | None = None,
               whole: bool = True) -> ScrubStats:
    """Scrub ``column`` of every row of ``src`` into ``dst`` (same format), spans into ``spans_path``, and
    with ``index_path`` (and a key) the subject index: one row per document and identifier, (id, entity,
    keyed hash), no value.

    Parquet only: ``also`` names more columns scrubbed in the same engine call as ``column`` (their spans
    under "columns" in the spans file, their identifiers in the same subject index), ``scan`` columns that
    are residual-scanned and left as they are. Then ``stats.columns`` holds each column's counts.

    Raises PiiGateFailed (and writes nothing) when the residual rate exceeds ``pii.residual_max_rate``.

    One shard of a Parquet file (``tasks/pii/shards.py``): ``rows`` (start, stop) in windows of ``window``
    rows, and ``whole=False``: the counts stay per column and ungated until every shard's are merged.
    """
    src, dst = Path(src), Path(dst)
    fmt = file_format(src)
    if file_format(dst) != fmt:
        raise InputError(f"{dst}: output must have the same format as the input ({fmt}); change its suffix.")
    also, scan = list(also), list(scan)
    if (also or scan) and fmt != "parquet":
        raise InputError(f"{src}: scrubbing more than one column needs a Parquet file (the canonical dataset).")
    stats = ScrubStats()
    if also or scan:
        stats.columns = {column: ScrubStats(), **{c: ScrubStats() for c in also + scan}}
    keep = keep_matchers(pii.keep.literals, pii.keep.patterns)
    n_workers = resolve_workers(pii.workers if workers is None else workers)
    own = engine is None
    engine = engine or ScrubEngine(pii, key, n_workers, index=index_path is not None)
    index = SubjectIndex(key_fingerprint(key)) if index_path is not None and key else None
    with atomic_file(dst) as tmp, atomic_file(spans_path) as tmp_spans, (engine if own else nullcontext()), \
            (atomic_file(index_path) if index else nullcontext()) as tmp_index:
        writer = Writer(tmp, fmt, column)
        try:
            with open(tmp_spans, "w", encoding="utf-8") as sf:
                def emit(payload, ids, job: _Job) -> None:
                    outs, n, more = [], len(ids), ()
                    if also:  # the window's values, column after column, in one engine call
                        done = job.result()
                        job, more = done[:n], [done[(k + 1) * n:(k + 2) * n] for k in range(len(also))]
                    for r, (doc_id, (out, spans, ops, subjects)) in enumerate(zip(ids, job)):
                        outs.append(out)
                        touched, line = bool(spans), {}
                        if more:
                            touched, subjects = more_columns(stats, column, also, keep, more, r, str(doc_id), spans,
                                                             subjects, line)
                        if index is not None:
                            index.add(str(doc_id), subjects)
                        add_scrubbed(stats, str(doc_id), out, spans, ops, keep, touched)
                        sf.write(json.dumps({"id": doc_id, "spans": [
                            {"start": s, "end": e, "type": t} for s, e, t in spans], **line}) + "\n")
                    for c in scan:
                        scan_values(stats.columns[c], [str(i) for i in ids], payload.column(c).to_pylist(), keep)
                    writer.write(payload, outs, {c: [o for o, *_ in part] for c, part in zip(also, more)})
                    if progress:
                        progress(stats.docs)

                # One window in flight while the previous one is scanned and written: the workers never
                # wait for this process (two windows in memory at most).
                pending = None
                for payload, texts, ids in read_windows(src, fmt, column, id_column, rows, window):
                    job = engine.submit(texts + [v for c in also for v in payload.column(c).to_pylist()] if also
                                        else texts)
                    if pending is not None:
                        emit(*pending)
                    pending = (payload, ids, job)
                if pending is not None:
                    emit(*pending)
        finally:
            writer.close()
        if fmt == "parquet" and writer.pq is None:  # zero rows: still write the (empty) table
            pq.write_table(pq.read_schema(src).empty_table(), tmp)
        if whole:
            gate_scrub(stats, column, also, scan, pii)
        if index is not None:
            index.write(tmp_index)
    return stats


def gate_scrub(stats: ScrubStats, column: str, also: Sequence[str], scan: Sequence[str], pii: PiiConfig) -> None:
    """A whole file's counts: each column's into the total, then the residual gate (raises its error)."""
    if stats.columns:
        fold_columns(stats, column, bool(also))
    verdict = judge_scrub(docs=stats.docs, residual_count=stats.residual_count,
                          max_residual_rate=pii.residual_max_rate,
                          scanned_residual={c: stats.columns[c].residual_count for c in scan})
    if not verdict.passed:
        err = gate_error(stats, verdict)
        err.stats = stats  # counts only, for the evidence file of a failed run
        raise err


class SubjectIndex:
    """Rows (document id, entity type, keyed hash) of one scrubbed dataset, written as Parquet."""

    def __init__(self, fingerprint: str):
        self.fingerprint = fingerprint  # of the key the hashes were made with
        self.ids: list[str] = []
        self.entities: list[str] = []
        self.hashes: list[str] = []

    def add(self, doc_id: str, subjects: list[tuple[str, str]]) -> None:
        for entity, digest in subjects:
            self.ids.append(doc_id)
            self.entities.append(entity)
            self.hashes.append(digest)

    def write(self, path: Path) -> None:
        import pyarrow as pa

        table = pa.table({"id": pa.array(self.ids, pa.string()), "entity": pa.array(self.entities, pa.string()),
                          "hash": pa.array(self.hashes, pa.string())})
        pq.write_table(table.replace_schema_metadata({"tunegate.key": self.fingerprint}), path)


def describe_parquet(path: Path, scrubbed: bool, label_is_text: bool = False) -> DatasetRef:
    """A DatasetRef for a canonical Parquet file: its rows' digest (``tasks.datasets.parquet_sha256``) and labels
    (none counted when the label is free text)."""
    import pyarrow.compute as pc

    from tasks.datasets import parquet_sha256
    from tasks.refs import DatasetRef

    pf = pq.ParquetFile(path)
    schema = pf.schema_arrow
    labels = Counter()
    if "label" in schema.names and not label_is_text:
        for batch in pf.iter_batches(batch_size=65_536, columns=["label"]):
            labels.update({d["values"]: d["counts"] for d in pc.value_counts(batch.column(0)).to_pylist()
                           if d["values"] is not None})
    return DatasetRef(uri=str(path), sha256=parquet_sha256(path), rows=pf.metadata.num_rows,
                      columns={f.name: str(f.type) for f in schema}, label_counts=dict(labels), scrubbed=scrubbed,
                      label_is_text=label_is_text)
