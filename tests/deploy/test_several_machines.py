"""Two workers, two work folders, one MLflow server, one Prefect server: ten retrains race, one trains.

Each worker is its own process with its own ``work_dir`` (a machine: nothing on disk in common but the
``registry.shared_dir`` mount), talking to a real ``mlflow server`` (SQLite, a served file artifact root) and a
real local Prefect server. Before P18 part 2 each worker took only its own file lock and kept its own audit
log: both trained and registered a version, and the registry's audit head, written by both, pinned neither
log. Now the retrain, registry and audit locks are the server's global concurrency limits, and the audit log
and the erasure list live under the shared folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from deployments.stack import free_port, spawn, stop_group
from tasks.audit import COMPLETED, PROMOTE, SKIPPED
from tests.conftest import seed_mlflow_db
from tests.pipeline.test_pipeline import small_config

ROOT = Path(__file__).resolve().parents[2]
MODEL = "race-model"
PER_WORKER = 5

# One worker: load its config, say it is ready, wait for the start signal, run its retrains in threads at once.
WORKER = r"""
import json, sys, threading, time
from pathlib import Path
from flows.retrain import retrain
from tasks.config import load_config

cfg_path, worker, n, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
cfg = load_config(cfg_path)
go.with_name(f"ready-{worker}").touch()
while not go.exists():
    time.sleep(0.05)
out = {}

def one(i):
    reason = f"manual: race {worker}-{i}"
    try:
        r = retrain(config=cfg, reason=reason)
        out[reason] = "trained" if r.trained else r.why
    except Exception as e:
        out[reason] = f"error {type(e).__name__}: {e}"

threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("RESULTS " + json.dumps(out), flush=True)
"""


def _mlflow_server(tmp: Path) -> tuple[subprocess.Popen, str, Path]:
    db = seed_mlflow_db(tmp / "mlflow-server" / "mlflow.db")  # migrated once per suite, copied
    port, log = free_port(), tmp / "mlflow-server.log"
    cmd = [str(Path(sys.executable).with_name("mlflow")), "server", "--host", "127.0.0.1", "--port", str(port),
           "--backend-store-uri", f"sqlite:///{db}", "--artifacts-destination", str(tmp / "mlflow-server" / "art"),
           "--workers", "1"]
    return spawn(cmd, {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}, log), \
        f"http://127.0.0.1:{port}", log


def _wait_http(url: str, proc: subprocess.Popen, log: Path, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"mlflow server exited:\n{log.read_text()[-3000:]}"
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"{url} not healthy after {timeout_s}s:\n{log.read_text()[-3000:]}")


def _worker_config(tmp: Path, worker: str, tracking: str, shared: Path) -> Path:
    cfg = small_config(tmp / worker)
    raw = cfg.model_dump(mode="json")
    raw.update(name=MODEL, work_dir=str(tmp / worker / "work"))
    raw["registry"].update(tracking_uri=tracking, shared_dir=str(shared))
    raw["deploy"].update(cooldown_minutes=0)
    raw["pii"].update(workers=1, estimate_docs=50)  # the race is the point, not the recall estimate's precision
    raw["evaluate"].update(resamples=200)
    path = tmp / f"{worker}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_ten_retrains_on_two_machines_train_once_and_audit_every_request_in_one_chain(tmp_path):
    from tasks.audit import read_audit
    from tasks.config import load_config
    from tasks.governance.audit_check import command
    from tasks.registry.versions import client_for
    from tests.conftest import torch_threads
    from tests.server import local_server

    shared = tmp_path / "shared"  # the NFS/EFS mount both machines see
    mlflow, tracking, mlflow_log = _mlflow_server(tmp_path)
    workers: list[subprocess.Popen] = []
    try:
        with local_server(tmp_path) as srv:
            _wait_http(f"{tracking}/health", mlflow, mlflow_log)
            paths = {w: _worker_config(tmp_path, w, tracking, shared) for w in ("a", "b")}
            go = tmp_path / "go"
            env = srv.client_env(PYTHONPATH=str(ROOT), OMP_NUM_THREADS=str(torch_threads()))
            env.pop("MLFLOW_TRACKING_URI", None)  # the config's server, nothing else
            workers = [subprocess.Popen([sys.executable, "-c", WORKER, str(p), w, str(PER_WORKER), str(go)],
                                        env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        text=True) for w, p in paths.items()]
            while not all((tmp_path / f"ready-{w}").exists() for w in paths):
                assert all(p.poll() is None for p in workers), [p.stdout.read()[-3000:] for p in workers]
                time.sleep(0.1)
            go.touch()  # both processes start their five retrains at once
            logs = [p.communicate(timeout=600)[0] for p in workers]
            results: dict[str, str] = {}
            for log in logs:
                line = next((x for x in log.splitlines() if x.startswith("RESULTS ")), None)
                assert line, log[-4000:]
                results.update(json.loads(line.removeprefix("RESULTS ")))

            asked = {f"manual: race {w}-{i}" for w in paths for i in range(PER_WORKER)}
            assert set(results) == asked
            trained = [r for r, why in results.items() if why == "trained"]
            assert len(trained) == 1, results
            assert all(why == "trained" or why.startswith(("busy", "already satisfied")) for why in results.values()), \
                results
            winner = trained[0].split()[2].split("-")[0]
            # contention across processes: the other machine's requests were turned away by the server's lock
            assert any(why.startswith("busy") and not r.startswith(f"manual: race {winner}-")
                       for r, why in results.items()), results

            cfgs = {w: load_config(p) for w, p in paths.items()}
            entries = read_audit(cfgs["a"].registry_scope)
            assert entries == read_audit(cfgs["b"].registry_scope)  # one log, whichever machine reads it
            assert not cfgs["a"].work_path("audit.jsonl").exists() and not cfgs["b"].work_path("audit.jsonl").exists()
            requests = [e for e in entries if e["action"] in (COMPLETED, SKIPPED)]
            assert sorted(e["trigger"] for e in requests) == sorted(asked)  # every request, once
            for e in requests:
                assert (e["action"] == COMPLETED) == (e["trigger"] == trained[0]) and (e.get("why") or e["action"])
            promotions = [e for e in entries if e["action"] == PROMOTE]
            assert len(promotions) == 1

            client = client_for(cfgs["a"].registry_scope)
            versions = [int(v.version) for v in client.search_model_versions(f"name='{MODEL}'")]
            assert len(versions) == len(set(versions)) == 1
            assert int(client.get_model_version_by_alias(MODEL, "champion").version) == promotions[0]["version"]

            for p in paths.values():  # the real verifier: chain, audit.head, the registry's head
                lines, code = command(str(p), None)
                assert code == 0, lines
    finally:
        for p in workers:
            if p.poll() is None:
                p.kill()
        stop_group(mlflow.pid)
