"""Load a fine-tuned model folder (written by tasks/train/recipe.py) and score texts in batches.

Used by evaluation, batch prediction and monitoring. The folder holds ``adapter/`` (PEFT format, or a
full model when trained with ``method: full``), ``tokenizer/``, ``label_map.json`` and ``train_config.json``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tasks.errors import ConfigError
from tasks.predict.folder import read_calibration, read_labels, read_train_config
from tasks.train.base_model import recorded_base_model
from tasks.train.data import encode_texts, padded_width

# On a CPU, batches of about this many (padded) tokens score fastest: 16-24 rows of 128 tokens, 8-16 of 256,
# against 64 rows, 20-25 % faster (MiniLM, 2 cores, bf16; docs/validation.md#cost). Larger batches leave the
# caches; a GPU keeps the caller's ``batch_size``.
CPU_BATCH_TOKENS = 3072


@dataclass
class LoadedModel:
    model: Any
    tokenizer: Any
    label_names: list[str]
    task: str
    max_length: int
    device: torch.device
    dtype: torch.dtype | None = None  # autocast dtype (None: fp32)
    truncation: str = "head"  # train.truncation of the run: texts are cut as in training
    temperature: float = 1.0  # divides the logits (calibration.json; tasks/evaluate/calibration.py)


@dataclass
class Predictions:
    labels: list[str]
    confidence: np.ndarray
    probs: np.ndarray  # (n, n_labels), columns in label_names order
    label_names: list[str]
    # (n, hidden) L2-normalised mean of the encoder's last hidden states over each text's tokens, from the
    # same forward pass as the prediction (``embed=True``); what the monitor's embedding drift test compares.
    embeddings: np.ndarray | None = None


def load_model(model_dir: Path, device: str | None = None) -> LoadedModel:
    """Load base model + adapter from a training output folder onto GPU when there is one, else CPU."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model_dir = Path(model_dir)
    cfg = read_train_config(model_dir)
    labels = read_labels(model_dir)
    if cfg["task"] != "classification":
        raise ConfigError(f"{model_dir}: a {cfg['task']} model; predict_texts scores classification models only.")
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    tok = AutoTokenizer.from_pretrained(model_dir / "tokenizer", local_files_only=True)
    kw = {"num_labels": len(labels), "id2label": dict(enumerate(labels)),
          "label2id": {n: i for i, n in enumerate(labels)}, "local_files_only": True}
    if cfg.get("pooling") == "mean":  # tasks/train/pooling.py; older folders have no key: cls
        from tasks.train.pooling import load_full, new_classifier

        if cfg["method"] == "full":
            model = load_full(model_dir / "adapter", len(labels))
        else:
            model = _merged(new_classifier(recorded_base_model(model_dir, cfg), len(labels)), model_dir / "adapter")
    elif cfg["method"] == "full":
        model = AutoModelForSequenceClassification.from_pretrained(model_dir / "adapter", **kw)
    else:
        base_model = AutoModelForSequenceClassification.from_pretrained(recorded_base_model(model_dir, cfg), **kw)
        if base_model.config.pad_token_id is None:
            base_model.config.pad_token_id = tok.pad_token_id
        model = _merged(base_model, model_dir / "adapter")
    model.to(dev).eval()
    from tasks.train.devices import autocast_dtype

    # The same rule as training (``train.precision``): bf16 where the hardware runs it natively, ~2x on
    # such CPUs. Evaluation scores through this same path, so reported metrics are those of what is served.
    dtype = autocast_dtype(cfg.get("precision", "auto"), dev)
    return LoadedModel(model, tok, list(labels), cfg["task"], int(cfg.get("max_length", 256)), dev, dtype,
                       cfg.get("truncation", "head"), float(read_calibration(model_dir).get("temperature", 1.0)))


def _merged(base_model, adapter_dir: Path):
    """The base with its LoRA adapter folded in (no LoRA indirection: same outputs, faster inference); without
    importing PEFT where the adapter is a plain LoRA (tasks/predict/lora.py), else through PEFT."""
    from tasks.predict.lora import merge_lora

    model = merge_lora(base_model, adapter_dir)
    if model is None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(base_model, adapter_dir).merge_and_unload()
    return model


@torch.inference_mode()
def predict_texts(model: LoadedModel, texts: list[str], batch_size: int = 64, embed: bool = False) -> Predictions:
    """Class probabilities for each text, in input order (batched by length internally for speed); with
    ``embed``, also each text's sentence embedding from the same forward pass."""
    n, k = len(texts), len(model.label_names)
    probs = np.zeros((n, k), dtype=np.float32)
    emb = np.zeros((n, model.model.config.hidden_size), dtype=np.float32) if embed else None
    if n:
        enc = encode_texts(model.tokenizer, list(texts), model.max_length, model.truncation)
        order = sorted(range(n), key=lambda i: len(enc[i]))
        pad = model.tokenizer.pad_token_id or 0
        budget = CPU_BATCH_TOKENS if model.device.type == "cpu" else None
        for idx in _batches(order, [len(e) for e in enc], batch_size, model.max_length, budget):
            width = padded_width(max(len(enc[i]) for i in idx), model.max_length)
            ids = torch.full((len(idx), width), pad, dtype=torch.long)
            mask = torch.zeros((len(idx), width), dtype=torch.long)
            for r, i in enumerate(idx):
                ids[r, :len(enc[i])] = torch.tensor(enc[i])
                mask[r, :len(enc[i])] = 1
            with torch.autocast(model.device.type, dtype=model.dtype or torch.float32, enabled=model.dtype is not None):
                out = model.model(input_ids=ids.to(model.device), attention_mask=mask.to(model.device),
                                  output_hidden_states=embed)
            probs[idx] = torch.softmax(out.logits.float() / model.temperature, dim=-1).cpu().numpy()
            if emb is not None:
                emb[idx] = mean_pool(out.hidden_states[-1], mask.to(model.device)).cpu().numpy()
    top = probs.argmax(axis=1) if n else np.zeros(0, dtype=int)
    return Predictions(labels=[model.label_names[i] for i in top], confidence=probs.max(axis=1) if n else
                       np.zeros(0, dtype=np.float32), probs=probs, label_names=list(model.label_names),
                       embeddings=emb)


def _batches(order: list[int], lengths: list[int], rows: int, limit: int, tokens: int | None) -> Iterator[list[int]]:
    """``order`` (ascending length) cut into batches of at most ``rows`` rows and, where ``tokens`` is set, at
    most that many padded tokens (one row at least). Width and row count then go together: as few distinct
    shapes as ``padded_width`` allows."""
    s, n = 0, len(order)
    while s < n:
        e = min(s + rows, n)
        if tokens is not None:
            e = s + 1
            while e < min(s + rows, n) and (e + 1 - s) * padded_width(lengths[order[e]], limit) <= tokens:
                e += 1
        yield order[s:e]
        s = e


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """L2-normalised mean of ``hidden`` (batch, tokens, dim) over the tokens ``mask`` keeps, in float32."""
    m = mask.unsqueeze(-1).to(torch.float32)
    pooled = (hidden.float() * m).sum(1) / m.sum(1).clamp(min=1e-9)
    return torch.nn.functional.normalize(pooled, dim=1)
