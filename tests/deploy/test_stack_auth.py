"""P13: `tunegate up` is authenticated by default, with CSRF on and CORS limited to the UI's own origin.

Exploits first, on one real stack started by the `tunegate up` command (no auth string given): with no
credentials and a foreign ``Origin``, reading a Secret block, starting a run, editing a deployment, resuming a
paused run or setting its state all fail; a cross-origin caller, even one holding the credential, is never
granted ``Access-Control-Allow-Origin``. The legitimate path still works: serve registered the deployments,
runs flow runs under CSRF, an authenticated client starts a run, and a CLI command finds the credential.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from base64 import b64encode
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import yaml

from deployments.stack import HOST, free_port, read_state

ROOT = Path(__file__).resolve().parents[2]
FOREIGN = "https://evil.example"
NAME = "stack-auth"
KEY_VALUE = "pseudonym-key-that-must-not-leak-0123456789"


def _tunegate(*args: str, cwd: Path, env: dict, timeout: float = 400) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flows.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)


def _bare_env() -> dict[str, str]:
    """The caller's environment with no Prefect server or credential set: `up` must secure itself."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PREFECT_API_URL", "PREFECT_API_AUTH_STRING", "PREFECT_SERVER_API_AUTH_STRING")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return env


class Stack:
    def __init__(self, tmp: Path, port: int, up: subprocess.CompletedProcess):
        self.tmp, self.port, self.up = tmp, port, up
        self.config = tmp / "pipeline.yaml"
        self.dir = tmp / ".tunegate" / "stack"
        self.cred = self.dir / "api-auth"
        self.auth = self.cred.read_text().strip() if self.cred.is_file() else None
        self.base = f"http://{HOST}:{self.port}"
        self.api = self.base + "/api"

    def http(self, method: str, path: str, *, auth: str | None = None, origin: str | None = FOREIGN,
             **kw) -> httpx.Response:
        headers = dict(kw.pop("headers", {}))
        if origin:
            headers["Origin"] = origin
        if auth:
            headers["Authorization"] = "Basic " + b64encode(auth.encode()).decode()
        return httpx.request(method, self.api + path, headers=headers, timeout=30, **kw)

    def settings(self):
        from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

        return temporary_settings(updates={PREFECT_API_URL: self.api, PREFECT_API_AUTH_STRING: self.auth})

    def client(self):
        from prefect.client.orchestration import get_client

        return get_client(sync_client=True)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("stack-auth")
    port = free_port()
    cfg = {"name": NAME, "work_dir": ".tunegate",
           "deploy": {"port": port, "retrain_cron": "0 3 1 1 *", "monitor_cron": "30 6 1 1 *",
                      "purge_cron": "0 4 1 1 *", "timezone": "UTC", "monitor_batch": str(tmp / "incoming")}}
    (tmp / "pipeline.yaml").write_text(yaml.safe_dump(cfg))
    env = _bare_env()
    up = _tunegate("up", "--config", "pipeline.yaml", cwd=tmp, env=env)
    s = Stack(tmp, port, up)
    try:
        assert up.returncode == 0, up.stderr + _log(s.dir / "serve.log") + _log(s.dir / "server.log")
        with s.settings(), s.client() as c:
            from prefect.blocks.system import Secret

            Secret(value=KEY_VALUE).save("tunegate-pii-key", overwrite=True)
            s.retrain = c.read_deployment_by_name(f"retrain/{NAME}")
            s.purge = c.read_deployment_by_name(f"purge/{NAME}")
        yield s
    finally:
        _tunegate("down", "--config", "pipeline.yaml", cwd=tmp, env=env, timeout=120)


def _log(path: Path) -> str:
    return path.read_text(errors="replace")[-3000:] if path.is_file() else ""


def _denied(r: httpx.Response) -> None:
    assert r.status_code in (401, 403), (r.status_code, r.text[:300])
    assert KEY_VALUE not in r.text
    assert r.headers.get("access-control-allow-origin") in (None, ""), dict(r.headers)


def _future() -> str:
    return (datetime.now(UTC) + timedelta(days=365)).isoformat()


@pytest.mark.integration
def test_up_generates_a_private_credential_and_never_prints_it(stack):
    assert stack.cred.is_file(), "no credential file under <work_dir>/stack/"
    mode = stat.S_IMODE(stack.cred.stat().st_mode)
    assert mode == 0o600, oct(mode)
    user, _, password = stack.auth.partition(":")
    assert user and len(password) >= 32
    assert stack.auth not in stack.up.stdout + stack.up.stderr and password not in stack.up.stdout
    assert str(Path(".tunegate") / "stack" / "api-auth") in stack.up.stdout  # where to find it, not what it is
    assert password not in json.dumps(read_state(stack.dir))
    assert password not in _log(stack.dir / "server.log") + _log(stack.dir / "serve.log")


@pytest.mark.integration
def test_anonymous_foreign_caller_cannot_read_a_secret_block(stack):
    r = stack.http("GET", "/block_types/slug/secret/block_documents/name/tunegate-pii-key",
                   params={"include_secrets": "true"})
    _denied(r)
    r = stack.http("POST", "/block_documents/filter", json={"include_secrets": True})
    _denied(r)
    # the credential holder still reads it (that is why production keys never live in a block: see docs/security.md)
    r = stack.http("GET", "/block_types/slug/secret/block_documents/name/tunegate-pii-key", auth=stack.auth,
                   origin=None, params={"include_secrets": "true"})
    assert r.status_code == 200 and KEY_VALUE in r.text


@pytest.mark.integration
def test_anonymous_foreign_caller_cannot_start_a_run_or_edit_a_deployment(stack):
    dep = stack.retrain.id
    body = {"state": {"type": "SCHEDULED", "state_details": {"scheduled_time": _future()}},
            "parameters": {"reason": "manual: attacker"}}
    _denied(stack.http("POST", f"/deployments/{dep}/create_flow_run", json=body))
    _denied(stack.http("PATCH", f"/deployments/{dep}", json={"parameters": {"reason": "edited"}}))
    _denied(stack.http("POST", "/events", json=[]))
    with stack.settings(), stack.client() as c:
        runs = c.read_flow_runs()
        assert not [r for r in runs if r.parameters.get("reason") == "manual: attacker"]
        assert c.read_deployment(dep).parameters.get("reason") == "manual"


@pytest.mark.integration
def test_anonymous_foreign_caller_cannot_resume_or_set_the_state_of_a_paused_run(stack):
    from prefect.states import Paused

    with stack.settings(), stack.client() as c:
        run = c.create_flow_run_from_deployment(stack.purge.id, state=Paused(timeout_seconds=3600))
    _denied(stack.http("POST", f"/flow_runs/{run.id}/resume", json={"run_input": {"approve": True}}))
    _denied(stack.http("POST", f"/flow_runs/{run.id}/set_state",
                       json={"state": {"type": "SCHEDULED"}, "force": True}))
    _denied(stack.http("POST", f"/flow_runs/{run.id}/input", json={"key": "approval", "value": "{}"}))
    with stack.settings(), stack.client() as c:
        assert c.read_flow_run(run.id).state.is_paused()


@pytest.mark.integration
def test_cross_origin_callers_get_no_cors_grant_even_with_the_credential(stack):
    r = stack.http("GET", f"/deployments/name/retrain/{NAME}", auth=stack.auth)
    assert r.status_code == 200
    assert "access-control-allow-origin" not in r.headers, dict(r.headers)
    pre = stack.http("OPTIONS", "/flow_runs/filter", headers={
        "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"})
    assert pre.headers.get("access-control-allow-origin") in (None, ""), dict(pre.headers)
    # the UI's own origin (the page the server itself serves) is allowed
    ui = f"http://{HOST}:{stack.port}"
    pre = stack.http("OPTIONS", "/flow_runs/filter", origin=ui, headers={
        "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"})
    assert pre.status_code == 200 and pre.headers.get("access-control-allow-origin") == ui


@pytest.mark.integration
def test_csrf_is_on_and_prefect_clients_still_work(stack):
    from prefect.states import Scheduled

    # the credential alone does not make a state-changing request: it needs a CSRF token too
    r = stack.http("POST", "/flow_runs/filter", auth=stack.auth, origin=None, json={})
    assert r.status_code == 403 and "CSRF" in r.text
    r = stack.http("GET", "/csrf-token", params={"client": "x"})
    assert r.status_code == 401
    # Prefect's client fetches and sends the token by itself
    with stack.settings(), stack.client() as c:
        run = c.create_flow_run_from_deployment(
            stack.retrain.id, state=Scheduled(scheduled_time=datetime.now(UTC) + timedelta(days=365)),
            parameters={"reason": "manual: legitimate"})
        assert c.read_flow_run(run.id).parameters["reason"] == "manual: legitimate"


@pytest.mark.integration
def test_serve_runs_a_flow_run_to_completion_under_csrf(stack):
    with stack.settings(), stack.client() as c:
        run = c.create_flow_run_from_deployment(stack.purge.id)
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            state = c.read_flow_run(run.id).state
            if state and state.is_final():
                break
            time.sleep(2)
    assert state.is_completed(), f"{state}\n{_log(stack.dir / 'serve.log')}"


@pytest.mark.integration
def test_a_cli_command_against_the_stack_finds_its_credential_and_emits_events(stack):
    # As `tunegate monitor` does after the user exported the stack's PREFECT_API_URL, and nothing else: a
    # command's handler (purge's, replaced by a probe) runs after main() looked the credential up.
    script = (
        "import sys\nfrom flows import cli\n"
        "def probe(args):\n"
        "    from tasks.monitor.events import emit_verified\n"
        "    ev = emit_verified('tunegate.test.cli', {'prefect.resource.id': 'tunegate.model.x'}, {}, timeout_s=60)\n"
        "    print('emitted', ev.id)\n"
        "    return 0\n"
        "cli.cli_purge = probe\n"
        "sys.exit(cli.main(['purge', '--config', 'pipeline.yaml']))\n"
    )
    env = {**_bare_env(), "PREFECT_API_URL": stack.api}
    r = subprocess.run([sys.executable, "-c", script], cwd=stack.tmp, env=env, capture_output=True, text=True,
                       timeout=300, check=False)
    assert r.returncode == 0 and "emitted" in r.stdout, r.stdout[-2000:] + r.stderr[-3000:]
    # another server's URL never gets this stack's credential
    other = {**_bare_env(), "PREFECT_API_URL": f"http://{HOST}:9/api"}
    script = ("import os\nfrom deployments.access import use_stack_credential\n"
              "print(use_stack_credential('pipeline.yaml'), os.environ.get('PREFECT_API_AUTH_STRING'))\n")
    r = subprocess.run([sys.executable, "-c", script], cwd=stack.tmp, env=other, capture_output=True, text=True,
                       timeout=120, check=False)
    assert r.stdout.strip() == "False None", r.stderr[-2000:]
    # and the stack's own URL (by name too) does
    local = {**_bare_env(), "PREFECT_API_URL": f"http://localhost:{stack.port}/api/"}
    r = subprocess.run([sys.executable, "-c", script], cwd=stack.tmp, env=local, capture_output=True, text=True,
                       timeout=120, check=False)
    assert r.stdout.strip() == f"True {stack.auth}", r.stderr[-2000:]


# ---- without a server: the credential file, key blocks, the CLI's credential lookup ----------------------


def test_the_credential_is_created_once_private_and_reused(tmp_path):
    from deployments.stack import stack_credential

    d = tmp_path / "stack"
    first = stack_credential(d)
    path = d / "api-auth"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert first.startswith("tunegate:") and len(first.partition(":")[2]) >= 32
    assert stack_credential(d) == first  # reused, never replaced
    assert stack_credential(tmp_path / "other") != first  # each work folder its own


@pytest.mark.parametrize("case", ["group-readable", "empty", "no-colon", "symlink"])
def test_an_unsafe_or_broken_credential_file_is_refused_not_replaced(tmp_path, case):
    from deployments.stack import stack_credential
    from tasks.errors import StackError

    d = tmp_path / "stack"
    d.mkdir()
    path = d / "api-auth"
    if case == "symlink":
        target = tmp_path / "elsewhere"
        target.write_text("tunegate:" + "x" * 40)
        target.chmod(0o600)
        path.symlink_to(target)
    else:
        path.write_text({"group-readable": "tunegate:" + "x" * 40, "empty": "", "no-colon": "x" * 40}[case])
        path.chmod(0o640 if case == "group-readable" else 0o600)
    before = path.read_text()
    with pytest.raises(StackError, match="api-auth"):
        stack_credential(d)
    assert path.read_text() == before  # never overwritten silently


@pytest.mark.parametrize("field", ["pii.pseudonym_key_block", "registry.evidence_key_block",
                                   "registry.audit_key_block"])
def test_up_refuses_a_key_kept_in_a_secret_block_of_the_stack(tmp_path, field):
    from tasks.errors import ConfigError

    section, key = field.split(".")
    port = free_port()
    cfg = {"name": NAME, "work_dir": str(tmp_path / "work"), "deploy": {"port": port}, section: {key: "k"}}
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(cfg))
    try:
        r = _tunegate("up", "--config", str(path), cwd=tmp_path, env=_bare_env(), timeout=300)
    finally:
        _tunegate("down", "--config", str(path), cwd=tmp_path, env=_bare_env(), timeout=120)
    assert r.returncode == ConfigError.exit_code, r.stdout + r.stderr
    assert field in r.stderr and "TUNEGATE" in r.stderr
    assert not (tmp_path / "work" / "stack" / "stack.json").exists()


@pytest.mark.parametrize("weak", ["admin:pass", "no-password-at-all", "admin:" + "x" * 10 + " spaced out"])
def test_up_refuses_a_weak_auth_string_from_the_environment(tmp_path, weak):
    from tasks.errors import StackError

    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({"name": NAME, "work_dir": str(tmp_path / "work"), "deploy": {"port": free_port()}}))
    try:
        r = _tunegate("up", "--config", str(path), cwd=tmp_path,
                      env={**_bare_env(), "PREFECT_SERVER_API_AUTH_STRING": weak}, timeout=300)
    finally:
        _tunegate("down", "--config", str(path), cwd=tmp_path, env=_bare_env(), timeout=120)
    assert r.returncode == StackError.exit_code, r.stdout + r.stderr
    assert "PREFECT_SERVER_API_AUTH_STRING" in r.stderr and weak not in r.stderr
    assert not (tmp_path / "work" / "stack" / "stack.json").exists()


def test_the_cli_uses_the_stack_credential_only_for_its_own_running_stack(tmp_path):
    from deployments.access import use_stack_credential
    from deployments.stack import _write_state, stack_credential

    (tmp_path / "p.yaml").write_text(yaml.safe_dump({"name": NAME, "work_dir": str(tmp_path / "work")}))
    d = tmp_path / "work" / "stack"
    stack_credential(d)
    env = {"PREFECT_API_URL": f"http://{HOST}:4200/api"}
    assert use_stack_credential(str(tmp_path / "p.yaml"), env) is False  # no stack recorded
    other = subprocess.Popen(["sleep", "60"])
    try:
        _write_state(d, {"port": 4200, "credential": "api-auth", "pids": {"server": other.pid}})
        assert use_stack_credential(str(tmp_path / "p.yaml"), env) is False  # that pid is no Prefect server
    finally:
        other.kill()
        other.wait()
    assert "PREFECT_API_AUTH_STRING" not in env
    env["PREFECT_API_AUTH_STRING"] = "mine:given-by-the-operator"
    assert use_stack_credential(str(tmp_path / "p.yaml"), env) is False  # an explicit credential stands
    assert env["PREFECT_API_AUTH_STRING"] == "mine:given-by-the-operator"
