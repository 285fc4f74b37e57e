"""`tunegate deploy` on a real local Prefect server: a process work pool, a real `prefect worker start`, a retrain
run from the pool deployment that moves the champion, a loosened run refused by the pin, and a kubernetes pool
made from deployments/templates/kubernetes.json taking the same deployments with an image (never run: no cluster).
The commands are those of docs/operations.md, "Work pools: a process pool, Docker, Kubernetes"."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from deployments.definitions import build_deployments, deployment_names
from tasks.config import load_config
from tasks.governance.pinning import pin_environment
from tests.deploy.test_deployments import AUTH, _audit, _tiny_config

ROOT = Path(__file__).resolve().parents[2]
POOL, K8S_POOL, IMAGE = "tunegate-pool", "tunegate-k8s", "registry.example/tunegate:test"
KEYS = ("TUNEGATE_PII_KEY", "TUNEGATE_AUDIT_KEY", "TUNEGATE_EVIDENCE_KEY")


def _config(tmp: Path, name: str) -> Path:
    """test_deployments' tiny pipeline (MiniLM, 300 rows, 20 steps), with schedules that never fall in a test."""
    path = _tiny_config(tmp)
    raw = yaml.safe_load(path.read_text())
    raw["name"] = name
    raw["deploy"].update(purge_cron="0 0 1 1 *", monitor_cron="0 0 1 1 *", retrain_cron="0 0 1 1 *")
    out = tmp / f"{name}.yaml"
    out.write_text(yaml.safe_dump(raw, sort_keys=False))
    return out


class Pool:
    def __init__(self, srv, cfg_path: Path, worker_log: Path, tmp: Path):
        self.srv, self.cfg_path, self.worker_log, self.tmp = srv, cfg_path, worker_log, tmp
        self.cfg = load_config(cfg_path)
        self.exploits: dict = {}

    def client(self):
        from prefect.client.orchestration import get_client

        return get_client(sync_client=True)

    def start(self, deployment: str, **parameters):
        with self.srv.settings(), self.client() as c:
            dep = c.read_deployment_by_name(f"{deployment}/{self.cfg.name}")
            return c.create_flow_run_from_deployment(dep.id, parameters=parameters)

    def wait_final(self, run_id, timeout_s: float = 600):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self.srv.settings(), self.client() as c:
                run = c.read_flow_run(run_id)
            if run.state and run.state.is_final():
                return run
            time.sleep(1)
        raise AssertionError(f"run {run_id} not final after {timeout_s}s; worker log tail:\n"
                             + self.worker_log.read_text(errors="replace")[-4000:])


def _create_pool(name: str, kind: str, template: dict) -> None:
    """What `prefect work-pool create NAME --type KIND [--base-job-template FILE]` does, without a CLI process."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate

    with get_client(sync_client=True) as c:
        c.create_work_pool(WorkPoolCreate(name=name, type=kind, base_job_template=template))


def _start_exploits(pool: Pool) -> dict:
    """Two runs that must be refused: retrain with a form that keeps every span and switches the recall estimate
    off; predict with that config and, as its own job variables, an `env` that pins it."""
    from tasks.config import PipelineConfig

    form = pool.cfg.model_dump(mode="json")
    form["pii"]["keep"]["patterns"] = ["[\\s\\S]+"]
    form["pii"]["estimate_docs"] = 0
    own_pin = pin_environment(PipelineConfig.model_validate(form))
    with pool.srv.settings(), pool.client() as c:
        retrain = c.read_deployment_by_name(f"retrain/{pool.cfg.name}")
        predict = c.read_deployment_by_name(f"predict/{pool.cfg.name}")
        loosened = c.create_flow_run_from_deployment(retrain.id, parameters={"config": form, "reason": "manual: relax"})
        own = c.create_flow_run_from_deployment(predict.id, parameters={"config": form, "input": "in.jsonl",
                                                                         "output": str(pool.tmp / "out.jsonl")},
                                                job_variables={"env": own_pin})
    return {"loosened": loosened.id, "own_pin": own.id}


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    """A server with basic auth, a process pool, `tunegate deploy` onto it and a worker polling it."""
    from prefect.workers.process import ProcessWorker

    from deployments.stack import spawn, stop_group
    from tests.server import local_server

    tmp = tmp_path_factory.mktemp("pool-it")
    cfg_path = _config(tmp, "pool-claims")
    with local_server(tmp, auth=AUTH) as srv:
        with srv.settings():
            _create_pool(POOL, "process", ProcessWorker.get_default_base_job_template())
        # One torch thread: the worker's run shares 2 cores with pytest, the server and other test processes, and
        # OpenMP threads spinning against each other made 20 steps of MiniLM take 3 minutes instead of seconds.
        env = srv.client_env(PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
                             PREFECT_WORKER_QUERY_SECONDS="1", PREFECT_WORKER_PREFETCH_SECONDS="1")
        r = subprocess.run([sys.executable, "-m", "flows.cli", "deploy", "--config", str(cfg_path), "--pool", POOL],
                           env=env, cwd=ROOT, capture_output=True, text=True, timeout=180)
        assert r.returncode == 0, r.stderr[-3000:]
        pool = Pool(srv, cfg_path, tmp / "worker.log", tmp)
        pool.exploits = _start_exploits(pool)  # before the worker: its first poll takes both
        worker = spawn([sys.executable, "-m", "prefect", "worker", "start", "--pool", POOL], env, pool.worker_log,
                       cwd=ROOT)
        try:
            yield pool
        finally:
            stop_group(worker.pid)


@pytest.mark.integration
@pytest.mark.timeout(600)
def test_the_pool_holds_the_serve_deployments_pinned_without_keys(pool):
    from prefect.client.schemas.filters import DeploymentFilter

    cfg, declared = pool.cfg, build_deployments(pool.cfg)
    with pool.srv.settings(), pool.client() as c:
        deps = [c.read_deployment_by_name(n) for n in deployment_names(cfg)]
        automations = {a.name for a in c.read_automations()}
        assert len(c.read_deployments(deployment_filter=DeploymentFilter(work_pool_name={"any_": [POOL]}))) == 4
    for dep, want in zip(deps, declared, strict=True):
        assert (dep.work_pool_name, dep.entrypoint, dep.tags, dep.description) == (
            POOL, want.entrypoint, want.tags, want.description)
        assert dep.parameters == want.parameters
        assert [s.schedule.cron for s in dep.schedules] == [s.schedule.cron for s in want.schedules]
        assert dep.job_variables == {"env": pin_environment(cfg), "working_dir": str(ROOT)}
        assert not [k for k in KEYS if os.environ[k] in json.dumps(dep.job_variables)]  # names may be; values never
    retrain = deps[0]
    assert (retrain.global_concurrency_limit.limit, retrain.concurrency_options.collision_strategy.value) == (
        1, "CANCEL_NEW")
    assert {f"{cfg.name}: retrain on drift", f"{cfg.name}: retrain after an erasure"} <= automations


@pytest.mark.integration
@pytest.mark.timeout(600)
def test_a_run_with_a_loosened_config_is_refused_on_the_pool(pool):
    """The exploit: a run of the pool's retrain deployment whose form keeps every span and switches the recall
    estimate off. The worker's run finds the pin in its job's environment and stops before reading any data."""
    run = pool.wait_final(pool.exploits["loosened"], timeout_s=240)
    assert run.state.is_failed(), run.state
    assert "PolicyLoosened" in pool.worker_log.read_text(errors="replace")
    assert "pii.keep.patterns: 1 added" in run.state.message and "pii.estimate_docs" in run.state.message
    refused = [e for e in _audit(pool.cfg) if e["action"] == "retrain.refused"]
    assert refused and refused[-1]["flow_run"] == str(run.id)
    assert not pool.cfg.work_path("runs").exists()  # nothing ingested


@pytest.mark.integration
@pytest.mark.timeout(600)
def test_a_run_that_brings_its_own_pin_in_job_variables_is_refused(pool):
    """The exploit a worker opens (serve's Runner ignores job variables): the run's own job variables replace the
    pinned config in the job's environment with the loosened one the run carries (predict: no concurrency limit,
    so it runs beside the other exploit). Refused, whatever they hold."""
    run = pool.wait_final(pool.exploits["own_pin"], timeout_s=240)
    assert run.state.is_failed(), run.state
    assert "sets job variables of its own (env)" in run.state.message
    refused = [e for e in _audit(pool.cfg) if e["action"] == "predict.refused"]
    assert refused and refused[-1]["flow_run"] == str(run.id) and refused[-1]["fields"] == ["env"]
    assert not pool.cfg.work_path("predictions").exists()


@pytest.mark.integration
@pytest.mark.distributed
@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_a_worker_runs_the_retrain_deployment_and_the_champion_moves(pool):
    from tasks.registry.versions import champion_version

    assert champion_version(pool.cfg.registry_scope) is None
    run = pool.wait_final(pool.start("retrain", reason="manual: first model on the pool").id, timeout_s=840)
    assert run.state.is_completed(), run.state.message
    assert champion_version(pool.cfg.registry_scope) == 1
    done = [e for e in _audit(pool.cfg) if e["action"] == "retrain.completed"]
    assert [(e["trigger"], e["version"]) for e in done] == [("manual: first model on the pool", 1)]


@pytest.mark.integration
@pytest.mark.timeout(600)
def test_a_kubernetes_pool_from_the_template_takes_the_deployments_with_the_image(pool):
    """A second pipeline onto a kubernetes pool made from the shipped template (the server validates it); its
    runs are never started: there is no cluster."""
    from deployments.pool import deploy_to_pool

    cfg = load_config(_config(pool.tmp / "k8s", "k8s-claims"))
    template = json.loads((ROOT / "deployments" / "templates" / "kubernetes.json").read_text())
    with pool.srv.settings():
        _create_pool(K8S_POOL, "kubernetes", template)
        assert deploy_to_pool(cfg, K8S_POOL, IMAGE) == deployment_names(cfg)
        with pool.client() as c:
            dep = c.read_deployment_by_name(f"retrain/{cfg.name}")
            stored = c.read_work_pool(K8S_POOL).base_job_template
    assert dep.work_pool_name == K8S_POOL and stored == template
    assert dep.job_variables == {"env": pin_environment(cfg), "work_dir": cfg.work_dir, "image": IMAGE}


@pytest.mark.integration
@pytest.mark.timeout(600)
def test_deploy_names_what_is_missing_a_server_or_the_pool(pool):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from deployments.pool import deploy_to_pool
    from tasks.errors import PoolError

    with temporary_settings(updates={PREFECT_API_URL: None}), pytest.raises(PoolError, match="PREFECT_API_URL"):
        deploy_to_pool(pool.cfg, POOL)
    with pool.srv.settings(), pytest.raises(PoolError, match="'no-such-pool' does not exist"):
        deploy_to_pool(pool.cfg, "no-such-pool")
    with pool.srv.settings(), pytest.raises(PoolError, match="--pool NAME"):
        deploy_to_pool(pool.cfg, None)
