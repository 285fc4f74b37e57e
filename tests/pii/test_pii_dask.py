"""Scrubbing as shards on a Dask cluster (tasks/pii/shards.py, ``pii.runner: dask``): the single machine's files
and counts, byte for byte, from a real 2-process cluster; the key only from each worker's own environment."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pandas as pd
import pytest

from tasks.config import PipelineConfig, load_config
from tasks.errors import PiiGateFailed, PseudonymKeyMismatch, PseudonymKeyMissing
from tasks.ingest.sample_data import write_sample

ROOT = Path(__file__).resolve().parents[2]
KEY_ENV = "TUNEGATE_PII_KEY"
ROWS, WINDOW = 240, 80  # 3 windows of 80 rows: 3 shards over 2 workers


@pytest.fixture(scope="module")
def cluster():
    """2 worker processes, started without the key; each test gives the workers' environment what it needs."""
    from distributed import Client, LocalCluster

    key = os.environ.pop(KEY_ENV)
    try:
        c = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    finally:
        os.environ[KEY_ENV] = key
    client = Client(c)
    yield c, client
    client.close()
    c.close()


def _set_worker_key(client, value: str | None) -> None:
    def put(value):
        if value is None:
            os.environ.pop(KEY_ENV, None)
        else:
            os.environ[KEY_ENV] = value

    client.run(put, value)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """The sample corpus as a canonical dataset (text, label, two kept columns), and its personal data (values of
    8 characters or more: shorter ones may occur by chance in anything)."""
    from tasks.pii.stream import describe_parquet

    tmp = tmp_path_factory.mktemp("dask-data")
    src = write_sample(tmp / "claims.jsonl", rows=ROWS, seed=11)
    df = pd.read_json(src, lines=True, dtype=False).rename(columns={"created_at": "timestamp"})
    df["timestamp"] = pd.to_datetime(df["timestamp"], utc=True)
    df[["id", "text", "label", "timestamp", "product", "channel"]].to_parquet(tmp / "d.parquet", index=False,
                                                                             row_group_size=70)
    text = dict(zip(df["id"].astype(str), df["text"]))
    values = {text[g["id"]][s["start"]:s["end"]] for g in map(json.loads, Path(f"{src}.pii.jsonl").open())
              for s in g["pii"]}
    return describe_parquet(tmp / "d.parquet", False), {v for v in values if len(v) >= 8}


def _pii(cluster, **update):
    pii = load_config(ROOT / "examples" / "claims.yaml").pii
    return pii.model_copy(update={"workers": 1, "estimate_docs": 10, "runner": "dask",
                                  "dask_address": cluster[0].scheduler_address, **update})


def _scrub_in_a_flow(dataset, pii, run_dir: Path):
    from prefect import flow

    from tasks.pii.task import scrub_pii

    @flow(name="scrub-on-dask")
    def scrub_flow(dataset, pii, run_dir):
        return scrub_pii(dataset, pii, run_dir)

    return scrub_flow(dataset, pii, run_dir, return_state=True)


def _files(run_dir: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(run_dir.iterdir()) if p.is_file()}


@pytest.mark.distributed
@pytest.mark.timeout(300)
def test_a_worker_without_the_runs_key_stops_with_the_named_error_and_writes_nothing(
        cluster, dataset, tmp_path, prefect_harness, monkeypatch):
    """The exploit: a worker with no key would scrub with a development key (``allow_dev_key`` is on), one with
    another key would write pseudonyms no erasure can find. Both stop, naming what to fix."""
    monkeypatch.setattr("tasks.pii.files.READ_ROWS", WINDOW)
    ref, _ = dataset
    pii = _pii(cluster, allow_dev_key=True)
    _set_worker_key(cluster[1], None)
    with pytest.raises(PseudonymKeyMissing, match=KEY_ENV) as missing:
        _scrub_in_a_flow(ref, pii, tmp_path / "runs" / "a").result()
    assert not isinstance(missing.value, PseudonymKeyMismatch)
    _set_worker_key(cluster[1], "another-key-of-at-least-32-bytes-long")
    with pytest.raises(PseudonymKeyMismatch, match="not the key the run uses"):
        _scrub_in_a_flow(ref, pii, tmp_path / "runs" / "b").result()
    for run in ("a", "b"):  # no output, no shard left behind, no development key made anywhere
        assert [p.name for p in (tmp_path / "runs" / run).iterdir()] == []
    assert not list(tmp_path.rglob("pii.key")) and not list(Path.cwd().glob("secrets/pii.key"))
    # and this process on a development key sends no work to a cluster (its key cannot be on the workers)
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(PseudonymKeyMissing, match="development key never leaves"):
        _scrub_in_a_flow(ref, pii, tmp_path / "runs" / "c").result()


@pytest.mark.distributed
@pytest.mark.timeout(300)
def test_two_dask_workers_write_the_single_machine_scrub_and_never_see_the_key_or_raw_text(
        cluster, dataset, tmp_path, prefect_harness, monkeypatch):
    import cloudpickle
    import distributed
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, LogFilter, LogFilterFlowRunId

    from tasks.pii.task import scrub_pii

    monkeypatch.setattr("tasks.pii.files.READ_ROWS", WINDOW)
    ref, values = dataset
    pii = _pii(cluster)
    _set_worker_key(cluster[1], os.environ[KEY_ENV])
    sent: list[bytes] = []  # every task the Dask client sends the scheduler, as the bytes that travel
    submit = distributed.Client.submit

    def recording(self, func, *args, **kwargs):
        sent.append(cloudpickle.dumps((func, args, kwargs)))
        return submit(self, func, *args, **kwargs)

    monkeypatch.setattr(distributed.Client, "submit", recording)
    state = _scrub_in_a_flow(ref, pii, tmp_path / "runs" / "dask")
    on_dask, ev_dask = state.result()
    local, ev_local = scrub_pii.fn(ref, pii.model_copy(update={"runner": "local"}), tmp_path / "runs" / "local")

    assert len(sent) == 3  # the shards
    assert on_dask.sha256 == local.sha256 and on_dask.rows == ROWS and ev_dask == ev_local
    assert _files(tmp_path / "runs" / "dask") == _files(tmp_path / "runs" / "local")
    assert set(_files(tmp_path / "runs" / "dask")) == {"scrubbed.parquet", "scrubbed.spans.jsonl", "subjects.parquet",
                                                     "pii_evidence.json"}
    assert ev_dask.counts_by_entity and ev_dask.docs_touched > ROWS // 2

    key = os.environ[KEY_ENV].encode()
    assert len(values) > 50
    for payload in sent:
        assert key not in payload and key.hex().encode() not in payload
        assert not [v for v in values if v.encode() in payload]
    with get_client(sync_client=True) as client:  # what the Prefect server holds of the run
        run_id = state.state_details.flow_run_id
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id])))
        logs = client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])))
        flow_run = client.read_flow_run(run_id)
    shards = [r for r in runs if r.name.startswith("scrub_shard")]
    assert len(shards) == 3 and all(r.state.is_completed() for r in shards)
    stored = json.dumps([r.model_dump(mode="json") for r in runs] + [flow_run.model_dump(mode="json")]
                        + [log.message for log in logs])
    assert key.decode() not in stored and not [v for v in values if v in stored]


@pytest.mark.distributed
@pytest.mark.timeout(300)
def test_the_residual_gate_judges_the_merged_shards_as_one_scrub(cluster, dataset, tmp_path, prefect_harness,
                                                                monkeypatch):
    """Digit runs no detector claims, one in each shard: the gate counts all three over the whole dataset, so the
    cluster's run stops with the single machine's error (the same counts and documents) and evidence, and leaves
    no scrubbed file and no shard."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tasks.pii.stream import describe_parquet
    from tasks.pii.task import scrub_pii

    monkeypatch.setattr("tasks.pii.files.READ_ROWS", WINDOW)
    table = pq.read_table(dataset[0].uri)
    texts = table["text"].to_pylist()
    for row in (5, WINDOW + 5, 2 * WINDOW + 5):
        texts[row] += f" Meter reading 9876543210{row % 10} noted."
    pq.write_table(table.set_column(1, "text", pa.array(texts)), tmp_path / "d.parquet")
    ref = describe_parquet(tmp_path / "d.parquet", False)
    _set_worker_key(cluster[1], os.environ[KEY_ENV])
    pii = _pii(cluster, residual_max_rate=2 / ROWS)  # 3 in 240 documents: over the limit
    with pytest.raises(PiiGateFailed) as on_dask:
        _scrub_in_a_flow(ref, pii, tmp_path / "runs" / "dask").result()
    with pytest.raises(PiiGateFailed) as local:
        scrub_pii.fn(ref, pii.model_copy(update={"runner": "local"}), tmp_path / "runs" / "local")
    assert str(on_dask.value) == str(local.value) and "3 identifier-like digit runs" in str(local.value)
    assert _files(tmp_path / "runs" / "dask") == _files(tmp_path / "runs" / "local")
    assert list(_files(tmp_path / "runs" / "dask")) == ["pii_evidence.json"]
    assert json.loads((tmp_path / "runs" / "dask" / "pii_evidence.json").read_text())["passed"] is False


@pytest.mark.parametrize("field, value", [("runner", "dask"), ("dask_address", "tcp://attacker.example:8786")])
def test_a_deployments_run_cannot_move_scrubbing_to_another_cluster(field, value):
    """Whoever runs the workers decides what "scrubbed" means: a run may not point the shards elsewhere."""
    from tasks.governance.pinning import loosened

    base = load_config(ROOT / "examples" / "claims.yaml")
    deployed = base.model_copy(update={"pii": base.pii.model_copy(update={"runner": "dask",
                                                                           "dask_address": "tcp://10.0.0.5:8786"})})
    if field == "runner":
        deployed = base
    run = PipelineConfig.model_validate(json.loads(deployed.model_dump_json()) | {
        "pii": json.loads(deployed.pii.model_dump_json()) | {field: value}})
    assert loosened(deployed, run) == [f"pii.{field}: changed"]
