"""The Great Expectations gate: passes clean data, names each failure with counts, never carries raw values."""

import json
from pathlib import Path

import pandas as pd
import pytest

from tasks.config import QualityConfig
from tasks.errors import QualityGateFailed
from tasks.ingest.quality import label_count_frame, validate_frame
from tasks.ingest.read import load_documents
from tasks.ingest.sample_data import LABELS, generate
from tasks.ingest.task import quality_gate

MARK = "Quentin Zarathustra-Smythe"  # planted in bad rows: must appear in no result, message or Data Docs
QUALITY = QualityConfig(min_rows=200, labels=list(LABELS), min_per_class=10, max_duplicate_text_share=0.05)


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    records, _ = generate(400, seed=21)
    df = pd.DataFrame(records).rename(columns={"created_at": "timestamp"})
    df["timestamp"] = pd.to_datetime(df["timestamp"], utc=True)
    return df[["id", "text", "label", "timestamp"]]


def _run(df, **over):
    return validate_frame(df, **{**QUALITY.model_dump(), **over})


def test_clean_sample_passes(frame):
    report = _run(frame)
    assert report.passed, report.failure_message()
    assert report.rows == 400 and len(report.checks) >= 12


def _dup_ids(df):
    df.loc[5, "id"] = df.loc[6, "id"]


def _unknown_label(df):
    df.loc[[3, 4], "label"] = MARK


def _blank(df):
    df.loc[7, "text"] = "   \n "


def _too_short(df):
    df.loc[8, "text"] = "abc"


def _null_text(df):
    df.loc[9, "text"] = None


def _duplicates(df):
    df.loc[:40, "text"] = f"{MARK} same note"


def _few_rows(df):
    return df.iloc[:150]


def _thin_class(df):
    df.loc[df["label"] == "fire", "label"] = "storm"


def _future_timestamp(df):
    df.loc[2, "timestamp"] = pd.Timestamp("2099-01-01", tz="UTC")


def _null_id(df):
    df.loc[13, "id"] = None


def _null_label(df):
    df.loc[11, "label"] = None


CASES = [  # (mutation, failing expectation, column, unexpected_count or None for aggregates)
    (_dup_ids, "expect_column_values_to_be_unique", "id_key", 2),
    (_unknown_label, "expect_column_values_to_be_in_set", "label", 2),
    (_blank, "expect_column_values_to_be_in_set", "text_blank", 1),
    (_too_short, "expect_column_values_to_be_between", "text_length", 1),
    (_null_text, "expect_column_values_to_not_be_null", "text_length", 1),
    (_null_id, "expect_column_values_to_not_be_null", "id_key", 1),
    (_duplicates, "expect_column_proportion_of_unique_values_to_be_between", "text_key", None),
    (_few_rows, "expect_table_row_count_to_be_between", None, None),
    (_thin_class, "expect_column_values_to_be_between", "count", 1),
    (_future_timestamp, "expect_column_values_to_be_between", "timestamp", 1),
    (_null_label, "expect_column_values_to_not_be_null", "label", 1),
]


@pytest.mark.parametrize("mutate, expectation, column, unexpected", CASES, ids=[c[0].__name__ for c in CASES])
def test_each_rule_fails_on_its_bad_data_with_counts(frame, mutate, expectation, column, unexpected):
    df = frame.copy()
    df = mutate(df) if mutate is _few_rows else (mutate(df), df)[1]
    report = _run(df)
    assert not report.passed
    failed = {(c.expectation, c.column): c for c in report.failures()}
    assert (expectation, column) in failed, report.failure_message()
    if unexpected is not None:
        assert failed[(expectation, column)].unexpected_count == unexpected
    assert expectation in report.failure_message()


def test_profile_holds_no_text_and_keys_are_exact():
    import pyarrow as pa

    from tasks.ingest.quality import document_profile

    t = pa.table({"id": ["a", "b", "a", None], "text": ["x y", "  ", "x y", None], "label": ["fire"] * 4})
    prof = document_profile(t)
    assert list(prof.columns) == ["id_key", "text_length", "text_blank", "text_key", "label"]
    assert prof["id_key"].tolist()[:3] == [0, 1, 0] and pd.isna(prof["id_key"][3])
    assert prof["text_blank"].tolist() == [False, True, False, False]
    assert prof["text_length"].tolist()[:3] == [3, 2, 3] and pd.isna(prof["text_key"][3])
    assert not prof.isin(["x y", "a", "b"]).drop(columns="label").any().any()


def test_unlabelled_batch_passes_when_labels_are_not_required(frame):
    report = _run(frame.assign(label=None), require_labels=False, labels=[])
    assert report.passed, report.failure_message()
    assert not any(c.column == "count" for c in report.checks)


def test_label_count_frame_includes_missing_classes():
    counts = label_count_frame(pd.Series(["fire", "fire", None, "theft"]), ["fire", "theft", "storm"])
    assert dict(zip(counts["label"], counts["count"])) == {"fire": 2, "storm": 0, "theft": 1}


def test_gate_task_writes_docs_and_raises_without_raw_values(frame, tmp_path):
    df = frame.copy()
    _dup_ids(df)
    _unknown_label(df)
    _duplicates(df)
    df.loc[12, "text"] = f"{MARK} {'x' * 200}"
    src = tmp_path / "bad.jsonl"
    df.assign(timestamp=df["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")).to_json(src, orient="records", lines=True)
    run_dir = tmp_path / "run"
    ref = load_documents(src, run_dir / "dataset.parquet", timestamp_col="timestamp")
    with pytest.raises(QualityGateFailed) as err:
        quality_gate.fn(ref, QUALITY.model_copy(update={"max_text_chars": 100}), run_dir)
    msg = str(err.value)
    for part in ["expect_column_values_to_be_unique(id_key) [ids are unique]: 2 of 400 rows",
                 "expect_column_values_to_be_in_set(label)", "expect_column_values_to_be_between(text_length)"]:
        assert part in msg, msg
    assert not Path(ref.uri).exists()  # the rejected dataset is gone
    docs = list((run_dir / "data_docs").rglob("*.html"))
    assert (run_dir / "data_docs" / "index.html").is_file() and any("validations" in str(p) for p in docs)
    written = [p for p in run_dir.rglob("*") if p.is_file() and p.suffix in (".html", ".json")]
    assert written
    for text in [msg] + [p.read_text(encoding="utf-8", errors="replace") for p in written]:
        assert MARK not in text and "Zarathustra" not in text and "xxxxxxxxxx" not in text
    saved = json.loads((run_dir / "quality.json").read_text())
    assert saved["passed"] is False and any(not c["success"] for c in saved["checks"])


def test_gate_task_passes_and_returns_report(frame, tmp_path):
    src = tmp_path / "ok.parquet"
    frame.to_parquet(src)
    ref = load_documents(src, tmp_path / "run" / "dataset.parquet", timestamp_col="timestamp")
    report = quality_gate.fn(ref, QUALITY, tmp_path / "run")
    assert report.passed and Path(report.data_docs).is_file()
    assert "| pass |" in report.summary() and "FAIL" not in report.summary()
