"""The registry stage's Prefect boundary: its tasks, thin wrappers over the plain modules beside it."""

from __future__ import annotations

from pathlib import Path

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from pydantic import BaseModel, ConfigDict

from tasks.config import PipelineConfig
from tasks.evaluate.metrics import EvalReport
from tasks.evaluate.stats import ValidationReport
from tasks.refs import VersionRef, atomic_file
from tasks.registry.candidate import Candidate, assemble_version, auto_record, version_records
from tasks.registry.card import CardFacts, build_card_facts, render_card
from tasks.registry.promote import PromotionDecision, PromotionOutcome, apply, decide_promotion
from tasks.registry.versions import (
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


class RegisteredVersion(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int
    mlflow_run_id: str
    model_card: Path


def register_candidate(cfg: PipelineConfig, layout: Path, params: dict, metrics: dict[str, float],
                       tags: dict[str, str], card_facts, card_out: Path) -> RegisteredVersion:
    """Log the run, register the version with its model card, mark it complete (or leave nothing)."""
    from tasks.registry.card import render_card

    def finalize(version: int, run_id: str) -> Path:
        facts = card_facts.model_copy(update={"version": version, "mlflow_run_id": run_id})
        with atomic_file(card_out) as tmp:
            tmp.write_text(render_card(facts), encoding="utf-8")
        return card_out

    version, run_id = register_version(cfg.registry_scope, layout, params, metrics, tags, finalize=finalize)
    get_run_logger().info("registered %s v%d (MLflow run %s) in %s", cfg.model_name, version, run_id,
                          tracking_uri(cfg.registry_scope))
    return RegisteredVersion(version=version, mlflow_run_id=run_id, model_card=card_out)


def relog_card(cfg: PipelineConfig, run_id: str, card: Path) -> None:
    """Replace a version's model card after the fact (the outcome differed from the decision)."""
    client_for(cfg.registry_scope).log_artifact(run_id, str(card))


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
    """The champion or a version number, downloaded (raises NoChampion when there is none, ChampionWithdrawn
    when an erasure took it away; a version pending erasure is never served)."""
    from tasks.registry.withdraw import refuse_pending

    refuse_pending(config.registry_scope, which)
    return get_version(config.registry_scope, int(which) if str(which).isdigit() else which)


# ---- the decision, and the candidate's way into the registry -------------------------------------
@task(name="find_champion")
def find_champion(cfg: PipelineConfig) -> VersionRef | None:
    """The current champion, downloaded, or None."""
    from tasks.errors import NoChampion

    try:
        return get_version(cfg.registry_scope, "champion")
    except NoChampion:
        return None


@task(name="decide_promotion")
def decide(candidate: EvalReport, champion: EvalReport | None, cfg: PipelineConfig,
           champion_ref: VersionRef | None = None, baseline: EvalReport | None = None,
           membership: dict | None = None, validation: ValidationReport | None = None,
           checks: dict | None = None) -> PromotionDecision:
    """The pure promotion decision, recorded as its own step. A champion trained on an erased subject's
    documents is no bar: the candidate is judged on the floors alone."""
    pending = (champion_ref.tags if champion_ref else {}).get("erasure_pending")
    d = decide_promotion(candidate, None if pending else champion, cfg.promotion, baseline, membership,
                         None if pending else validation, (checks or {}).get("robustness"))
    if pending:
        d = d.model_copy(update={"reasons": [f"champion v{champion_ref.version} awaits archiving ({pending}): "
                                             "not a bar to beat"] + d.reasons})
    get_run_logger().info("decision: %s — %s", "promote" if d.promote else "keep the champion", "; ".join(d.reasons))
    return d


class Registered(BaseModel):
    """What registering and applying the decision did."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int
    mlflow_run_id: str
    outcome: PromotionOutcome
    model_card: Path
    code_version: str


@task(name="register_and_promote")
def register_and_promote(cfg: PipelineConfig, c: Candidate, erasure: dict[str, str]) -> Registered:
    """Register the candidate (artifacts, tags, metrics, card) as one complete version, apply the decision,
    publish the card. ``erasure``: the version's erasure tags, computed on the subjects side just before
    (``tasks.subjects.task.erasure_tags_of``). A failure before the champion moved to this version unregisters
    it: nothing half-done stays in the registry."""
    code = code_version()
    facts = build_card_facts(cfg, run_id=c.run_id, base_model=c.base_model, labels=c.model.labels or c.report.labels,
                             split=c.split, dataset=c.dataset, quality=c.quality, pii=c.pii, candidate=c.report,
                             champion=c.champion_report, champion_version=c.champion_version, decision=c.decision,
                             code_version=code, trigger=c.trigger, baseline=c.baseline_report,
                             train_metrics=c.model.metrics, train_auto=auto_record(c.model.path),
                             membership=c.membership, statistics=c.validation, checks=c.checks)
    layout = assemble_version(c.model, c.split.train, c.run_dir / "eval" / "eval.json",
                              Path(c.dataset.uri).parent / "pii_evidence.json",  # the scrub's run (maybe cached)
                              cfg.monitor.reference_rows, cfg.split.seed, c.run_dir / "version",
                              records=version_records(cfg.model_dump(mode="json"), cfg.digest(), c, code))
    tags = version_tags(cfg.digest(), cfg.train.task, c.dataset.sha256, c.pii, code, c.base_model, c.trigger,
                        c.run_id, c.decision.promote) | erasure
    reg = register_candidate(cfg, layout, cfg.model_dump(mode="json"),
                             run_metrics(c.report, c.champion_report, c.model.metrics, c.baseline_report,
                                         c.membership) | (c.validation.mlflow_metrics() if c.validation else {}),
                             tags, facts,
                             c.run_dir / "model_card.md")
    try:
        outcome = apply(cfg.registry_scope, reg.version, c.decision, c.champion_version, c.trigger, c.run_id,
                        erased_versions=cfg.retention.erased_versions, config_sha256=cfg.digest())
        final = facts.model_copy(update={"version": reg.version, "mlflow_run_id": reg.mlflow_run_id,
                                         "outcome": outcome.action})
        card = write_model_card(final, c.run_dir / "model_card.md")
        if outcome.action != facts.outcome:
            relog_card(cfg, reg.mlflow_run_id, card)
    except BaseException:
        if champion_version(cfg.registry_scope) != reg.version:
            unregister(cfg.registry_scope, reg.version, reg.mlflow_run_id)
        raise
    return Registered(version=reg.version, mlflow_run_id=reg.mlflow_run_id, outcome=outcome, model_card=card,
                      code_version=code)
