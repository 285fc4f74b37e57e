"""Production batches join training only from ``deploy.inbox``: a retrain's ``batch`` run parameter cannot name
any other file on the worker (the real path counts: a link inside the inbox to a file outside is refused), and
an admitted batch's digest is in the audit log."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tasks.config import PipelineConfig
from tasks.errors import QualityGateFailed
from tasks.ingest.sample_data import write_sample

BATCH_REFUSED, BATCH_ADMITTED = "retrain.batch_refused", "retrain.batch_admitted"


def _config(tmp_path: Path, inbox: Path | None) -> PipelineConfig:
    # min_rows above any corpus here: a retrain that gets that far stops at the quality gate, which counts the
    # rows the batch added (a cheap stand-in for the training the batch would otherwise join)
    deploy = {"cooldown_minutes": 0, **({"inbox": str(inbox)} if inbox else {})}
    return PipelineConfig(name="inbox-test", work_dir=str(tmp_path / "work"), deploy=deploy,
                          data={"source": str(tmp_path / "data" / "claims.jsonl"), "sample": {"rows": 300, "seed": 7}},
                          quality={"min_rows": 10**6})


def _batch(path: Path, rows: int, seed: int) -> Path:
    """A labelled production batch whose ids are new (the sample corpus numbers its ids from 0 on every seed)."""
    write_sample(path, rows=rows, seed=seed)
    docs = [json.loads(line) for line in path.read_text().splitlines()]
    path.write_text("".join(json.dumps({**d, "id": f"batch-{d['id']}"}) + "\n" for d in docs))
    return path


def _audit(cfg: PipelineConfig) -> list[dict]:
    path = cfg.work_path("audit.jsonl")
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def _quality_rows(cfg: PipelineConfig) -> list[int]:
    return [json.loads(p.read_text())["rows"] for p in cfg.work_path("runs").glob("*/quality.json")]


@pytest.fixture
def outside(tmp_path) -> Path:
    """A labelled file outside any inbox (as /etc/passwd would be, but one the pipeline can read as documents)."""
    return _batch(tmp_path / "elsewhere" / "secret.jsonl", rows=40, seed=3)


def test_a_batch_outside_the_inbox_never_becomes_training_rows(prefect_harness, tmp_path, outside):
    from flows.retrain import retrain
    from tasks.errors import BatchOutsideInbox

    inbox = tmp_path / "incoming"
    inbox.mkdir()
    cfg = _config(tmp_path, inbox)
    with pytest.raises(BatchOutsideInbox, match="deploy.inbox"):
        retrain(config=cfg, batch=str(outside), reason="manual: relabelled")
    assert _quality_rows(cfg) == []  # nothing was read: no run got as far as the gate
    (refused,) = [e for e in _audit(cfg) if e["action"] == BATCH_REFUSED]
    assert refused["batch"] == str(outside) and "deploy.inbox" in refused["why"]

    link = inbox / "batch-1.jsonl"  # a link in the inbox to a file outside it: the real path counts
    link.symlink_to(outside)
    with pytest.raises(BatchOutsideInbox):
        retrain(config=cfg, batch=str(link), reason="manual: relabelled")
    assert [e["batch"] for e in _audit(cfg) if e["action"] == BATCH_REFUSED] == [str(outside), str(link)]
    assert _quality_rows(cfg) == []


def test_without_an_inbox_no_production_batch_joins_training(prefect_harness, tmp_path, outside):
    from flows.retrain import retrain
    from tasks.errors import BatchOutsideInbox

    cfg = _config(tmp_path, None)
    with pytest.raises(BatchOutsideInbox, match="deploy.inbox is not set"):
        retrain(config=cfg, batch=str(outside), reason="manual: relabelled")
    assert _quality_rows(cfg) == []


def test_a_batch_in_the_inbox_is_admitted_with_its_digest(prefect_harness, tmp_path):
    from flows.retrain import retrain

    inbox = tmp_path / "incoming"
    batch = _batch(inbox / "batch-2.jsonl", rows=40, seed=5)
    cfg = _config(tmp_path, inbox)
    with pytest.raises(QualityGateFailed):  # got past the inbox: the batch's 40 rows joined the 300
        retrain(config=cfg, batch=str(batch), reason="manual: relabelled")
    assert _quality_rows(cfg) == [340]
    (admitted,) = [e for e in _audit(cfg) if e["action"] == BATCH_ADMITTED]
    assert admitted["batch"] == str(batch.resolve())
    assert admitted["sha256"] == hashlib.sha256(batch.read_bytes()).hexdigest()


def test_the_example_inbox_holds_the_monitored_folder():
    from tasks.config import load_config

    cfg = load_config(Path(__file__).resolve().parents[2] / "examples" / "claims.yaml")
    inbox, monitored = Path(cfg.deploy.inbox).resolve(), Path(cfg.deploy.monitor_batch).resolve()
    assert monitored.is_relative_to(inbox)
