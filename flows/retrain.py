"""Flows the deployments run: ``retrain`` (schedule, drift or erasure event, or a click in the UI),
``monitor-latest`` and ``purge``.

One retrain at a time: the deployment's concurrency limit turns a storm of requests away at the server, and
a file lock plus the cooldown gate (``tasks/monitor/cooldown.py``) make it strict across processes. Every
request that does not train is written to the audit log with the reason.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path

from prefect import flow, get_run_logger, pause_flow_run
from prefect.exceptions import FlowPauseTimeout
from pydantic import BaseModel, ConfigDict

from flows.monitor import monitor
from flows.train import train_pipeline
from tasks.config import PipelineConfig
from tasks.errors import RetrainBusy
from tasks.governance.pinning import DeployedConfig
from tasks.governance.task import (
    REFUSED,
    Approval,
    Person,
    apply_approval,
    check_pinned_config,
    identify_starter,
    publish_inventory,
)
from tasks.locks import retrain_lock
from tasks.monitor.cooldown import clean_batch, newest_file, request_time
from tasks.monitor.inbox import admit_batch
from tasks.monitor.task import check_retrain_gate, record_completion, record_skip, run_requested_at
from tasks.subjects.task import purge_expired


class RetrainOutcome(BaseModel):
    """What one retrain request did; never holds document text."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    trained: bool
    why: str
    reason: str
    batch: str | None = None
    batch_sha256: str | None = None  # of the batch that joined training (deploy.inbox), as in the audit log
    version: int | None = None
    promoted: bool | None = None
    action: str | None = None  # train_pipeline's promotion action, after any approval


def await_approval(config: PipelineConfig, result, starter: Person) -> str:
    """Pause the run until a reviewer submits the Approval form in the UI (or the timeout passes). With
    ``promotion.four_eyes``, the starter's own approval is recorded and refused, and the run waits again."""
    deadline = time.monotonic() + config.promotion.approval_timeout_s
    for attempt in itertools.count(1):
        get_run_logger().info("v%d passed the promotion policy and waits for approval in the Prefect UI",
                              result.version)
        approval, left = None, int(deadline - time.monotonic())
        if left > 0:
            try:
                approval = pause_flow_run(wait_for_input=Approval, timeout=left,
                                          key=f"approve-v{result.version}-{attempt}")
            except FlowPauseTimeout:
                pass
        action = apply_approval(config, result, approval, starter)
        if action != REFUSED:
            return action
    raise AssertionError("unreachable")


@flow(name="retrain", log_prints=True)
def retrain(config: DeployedConfig, batch: str | None = None, reason: str = "manual",
            requested_at: str | None = None, requested_by: str | None = None) -> RetrainOutcome:
    """Retrain the pipeline's model on its data source plus an optional production batch.

    0. a deployment's run: stop unless the config is the one pinned at deployment, with at most policy fields
       tightened; note who started the run (``requested_by``: the form's name when the server has no
       signed-in users)
    1. take the retrain lock (another retrain running: record and stop)
    2. gate: a retrain already completed after this request, or the cooldown holds: record and stop; a batch
       joins only from ``deploy.inbox`` (else BatchOutsideInbox, audited), its digest audited
    3. train_pipeline: ingest, gate, scrub, train, evaluate, register, promote
    4. record the completion; the cooldown starts; publish the model inventory; release the lock
    5. when the policy requires approval: pause until a reviewer approves or rejects in the UI
    """
    check_pinned_config(config, "retrain")
    batch = clean_batch(batch)
    starter = identify_starter(config, reason, requested_by)
    asked = request_time(requested_at, run_requested_at())
    try:
        lock = retrain_lock(config.registry_scope)
    except RetrainBusy:
        why = "busy: another retrain of this model is running"
        record_skip(config, reason, batch, why)
        return RetrainOutcome(trained=False, why=why, reason=reason, batch=batch)
    with lock:
        gate = check_retrain_gate(config, reason, asked)
        if not gate.go:
            record_skip(config, reason, batch, gate.why)
            return RetrainOutcome(trained=False, why=gate.why, reason=reason, batch=batch)
        # from deploy.inbox only; refusal and digest in the audit log
        admitted = admit_batch(config.registry_scope, config.deploy.inbox, batch)
        result = train_pipeline(config, extra_data=admitted and admitted.path, trigger=reason)
        record_completion(config, reason, batch, result.version)
        publish_inventory(config)  # every version, its status and review due, as a table artifact
    action = await_approval(config, result, starter) if result.action == "pending_approval" else result.action
    return RetrainOutcome(trained=True, why=gate.why, reason=reason, batch=batch, version=result.version,
                          promoted=action == "promote", action=action, batch_sha256=admitted and admitted.sha256)


@flow(name="monitor-latest", log_prints=True)
def monitor_latest(config: DeployedConfig, folder: str | None = None):
    """Run the drift monitor over the newest batch in ``folder`` (default: ``deploy.monitor_batch``)."""
    check_pinned_config(config, "monitor-latest")
    where = folder or config.deploy.monitor_batch
    batch = newest_file(Path(where)) if where else None
    if batch is None:
        get_run_logger().info("no batch to monitor in %s", where or "(deploy.monitor_batch is not set)")
        return None
    return monitor(config, str(batch))


@flow(name="purge", log_prints=True)
def purge(config: DeployedConfig) -> dict:
    """Delete what ``retention`` no longer allows on disk (also ``tunegate purge``)."""
    check_pinned_config(config, "purge")
    return purge_expired(config)
