"""Cached stages' records in ``<work_dir>/prefect-results`` are JSON, and a record that asks for anything else
(pickle, cloudpickle, another JSON decoder, a class outside tunegate) is never loaded: a person who can write
to the work folder must not be able to run code in the next pipeline run."""

from __future__ import annotations

import base64
import json
import pickle
import uuid
from pathlib import Path

import pytest

from tasks.caching import CODE_DIGEST, FilesStillThere, stored_in
from tasks.refs import DatasetRef, SplitRef


class _Pwn:
    """A pickle payload: unpickling it creates the file ``path``."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


def _record(serializer: dict, result: str) -> bytes:
    """A result record laid out as Prefect 3 writes one: metadata (with the serializer) and the result."""
    meta = {"storage_key": None, "expiration": None, "serializer": serializer, "prefect_version": "3.9.1",
            "storage_block_id": None}
    return json.dumps({"metadata": meta, "result": result}).encode()


def _pickle_record(marker: Path) -> bytes:
    blob = base64.encodebytes(pickle.dumps(_Pwn(marker))).decode()
    return _record({"type": "pickle", "picklelib": "cloudpickle", "picklelib_version": None}, blob)


def _json_decoder_record(marker: Path) -> bytes:
    """A 'json' record whose object_decoder is subprocess.check_call: each decoded dict becomes a command line."""
    ser = {"type": "json", "jsonlib": "json", "object_encoder": "prefect.serializers.prefect_json_object_encoder",
           "object_decoder": "subprocess.check_call", "dumps_kwargs": {}, "loads_kwargs": {}}
    return _record(ser, json.dumps({"touch": 0, str(marker): 0}))


def _cached_flow(tmp_path: Path, calls: list):
    from prefect import flow, task

    @task(name="make_ref")
    def make_ref(value: str, run_dir: Path) -> DatasetRef:
        calls.append(value)
        out = Path(run_dir) / f"data-{uuid.uuid4().hex[:6]}.parquet"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(value)
        return DatasetRef(uri=str(out), sha256="0" * 64, rows=1, columns={"id": "string"}, label_counts={"a": 1})

    cached = make_ref.with_options(
        cache_policy=FilesStillThere(key=lambda p: f"ref-{p['value']}", paths=lambda r: [r.uri]), persist_result=True)

    @flow
    def pipeline(value: str, run: str) -> DatasetRef:
        return stored_in(cached, tmp_path / "results")(value, tmp_path / run)

    return pipeline


@pytest.mark.parametrize("craft", [_pickle_record, _json_decoder_record], ids=["cloudpickle", "json-decoder"])
def test_a_crafted_record_under_the_next_runs_cache_key_runs_nothing(prefect_harness, tmp_path, craft):
    marker = tmp_path / "pwned"
    results = tmp_path / "results"
    results.mkdir()
    (results / f"ref-a-{CODE_DIGEST}").write_bytes(craft(marker))  # the key the next run looks up first
    calls: list[str] = []
    out = _cached_flow(tmp_path, calls)("a", "r1")
    assert not marker.exists(), "a record in the work folder ran code"
    assert calls == ["a"] and Path(out.uri).is_file()  # the stage ran afresh under another key
    record = json.loads((results / f"ref-a-{CODE_DIGEST}-1").read_bytes())
    assert record["metadata"]["serializer"]["type"] == "json"  # what tunegate writes is JSON
    assert not marker.exists()


def test_results_round_trip_through_json_and_are_reused(prefect_harness, tmp_path):
    calls: list[str] = []
    pipeline = _cached_flow(tmp_path, calls)
    first = pipeline("b", "r1")
    again = pipeline("b", "r2")
    assert calls == ["b"] and isinstance(again, DatasetRef) and again == first
    raw = (tmp_path / "results" / f"ref-b-{CODE_DIGEST}").read_bytes()
    assert b"cloudpickle" not in raw and json.loads(raw)["metadata"]["serializer"]["type"] == "json"


def test_the_refs_tunegate_caches_survive_the_record_format():
    from tasks.caching import RESULT_SERIALIZER
    from tasks.pii.score import PiiEvidence
    from tasks.records import load_record
    from tasks.refs import AdapterRef

    ds = DatasetRef(uri="/w/s.parquet", sha256="a" * 64, rows=3, columns={"id": "string"}, label_counts={"x": 3},
                    scrubbed=True)
    ev = PiiEvidence(docs=3, docs_touched=1, counts_by_entity={"PERSON": 1}, counts_by_operator={"pseudonym": 1},
                     residual_count=0, residual_rate=0.0, residual_by_type={}, estimated_recall={"_overall": {
                         "recall": 0.95}}, residual_at=[{"id": "d1", "kind": "DIGIT_RUN", "start": 1, "end": 4}],
                     passed=True)
    split = SplitRef(train=ds, val=None, test=ds, dataset_sha256="b" * 64, seed=1, test_ids_sha256="c" * 64)
    model = AdapterRef(path="/w/m", base_model="/b", task="classification", labels=["x"], manifest_sha256="d" * 64,
                       metrics={"loss": 0.5})
    for value in [(ds, ev), split, model]:
        blob = _record(RESULT_SERIALIZER.model_dump(mode="json"), RESULT_SERIALIZER.dumps(value).decode())
        back = load_record(blob, RESULT_SERIALIZER.model_dump(mode="json"))
        assert back == (list(value) if isinstance(value, tuple) else value)


def test_a_record_naming_a_class_outside_tunegate_is_refused():
    from tasks.caching import RESULT_SERIALIZER
    from tasks.records import UnsafeRecord, load_record

    safe = RESULT_SERIALIZER.model_dump(mode="json")
    for payload in ({"__class__": "subprocess.Popen", "data": ["true"]},
                    {"__class__": "tasks.caching.os", "data": {}},
                    {"__exc_type__": "SystemExit", "message": "1"}):
        with pytest.raises(UnsafeRecord):
            load_record(_record(safe, json.dumps(payload)), safe)
    twice = b'{"metadata": {"serializer": {"type": "json"}}, "metadata": {}, "result": "1"}'
    with pytest.raises(UnsafeRecord):
        load_record(twice, safe)
