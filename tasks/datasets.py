"""Datasets on disk: which file formats tunegate reads and writes, and the one digest of a dataset's rows.

Common layer. ``format_of`` is the one table of file suffixes (ingest, the file-to-file scrub and the
predictions writer all use it). ``parquet_sha256`` is the one dataset digest: ingest computes it while
writing the canonical file, and every later dataset (scrubbed, split parts, samples) is hashed from its
file the same way, so anyone can recompute a registered ``dataset_sha256`` from the file alone.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

# Canonical Parquet files (ingest's) are written in row groups of this many rows: the scrub reads windows of
# the same size (``tasks.pii.files.READ_ROWS``), so a shard scrubbed on a cluster decodes its own rows only
# (with one row group per file, each of N shards decoded the file up to its start: N²/2 windows in all).
ROW_GROUP_ROWS = 4096

# suffix -> format; a folder of .txt files is the format "text_folder" (ingest only)
SUFFIX_FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".parquet": "parquet",
                  ".pq": "parquet"}


def format_of(path: str | Path) -> str | None:
    """``csv``, ``jsonl`` or ``parquet`` by the file's suffix; None for any other suffix."""
    return SUFFIX_FORMATS.get(Path(path).suffix.lower())


class RowDigest:
    """SHA-256 over canonical rows: one stream per column (lengths, nulls, bytes), so chunking is irrelevant."""

    def __init__(self, schema: pa.Schema):
        self.schema = schema
        # two streams per column (lengths/nulls, bytes) so that chunk boundaries cannot matter
        self.streams = [(hashlib.sha256(), hashlib.sha256()) for _ in schema]

    def update(self, table: pa.Table) -> None:
        for (h, hb), col in zip(self.streams, table.columns, strict=True):
            arr = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
            if pa.types.is_timestamp(arr.type):
                vals = pc.fill_null(arr.cast(pa.int64()), np.iinfo(np.int64).min).to_numpy()
                h.update(vals.astype("<i8").tobytes())
                continue
            lengths = pc.fill_null(pc.binary_length(arr), -1).to_numpy().astype("<i8")
            h.update(lengths.tobytes())
            data = pc.fill_null(arr, "")
            width = np.int64 if pa.types.is_large_string(data.type) else np.int32
            offsets = np.frombuffer(data.buffers()[1], dtype=width)[data.offset:data.offset + len(data) + 1]
            if len(data):
                hb.update(memoryview(data.buffers()[2])[offsets[0]:offsets[-1]])

    def hexdigest(self) -> str:
        top = hashlib.sha256(self.schema.to_string(show_schema_metadata=False).encode())
        for h, hb in self.streams:
            top.update(h.digest() + hb.digest())
        return top.hexdigest()


def parquet_sha256(path: str | Path) -> str:
    """Recompute a canonical dataset's digest from its file (e.g. to verify lineage)."""
    pf = pq.ParquetFile(path)
    d = RowDigest(pf.schema_arrow)
    for batch in pf.iter_batches(batch_size=65_536):
        d.update(pa.Table.from_batches([batch]))
    return d.hexdigest()


def content_sha256(path: str | Path, columns: tuple[str, ...] = ("id", "text")) -> str:
    """Digest of a canonical dataset's ``id`` and ``text`` columns only: the same documents give the same
    digest whether or not the file also carried labels or timestamps (how a monitored batch is matched to
    the predictions ``tunegate predict`` logged for it)."""
    pf = pq.ParquetFile(path)
    d = RowDigest(pa.schema([pf.schema_arrow.field(c) for c in columns]))
    for batch in pf.iter_batches(batch_size=65_536, columns=list(columns)):
        d.update(pa.Table.from_batches([batch]))
    return d.hexdigest()
