"""The model card: Hugging Face front matter and every section a regulator asks about."""

import yaml

from tasks.evaluate.metrics import compute_metrics
from tasks.registry.card import CardFacts, render_card


def facts(champion=True, **kw) -> CardFacts:
    import numpy as np

    labels = ["fire", "theft"]
    cand = compute_metrics(["fire", "theft", "fire", "theft"], ["fire", "theft", "fire", "fire"],
                           np.array([0.9, 0.8, 0.7, 0.6]), labels)
    champ = compute_metrics(["fire", "theft", "fire", "theft"], ["fire", "fire", "fire", "fire"],
                            np.array([0.9, 0.8, 0.7, 0.6]), labels)
    base = dict(
        model_name="claims-classifier", version=3, mlflow_run_id="abc123", run_id="run-1", task="classification",
        base_model="/models/minilm", method="lora", labels=labels,
        rows_per_class={"train": {"fire": 70, "theft": 60}, "test": {"fire": 2, "theft": 2}},
        date_range=("2024-01-01", "2024-06-30"), dataset_sha256="d" * 64, config_sha256="c" * 64,
        code_version="deadbeef", trigger="drift", quality={"passed": True, "expectations": 9, "failed": 0},
        pii={"docs": 134, "docs_touched": 120, "counts_by_entity": {"PERSON": 80, "EMAIL_ADDRESS": 12},
             "residual_count": 0, "residual_rate": 0.0, "passed": True,
             "metrics_by_entity": {"PERSON": {"recall": 0.97, "precision": 0.95, "f2": 0.96, "support": 80}}},
        hyperparameters={"learning_rate": 0.002, "lora.r": 16, "epochs": 2},
        candidate=cand, champion=champ if champion else None, champion_version=2 if champion else None,
        decision_promote=True, decision_reasons=["macro_f1: candidate 0.7333 vs champion 0.3333 — beats"],
        outcome="promote", monitoring={"monitor_cron": "0 6 * * *", "reference_rows": 2000, "drift_share": 0.5,
                                       "embedding_drift_threshold": 0.55, "retrain_cron": "0 3 1 * *"},
    )
    base.update(kw)
    return CardFacts(**base)


def test_card_has_hf_front_matter_and_all_sections():
    text = render_card(facts())
    assert text.startswith("---\n")
    meta = yaml.safe_load(text.split("---\n")[1])
    assert meta["base_model"] == "/models/minilm" and meta["library_name"] == "peft"
    metrics = {m.get("name", m["type"]): m["value"] for m in meta["model-index"][0]["results"][0]["metrics"]}
    assert metrics["macro_f1"] == round(facts().candidate.macro_f1, 4)
    for section in ["## Intended use and limits", "## Training data", "### PII evidence", "## Training procedure",
                    "## Evaluation", "## Promotion decision", "## Monitoring plan"]:
        assert section in text, section
    assert "d" * 64 in text and "2024-01-01 to 2024-06-30" in text
    assert "| PERSON | 80 | 0.9700 | 0.9500 | 80 |" in text
    assert "| EMAIL_ADDRESS | 12 | – | – | – |" in text  # no gold for e-mails: no recall claimed
    assert "champion v2" in text and "beats" in text and "| learning_rate | 0.002 |" in text


def test_card_without_champion_or_timestamps():
    text = render_card(facts(champion=False, date_range=None, outcome="reject", decision_promote=False))
    assert "no timestamps in the data" in text and "not promoted" in text
    assert "| macro-F1 |" in text and "| – |" in text


def test_card_of_a_causal_lm_without_class_labels():
    """A causal LM scored on free-text responses has ROUGE-L and perplexity, and no class metrics."""
    from tasks.evaluate.metrics import causal_metrics

    cand = causal_metrics(["fire claim", "theft claim"], ["fire claim", "car claim"], (2.0, 4))
    champ = causal_metrics(["fire claim", "theft claim"], ["claim", "claim"], (4.0, 4))
    text = render_card(facts(task="causal_lm", labels=[], candidate=cand).model_copy(update={"champion": champ}))
    meta = yaml.safe_load(text.split("---\n")[1])
    metrics = {m.get("name", m["type"]): m["value"] for m in meta["model-index"][0]["results"][0]["metrics"]}
    assert metrics == {"rouge_l": round(cand.rouge_l, 4), "perplexity": round(cand.perplexity, 4)}
    assert meta["pipeline_tag"] == "text-generation"
    assert f"| perplexity (lower is better) | {cand.perplexity:.4f} | {champ.perplexity:.4f} |" in text
    assert "| macro-F1 |" not in text and "Per-class metrics: none" in text and "Confusion matrix" not in text


def test_card_says_what_auto_chose_from_the_data(tmp_path):
    from types import SimpleNamespace

    import pandas as pd

    from tasks.config import PipelineConfig
    from tasks.registry.card import build_card_facts, chosen_line

    auto = {"learning_rate": {"chosen": 0.001, "trial_steps": 24, "seconds": 31.4, "trials": [
                {"learning_rate": 0.0001, "val_loss": 1.31}, {"learning_rate": 0.001, "val_loss": 0.42},
                {"learning_rate": 0.003, "val_loss": None, "collapsed": True}]},
            "max_length": {"chosen": 96, "p95_tokens": 93, "model_limit": 256, "rows_cut": 0.048},
            "epochs": {"chosen": 5.66, "target_steps": 300, "steps_per_epoch": 53.0},
            "pooling": {"chosen": "mean"}}
    line = chosen_line(auto)
    assert "mean of the tokens" in line
    assert "first token" in chosen_line({"pooling": {"chosen": "cls"}})
    assert "learning rate 0.001" in line and "3 trials of 24 steps" in line and "0.003: diverged (collapsed)" in line
    assert "max length 96 tokens" in line and "4.8% of rows cut" in line and "5.66 epochs" in line
    assert chosen_line({}) is None
    # the hyperparameter table shows the value an auto setting took, and the card carries the line
    f = facts(hyperparameters={}, chosen=line)
    assert line in render_card(f)
    split = SimpleNamespace(train=SimpleNamespace(label_counts={"fire": 3}), val=None,
                            test=SimpleNamespace(label_counts={"fire": 1}))
    pd.DataFrame({"id": ["a"], "text": ["t"]}).to_parquet(tmp_path / "d.parquet")
    got = build_card_facts(PipelineConfig(), run_id="r", base_model="b", labels=["fire"], split=split,
                           dataset=SimpleNamespace(uri=str(tmp_path / "d.parquet"), sha256="d"), quality=None, pii=None,
                           candidate=f.candidate, champion=None, champion_version=None,
                           decision=SimpleNamespace(promote=True, reasons=[]), code_version="c", trigger="t",
                           train_metrics={"learning_rate": 0.001, "max_length": 96, "epochs": 5.66}, train_auto=auto)
    assert got.hyperparameters["learning_rate"] == "auto: 0.001" and got.hyperparameters["max_length"] == "auto: 96"
    assert got.hyperparameters["pooling"] == "auto: mean"
    assert got.chosen == line


def test_card_wording_comes_from_the_task_labels_and_source_not_a_fixed_domain():
    text = render_card(facts(source="complaints.csv", labels=["Mortgage", "Student loan"],
                             rows_per_class={"train": {"Mortgage": 50, "Student loan": 30},
                                             "test": {"Mortgage": 5, "Student loan": 3}}))
    assert "insurance" not in text.lower() and "claim notes" not in text
    assert "on 80 scrubbed documents from `complaints.csv`" in text
    assert "one of 2 labels (Mortgage, Student loan)" in text
    meta = yaml.safe_load(text.split("---\n")[1])
    assert meta["tags"] == ["tunegate", "lora", "classification", "pii-scrubbed"]
    causal = render_card(facts(task="causal_lm", labels=[], source="notes"))
    assert "Writes a response to a document" in causal and "one of 0 labels" not in causal


def test_card_shows_the_intervals_the_differences_and_the_slices():
    import numpy as np

    from tasks.evaluate.stats import RowScores, SliceResult, validation_report

    true = np.array([0, 1] * 50)
    cand = RowScores(labels=["a", "b"], true=true, pred=np.where(np.arange(100) < 90, true, 1 - true),
                     confidence=np.full(100, 0.9))
    champ = RowScores(labels=["a", "b"], true=true, pred=np.where(np.arange(100) < 80, true, 1 - true),
                      confidence=np.full(100, 0.8))
    v = validation_report({"candidate": cand, "champion": champ}, resamples=200, seed=0)
    small = SliceResult(column="channel", value="web", rows=12, gated=False, metrics=v.intervals)
    v = v.model_copy(update={"slices": [small], "slice_notes": ["slice 'notes' not sliced: 900 distinct values"],
                             "plots": ["slices.png"]})
    text = render_card(facts().model_copy(update={"statistics": v}))
    assert "paired bootstrap over the 100 test rows (200 resamples, seed 0)" in text
    acc = v.intervals["candidate"]["accuracy"]
    assert f"| accuracy | 0.9000 (95% {acc.low:.4f} to {acc.high:.4f}) |" in text
    assert "Difference this version − champion v2 (same rows): accuracy +0.1000 (95% +" in text
    assert "McNemar exact p=0.0020 (10 rows only the candidate gets right, 0 only the champion)" in text
    assert "| channel=web | 12 | no |" in text and "- slice 'notes' not sliced" in text and "`slices.png`" in text
