"""The prediction store: every scored document's scrubbed text, prediction, confidence, model version and
sentence embedding (from the same forward pass as the prediction).

Parquet files partitioned by day under ``<work_dir>/predictions/date=YYYY-MM-DD/``, one file per
predict or monitor run, so a later retrain or audit can read a date range with any Parquet reader (hive
layout). Only scrubbed text is stored. Each file's schema metadata names the batch it scored (a digest of
the batch's ids and texts), the model version and whether every document was scored: the monitor reuses a
logged batch instead of scrubbing and scoring it again (``find_logged``). The embedding is a float16
column in the same rows, so an erasure that removes a document's row removes its embedding too.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tasks.errors import InputError
from tasks.refs import atomic_file

STORE_COLUMNS = ("id", "text", "prediction", "confidence", "model_version", "document_timestamp", "logged_at",
                 "embedding")
GENERATION_COLUMNS = ("output_tokens", "perplexity")  # a causal LM's rows also carry these
META = b"tunegate"  # schema metadata key: {"batch_sha256", "model_version", "complete"}


def prediction_rows(scrubbed: pd.DataFrame, predictions: pd.DataFrame, logged_at: datetime) -> pd.DataFrame:
    """Join scrubbed documents (id, text, timestamp) to their predictions by id, in document order."""
    if len(scrubbed) != len(predictions):
        raise InputError(f"prediction store: {len(predictions)} predictions for {len(scrubbed)} documents; "
                         "score the whole scrubbed batch before logging it.")
    preds = predictions.set_index(predictions["id"].astype(str))
    ids = scrubbed["id"].astype(str)
    if not ids.isin(preds.index).all():
        raise InputError("prediction store: predictions and documents have different ids; "
                         "score the same scrubbed dataset that is being logged.")
    preds = preds.loc[ids]
    ts = scrubbed["timestamp"] if "timestamp" in scrubbed.columns else pd.Series(pd.NaT, index=scrubbed.index)
    extra = {c: preds[c].to_numpy() for c in GENERATION_COLUMNS if c in preds.columns}
    return pd.DataFrame({
        "id": ids.to_numpy(),
        "text": scrubbed["text"].astype(str).to_numpy(),
        "prediction": preds["prediction"].astype(str).to_numpy(),
        "confidence": preds["confidence"].astype(float).to_numpy(),
        "model_version": preds["model_version"].astype(int).to_numpy(),
        "document_timestamp": pd.to_datetime(ts, utc=True).to_numpy(),
        "logged_at": pd.Timestamp(logged_at).tz_convert("UTC"),
        **extra,
    })


def store_path(root: Path, run_id: str, logged_at: datetime) -> Path:
    return Path(root) / f"date={logged_at.astimezone(UTC):%Y-%m-%d}" / f"{run_id}.parquet"


def append_predictions(rows: pd.DataFrame, root: Path, run_id: str, logged_at: datetime | None = None,
                       embeddings: np.ndarray | None = None, batch_sha256: str | None = None,
                       complete: bool = True) -> Path:
    """Write one run's rows (and their embeddings) into today's partition, atomically, and return the file.

    ``batch_sha256`` names the batch they came from (``tasks.datasets.content_sha256``) and ``complete``
    says whether every document of it was scored; both go into the file's schema metadata.
    """
    logged_at = logged_at or datetime.now(UTC)
    out = store_path(root, run_id, logged_at)
    table = pa.Table.from_pandas(rows, preserve_index=False)
    if embeddings is not None:
        if len(embeddings) != len(rows):
            raise InputError(f"prediction store: {len(embeddings)} embeddings for {len(rows)} rows.")
        width = embeddings.shape[1] if embeddings.ndim == 2 else 0
        flat = pa.array(np.ascontiguousarray(embeddings, dtype=np.float16).ravel())
        table = table.append_column("embedding", pa.FixedSizeListArray.from_arrays(flat, width))
    meta = {"batch_sha256": batch_sha256, "model_version": int(rows["model_version"].iloc[0]) if len(rows) else None,
            "complete": bool(complete)}
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), META: json.dumps(meta).encode()})
    with atomic_file(out) as tmp:
        pq.write_table(table, tmp)
    return out


def logged_meta(path: Path) -> dict:
    """The store file's tunegate metadata (empty for files written before it existed)."""
    raw = (pq.read_schema(path).metadata or {}).get(META)
    return json.loads(raw) if raw else {}


def find_logged(root: Path, batch_sha256: str, model_version: int) -> Path | None:
    """The newest store file that scored this batch with this model version and holds embeddings, or None.

    Reads only schema metadata, so the cost grows with the number of files, not their size.
    """
    found = []
    for part in Path(root).glob("date=*/*.parquet"):
        try:
            meta, names = logged_meta(part), pq.read_schema(part).names
        except (OSError, pa.ArrowInvalid, ValueError):  # a file being replaced, or not a store file
            continue
        if meta.get("batch_sha256") == batch_sha256 and meta.get("model_version") == model_version \
                and "embedding" in names:
            found.append((part.stat().st_mtime, bool(meta.get("complete")), part))
    return max(found, key=lambda f: (f[1], f[0]))[2] if found else None


def read_embeddings(table: pa.Table) -> np.ndarray:
    """The ``embedding`` column of a store table as a float32 (rows, dim) array."""
    col = table["embedding"].combine_chunks()
    width = col.type.list_size
    return col.flatten().to_numpy(zero_copy_only=False).astype(np.float32).reshape(len(col), width)


def read_store(root: Path, since: str | None = None) -> pd.DataFrame:
    """All logged predictions (optionally from partition ``date >= since``, YYYY-MM-DD)."""
    parts = sorted(Path(root).glob("date=*/*.parquet"))
    if since:
        parts = [p for p in parts if p.parent.name.split("=", 1)[1] >= since]
    if not parts:
        return pd.DataFrame(columns=list(STORE_COLUMNS))
    return pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
