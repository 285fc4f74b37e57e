"""Read documents (CSV, JSONL, Parquet, a folder of .txt) into one canonical Parquet dataset.

Canonical columns: ``id`` (string), ``text`` (string), ``label`` (string, nullable), ``timestamp``
(timestamp[us, UTC], nullable), then the kept extra columns as strings. Sources are streamed in
chunks; the SHA-256 is over the canonical rows (order matters, file layout and chunking do not).
Errors name the file, line or column and what to fix, and never quote document text.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tasks.errors import InputError
from tasks.refs import DatasetRef, atomic_file

FORMATS = ("csv", "jsonl", "parquet", "text_folder")
TS = pa.timestamp("us", tz="UTC")


def detect_format(source: Path, fmt: str = "auto") -> str:
    if fmt != "auto":
        return fmt
    if source.is_dir():
        return "text_folder"
    kind = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".parquet": "parquet",
            ".pq": "parquet"}.get(source.suffix.lower())
    if kind is None:
        raise InputError(f"{source}: cannot tell the format from the suffix; name it .csv, .jsonl or .parquet, "
                         "or set data.format in the config.")
    return kind


def canonical_schema(extras: list[str]) -> pa.Schema:
    return pa.schema([("id", pa.string()), ("text", pa.string()), ("label", pa.string()), ("timestamp", TS)]
                     + [(c, pa.string()) for c in extras])


# Readers yield chunks: (where(i) -> "line 12" for row i of the chunk, {source column: list or Arrow array}).
Chunk = tuple[Callable[[int], str], dict]

def _first_bad_utf8_line(path: Path) -> int:
    """1-based line of the first byte sequence that is not UTF-8 (0 if none)."""
    dec, line = codecs.getincrementaldecoder("utf-8")(), 1
    with open(path, "rb") as f:
        for raw in f:
            try:
                dec.decode(raw)
            except UnicodeDecodeError:
                return line
            line += 1
    return 0


def _read_jsonl(path: Path, wanted: list[str], chunk_rows: int) -> Iterator[Chunk]:
    cols: dict[str, list] = {c: [] for c in wanted}
    lines: list[int] = []
    first = True
    with open(path, "rb") as f:
        for n, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            try:
                rec = json.loads(raw)
            except UnicodeDecodeError:
                raise InputError(f"{path}: line {n} is not valid UTF-8; re-encode the file as UTF-8.") from None
            except json.JSONDecodeError as e:
                reason = e.msg.removesuffix(" at")
                raise InputError(f"{path}: line {n} is not valid JSON ({reason}, column {e.colno}: a truncated or "
                                 "broken line?); fix or remove that line.") from None
            if not isinstance(rec, dict):
                raise InputError(f"{path}: line {n} is a JSON {type(rec).__name__}, not an object; each line must "
                                 "be one JSON object with the configured columns.")
            if first:
                _require(path, wanted, list(rec), where=f"line {n}")
                first = False
            for c in wanted:
                cols[c].append(rec.get(c))
            lines.append(n)
            if len(lines) >= chunk_rows:
                yield (lambda i, ls=lines: f"line {ls[i]}"), cols
                cols, lines = {c: [] for c in wanted}, []
    if lines:
        yield (lambda i, ls=lines: f"line {ls[i]}"), cols


def _read_csv(path: Path, wanted: list[str], chunk_rows: int) -> Iterator[Chunk]:
    import pyarrow.csv as pacsv

    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        header = next(csv.reader(f), None)
    if not header:
        raise InputError(f"{path}: the file is empty; it needs a header row and at least one document.")
    _require(path, wanted, header)
    row = 1
    try:
        reader = pacsv.open_csv(
            path, read_options=pacsv.ReadOptions(block_size=16 << 20),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in header},
                                                 include_columns=wanted, strings_can_be_null=False))
        for batch in reader:
            yield (lambda i, r=row: f"data row {r + i}"), {c: batch.column(c) for c in wanted}
            row += batch.num_rows
    except pa.ArrowInvalid as e:
        msg = str(e)
        if "UTF8" in msg or "utf8" in msg.lower():
            raise InputError(f"{path}: line {_first_bad_utf8_line(path)} is not valid UTF-8; re-encode the file "
                             "as UTF-8.") from None
        m = re.search(r"Expected (\d+) columns, got (\d+)", msg)
        where = f"row {row + int(r.group(1)) - 1}" if (r := re.search(r"Row #(\d+)", msg)) else f"after row {row}"
        what = f"expected {m.group(1)} fields, found {m.group(2)}" if m else "unparseable CSV"
        raise InputError(f"{path}: {where}: {what}; check quoting (fields with commas, quotes or newlines must "
                         "be wrapped in double quotes, quotes inside doubled).") from None


def _read_parquet(path: Path, wanted: list[str], chunk_rows: int) -> Iterator[Chunk]:
    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError):
        raise InputError(f"{path}: not a readable Parquet file; re-export it as Parquet.") from None
    _require(path, wanted, pf.schema_arrow.names)
    row = 1
    for batch in pf.iter_batches(batch_size=chunk_rows, columns=wanted):
        yield (lambda i, r=row: f"row {r + i}"), {c: batch.column(c) for c in wanted}
        row += batch.num_rows


def _read_text_folder(root: Path, chunk_rows: int) -> Iterator[Chunk]:
    files = sorted(p for p in root.rglob("*.txt") if p.is_file())
    if not files:
        raise InputError(f"{root}: the folder holds no .txt files; put one document per .txt file, in a "
                         "sub-folder named after its label.")
    for i in range(0, len(files), chunk_rows):
        cols: dict[str, list] = {"id": [], "text": [], "label": []}
        for p in files[i:i + chunk_rows]:
            rel = p.relative_to(root)
            try:
                text = p.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                raise InputError(f"{p}: line {_first_bad_utf8_line(p)} is not valid UTF-8; re-encode the file "
                                 "as UTF-8.") from None
            cols["id"].append(rel.as_posix())
            cols["text"].append(text)
            cols["label"].append(rel.parts[0] if len(rel.parts) > 1 else None)
        yield (lambda j, names=cols["id"]: f"file {names[j]}"), cols


def _require(path: Path, wanted: list[str], have: list[str], where: str = "") -> None:
    missing = [c for c in wanted if c not in have]
    if missing:
        raise InputError(f"{path}: {where + ': ' if where else ''}missing column(s) {', '.join(repr(c) for c in missing)}; the file has "
                         f"{', '.join(repr(c) for c in have)}. Fix data.columns / data.keep_columns in the config.")


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


class RowDigest:
    """SHA-256 over canonical rows: one stream per column (lengths, nulls, bytes), so chunking is irrelevant."""

    def __init__(self, schema: pa.Schema):
        self.schema = schema
        # two streams per column (lengths/nulls, bytes) so that chunk boundaries cannot matter
        self.streams = [(hashlib.sha256(), hashlib.sha256()) for _ in schema]

    def update(self, table: pa.Table) -> None:
        for (h, hb), col in zip(self.streams, table.columns, strict=True):
            arr = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
            if pa.types.is_timestamp(arr.type):
                vals = pc.fill_null(arr.cast(pa.int64()), np.iinfo(np.int64).min).to_numpy()
                h.update(vals.astype("<i8").tobytes())
                continue
            lengths = pc.fill_null(pc.binary_length(arr), -1).to_numpy().astype("<i8")
            h.update(lengths.tobytes())
            data = pc.fill_null(arr, "")
            width = np.int64 if pa.types.is_large_string(data.type) else np.int32
            offsets = np.frombuffer(data.buffers()[1], dtype=width)[data.offset:data.offset + len(data) + 1]
            if len(data):
                hb.update(memoryview(data.buffers()[2])[offsets[0]:offsets[-1]])

    def hexdigest(self) -> str:
        top = hashlib.sha256(self.schema.to_string(show_schema_metadata=False).encode())
        for h, hb in self.streams:
            top.update(h.digest() + hb.digest())
        return top.hexdigest()


def parquet_sha256(path: str | Path) -> str:
    """Recompute a canonical dataset's digest from its file (e.g. to verify lineage)."""
    pf = pq.ParquetFile(path)
    d = RowDigest(pf.schema_arrow)
    for batch in pf.iter_batches(batch_size=65_536):
        d.update(pa.Table.from_batches([batch]))
    return d.hexdigest()


def load_documents(source: str | Path, out: Path, *, fmt: str = "auto", id_col: str = "id", text_col: str = "text",
                   label_col: str | None = "label", timestamp_col: str | None = None,
                   keep_columns: list[str] | tuple[str, ...] = (), chunk_rows: int = 50_000) -> DatasetRef:
    """Stream ``source`` into the canonical Parquet file ``out`` (atomically) and return its reference."""
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
        reader = {"csv": _read_csv, "jsonl": _read_jsonl, "parquet": _read_parquet}[kind]
        chunks = reader(source, wanted, chunk_rows)
    schema = canonical_schema(extras)
    digest, rows, labels = RowDigest(schema), 0, {}
    with atomic_file(out) as tmp, pq.ParquetWriter(tmp, schema) as writer:
        for chunk in chunks:
            table = canonical_chunk(chunk, source, mapping, extras)
            writer.write_table(table)
            digest.update(table)
            rows += table.num_rows
            for item in pc.value_counts(table.column("label")).to_pylist():
                if item["values"] is not None:
                    labels[item["values"]] = labels.get(item["values"], 0) + item["counts"]
        if rows == 0:
            raise InputError(f"{source}: holds no documents; add rows below the header / at least one JSON line.")
    return DatasetRef(uri=str(out), sha256=digest.hexdigest(), rows=rows,
                      columns={f.name: str(f.type) for f in schema}, label_counts=dict(sorted(labels.items())))
