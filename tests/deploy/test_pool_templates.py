"""The work-pool base job templates (deployments/templates/), rendered by the worker packages' own code as a worker
renders them for a flow run, and `tunegate deploy`'s pool checks. No cluster, no Docker daemon, no server."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest

from tasks.config import PipelineConfig
from tasks.governance.pinning import PIN_ENV

ROOT = Path(__file__).resolve().parents[2]
KEYS = ("TUNEGATE_PII_KEY", "TUNEGATE_AUDIT_KEY", "TUNEGATE_EVIDENCE_KEY")
IMAGE = "registry.example/tunegate:1.0"
NO_CLIENT = SimpleNamespace()  # the templates hold no block or Prefect-variable references: never called


def _template(kind: str) -> dict:
    return json.loads((ROOT / "deployments" / "templates" / f"{kind}.json").read_text())


def _job_variables(kind: str, cfg: PipelineConfig) -> dict:
    """What `tunegate deploy --image` stores on each deployment of a pool made from the template."""
    from deployments.pool import job_variables

    jobs = job_variables(cfg, kind, set(_template(kind)["variables"]["properties"]), ROOT)
    return {**jobs, "image": IMAGE}


def _render(worker_config, kind: str, values: dict):
    """The job configuration a worker builds for one flow run: template + deployment's job variables, then
    prepare_for_flow_run, as prefect_kubernetes' and prefect_docker's own tests do."""
    from prefect.client.schemas.objects import Flow, FlowRun
    from prefect.client.schemas.responses import DeploymentResponse

    conf = asyncio.run(worker_config.from_template_and_values(_template(kind), values, client=NO_CLIENT))
    flow = Flow(id=uuid.uuid4(), name="retrain")
    deployment = DeploymentResponse(id=uuid.uuid4(), name="claims", flow_id=flow.id, job_variables=values)
    run = FlowRun(id=uuid.uuid4(), flow_id=flow.id, name="tidy-otter", deployment_id=deployment.id)
    conf.prepare_for_flow_run(run, deployment=deployment, flow=flow)
    return conf


@pytest.fixture
def cfg(tmp_path) -> PipelineConfig:
    return PipelineConfig(name="claims", work_dir="/var/lib/tunegate/claims")


def test_kubernetes_job_has_the_gpu_the_work_volume_and_the_keys_by_reference(cfg, monkeypatch):
    from prefect_kubernetes.worker import KubernetesWorkerJobConfiguration

    secret_values = {k: f"value-of-{k.lower()}-{'x' * 32}" for k in KEYS}
    for k, v in secret_values.items():  # in the worker's environment: must not reach the manifest
        monkeypatch.setenv(k, v)
    values = {**_job_variables("kubernetes", cfg), "keys_secret": "claims-keys", "work_dir_claim": "claims-work"}
    conf = _render(KubernetesWorkerJobConfiguration, "kubernetes", values)
    pod = conf.job_manifest["spec"]["template"]["spec"]
    (box,) = pod["containers"]
    assert box["image"] == IMAGE
    assert box["resources"]["limits"]["nvidia.com/gpu"] == 1  # the template's default
    assert box["volumeMounts"] == [{"name": "work", "mountPath": "/var/lib/tunegate/claims"}]
    assert pod["volumes"] == [{"name": "work", "persistentVolumeClaim": {"claimName": "claims-work"}}]
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in box["env"] if "valueFrom" in e}
    assert refs == {k: {"name": "claims-keys", "key": k} for k in KEYS}
    literal = {e["name"]: e.get("value") for e in box["env"] if "valueFrom" not in e}
    assert not set(KEYS) & set(literal)
    assert not [n for n, v in literal.items() if any(s in str(v) for s in secret_values.values())]
    pinned = PipelineConfig.model_validate_json(literal[PIN_ENV])  # the pin travels with the job
    assert pinned == cfg
    assert literal["PREFECT__FLOW_RUN_ID"] == str(conf._related_objects["flow-run"].id)

    cpu = _render(KubernetesWorkerJobConfiguration, "kubernetes", {**values, "gpu_limit": 0})
    assert cpu.job_manifest["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 0


def test_docker_container_mounts_the_work_volume_and_takes_the_keys_from_the_workers_environment(cfg, monkeypatch):
    from prefect_docker.worker import DockerWorkerJobConfiguration

    for k in KEYS:
        monkeypatch.setenv(k, f"worker-{k}")
    conf = _render(DockerWorkerJobConfiguration, "docker", {**_job_variables("docker", cfg),
                                                            "work_dir_volume": "claims-work"})
    assert conf.image == IMAGE
    assert conf.volumes == ["claims-work:/var/lib/tunegate/claims"]
    assert {k: conf.env[k] for k in KEYS} == {k: f"worker-{k}" for k in KEYS}  # read when the worker renders
    assert PipelineConfig.model_validate_json(conf.env[PIN_ENV]) == cfg
    # the template and the deployment name the keys, never hold them
    stored = json.dumps([_template("docker"), _job_variables("docker", cfg)])
    assert not [k for k in KEYS if f"worker-{k}" in stored]
    assert all("{{ $%s }}" % k in stored for k in KEYS)


@pytest.mark.parametrize("kind, image, work_dir, variables, error", [
    ("ecs", IMAGE, "/w", set(), "process, docker or kubernetes"),
    ("kubernetes", None, "/w", {"work_dir"}, "--image"),
    ("docker", None, "/w", {"work_dir"}, "--image"),
    ("process", IMAGE, "/w", set(), "leave out --image"),
    ("kubernetes", IMAGE, ".tunegate", {"work_dir"}, "absolute path"),
    ("kubernetes", IMAGE, "/w", {"image"}, "deployments/templates/kubernetes.json"),
])
def test_deploy_refuses_a_pool_it_cannot_run_on(kind, image, work_dir, variables, error):
    from deployments.pool import check_pool, job_variables
    from tasks.errors import PoolError

    with pytest.raises(PoolError, match=error.replace("$", r"\$").replace(".", r"\.")):
        check_pool("p", kind, image)
        job_variables(PipelineConfig(work_dir=work_dir), kind, variables, ROOT)


def test_process_pool_runs_where_tunegate_deploy_ran_and_carries_only_the_pin(tmp_path):
    from deployments.pool import job_variables

    cfg = PipelineConfig(work_dir=".tunegate")
    jobs = job_variables(cfg, "process", {"working_dir", "env", "command"}, tmp_path)
    assert jobs == {"env": {PIN_ENV: jobs["env"][PIN_ENV]}, "working_dir": str(tmp_path)}
    assert PipelineConfig.model_validate_json(jobs["env"][PIN_ENV]) == cfg
