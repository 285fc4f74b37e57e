"""The registry stage's Prefect boundary: its tasks, thin wrappers over the plain modules beside it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.input import RunInput
from prefect.runtime import flow_run as current_run
from pydantic import BaseModel, ConfigDict

from tasks.config import PipelineConfig
from tasks.evaluate.metrics import EvalReport
from tasks.refs import AdapterRef, DatasetRef, SplitRef, atomic_dir, atomic_file
from tasks.registry.audit import audit
from tasks.registry.card import CardFacts, build_card_facts, render_card
from tasks.registry.promote import PromotionDecision, PromotionOutcome, apply, decide_promotion
from tasks.registry.versions import (
    VersionRef,
    champion_version,
    client_for,
    code_version,
    get_version,
    register_version,
    run_metrics,
    tracking_uri,
    unregister,
    version_tags,
)
from tasks.runtime import in_prefect_run
from tasks.subjects.erase import erasure_tags


class RegisteredVersion(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int
    mlflow_run_id: str
    model_card: Path


def assemble_version(adapter: AdapterRef, train: DatasetRef, eval_json: Path, pii_evidence: Path | None,
                     reference_rows: int, seed: int, out: Path, records: dict[str, dict] | None = None) -> Path:
    """Lay out a version's artifacts: model/, reference/reference.parquet, eval/eval.json, pii_evidence.json,
    and ``records`` (relative path -> JSON: lineage, config, quality, champion and baseline evaluations)."""
    import pandas as pd

    with atomic_dir(out) as tmp:
        shutil.copytree(adapter.path, tmp / "model")
        df = pd.read_parquet(train.uri, columns=["id", "text", "label"])
        if len(df) > reference_rows:
            df = df.sample(n=reference_rows, random_state=seed).sort_values("id")
        (tmp / "reference").mkdir()
        df.to_parquet(tmp / "reference" / "reference.parquet", index=False)
        (tmp / "eval").mkdir()
        shutil.copy2(eval_json, tmp / "eval" / "eval.json")
        if pii_evidence is not None and Path(pii_evidence).is_file():
            shutil.copy2(pii_evidence, tmp / "pii_evidence.json")
        else:  # PII scrubbing disabled in the config: say so rather than omit the file
            (tmp / "pii_evidence.json").write_text(json.dumps({"scrubbed": False}))
        for rel, record in (records or {}).items():
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp / rel).write_text(json.dumps(record, indent=2, sort_keys=True, default=str))
    return out


def register_candidate(cfg: PipelineConfig, layout: Path, params: dict, metrics: dict[str, float],
                       tags: dict[str, str], card_facts, card_out: Path) -> RegisteredVersion:
    """Log the run, register the version with its model card, mark it complete (or leave nothing)."""
    from tasks.registry.card import render_card

    def finalize(version: int, run_id: str) -> Path:
        facts = card_facts.model_copy(update={"version": version, "mlflow_run_id": run_id})
        with atomic_file(card_out) as tmp:
            tmp.write_text(render_card(facts), encoding="utf-8")
        return card_out

    version, run_id = register_version(cfg, layout, params, metrics, tags, finalize=finalize)
    get_run_logger().info("registered %s v%d (MLflow run %s) in %s", cfg.model_name, version, run_id,
                          tracking_uri(cfg))
    return RegisteredVersion(version=version, mlflow_run_id=run_id, model_card=card_out)


def relog_card(cfg: PipelineConfig, run_id: str, card: Path) -> None:
    """Replace a version's model card after the fact (the outcome differed from the decision)."""
    client_for(cfg).log_artifact(run_id, str(card))


def write_model_card(facts: CardFacts, out: Path) -> Path:
    """Write the card to ``out`` and publish it as a Prefect Markdown artifact (inside a run)."""
    text = render_card(facts)
    with atomic_file(out) as tmp:
        tmp.write_text(text, encoding="utf-8")
    if in_prefect_run():
        key = f"model-card-{facts.model_name}".lower().replace("_", "-").replace(".", "-")
        create_markdown_artifact(markdown=text, key=key, description=f"{facts.model_name} v{facts.version} model card")
    return out


@task(name="resolve_version")
def resolve_version(config: PipelineConfig, which: str) -> VersionRef:
    """The champion or a version number, downloaded (raises NoChampion when there is none)."""
    return get_version(config, int(which) if str(which).isdigit() else which)


# ---- approval of a candidate, in the Prefect UI ---------------------------------------------------
APPROVAL = "retrain.approval"


class Approval(RunInput):
    """The form a reviewer fills in the Prefect UI to resume a paused retrain."""

    approve: bool
    reviewer: str
    comment: str = ""


@task(name="apply_approval")
def apply_approval(config: PipelineConfig, result, approval: Approval | None) -> str:
    """Promote a candidate a reviewer approved (unless the champion moved meanwhile); audit who and why."""
    if approval is None:
        audit(config, action=APPROVAL, version=result.version, approved=None, why="no decision before the timeout",
              flow_run=current_run.id)
        return "pending_approval"
    audit(config, action=APPROVAL, version=result.version, approved=approval.approve, reviewer=approval.reviewer,
          why=approval.comment, flow_run=current_run.id)
    if not approval.approve:
        return "rejected_by_reviewer"
    approved = result.decision.model_copy(update={"needs_approval": False})
    outcome = apply(config, result.version, approved, result.previous_champion,
                    trigger=f"approved by {approval.reviewer}", run_id=result.run_id)
    return outcome.action


# ---- the decision, and the candidate's way into the registry -------------------------------------
@task(name="find_champion")
def find_champion(cfg: PipelineConfig) -> VersionRef | None:
    """The current champion, downloaded, or None."""
    from tasks.errors import NoChampion

    try:
        return get_version(cfg, "champion")
    except NoChampion:
        return None


@task(name="decide_promotion")
def decide(candidate: EvalReport, champion: EvalReport | None, cfg: PipelineConfig,
           champion_ref: VersionRef | None = None, baseline: EvalReport | None = None,
           membership: dict | None = None) -> PromotionDecision:
    """The pure promotion decision, recorded as its own step. A champion trained on an erased subject's
    documents is no bar: the candidate is judged on the floors alone."""
    pending = (champion_ref.tags if champion_ref else {}).get("erasure_pending")
    d = decide_promotion(candidate, None if pending else champion, cfg.promotion, baseline, membership)
    if pending:
        d = d.model_copy(update={"reasons": [f"champion v{champion_ref.version} awaits archiving ({pending}): "
                                             "not a bar to beat"] + d.reasons})
    get_run_logger().info("decision: %s — %s", "promote" if d.promote else "keep the champion", "; ".join(d.reasons))
    return d


class Candidate(BaseModel):
    """Everything one pipeline run knows about the model it trained (references and reports, no text)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    run_id: str
    run_dir: Path
    base_model: str
    trigger: str
    dataset: DatasetRef  # the scrubbed dataset
    quality: dict  # QualityReport as a dict
    pii: dict | None  # PiiEvidence as a dict
    split: SplitRef
    model: AdapterRef
    report: EvalReport
    champion_report: EvalReport | None
    champion_version: int | None
    decision: PromotionDecision
    baseline_report: EvalReport | None = None  # TF-IDF + logistic regression on the same split
    raw_dataset: DatasetRef | None = None  # the ingested rows before scrubbing (digest and counts only)
    membership: dict | None = None  # tasks/evaluate/membership.py's result


def version_records(cfg: PipelineConfig, c: Candidate, code: str) -> dict[str, dict]:
    """The JSON records a version carries for its evidence pack (digests and counts, never text)."""

    def digest(ref: DatasetRef | None) -> dict | None:
        return None if ref is None else {"sha256": ref.sha256, "rows": ref.rows, "label_counts": ref.label_counts}

    split = c.split
    lineage = {"run_id": c.run_id, "trigger": c.trigger, "base_model": c.base_model, "code_version": code,
               "config_sha256": cfg.digest(), "raw_dataset": digest(c.raw_dataset),
               "scrubbed_dataset": digest(c.dataset),
               "split": {"dataset_sha256": split.dataset_sha256, "seed": split.seed,
                         "test_ids_sha256": split.test_ids_sha256, "train": digest(split.train),
                         "val": digest(split.val), "test": digest(split.test)},
               "champion_version_at_decision": c.champion_version,
               "decision": {"promote": c.decision.promote, "reasons": c.decision.reasons}}
    out = {"lineage.json": lineage, "config.json": cfg.model_dump(mode="json"), "quality.json": c.quality}
    if c.membership is not None:
        out["memorisation.json"] = c.membership
    if c.champion_report is not None:
        out["eval/champion_eval.json"] = c.champion_report.model_dump(mode="json")
    if c.baseline_report is not None:
        out["eval/baseline_eval.json"] = c.baseline_report.model_dump(mode="json")
    return out


class Registered(BaseModel):
    """What registering and applying the decision did."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int
    mlflow_run_id: str
    outcome: PromotionOutcome
    model_card: Path
    code_version: str


def _auto_record(model_dir: str) -> dict:
    """What training chose from the data (``auto`` in metrics.json), for the card."""
    path = Path(model_dir, "metrics.json")
    return json.loads(path.read_text()).get("auto", {}) if path.is_file() else {}


@task(name="register_and_promote")
def register_and_promote(cfg: PipelineConfig, c: Candidate) -> Registered:
    """Register the candidate (artifacts, tags, metrics, card) as one complete version, apply the decision,
    publish the card. A failure before the champion moved to this version unregisters it: nothing half-done
    stays in the registry."""
    code = code_version()
    facts = build_card_facts(cfg, run_id=c.run_id, base_model=c.base_model, labels=c.model.labels or c.report.labels,
                             split=c.split, dataset=c.dataset, quality=c.quality, pii=c.pii, candidate=c.report,
                             champion=c.champion_report, champion_version=c.champion_version, decision=c.decision,
                             code_version=code, trigger=c.trigger, baseline=c.baseline_report,
                             train_metrics=c.model.metrics, train_auto=_auto_record(c.model.path),
                             membership=c.membership)
    layout = assemble_version(c.model, c.split.train, c.run_dir / "eval" / "eval.json",
                              Path(c.dataset.uri).parent / "pii_evidence.json",  # the scrub's run (maybe cached)
                              cfg.monitor.reference_rows, cfg.split.seed, c.run_dir / "version",
                              records=version_records(cfg, c, code))
    tags = version_tags(cfg.digest(), cfg.train.task, c.dataset.sha256, c.pii, code, c.base_model, c.trigger,
                        c.run_id, c.decision.promote) | erasure_tags(cfg, c.dataset)
    reg = register_candidate(cfg, layout, cfg.model_dump(mode="json"),
                             run_metrics(c.report, c.champion_report, c.model.metrics, c.baseline_report,
                                         c.membership), tags, facts,
                             c.run_dir / "model_card.md")
    try:
        outcome = apply(cfg, reg.version, c.decision, c.champion_version, c.trigger, c.run_id)
        final = facts.model_copy(update={"version": reg.version, "mlflow_run_id": reg.mlflow_run_id,
                                         "outcome": outcome.action})
        card = write_model_card(final, c.run_dir / "model_card.md")
        if outcome.action != facts.outcome:
            relog_card(cfg, reg.mlflow_run_id, card)
    except BaseException:
        if champion_version(cfg) != reg.version:
            unregister(cfg, reg.version, reg.mlflow_run_id)
        raise
    return Registered(version=reg.version, mlflow_run_id=reg.mlflow_run_id, outcome=outcome, model_card=card,
                      code_version=code)
