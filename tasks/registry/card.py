"""Model cards in the Hugging Face convention: YAML metadata, then Markdown sections.

A card answers a regulator's questions about one version: what data (rows per class, dates, digest), what gate
results, what PII evidence, which hyperparameters, which metrics against the champion, why it was or was not
promoted, and how it is monitored. ``render_card`` is pure; the task writes the file and a Prefect artifact.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict

from tasks.config import PipelineConfig
from tasks.evaluate.metrics import EvalReport
from tasks.evaluate.validate import ValidationReport, validation_lines
from tasks.registry.card_checks import checks_section


class CardFacts(BaseModel):
    """Everything a card states; aggregates only, never document text."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model_name: str
    version: int
    mlflow_run_id: str
    run_id: str
    task: str
    base_model: str
    method: str
    labels: list[str]
    rows_per_class: dict[str, dict[str, int]]  # split name -> label -> rows
    date_range: tuple[str, str] | None
    dataset_sha256: str
    config_sha256: str
    code_version: str
    trigger: str
    quality: dict  # gate summary
    pii: dict  # PiiEvidence as a dict
    hyperparameters: dict
    candidate: EvalReport
    champion: EvalReport | None
    champion_version: int | None
    decision_promote: bool
    decision_reasons: list[str]
    outcome: str  # promote | reject | pending_approval | lost_race
    monitoring: dict
    baseline: EvalReport | None = None  # TF-IDF + logistic regression on the same training and test split
    validation: str | None = None  # what validation during training chose (train.eval_every), in words
    chosen: str | None = None  # what train settings set to auto were chosen from the data, in words
    membership: dict | None = None  # tasks/evaluate/membership.py's result
    source: str = ""  # the data's file or folder name (data.source), for the card's wording
    statistics: ValidationReport | None = None  # intervals, McNemar, slices (tasks/evaluate/stats.py)
    checks: dict | None = None  # calibration and robustness (tasks/evaluate/task.py validate_model)


def _row(cells) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _table(header: list[str], rows: list[list]) -> str:
    return "\n".join([_row(header), _row(["---"] * len(header))] + [_row(r) for r in rows])


def _num(v: float | None) -> str:
    return "–" if v is None else f"{v:.4f}"

def _int(v) -> str:
    return "–" if v is None else str(int(v))


def _index_metrics(c: EvalReport) -> list[dict]:
    """The model-index metrics the report has (a causal LM may have ROUGE-L/perplexity only)."""
    kinds = [("accuracy", {"type": "accuracy"}), ("macro_f1", {"type": "f1", "name": "macro_f1"}),
             ("ece", {"type": "ece"}), ("rouge_l", {"type": "rouge", "name": "rouge_l"}),
             ("perplexity", {"type": "perplexity"})]
    return [{**kind, "value": round(c.metric(name), 4)} for name, kind in kinds if c.metric(name) is not None]


def _front_matter(f: CardFacts) -> str:
    meta = {
        "language": ["en"],
        "license": "other",
        "library_name": "peft" if f.method == "lora" else "transformers",
        "base_model": f.base_model,
        "pipeline_tag": "text-classification" if f.task == "classification" else "text-generation",
        "tags": ["tunegate", f.method, f.task.replace("_", "-"), "pii-scrubbed"],
        "datasets": [f"sha256:{f.dataset_sha256}"],
        "model-index": [{"name": f"{f.model_name} v{f.version}", "results": [{
            "task": {"type": "text-classification" if f.task == "classification" else "text-generation"},
            "dataset": {"name": "held-out test split", "type": f"sha256:{f.dataset_sha256[:16]}"},
            "metrics": _index_metrics(f.candidate)}]}],
    }
    return "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True) + "---\n"


def _what(f: CardFacts) -> str:
    """The training data in words, from the data and config: how many scrubbed documents, from where."""
    n = sum(f.rows_per_class.get("train", {}).values())
    return f"{n:,} scrubbed documents" + (f" from `{f.source}`" if f.source else "")


def _data_section(f: CardFacts) -> str:
    splits = list(f.rows_per_class)
    rows = [[lab] + [f.rows_per_class[s].get(lab, 0) for s in splits] for lab in f.labels]
    rows.append(["**total**"] + [sum(f.rows_per_class[s].values()) for s in splits])
    dates = f"{f.date_range[0]} to {f.date_range[1]}" if f.date_range else "no timestamps in the data"
    q = f.quality
    quality = f"**{'passed' if q.get('passed', True) else 'failed'}**" + "".join(
        f"; {k}: {v}" for k, v in q.items() if k != "passed" and v is not None and not isinstance(v, (dict, list)))
    return "\n".join([
        "## Training data", "",
        f"- Dataset digest (SHA-256 over canonical rows): `{f.dataset_sha256}`",
        f"- Date range: {dates}",
        f"- Quality gate (Great Expectations): {quality}",
        "", _table(["label"] + splits, rows), "",
        "### PII evidence", "",
        "Text was scrubbed before splitting and training; only scrubbed text reached the model and the registry.", "",
        f"- Documents: {f.pii.get('docs', '–')}, touched by scrubbing: {f.pii.get('docs_touched', '–')}",
        f"- Residual PII: {f.pii.get('residual_count', '–')} findings, rate {_num(f.pii.get('residual_rate'))} "
        f"(gate {'passed' if f.pii.get('passed', True) else 'FAILED'})",
        "", _table(["entity", "replaced", "recall", "precision", "support"], [
            [e, n, _num((f.pii.get("metrics_by_entity") or {}).get(e, {}).get("recall")),
             _num((f.pii.get("metrics_by_entity") or {}).get(e, {}).get("precision")),
             _int((f.pii.get("metrics_by_entity") or {}).get(e, {}).get("support"))]
            for e, n in sorted((f.pii.get("counts_by_entity") or {}).items())]),
        "", "Recall and precision are measured against a ground-truth sidecar where one exists (– otherwise).",
        "", _estimate_lines(f.pii),
    ])


def _estimate_lines(pii: dict) -> str:
    est = pii.get("estimated_recall") or {}
    if not est:
        return "Estimated recall on this data: not measured (pii.estimate_docs: 0)."
    overall = est.get("_overall", {})
    rows = [[e, _int(m.get("inserted")), _num(m.get("recall"))] for e, m in sorted(est.items())
            if not e.startswith("_")]
    return "\n".join([
        f"Estimated recall on this data: **{_num(overall.get('recall'))}** over {overall.get('inserted', 0)} synthetic "
        "identifiers inserted into copies of a seeded sample of these documents (the copies were never stored).", "",
        _table(["entity", "inserted", "estimated recall"], rows)])


def _metrics_section(f: CardFacts) -> str:
    c, ch = f.candidate, f.champion
    champ_name = f"champion v{f.champion_version}" if ch else "champion"
    names = [("accuracy", "accuracy"), ("macro-F1", "macro_f1"), ("ECE (lower is better)", "ece"),
             ("ROUGE-L", "rouge_l"), ("perplexity (lower is better)", "perplexity")]
    b = f.baseline
    head = [[label, c.metric(name), ch.metric(name) if ch else None, b.metric(name) if b else None]
            for label, name in names]
    head = [row for row in head if row[1] is not None or row[2] is not None]
    lines = [
        "## Evaluation", "",
        f"On the recorded test split (n={c.n}); the champion was scored on the same rows in the same run, and "
        "so was the baseline: TF-IDF (word 1–2-grams) + logistic regression with balanced class weights, fitted "
        "in the same run on the same training split. A fine-tuned model earns its place by beating it.", "",
        _table(["metric", f"this version (v{f.version})", champ_name, "TF-IDF baseline"],
               [[m, _num(x), _num(y), _num(z)] for m, x, y, z in head]),
        *(["", *validation_lines(f.statistics, champion=champ_name)] if f.statistics else []),
    ]
    if (mi := f.membership) and mi.get("measured") and mi.get("method") == "canary_exposure":
        lines += ["", f"Memorisation: {mi['canaries']} synthetic canary secrets were trained with this run; their "
                  f"exposure is {mi['mean_exposure_bits']:.2f} bits on average (max {mi['max_exposure_bits']:.2f} of "
                  f"{mi['space_bits']:.1f}; about 1.4 for secrets never seen) and {mi['extracted']} of them were "
                  "extracted by greedy decoding. It tests one format of secret at one frequency."]
    elif mi and mi.get("measured"):
        lines += ["", f"Memorisation: a loss-threshold membership-inference attack tells {mi['train_rows']} "
                  f"training documents from {mi['test_rows']} test documents with AUC {mi['auc']:.3f} (95% "
                  f"{mi['auc_95'][0]:.3f}–{mi['auc_95'][1]:.3f}; 0.5 = no better than chance). It is the simplest "
                  "attack, a lower bound on what a stronger one achieves."]
    elif mi:
        lines += ["", f"Memorisation: not measured ({mi['why']})."]
    if not c.per_class:
        return "\n".join(lines + ["", "Per-class metrics: none (the model generates free-text responses, "
                                       "scored by ROUGE-L and perplexity, not class labels)."])
    per = [[lab, _num(s["precision"]), _num(s["recall"]), _num(s["f1"]),
            _num(ch.per_class.get(lab, {}).get("f1")) if ch else "–", s["support"]] for lab, s in c.per_class.items()]
    return "\n".join(lines + [
        "", _table(["class", "precision", "recall", "F1", f"F1 {champ_name}", "support"], per),
        "", "Confusion matrix (rows: true, columns: predicted): " + ", ".join(c.labels), "", "```",
        *["  ".join(f"{x:5d}" for x in row) for row in c.confusion], "```",
    ])


def render_card(f: CardFacts) -> str:
    """The whole card as Markdown with YAML front matter."""
    verdict = {"promote": "promoted to champion", "reject": "not promoted (stays a challenger)",
               "pending_approval": "eligible, waiting for human approval",
               "lost_race": "not promoted: another version became champion meanwhile"}.get(f.outcome, f.outcome)
    mon = f.monitoring
    return "\n".join([
        _front_matter(f),
        f"# {f.model_name} — version {f.version}", "",
        f"Fine-tuned {f.task} model ({f.method}) on {_what(f)}. Decision: **{verdict}**.", "",
        "## Model details", "",
        f"- Base model: `{f.base_model}`", f"- Labels: {', '.join(f.labels) or '– (free-text responses)'}",
        f"- MLflow run: `{f.mlflow_run_id}`; tunegate run: `{f.run_id}`; trigger: {f.trigger}",
        f"- Config SHA-256: `{f.config_sha256}`; code version: `{f.code_version}`", "",
        "## Intended use and limits", "",
        (f"- Assigns a document one of {len(f.labels)} labels ({', '.join(f.labels[:8])}"
         f"{', …' if len(f.labels) > 8 else ''}) to support, not replace, the person who decides."
         if f.task == "classification" else
         "- Writes a response to a document to support, not replace, the person who decides."),
        "- Not for decisions about people on its own; outputs are suggestions with a confidence.",
        f"- Trained on {_what(f)} only; other sources, products, languages or writing styles need re-evaluation.",
        "- Input is scrubbed of personal data before scoring; the model never saw raw identifiers.", "",
        _data_section(f), "",
        "## Training procedure", "", _table(["hyperparameter", "value"], sorted(
            [[k, v] for k, v in f.hyperparameters.items()], key=lambda r: r[0])), "",
        *([f.chosen, ""] if f.chosen else []),
        *([f.validation, ""] if f.validation else []),
        _metrics_section(f), "", *checks_section(f.checks),
        "## Promotion decision", "", f"Outcome: **{f.outcome}** (decision said: "
        f"{'promote' if f.decision_promote else 'do not promote'}).", "",
        *[f"- {r}" for r in f.decision_reasons], "",
        "## Monitoring plan", "",
        f"- Drift checked with Evidently on each production batch (schedule `{mon.get('monitor_cron', '–')}`) "
        f"against `reference/reference.parquet` ({mon.get('reference_rows', '–')} scrubbed training rows).",
        f"- Drift is declared when at least {mon.get('drift_share', '–')} of text descriptors drift, the embedding "
        f"domain classifier ROC AUC exceeds {mon.get('embedding_drift_threshold', '–')}, or the prediction "
        "distribution shifts; it emits `tunegate.drift.detected`, which triggers retraining.",
        f"- Scheduled retraining: `{mon.get('retrain_cron', '–')}`; every candidate must beat this champion "
        "under the same policy, and `tunegate rollback --to-version N` restores an earlier version.", "",
    ])


def _flat(prefix: str, value) -> dict:
    if isinstance(value, dict):
        out: dict = {}
        for k, v in value.items():
            out.update(_flat(f"{prefix}.{k}" if prefix else str(k), v))
        return out
    return {prefix: value}


def summarize(obj) -> dict:
    """A JSON-able dict of a pydantic report (or dict), or ``{}`` for None."""
    if obj is None:
        return {}
    return obj.model_dump(mode="json") if hasattr(obj, "model_dump") else dict(obj)


def quality_summary(report) -> dict:
    """The gate's verdict in counts: rows, expectations run, expectations failed."""
    d = summarize(report)
    checks = d.pop("checks", None)
    if isinstance(checks, list):
        d["expectations"] = len(checks)
        d["failed"] = sum(1 for c in checks if not c.get("success", True))
    return d


def date_range(parquet: str) -> tuple[str, str] | None:
    """First and last ``timestamp`` in a canonical dataset, as ISO dates (None without timestamps)."""
    import pandas as pd
    import pyarrow.parquet as pq

    if "timestamp" not in pq.read_schema(parquet).names:
        return None
    ts = pd.read_parquet(parquet, columns=["timestamp"])["timestamp"].dropna()
    return (ts.min().date().isoformat(), ts.max().date().isoformat()) if len(ts) else None


def build_card_facts(cfg: PipelineConfig, *, run_id: str, base_model: str, labels: list[str], split, dataset,
                     quality, pii, candidate: EvalReport, champion: EvalReport | None, champion_version: int | None,
                     decision, code_version: str, trigger: str, baseline: EvalReport | None = None,
                     train_metrics: dict | None = None, train_auto: dict | None = None,
                     membership: dict | None = None, statistics: ValidationReport | None = None,
                     checks: dict | None = None) -> CardFacts:
    """Gather a card's facts from the pipeline's references (version and MLflow run id filled in later)."""
    rows = {"train": dict(split.train.label_counts), "test": dict(split.test.label_counts)}
    if split.val is not None:
        rows = {"train": rows["train"], "validation": dict(split.val.label_counts), "test": rows["test"]}
    hyper = {k: v for k, v in _flat("", cfg.train.model_dump(mode="json")).items()
             if k not in {"base_model", "rdzv_endpoint", "nnodes"}}
    for k in ("learning_rate", "max_length", "epochs"):  # auto: the value the run used
        if hyper.get(k) == "auto" and (train_metrics or {}).get(k) is not None:
            hyper[k] = f"auto: {train_metrics[k]:g}"
    if hyper.get("pooling") == "auto" and (pool := (train_auto or {}).get("pooling")):
        hyper["pooling"] = f"auto: {pool['chosen']}"
    return CardFacts(
        model_name=cfg.model_name, version=0, mlflow_run_id="", run_id=run_id, task=cfg.train.task,
        base_model=base_model, method=cfg.train.method, labels=labels, rows_per_class=rows,
        date_range=date_range(dataset.uri), dataset_sha256=dataset.sha256, config_sha256=cfg.digest(),
        code_version=code_version, trigger=trigger, quality=quality_summary(quality), pii=summarize(pii),
        hyperparameters=hyper, candidate=candidate, champion=champion, champion_version=champion_version,
        decision_promote=decision.promote, decision_reasons=list(decision.reasons),
        outcome="promote" if decision.promote else "reject",
        monitoring={**cfg.monitor.model_dump(mode="json"), "monitor_cron": cfg.deploy.monitor_cron,
                    "retrain_cron": cfg.deploy.retrain_cron},
        baseline=baseline, validation=validation_line(train_metrics or {}), chosen=chosen_line(train_auto or {}),
        membership=membership, source=Path(str(cfg.data.source)).name, statistics=statistics, checks=checks,
    )


def chosen_line(auto: dict) -> str | None:
    """What ``tasks/train/autotune.py`` chose from the data, in words."""
    parts = []
    if (lr := auto.get("learning_rate")) and "trials" not in lr:
        parts.append(f"learning rate {lr['chosen']:g}, chosen before the run resumed from a checkpoint")
    elif lr:
        tried = ", ".join(f"{r['learning_rate']:g}: {r['val_loss'] if r.get('val_loss') is not None else 'diverged'}"
                          + (" (collapsed)" if r.get("collapsed") else "") for r in lr.get("trials", []))
        parts.append(f"learning rate {lr['chosen']:g}, the lowest validation loss of {len(lr.get('trials', []))} "
                     f"trials of {lr['trial_steps']} steps ({tried}; {lr['seconds']:.0f} s)")
    if ml := auto.get("max_length"):
        parts.append(f"max length {ml['chosen']} tokens (95th percentile of the training rows {ml['p95_tokens']}, "
                     f"model limit {ml['model_limit']}; {100 * ml['rows_cut']:.1f}% of rows cut)")
    if ep := auto.get("epochs"):
        parts.append(f"{ep['chosen']:g} epochs (about {ep['target_steps']} optimiser steps at "
                     f"{ep['steps_per_epoch']:g} a epoch)".replace(" a epoch", " an epoch"))
    if pool := auto.get("pooling"):
        parts.append("the classifier reads the mean of the tokens, as the base model was trained to"
                     if pool["chosen"] == "mean" else "the classifier reads the first token (transformers' head)")
    return ("Chosen from the data (`auto`): " + "; ".join(parts) + ".") if parts else None


def validation_line(m: dict) -> str | None:
    """The validation curve's outcome (``tasks/train/validate.py``), when training validated as it went."""
    if m.get("best_step") is None:
        return None
    end = (f"stopped early at step {int(m['stopped_early_at'])} (no improvement)" if m.get("stopped_early_at")
           else f"ran all {int(m['steps'])} steps")
    kept = "the saved weights are those of the best step" if m.get("restored_best") else "the last step was the best"
    return (f"Validation during training: lowest validation loss {m['best_val_loss']:.4f} at step "
            f"{int(m['best_step'])}; {end}; {kept} (curve in the training metrics).")
