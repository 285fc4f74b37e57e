"""Can the model tell its training documents from others? A loss-threshold membership-inference test.

The attacker of Yeom et al. (2018) guesses "member" when the model's loss on a document is low. Its power is
the ROC AUC of the negative per-document loss (cross-entropy of the true label) separating training rows
(members) from test rows of the same split (non-members): 0.5 means the model treats the documents it was
trained on like any other; 1.0 means every training document is recognisable. Equal numbers of each are
drawn with a fixed seed. The 95 % interval is Hanley and McNeil's (1982). Promotion is gated on the point
estimate (``promotion.max_membership_auc``, default 0.60).

Limits: this is the simplest attack and a lower bound on what a stronger one (shadow models, calibrated
per-example thresholds) achieves; it measures recognisability of whole documents, not extraction of a
single identifier (causal LMs get the canary exposure and extraction test: tasks/evaluate/canaries.py).
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

ROWS = 1000  # per side; fewer when the split is smaller


def auc(member_scores: np.ndarray, other_scores: np.ndarray) -> float:
    """P(a member scores higher than a non-member) + half the ties: the ROC AUC."""
    from sklearn.metrics import roc_auc_score

    labels = np.r_[np.ones(len(member_scores)), np.zeros(len(other_scores))]
    return float(roc_auc_score(labels, np.r_[member_scores, other_scores]))


def interval(a: float, n1: int, n2: int) -> tuple[float, float]:
    """Hanley-McNeil 95 % interval of an AUC from n1 members and n2 non-members."""
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    se = math.sqrt(max(0.0, (a * (1 - a) + (n1 - 1) * (q1 - a * a) + (n2 - 1) * (q2 - a * a)) / (n1 * n2)))
    return max(0.0, a - 1.96 * se), min(1.0, a + 1.96 * se)


def document_losses(model, texts: list[str], gold: list[str]) -> np.ndarray:
    from tasks.predict.classify import predict_texts

    preds = predict_texts(model, texts)
    index = {name: i for i, name in enumerate(preds.label_names)}
    known = [i for i, g in enumerate(gold) if g in index]
    p = preds.probs[known, [index[gold[i]] for i in known]]
    return -np.log(np.clip(p.astype(np.float64), 1e-12, 1.0))


def loss_attack(model, members, others) -> tuple[np.ndarray, np.ndarray, float, tuple[float, float]]:
    """The attack on two frames of (``text``, ``label``) rows: each side's per-document losses (rows whose label
    the model does not know left out), the AUC of "member" (lower loss) and its 95 % interval."""
    member = document_losses(model, members["text"].astype(str).tolist(), members["label"].astype(str).tolist())
    other = document_losses(model, others["text"].astype(str).tolist(), others["label"].astype(str).tolist())
    a = auc(-member, -other) if len(member) and len(other) else 0.5
    return member, other, a, interval(a, max(1, len(member)), max(1, len(other)))


def membership_test(model_dir: Path, train_uri: str, test_uri: str, rows: int = ROWS, seed: int = 0) -> dict:
    """The attack's AUC on a classification model folder, with its interval and the two mean losses."""
    import pandas as pd

    from tasks.predict.classify import load_model

    t0 = time.perf_counter()
    train = pd.read_parquet(train_uri, columns=["text", "label"]).dropna(subset=["label"])
    test = pd.read_parquet(test_uri, columns=["text", "label"]).dropna(subset=["label"])
    n = min(rows, len(train), len(test))
    train, test = train.sample(n=n, random_state=seed), test.sample(n=n, random_state=seed)
    member, other, a, (low, high) = loss_attack(load_model(Path(model_dir)), train, test)
    return {"measured": True, "attack": "loss-threshold membership inference", "auc": round(a, 4),
            "auc_95": [round(low, 4), round(high, 4)], "train_rows": int(len(member)), "test_rows": int(len(other)),
            "mean_loss_train": round(float(member.mean()), 4) if len(member) else None,
            "mean_loss_test": round(float(other.mean()), 4) if len(other) else None,
            "seconds": round(time.perf_counter() - t0, 3)}

