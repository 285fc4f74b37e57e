"""The deployments, declared from a pipeline config: schedules, the drift and erasure triggers, the concurrency limit.

Deployment names are the pipeline's name, so one server can serve several pipelines:
``retrain/<name>``, ``monitor-latest/<name>``, ``purge/<name>`` (retention, daily) and ``predict/<name>``
(no schedule: started from the UI or the API with an input file). The config is each
deployment's default parameter, so a manual run from the UI opens a form pre-filled with it; a drift or
erasure event only fills ``batch`` and ``reason``. The config is also pinned (deployments/serve.py): each
deployment's description and tags show its digest, and a run whose config differs from it other than by
tightening a policy field stops (tasks/governance/pinning.py).
"""

from __future__ import annotations

from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.events import DeploymentEventTrigger
from prefect.schedules import Cron
from prefect.types.entrypoint import EntrypointType

from tasks.config import PipelineConfig
from tasks.monitor.events import DRIFT_EVENT, model_resource  # the event the monitor emits
from tasks.subjects.erase import ERASED_EVENT  # the event `tunegate subject erase` emits


def deployment_names(cfg: PipelineConfig) -> list[str]:
    return [f"retrain/{cfg.name}", f"monitor-latest/{cfg.name}", f"purge/{cfg.name}", f"predict/{cfg.name}"]


def _retrain_on(cfg: PipelineConfig, name: str, description: str, event: str, batch: str | None,
                reason: str) -> DeploymentEventTrigger:
    """A trigger that starts ``retrain`` when ``event`` names this model as its resource."""
    return DeploymentEventTrigger(
        name=f"{cfg.name}: {name}", description=description, expect={event},
        match={"prefect.resource.id": model_resource(cfg.model_name)["prefect.resource.id"]},
        parameters={"batch": batch, "reason": reason,
                    "requested_at": "{{ event.occurred | string }}"},  # tojson cannot encode a bare datetime
    )


def drift_trigger(cfg: PipelineConfig) -> DeploymentEventTrigger:
    """Every drift event about this model asks for a retrain on the drifted batch."""
    return _retrain_on(cfg, "retrain on drift",
                       "Retrain when the drift monitor reports drift for this model (cooldown applies).",
                       DRIFT_EVENT, "{{ event.payload.batch }}", "drift: event {{ event.id }}")


def erasure_trigger(cfg: PipelineConfig) -> DeploymentEventTrigger:
    """An erasure request about this model's data asks for a retrain without the erased documents."""
    return _retrain_on(cfg, "retrain after an erasure",
                       "Retrain without an erased subject's documents; promoting the result archives the old "
                       "versions.", ERASED_EVENT, None, "erasure: {{ event.payload.request }}")


def build_deployments(cfg: PipelineConfig) -> list:
    """The RunnerDeployments `serve` registers and runs for this pipeline."""
    from flows.predict import predict
    from flows.retrain import monitor_latest, purge, retrain

    config = cfg.model_dump(mode="json")
    d, digest = cfg.deploy, cfg.digest()
    pinned = f" Config pinned at deployment: sha256 {digest}; a run may only tighten its policy fields."
    tags = ["tunegate", cfg.name, f"config-sha256:{digest[:12]}"]
    retrain_dep = retrain.to_deployment(
        name=cfg.name,
        description=f"Retrain {cfg.model_name}: monthly, on drift, or from this form." + pinned,
        schedules=[Cron(d.retrain_cron, timezone=d.timezone, parameters={"reason": "schedule"})],
        parameters={"config": config, "batch": None, "reason": "manual", "requested_at": None, "requested_by": None},
        triggers=[drift_trigger(cfg), erasure_trigger(cfg)],
        concurrency_limit=ConcurrencyLimitConfig(
            limit=1, collision_strategy=ConcurrencyLimitStrategy(d.collision_strategy)),
        tags=tags,
        entrypoint_type=EntrypointType.MODULE_PATH,  # runs from any folder: the package is installed
    )
    monitor_dep = monitor_latest.to_deployment(
        name=cfg.name,
        description=f"Check the newest batch in {d.monitor_batch or '(unset)'} for drift." + pinned,
        schedules=[Cron(d.monitor_cron, timezone=d.timezone)],
        parameters={"config": config},
        concurrency_limit=1,
        tags=tags,
        entrypoint_type=EntrypointType.MODULE_PATH,
    )
    purge_dep = purge.to_deployment(
        name=cfg.name,
        description="Delete what retention no longer allows on disk: kept raw copies, old prediction-store days."
                    + pinned,
        schedules=[Cron(d.purge_cron, timezone=d.timezone)],
        parameters={"config": config},
        concurrency_limit=1,
        tags=tags,
        entrypoint_type=EntrypointType.MODULE_PATH,
    )
    predict_dep = predict.to_deployment(
        name=cfg.name,
        description=f"Score a file of documents with {cfg.model_name}'s champion (or a named version); every "
                    "document is logged to the prediction store, where the monitor finds it." + pinned,
        parameters={"config": config, "model_version": "champion"},
        tags=tags,
        entrypoint_type=EntrypointType.MODULE_PATH,
    )
    return [retrain_dep, monitor_dep, purge_dep, predict_dep]
