"""Batch prediction without Prefect: score texts with a model folder, write id, prediction, confidence.

The output holds ``id``, ``prediction``, ``confidence`` and ``model_version`` only (a classifier registered with
a review threshold adds ``needs_review``; a causal LM's adds ``output_tokens`` and ``perplexity``, and its
prediction is the text it generated): no document text,
scrubbed or not, so a predictions file can be shared without becoming a copy of the documents. The complete
log, with scrubbed text and embeddings, goes to the prediction store (``tasks/predict/store.py``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from tasks.datasets import format_of
from tasks.errors import InputError
from tasks.refs import atomic_file


class PredictionsRef(BaseModel):
    """A written predictions file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    uri: str
    rows: int
    model_version: int
    label_counts: dict[str, int]
    mean_confidence: float
    logged: str | None = None  # the prediction-store file that also holds scrubbed text and embeddings


def write_frame(df: pd.DataFrame, out: Path) -> None:
    """Write by suffix (.csv, .jsonl, .parquet), atomically."""
    kind = format_of(out)
    if kind is None:
        raise InputError(f"{out}: unknown output format '{out.suffix}'; use .csv, .jsonl or .parquet.")
    with atomic_file(out) as tmp:
        if kind == "csv":
            df.to_csv(tmp, index=False)
        elif kind == "jsonl":
            df.to_json(tmp, orient="records", lines=True, force_ascii=False)
        else:
            df.to_parquet(tmp, index=False)


def score_frame(ids: list[str], texts: list[str], model_dir: Path, version: int, batch_size: int = 64,
                progress=None, embed: bool = False) -> tuple[pd.DataFrame, np.ndarray | None]:
    """Predict in chunks (reporting progress): a frame of id, prediction, confidence, model_version, and
    with ``embed`` each text's sentence embedding from the same forward pass (else None).

    A classifier's prediction is a label and its confidence the top class probability. A causal LM's
    prediction is its greedy continuation of the document in the recipe's prompt format, its confidence
    the probability of that whole continuation, and the frame adds ``output_tokens`` and ``perplexity``.
    """
    from tasks.predict.folder import needs_review, read_calibration, read_train_config

    if read_train_config(Path(model_dir)).get("task") == "causal_lm":
        return _generate_frame(ids, texts, Path(model_dir), version, progress, embed)
    from tasks.predict.classify import load_model, predict_texts

    model = load_model(model_dir)
    labels, conf, embs, step = [], [], [], max(batch_size * 8, 1)
    for start in range(0, len(texts), step):
        preds = predict_texts(model, texts[start:start + step], batch_size=batch_size, embed=embed)
        labels.extend(preds.labels)
        conf.extend(np.asarray(preds.confidence, dtype=float).tolist())
        if embed:
            embs.append(preds.embeddings)
        if progress:
            progress(min(start + step, len(texts)), len(texts))
    frame = pd.DataFrame({"id": ids, "prediction": labels, "confidence": np.round(conf, 6),
                          "model_version": version})
    if (review := needs_review(conf, read_calibration(Path(model_dir)))) is not None:  # evaluate.target_accuracy
        frame["needs_review"] = review
    return frame, _stack(embs, model.model.config.hidden_size) if embed else None


def _stack(parts: list[np.ndarray], width: int) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros((0, width), dtype=np.float32)


def _generate_frame(ids: list[str], texts: list[str], model_dir: Path, version: int, progress,
                    embed: bool, step: int = 64) -> tuple[pd.DataFrame, np.ndarray | None]:
    from tasks.predict.generate import generate_responses, load_causal_model

    model = load_causal_model(model_dir)
    outs, conf, tokens, ppl, embs = [], [], [], [], []
    for start in range(0, len(texts), step):
        gen = generate_responses(model, texts[start:start + step], embed=embed)
        outs.extend(gen.texts)
        conf.extend(gen.confidence.tolist())
        tokens.extend(gen.tokens.tolist())
        ppl.extend(gen.perplexity().tolist())
        if embed:
            embs.append(gen.embeddings)
        if progress:
            progress(min(start + step, len(texts)), len(texts))
    frame = pd.DataFrame({"id": ids, "prediction": outs, "confidence": np.asarray(conf, dtype=float),
                          "model_version": version, "output_tokens": np.asarray(tokens, dtype=np.int64),
                          "perplexity": np.round(ppl, 6)})
    return frame, _stack(embs, model.model.config.hidden_size) if embed else None
