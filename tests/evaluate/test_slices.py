"""Slices of the test split (tasks/evaluate/slices.py) and the slice gate fed by stored per-row outputs."""

import json

import numpy as np
import pandas as pd
import pytest

from tasks.config import PromotionPolicy
from tasks.evaluate.metrics import compute_metrics
from tasks.evaluate.slices import MISSING, length_buckets, slice_columns, slice_report
from tasks.evaluate.stats import RowScores, rows_path, write_rows
from tasks.evaluate.validate import validate_stored, validation_lines
from tasks.registry.promote import decide_promotion
from tasks.validation import EvaluateConfig


@pytest.mark.parametrize("words, expected", [
    ([1, 2, 3, 4, 5, 6], ["short (≤ 2 words)"] * 2 + ["medium (3–4 words)"] * 2 + ["long (> 4 words)"] * 2),
    ([7, 7, 7], ["short (≤ 7 words)"] * 3),  # one length: one bucket
    ([], []),
])
def test_length_buckets_are_terciles_named_by_their_word_range(words, expected):
    assert length_buckets(np.array(words)).tolist() == expected


def test_only_segment_like_columns_are_sliced_and_refused_ones_quote_no_value():
    n = 60
    frame = pd.DataFrame({
        "product": ["Motor", "Home", None] * 20,
        "notes": [f"Spoke to Jane Doherty about claim {i}" for i in range(n)],  # free text: one value per row
        "memo": ["x" * 81] * n,  # few values, but too long to be a code
        "id": [str(i) for i in range(n)], "text": ["a note"] * n})
    cols, notes = slice_columns(frame, ["product", "notes", "memo", "id", "text", "region", "product"],
                                np.arange(n))
    assert list(cols) == ["product", "length"]
    assert sorted(set(cols["product"])) == [MISSING, "Home", "Motor"]
    assert len(notes) == 5 and all(word in " ".join(notes) for word in ("notes", "memo", "'id'", "'text'", "region"))
    assert "Doherty" not in " ".join(notes) and "xxxx" not in " ".join(notes)


def test_slices_below_min_rows_are_reported_not_gated():
    r = RowScores(labels=["a", "b"], true=np.zeros(40, int), pred=np.zeros(40, int), confidence=np.full(40, .9))
    values = np.array(["big"] * 35 + ["small"] * 5, dtype=object)
    out = slice_report({"candidate": r}, {"channel": values}, min_rows=30, resamples=100, seed=0)
    assert [(s.name, s.rows, s.gated) for s in out] == [("channel=big", 35, True), ("channel=small", 5, False)]


def _write(eval_dir, name, gold, pred, labels):
    conf = np.full(len(gold), 0.8)
    report = compute_metrics(gold, pred, conf, labels)
    (eval_dir / name).write_text(report.model_dump_json())
    write_rows(rows_path(eval_dir / name), RowScores.of_classes(report.labels, gold, pred, conf))
    return report


def test_a_candidate_better_on_average_but_losing_a_slice_is_rejected_naming_it(tmp_path):
    """Stored per-row outputs through the validation and the decision: the candidate fixes 40 'Home' rows the
    champion got wrong and breaks 12 of 40 'Travel' rows; macro-F1 rises, the Travel slice falls."""
    labels = ["fire", "theft", "travel"]
    product = ["Home"] * 80 + ["Travel"] * 40 + ["Motor"] * 10
    gold = [labels[i % 2] for i in range(80)] + ["travel"] * 40 + ["theft"] * 10
    champ = [g if i >= 40 else ("theft" if g == "fire" else "fire") for i, g in enumerate(gold[:80])] + gold[80:]
    cand = gold[:80] + ["fire"] * 12 + ["travel"] * 28 + gold[120:]
    pd.DataFrame({"id": [str(i) for i in range(130)], "text": ["claim note words"] * 130, "label": gold,
                  "product": product}).to_parquet(tmp_path / "test.parquet")
    eval_dir = tmp_path / "eval"
    eval_dir.mkdir()
    cand_report = _write(eval_dir, "eval.json", gold, cand, labels)
    champ_report = _write(eval_dir, "champion_eval.json", gold, champ, labels)
    assert cand_report.macro_f1 > champ_report.macro_f1 + 0.1

    v = validate_stored(str(tmp_path / "test.parquet"), EvaluateConfig(slices=["product"], min_slice_rows=30,
                                                                        resamples=200), eval_dir)
    policy = PromotionPolicy(floors={}, max_slice_regression=0.05, max_class_regression=1)
    d = decide_promotion(cand_report, champ_report, policy, validation=v)
    assert not d.promote
    lost = [r for r in d.reasons if r.startswith("slice ")]
    assert len(lost) == 1 and lost[0].startswith("slice product=Travel (40 rows): macro_f1 1.0000 → "), d.reasons
    assert any("1 slice(s) under evaluate.min_slice_rows" in r for r in d.reasons)  # Motor: 10 rows
    assert decide_promotion(cand_report, champ_report, policy.model_copy(update={"max_slice_regression": None}),
                            validation=v).promote  # the same candidate passes without the slice gate

    # what the run folder holds: the pictures, and no text anywhere in the statistics
    assert set(v.plots) == {"confusion_matrix.png", "reliability.png", "slices.png"}
    assert all((eval_dir / p).read_bytes().startswith(b"\x89PNG") for p in v.plots)
    assert "claim note" not in v.model_dump_json() and "product=Travel" in "\n".join(validation_lines(v, "macro_f1"))
    assert json.loads(v.model_dump_json())["mcnemar"]["only_first"] == 40
