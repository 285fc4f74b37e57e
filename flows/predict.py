"""Batch prediction: ingest → scrub → score with the champion (or a named version) → write predictions.

The output holds ``id``, ``prediction``, ``confidence`` and ``model_version`` only: no text, scrubbed or
not, so a predictions file can be shared without becoming a copy of the documents. The monitor reuses
``predict_batch``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from prefect import flow, get_run_logger, task
from pydantic import BaseModel, ConfigDict

from tasks.config import ColumnMap, DataConfig, PipelineConfig, load_config
from tasks.errors import InputError
from tasks.refs import DatasetRef, atomic_file, new_run_id
from tasks.registry.versions import VersionRef, get_version

WRITERS = {".csv": "to_csv", ".jsonl": "to_json", ".json": "to_json", ".parquet": "to_parquet"}


class PredictionsRef(BaseModel):
    """A written predictions file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    uri: str
    rows: int
    model_version: int
    label_counts: dict[str, int]
    mean_confidence: float


def write_frame(df: pd.DataFrame, out: Path) -> None:
    """Write by suffix (.csv, .jsonl, .parquet), atomically."""
    kind = WRITERS.get(out.suffix.lower())
    if kind is None:
        raise InputError(f"{out}: unknown output format '{out.suffix}'; use .csv, .jsonl or .parquet.")
    with atomic_file(out) as tmp:
        if kind == "to_csv":
            df.to_csv(tmp, index=False)
        elif kind == "to_json":
            df.to_json(tmp, orient="records", lines=True, force_ascii=False)
        else:
            df.to_parquet(tmp, index=False)


def score_frame(ids: list[str], texts: list[str], model_dir: Path, version: int, batch_size: int = 64,
                progress=None) -> pd.DataFrame:
    """Predict in chunks (logging progress) and return id, prediction, confidence, model_version."""
    from tasks.predict.classify import load_model, predict_texts

    model = load_model(model_dir)
    labels, conf, step = [], [], max(batch_size * 8, 1)
    for start in range(0, len(texts), step):
        preds = predict_texts(model, texts[start:start + step], batch_size=batch_size)
        labels.extend(preds.labels)
        conf.extend(np.asarray(preds.confidence, dtype=float).tolist())
        if progress:
            progress(min(start + step, len(texts)), len(texts))
    return pd.DataFrame({"id": ids, "prediction": labels, "confidence": np.round(conf, 6),
                         "model_version": version})


@task(name="predict_batch")
def predict_batch(dataset: DatasetRef, version: VersionRef, out: Path) -> PredictionsRef:
    """Score a scrubbed dataset with a registered version; write id, prediction, confidence to ``out``."""
    log = get_run_logger()
    if not dataset.scrubbed:
        raise InputError(f"{dataset.uri}: not scrubbed; predict_batch only scores the output of scrub_pii.")
    df = pd.read_parquet(dataset.uri, columns=["id", "text"])
    log.info("scoring %d documents with %s v%d", len(df), version.model_name, version.version)
    result = score_frame(df["id"].astype(str).tolist(), df["text"].astype(str).tolist(),
                         version.local_dir / "model", version.version,
                         progress=lambda done, total: log.info("scored %d/%d documents", done, total))
    write_frame(result, Path(out))
    counts = result["prediction"].value_counts().sort_index()
    return PredictionsRef(uri=str(out), rows=len(result), model_version=version.version,
                          label_counts={str(k): int(v) for k, v in counts.items()},
                          mean_confidence=float(result["confidence"].mean()) if len(result) else 0.0)


@task(name="resolve_version")
def resolve_version(config: PipelineConfig, which: str) -> VersionRef:
    """The champion or a version number, downloaded (raises NoChampion when there is none)."""
    return get_version(config, int(which) if str(which).isdigit() else which)


@flow(name="predict", log_prints=True)
def predict(config: PipelineConfig, input: str, output: str, model_version: str = "champion") -> PredictionsRef:
    """Score a file of documents.

    1. resolve the model version first (no champion: stop before reading any data)
    2. ingest the file (id and text; no label needed, no quality gate beyond format errors)
    3. scrub PII with the pipeline's settings
    4. score and write id, prediction, confidence
    """
    from tasks.ingest.task import ingest_documents
    from tasks.pii.task import scrub_pii

    version = resolve_version(config, model_version)
    run_dir = config.work_path("predictions", new_run_id("predict")).resolve()
    cols = config.data.columns
    source = DataConfig(source=str(Path(input).resolve()), format="auto", sample=None,
                        columns=ColumnMap(id=cols.id, text=cols.text, label=None, timestamp=None))
    dataset = ingest_documents(source, run_dir)
    scrubbed, _ = scrub_pii(dataset, config.pii, run_dir, None, estimate=False)  # estimate: training data only
    return predict_batch(scrubbed, version, Path(output).resolve())


def cli_predict(args) -> int:
    """``tunegate predict --config C --input IN --output OUT [--model-version N|champion]``."""
    cfg = load_config(args.config)
    ref = predict(cfg, args.input, args.output, args.model_version)
    print(f"wrote {ref.rows} predictions (id, prediction, confidence) from {cfg.model_name} v{ref.model_version} "
          f"to {ref.uri}; mean confidence {ref.mean_confidence:.3f}")
    return 0
