"""The predict stage's Prefect boundary: score a scrubbed dataset with a registered version, log it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
from prefect import get_run_logger, task
from prefect.cache_policies import NONE

from tasks.datasets import content_sha256
from tasks.errors import InputError
from tasks.predict.batch import PredictionsRef, score_frame, write_frame
from tasks.predict.store import append_predictions, prediction_rows
from tasks.refs import DatasetRef, VersionRef
from tasks.runtime import progress


@task(name="batch_digest", cache_policy=NONE)
def batch_digest(dataset: DatasetRef) -> str:
    """Digest of the batch's ids and texts (``content_sha256``): the key its logged predictions are found by."""
    return content_sha256(dataset.uri)


@task(name="predict_batch", cache_policy=NONE)
def predict_batch(dataset: DatasetRef, version: VersionRef, out: Path, store: Path | None = None,
                  run_id: str | None = None, batch_sha256: str | None = None,
                  complete: bool = True) -> PredictionsRef:
    """Score a scrubbed dataset with a registered version; write id, prediction, confidence to ``out``.

    With ``store``, also log each document's scrubbed text, prediction, confidence and sentence embedding
    (from the same forward pass) to the prediction store as ``run_id``, tagged with ``batch_sha256`` and
    whether the whole batch was scored (``complete``): the monitor reuses such a log.
    """
    log = get_run_logger()
    if not dataset.scrubbed:
        raise InputError(f"{dataset.uri}: not scrubbed; predict_batch only scores the output of scrub_pii.")
    if store is not None and not run_id:
        raise InputError("predict_batch: logging to the prediction store needs the run's id.")
    names = pq.read_schema(dataset.uri).names
    df = pd.read_parquet(dataset.uri, columns=[c for c in ("id", "text", "timestamp") if c in names])
    log.info("scoring %d documents with %s v%d", len(df), version.model_name, version.version)
    with progress("score", len(df), "docs") as bar:
        def step(done: int, total: int) -> None:
            log.info("scored %d/%d documents", done, total)
            bar.update(done)

        result, emb = score_frame(df["id"].astype(str).tolist(), df["text"].astype(str).tolist(),
                                  version.local_dir / "model", version.version, progress=step,
                                  embed=store is not None)
    write_frame(result, Path(out))
    logged = None
    if store is not None:
        now = datetime.now(UTC)
        logged = str(append_predictions(prediction_rows(df, result, now), Path(store), str(run_id), now,
                                        embeddings=emb, batch_sha256=batch_sha256, complete=complete))
        log.info("logged %d predictions to the prediction store", len(result))
    generated = "perplexity" in result.columns  # a causal LM's predictions are texts, not classes to count
    counts = result["prediction"].value_counts().sort_index() if not generated else pd.Series(dtype=int)
    return PredictionsRef(uri=str(out), rows=len(result), model_version=version.version,
                          label_counts={str(k): int(v) for k, v in counts.items()},
                          mean_confidence=float(result["confidence"].mean()) if len(result) else 0.0,
                          logged=logged)
