"""The training pipeline: ingest → gate → scrub → split → fine-tune → evaluate → decide → classify the change →
register → promote.

The scrubbed dataset loses the documents of every subject erased so far (``tunegate subject erase``).

``tunegate run CONFIG`` runs it. Scrub, split and fine-tune are cached on (input digest, their config
section, code) while their files exist (``tasks/caching.py``): re-running the same data and config skips
them, any change reruns them. A failure at any stage registers nothing and leaves the champion.
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow
from pydantic import BaseModel, ConfigDict

from tasks.caching import stored_in
from tasks.config import PipelineConfig, TrainConfig
from tasks.evaluate.metrics import EvalReport
from tasks.evaluate.task import (
    calibrate_model,
    evaluate_baseline,
    evaluate_model,
    membership_test,
    validate_model,
    validate_predictions,
)
from tasks.governance.task import assess_change
from tasks.ingest.task import (
    RAW_COPY_HOOKS,
    add_batch,
    discard_raw_copy,
    ensure_sample_data,
    ingest_documents,
    quality_gate,
)
from tasks.monitor.inbox import inbox_data
from tasks.pii.columns import ScrubColumns, label_is_free_text
from tasks.pii.task import scrub_pii_cached
from tasks.refs import new_run_id
from tasks.registry.promote import PromotionDecision
from tasks.registry.task import Candidate, decide, find_champion, register_and_promote
from tasks.subjects.task import drop_erased_documents, erasure_tags_of
from tasks.train.task import check_config, launch_finetune_cached, split_dataset_cached


class TrainResult(BaseModel):
    """What one pipeline run produced (no document text)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    run_id: str
    run_dir: str
    version: int  # the registered candidate
    mlflow_run_id: str
    promoted: bool
    action: str  # promote | reject | pending_approval | lost_race
    decision: PromotionDecision
    champion_version: int | None  # after this run
    previous_champion: int | None
    eval: EvalReport
    champion_eval: EvalReport | None
    baseline_eval: EvalReport | None  # TF-IDF + logistic regression, same training and test split
    model_card: str  # path of the card in run_dir (also in MLflow and a Prefect artifact)
    dataset_sha256: str
    config_sha256: str
    code_version: str
    trigger: str
    cached_stages: list[str]  # stages whose result came from an earlier run (files outside this run's folder)

    def lines(self, model_name: str, train: TrainConfig | None = None) -> list[str]:
        """``tunegate run``'s summary: the verdict and its reasons, the scores, the card (and, given the train
        section, whether quality was traded for time)."""
        from tasks.evaluate.metrics import summary_line

        verdict = {"promote": "promoted to champion", "reject": "not promoted; the champion stays",
                   "pending_approval": "waiting for approval", "lost_race": "not promoted (another run won)"}
        out = [f"version {self.version} of {model_name}: {verdict.get(self.action, self.action)} "
               f"(champion: v{self.champion_version})"]
        out += [f"  - {reason}" for reason in self.decision.reasons]
        out += [f"{summary_line(self.eval)} on {self.eval.n} test documents", f"model card: {self.model_card}"]
        out += [f"reused cached stages: {', '.join(self.cached_stages)}"] if self.cached_stages else []
        return out + quick_settings_lines(train)


def quick_settings_lines(train: TrainConfig | None) -> list[str]:
    """A run on fixed training settings (the example's quick first run) says so, and how to lift the quality."""
    fixed = {k: getattr(train, k) for k in ("learning_rate", "epochs", "max_length")} if train else {}
    fixed = {k: v for k, v in fixed.items() if v != "auto" and not isinstance(v, list)}
    if not fixed:
        return []
    given = ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in fixed.items())
    return [f"training settings fixed in the config ({given}): quality traded for time; for the best model "
            f"remove them (or set them to auto) and they are chosen from the data: slower, usually better"]


def _ingest(config: PipelineConfig, run_dir: Path, extra_data: str | None):
    """The run's documents (+ labelled rows of ``extra_data``); a causal LM's label is free text: not counted."""
    free = label_is_free_text(config.train, config.quality)
    dataset = ingest_documents(config.data, run_dir, free)
    if extra_data:
        batch_data = inbox_data(config.data, config.deploy.inbox, extra_data)  # deploy.inbox only
        batch = ingest_documents(batch_data, run_dir / "batch", free)
        dataset = add_batch(dataset, batch, run_dir / "dataset_with_batch.parquet")
    return dataset


def _evaluate(config: PipelineConfig, model, split, champion, eval_dir: Path) -> tuple:
    """Calibrate the candidate (before scoring it: the reported ECE is the scaled model's), score it, stress it
    (its clean scores are the evaluation's), score the champion and the TF-IDF baseline on the same test rows,
    test memorisation, then the intervals and slices from the stored per-row outputs."""
    fitted = calibrate_model(Path(model.path), split, config.evaluate)  # the temperature, on the validation split
    report = evaluate_model(Path(model.path), split.test, eval_dir / "eval.json", role="candidate")
    checks = validate_model(Path(model.path), split, config.evaluate, eval_dir, fitted)  # threshold, robustness
    champion_report = evaluate_model(champion.local_dir / "model", split.test, eval_dir / "champion_eval.json",
                                     role="champion") if champion else None
    baseline = evaluate_baseline(split, eval_dir / "baseline_eval.json")
    membership = membership_test(Path(model.path), split, eval_dir / "membership.json")
    validation = validate_predictions(split.test, config.evaluate, eval_dir, config.promotion.primary_metric)
    return checks, report, champion_report, baseline, membership, validation


@flow(name="train_pipeline", log_prints=True, **RAW_COPY_HOOKS)
def train_pipeline(config: PipelineConfig, extra_data: str | None = None, trigger: str = "manual") -> TrainResult:
    """Train a candidate on ``data.source`` (+ labelled rows of ``extra_data``); promote it if it beats the champion."""
    run_id = new_run_id()
    run_dir, results = config.work_path("runs", run_id).resolve(), config.work_path("prefect-results")
    base_model = check_config(config)
    ensure_sample_data(config.data)
    dataset = _ingest(config, run_dir, extra_data)
    quality = quality_gate(dataset, config.quality, run_dir)
    gold = Path(config.data.source + ".pii.jsonl")
    scrubbed, pii = stored_in(scrub_pii_cached, results)(dataset, config.pii, run_dir,
                                                         gold if gold.is_file() and not extra_data else None,
                                                         columns=ScrubColumns.of(config.train, config.data))
    discard_raw_copy(run_dir, config.retention)
    scrubbed = drop_erased_documents(scrubbed, config)
    champion = find_champion(config)  # the rows it learned from never enter the new test split
    split = stored_in(split_dataset_cached, results)(scrubbed, config.split, run_dir, champion and champion.local_dir)
    model = stored_in(launch_finetune_cached, results)(config.train, split, run_dir / "model", results.parent)
    checks, report, champion_report, baseline, membership, validation = _evaluate(config, model, split, champion,
                                                                                  run_dir / "eval")
    decision = decide(report, champion_report, config, champion, baseline, membership, validation, checks)
    decision, records = assess_change(config, decision, model, split, base_model, trigger, report, membership,
                                      validation)
    reg = register_and_promote(config, Candidate(
        run_id=run_id, run_dir=run_dir, base_model=base_model, trigger=trigger, dataset=scrubbed,
        quality=quality.model_dump(mode="json"), pii=pii.model_dump(mode="json") if pii else None, split=split,
        model=model, report=report, champion_report=champion_report,
        champion_version=champion.version if champion else None, decision=decision, baseline_report=baseline,
        raw_dataset=dataset, membership=membership, validation=validation, checks=checks, records=records),
        erasure_tags_of(scrubbed, config))
    return TrainResult(
        run_id=run_id, run_dir=str(run_dir), version=reg.version, mlflow_run_id=reg.mlflow_run_id,
        promoted=reg.outcome.promoted, action=reg.outcome.action, decision=decision,
        champion_version=reg.outcome.champion_version, previous_champion=reg.outcome.previous_champion,
        eval=report, champion_eval=champion_report, baseline_eval=baseline, model_card=str(reg.model_card),
        dataset_sha256=scrubbed.sha256, config_sha256=config.digest(), code_version=reg.code_version, trigger=trigger,
        cached_stages=[name for name, path in {"scrub": scrubbed.uri, "split": split.train.uri, "finetune": model.path
                                               }.items() if not Path(path).is_relative_to(run_dir)])
