"""The governance stage's Prefect boundary: the pinned config's check, who started a run, a reviewer's approval,
the candidate's change classification.

Thin wrappers over the plain modules beside it: ``pinning`` and ``policy`` (what a run may change, whose names
count), ``approval`` (the decision on a reviewer's answer, pure), ``envelope`` and ``compute`` (the change
classification and the compute record), and the registry's ``apply`` to act on it.
"""

from __future__ import annotations

import os
from pathlib import Path

from prefect import get_run_logger, task
from prefect.input import RunInput
from prefect.runtime import flow_run as current_run
from pydantic import BaseModel, ConfigDict

from tasks.audit import APPROVAL, audit
from tasks.config import PipelineConfig
from tasks.errors import DeploymentNotPinned, IdentityRequired, PolicyLoosened
from tasks.evaluate.metrics import EvalReport
from tasks.governance import policy
from tasks.governance.approval import APPROVED, PENDING, REFUSED, decide_approval
from tasks.governance.envelope import is_outside
from tasks.governance.pinning import PIN_ENV, read_pin
from tasks.refs import AdapterRef, SplitRef
from tasks.registry.promote import PromotionDecision, apply
from tasks.runtime import in_deployment_run

__all__ = ["APPROVAL", "REFUSED", "Approval", "Person", "apply_approval", "assess_change", "check_pinned_config",
           "identify_starter", "publish_inventory"]
ENVELOPE = "change.classified"  # the audit action of a candidate's change-envelope classification


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
    deployment but for tightened policy fields (tasks/governance/pinning.py). No pin: stop too. Outside a
    deployment (the CLI) the caller's own config file is used as it is."""
    if not in_deployment_run():
        return
    pin = read_pin(os.environ)
    if pin is None:
        raise DeploymentNotPinned(f"this deployment's run has no pinned config (${PIN_ENV} is not set in the "
                                  "process that runs it); start the deployments with tunegate up (python -m "
                                  "deployments.serve) or put them on a work pool with tunegate deploy, which pin "
                                  "the config they deploy.")
    own = _own_job_variables()
    if own:  # a worker applies them over the deployment's: `env` would replace the pin, `command`/`image` the code
        audit(pin.registry_scope, action=f"{flow}.refused", why="the run sets job variables of its own", fields=own,
              pinned_config_sha256=pin.digest(), flow_run=current_run.id)
        raise PolicyLoosened(f"this run sets job variables of its own ({', '.join(own)}); a deployment's run may not "
                             "change how it runs (they could replace the pinned config or the code). Start it "
                             "without job variables; change them for every run with tunegate deploy.")
    relaxed = policy.loosened(pin, config)
    if relaxed:
        audit(pin.registry_scope, action=f"{flow}.refused",
              why="the run's config differs from the config pinned at deployment", fields=relaxed,
              pinned_config_sha256=pin.digest(), flow_run=current_run.id)
        raise PolicyLoosened(f"this run's config differs from the config pinned at deployment (sha256 "
                             f"{pin.digest()[:12]}): " + "; ".join(relaxed) + ". A run may only tighten policy "
                             "fields; change anything else in the pipeline config and deploy again (tunegate down, "
                             "then up).")


def _own_job_variables() -> list[str]:
    """The names of the job variables this flow run was created with: its own, not its deployment's."""
    if not current_run.id:
        return []
    with _client() as c:
        return sorted(c.read_flow_run(current_run.id).job_variables or {})


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
        audit(config.registry_scope, action="retrain.refused", why=why, reason=reason, flow_run=current_run.id,
              origin=origin)
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
    starter, who = starter or Person(), Person()
    if approval is not None:
        who = _resumer()
        if who.name is None:
            who = Person(name=policy.clean_name(approval.reviewer), source="form")
    d = decide_approval(None if approval is None else approval.approve, approval.comment if approval else "",
                        who.name, starter.name, config.promotion.four_eyes, is_outside(result.decision))
    if d.outcome == PENDING:
        audit(config.registry_scope, action=APPROVAL, version=result.version, approved=None, why=d.why,
              flow_run=current_run.id)
        return PENDING
    seen = {"reviewer": who.name, "reviewer_source": who.source, "started_by": starter.name,
            "started_by_source": starter.source, "flow_run": current_run.id}
    audit(config.registry_scope, action=APPROVAL, version=result.version, approved=d.approved, why=d.why, **seen)
    if d.outcome != APPROVED:
        return d.outcome
    approved = result.decision.model_copy(update={"needs_approval": False})
    outcome = apply(config.registry_scope, result.version, approved, result.previous_champion,
                    trigger=f"approved by {who.name}", run_id=result.run_id, approved_by=who.name,
                    erased_versions=config.retention.erased_versions, config_sha256=config.digest())
    return outcome.action


@task(name="assess_change")
def assess_change(config: PipelineConfig, decision: PromotionDecision, model: AdapterRef, split: SplitRef,
                  base_model: str, trigger: str, report: EvalReport,
                  membership: dict | None, validation=None) -> tuple[PromotionDecision, dict[str, dict]]:
    """Classify the candidate against ``governance.change_envelope`` (audited; outside: held for four-eyes
    approval) and gather its governance records for the version folder: ``envelope.json``, ``compute.json``,
    ``sbom.json``."""
    from tasks.governance.compute import compute_record
    from tasks.governance.envelope import classify_change, data_window, facts_of, hold_for_approval
    from tasks.governance.sbom import python_sbom
    from tasks.registry.versions import code_version

    records = {"compute.json": compute_record(Path(model.path), base_model),
               "sbom.json": python_sbom("tunegate", code_version())}
    env = config.governance.change_envelope if config.governance else None
    if env is None:
        return decision, records
    facts = facts_of(Path(model.path), split.train.rows, base_model, trigger, report, membership,
                     _slice_verdict(validation, config.promotion), data_window(split.train.uri))
    verdict = classify_change(facts, env)
    audit(config.registry_scope, action=ENVELOPE, inside=verdict.inside, breaches=verdict.breaches,
          trigger=trigger, flow_run=current_run.id)
    get_run_logger().info("change envelope: %s", verdict.summary)
    return hold_for_approval(decision, verdict), records | {"envelope.json": verdict.record(facts)}


def _slice_verdict(validation, policy) -> bool | None:
    """The slice gate's verdict on the candidate (``tasks/registry/validation_checks.py``); None without a gate."""
    from tasks.registry.validation_checks import check_slices

    if validation is None or policy.max_slice_regression is None:
        return None
    return check_slices(validation, policy.primary_metric, policy.max_slice_regression,
                        "champion" in validation.differences)[0]


@task(name="publish_inventory")
def publish_inventory(config: PipelineConfig) -> int:
    """The model inventory as a Prefect table artifact (overdue reviews flagged); returns how many are overdue."""
    from dataclasses import asdict
    from datetime import UTC, datetime

    from prefect.artifacts import create_table_artifact

    from tasks.governance.inventory import inventory_rows, read_versions

    rows = inventory_rows(config.model_name, read_versions(config.registry_scope), config.governance,
                          datetime.now(UTC))
    overdue = sum(r.overdue for r in rows)
    create_table_artifact(table=[asdict(r) for r in rows], key=f"inventory-{config.model_name}".lower().replace(
        "_", "-").replace(".", "-"), description=f"{config.model_name}: {len(rows)} versions, {overdue} overdue")
    return overdue
