"""`tunegate up` / `tunegate down`: a local Prefect server (SQLite) plus a `serve` process for the deployments.

Both run detached in their own process groups; their pids, logs and address sit under ``<work_dir>/stack/``
so that `down` stops exactly what `up` started. The server always requires basic auth, with CSRF on and CORS
limited to the UI (deployments/access.py): the credential is ``PREFECT_SERVER_API_AUTH_STRING`` when set, else
one generated into ``<work_dir>/stack/api-auth``; its clients get it as ``PREFECT_API_AUTH_STRING``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from base64 import b64encode
from pathlib import Path

import psutil

from deployments.access import AUTH_FILE, checked, refuse_key_blocks, server_security_env, stack_credential
from tasks.config import PipelineConfig, load_config
from tasks.errors import StackError

HOST = "127.0.0.1"
DEFAULT_UI_PORT = 4200
SERVE_POLL_SECONDS = "5"  # runner poll: bounds the event -> retrain start latency


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def port_in_use(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex((HOST, port)) == 0


def api_url(port: int) -> str:
    return f"http://{HOST}:{port}/api"


# settings the caller's environment may not carry into the server (CSRF, CORS: set by server_security_env)
_SECURITY_PREFIXES = ("PREFECT_SERVER_API_CSRF", "PREFECT_SERVER_CSRF", "PREFECT_SERVER_API_CORS",
                      "PREFECT_SERVER_CORS")


def server_env(home: Path, port: int, auth: str | None, base: dict | None = None) -> dict[str, str]:
    """Environment of `prefect server start`: SQLite under ``home``, no analytics, UI told where the API is."""
    env = {k: v for k, v in (base if base is not None else os.environ).items()
           if k not in ("PREFECT_API_URL", "PREFECT_API_AUTH_STRING", "PREFECT_SERVER_API_AUTH_STRING")
           and not k.startswith(_SECURITY_PREFIXES)}
    env.update(server_security_env(port))
    env.update({
        "PREFECT_HOME": str(home),
        "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{home / 'prefect.db'}",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
    })
    if port != DEFAULT_UI_PORT:
        env["PREFECT_UI_API_URL"] = api_url(port)
    if auth:
        env["PREFECT_SERVER_API_AUTH_STRING"] = auth
    return env


def client_env(home: Path, port: int, auth: str | None, base: dict | None = None) -> dict[str, str]:
    """Environment of a process that talks to that server (serve, flow runs, the CLI)."""
    env = dict(base if base is not None else os.environ)
    env.pop("PREFECT_SERVER_API_AUTH_STRING", None)
    env.update({"PREFECT_HOME": str(home), "PREFECT_API_URL": api_url(port), "DO_NOT_TRACK": "1"})
    env.setdefault("PREFECT_RUNNER_POLL_FREQUENCY", SERVE_POLL_SECONDS)
    env["PREFECT_CLIENT_CSRF_SUPPORT_ENABLED"] = "true"  # the server requires CSRF tokens
    if auth:
        env["PREFECT_API_AUTH_STRING"] = auth
    return env


def spawn(cmd: list[str], env: dict[str, str], log: Path, cwd: Path | None = None) -> subprocess.Popen:
    """Start ``cmd`` detached in its own session (so its process group can be stopped as one)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(cmd, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def spawn_server(home: Path, port: int, auth: str | None, log: Path) -> subprocess.Popen:
    home.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "prefect", "server", "start", "--host", HOST, "--port", str(port)]
    return spawn(cmd, server_env(home, port, auth), log)


def _tail(log: Path, n: int = 15) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


def wait_healthy(port: int, proc: subprocess.Popen | None, log: Path, timeout_s: float = 180) -> None:
    """Poll ``/api/health`` (open even under basic auth) until it answers 200."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise StackError(f"the Prefect server exited with code {proc.returncode} before it was healthy; "
                             f"see {log}:\n{_tail(log)}")
        try:
            with urllib.request.urlopen(api_url(port) + "/health", timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    raise StackError(f"the Prefect server on port {port} was not healthy after {timeout_s:.0f}s; see {log}")


def api_get(port: int, path: str, auth: str | None = None) -> int:
    """Status code of a GET on the API (401 when basic auth rejects the caller)."""
    req = urllib.request.Request(api_url(port) + path)
    if auth:
        req.add_header("Authorization", "Basic " + b64encode(auth.encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def stop_group(pid: int, timeout_s: float = 20) -> bool:
    """SIGTERM the process group led by ``pid``, then SIGKILL what is left. False if it was not running."""
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        return False
    if pgid != pid:  # not a group we started; never signal someone else's group
        os.kill(pid, signal.SIGTERM)
        return True
    os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        _reap(pid)
        time.sleep(0.2)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    _reap(pid)
    return True


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


# ---- the stack: state under <work_dir>/stack/ ---------------------------------------------------------


def stack_dir(cfg: PipelineConfig) -> Path:
    return cfg.work_path("stack")


def _alive(pid: int, marker: str) -> bool:
    """The pid is running and is still the process we started (pids get reused)."""
    try:
        return marker in " ".join(psutil.Process(pid).cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def read_state(d: Path) -> dict:
    p = d / "stack.json"
    return json.loads(p.read_text()) if p.is_file() else {}


def running(d: Path) -> dict:
    """The recorded stack, with only the processes still alive."""
    state = read_state(d)
    alive = {name: pid for name, pid in state.get("pids", {}).items()
             if _alive(pid, {"server": "prefect", "serve": "deployments.serve"}[name])}
    return {**state, "pids": alive} if state else {}


def _write_state(d: Path, state: dict) -> None:
    d.mkdir(parents=True, exist_ok=True)
    tmp = d / ".stack.json.tmp"
    tmp.write_text(json.dumps(state, indent=2))
    os.replace(tmp, d / "stack.json")
    for name, pid in state["pids"].items():
        (d / f"{name}.pid").write_text(f"{pid}\n")


def wait_deployments(port: int, auth: str | None, names: list[str], proc: subprocess.Popen | None,
                     log: Path, timeout_s: float = 180) -> None:
    """Wait until the serve process has registered every deployment in ``names`` (flow/deployment)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise StackError(f"the serve process exited with code {proc.returncode}; see {log}:\n{_tail(log)}")
        if all(api_get(port, f"/deployments/name/{n}", auth) == 200 for n in names):
            return
        time.sleep(1)
    raise StackError(f"deployments {names} did not appear within {timeout_s:.0f}s; see {log}")


def start_stack(cfg: PipelineConfig, config_path: Path, port: int, auth: str | None,
                credential: str = "environment") -> dict:
    """Start server and serve process detached; return the recorded state."""
    from deployments.definitions import deployment_names

    d = stack_dir(cfg)
    if running(d).get("pids"):
        raise StackError(f"a tunegate stack is already running from {d}; run `tunegate down` first.")
    if port_in_use(port):
        raise StackError(f"port {port} on {HOST} is already in use; stop what uses it or pass --port.")
    home = cfg.work_path("prefect")
    server = spawn_server(home, port, auth, d / "server.log")
    state = {"port": port, "url": f"http://{HOST}:{port}", "config": str(config_path), "credential": credential,
             "pids": {"server": server.pid}}
    _write_state(d, state)
    try:
        wait_healthy(port, server, d / "server.log")
        serve = spawn([sys.executable, "-m", "deployments.serve", "--config", str(config_path)],
                      client_env(home, port, auth), d / "serve.log", cwd=Path.cwd())
        state["pids"]["serve"] = serve.pid
        _write_state(d, state)
        wait_deployments(port, auth, deployment_names(cfg), serve, d / "serve.log")
    except BaseException:
        stop_stack(d)
        raise
    return state


def stop_stack(d: Path) -> list[str]:
    """Stop the serve process first (it pauses its schedules), then the server. Returns what was stopped."""
    state = running(d)
    stopped = [name for name in ("serve", "server") if name in state.get("pids", {})
               and stop_group(state["pids"][name])]
    for name in ("serve", "server"):
        (d / f"{name}.pid").unlink(missing_ok=True)
    (d / "stack.json").unlink(missing_ok=True)
    return stopped


def _auth(cfg: PipelineConfig) -> tuple[str, str]:
    """The server's credential and where it comes from: the environment, else the stack's credential file."""
    if auth := os.environ.get("PREFECT_SERVER_API_AUTH_STRING"):
        fix = "unset it to have `tunegate up` generate one"
        return checked(auth, "PREFECT_SERVER_API_AUTH_STRING", fix), "environment"
    return stack_credential(stack_dir(cfg)), AUTH_FILE


def up(config: str, port: int | None = None, foreground: bool = False) -> int:
    """Start the server and serve the deployments (in the background, or in this terminal)."""
    config_path = Path(config).resolve()
    cfg = load_config(config_path)
    refuse_key_blocks(cfg)
    port = port or cfg.deploy.port
    auth, credential = _auth(cfg)
    if foreground:
        return _up_foreground(cfg, config_path, port, auth, credential)
    state = start_stack(cfg, config_path, port, auth, credential)
    _print_ready(cfg, state)
    print("stop with: tunegate down")
    return 0


def _up_foreground(cfg: PipelineConfig, config_path: Path, port: int, auth: str, credential: str) -> int:
    """Server in the background, `serve` in this terminal; Ctrl-C stops both."""
    d = stack_dir(cfg)
    if port_in_use(port):
        raise StackError(f"port {port} on {HOST} is already in use; stop what uses it or pass --port.")
    home = cfg.work_path("prefect")
    server = spawn_server(home, port, auth, d / "server.log")
    try:
        wait_healthy(port, server, d / "server.log")
        _print_ready(cfg, {"url": f"http://{HOST}:{port}", "credential": credential})
        return subprocess.call([sys.executable, "-m", "deployments.serve", "--config", str(config_path)],
                               env=client_env(home, port, auth))
    except KeyboardInterrupt:
        return 0
    finally:
        stop_group(server.pid)


def _print_ready(cfg: PipelineConfig, state: dict) -> None:
    from deployments.definitions import deployment_names

    print(f"Prefect UI:  {state['url']}")
    print(f"API:         {state['url']}/api")
    if state.get("credential") == AUTH_FILE:
        path = stack_dir(cfg) / AUTH_FILE
        print(f"credential:  {path} (mode 0600; the UI asks for its contents; never printed)")
        print(f"clients:     with PREFECT_API_URL={state['url']}/api, tunegate commands on this config read it "
              f'themselves; others: export PREFECT_API_AUTH_STRING="$(cat {path})"')
    else:
        print("credential:  $PREFECT_SERVER_API_AUTH_STRING (clients: the same value as PREFECT_API_AUTH_STRING)")
    print("deployments: " + ", ".join(deployment_names(cfg)))
    print(f"logs:        {stack_dir(cfg)}")


def down(config: str | None = None) -> int:
    """Stop what ``up`` started for this config's work dir."""
    path = config or "examples/claims.yaml"
    work = load_config(path).work_dir if Path(path).is_file() else ".tunegate"
    d = Path(work) / "stack"
    stopped = stop_stack(d)
    print(("stopped: " + ", ".join(stopped)) if stopped else f"nothing running (no live stack under {d})")
    return 0
