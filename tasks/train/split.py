"""Stratified, seeded train/validation/test split, recorded so every run tests on the same rows.

Rows are placed by a keyed hash of their id, ranked within each label: the split does not depend on row
order, and adding new rows to a dataset leaves almost every old test row in the test set. As data grows, a
class's test share grows too, and the next rows in rank order may be rows the champion trained on: a test
of the champion on its own training rows flatters it. So each version records the hashes of the ids it
learned from (``trained_ids.txt``: train and validation rows), and the next split keeps those rows out of
its test part (``exclude_from_test``); they train the candidate instead.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tasks.datasets import parquet_sha256
from tasks.errors import InputError
from tasks.refs import DatasetRef, SplitRef, atomic_dir

PARTS = ("train", "val", "test")


def _rank_key(seed: int, row_id: str) -> str:
    return hashlib.sha256(f"{seed}:{row_id}".encode()).hexdigest()


def class_counts(n: int, test_fraction: float, val_fraction: float) -> tuple[int, int, int]:
    """(train, val, test) sizes for one class of ``n`` rows; small classes keep at least one training row."""
    if n <= 1:
        return n, 0, 0
    n_test = min(max(1, round(n * test_fraction)), n - 1)
    n_val = round(n * val_fraction) if val_fraction > 0 else 0
    n_val = min(max(n_val, 1 if val_fraction > 0 and n >= 3 else 0), n - n_test - 1)
    return n - n_test - n_val, n_val, n_test


def id_hash(row_id: str) -> str:
    """A row id as recorded with a model version (not the id itself): 16 hex digits of its SHA-256."""
    return hashlib.sha256(str(row_id).encode()).hexdigest()[:16]


def assign_parts(ids: list[str], labels: list[str | None], test_fraction: float, val_fraction: float,
                 seed: int, exclude_from_test: frozenset[str] = frozenset()) -> list[str]:
    """The part ("train", "val" or "test") of each row, stratified by label (None is its own stratum); rows
    whose ``id_hash`` is in ``exclude_from_test`` are never test rows."""
    if len(set(ids)) != len(ids):
        raise InputError("split: the dataset has duplicate ids; ids must be unique (fix the id column).")
    by_label: dict[str | None, list[int]] = {}
    for i, lab in enumerate(labels):
        by_label.setdefault(lab, []).append(i)
    parts = ["train"] * len(ids)
    for rows in by_label.values():
        rows.sort(key=lambda i: _rank_key(seed, ids[i]))
        _, n_val, n_test = class_counts(len(rows), test_fraction, val_fraction)
        test = [i for i in rows if id_hash(ids[i]) not in exclude_from_test][:n_test] if exclude_from_test \
            else rows[:n_test]
        taken = set(test)
        for i in test:
            parts[i] = "test"
        for i in [i for i in rows if i not in taken][:n_val]:
            parts[i] = "val"
    return parts


def ids_sha256(ids: list[str]) -> str:
    """Digest of a set of row ids (order-free): proves two runs used the same test rows."""
    return hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()


def split_frame(df: pd.DataFrame, test_fraction: float, val_fraction: float, seed: int,
                exclude_from_test: frozenset[str] = frozenset(), stratify: bool = True) -> dict[str, pd.DataFrame]:
    """Split a canonical frame into train/val/test frames (val may be empty); stratified by label unless
    ``stratify`` is false (a causal LM's free-text label: every row would be its own stratum)."""
    if "id" not in df.columns:
        raise InputError("split: the dataset has no 'id' column; ingest it first (tunegate validate).")
    ids = df["id"].astype(str).tolist()
    labels = df["label"].where(df["label"].notna(), None).tolist() if "label" in df.columns and stratify \
        else [None] * len(df)
    parts = pd.Series(assign_parts(ids, labels, test_fraction, val_fraction, seed, exclude_from_test), index=df.index)
    return {p: df[parts == p].reset_index(drop=True) for p in PARTS}


def _write_part(df: pd.DataFrame, path: Path, scrubbed: bool, label_is_text: bool = False) -> DatasetRef:
    table = pa.Table.from_pandas(df, preserve_index=False)
    pq.write_table(table, path)
    counts = df["label"].value_counts().to_dict() if "label" in df.columns and not label_is_text else {}
    return DatasetRef(uri=str(path), sha256=parquet_sha256(path), rows=len(df),
                      columns={f.name: str(f.type) for f in table.schema},
                      label_counts={str(k): int(v) for k, v in counts.items()}, scrubbed=scrubbed,
                      label_is_text=label_is_text)


def write_split(dataset: DatasetRef, test_fraction: float, val_fraction: float, seed: int,
                run_dir: Path, exclude_from_test: frozenset[str] = frozenset()) -> SplitRef:
    """Read the dataset, split it and write ``run_dir/split/{train,val,test}.parquet`` plus split.json;
    ``exclude_from_test``: id hashes (``id_hash``) of rows the champion learned from."""
    src = Path(dataset.uri)
    if not src.is_file():
        raise InputError(f"{src}: dataset file not found; run ingest (and scrub) before splitting.")
    df = pd.read_parquet(src)
    frames = split_frame(df, test_fraction, val_fraction, seed, exclude_from_test, not dataset.label_is_text)
    if frames["train"].empty or frames["test"].empty:
        raise InputError(f"{src}: {dataset.rows} rows are too few to split into train and test; add rows.")
    final = Path(run_dir) / "split"
    with atomic_dir(final) as tmp:
        refs = {p: _write_part(frames[p], tmp / f"{p}.parquet", dataset.scrubbed, dataset.label_is_text) for p in PARTS}
        test_ids = ids_sha256(frames["test"]["id"].astype(str).tolist())
        record = {"dataset_sha256": dataset.sha256, "dataset_uri": dataset.uri, "seed": seed,
                  "test_fraction": test_fraction, "val_fraction": val_fraction, "test_ids_sha256": test_ids,
                  "rows": {p: refs[p].rows for p in PARTS},
                  "champion_trained_rows_kept_out_of_test": int(df["id"].astype(str).map(id_hash).isin(
                      exclude_from_test).sum()) if exclude_from_test else 0}
        (tmp / "split.json").write_text(json.dumps(record, indent=2))
    moved = {p: r.model_copy(update={"uri": str(final / f"{p}.parquet")}) for p, r in refs.items()}
    return SplitRef(train=moved["train"], val=moved["val"] if moved["val"].rows else None, test=moved["test"],
                    dataset_sha256=dataset.sha256, seed=seed, test_ids_sha256=test_ids)


def trained_ids(split: SplitRef) -> list[str]:
    """Sorted id hashes of the rows a model learned from (train and validation parts): ``trained_ids.txt``."""
    parts = [split.train] + ([split.val] if split.val is not None else [])
    return sorted({id_hash(x) for ref in parts for x in pd.read_parquet(ref.uri, columns=["id"])["id"].astype(str)})
