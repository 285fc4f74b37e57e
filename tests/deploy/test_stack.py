"""`tunegate up` / `down` against a real Prefect server, with basic auth on; and the test server helper."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml

from deployments.stack import HOST, api_get, port_in_use, read_state, spawn, stop_group
from tasks.errors import StackError

AUTH = "tunegate-admin:not-a-real-secret"


def _tunegate(*args: str, cwd: Path, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flows.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)


def _write_config(tmp: Path, port: int) -> Path:
    cfg = {"name": "stack-test", "work_dir": ".tunegate",
           "deploy": {"port": port, "retrain_cron": "0 3 1 * *", "monitor_cron": "30 6 * * *",
                      "timezone": "Europe/London", "monitor_batch": str(tmp / "incoming")}}
    path = tmp / "pipeline.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_stop_group_ends_the_whole_process_group(tmp_path):
    script = ("import subprocess, sys, time; "
              "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); time.sleep(60)")
    proc = spawn([sys.executable, "-c", script], dict(os.environ), tmp_path / "p.log")
    deadline = time.monotonic() + 10
    while not (children := psutil.Process(proc.pid).children(recursive=True)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert children, "the grandchild did not start"
    assert stop_group(proc.pid) is True
    proc.wait(5)
    assert not any(_running(c.pid) for c in children)
    assert stop_group(proc.pid) is False


def test_up_refuses_a_port_in_use(tmp_path):
    with socket.socket() as busy:
        busy.bind((HOST, 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = _tunegate("up", "--config", str(_write_config(tmp_path, port)), cwd=tmp_path)
    assert r.returncode == StackError.exit_code, r.stderr
    assert f"port {port}" in r.stderr and "--port" in r.stderr
    assert not read_state(tmp_path / ".tunegate" / "stack").get("pids")


@pytest.mark.integration
def test_up_serves_deployments_behind_basic_auth_and_down_stops_them(tmp_path):
    port = _free_port()
    env = {**os.environ, "PREFECT_SERVER_API_AUTH_STRING": AUTH}
    env.pop("PREFECT_API_URL", None)
    up = _tunegate("up", "--config", str(_write_config(tmp_path, port)), cwd=tmp_path, env=env)
    stack = tmp_path / ".tunegate" / "stack"
    try:
        assert up.returncode == 0, up.stderr + (stack / "serve.log").read_text(errors="replace")[-3000:]
        assert f"http://{HOST}:{port}" in up.stdout
        pids = read_state(stack)["pids"]
        assert set(pids) == {"server", "serve"} and all(psutil.pid_exists(p) for p in pids.values())

        # basic auth: anonymous and wrong credentials are turned away, health stays open for probes
        assert api_get(port, "/deployments/name/retrain/stack-test") == 401
        assert api_get(port, "/deployments/name/retrain/stack-test", auth="tunegate-admin:wrong") == 401
        assert api_get(port, "/health") == 200

        from prefect.client.orchestration import get_client
        from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

        api = {PREFECT_API_URL: f"http://{HOST}:{port}/api", PREFECT_API_AUTH_STRING: AUTH}
        with temporary_settings(api), get_client(sync_client=True) as client:
            retrain = client.read_deployment_by_name("retrain/stack-test")
            monitor = client.read_deployment_by_name("monitor-latest/stack-test")
            automations = client.read_automations_by_name("stack-test: retrain on drift")
        assert [(s.schedule.cron, s.schedule.timezone) for s in retrain.schedules] == [("0 3 1 * *", "Europe/London")]
        assert retrain.schedules[0].parameters == {"reason": "schedule"}
        assert [(s.schedule.cron, s.schedule.timezone) for s in monitor.schedules] == [("30 6 * * *", "Europe/London")]
        assert retrain.global_concurrency_limit.limit == 1
        assert retrain.concurrency_options.collision_strategy.value == "CANCEL_NEW"
        assert retrain.parameters["config"]["name"] == "stack-test"
        assert {"config", "batch", "reason"} <= set(retrain.parameter_openapi_schema["properties"])
        assert len(automations) == 1 and automations[0].actions[0].deployment_id == retrain.id
        assert automations[0].trigger.expect == {"tunegate.drift.detected"}
    finally:
        down = _tunegate("down", cwd=tmp_path, env=env)
    assert down.returncode == 0, down.stderr
    assert "stopped: serve, server" in down.stdout
    assert not any(_running(p) for p in pids.values())
    assert not port_in_use(port)
    assert "nothing running" in _tunegate("down", cwd=tmp_path, env=env).stdout


@pytest.mark.integration
def test_local_server_helper_rejects_clients_without_credentials(tmp_path):
    from prefect.client.orchestration import get_client

    from tests.server import local_server

    with local_server(tmp_path, auth=AUTH) as srv:
        with srv.settings(), get_client(sync_client=True) as client:
            assert client.read_flows() == []
        with srv.settings(auth=False), get_client(sync_client=True) as client, pytest.raises(Exception, match="401"):
            client.read_flows()
        pid = srv.pid
    assert not _running(pid)
