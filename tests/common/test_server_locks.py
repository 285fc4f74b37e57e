"""Locks that hold across machines (tasks/server_locks.py, tasks/locks.py, tasks/registry/lock.py, the audit
append): the exploits first (a configured server that cannot be reached, or a shared folder without a server,
must never fall back to a file lock; a run cannot move the shared folder), then the limits on a real server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from deployments.stack import free_port
from tasks.config import PipelineConfig, RegistryScope
from tasks.errors import LockServerUnreachable, RegistryBusy, RetrainBusy
from tasks.locks import lock_held, retrain_lock, shared_path
from tasks.server_locks import limit_name

ROOT = Path(__file__).resolve().parents[2]


def _scope(tmp: Path, work: str = "work", shared: Path | None = None) -> RegistryScope:
    return RegistryScope(model_name="m", work_dir=str(tmp / work),
                         registry={"shared_dir": str(shared) if shared else None})


@pytest.fixture
def dead_server():
    """PREFECT_API_URL pointing at a port nothing listens on: a configured server that is down."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: f"http://127.0.0.1:{free_port()}/api"}):
        yield


@pytest.fixture
def no_server():
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: None}):
        yield


# ---- exploits: each was a silent fall back to a file lock (or a movable log) before ---------------------------

@pytest.mark.timeout(120)
def test_a_configured_server_that_is_down_is_named_and_no_file_lock_stands_in(tmp_path, dead_server):
    from tasks.registry.lock import registry_lock

    reg = _scope(tmp_path)
    with pytest.raises(LockServerUnreachable, match="PREFECT_API_URL"):
        retrain_lock(reg)
    assert not lock_held(reg.work_path("retrain.lock"))
    with pytest.raises(LockServerUnreachable), registry_lock(reg, timeout_s=1):
        raise AssertionError("an alias was moved without the server's lock")


@pytest.mark.timeout(60)
def test_a_shared_folder_without_a_server_takes_no_lock_and_appends_nothing(tmp_path, no_server):
    from tasks.audit import audit
    from tasks.registry.lock import registry_lock

    reg = _scope(tmp_path, shared=tmp_path / "shared")
    with pytest.raises(LockServerUnreachable, match="registry.shared_dir"):
        retrain_lock(reg)
    with pytest.raises(LockServerUnreachable), registry_lock(reg, timeout_s=1):
        raise AssertionError("an alias was moved under a file lock on a shared folder")
    with pytest.raises(LockServerUnreachable):
        audit(reg, action="retrain.skipped", why="test")
    assert not (tmp_path / "shared" / "m" / "audit.jsonl").exists() and not reg.work_path("audit.jsonl").exists()


@pytest.mark.parametrize("deployed, run, line", [
    ("/mnt/tunegate", None, "registry.shared_dir: changed"),  # back to a private log and erasure list
    ("/mnt/tunegate", "/tmp/mine", "registry.shared_dir: changed"),  # a log of the run's own
    (None, "/tmp/mine", "registry.shared_dir: changed"),
    ("/mnt/tunegate", "/mnt/tunegate", None),
])
def test_a_run_cannot_move_the_shared_folder(deployed, run, line):
    from tasks.governance.pinning import loosened

    pin = PipelineConfig(registry={"shared_dir": deployed})
    assert loosened(pin, PipelineConfig(registry={"shared_dir": run})) == ([line] if line else [])


def test_the_shared_folder_is_an_absolute_path_and_holds_the_log_and_the_erasure_list(tmp_path):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="pattern"):  # "^/": absolute
        RegistryScope(model_name="m", work_dir="w", registry={"shared_dir": "shared"})
    reg = _scope(tmp_path, shared=tmp_path / "shared")
    assert shared_path(reg, "audit.jsonl") == tmp_path / "shared" / "m" / "audit.jsonl"
    assert shared_path(_scope(tmp_path), "audit.jsonl") == tmp_path / "work" / "audit.jsonl"  # one machine: as before


# ---- on a real server ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from tests.server import local_server

    with local_server(tmp_path_factory.mktemp("locks")) as srv, srv.settings():
        yield srv


def _limit(name: str):
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as c:
        return c.read_global_concurrency_limit_by_name(name)


@pytest.mark.integration
@pytest.mark.timeout(300)
def test_two_work_folders_share_the_servers_retrain_and_registry_locks(server, tmp_path):
    from tasks.registry.lock import registry_lock

    a, b = _scope(tmp_path, "a"), _scope(tmp_path, "b")  # two machines: nothing on disk in common
    with retrain_lock(a):
        with pytest.raises(RetrainBusy, match="tunegate-retrain-m"):
            retrain_lock(b)
        assert _limit(limit_name("retrain", "m")).active_slots == 1
        with registry_lock(a), pytest.raises(RegistryBusy, match="tunegate-registry-m"), registry_lock(b, 0.5):
            raise AssertionError("two alias moves at once")
    with retrain_lock(b):  # released: the other machine gets it
        pass
    assert _limit(limit_name("retrain", "m")).active_slots == 0


@pytest.mark.integration
@pytest.mark.timeout(300)
def test_a_limit_deleted_or_widened_on_the_server_is_put_back_to_one_slot(server, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitUpdate

    a, b = _scope(tmp_path, "a"), _scope(tmp_path, "b")
    name = limit_name("retrain", "m")
    with retrain_lock(a):
        pass
    with get_client(sync_client=True) as c:
        c.update_global_concurrency_limit(name, GlobalConcurrencyLimitUpdate(limit=5, active=False))
    with retrain_lock(a), pytest.raises(RetrainBusy):
        retrain_lock(b)
    with get_client(sync_client=True) as c:
        c.delete_global_concurrency_limit_by_name(name)
    with retrain_lock(a), pytest.raises(RetrainBusy):
        retrain_lock(b)
    assert _limit(name).limit == 1


HOLD = """
import sys, time
from tasks.config import RegistryScope
from tasks.locks import retrain_lock
lock = retrain_lock(RegistryScope(model_name="killed", work_dir=sys.argv[1]))
print("held", flush=True)
time.sleep(600)
"""


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_killed_holders_lease_lapses_and_the_lock_is_free_again(server, tmp_path):
    from tasks.server_locks import server_lock

    env = server.client_env(PYTHONPATH=str(ROOT))
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path / "a")], env=env, cwd=ROOT,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RetrainBusy):
            retrain_lock(_scope(tmp_path, "b").model_copy(update={"model_name": "killed"}))
    finally:
        os.kill(holder.pid, signal.SIGKILL)  # no release: only the lease's end frees the slot
        holder.wait()
    # the lease lapses LEASE_S (60 s, the server's minimum) after the last renewal and the server's sweep (every
    # 15 s) revokes it; a bounded wait then gets the lock
    with server_lock(limit_name("retrain", "killed"), 180, lambda: RetrainBusy("still held")):
        assert _limit(limit_name("retrain", "killed")).active_slots == 1


@pytest.mark.integration
@pytest.mark.timeout(300)
def test_a_shared_log_is_chained_under_the_servers_lock_and_a_work_folder_file_is_ignored(server, tmp_path):
    from tasks.audit import audit, read_audit, verify_audit
    from tasks.keys import audit_key

    shared = tmp_path / "shared"
    a, b = _scope(tmp_path, "a", shared), _scope(tmp_path, "b", shared)
    b.work_path().mkdir(parents=True)
    b.work_path("audit.jsonl").write_text(json.dumps({"seq": 1, "action": "retrain.completed"}) + "\n")  # planted
    for i in range(3):
        audit(a, action="retrain.skipped", why=f"a{i}")
        audit(b, action="retrain.skipped", why=f"b{i}")
    assert [e["why"] for e in read_audit(b)] == ["a0", "b0", "a1", "b1", "a2", "b2"]
    assert verify_audit(shared / "m" / "audit.jsonl", audit_key(a)).ok
    assert _limit(limit_name("audit", "m")).active_slots == 0
