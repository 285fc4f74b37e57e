"""`tunegate deploy`: the deployments `serve` runs, registered on a work pool of the server at ``PREFECT_API_URL``.

The same declarations (deployments/definitions.py: names, parameters, schedules, triggers, concurrency limits,
the config digest in tags and descriptions); only where their runs execute changes. A process pool runs the
installed package (module-path entrypoints) in this folder, so relative paths in the config mean what they
mean to `tunegate up` here; a docker or kubernetes pool runs ``--image``, with the volume of the pool's base
job template (deployments/templates/) mounted at ``work_dir``. Nothing is built or pushed.

The pin: serve puts the loaded config into its own environment, which its flow-run processes inherit. A worker
starts each flow run with the deployment's job variables, so the pin goes there, as ``env``: the check in each
flow (tasks/governance/task.py) reads it the same way, and a run whose config differs other than by tightening
a policy field stops. A worker also applies a run's own job variables over the deployment's (serve's Runner
ignores them), so that check refuses a deployment's run created with any. The keys never go into job
variables: they reach the runs from the worker's environment (process, docker) or a Kubernetes Secret.
"""

from __future__ import annotations

import os
from pathlib import Path

from deployments.definitions import build_deployments, deployment_names
from tasks.config import PipelineConfig
from tasks.errors import PoolError
from tasks.governance.pinning import pin_environment

IMAGE_POOLS = ("docker", "kubernetes")
POOL_TYPES = ("process", *IMAGE_POOLS)
TEMPLATES = {"docker": "deployments/templates/docker.json", "kubernetes": "deployments/templates/kubernetes.json"}


def job_variables(cfg: PipelineConfig, pool_type: str, variables: set[str], cwd: Path) -> dict:
    """Each deployment's job variables on a pool of ``pool_type`` whose template declares ``variables``: the pin,
    and where the runs find ``work_dir``."""
    out: dict = {"env": pin_environment(cfg)}
    if pool_type == "process":
        if "working_dir" in variables:  # relative paths in the config resolve as they do for `tunegate up` here
            out["working_dir"] = str(cwd)
        return out
    if not os.path.isabs(cfg.work_dir):
        raise PoolError(f"work_dir {cfg.work_dir!r} is relative; on a {pool_type} pool the work volume is mounted "
                        "at work_dir: set it to an absolute path (e.g. /var/lib/tunegate) in the config.")
    if "work_dir" not in variables:
        raise PoolError(f"the {pool_type} pool's base job template has no work_dir variable, so the runs would "
                        f"have no work volume; create the pool from {TEMPLATES[pool_type]} (prefect work-pool "
                        f"create NAME --type {pool_type} --base-job-template {TEMPLATES[pool_type]}).")
    out["work_dir"] = cfg.work_dir
    return out


def check_pool(name: str, pool_type: str, image: str | None) -> None:
    """A pool tunegate can deploy to, with an image exactly where one is needed."""
    if pool_type not in POOL_TYPES:
        raise PoolError(f"work pool {name!r} is of type {pool_type!r}; tunegate deploys to process, docker or "
                        "kubernetes pools: create one (prefect work-pool create NAME --type process).")
    if pool_type in IMAGE_POOLS and not image:
        raise PoolError(f"work pool {name!r} is a {pool_type} pool: give the image its runs start from (--image "
                        "REGISTRY/tunegate:TAG, built from this repository; tunegate deploy builds nothing).")
    if pool_type == "process" and image:
        raise PoolError(f"work pool {name!r} is a process pool: its runs use the installed package, not an image; "
                        "leave out --image, or deploy to a docker or kubernetes pool.")


def api_url() -> str:
    """The server the deployments go to; never Prefect's ephemeral one, which would vanish with this process."""
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if not url:
        raise PoolError("no Prefect server: set PREFECT_API_URL (and PREFECT_API_AUTH_STRING when it needs one) "
                        "to the server whose work pool runs the deployments, e.g. http://127.0.0.1:4200/api.")
    return url


def deploy_to_pool(cfg: PipelineConfig, pool: str | None, image: str | None = None,
                   cwd: Path | None = None) -> list[str]:
    """Register the pipeline's deployments on work pool ``pool`` (default ``deploy.work_pool``); their names."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    pool = pool or cfg.deploy.work_pool
    if not pool:
        raise PoolError("no work pool: pass --pool NAME, or set deploy.work_pool in the config.")
    url = api_url()
    with get_client(sync_client=True) as client:
        try:
            work_pool = client.read_work_pool(pool)
        except ObjectNotFound:
            raise PoolError(f"work pool {pool!r} does not exist on {url}; create it first (prefect work-pool "
                            f"create {pool} --type process, or a docker or kubernetes pool from "
                            "deployments/templates/).") from None
    check_pool(pool, work_pool.type, image)
    variables = set(work_pool.base_job_template.get("variables", {}).get("properties", {}))
    jobs = job_variables(cfg, work_pool.type, variables, (cwd or Path.cwd()).resolve())
    for dep in build_deployments(cfg):
        dep.job_variables = {**dep.job_variables, **jobs, "env": dict(jobs["env"])}  # apply() writes into it
        dep.apply(work_pool_name=pool, image=image)
    return deployment_names(cfg)
