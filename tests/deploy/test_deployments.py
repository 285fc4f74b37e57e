"""Deployments: the retrain gate (table), the declarations, the retrain flow's skip paths, and, on a real
Prefect server with basic auth, manual runs, drift-triggered retraining and a storm of requests."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from deployments.definitions import build_deployments, deployment_names
from tasks.audit import COMPLETED, SKIPPED
from tasks.config import PipelineConfig, load_config
from tasks.monitor.cooldown import gate_retrain, is_manual, last_completed
from tasks.monitor.events import DRIFT_EVENT, model_resource
from tasks.subjects.erase import ERASED_EVENT
from tests.conftest import seed_mlflow_db, torch_threads

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("last_minutes_before, cooldown, reason, go, why", [
    (None, 60, "drift: event 1", True, "no earlier retrain"),
    (-1, 60, "drift: event 1", False, "already satisfied"),  # completed after the request: storm collapses
    (-1, 0, "manual", False, "already satisfied"),
    (0, 0, "manual", False, "already satisfied"),
    (10, 60, "drift: event 1", False, "cooldown"),
    (10, 60, "schedule", False, "cooldown"),
    (10, 60, "manual: new labels", True, "outside the cooldown"),  # a person's request is not held back
    (61, 60, "drift: event 1", True, "outside the cooldown"),
    (1, 0, "drift: event 1", True, "outside the cooldown"),
])
def test_decide_retrain(last_minutes_before, cooldown, reason, go, why):
    last = None if last_minutes_before is None else T0 - timedelta(minutes=last_minutes_before)
    gate = gate_retrain(last, T0, cooldown, reason)
    assert gate.go is go
    assert gate.why.startswith(why)


def test_request_time_is_the_event_time_and_never_after_the_run():
    from flows.retrain import request_time

    assert request_time(None, T0) == T0
    assert request_time("None", T0) == T0 and request_time("", T0) == T0 and request_time("garbage", T0) == T0
    early = T0 - timedelta(minutes=5)
    assert request_time(early.isoformat(), T0) == early  # an automation that created the run late
    assert request_time("2026-06-01T11:55:00Z", T0) == early
    assert request_time((T0 + timedelta(minutes=5)).isoformat(), T0) == T0
    assert request_time("2026-06-01 11:55:00", T0) == early  # naive: UTC


def test_last_completed_reads_only_this_models_completions():
    entries = [
        {"ts": "2026-06-01T10:00:00+00:00", "action": COMPLETED, "model": "m"},
        {"ts": "2026-06-01T11:00:00+00:00", "action": COMPLETED, "model": "m",
         "completed_at": "2026-06-01T11:00:00.250000+00:00"},
        {"ts": "2026-06-01T12:00:00+00:00", "action": SKIPPED, "model": "m"},
        {"ts": "2026-06-01T13:00:00+00:00", "action": COMPLETED, "model": "other"},
        {"ts": "2026-06-01T14:00:00+00:00", "action": "promote", "model": "m"},
    ]
    assert last_completed(entries, "m") == datetime(2026, 6, 1, 11, 0, 0, 250000, tzinfo=UTC)
    assert last_completed([], "m") is None
    assert is_manual("Manual: relabelled") and not is_manual("drift: event x")


def test_declarations_follow_the_config():
    cfg = PipelineConfig(name="claims-x", deploy={"retrain_cron": "0 4 1 * *", "monitor_cron": "15 7 * * *",
                                                  "timezone": "Europe/London", "collision_strategy": "ENQUEUE"})
    retrain, monitor, purge, predict = build_deployments(cfg)
    assert deployment_names(cfg) == ["retrain/claims-x", "monitor-latest/claims-x", "purge/claims-x",
                                     "predict/claims-x"]
    assert (predict.entrypoint, predict.schedules, predict.parameters["model_version"]) == (
        "flows.predict.predict", [], "champion")
    assert {"input", "output"} <= set(predict._parameter_openapi_schema.model_dump()["required"])
    assert (purge.entrypoint, [s.schedule.cron for s in purge.schedules]) == ("flows.retrain.purge", ["30 2 * * *"])
    assert (retrain.name, retrain.entrypoint) == ("claims-x", "flows.retrain.retrain")
    assert [(s.schedule.cron, s.schedule.timezone, s.parameters) for s in retrain.schedules] == [
        ("0 4 1 * *", "Europe/London", {"reason": "schedule"})]
    assert [s.schedule.cron for s in monitor.schedules] == ["15 7 * * *"]
    assert (retrain.concurrency_limit, retrain.concurrency_options.collision_strategy.value) == (1, "ENQUEUE")
    assert retrain.parameters["config"] == cfg.model_dump(mode="json")
    # the UI draws its form from this schema; PipelineConfig's sections are in it
    schema = retrain._parameter_openapi_schema.model_dump()
    assert {"config", "batch", "reason"} <= set(schema["properties"])
    assert "DeployConfig" in json.dumps(schema["definitions"])
    # the config is pinned: its digest in every deployment's tags and description, read-only in the form
    for dep in (retrain, monitor, purge, predict):
        assert f"config-sha256:{cfg.digest()[:12]}" in dep.tags and cfg.digest() in dep.description
        assert dep._parameter_openapi_schema.model_dump()["properties"]["config"]["readOnly"] is True
    trigger, erased = retrain.triggers
    assert trigger.expect == {DRIFT_EVENT} and erased.expect == {ERASED_EVENT}
    rid = model_resource(cfg.model_name)["prefect.resource.id"]
    assert rid == "tunegate.model.claims-x"
    assert trigger.match.model_dump() == {"prefect.resource.id": rid}
    assert trigger.parameters == {"batch": "{{ event.payload.batch }}", "reason": "drift: event {{ event.id }}",
                                  "requested_at": "{{ event.occurred | string }}"}
    # an erasure retrains on the source alone, as a person's request (no cooldown)
    assert erased.match.model_dump() == {"prefect.resource.id": rid}
    assert erased.parameters == {"batch": None, "reason": "erasure: {{ event.payload.request }}",
                                 "requested_at": "{{ event.occurred | string }}"}
    assert is_manual("erasure: erasure-3")


def test_monitor_latest_picks_the_newest_batch(tmp_path):
    from flows.retrain import newest_file

    assert newest_file(tmp_path / "absent") is None
    for i, name in enumerate(["a.jsonl", "b.jsonl", "b.jsonl.pii.jsonl", ".hidden.jsonl"]):
        (tmp_path / name).write_text("{}\n")
        os.utime(tmp_path / name, (1000 + i, 1000 + i))
    assert newest_file(tmp_path).name == "b.jsonl"


def _audit(cfg: PipelineConfig) -> list[dict]:
    path = cfg.work_path("audit.jsonl")
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def test_retrain_records_and_skips_within_cooldown_and_while_busy(tmp_path, prefect_harness):
    from filelock import FileLock

    from flows.retrain import retrain
    from tasks.audit import audit

    cfg = PipelineConfig(name="gate-test", work_dir=str(tmp_path / "work"), deploy={"cooldown_minutes": 60})
    audit(cfg, action=COMPLETED, completed_at=datetime.now(UTC).isoformat())

    out = retrain(config=cfg, batch="/data/batch-7.jsonl", reason="drift: event abc")
    assert (out.trained, out.batch) == (False, "/data/batch-7.jsonl")
    assert out.why.startswith("already satisfied") or out.why.startswith("cooldown")
    assert _audit(cfg)[-1]["action"] == SKIPPED and _audit(cfg)[-1]["trigger"] == "drift: event abc"

    with FileLock(str(cfg.work_path("retrain.lock")), thread_local=False):
        busy = retrain(config=cfg, batch="None", reason="manual")
    assert (busy.trained, busy.batch) == (False, None)
    assert busy.why.startswith("busy")
    assert [e["action"] for e in _audit(cfg)] == [COMPLETED, SKIPPED, SKIPPED]


# ---- on a real server: the whole loop ------------------------------------------------------------------

AUTH = "tunegate-ci:not-a-real-secret"
RESULTS = ROOT / ".tunegate" / "bench" / "deploy_integration.json"  # latency and storm figures for the report


def _tiny_config(tmp: Path) -> Path:
    raw = yaml.safe_load((ROOT / "examples" / "claims.yaml").read_text())
    raw.update(name="it-claims", work_dir=str(tmp / "work"))
    raw["data"].update(source=str(tmp / "data" / "claims.jsonl"), sample={"rows": 300, "seed": 7})
    raw["pii"]["workers"] = 1
    # The packaged MiniLM learns the sample in 20 steps, so the champion predicts more than one class (a
    # collapsed candidate is never promoted; a tiny random BERT needs far more steps).
    raw["train"].update(base_model=None, max_steps=20, batch_size=12, max_length=48, learning_rate=0.003,
                        nproc_per_node=1, timeout_s=600, checkpoint_every=1000)
    raw["promotion"].update(floors={}, max_class_regression=1.0, min_gain_over_baseline=None)
    raw["governance"]["change_envelope"] = None  # the shrunk run is not the change the example declares
    raw["registry"] = {"model_name": None, "tracking_uri": f"sqlite:///{tmp / 'work' / 'mlflow.db'}"}
    seed_mlflow_db(tmp / "work" / "mlflow.db")
    raw["monitor"].update(reference_rows=200, min_batch_rows=50, current_sample_rows=300, embedding_rows=100)
    # purge every minute: the schedule test waits for a run the server's scheduler created, not a person
    raw["deploy"].update(cooldown_minutes=0, monitor_batch=str(tmp / "incoming"), inbox=str(tmp / "incoming"),
                         purge_cron="* * * * *")
    path = tmp / "it-claims.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


class Live:
    def __init__(self, srv, cfg_path: Path, serve_log: Path):
        self.srv, self.cfg_path, self.serve_log = srv, cfg_path, serve_log
        self.cfg = load_config(cfg_path)
        self.incoming = Path(self.cfg.deploy.monitor_batch)
        self.figures: dict = {}

    def client(self):
        from prefect.client.orchestration import get_client

        return get_client(sync_client=True)

    def retrain_runs(self):
        from prefect.client.schemas.filters import DeploymentFilter, FlowRunFilter

        with self.srv.settings(), self.client() as c:
            dep = c.read_deployment_by_name(f"retrain/{self.cfg.name}")
            return c.read_flow_runs(deployment_filter=DeploymentFilter(id={"any_": [dep.id]}), limit=200,
                                    flow_run_filter=FlowRunFilter()) if dep else []

    def wait_final(self, pick, n: int = 1, timeout_s: float = 420):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            runs = [r for r in self.retrain_runs() if pick(r)]
            if len(runs) >= n and all(r.state and r.state.is_final() for r in runs):
                return runs
            time.sleep(2)
        seen: dict[str, int] = {}
        for r in runs:
            key = f"{(r.parameters.get('reason') or '')[:13]} {r.state.name if r.state else None}"
            seen[key] = seen.get(key, 0) + 1
        raise AssertionError(f"runs not final after {timeout_s}s ({len(runs)} of {n}: {seen}); serve log tail:\n"
                             + self.serve_log.read_text(errors="replace")[-4000:])

    def versions(self) -> list[int]:
        from tasks.registry.versions import client_for

        client = client_for(self.cfg.registry_scope)
        return sorted(int(v.version) for v in client.search_model_versions(f"name='{self.cfg.name}'"))

    def monitor(self, batch: Path):
        import subprocess

        return subprocess.run([sys.executable, "-m", "flows.cli", "monitor", "--config", str(self.cfg_path),
                               "--batch", str(batch)], cwd=ROOT, env=self.srv.client_env(), capture_output=True,
                              text=True, timeout=600, check=False)

    def drift_events(self, since: datetime | None = None) -> list:
        """Drift events on the server (newest 50), optionally only those since a moment."""
        from prefect.events.filters import EventFilter, EventNameFilter, EventOccurredFilter

        flt = EventFilter(event=EventNameFilter(name=[DRIFT_EVENT]))
        if since is not None:
            flt = flt.model_copy(update={"occurred": EventOccurredFilter(since=since)})
        with self.srv.settings(), self.client() as c:
            return [e.model_dump(mode="json") for e in c.read_events(filter=flt, limit=50).events]


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    from deployments.stack import spawn, stop_group, wait_deployments
    from tests.server import local_server

    tmp = tmp_path_factory.mktemp("deploy-it")
    cfg_path = _tiny_config(tmp)
    with local_server(tmp, auth=AUTH) as srv:
        log = tmp / "serve.log"
        env = srv.client_env(OMP_NUM_THREADS=str(torch_threads()),
                             MLFLOW_TRACKING_URI=f"sqlite:///{tmp / 'work' / 'mlflow.db'}")
        serve = spawn([sys.executable, "-m", "deployments.serve", "--config", str(cfg_path)], env, log, cwd=ROOT)
        try:
            wait_deployments(srv.port, AUTH, deployment_names(load_config(cfg_path)), serve, log)
            time.sleep(2)  # the server's trigger service picks up the new automation
            yield Live(srv, cfg_path, log)
        finally:
            stop_group(serve.pid)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)


@pytest.fixture(scope="module")
def first_model(live):
    """A manual run with parameters as the UI form posts them: the whole config, edited, plus a reason."""
    form = live.cfg.model_dump(mode="json")
    form["promotion"]["approval_timeout_s"] = 3600  # an edit made in the form: a policy field, tightened
    with live.srv.settings(), live.client() as c:
        dep = c.read_deployment_by_name(f"retrain/{live.cfg.name}")
        run = c.create_flow_run_from_deployment(dep.id, parameters={"config": form, "batch": None,
                                                                    "reason": "manual: first model"})
    (run,) = live.wait_final(lambda r: r.id == run.id, timeout_s=900)  # a loaded CI machine trains slowly
    return run


@pytest.mark.integration
@pytest.mark.slow
def test_manual_run_with_ui_style_parameters_trains_a_version(live, first_model):
    assert first_model.state.is_completed(), first_model.state.message
    assert first_model.parameters["config"]["promotion"]["approval_timeout_s"] == 3600
    assert live.versions() == [1]
    done = [e for e in _audit(live.cfg) if e["action"] == COMPLETED]
    assert [(e["trigger"], e["version"]) for e in done] == [("manual: first model", 1)]


@pytest.mark.integration
@pytest.mark.slow
def test_a_deployments_schedule_creates_and_runs_a_flow_run(live, first_model):
    """The purge deployment's every-minute schedule: the server's scheduler creates the run, serve runs it.
    Second in the module: by the time the first model is trained, a scheduled run has had a minute or two."""
    from prefect.client.schemas.filters import DeploymentFilter, FlowRunFilter
    from prefect.client.schemas.objects import StateType

    # Completed runs only: the scheduler keeps up to 100 future runs of an every-minute schedule, and an
    # unfiltered page of 50 can hold nothing but those (this test failed that way once).
    finished = FlowRunFilter(state={"type": {"any_": [StateType.COMPLETED]}})
    deadline, done = time.monotonic() + 240, []
    try:
        while time.monotonic() < deadline and not done:
            with live.srv.settings(), live.client() as c:
                dep = c.read_deployment_by_name(f"purge/{live.cfg.name}")
                runs = c.read_flow_runs(deployment_filter=DeploymentFilter(id={"any_": [dep.id]}),
                                        flow_run_filter=finished, limit=50)
            # Nothing in this module starts a purge run by hand: each is the schedule's, due on a whole minute.
            done = [r for r in runs if r.state and r.state.is_completed() and r.expected_start_time
                    and r.expected_start_time.second == 0 and r.expected_start_time.microsecond == 0]
            if not done:
                time.sleep(3)
    finally:
        _pause_purge(live)
    assert done, "no scheduled purge run completed within 4 minutes; serve log:\n" + \
        live.serve_log.read_text(errors="replace")[-3000:]
    audited = [e for e in _audit(live.cfg) if e["action"].startswith("retention")]
    assert audited, "the scheduled purge run left no audit entry"


def _pause_purge(live: Live) -> None:
    """Pause the every-minute purge once its test has seen a run: the server then deletes its scheduled runs,
    and the module's other tests no longer share two cores with a purge process a minute (9 runs, ~80 s CPU)."""
    with live.srv.settings(), live.client() as c:
        c.pause_deployment(c.read_deployment_by_name(f"purge/{live.cfg.name}").id)


@pytest.mark.integration
@pytest.mark.slow
def test_drift_event_triggers_a_retrain_that_registers_a_version(live, first_model, tmp_path):
    from tasks.ingest.sample_data import write_sample

    batch = write_sample(live.incoming / "batch-drift.jsonl", rows=300, seed=21, drift="length")
    r = live.monitor(batch)
    assert r.returncode == 0, r.stderr[-3000:]
    (run,) = live.wait_final(lambda x: x.parameters.get("batch") == str(batch))
    assert run.state.is_completed(), run.state.message
    assert run.parameters["reason"].startswith("drift: event ")
    assert live.versions() == [1, 2]
    (admitted,) = [e for e in _audit(live.cfg) if e["action"] == "retrain.batch_admitted"
                   and e["batch"] == str(Path(batch).resolve())]  # the batch joined from deploy.inbox, with its digest
    assert admitted["sha256"] == hashlib.sha256(Path(batch).read_bytes()).hexdigest()
    (event,) = [e for e in live.drift_events() if e["payload"].get("batch") == str(batch)]
    assert event["resource"]["prefect.resource.id"] == model_resource(live.cfg.model_name)["prefect.resource.id"]
    occurred = datetime.fromisoformat(event["occurred"])
    assert datetime.fromisoformat(run.parameters["requested_at"]) == occurred  # the trigger passes the event time
    live.figures["event_to_retrain_start_s"] = round((run.start_time - occurred).total_seconds(), 2)
    live.figures["event_to_run_created_s"] = round((run.created - occurred).total_seconds(), 2)
    _save(live)


@pytest.mark.integration
@pytest.mark.slow
def test_same_distribution_batch_starts_nothing(live, first_model):
    from tasks.ingest.sample_data import write_sample

    batch = write_sample(live.incoming / "batch-same.jsonl", rows=300, seed=42, drift="none")
    started = datetime.now(UTC)
    r = live.monitor(batch)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "drift: none" in r.stdout
    time.sleep(12)  # > two runner polls: a triggered run would exist by now
    assert live.drift_events(since=started) == []
    assert not [x for x in live.retrain_runs() if x.parameters.get("batch") == str(batch)]


@pytest.mark.integration
@pytest.mark.slow
def test_storm_of_drift_events_and_manual_runs_trains_once(live, first_model):
    batch = str(live.incoming / "batch-storm.jsonl")
    from tasks.ingest.sample_data import write_sample

    write_sample(Path(batch), rows=300, seed=33, drift="length")
    versions_before, completed_before = live.versions(), len([e for e in _audit(live.cfg) if e["action"] == COMPLETED])
    # The events come from another process, as a monitor's would: Prefect's in-process events worker is a
    # singleton bound to the first API it met (here possibly an earlier test's server) and drops events
    # silently when that server is gone. The emitter imports Prefect first and waits: all 55 requests are
    # then made within a second or two, before the first retrain can finish (a request made after a retrain
    # completed is a new request, and with this config's zero cooldown it would rightly train again).
    rid = model_resource(live.cfg.model_name)["prefect.resource.id"]
    emitter = (
        "import sys\nfrom prefect.events import emit_event\nfrom prefect.events.worker import EventsWorker\n"
        "print('ready', flush=True)\nsys.stdin.readline()\n"
        f"for i in range(50):\n    emit_event({DRIFT_EVENT!r}, resource={{'prefect.resource.id': "
        f"{rid!r}}}, payload={{'batch': {batch!r}, 'storm': i}})\n"
        "EventsWorker.drain_all()\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", emitter], env=live.srv.client_env(), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    with live.srv.settings(), live.client() as c:
        dep = c.read_deployment_by_name(f"retrain/{live.cfg.name}")
        for i in range(5):
            c.create_flow_run_from_deployment(dep.id, parameters={"batch": batch, "reason": f"manual: storm {i}"})
    proc.stdin.write("go\n")
    proc.stdin.close()
    assert proc.wait(timeout=300) == 0
    # The server's trigger service turns the 50 events into runs one at a time and the runner settles each in
    # a poll: on a loaded 2-core CI machine that took more than 8 minutes, so the wait is generous (a stuck
    # run still fails it, with the count of runs by reason and state in the message).
    storm = lambda r: r.parameters.get("batch") == batch  # noqa: E731
    # Now and then Prefect's trigger service makes runs of only 49 of the 50 events (emitted and drained; that
    # run never appeared, 20 minutes on). How many requests arrive is Prefect's; what is tunegate's is that,
    # however many do, one trains and every other is cancelled or skipped. So: 54 settled, then a minute more
    # for the 55th (waiting 900 s for a run that never comes made one suite run 27 minutes long).
    live.wait_final(storm, n=54, timeout_s=900)
    try:
        runs = live.wait_final(storm, n=55, timeout_s=60)
    except AssertionError:
        runs = live.wait_final(storm, n=54, timeout_s=60)
    assert len(runs) >= 54
    new_completions = [e for e in _audit(live.cfg) if e["action"] == COMPLETED][completed_before:]
    assert len(new_completions) == 1
    assert live.versions() == versions_before + [versions_before[-1] + 1]
    states: dict[str, int] = {}
    for r in runs:
        states[r.state.name] = states.get(r.state.name, 0) + 1
    skipped = [e for e in _audit(live.cfg) if e["action"] == SKIPPED and e.get("batch") == batch]
    assert states.get("Cancelled", 0) + len(skipped) == len(runs) - 1
    live.figures["storm"] = {"runs": len(runs), "trained": len(new_completions), "states": states,
                             "skipped_by_gate": len(skipped), "collision_strategy": live.cfg.deploy.collision_strategy}
    _save(live)


# ---- approval on the real server: paused, resumed through the API the UI uses ------------------------
@pytest.fixture(scope="module")
def approvals(live, tmp_path_factory):
    """A second pipeline on the same server, deployed with approval and four-eyes on and no other bar for a
    candidate, so every retrain pauses for a reviewer; its own serve process pins its own config (a run can
    no longer move to a model of its own: registry.* is pinned)."""
    from deployments.stack import spawn, stop_group, wait_deployments

    tmp = tmp_path_factory.mktemp("approval-it")
    raw = yaml.safe_load(live.cfg_path.read_text())
    raw.update(name="it-approval", work_dir=str(tmp / "work"))
    raw["data"]["source"] = str(tmp / "data" / "claims.jsonl")  # generated from data.sample by the first run
    raw["promotion"].update(require_approval=True, four_eyes=True, min_improvement=-1.0, max_membership_auc=None)
    raw["registry"] = {"model_name": None, "tracking_uri": f"sqlite:///{tmp / 'work' / 'mlflow.db'}"}
    raw["deploy"].update(purge_cron="0 0 1 1 *", monitor_cron="0 0 1 1 *")
    seed_mlflow_db(tmp / "work" / "mlflow.db")
    path = tmp / "it-approval.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    log = tmp / "serve.log"
    serve = spawn([sys.executable, "-m", "deployments.serve", "--config", str(path)],
                  live.srv.client_env(OMP_NUM_THREADS=str(torch_threads())), log, cwd=ROOT)
    try:
        wait_deployments(live.srv.port, AUTH, deployment_names(load_config(path)), serve, log)
        yield Live(live.srv, path, log)
    finally:
        stop_group(serve.pid)


def _without_champion(app: Live) -> None:
    """Each approval test starts from a model with no champion, so its candidate passes the policy (a
    candidate must beat a champion, and a retrain on the same data does not)."""
    from tasks.registry.versions import clear_alias

    clear_alias(app.cfg.registry_scope, "champion")
    assert _champion(app.cfg) is None


def _approval_run(app: Live, **promotion):
    """Start a retrain of the approval pipeline from its form (policy fields may only tighten); the
    candidate passes the policy and the run pauses for a reviewer."""
    form = app.cfg.model_dump(mode="json")
    form["promotion"].update(**promotion)
    with app.srv.settings(), app.client() as c:
        dep = c.read_deployment_by_name(f"retrain/{app.cfg.name}")
        run = c.create_flow_run_from_deployment(dep.id, parameters={"config": form, "reason": "manual: approval",
                                                                    "requested_by": "ann.starter"})
    return run, app.cfg


def _wait_state(live: Live, run_id, want: str, timeout_s: float = 420, after=None):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with live.srv.settings(), live.client() as c:
            run = c.read_flow_run(run_id)
        if run.state and run.state.name == want and (after is None or run.state.timestamp > after):
            return run
        if run.state and run.state.is_final() and want not in ("Completed", "Failed"):
            raise AssertionError(f"run ended {run.state.name}: {run.state.message}")
        time.sleep(1)
    raise AssertionError(f"run not {want} after {timeout_s}s; serve log tail:\n"
                         + live.serve_log.read_text(errors="replace")[-4000:])


def _state(live: Live, run_id):
    with live.srv.settings(), live.client() as c:
        return c.read_flow_run(run_id).state


def _resume(live: Live, run_id, **form) -> None:
    with live.srv.settings(), live.client() as c:
        result = c.resume_flow_run(run_id, run_input=form)  # POST /flow_runs/{id}/resume, as the UI's form
    assert result.status.value == "ACCEPT", result


def _champion(cfg: PipelineConfig) -> int | None:
    from tasks.registry.versions import champion_version

    return champion_version(cfg.registry_scope)


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.parametrize("approve", [True, False])
def test_paused_retrain_is_approved_or_rejected_through_the_api_and_four_eyes_holds(approvals, approve):
    from tasks.governance.task import APPROVAL

    before = _without_champion(approvals)
    run, cfg = _approval_run(approvals)
    paused = _wait_state(approvals, run.id, "Paused", timeout_s=900)  # a loaded CI machine trains slowly
    assert _champion(cfg) == before  # the candidate is registered, the champion has not moved
    # The person who started the run tries to approve it: recorded, refused, and the run pauses again.
    _resume(approvals, run.id, approve=True, reviewer="Ann Starter", comment="my own run")
    _wait_state(approvals, run.id, "Paused", after=paused.state.timestamp)
    assert _champion(cfg) == before
    _resume(approvals, run.id, approve=approve, reviewer="bob.checker", comment="card and eval read")
    _wait_state(approvals, run.id, "Completed")
    entries = [e for e in _audit(cfg) if e["action"] == APPROVAL and e.get("flow_run") == str(run.id)]
    assert [(e["reviewer"], e["approved"]) for e in entries] == [("Ann Starter", None), ("bob.checker", approve)]
    assert "four_eyes" in entries[0]["why"]
    assert {(e["reviewer_source"], e["started_by"], e["started_by_source"]) for e in entries} == {
        ("form", "ann.starter", "form")}  # a basic-auth server knows no users: the form's names, said so
    from tasks.registry.versions import client_for

    client = client_for(cfg.registry_scope)
    newest = max(int(v.version) for v in client.search_model_versions(f"name='{cfg.model_name}'"))
    assert _champion(cfg) == (newest if approve else before)


@pytest.mark.integration
@pytest.mark.slow
def test_paused_retrain_without_a_decision_times_out_and_keeps_the_champion(approvals):
    from tasks.governance.task import APPROVAL

    before = _without_champion(approvals)
    run, cfg = _approval_run(approvals, approval_timeout_s=4)  # shorter: a tightening the form may make
    _wait_state(approvals, run.id, "Paused", timeout_s=900)

    def decided() -> list[dict]:
        return [e for e in _audit(cfg) if e["action"] == APPROVAL and e.get("flow_run") == str(run.id)]

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not decided():
        time.sleep(1)
    (entry,) = decided()
    assert (entry["approved"], entry["why"]) == (None, "no decision before the timeout")
    deadline = time.monotonic() + 60
    while not (state := _state(approvals, run.id)).is_final() and time.monotonic() < deadline:
        time.sleep(1)
    assert state.name in ("Completed", "Failed"), state  # Failed: the server's pause expiry got there first
    assert _champion(cfg) == before


@pytest.mark.integration
@pytest.mark.slow
def test_a_run_form_cannot_relax_the_deployed_policy(live):
    """A keep-pattern that keeps every span and the recall estimate switched off, put into the deployment's
    own parameters through the API (what the check used to compare against) and into the run: refused
    against the config pinned in serve's environment, before training."""
    from prefect.client.schemas.actions import DeploymentUpdate

    form = live.cfg.model_dump(mode="json")
    form["pii"]["keep"]["patterns"] = ["[\\s\\S]+"]
    form["pii"]["estimate_docs"] = 0
    relaxed = ["pii.keep.patterns: 1 added", f"pii.estimate_docs: {live.cfg.pii.estimate_docs} -> 0"]
    versions = live.versions()
    completed = len([e for e in _audit(live.cfg) if e["action"] == COMPLETED])
    with live.srv.settings(), live.client() as c:
        dep = c.read_deployment_by_name(f"retrain/{live.cfg.name}")
        c.update_deployment(dep.id, DeploymentUpdate(parameters={**dep.parameters, "config": form}))
        try:
            run = c.create_flow_run_from_deployment(dep.id, parameters={"config": form, "reason": "manual: relax"})
            done = _wait_state(live, run.id, "Failed", timeout_s=180)
        finally:
            c.update_deployment(dep.id, DeploymentUpdate(parameters=dep.parameters))
    assert "PolicyLoosened" in live.serve_log.read_text(errors="replace")
    assert all(x in done.state.message for x in relaxed) and "[\\s\\S]" not in done.state.message
    assert live.versions() == versions
    assert len([e for e in _audit(live.cfg) if e["action"] == COMPLETED]) == completed
    refused = [e for e in _audit(live.cfg) if e["action"] == "retrain.refused"]
    assert refused and refused[-1]["fields"] == relaxed and refused[-1]["flow_run"] == str(run.id)


def _save(live: Live) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    old = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    RESULTS.write_text(json.dumps({**old, **live.figures}, indent=2, default=str))


@pytest.mark.slow  # a real MLflow registry made and migrated per test: 5-17 s
@pytest.mark.parametrize("approve, champion_after, action", [(True, 2, "promote"), (False, 1, "rejected_by_reviewer")])
def test_approval_promotes_or_keeps_the_champion_and_records_the_reviewer(tmp_path, approve, champion_after,
                                                                          action):
    from types import SimpleNamespace

    from tasks.governance.task import APPROVAL, Approval, apply_approval
    from tasks.registry.promote import PromotionDecision
    from tasks.registry.versions import champion_version, register_version, set_alias
    from tests.registry.test_registry import fake_layout

    cfg = PipelineConfig(name=f"approve-{approve}", work_dir=str(tmp_path / "work"),
                         promotion={"require_approval": True},
                         registry={"tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}"})
    v1, _ = register_version(cfg.registry_scope, fake_layout(tmp_path / "a"), {}, {}, {})
    set_alias(cfg.registry_scope, "champion", v1)
    v2, _ = register_version(cfg.registry_scope, fake_layout(tmp_path / "b"), {}, {}, {})
    result = SimpleNamespace(version=v2, run_id="run-x", previous_champion=v1,
                             decision=PromotionDecision(promote=True, reasons=["beats the champion"]))
    got = apply_approval.fn(cfg, result, Approval(approve=approve, reviewer="a.reviewer", comment="checked card"))
    assert got == action
    assert champion_version(cfg.registry_scope) == champion_after
    entry = [e for e in _audit(cfg) if e["action"] == APPROVAL][-1]
    assert (entry["version"], entry["approved"], entry["reviewer"], entry["why"]) == (
        v2, approve, "a.reviewer", "checked card")
