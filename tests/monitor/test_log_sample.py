"""Monitoring a big prediction log reads only the sample the drift tests need (tasks/monitor/sampling.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tasks.monitor.sampling import sample_log

COLUMNS = ["id", "text", "prediction", "confidence", "embedding"]


def write_log(path: Path, rows: int, group: int, dim: int = 8) -> Path:
    """A prediction-store file (tasks/predict/store.py's columns) in row groups of ``group`` rows."""
    writer = None
    for start in range(0, rows, group):
        n = min(group, rows - start)
        emb = (np.arange(start, start + n) % 2048).astype(np.float16).repeat(dim)  # float16: whole numbers < 2048
        table = pa.table({"id": [f"d{i}" for i in range(start, start + n)],
                          "text": [f"<PERSON> called about claim {i}" for i in range(start, start + n)],
                          "prediction": ["motor" if i % 3 else "fire" for i in range(start, start + n)],
                          "confidence": np.linspace(0.5, 1.0, n), "model_version": np.ones(n, dtype=np.int64),
                          "embedding": pa.FixedSizeListArray.from_arrays(pa.array(emb), dim)})
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    writer.close()
    return path


@pytest.fixture(scope="module")
def log(tmp_path_factory) -> Path:
    return write_log(tmp_path_factory.mktemp("log") / "predictions.parquet", rows=20_000, group=1_000)


def test_a_sample_of_a_bigger_log_materialises_only_the_sample_in_file_order(log):
    table, read = sample_log(log, 300, seed=3, columns=COLUMNS)
    assert (read.rows, read.row_groups, read.kept, table.num_rows) == (20_000, 20, 300, 300)
    rows = [int(i[1:]) for i in table["id"].to_pylist()]
    assert rows == sorted(set(rows)) and rows[-1] - rows[0] > 10_000  # distinct, in order, spread over the log
    # each row's columns stay together (the embedding was written as the row number, modulo 2048)
    assert [int(e[0]) for e in table["embedding"].to_pylist()] == [r % 2048 for r in rows]
    again, _ = sample_log(log, 300, seed=3, columns=COLUMNS)
    other, _ = sample_log(log, 300, seed=4, columns=COLUMNS)
    assert again.equals(table) and not other.equals(table)


def test_only_the_row_groups_that_hold_a_drawn_row_are_read(log):
    _, read = sample_log(log, 5, seed=3, columns=COLUMNS)
    assert read.kept == 5 and read.row_groups_read <= 5 < read.row_groups


def test_a_log_no_bigger_than_the_sample_is_read_whole(log, tmp_path):
    small = write_log(tmp_path / "small.parquet", rows=120, group=50)
    table, read = sample_log(small, 300, seed=3, columns=COLUMNS)
    assert read.kept == table.num_rows == 120 and table["id"].to_pylist() == [f"d{i}" for i in range(120)]


def test_the_monitor_profiles_the_sample_with_its_labels_not_the_log(log, tmp_path):
    from tasks.monitor.task import profile_batch

    labels = tmp_path / "labels.parquet"
    pq.write_table(pa.table({"id": [f"d{i}" for i in range(20_000)],
                             "label": ["fire" if i % 2 else "motor" for i in range(20_000)]}), labels)
    frame, emb = profile_batch.fn(log, labels, 400, 100, [], [])
    assert len(frame) == 400 and emb.shape == (100, 8)
    table, _ = sample_log(log, 400, seed=3, columns=COLUMNS)
    expected = ["fire" if int(i[1:]) % 2 else "motor" for i in table["id"].to_pylist()]
    assert frame["label"].tolist() == expected and frame["prediction"].tolist() == table["prediction"].to_pylist()
