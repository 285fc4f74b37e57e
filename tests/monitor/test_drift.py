"""Drift report: descriptors, Evidently verdicts, the retrain policy, and detection quality.

Detection quality uses the sample generator's drift modes against a reference drawn from the default
distribution, with a tiny stand-in classifier (hashed bag of words, trained on a disjoint sample) for
the prediction columns, and the packaged MiniLM for embeddings.
"""

import numpy as np
import pandas as pd
import pytest

from tasks.config import MonitorConfig
from tasks.monitor.descriptors import compile_domain_patterns, describe_texts, load_vocab, minilm_path
from tasks.monitor.drift import (
    DriftCheck,
    DriftReport,
    compute_drift,
    null_auc_sd,
    sample_rows,
    summary_table,
)
from tasks.monitor.policy import should_retrain
from tests.conftest import torch_threads

VOCAB = load_vocab(str(minilm_path()))
DOMAIN = compile_domain_patterns([r"\b(?:EOW|MTR)-\d{2}\b"], ["HomeShield Plus"])


@pytest.mark.parametrize("text, length, oov, non_letter, codes", [
    ("water came through the ceiling", 30, 0.0, 0.0, 0.0),
    ("EOW-12 under HomeShield Plus", 28, 0.5, 3 / 25, 2 / 4),  # EOW, HomeShield split by WordPiece
    ("xqzv blorf", 10, 1.0, 0.0, 0.0),
    ("", 0, 0.0, 0.0, 0.0),
    ("<PERSON_7f3a2c> rang 12/03", 26, 0.0, 11 / 24, 0.0),  # placeholder letters are whole words
])
def test_descriptors(text, length, oov, non_letter, codes):
    row = describe_texts([text], VOCAB, DOMAIN).iloc[0]
    assert row["length"] == length
    assert row["oov_share"] == pytest.approx(oov)
    assert row["non_letter_share"] == pytest.approx(non_letter)
    assert row["domain_code_share"] == pytest.approx(codes)


def _check(name, kind, value, threshold, drifted, method="m"):
    return DriftCheck(name=name, kind=kind, value=value, threshold=threshold, method=method, drifted=drifted)


def _report(cols=False, emb=False, acc=None, rows=500, n_drifted=0):
    checks = [_check("drifted_columns_share", "columns", n_drifted / 6, 0.5, cols, f"{n_drifted} of 6 columns drifted"),
              _check("length", "descriptor", 0.01, 0.05, n_drifted > 0),
              _check("embedding_drift", "embedding", 0.7 if emb else 0.5, 0.55, emb)]
    if acc is not None:
        checks.append(_check("accuracy", "quality", acc, 0.85, acc < 0.85))
    return DriftReport(checks=checks, reference_rows=1000, current_rows=rows, batch_rows=rows,
                       labelled_rows=rows if acc is not None else 0)


@pytest.mark.parametrize("report, drift, phrase", [
    (_report(), False, "column drift 0 of 6"),
    (_report(n_drifted=1), False, "length"),  # one column alone is not drift
    (_report(cols=True, n_drifted=3), True, "column drift 3 of 6"),
    (_report(emb=True), True, "embedding drift ROC AUC 0.7"),
    (_report(acc=0.7), True, "accuracy 0.7 vs floor 0.85"),
    (_report(acc=0.9), False, "accuracy 0.9"),
    (_report(cols=True, emb=True, n_drifted=4, rows=10), False, "batch too small"),
])
def test_should_retrain_table(report, drift, phrase):
    decision = should_retrain(report, MonitorConfig())
    assert decision.drift is drift
    assert any(phrase in r for r in decision.reasons), decision.reasons


def test_null_auc_sd_shrinks_with_rows():
    assert null_auc_sd(200, 100) > null_auc_sd(2000, 1000) > 0
    assert 0.5 + 3 * null_auc_sd(2000, 1000) < 0.55  # production sizes keep the configured threshold


def test_sample_rows_is_bounded_and_seeded():
    df = pd.DataFrame({"a": range(1000)})
    assert len(sample_rows(df, 100)) == 100 and sample_rows(df, 100).equals(sample_rows(df, 100))
    assert sample_rows(df, 5000) is df


# ------------------------------------------------------------------ detection quality (MiniLM)

@pytest.fixture(scope="module")
def detector():
    import torch
    from sklearn.feature_extraction.text import HashingVectorizer
    from sklearn.linear_model import LogisticRegression

    from tasks.config import load_config
    from tasks.ingest.sample_data import generate
    from tasks.monitor.descriptors import embed_texts

    torch.set_num_threads(torch_threads())
    cfg = load_config("examples/claims.yaml")
    domain = compile_domain_patterns(cfg.pii.keep.patterns, cfg.pii.keep.literals)
    hv = HashingVectorizer(n_features=2 ** 16)
    train, _ = generate(400, 3)
    clf = LogisticRegression(max_iter=300).fit(hv.transform([r["text"] for r in train]),
                                               [r["label"] for r in train])

    def profile(records, emb_rows):
        texts = [r["text"] for r in records]
        frame = describe_texts(texts, VOCAB, domain)
        probs = clf.predict_proba(hv.transform(texts))
        frame["prediction"], frame["confidence"] = clf.classes_[probs.argmax(1)], probs.max(1)
        return frame, embed_texts(texts[:emb_rows], max_length=32)

    ref, ref_emb = profile(generate(600, 7)[0], 300)

    def run(drift, seed, rows=200, emb_rows=200, html=None):
        cur, cur_emb = profile(generate(rows, seed, drift=drift)[0], emb_rows)
        report = compute_drift(ref, cur, drift_share=0.5, embedding_threshold=0.55, reference_emb=ref_emb,
                               current_emb=cur_emb, html_out=html)
        return report, should_retrain(report, MonitorConfig())

    return run


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["mix", "product", "length"])
def test_drifted_batch_is_detected(detector, kind, tmp_path):
    report, decision = detector(kind, 500, html=tmp_path / "r.html")
    assert decision.drift, decision.reasons
    html = (tmp_path / "r.html").read_text()
    assert "ValueDrift" in html or "Value Drift" in html or "drift" in html.lower()
    rows = summary_table(report)
    assert {r["check"] for r in rows} >= {"drifted_columns_share", "length", "prediction", "embedding_drift"}
    assert all(set(r) == {"check", "kind", "value", "threshold", "method", "drifted"} for r in rows)


@pytest.mark.slow
def test_same_distribution_batches_raise_at_most_one_false_alarm(detector):
    alarms = [seed for seed in range(100, 120) if detector("none", seed, rows=150, emb_rows=60)[1].drift]
    assert len(alarms) <= 1, alarms


@pytest.mark.slow  # a real MLflow registry made and migrated per test: 5-17 s
def test_labelled_batch_quality_is_checked_against_champion():
    rng = np.random.default_rng(0)
    def frame(n):
        f = pd.DataFrame({c: rng.normal(size=n) for c in ["length", "oov_share", "non_letter_share",
                                                          "domain_code_share", "confidence"]})
        f["prediction"] = rng.choice(["a", "b"], n)
        return f
    ref, cur = frame(300), frame(200)
    cur["label"] = np.where(rng.uniform(size=200) < 0.6, cur["prediction"],
                            np.where(cur["prediction"] == "a", "b", "a"))
    report = compute_drift(ref, cur, drift_share=0.5, embedding_threshold=0.55,
                           champion_metrics={"accuracy": 0.9, "macro_f1": 0.9, "n": 2000}, min_accuracy_drop=0.05)
    acc = report.check("accuracy")
    assert acc.drifted and acc.threshold == pytest.approx(0.85) and 0.5 < acc.value < 0.7
    # a small champion test split widens the floor to two standard errors of the difference
    small = compute_drift(ref, cur, drift_share=0.5, embedding_threshold=0.55,
                          champion_metrics={"accuracy": 0.64, "macro_f1": 0.6, "n": 61})
    se = np.sqrt(0.64 * 0.36 / 200 + 0.64 * 0.36 / 61)
    assert small.check("accuracy").threshold == pytest.approx(0.64 - 2 * se)
    assert report.labelled_rows == 200 and report.check("embedding_drift") is None
    assert should_retrain(report, MonitorConfig()).drift
