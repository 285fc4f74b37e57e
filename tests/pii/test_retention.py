"""Personal data at rest: the unscrubbed copy lives only as long as the run that needs it."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pandas as pd
import pytest

from tasks.config import PipelineConfig, SampleConfig
from tasks.errors import PiiGateFailed
from tasks.retention import RAW_FILES, purge, raw_copies

DAY = 86400


def _config(tmp_path: Path, **update) -> PipelineConfig:
    cfg = PipelineConfig.model_validate({
        "work_dir": str(tmp_path / "work"),
        "data": {"source": str(tmp_path / "data" / "claims.jsonl"), "sample": SampleConfig(rows=200, seed=5),
                 "columns": {"timestamp": "created_at"}},
        "quality": {"min_per_class": 1},
        "pii": {"workers": 1, "estimate_docs": 0}})
    return cfg.model_copy(update=update)


def test_purge_deletes_raw_copies_and_prediction_days_past_their_time(tmp_path):
    work, now = tmp_path / "work", time.time()
    old, new = work / "runs" / "run-a-111111", work / "predictions" / "predict-b-222222"
    for folder, age in ((old, 5 * DAY), (new, 0)):
        (folder / "batch").mkdir(parents=True)
        for name in RAW_FILES:
            (folder / name).write_bytes(b"x")
        (folder / "batch" / "dataset.parquet").write_bytes(b"x")
        (folder / "scrubbed.parquet").write_bytes(b"x")
        for p in folder.rglob("*.parquet"):
            os.utime(p, (now - age, now - age))
    for day in ("2026-11-01", "2026-11-28", "2026-11-30"):
        (work / "predictions" / f"date={day}").mkdir(parents=True)
    assert len(raw_copies(old)) == len(RAW_FILES) + 1

    out = purge(work, keep_raw_days=3, predictions_days=None, now=now)
    assert out == {"raw_copies_deleted": len(RAW_FILES) + 1, "prediction_days_deleted": 0}
    assert raw_copies(old) == [] and (old / "scrubbed.parquet").is_file()  # scrubbed data is not raw
    assert len(raw_copies(new)) == len(RAW_FILES) + 1  # younger than 3 days: kept

    noon = pd.Timestamp("2026-11-30T12:00Z").timestamp()
    for p in new.rglob("*.parquet"):  # written before that noon, whatever the clock says today
        os.utime(p, (noon - 3600, noon - 3600))
    out = purge(work, keep_raw_days=0, predictions_days=2, now=noon)
    assert out == {"raw_copies_deleted": len(RAW_FILES) + 1, "prediction_days_deleted": 1}
    assert sorted(p.name for p in (work / "predictions").glob("date=*")) == ["date=2026-11-28", "date=2026-11-30"]


HOLDER = """
import sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from tasks.retention import hold_raw
hold_raw(Path(sys.argv[1]))
print("held", flush=True)
time.sleep(600)
"""


def test_purge_leaves_the_copy_of_a_run_in_progress_and_takes_a_killed_runs(tmp_path):
    """keep_raw_days 0 means "gone once scrubbed", not "gone before the scrub": a run between ingest and scrub
    holds its folder; a killed run's hold ends with its process, and its leftover copy is purged."""
    import subprocess
    import sys

    from tasks.retention import hold_raw, in_use, release_raw

    work = tmp_path / "work"
    mine, theirs = work / "runs" / "run-mine-aaaaaa", work / "runs" / "run-theirs-bbbbbb"
    for d in (mine, theirs):
        d.mkdir(parents=True)
        (d / "dataset.parquet").write_bytes(b"x")
    hold_raw(mine)  # this process's run
    root = str(Path(__file__).resolve().parents[2])
    other = subprocess.Popen([sys.executable, "-c", HOLDER, str(theirs), root], stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout.readline().strip() == "held"
        assert in_use(mine) and in_use(theirs)
        assert purge(work, keep_raw_days=0, predictions_days=None)["raw_copies_deleted"] == 0
        other.kill()
        other.wait(10)
        assert not in_use(theirs)
        assert purge(work, keep_raw_days=0, predictions_days=None)["raw_copies_deleted"] == 1
        assert raw_copies(theirs) == [] and raw_copies(mine) != []
        release_raw(mine)
        assert purge(work, keep_raw_days=0, predictions_days=None)["raw_copies_deleted"] == 1
    finally:
        other.kill()


@pytest.mark.integration
def test_the_unscrubbed_copy_goes_after_the_scrub_unless_kept(prefect_harness, tmp_path):
    from flows.ingest import ingest

    result = ingest(_config(tmp_path), run_id="r1")
    run = tmp_path / "work" / "runs" / "r1"
    assert result.scrubbed is not None and Path(result.scrubbed.uri).is_file()
    assert raw_copies(run) == [] and not Path(result.dataset.uri).exists()

    kept = PipelineConfig.model_validate({**_config(tmp_path).model_dump(), "retention": {"keep_raw_days": 7}})
    ingest(kept, run_id="r2")
    assert [p.name for p in raw_copies(tmp_path / "work" / "runs" / "r2")] == ["dataset.parquet"]


@pytest.mark.integration
def test_a_failed_run_leaves_no_unscrubbed_copy(prefect_harness, tmp_path):
    """The scrub's residual gate stops the run after ingest wrote the copy: the failure hook deletes it."""
    from flows.ingest import ingest
    from tasks.ingest.sample_data import write_sample

    src = write_sample(tmp_path / "data" / "claims.jsonl", rows=200, seed=5)
    rows = [json.loads(line) for line in src.read_text().splitlines()]
    for r in rows[:20]:
        r["text"] += " Meter reading 98765432101 noted."  # a digit run only the residual scan reports
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = _config(tmp_path)
    cfg = cfg.model_copy(update={"pii": cfg.pii.model_copy(update={"residual_max_rate": 0.0})})
    with pytest.raises(PiiGateFailed):
        ingest(cfg, run_id="r3")
    run = tmp_path / "work" / "runs" / "r3"
    assert run.is_dir() and raw_copies(run) == []


def test_purge_command_reads_the_configs_retention(tmp_path, capsys):
    import yaml

    from flows.cli import main

    work = tmp_path / "work"
    old = work / "runs" / "run-a-111111"
    old.mkdir(parents=True)
    (old / "dataset.parquet").write_bytes(b"x")
    os.utime(old / "dataset.parquet", (time.time() - 10 * DAY, time.time() - 10 * DAY))
    (work / "predictions" / "date=2020-01-01").mkdir(parents=True)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"work_dir": str(work), "retention": {"keep_raw_days": 30, "predictions_days": 90}}))
    assert main(["purge", "--config", str(cfg)]) == 0
    assert "deleted 0 unscrubbed copies (kept 30 days) and 1 days" in capsys.readouterr().out
    assert (old / "dataset.parquet").is_file() and not (work / "predictions" / "date=2020-01-01").exists()
    cfg.write_text(yaml.safe_dump({"work_dir": str(work)}))  # defaults: raw copies are not kept
    assert main(["purge", "--config", str(cfg)]) == 0
    assert not (old / "dataset.parquet").exists()


def test_the_scheduled_purge_flow_applies_retention_and_audits_it(prefect_harness, tmp_path):
    """What the `purge/<name>` deployment runs daily: the same purge, recorded with its counts."""
    from flows.retrain import purge as purge_flow
    from tasks.audit import read_audit

    cfg = _config(tmp_path, retention=PipelineConfig().retention.model_copy(update={"predictions_days": 1}))
    kept = cfg.work_path("runs", "run-a-111111", "dataset.parquet")
    kept.parent.mkdir(parents=True)
    kept.write_bytes(b"x")
    cfg.work_path("predictions", "date=2020-01-01").mkdir(parents=True)
    out = purge_flow(cfg)
    assert {k: out[k] for k in ("raw_copies_deleted", "prediction_days_deleted")} == {
        "raw_copies_deleted": 1, "prediction_days_deleted": 1}
    assert {"checkpoints_deleted", "mlflow_runs_emptied", "monitor_cache_deleted", "leftovers_deleted"} <= set(out)
    assert not kept.exists() and not cfg.work_path("predictions", "date=2020-01-01").exists()
    [entry] = [e for e in read_audit(cfg) if e["action"] == "retention.purge"]
    assert (entry["raw_copies_deleted"], entry["prediction_days_deleted"]) == (1, 1)
