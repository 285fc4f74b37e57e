"""Drift event → retrain start, side by side with a run created through the API, on a real local server.

    .venv/bin/python benchmarks/trigger_bench.py [--rounds 5]

Both paths end at the same `retrain` deployment served by `python -m deployments.serve`. The retrain's
cooldown gate is closed (a completed retrain is in the audit log), so each run only checks and records:
the figures are the orchestration latency, not training time.
(a) baseline: `create_flow_run_from_deployment` (what the UI's Run button does) → the run is Running;
(b) `tunegate.drift.detected` emitted → the automation creates the run → Running.
The ratio (b)/(a) is what the event path adds. The runner polls every PREFECT_RUNNER_POLL_FREQUENCY
(5 s under `tunegate up`), which bounds both.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _wait_run(client, pick, timeout_s: float = 120):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        runs = [r for r in client.read_flow_runs(limit=200) if pick(r)]
        if runs and runs[0].start_time is not None and runs[0].state.is_final():
            return runs[0]
        time.sleep(0.25)
    raise TimeoutError("run did not finish")


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()

    import yaml
    from prefect.events import emit_event

    from deployments.definitions import DRIFT_EVENT, deployment_names, model_resource
    from deployments.stack import spawn, stop_group, wait_deployments
    from tasks.audit import audit
    from tasks.config import load_config
    from tests.server import local_server

    tmp = Path(tempfile.mkdtemp(prefix="tunegate-trigger-bench-"))
    cfg_path = tmp / "bench.yaml"
    cfg_path.write_text(yaml.safe_dump({"name": "trigger-bench", "work_dir": str(tmp / "work"),
                                        "deploy": {"cooldown_minutes": 600}}))
    cfg = load_config(cfg_path)
    audit(cfg, action="retrain.completed", completed_at=datetime.now(UTC).isoformat())
    api, event = [], []
    with local_server(tmp) as srv:
        serve = spawn([sys.executable, "-m", "deployments.serve", "--config", str(cfg_path)], srv.client_env(),
                      tmp / "serve.log", cwd=ROOT)
        try:
            wait_deployments(srv.port, None, deployment_names(cfg), serve, tmp / "serve.log")
            time.sleep(2)
            from prefect.client.orchestration import get_client

            with srv.settings(), get_client(sync_client=True) as c:
                dep = c.read_deployment_by_name(deployment_names(cfg)[0])
                for i in range(args.rounds):
                    run = c.create_flow_run_from_deployment(dep.id, parameters={"reason": f"schedule {i}"})
                    done = _wait_run(c, lambda r, rid=run.id: r.id == rid)
                    api.append((done.start_time - run.created).total_seconds())
                    ev = emit_event(DRIFT_EVENT, resource={"prefect.resource.id": model_resource(cfg)},
                                    payload={"batch": f"/bench/{i}.jsonl"})
                    done = _wait_run(c, lambda r, b=f"/bench/{i}.jsonl": r.parameters.get("batch") == b)
                    event.append((done.start_time - ev.occurred).total_seconds())
        finally:
            stop_group(serve.pid)
    out = {"rounds": args.rounds, "api_run_to_running_s": {"median": statistics.median(api), "all": api},
           "event_to_running_s": {"median": statistics.median(event), "all": event},
           "ratio_event_over_api": round(statistics.median(event) / statistics.median(api), 2)}
    print(json.dumps(out, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
