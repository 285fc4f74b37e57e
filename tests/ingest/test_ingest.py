"""Ingest: every input format into one canonical Parquet dataset; every bad input a named error."""

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tasks.config import ColumnMap, DataConfig
from tasks.datasets import parquet_sha256
from tasks.errors import InputError, QualityGateFailed
from tasks.ingest.read import load_documents
from tasks.ingest.sample_data import generate, write_sample
from tasks.ingest.task import ingest_documents

SECRET = "Zebedee Quuxworth"  # appears in bad rows; must never appear in an error message
KW = {"timestamp_col": "created_at", "keep_columns": ["channel", "product"]}


def _load(src, run_dir, **kw):
    return load_documents(src, Path(run_dir) / "dataset.parquet", **{**KW, **kw})


def _leftovers(run_dir: Path) -> list[str]:
    return sorted(p.name for p in Path(run_dir).glob("*")) if Path(run_dir).exists() else []


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    d = tmp_path_factory.mktemp("samples")
    return {k: write_sample(d / f"claims.{k}", rows=120, seed=11) for k in ("jsonl", "csv", "parquet")}


@pytest.mark.parametrize("kind", ["jsonl", "csv", "parquet"])
def test_each_format_gives_the_same_canonical_rows_and_digest(samples, tmp_path, kind):
    ref = _load(samples[kind], tmp_path, chunk_rows=17)
    records, _ = generate(120, seed=11)
    df = pd.read_parquet(ref.uri)
    assert list(df.columns) == ["id", "text", "label", "timestamp", "channel", "product"]
    assert df["text"].tolist() == [r["text"] for r in records]
    assert str(df["timestamp"].dtype) == "datetime64[us, UTC]"
    assert ref.rows == 120 and ref.columns["timestamp"] == "timestamp[us, tz=UTC]"
    assert sum(ref.label_counts.values()) == 120
    assert ref.sha256 == _load(samples["jsonl"], tmp_path / "b", chunk_rows=1000).sha256
    assert ref.sha256 == parquet_sha256(ref.uri)


def test_row_groups_start_at_multiples_of_the_scrubs_read_window_whatever_the_chunks(tmp_path, monkeypatch):
    """A shard scrubbed on a cluster reads only the row groups that hold its rows (tasks/pii/shards.py): the
    canonical file's groups are whole windows, however ingest chunked its reading."""
    import tasks.ingest.read as read

    monkeypatch.setattr(read, "ROW_GROUP_ROWS", 16)
    src = write_sample(tmp_path / "claims.jsonl", rows=100, seed=3)
    ref = _load(src, tmp_path, chunk_rows=7)
    meta = pq.ParquetFile(ref.uri).metadata
    assert [meta.row_group(g).num_rows for g in range(meta.num_row_groups)] == [16] * 6 + [4]
    assert ref.sha256 == _load(src, tmp_path / "b", chunk_rows=1000).sha256  # the rows, not the layout
    assert pd.read_parquet(ref.uri)["text"].tolist() == [r["text"] for r in generate(100, seed=3)[0]]


def test_digest_depends_on_row_order_not_layout(samples, tmp_path):
    df = pd.read_json(samples["jsonl"], lines=True, dtype=False, convert_dates=False)
    df.iloc[::-1].to_json(tmp_path / "rev.jsonl", orient="records", lines=True)
    assert _load(tmp_path / "rev.jsonl", tmp_path / "r").sha256 != _load(samples["jsonl"], tmp_path / "f").sha256


def test_column_mapping_keep_columns_and_no_label(tmp_path):
    src = tmp_path / "mine.csv"
    pd.DataFrame({"doc": [7, 8, 9], "body": ["first note", "second note", "third"], "kind": ["fire", "theft", ""],
                  "branch": ["Leeds", "York", "Hull"], "ignored": ["x", "y", "z"]}).to_csv(src, index=False)
    ref = load_documents(src, tmp_path / "out.parquet", id_col="doc", text_col="body", label_col="kind",
                         keep_columns=["branch"])
    df = pd.read_parquet(ref.uri)
    assert list(df.columns) == ["id", "text", "label", "timestamp", "branch"]
    assert df["id"].tolist() == ["7", "8", "9"] and df["label"].tolist() == ["fire", "theft", None]
    assert df["timestamp"].isna().all()
    ref = load_documents(src, tmp_path / "out2.parquet", id_col="doc", text_col="body", label_col=None)
    assert pd.read_parquet(ref.uri)["label"].isna().all() and ref.label_counts == {}


def test_csv_with_embedded_newlines_and_quotes_reads_exactly(tmp_path):
    texts = ['He said "stop", then\nthe car hit the wall.', "line one\r\nline two, with comma", "plain"]
    src = tmp_path / "q.csv"
    pd.DataFrame({"id": ["a", "b", "c"], "text": texts, "label": ["motor"] * 3}).to_csv(src, index=False)
    ref = load_documents(src, tmp_path / "o.parquet")
    assert pd.read_parquet(ref.uri)["text"].tolist() == texts


EXPORT_TEXTS = ['He said "stop"; then\nthe car hit the wall.', "Crème brûlée, naïve café", "plain"]


@pytest.mark.parametrize("bom, newline, delimiter", [
    (True, "\r\n", ","),  # Excel's "CSV UTF-8": a byte-order mark and CRLF
    (True, "\n", ","), (False, "\r\n", ","),
    (True, "\r\n", ";"),  # a European-locale export: semicolons (data.csv_delimiter: ";")
    (False, "\n", "\t"),
])
def test_spreadsheet_csv_exports_read_exactly(tmp_path, bom, newline, delimiter):
    src = tmp_path / "export.csv"
    body = pd.DataFrame({"id": ["a", "b", "c"], "text": EXPORT_TEXTS, "label": ["motor"] * 3}).to_csv(
        index=False, sep=delimiter, lineterminator=newline)
    src.write_bytes(("\ufeff" if bom else "").encode() + body.encode("utf-8"))
    ref = load_documents(src, tmp_path / "o.parquet", csv_delimiter=delimiter)
    df = pd.read_parquet(ref.uri)
    assert df["id"].tolist() == ["a", "b", "c"]  # not '\ufeffid'
    assert df["text"].tolist() == EXPORT_TEXTS  # a newline inside quotes is kept as written
    assert ref.label_counts == {"motor": 3}


def test_a_semicolon_file_read_as_commas_names_the_setting(tmp_path):
    src = tmp_path / "semi.csv"
    src.write_bytes("\ufeffid;text;label\r\n1;some note;motor\r\n".encode())
    with pytest.raises(InputError, match=r"set data.csv_delimiter: ';'"):
        load_documents(src, tmp_path / "o.parquet")
    assert not (tmp_path / "o.parquet").exists()


def test_text_folder_labels_from_subfolders(tmp_path):
    root = tmp_path / "docs"
    for label, name, text in [("fire", "a.txt", "chip pan fire"), ("theft", "x/b.txt", "bike stolen"),
                              ("theft", "c.txt", "shed broken into")]:
        (root / label / name).parent.mkdir(parents=True, exist_ok=True)
        (root / label / name).write_text(text, encoding="utf-8")
    (root / "notes.md").write_text("not a document")
    ref = load_documents(root, tmp_path / "o.parquet", fmt="text_folder")
    df = pd.read_parquet(ref.uri)
    assert df["id"].tolist() == ["fire/a.txt", "theft/c.txt", "theft/x/b.txt"]
    assert df["label"].tolist() == ["fire", "theft", "theft"]
    assert ref.label_counts == {"fire": 1, "theft": 2}


def test_task_reads_the_config_into_the_run_folder(samples, tmp_path):
    data = DataConfig(source=str(samples["parquet"]), columns=ColumnMap(timestamp="created_at"),
                      keep_columns=["product"], sample=None)
    ref = ingest_documents.fn(data, tmp_path / "run")
    assert ref.uri == str(tmp_path / "run" / "dataset.parquet") and ref.rows == 120
    assert pq.read_schema(ref.uri).names == ["id", "text", "label", "timestamp", "product"]


def _jsonl(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def _good(i: int, **over) -> bytes:
    rec = {"id": f"d{i}", "text": f"{SECRET} note {i}", "label": "fire", "created_at": "2024-05-01T09:00:00Z",
           "channel": "web", "product": "HomeShield Plus", **over}
    return json.dumps(rec).encode()


def _bad_inputs(tmp: Path):
    """(name, builder) -> (source, kwargs, text the message must contain)."""
    cases = {}
    cases["empty_jsonl"] = lambda: ((tmp / "e.jsonl").write_bytes(b"") and None) or (tmp / "e.jsonl", {}, ["empty"])
    cases["empty_csv"] = lambda: ((tmp / "e.csv").write_text("") and None) or (tmp / "e.csv", {}, ["empty"])
    cases["header_only_csv"] = lambda: ((tmp / "h.csv").write_text(
        "id,text,label,created_at,channel,product\n") and None) or (tmp / "h.csv", {}, ["no documents"])
    cases["missing_text_column_csv"] = lambda: (
        pd.DataFrame({"id": [1], "body": [SECRET], "label": ["fire"], "created_at": ["2024-01-01"],
                      "channel": ["web"], "product": ["x"]}).to_csv(tmp / "m.csv", index=False) or
        (tmp / "m.csv", {}, ["'text'", "'body'", "data.columns"]))
    cases["missing_text_column_parquet"] = lambda: (
        pq.write_table(pa.table({"id": ["1"], "body": [SECRET], "label": ["fire"], "created_at": ["2024-01-01"],
                                 "channel": ["web"], "product": ["x"]}), tmp / "m.parquet") or
        (tmp / "m.parquet", {}, ["'text'"]))
    cases["missing_text_column_jsonl"] = lambda: (
        _jsonl(tmp / "m.jsonl", [json.dumps({"id": 1, "body": SECRET}).encode()]), {}, ["line 1", "'text'"])
    cases["wrong_type_jsonl"] = lambda: (
        _jsonl(tmp / "w.jsonl", [_good(1), _good(2), _good(3, text={"note": SECRET})]), {}, ["line 3", "'text'"])
    cases["wrong_type_parquet"] = lambda: (
        pq.write_table(pa.table({"id": ["1"], "text": [42], "label": ["fire"], "created_at": ["2024-01-01"],
                                 "channel": ["web"], "product": ["x"]}), tmp / "w.parquet") or
        (tmp / "w.parquet", {}, ["'text'", "int64"]))
    cases["bad_timestamp"] = lambda: (
        _jsonl(tmp / "t.jsonl", [_good(1), _good(2, created_at=f"when {SECRET} rang")]), {},
        ["line 2", "'created_at'", "ISO-8601"])
    cases["invalid_utf8_jsonl"] = lambda: (
        _jsonl(tmp / "u.jsonl", [_good(1), _good(2).replace(b"note", b"n\xff\xfete")]), {}, ["line 2", "UTF-8"])
    cases["invalid_utf8_csv"] = lambda: (
        (tmp / "u.csv").write_bytes(b"id,text,label,created_at,channel,product\n1,fine,fire,2024-01-01,web,x\n"
                                    b"2,bad \xff\xfe " + SECRET.encode() + b",fire,2024-01-01,web,x\n") and None
        or (tmp / "u.csv", {}, ["line 3", "UTF-8"]))
    cases["truncated_jsonl"] = lambda: (
        _jsonl(tmp / "tr.jsonl", [_good(1), _good(2), _good(3)[:25]]), {}, ["line 3", "not valid JSON"])
    cases["broken_csv_quoting"] = lambda: (
        (tmp / "b.csv").write_text("id,text,label,created_at,channel,product\n1,ok,fire,2024-01-01,web,x\n"
                                   f'2,"{SECRET}, unterminated,fire,2024-01-01,web,x\n3,{SECRET},fire\n') and None
        or (tmp / "b.csv", {}, ["line 4", "quot"]))
    cases["folder_without_txt"] = lambda: (
        (tmp / "f").mkdir() or (tmp / "f" / "a.md").write_text(SECRET) and None or
        (tmp / "f", {"fmt": "text_folder"}, ["no .txt files"]))
    cases["invalid_utf8_txt"] = lambda: (
        (tmp / "t" / "fire").mkdir(parents=True) or (tmp / "t" / "fire" / "a.txt").write_bytes(b"ok\nbad \xff\n")
        and None or (tmp / "t", {"fmt": "text_folder"}, ["a.txt", "line 2", "UTF-8"]))
    cases["missing_file"] = lambda: (tmp / "nope.jsonl", {}, ["not found", "data.source"])
    return cases


BAD = ["empty_jsonl", "empty_csv", "header_only_csv", "missing_text_column_csv", "missing_text_column_parquet",
       "missing_text_column_jsonl", "wrong_type_jsonl", "wrong_type_parquet", "bad_timestamp", "invalid_utf8_jsonl",
       "invalid_utf8_csv", "invalid_utf8_txt", "truncated_jsonl", "broken_csv_quoting", "folder_without_txt",
       "missing_file"]


@pytest.mark.parametrize("case", BAD)
def test_bad_input_is_a_named_error_naming_the_place_and_leaving_nothing(tmp_path, case):
    src, kw, expected = _bad_inputs(tmp_path)[case]()
    run_dir = tmp_path / "run"
    with pytest.raises(InputError) as err:
        _load(src, run_dir, **kw)
    msg = str(err.value)
    assert str(src) in msg
    for part in expected:
        assert part in msg, (part, msg)
    assert SECRET not in msg and "Quux" not in msg
    assert _leftovers(run_dir) == []


def _config(tmp_path: Path, **quality):
    from tasks.config import PipelineConfig, SampleConfig

    return PipelineConfig.model_validate({
        "work_dir": str(tmp_path / "work"),
        "data": {"source": str(tmp_path / "data" / "claims.jsonl"), "sample": SampleConfig(rows=300, seed=3),
                 "columns": {"timestamp": "created_at"}, "keep_columns": ["channel", "product"]},
        "quality": {"labels": ["motor", "escape_of_water", "fire", "theft", "travel", "liability", "storm",
                               "personal_accident"], "min_per_class": 5, **quality},
        "pii": {"enabled": False}})


def test_flow_generates_the_sample_then_ingests_and_gates(prefect_harness, tmp_path):
    from flows.ingest import ingest

    result = ingest(_config(tmp_path), run_id="r1")
    run_dir = tmp_path / "work" / "runs" / "r1"
    assert (tmp_path / "data" / "claims.jsonl").is_file() and (tmp_path / "data" / "claims.jsonl.pii.jsonl").is_file()
    assert result.dataset.rows == 300 and result.quality.passed and result.scrubbed is None
    assert Path(result.dataset.uri) == run_dir / "dataset.parquet"
    assert (run_dir / "data_docs" / "index.html").is_file() and (run_dir / "quality.json").is_file()


def test_flow_stops_at_the_gate(prefect_harness, tmp_path):
    from flows.ingest import ingest

    with pytest.raises(QualityGateFailed, match="expect_table_row_count_to_be_between"):
        ingest(_config(tmp_path, min_rows=5000), run_id="r2")
    assert not (tmp_path / "work" / "runs" / "r2" / "dataset.parquet").exists()


def test_validate_command_exit_codes(prefect_harness, tmp_path, capsys):
    import yaml

    from flows.cli import main

    cfg = _config(tmp_path).model_dump(mode="json")
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(cfg))
    assert main(["validate", str(good), "--no-scrub"]) == 0
    out = capsys.readouterr().out
    assert "300 documents" in out and "quality gate passed" in out
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**cfg, "data": {**cfg["data"], "source": str(tmp_path / "nope.csv"),
                                                   "sample": None}}))
    assert main(["validate", str(bad), "--no-scrub"]) == InputError.exit_code
    err = capsys.readouterr().err
    assert err.startswith("InputError:") and "Traceback" not in err
