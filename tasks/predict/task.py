"""The predict stage's Prefect boundary: score a scrubbed dataset with a registered version."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from prefect import get_run_logger, task

from tasks.errors import InputError
from tasks.predict.batch import PredictionsRef, score_frame, write_frame
from tasks.refs import DatasetRef
from tasks.registry.versions import VersionRef
from tasks.runtime import progress


@task(name="predict_batch")
def predict_batch(dataset: DatasetRef, version: VersionRef, out: Path) -> PredictionsRef:
    """Score a scrubbed dataset with a registered version; write id, prediction, confidence to ``out``."""
    log = get_run_logger()
    if not dataset.scrubbed:
        raise InputError(f"{dataset.uri}: not scrubbed; predict_batch only scores the output of scrub_pii.")
    df = pd.read_parquet(dataset.uri, columns=["id", "text"])
    log.info("scoring %d documents with %s v%d", len(df), version.model_name, version.version)
    with progress("score", len(df), "docs") as bar:
        def step(done: int, total: int) -> None:
            log.info("scored %d/%d documents", done, total)
            bar.update(done)

        result = score_frame(df["id"].astype(str).tolist(), df["text"].astype(str).tolist(),
                             version.local_dir / "model", version.version, progress=step)
    write_frame(result, Path(out))
    counts = result["prediction"].value_counts().sort_index()
    return PredictionsRef(uri=str(out), rows=len(result), model_version=version.version,
                          label_counts={str(k): int(v) for k, v in counts.items()},
                          mean_confidence=float(result["confidence"].mean()) if len(result) else 0.0)
