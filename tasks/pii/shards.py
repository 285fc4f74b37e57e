"""One dataset scrubbed as shards on a cluster: plan the shards, scrub one where it runs, merge them in order.

A shard is a run of whole read windows (``files.READ_ROWS`` rows each), and every name is judged by the
counts of its own window (``corpus.CorpusLabels``), so a shard gives exactly the rows, spans and subject
hashes that a scrub of the whole file gives them; merged in order, the output equals the single-machine
scrub byte for byte. Nothing raw travels between machines: a shard gets the dataset's path and its row
range, writes its scrubbed rows, spans, subject-index part and counts into its own folder beside the run,
and hands back that folder. The residual gate runs once, on the merged counts (``stream.gate_scrub``).

The pseudonymisation key never travels either: a worker reads it from its own environment (or the Secret
block) and checks it against the run's key fingerprint; a worker without it never falls back to a
development key.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from tasks.config import PiiConfig
from tasks.errors import PseudonymKeyMismatch
from tasks.pii.ops import key_fingerprint, resolve_pseudonym_key
from tasks.pii.stream import ScrubEngine, ScrubStats, SubjectIndex, gate_scrub, scrub_file
from tasks.refs import atomic_file

PARTS = {"rows": "scrubbed.parquet", "spans": "spans.jsonl", "index": "subjects.parquet", "stats": "stats.json"}
_SCRUBBER: dict[tuple[str, str | None], object] = {}  # one loaded scrubber per worker process (spaCy: seconds)


@dataclass(frozen=True)
class Shard:
    """Rows ``start`` to ``stop`` of a dataset, read in windows of ``window`` rows (as the whole file is)."""

    index: int
    start: int
    stop: int
    window: int


def plan_shards(rows: int, window: int, windows_per_shard: int) -> list[Shard]:
    """Consecutive shards of ``windows_per_shard`` whole windows each (the last may be shorter); one for none."""
    size = window * max(1, windows_per_shard)
    starts = range(0, rows, size) if rows else [0]
    return [Shard(i, a, min(a + size, rows), window) for i, a in enumerate(starts)]


def worker_key(pii: PiiConfig, key_id: str | None) -> bytes | None:
    """The run's key from this machine's environment or Secret block, never a development key, and only when it
    is the run's (``key_id``: its fingerprint; None: the run needs no key)."""
    if key_id is None:
        return None
    key = resolve_pseudonym_key(pii.pseudonym_key_env, pii.pseudonym_key_block, Path("."), require=True)
    if key_fingerprint(key) != key_id:
        raise PseudonymKeyMismatch(
            f"this scrubbing worker's ${pii.pseudonym_key_env} is not the key the run uses (its fingerprint "
            "differs); give every Dask worker the same key as the process that runs the flow, then rerun.")
    return key


def scrub_shard(src: Path, shard: Shard, out: Path, columns: Sequence[str], scan: Sequence[str], pii: PiiConfig,
                key_id: str | None, index: bool) -> Path:
    """Scrub one shard of ``src`` into folder ``out`` (its rows, spans, subject-index part and counts)."""
    key = worker_key(pii, key_id)
    loaded = (pii.model_dump_json(), key_id)
    if loaded not in _SCRUBBER:
        from tasks.pii.engine import Scrubber
        from tasks.pii.workers import restore_malloc_thresholds

        restore_malloc_thresholds()  # once per worker process, with its scrubber (Dask's nanny froze them)
        _SCRUBBER.clear()
        _SCRUBBER[loaded] = Scrubber(pii, key)
    engine = ScrubEngine(pii, key, 1, index=index)
    engine.local = _SCRUBBER[loaded]
    out = Path(out)
    out.mkdir(exist_ok=True)  # never its parent: a run that failed has removed it, and this shard writes nothing
    stats = scrub_file(Path(src), out / PARTS["rows"], columns[0], pii, key, out / PARTS["spans"], engine=engine,
                       index_path=out / PARTS["index"] if index and key else None, also=columns[1:], scan=scan,
                       rows=(shard.start, shard.stop), window=shard.window, whole=False)
    with atomic_file(out / PARTS["stats"]) as tmp:
        tmp.write_text(json.dumps(_stats_json(stats)))
    return out


def merge_shards(parts: Sequence[Path], src: Path, dst: Path, spans_path: Path, index_path: Path | None,
                 columns: Sequence[str], scan: Sequence[str], pii: PiiConfig, key: bytes | None) -> ScrubStats:
    """The shards' counts merged in order and gated (the gate's error, with nothing written, as one scrub of the
    whole file); then their rows, spans and subject index, in order, at the paths a single scrub writes."""
    stats = ScrubStats()
    for part in parts:
        _add(stats, _stats_from(json.loads((Path(part) / PARTS["stats"]).read_text())))
    gate_scrub(stats, columns[0], columns[1:], scan, pii)
    with atomic_file(dst) as tmp:
        writer = None
        for part in parts:
            for g in range((pf := pq.ParquetFile(Path(part) / PARTS["rows"])).num_row_groups):
                for batch in pf.iter_batches(row_groups=[g], batch_size=max(1, pf.metadata.row_group(g).num_rows)):
                    writer = writer or pq.ParquetWriter(tmp, batch.schema)
                    writer.write_batch(batch)
        if writer is None:  # zero rows: still the (empty) table
            pq.write_table(pq.read_schema(src).empty_table(), tmp)
        else:
            writer.close()
    with atomic_file(spans_path) as tmp, open(tmp, "wb") as f:
        for part in parts:
            f.write((Path(part) / PARTS["spans"]).read_bytes())
    if index_path is not None and key:
        index = SubjectIndex(key_fingerprint(key))
        for part in parts:
            table = pq.read_table(Path(part) / PARTS["index"])
            for doc_id, entity, digest in zip(*(table[c].to_pylist() for c in ("id", "entity", "hash"))):
                index.add(doc_id, [(entity, digest)])
        with atomic_file(index_path) as tmp:
            index.write(tmp)
    return stats


def _stats_json(s: ScrubStats) -> dict:
    """Counts, in their insertion order (the evidence keeps it), and positions: no value of any document."""
    return {"docs": s.docs, "docs_touched": s.docs_touched, "by_entity": list(s.by_entity.items()),
            "by_operator": list(s.by_operator.items()), "residual": list(s.residual.items()),
            "residual_at": [list(r) for r in s.residual_at],
            "columns": {c: _stats_json(v) for c, v in s.columns.items()}}


def _stats_from(d: dict) -> ScrubStats:
    return ScrubStats(docs=d["docs"], docs_touched=d["docs_touched"], by_entity=Counter(dict(d["by_entity"])),
                      by_operator=Counter(dict(d["by_operator"])), residual=Counter(dict(d["residual"])),
                      residual_at=[tuple(r) for r in d["residual_at"]],
                      columns={c: _stats_from(v) for c, v in d["columns"].items()})


def _add(total: ScrubStats, part: ScrubStats) -> None:
    """``part`` after ``total``, as if one scrub had read on: counts summed, the first 100 positions kept."""
    total.docs += part.docs
    total.docs_touched += part.docs_touched
    for mine, theirs in ((total.by_entity, part.by_entity), (total.by_operator, part.by_operator),
                         (total.residual, part.residual)):
        mine.update(theirs)
    total.residual_at = (total.residual_at + part.residual_at)[:100]
    for name, cs in part.columns.items():
        _add(total.columns.setdefault(name, ScrubStats()), cs)
