"""A real local Prefect server for integration tests: subprocess, free 127.0.0.1 port, SQLite in a tmp home.

    with local_server(tmp_path, auth="user:pass") as srv:
        with srv.settings():            # this process's Prefect clients now talk to it
            ...
        subprocess.run([...], env=srv.client_env())   # and so do child processes

Shared with other engineers' integration tests; it reuses the process handling of `tunegate up`, so the
server has CSRF protection on and CORS limited to its UI's origin, as `up`'s has (Prefect's clients handle
the CSRF tokens themselves; a raw HTTP POST needs a token from ``/api/csrf-token``). ``auth`` stays the
caller's choice here: `up` itself always has one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from deployments.stack import api_url, client_env, free_port, spawn_server, stop_group, wait_healthy


@dataclass
class LocalServer:
    port: int
    home: Path
    log: Path
    auth: str | None
    pid: int

    @property
    def api_url(self) -> str:
        return api_url(self.port)

    def client_env(self, **extra: str) -> dict[str, str]:
        """os.environ pointed at this server (with credentials when it has basic auth)."""
        return {**client_env(self.home, self.port, self.auth), **extra}

    @contextmanager
    def settings(self, auth: str | None | bool = True) -> Iterator[None]:
        """Point this process's Prefect clients at the server; ``auth=False`` drops the credentials."""
        from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

        creds = self.auth if auth is True else (auth or None)
        with temporary_settings(updates={PREFECT_API_URL: self.api_url, PREFECT_API_AUTH_STRING: creds}):
            yield


@contextmanager
def local_server(tmp: Path, auth: str | None = None, timeout_s: float = 180) -> Iterator[LocalServer]:
    """Start `prefect server start` on a free port, wait for /api/health, stop its process group after."""
    home = Path(tmp) / "prefect-server"
    log = Path(tmp) / "prefect-server.log"
    port = free_port()
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    proc = spawn_server(home, port, auth, log)
    try:
        wait_healthy(port, proc, log, timeout_s)
        yield LocalServer(port=port, home=home, log=log, auth=auth, pid=proc.pid)
    finally:
        stop_group(proc.pid)
