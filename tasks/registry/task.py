"""The registry stage's Prefect boundary: its tasks, thin wrappers over the plain modules beside it."""

from __future__ import annotations

from pathlib import Path

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.input import RunInput
from prefect.runtime import flow_run as current_run
from pydantic import BaseModel, ConfigDict

from tasks.config import PipelineConfig
from tasks.errors import IdentityRequired, PolicyLoosened
from tasks.evaluate.metrics import EvalReport
from tasks.refs import atomic_file
from tasks.registry import policy
from tasks.registry.audit import audit
from tasks.registry.candidate import Candidate, assemble_version, auto_record, version_records
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
from tasks.runtime import in_deployment_run, in_prefect_run
from tasks.subjects.erase import erasure_tags


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

    refuse_pending(config, which)
    return get_version(config.registry_scope, int(which) if str(which).isdigit() else which)


# ---- approval of a candidate, in the Prefect UI ---------------------------------------------------
APPROVAL = "retrain.approval"
REFUSED = "refused_four_eyes"  # apply_approval: the starter tried to approve; the run waits for someone else


class Approval(RunInput):
    """The form a reviewer fills in the Prefect UI to resume a paused retrain."""

    approve: bool
    reviewer: str
    comment: str = ""


class Person(BaseModel):
    """Who started or approved a run, and where the name comes from: the server's signed-in user
    (``authenticated``), the run form (``form``), or nobody known (``none``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str | None = None
    source: str = "none"


def _client():
    from prefect.client.orchestration import get_client

    return get_client(sync_client=True)


@task(name="check_pinned_config")
def check_pinned_config(config: PipelineConfig, flow: str) -> None:
    """A deployment's run: stop, before anything is read, unless ``config`` equals the config pinned at
    deployment but for tightened policy fields (tasks/registry/pinning.py). No pin: stop too. Outside a
    deployment (the CLI) the caller's own config file is used as it is."""
    import os

    from tasks.errors import DeploymentNotPinned
    from tasks.registry.pinning import PIN_ENV, read_pin

    if not in_deployment_run():
        return
    pin = read_pin(os.environ)
    if pin is None:
        raise DeploymentNotPinned(f"this deployment's run has no pinned config (${PIN_ENV} is not set in the "
                                  "process that runs it); start the deployments with tunegate up or python -m "
                                  "deployments.serve, which pin the config they deploy.")
    relaxed = policy.loosened(pin, config)
    if relaxed:
        audit(pin, action=f"{flow}.refused", why="the run's config differs from the config pinned at deployment",
              fields=relaxed, pinned_config_sha256=pin.digest(), flow_run=current_run.id)
        raise PolicyLoosened(f"this run's config differs from the config pinned at deployment (sha256 "
                             f"{pin.digest()[:12]}): " + "; ".join(relaxed) + ". A run may only tighten policy "
                             "fields; change anything else in the pipeline config and deploy again (tunegate down, "
                             "then up).")


@task(name="identify_starter")
def identify_starter(config: PipelineConfig, reason: str, requested_by: str | None) -> Person:
    """Who started this run, from the flow run itself, never from ``reason`` (policy.run_origin): nobody for the
    deployment's schedule or a trigger's automation; the signed-in user where the server has users; else a
    person, named by the form's ``requested_by``. Under four-eyes with approval, a person's run without a name
    is refused (audited)."""
    run, known = None, False
    if current_run.id:
        with _client() as c:
            run = c.read_flow_run(current_run.id)
            made_by = run.created_by
            if made_by is not None and str(made_by.type).upper() == "AUTOMATION" and made_by.id:
                known = _automation_exists(c, made_by.id)
    origin = policy.run_origin(run, automation_known=known)
    if origin in ("schedule", "automation"):
        return Person(source=origin)
    if origin == "user":
        return Person(name=policy.clean_name(run.created_by.display_value), source="authenticated")
    if policy.identity(requested_by):
        return Person(name=policy.clean_name(requested_by), source="form")
    p = config.promotion
    if p.four_eyes and p.require_approval:
        why = ("promotion.four_eyes: a run a person started must say who, so that person cannot approve it; fill "
               "'requested_by' in the run form (a name, not blank).")
        audit(config, action="retrain.refused", why=why, reason=reason, flow_run=current_run.id, origin=origin)
        raise IdentityRequired(why)
    return Person()


def _automation_exists(client, automation_id) -> bool:
    """The automation a run says made it is one the server has (the header that claims it is the client's)."""
    try:
        return client.read_automation(automation_id) is not None
    except Exception:  # noqa: BLE001 - unknown id or no automations API: not a trigger's run
        return False


def _resumer() -> Person:
    """The signed-in person who resumed this run, from its newest state-change events (Prefect Cloud)."""
    if not current_run.id:
        return Person()
    from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter

    flt = EventFilter(resource=EventResourceFilter(id=[f"prefect.flow-run.{current_run.id}"]),
                      event=EventNameFilter(prefix=["prefect.flow-run."]))
    try:
        with _client() as c:
            events = [e.model_dump(mode="json") for e in c.read_events(filter=flt, limit=20).events]
    except Exception:  # noqa: BLE001 - no events API: no authenticated identity, the form's name is used
        return Person()
    name = policy.actor(sorted(events, key=lambda e: e["occurred"]))
    return Person(name=name, source="authenticated") if name else Person()


@task(name="apply_approval")
def apply_approval(config: PipelineConfig, result, approval: Approval | None, starter: Person | None = None) -> str:
    """Promote a candidate a reviewer approved (unless the champion moved meanwhile); audit who and why.
    With ``promotion.four_eyes`` the run's starter cannot approve: recorded, and ``REFUSED`` returned."""
    if approval is None:
        audit(config, action=APPROVAL, version=result.version, approved=None, why="no decision before the timeout",
              flow_run=current_run.id)
        return "pending_approval"
    who = _resumer()
    if who.name is None:
        who = Person(name=policy.clean_name(approval.reviewer), source="form")
    starter = starter or Person()
    seen = {"reviewer": who.name, "reviewer_source": who.source, "started_by": starter.name,
            "started_by_source": starter.source, "flow_run": current_run.id}
    if not policy.identity(who.name):
        audit(config, action=APPROVAL, version=result.version, approved=None, **seen,
              why=f"{IdentityRequired.__name__}: reviewer is empty once case, spaces and zero-width characters are "
                  "folded; the approval needs the reviewer's name")
        return REFUSED
    if config.promotion.four_eyes and policy.same_person(who.name, starter.name):
        audit(config, action=APPROVAL, version=result.version, approved=None, **seen,
              why=f"four_eyes: {who.name} started this run and cannot approve it; another reviewer must decide")
        return REFUSED
    audit(config, action=APPROVAL, version=result.version, approved=approval.approve, why=approval.comment, **seen)
    if not approval.approve:
        return "rejected_by_reviewer"
    approved = result.decision.model_copy(update={"needs_approval": False})
    outcome = apply(config.registry_scope, result.version, approved, result.previous_champion,
                    trigger=f"approved by {who.name}", run_id=result.run_id, approved_by=who.name,
                    erased_versions=config.retention.erased_versions, config_sha256=config.digest())
    return outcome.action


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


class Registered(BaseModel):
    """What registering and applying the decision did."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int
    mlflow_run_id: str
    outcome: PromotionOutcome
    model_card: Path
    code_version: str


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
                             train_metrics=c.model.metrics, train_auto=auto_record(c.model.path),
                             membership=c.membership)
    layout = assemble_version(c.model, c.split.train, c.run_dir / "eval" / "eval.json",
                              Path(c.dataset.uri).parent / "pii_evidence.json",  # the scrub's run (maybe cached)
                              cfg.monitor.reference_rows, cfg.split.seed, c.run_dir / "version",
                              records=version_records(cfg.model_dump(mode="json"), cfg.digest(), c, code))
    tags = version_tags(cfg.digest(), cfg.train.task, c.dataset.sha256, c.pii, code, c.base_model, c.trigger,
                        c.run_id, c.decision.promote) | erasure_tags(cfg.work_path(), c.dataset)
    reg = register_candidate(cfg, layout, cfg.model_dump(mode="json"),
                             run_metrics(c.report, c.champion_report, c.model.metrics, c.baseline_report,
                                         c.membership), tags, facts,
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
