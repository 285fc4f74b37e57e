"""Read documents (CSV, JSONL, Parquet, a folder of .txt) into one canonical Parquet dataset.

Canonical columns: ``id`` (string), ``text`` (string), ``label`` (string, nullable), ``timestamp``
(timestamp[us, UTC], nullable), then the kept extra columns as strings. Sources are streamed in
chunks by the readers in ``tasks.ingest.sources``; the SHA-256 is over the canonical rows (order
matters, file layout and chunking do not). Errors name the file, line or column and what to fix, and
never quote document text.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tasks.datasets import ROW_GROUP_ROWS, RowDigest
from tasks.errors import InputError
from tasks.ingest.sources import Chunk, _read_csv, _read_jsonl, _read_parquet, _read_text_folder, detect_format
from tasks.refs import DatasetRef, atomic_file

TS = pa.timestamp("us", tz="UTC")


def canonical_schema(extras: list[str]) -> pa.Schema:
    return pa.schema([("id", pa.string()), ("text", pa.string()), ("label", pa.string()), ("timestamp", TS)]
                     + [(c, pa.string()) for c in extras])


# ---- canonical columns ----

def _bad(path: Path, col: str, where: str, what: str) -> InputError:
    return InputError(f"{path}: column '{col}', {where}: {what}.")


def _as_string(values, path: Path, col: str, where, allow_numbers: bool) -> pa.Array:
    """A source column as Arrow strings; numbers become their decimal text when allowed."""
    if isinstance(values, list):
        try:
            return pa.array(values, type=pa.string())
        except (pa.ArrowTypeError, pa.ArrowInvalid):
            out = []
            for i, v in enumerate(values):
                if v is None or isinstance(v, str):
                    out.append(v)
                elif allow_numbers and isinstance(v, (int, float)) and not isinstance(v, bool):
                    out.append(str(int(v)) if isinstance(v, float) and v.is_integer() else str(v))
                else:
                    raise _bad(path, col, where(i), f"expected text, found a JSON {type(v).__name__}; make every "
                               f"value of '{col}' a string" + (" or a number" if allow_numbers else ""))
            return pa.array(out, type=pa.string())
    t = values.type
    if pa.types.is_dictionary(t):
        values, t = values.dictionary_decode(), t.value_type
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_null(t):
        return values.cast(pa.string())
    if allow_numbers and (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)):
        return values.cast(pa.string())
    raise InputError(f"{path}: column '{col}' has type {t}; expected text"
                     + (" or numbers" if allow_numbers else "") + f". Convert '{col}' to strings in the source.")


def _as_timestamp(values, path: Path, col: str, where) -> pa.Array:
    if not isinstance(values, list) and pa.types.is_timestamp(values.type):
        return values.cast(pa.timestamp("us", tz=values.type.tz)).cast(TS) if values.type.tz else \
            pc.assume_timezone(values.cast(pa.timestamp("us")), "UTC")
    strings = _as_string(values, path, col, where, allow_numbers=False)
    raw = pd.Series(strings.to_numpy(zero_copy_only=False), dtype=object)
    raw = raw.where(raw.str.strip() != "", None) if len(raw) else raw
    parsed = pd.to_datetime(raw, utc=True, errors="coerce", format="ISO8601")
    bad = parsed.isna() & raw.notna()
    if bad.any():
        raise _bad(path, col, where(int(np.argmax(bad.to_numpy()))),
                   "not an ISO-8601 date/time; write timestamps like 2024-05-01T09:30:00Z")
    return pa.array(parsed.dt.as_unit("us"), type=TS, from_pandas=True)


def _blank_to_null(labels: pa.Array) -> pa.Array:
    """An empty label (a CSV cell left blank) means unlabelled, not a class called ''."""
    blank = pc.fill_null(pc.equal(pc.utf8_trim_whitespace(labels), ""), False)
    return pc.if_else(blank, pa.scalar(None, pa.string()), labels)


def canonical_chunk(chunk: Chunk, path: Path, mapping: dict[str, str | None], extras: list[str]) -> pa.Table:
    where, cols = chunk
    n = len(next(iter(cols.values())))
    text = _as_string(cols[mapping["text"]], path, mapping["text"], where, allow_numbers=False)
    arrays = [_as_string(cols[mapping["id"]], path, mapping["id"], where, allow_numbers=True), text,
              _blank_to_null(_as_string(cols[mapping["label"]], path, mapping["label"], where, allow_numbers=True))
              if mapping.get("label") else pa.nulls(n, pa.string()),
              _as_timestamp(cols[mapping["timestamp"]], path, mapping["timestamp"], where)
              if mapping.get("timestamp") else pa.nulls(n, TS)]
    arrays += [_as_string(cols[c], path, c, where, allow_numbers=True) for c in extras]
    return pa.Table.from_arrays(arrays, schema=canonical_schema(extras))


def load_documents(source: str | Path, out: Path, *, fmt: str = "auto", id_col: str = "id", text_col: str = "text",
                   label_col: str | None = "label", timestamp_col: str | None = None,
                   keep_columns: list[str] | tuple[str, ...] = (), chunk_rows: int = 50_000,
                   csv_delimiter: str = ",", label_is_text: bool = False) -> DatasetRef:
    """Stream ``source`` into the canonical Parquet file ``out`` (atomically) and return its reference.
    ``label_is_text``: the label is free text (a causal LM's target): its values are not counted."""
    source, out = Path(source), Path(out)
    if not source.exists():
        raise InputError(f"{source}: not found; check data.source in the config (paths are relative to where "
                         "you run tunegate).")
    kind = detect_format(source, fmt)
    extras = list(keep_columns)
    if kind == "text_folder":
        if not source.is_dir():
            raise InputError(f"{source}: data.format is text_folder but this is not a folder.")
        mapping, chunks = {"id": "id", "text": "text", "label": "label"}, _read_text_folder(source, chunk_rows)
        extras = []
    else:
        if source.is_dir():
            raise InputError(f"{source}: is a folder; set data.format: text_folder, or point at a file.")
        if source.stat().st_size == 0:
            raise InputError(f"{source}: the file is empty; it needs at least one document.")
        mapping = {"id": id_col, "text": text_col, "label": label_col, "timestamp": timestamp_col}
        wanted = list(dict.fromkeys([c for c in mapping.values() if c] + extras))
        reader = {"csv": partial(_read_csv, delimiter=csv_delimiter), "jsonl": _read_jsonl,
                  "parquet": _read_parquet}[kind]
        chunks = reader(source, wanted, chunk_rows)
    schema = canonical_schema(extras)
    digest, rows, labels = RowDigest(schema), 0, {}
    with atomic_file(out) as tmp, pq.ParquetWriter(tmp, schema) as writer:
        rest = schema.empty_table()  # rows after the last whole row group: groups start at multiples of its size
        for chunk in chunks:
            table = canonical_chunk(chunk, source, mapping, extras)
            rest = pa.concat_tables([rest, table]) if rest.num_rows else table
            whole = rest.num_rows - rest.num_rows % ROW_GROUP_ROWS
            if whole:
                writer.write_table(rest.slice(0, whole), row_group_size=ROW_GROUP_ROWS)
                rest = rest.slice(whole)
            digest.update(table)
            rows += table.num_rows
            for item in [] if label_is_text else pc.value_counts(table.column("label")).to_pylist():
                if item["values"] is not None:
                    labels[item["values"]] = labels.get(item["values"], 0) + item["counts"]
        if rest.num_rows:
            writer.write_table(rest)
        if rows == 0:
            raise InputError(f"{source}: holds no documents; add rows below the header / at least one JSON line.")
    return DatasetRef(uri=str(out), sha256=digest.hexdigest(), rows=rows,
                      columns={f.name: str(f.type) for f in schema}, label_counts=dict(sorted(labels.items())),
                      label_is_text=label_is_text)
