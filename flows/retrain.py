"""Flows the deployments run: ``retrain`` (schedule, drift event, or a click in the UI) and ``monitor-latest``.

One retrain at a time: the deployment's concurrency limit turns a storm of requests away at the server, and
a file lock plus the cooldown gate (``deployments/cooldown.py``) make it strict across processes. Every
request that does not train is written to the audit log with the reason.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from filelock import FileLock, Timeout
from prefect import flow, get_run_logger, pause_flow_run, task
from prefect.exceptions import FlowPauseTimeout
from prefect.input import RunInput
from prefect.runtime import flow_run as current_run
from pydantic import BaseModel, ConfigDict

from deployments.cooldown import COMPLETED, SKIPPED, decide_retrain, last_completed
from tasks.config import PipelineConfig
from tasks.registry.versions import audit, read_audit

APPROVAL = "retrain.approval"


class RetrainOutcome(BaseModel):
    """What one retrain request did; never holds document text."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    trained: bool
    why: str
    reason: str
    batch: str | None = None
    version: int | None = None
    promoted: bool | None = None
    action: str | None = None  # train_pipeline's promotion action, after any approval


class Approval(RunInput):
    """The form a reviewer fills in the Prefect UI to resume a paused retrain."""

    approve: bool
    reviewer: str
    comment: str = ""


def _clean_batch(batch: str | None) -> str | None:
    """Triggers render a missing payload field as None or an empty string."""
    return None if batch is None or batch.strip() in ("", "None", "null") else batch


def run_requested_at() -> datetime:
    """When this flow run was first scheduled. A run held back by the deployment's concurrency limit is
    rescheduled (``scheduled_start_time`` moves later); ``expected_start_time`` keeps the original time."""
    from prefect.client.orchestration import get_client

    try:
        with get_client(sync_client=True) as client:
            expected = client.read_flow_run(current_run.id).expected_start_time
    except Exception:  # no API (a bare call in a script): the scheduled time is all there is
        expected = None
    scheduled = current_run.scheduled_start_time
    return min(expected, scheduled) if expected is not None else scheduled


def request_time(requested_at: str | None, scheduled: datetime) -> datetime:
    """When this retrain was asked for: the drift event's time when a trigger passed it, else the run's
    first scheduled time; never later than that. An automation may create the run for an old event after a
    retrain finished: the event, not the run, is the request the cooldown compares."""
    cleaned = _clean_batch(requested_at)
    if cleaned is None:
        return scheduled
    try:
        when = datetime.fromisoformat(cleaned)
    except ValueError:
        return scheduled
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    return min(when, scheduled)


@task(name="check_retrain_gate")
def check_retrain_gate(config: PipelineConfig, reason: str, requested_at: datetime):
    """Decide from the audit log whether this request may train (cooldown, already satisfied)."""
    done = last_completed(read_audit(config), config.model_name)
    return decide_retrain(done, requested_at, config.deploy.cooldown_minutes, reason)


@task(name="record_skip")
def record_skip(config: PipelineConfig, reason: str, batch: str | None, why: str) -> None:
    """Write a request that did not train to the audit log."""
    audit(config, action=SKIPPED, trigger=reason, batch=batch, why=why, flow_run=current_run.id)
    get_run_logger().info("retrain skipped: %s", why)


@task(name="record_completion")
def record_completion(config: PipelineConfig, reason: str, batch: str | None, version: int | None) -> None:
    """Write the finished retrain to the audit log: the cooldown starts here."""
    audit(config, action=COMPLETED, trigger=reason, batch=batch, version=version, flow_run=current_run.id,
          completed_at=datetime.now(UTC).isoformat())


@task(name="apply_approval")
def apply_approval(config: PipelineConfig, result, approval: Approval | None) -> str:
    """Promote a candidate a reviewer approved (unless the champion moved meanwhile); audit who and why."""
    from tasks.registry.task import apply

    if approval is None:
        audit(config, action=APPROVAL, version=result.version, approved=None, why="no decision before the timeout",
              flow_run=current_run.id)
        return "pending_approval"
    audit(config, action=APPROVAL, version=result.version, approved=approval.approve, reviewer=approval.reviewer,
          why=approval.comment, flow_run=current_run.id)
    if not approval.approve:
        return "rejected_by_reviewer"
    no_gate = config.model_copy(update={"promotion": config.promotion.model_copy(update={"require_approval": False})})
    outcome = apply(no_gate, result.version, result.decision, result.previous_champion,
                    trigger=f"approved by {approval.reviewer}", run_id=result.run_id)
    return outcome.action


def await_approval(config: PipelineConfig, result) -> str:
    """Pause the run until a reviewer submits the Approval form in the UI (or the timeout passes)."""
    get_run_logger().info("v%d passed the promotion policy and waits for approval in the Prefect UI", result.version)
    try:
        approval = pause_flow_run(wait_for_input=Approval, timeout=config.promotion.approval_timeout_s,
                                  key=f"approve-v{result.version}")
    except FlowPauseTimeout:
        approval = None
    return apply_approval(config, result, approval)


@flow(name="retrain", log_prints=True)
def retrain(config: PipelineConfig, batch: str | None = None, reason: str = "manual",
            requested_at: str | None = None) -> RetrainOutcome:
    """Retrain the pipeline's model on its data source plus an optional production batch.

    1. take the retrain lock (another retrain running: record and stop)
    2. gate: a retrain already completed after this request, or the cooldown holds: record and stop
    3. train_pipeline: ingest, gate, scrub, train, evaluate, register, promote
    4. record the completion; the cooldown starts; release the lock
    5. when the policy requires approval: pause until a reviewer approves or rejects in the UI
    """
    batch = _clean_batch(batch)
    asked = request_time(requested_at, run_requested_at())
    lock_path = config.work_path("retrain.lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        lock = FileLock(str(lock_path), timeout=0, thread_local=False).acquire()
    except Timeout:
        why = "busy: another retrain of this model is running"
        record_skip(config, reason, batch, why)
        return RetrainOutcome(trained=False, why=why, reason=reason, batch=batch)
    with lock:
        gate = check_retrain_gate(config, reason, asked)
        if not gate.go:
            record_skip(config, reason, batch, gate.why)
            return RetrainOutcome(trained=False, why=gate.why, reason=reason, batch=batch)
        from flows.train import train_pipeline

        result = train_pipeline(config, extra_data=batch, trigger=reason)
        record_completion(config, reason, batch, result.version)
    action = await_approval(config, result) if result.action == "pending_approval" else result.action
    return RetrainOutcome(trained=True, why=gate.why, reason=reason, batch=batch, version=result.version,
                          promoted=action == "promote", action=action)


def newest_file(folder: Path) -> Path | None:
    files = [p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
             and not p.name.endswith(".pii.jsonl")] if folder.is_dir() else []
    return max(files, key=lambda p: (p.stat().st_mtime, p.name), default=None)


@flow(name="monitor-latest", log_prints=True)
def monitor_latest(config: PipelineConfig, folder: str | None = None):
    """Run the drift monitor over the newest batch in ``folder`` (default: ``deploy.monitor_batch``)."""
    from flows.monitor import monitor

    where = folder or config.deploy.monitor_batch
    batch = newest_file(Path(where)) if where else None
    if batch is None:
        get_run_logger().info("no batch to monitor in %s", where or "(deploy.monitor_batch is not set)")
        return None
    return monitor(config, str(batch))
