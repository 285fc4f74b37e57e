"""The monitor flow: relaxed gate, prediction store, and end to end under a real Prefect server."""

import argparse
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from flows.monitor import MonitorResult, monitoring_gate
from tasks.config import QualityConfig, load_config
from tasks.errors import InputError
from tasks.predict.store import append_predictions, prediction_rows, read_store
from tests.conftest import torch_threads

ROOT = Path(__file__).resolve().parents[2]


def test_monitoring_gate_makes_labels_optional():
    gate = monitoring_gate(QualityConfig(min_rows=200, min_per_class=10, require_labels=True), min_batch_rows=50)
    assert (gate.require_labels, gate.min_per_class, gate.min_rows) == (False, 0, 50)
    assert monitoring_gate(QualityConfig(min_rows=20), 50).min_rows == 20


def _docs():
    return pd.DataFrame({"id": ["a", "b"], "text": ["<PERSON> rang", "roof tiles"],
                         "timestamp": pd.to_datetime(["2026-01-01", None], utc=True)})


def test_prediction_store_roundtrip(tmp_path):
    preds = pd.DataFrame({"id": ["b", "a"], "prediction": ["storm", "motor"], "confidence": [0.9, 0.6],
                          "model_version": [3, 3]})
    when = datetime(2026, 11, 29, 23, 59, tzinfo=UTC)
    path = append_predictions(prediction_rows(_docs(), preds, when), tmp_path, "monitor-1", when)
    assert path == tmp_path / "date=2026-11-29" / "monitor-1.parquet"
    back = read_store(tmp_path)
    assert back["id"].tolist() == ["a", "b"] and back["prediction"].tolist() == ["motor", "storm"]
    assert back["text"].tolist() == ["<PERSON> rang", "roof tiles"] and (back["model_version"] == 3).all()
    assert back["document_timestamp"].isna().tolist() == [False, True]
    assert read_store(tmp_path, since="2026-11-30").empty


def test_prediction_store_rejects_mismatched_ids(tmp_path):
    preds = pd.DataFrame({"id": ["a", "z"], "prediction": ["x", "y"], "confidence": [1, 1], "model_version": [1, 1]})
    with pytest.raises(InputError, match="different ids"):
        prediction_rows(_docs(), preds, datetime.now(UTC))


def test_sample_dataset_is_seeded_by_the_batch_and_keeps_order(tmp_path):
    from tasks.monitor.sampling import sample_dataset
    from tasks.pii.stream import describe_parquet

    def dataset(name: str, n: int, offset: int = 0):
        pd.DataFrame({"id": [f"d{i + offset:05d}" for i in range(n)], "text": [f"note {i + offset}" for i in range(n)],
                      "label": ["a"] * n}).to_parquet(tmp_path / name)
        return describe_parquet(tmp_path / name, scrubbed=False)

    big = dataset("big.parquet", 1000)
    one, two = sample_dataset(big, 100, tmp_path / "s1.parquet"), sample_dataset(big, 100, tmp_path / "s2.parquet")
    ids = pd.read_parquet(one.uri)["id"].tolist()
    assert one.rows == 100 and len(set(ids)) == 100 and ids == sorted(ids)  # no repeats, original order
    assert ids == pd.read_parquet(two.uri)["id"].tolist()  # the same batch gives the same sample
    assert set(ids) <= set(pd.read_parquet(big.uri)["id"]) and ids != [f"d{i:05d}" for i in range(100)]
    other = sample_dataset(dataset("other.parquet", 1000, offset=1), 100, tmp_path / "s3.parquet")
    assert [int(x[1:]) - 1 for x in pd.read_parquet(other.uri)["id"]] != [int(x[1:]) for x in ids]  # another seed
    small = dataset("small.parquet", 50)
    assert sample_dataset(small, 100, tmp_path / "s4.parquet") == small and not (tmp_path / "s4.parquet").exists()


def test_result_line_is_one_line():
    r = MonitorResult(run_id="r", batch="/b", model_version=1, drift=True, reasons=["x", "y"], report_html="/r.html",
                      summary={}, predictions="/p", rows=3, event_id="e", event_target="server http://h")
    assert r.line().startswith("drift: detected — x; y — report /r.html") and "\n" not in r.line()


# ------------------------------------------------------------------ end to end

def small_config(tmp: Path):
    cfg = load_config(ROOT / "examples" / "claims.yaml")
    data = cfg.data.model_copy(update={"source": str(tmp / "data" / "claims.jsonl"),
                                       "sample": cfg.data.sample.model_copy(update={"rows": 300, "seed": 3})})
    train = cfg.train.model_copy(update={"max_steps": 20, "max_length": 48, "batch_size": 12, "epochs": 1,
                                         "learning_rate": 0.003, "nproc_per_node": 1, "checkpoint_every": 1000})
    promotion = cfg.promotion.model_copy(update={"floors": {"macro_f1": 0.0}, "min_gain_over_baseline": None})
    monitor = cfg.monitor.model_copy(update={"reference_rows": 200, "current_sample_rows": 200,
                                             "embedding_rows": 100})
    governance = cfg.governance.model_copy(update={"change_envelope": None})  # shrunk: not the declared change
    return cfg.model_copy(update={"name": f"t-mon-{uuid.uuid4().hex[:6]}", "work_dir": str(tmp / "work"),
                                  "data": data, "train": train, "promotion": promotion, "monitor": monitor,
                                  "governance": governance})


def _leaked(value: str, body: str) -> bool:
    """``value`` stands in ``body`` as itself: a value of digits only counts where no digit or decimal point
    touches it (a report's numbers, "0.7980001", hold every digit string; a leaked "798000" stands alone)."""
    import re

    if not value.isdigit():
        return value in body
    return re.search(rf"(?<![\d.]){value}(?!\d)", body) is not None


@pytest.fixture(scope="module")
def champion(tmp_path_factory, prefect_harness):
    import torch

    from flows.train import train_pipeline

    torch.set_num_threads(torch_threads())
    cfg = small_config(tmp_path_factory.mktemp("monitor"))
    assert train_pipeline(cfg, trigger="test").promoted
    return cfg


def _events(model_name: str) -> list:
    from prefect.client.orchestration import get_client
    from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter

    flt = EventFilter(event=EventNameFilter(name=["tunegate.drift.detected"]),
                      resource=EventResourceFilter(id=[f"tunegate.model.{model_name}"]))
    with get_client(sync_client=True) as client:
        return client.read_events(filter=flt, limit=10).events


@pytest.mark.integration
@pytest.mark.slow
def test_monitor_flags_drift_emits_event_and_stays_quiet_otherwise(champion, tmp_path, capsys):
    from flows.cli import cli_monitor
    from flows.monitor import monitor
    from tasks.ingest.sample_data import write_sample

    cfg = champion
    drifted = write_sample(tmp_path / "drifted.jsonl", rows=200, seed=41, drift="length")
    result = monitor(cfg, str(drifted))
    assert result.drift and result.event_id and result.event_target.startswith("server ")
    assert result.rows == 200 and result.summary["drifted_columns_share"]["drifted"]
    [event] = [e for e in _events(cfg.model_name) if str(e.id) == result.event_id]
    assert event.payload["batch"] == str(drifted.resolve()) and event.payload["report"] == result.report_html
    assert event.resource["prediction.resource.id"] == f"tunegate.model.{cfg.model_name}"

    # the evidence holds no raw personal data (the HTML and verdicts are computed from descriptors only)
    gold = [json.loads(x) for x in Path(f"{drifted}.pii.jsonl").read_text().splitlines()]
    texts = {json.loads(x)["id"]: json.loads(x)["text"] for x in drifted.read_text().splitlines()}
    raw = {texts[g["id"]][s["start"]:s["end"]] for g in gold for s in g["pii"]}
    raw = {v for v in raw if len(v) >= 6}
    run_dir = Path(result.report_html).parent
    for f in [run_dir / "drift_report.html", run_dir / "drift_report.json"]:
        body = f.read_text()
        assert not [v for v in raw if _leaked(v, body)], f.name
    stored = pd.read_parquet(result.predictions)
    scrubbed = pd.read_parquet(run_dir / "scrubbed.parquet")
    assert stored["text"].tolist() == scrubbed["text"].tolist() and len(stored) == 200
    assert set(stored.columns) >= {"text", "prediction", "confidence", "model_version", "logged_at"}
    assert not (run_dir / "dataset.parquet").exists()  # the batch's unscrubbed copy went after the scrub
    from tests.pipeline.test_pipeline import raw_at_rest

    assert raw_at_rest([drifted], raw) and raw_at_rest([cfg.work_path()], raw) == []  # nothing of it at rest

    same = write_sample(tmp_path / "same.jsonl", rows=200, seed=42)
    cfg_file = tmp_path / "cfg.yaml"
    sampled = cfg.model_copy(update={"monitor": cfg.monitor.model_copy(update={"score_rows": 120})})
    cfg_file.write_text(json.dumps(sampled.model_dump(mode="json")))
    capsys.readouterr()
    assert cli_monitor(argparse.Namespace(config=str(cfg_file), batch=str(same))) == 0
    lines = [x for x in capsys.readouterr().out.splitlines() if x.startswith("drift:")]
    assert len(lines) == 1 and lines[0].startswith("drift: none"), lines
    assert "drift_report.html" in lines[0] and "scored a sample of 120 of 200 documents" in lines[0]
    assert len(_events(cfg.model_name)) == 1  # no event for the quiet batch
    from tasks.retention import raw_copies, run_dirs

    assert all(raw_copies(d) == [] for d in run_dirs(cfg.work_path()))  # the sample (scored.parquet) went too
    # each run is in the audit log against the version it watched: the version's monitoring history
    from tasks.audit import read_audit

    runs = [e for e in read_audit(cfg) if e["action"] == "monitor.checked"]
    assert [(e["version"], e["drift"], e["rows"]) for e in runs] == [(result.model_version, True, 200),
                                                                     (result.model_version, False, 120)]
    assert runs[0]["run_id"] == result.run_id and runs[0]["event_id"] == result.event_id and runs[1]["event_id"] is None
    assert runs[0]["checks"]["drifted_columns_share"]["drifted"] and len(runs[0]["batch_sha256"]) == 64


@pytest.mark.integration
@pytest.mark.slow
def test_monitor_reuses_what_predict_logged_for_the_same_batch(champion, tmp_path):
    """`tunegate predict` logs every document with its embedding; monitoring the same batch with the same
    version reads that log instead of scrubbing and scoring again, and uses the batch's labels."""
    import pyarrow.parquet as pq

    from flows.monitor import monitor
    from flows.predict import predict
    from tasks.ingest.sample_data import write_sample
    from tasks.predict.store import logged_meta, read_embeddings

    cfg = champion
    batch = write_sample(tmp_path / "batch.jsonl", rows=260, seed=44)
    ref = predict(cfg, str(batch), str(tmp_path / "out.csv"))
    table = pq.read_table(ref.logged)
    assert ref.rows == 260 and table.num_rows == 260 and read_embeddings(table).shape == (260, 384)
    assert logged_meta(Path(ref.logged))["complete"] and set(pd.read_csv(tmp_path / "out.csv").columns) == \
        {"id", "prediction", "confidence", "model_version", "needs_review"}  # the shareable output holds no text
    sampled = cfg.model_copy(update={"monitor": cfg.monitor.model_copy(update={"score_rows": 120})})
    result = monitor(sampled, str(batch))
    run_dir = Path(result.report_html).parent
    assert result.predictions == ref.logged and result.rows == 260  # the whole logged batch, not a sample
    assert not (run_dir / "scrubbed.parquet").exists() and not (run_dir / "predictions.parquet").exists()
    assert not (run_dir / "dataset.parquet").exists() and "accuracy" in result.summary  # labels still used
    assert "review_share" in result.summary  # the share sent to review (the example sets target_accuracy)
    other = monitor(sampled, str(write_sample(tmp_path / "other.jsonl", rows=260, seed=45)))
    assert other.predictions != ref.logged and other.rows == 120  # a different batch is sampled and scored
    assert not logged_meta(Path(other.predictions))["complete"]


@pytest.mark.integration
@pytest.mark.slow
def test_auto_rollback_when_labelled_rows_show_the_champion_worse(champion, tmp_path):
    """v2 replaces v1; a labelled batch shows v2 far below v1's recorded quality: the monitor goes back to v1,
    audits it, announces it and notes it in v2's card. (Runs last: it moves this module's champion.)"""
    from prefect.client.orchestration import get_client
    from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter

    from flows.monitor import monitor
    from flows.train import train_pipeline
    from tasks.audit import read_audit, verify_audit
    from tasks.ingest.sample_data import write_sample
    from tasks.registry.promote import PromotionDecision, apply
    from tasks.registry.versions import champion_version, client_for

    cfg = champion
    first = champion_version(cfg.registry_scope)
    second = train_pipeline(cfg).version  # the same data: cached, not better, so not promoted ...
    # ... until a person approves it
    apply(cfg.registry_scope, second, PromotionDecision(promote=True, reasons=["test"]),
          first,
          approved_by="test.reviewer")
    batch = write_sample(tmp_path / "labelled.jsonl", rows=200, seed=43)
    rows = [json.loads(x) for x in batch.read_text().splitlines()]
    labels = sorted({r["label"] for r in rows})
    for r in rows:  # every label moved to the next class: a model that learnt anything now scores below chance
        r["label"] = labels[(labels.index(r["label"]) + 1) % len(labels)]
    batch.write_text("".join(json.dumps(r) + "\n" for r in rows))
    auto = cfg.model_copy(update={"monitor": cfg.monitor.model_copy(update={"auto_rollback": True})})
    result = monitor(auto, str(batch))
    assert result.rolled_back_to == first and champion_version(cfg.registry_scope) == first
    assert "ROLLED BACK" in result.line()
    entry = read_audit(cfg)[-1]
    assert entry["action"] == "monitor.rolled_back" and entry["trigger"] == "monitor"
    assert (entry["previous_champion"], entry["champion"]) == (second, first)
    assert any("below the previous champion's" in r for r in entry["reasons"]), entry["reasons"]
    assert verify_audit(cfg.work_path("audit.jsonl")).ok
    flt = EventFilter(event=EventNameFilter(name=["tunegate.model.rolled_back"]),
                      resource=EventResourceFilter(id=[f"tunegate.model.{cfg.model_name}"]))
    with get_client(sync_client=True) as client:
        [event] = client.read_events(filter=flt, limit=10).events
    assert event.payload["from_version"] == second and event.payload["to_version"] == first
    client = client_for(cfg.registry_scope)
    mv = client.get_model_version(cfg.model_name, str(second))
    card = Path(client.download_artifacts(mv.run_id, "model_card.md", str(tmp_path))).read_text()
    assert "## Rolled back" in card and f"rolled back to v{first} by the monitor" in card


@pytest.mark.parametrize("reference, shift, rows", [
    (2000, 0.07, 1952),  # the default: ((1.36 + 0.84) / 0.07)^2 = 988 effective, against 2,000 reference rows
    (10_000, 0.05, 2401),
    (2000, 0.03, None),  # a shift that small needs more than the reference can give: score everything
    (500, 0.07, None),
])
def test_score_rows_auto_is_what_the_drift_tests_need(reference, shift, rows):
    from tasks.monitor.sampling import power_rows

    assert power_rows(reference, shift) == rows


def test_a_batch_bigger_than_the_auto_sample_is_sampled_and_a_smaller_one_is_not(tmp_path):
    from tasks.ingest.read import load_documents
    from tasks.ingest.sample_data import write_sample
    from tasks.monitor.task import sample_batch

    big = load_documents(write_sample(tmp_path / "b.jsonl", rows=2100, seed=3), tmp_path / "d.parquet")
    picked = sample_batch.fn(big, "auto", tmp_path / "s", reference_rows=2000)
    assert picked.rows == 1952 and picked.uri != big.uri
    assert sample_batch.fn(big, "auto", tmp_path / "t", reference_rows=500) == big  # reference too small: all
    assert sample_batch.fn(big, None, tmp_path / "u") == big
