"""Does the model survive the text it will meet? A seeded robustness suite on the test split (EU AI Act Art. 15(4)).

Each perturbation is a pure function of one scrubbed document (and a seeded ``random.Random``):

- ``char_noise_2`` / ``char_noise_5``: 2 % / 5 % of the letters replaced by another letter (typos);
- ``ocr``: a quarter of the OCR-confusable spots swapped (rn↔m, 0↔O, 1↔l);
- ``upper``: the whole document in upper case;
- ``first_half``: the first half of each document's words only (a truncated note);
- ``pseudonym_swap``: every pseudonym token ``<TYPE_hex>`` replaced by another of its type (from the other
  documents of the split, else a fresh one), the same token by the same one within a document. A model
  trained on pseudonymised text must not depend on which pseudonym a person got: a large drop here says it
  learned identities.

The scrubber's tokens (``<PERSON_7f3a…>``, ``<EMAIL_ADDRESS>``) are left as they are by the other
perturbations: noise, case and OCR happen to the raw text, before scrubbing writes the tokens.
``robustness_test`` scores the model once per perturbation through the predict path's length-sorted
batched scorer (``tasks.predict.classify.predict_texts``) and reports each metric and its drop from clean.
A perturbed document whose token ids equal the clean one's (upper case under an uncased tokenizer; a note
without pseudonyms under the swap; noise past ``max_length``) is the same input, so it keeps its clean
prediction and is not scored again (``scored_variants``): the record says how many each pass scored.
Causal LMs are not measured (their metric is generated text, a pass per perturbation costs a generation).
"""

from __future__ import annotations

import random
import re
import string
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from tasks.evaluate.metrics import compute_metrics

PSEUDONYM = re.compile(r"<([A-Z][A-Z0-9_]*)_([0-9a-f]{8,64})>")
TOKEN = re.compile(r"<[A-Z][A-Z0-9_]*(?:_[0-9a-f]{8,64})?>")  # any scrubber token: left intact
OCR_PAIRS = {"rn": "m", "m": "rn", "0": "O", "O": "0", "1": "l", "l": "1"}
OCR_SPOT = re.compile("rn|m|0|O|1|l")
OCR_RATE = 0.25
METRIC = "macro_f1"


def _outside_tokens(text: str, fn: Callable[[str], str]) -> str:
    """``fn`` applied to the stretches of ``text`` between scrubber tokens, tokens kept."""
    out, last = [], 0
    for m in TOKEN.finditer(text):
        out += [fn(text[last:m.start()]), m.group()]
        last = m.end()
    return "".join(out + [fn(text[last:])])


def char_noise(text: str, rate: float, rng: random.Random) -> str:
    """Each letter, with probability ``rate``, replaced by another letter of the same case."""
    def noisy(part: str) -> str:
        chars = list(part)
        for i, c in enumerate(chars):
            if c.isascii() and c.isalpha() and rng.random() < rate:
                pool = string.ascii_lowercase if c.islower() else string.ascii_uppercase
                chars[i] = rng.choice(pool.replace(c, ""))
        return "".join(chars)
    return _outside_tokens(text, noisy)


def ocr_confusions(text: str, rng: random.Random, rate: float = OCR_RATE) -> str:
    """Each OCR-confusable spot (rn, m, 0, O, 1, l), with probability ``rate``, read as its twin."""
    return _outside_tokens(text, lambda part: OCR_SPOT.sub(
        lambda m: OCR_PAIRS[m.group()] if rng.random() < rate else m.group(), part))


def upper_case(text: str) -> str:
    return _outside_tokens(text, str.upper)


def first_half(text: str) -> str:
    """The first half of the document's words (rounded up), spacing of the kept part unchanged."""
    words = list(re.finditer(r"\S+", text))
    if not words:
        return text
    return text[:words[(len(words) + 1) // 2 - 1].end()]


def pseudonym_pool(texts: list[str]) -> dict[str, list[str]]:
    """Every pseudonym token of the texts, by type, sorted (the swap's candidates)."""
    pool: dict[str, set[str]] = {}
    for t in texts:
        for m in PSEUDONYM.finditer(t):
            pool.setdefault(m.group(1), set()).add(m.group())
    return {k: sorted(v) for k, v in pool.items()}


def swap_pseudonyms(text: str, pool: dict[str, list[str]], rng: random.Random) -> str:
    """Every pseudonym token replaced by another of its type; the same token by the same one in this text."""
    chosen: dict[str, str] = {}

    def other(m: re.Match) -> str:
        token, kind, width = m.group(), m.group(1), len(m.group(2))
        if token not in chosen:
            candidates = [x for x in pool.get(kind, []) if x != token]
            chosen[token] = rng.choice(candidates) if candidates else \
                f"<{kind}_{rng.getrandbits(4 * width):0{width}x}>"
        return chosen[token]
    return PSEUDONYM.sub(other, text)


def perturb(texts: list[str], seed: int) -> dict[str, list[str]]:
    """Each perturbation of the texts, seeded (one ``Random`` per perturbation, documents in order)."""
    pool = pseudonym_pool(texts)
    rngs = {name: random.Random(f"{seed}:{name}") for name in ("char_noise_2", "char_noise_5", "ocr", "swap")}
    return {
        "char_noise_2": [char_noise(t, 0.02, rngs["char_noise_2"]) for t in texts],
        "char_noise_5": [char_noise(t, 0.05, rngs["char_noise_5"]) for t in texts],
        "ocr": [ocr_confusions(t, rngs["ocr"]) for t in texts],
        "upper": [upper_case(t) for t in texts],
        "first_half": [first_half(t) for t in texts],
        "pseudonym_swap": [swap_pseudonyms(t, pool, rngs["swap"]) for t in texts],
    }


def scored_variants(predict: Callable[[list[str]], list[str]], encode: Callable[[list[str]], Sequence],
                    texts: list[str], variants: dict[str, list[str]],
                    clean: list[str] | None = None) -> tuple[list[str], dict[str, tuple]]:
    """(clean predictions, perturbation -> (its predictions, documents scored)): each perturbation scores only
    the documents whose token ids (``encode``) differ from the clean ones; the rest keep the clean prediction.
    ``clean``: the clean predictions where the caller has them already (not scored again)."""
    clean, clean_ids = list(predict(texts) if clean is None else clean), encode(texts)
    out = {}
    for name, batch in variants.items():
        ids = encode(batch)
        changed = [i for i in range(len(batch)) if not np.array_equal(ids[i], clean_ids[i])]
        preds = list(clean)
        for i, label in zip(changed, predict([batch[i] for i in changed]) if changed else []):
            preds[i] = label
        out[name] = (preds, len(changed))
    return clean, out


def drops(clean: float, scores: dict[str, float]) -> dict[str, float]:
    """Each perturbation's drop from the clean score (positive: worse)."""
    return {name: round(clean - v, 6) for name, v in scores.items()}


def robustness_test(model_dir: Path, test_uri: str, seed: int = 0, model=None,
                    clean: list[str] | None = None) -> dict:
    """Macro-F1 of a classification model folder on the clean and each perturbed test split, and the drops.
    ``model``: the folder's model already loaded; ``clean``: its predictions on the test split's labelled rows,
    in order, when the caller has them (``validate_model``: from the calibration's pass)."""
    import pandas as pd

    from tasks.predict.classify import load_model, predict_texts
    from tasks.predict.folder import read_train_config
    from tasks.train.data import encode_texts

    t0 = time.perf_counter()
    if read_train_config(Path(model_dir)).get("task", "classification") != "classification":
        return {"measured": False, "why": "a causal LM: the suite scores classifiers"}
    df = pd.read_parquet(test_uri, columns=["text", "label"]).dropna(subset=["label"])
    texts, gold = df["text"].astype(str).tolist(), df["label"].astype(str).tolist()
    model = model or load_model(Path(model_dir))

    def score(preds: list[str]) -> float:  # macro-F1 reads the labels only: confidence is not used
        return float(compute_metrics(gold, preds, np.ones(len(preds)), model.label_names).macro_f1)

    variants = perturb(texts, seed)
    clean_preds, scored = scored_variants(
        lambda batch: predict_texts(model, batch).labels,
        lambda batch: encode_texts(model.tokenizer, batch, model.max_length, model.truncation), texts, variants,
        clean)
    clean = score(clean_preds)
    scores = {name: score(preds) for name, (preds, _) in scored.items()}
    lost = drops(clean, scores)
    return {"measured": True, "metric": METRIC, "seed": seed, "n": len(texts), "clean": round(clean, 6),
            "perturbations": {name: {"value": round(scores[name], 6), "drop": lost[name],
                                     "docs_changed": sum(a != b for a, b in zip(texts, variants[name])),
                                     "docs_scored": scored[name][1]}
                              for name in variants},
            "worst": max(lost, key=lost.get) if lost else None, "seconds": round(time.perf_counter() - t0, 3)}
