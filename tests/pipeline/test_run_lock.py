"""``tunegate run`` serialises with retrains and erasures: it takes the retrain lock (work_dir/retrain.lock)."""

from __future__ import annotations

import json

from filelock import FileLock

from tasks.config import PipelineConfig


def test_tunegate_run_refuses_while_a_retrain_or_an_erasure_holds_the_lock(tmp_path, capsys, prefect_harness):
    from flows.cli import main

    # data.source missing and no sample: once it runs, the pipeline stops at its first check (no training)
    cfg = PipelineConfig(name="locked", work_dir=str(tmp_path / "work"),
                         data={"source": str(tmp_path / "absent.jsonl"), "sample": None})
    path = tmp_path / "cfg.yaml"
    path.write_text(json.dumps(cfg.model_dump(mode="json")))
    lock = cfg.work_path("retrain.lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(lock), thread_local=False):  # what a retrain flow or `tunegate subject erase` holds
        code = main(["run", str(path)])
        err = capsys.readouterr().err
        assert err.startswith("RetrainBusy:") and "retrain.lock" not in err.split(":", 1)[0], err
        assert code != 0 and not cfg.work_path("runs").exists()  # nothing was started
    assert main(["run", str(path)]) != 0  # the lock released: the run goes on, to the missing data source
    assert "ConfigError: data.source" in capsys.readouterr().err
