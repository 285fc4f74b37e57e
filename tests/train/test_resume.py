"""Resume at the pipeline level: `tunegate run` SIGKILLed during fine-tuning, then run again, carries on from
the interrupted run's newest complete checkpoint and ends where an uninterrupted run ends."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import seed_mlflow_db, torch_threads

ROOT = Path(__file__).resolve().parents[2]


def _config(tmp: Path, name: str) -> Path:
    raw = yaml.safe_load((ROOT / "examples" / "claims.yaml").read_text())
    raw.update(name=name, work_dir=str(tmp / "work"))
    raw["data"].update(source=str(tmp / "data" / "claims.jsonl"), sample={"rows": 240, "seed": 5})
    raw["pii"].update(workers=1, enabled=False)  # scrubbing is not under test here: a faster run
    raw["train"].update(base_model=None, max_steps=36, checkpoint_every=6, batch_size=12, max_length=48,
                        learning_rate=0.003, nproc_per_node=1, timeout_s=600)
    raw["promotion"].update(floors={}, min_gain_over_baseline=None, max_membership_auc=None)
    raw["registry"] = {"model_name": None, "tracking_uri": f"sqlite:///{tmp / 'work' / 'mlflow.db'}"}
    tmp.mkdir(parents=True, exist_ok=True)
    seed_mlflow_db(tmp / "work" / "mlflow.db")
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def _env(tmp: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API") and k != "MLFLOW_TRACKING_URI"}
    return {**env, "PREFECT_HOME": str(tmp / "prefect"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "TUNEGATE_PII_KEY": "resume-test-key-at-least-32-bytes-long", "OMP_NUM_THREADS": str(torch_threads())}


def _run(cfg: Path, tmp: Path, kill_after: str | None = None) -> tuple[int, str]:
    """`tunegate run CFG`; with ``kill_after``, SIGKILL it as soon as that text appears in its output."""
    proc = subprocess.Popen([sys.executable, "-m", "flows.cli", "run", str(cfg)], cwd=ROOT, env=_env(tmp),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    out = []
    deadline = time.monotonic() + 900
    for line in proc.stdout:
        out.append(line)
        if kill_after and kill_after in line:
            os.killpg(proc.pid, signal.SIGKILL)
            break
        if time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            raise AssertionError("tunegate run took over 900 s:\n" + "".join(out[-40:]))
    proc.wait(timeout=120)
    return proc.returncode, "".join(out)


def _trainers_left(work: Path) -> list[int]:
    import psutil

    found = []
    for p in psutil.process_iter(["cmdline"]):
        cmd = " ".join(p.info["cmdline"] or [])
        if "tasks.train.recipe" in cmd and str(work) in cmd:
            found.append(p.pid)
    return found


def _final_metrics(work: Path) -> dict:
    (path,) = list(work.glob("runs/*/model/metrics.json"))
    return json.loads(path.read_text())


@pytest.mark.slow
def test_a_killed_run_resumes_from_its_newest_checkpoint_and_ends_as_an_uninterrupted_one(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    a, b = tmp_path / "a", tmp_path / "b"
    cfg = _config(a, "resume-a")
    # The uninterrupted run, for comparison, goes on beside the killed and resumed one (its own folder, store and
    # Prefect server): on 2 cores most of a run's time is start-up and waiting, not training.
    with ThreadPoolExecutor(1) as pool:
        uninterrupted = pool.submit(_run, _config(b, "resume-b"), b)
        rc, first = _run(cfg, a, kill_after="checkpoint step 12")
        assert rc == -signal.SIGKILL, first[-3000:]
        time.sleep(2)
        assert _trainers_left(a / "work") == []  # torchrun and its worker died with the pipeline
        (ckpts,) = list((a / "work" / "train-work").glob("*/checkpoints"))
        assert sorted(p.name for p in ckpts.iterdir() if p.name.startswith("step-"))[-1] >= "step-0000012"

        rc, second = _run(cfg, a)
        assert rc == 0, second[-3000:]
        resumed = [line for line in second.splitlines() if "resumed from checkpoint step" in line]
        assert resumed and "resumed from checkpoint step 1" in resumed[0], second[-3000:]  # step 12 or 18
        assert not list((a / "work" / "train-work").glob("*/checkpoints"))  # cleaned up once published

        rc, whole = uninterrupted.result(timeout=900)
    assert rc == 0, whole[-3000:]
    assert "resumed from checkpoint" not in whole
    got, want = _final_metrics(a / "work"), _final_metrics(b / "work")
    assert got["steps"] == want["steps"] == 36
    assert got["resumed_from_step"] in (12, 18) and want.get("resumed_from_step") is None
    assert got["loss_curve"][-1] == pytest.approx(want["loss_curve"][-1], rel=1e-3)
    assert got["val_loss"] == pytest.approx(want["val_loss"], rel=1e-3)
