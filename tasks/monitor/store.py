"""The prediction store: every monitored document's scrubbed text, prediction and model version.

Parquet files partitioned by day under ``<work_dir>/predictions/date=YYYY-MM-DD/``, one file per
monitor run, so a later retrain or audit can read a date range with any Parquet reader (hive layout).
Only scrubbed text is stored.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from tasks.errors import InputError
from tasks.refs import atomic_file

STORE_COLUMNS = ("id", "text", "prediction", "confidence", "model_version", "document_timestamp", "logged_at")


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
    return pd.DataFrame({
        "id": ids.to_numpy(),
        "text": scrubbed["text"].astype(str).to_numpy(),
        "prediction": preds["prediction"].astype(str).to_numpy(),
        "confidence": preds["confidence"].astype(float).to_numpy(),
        "model_version": preds["model_version"].astype(int).to_numpy(),
        "document_timestamp": pd.to_datetime(ts, utc=True).to_numpy(),
        "logged_at": pd.Timestamp(logged_at).tz_convert("UTC"),
    })


def store_path(root: Path, run_id: str, logged_at: datetime) -> Path:
    return Path(root) / f"date={logged_at.astimezone(UTC):%Y-%m-%d}" / f"{run_id}.parquet"


def append_predictions(rows: pd.DataFrame, root: Path, run_id: str, logged_at: datetime | None = None) -> Path:
    """Write one run's rows into today's partition (atomically) and return the file."""
    logged_at = logged_at or datetime.now(UTC)
    out = store_path(root, run_id, logged_at)
    with atomic_file(out) as tmp:
        rows.to_parquet(tmp, index=False)
    return out


def read_store(root: Path, since: str | None = None) -> pd.DataFrame:
    """All logged predictions (optionally from partition ``date >= since``, YYYY-MM-DD)."""
    parts = sorted(Path(root).glob("date=*/*.parquet"))
    if since:
        parts = [p for p in parts if p.parent.name.split("=", 1)[1] >= since]
    if not parts:
        return pd.DataFrame(columns=list(STORE_COLUMNS))
    return pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
