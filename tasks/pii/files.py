"""Reading and writing CSV, JSON-lines and Parquet in windows of rows, other columns untouched.

Each reader yields ``(payload, texts, ids)``; the writer takes the payload back with the new texts, so
every row keeps its position and every other column its exact value.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tasks.datasets import ROW_GROUP_ROWS, format_of
from tasks.errors import InputError

READ_ROWS = ROW_GROUP_ROWS  # rows per read window: one row group of a canonical file


def file_format(path: Path) -> str:
    fmt = format_of(path)
    if fmt is None:
        raise InputError(f"{path}: unsupported file type '{path.suffix.lower()}'; use .csv, .jsonl or .parquet.")
    return fmt


def _text_value(v: object, where: str, column: str) -> str | None:
    if v is None or isinstance(v, str):
        return v
    raise InputError(f"{where}: column '{column}' holds {type(v).__name__}, not text; pass the text column "
                     "with --text-column or fix the data.")


def read_windows(src: Path, fmt: str, column: str, id_column: str,
                 rows: tuple[int, int] | None = None, window: int | None = None) -> Iterator[tuple[object, list, list]]:
    """(payload, texts, ids) per window of rows; payload is what the writer needs to write them back.

    Parquet only: ``rows`` (start, stop) are the rows of one shard (``tasks/pii/shards.py``), read in the
    windows of ``window`` rows (default ``READ_ROWS``) that a read of the whole file gives them (``start`` a
    multiple of ``window``)."""
    window = window or READ_ROWS
    if fmt == "parquet":
        try:
            pf = pq.ParquetFile(src)
        except (pa.ArrowInvalid, OSError) as e:
            raise InputError(f"{src}: not a readable Parquet file ({type(e).__name__}); check the file.") from None
        names = pf.schema_arrow.names
        if column not in names:
            raise InputError(f"{src}: no column '{column}' (columns: {', '.join(names)}); pass --text-column.")
        ftype = pf.schema_arrow.field(column).type
        if not (pa.types.is_string(ftype) or pa.types.is_large_string(ftype) or pa.types.is_null(ftype)):
            raise InputError(f"{src}: column '{column}' is {ftype}, not text; pass the text column with --text-column.")
        row = rows[0] if rows else 0
        for batch in (_row_range(pf, *rows, window) if rows else pf.iter_batches(batch_size=window)):
            texts = batch.column(column).to_pylist()
            ids = batch.column(id_column).to_pylist() if id_column in names else list(range(row, row + len(texts)))
            row += len(texts)
            yield batch, texts, [str(i) for i in ids]
        return
    try:
        with open(src, encoding="utf-8", newline="") as f:
            if fmt == "jsonl":
                yield from _jsonl_windows(f, src, column, id_column)
            else:
                yield from _csv_windows(f, src, column, id_column)
    except UnicodeDecodeError as e:
        raise InputError(f"{src}: not UTF-8 text (bad byte at offset {e.start}); convert the file to UTF-8.") from None
    except csv.Error as e:
        raise InputError(f"{src}: not a readable CSV file ({e}); check the file.") from None
    except FileNotFoundError:
        raise InputError(f"{src}: file not found; check --input.") from None


def _row_range(pf: pq.ParquetFile, start: int, stop: int, window: int) -> Iterator[pa.RecordBatch]:
    """Rows ``start`` to ``stop`` in batches of ``window``, reading only the row groups that hold them."""
    groups, first, at = [], None, 0
    for g in range(pf.metadata.num_row_groups):
        n = pf.metadata.row_group(g).num_rows
        if at < stop and at + n > start:
            groups.append(g)
            first = at if first is None else first
        at += n
    pending, at = [], first or 0
    for batch in pf.iter_batches(batch_size=window, row_groups=groups) if groups else ():
        lo, hi = max(start - at, 0), min(stop - at, batch.num_rows)
        at += batch.num_rows
        if hi > lo:
            pending.append(batch.slice(lo, hi - lo))
        while sum(b.num_rows for b in pending) >= window:
            whole = pa.concat_batches(pending)
            yield whole.slice(0, window)
            pending = [whole.slice(window)] if whole.num_rows > window else []
        if at >= stop:
            break
    if pending and sum(b.num_rows for b in pending):
        yield pa.concat_batches(pending)


def _jsonl_windows(f, src: Path, column: str, id_column: str):
    recs, n = [], 0
    for n, line in enumerate(f, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError(f"{src}:{n}:{e.colno}: not valid JSON ({e.msg}); fix or remove the line.") from None
        if not isinstance(rec, dict):
            raise InputError(f"{src}:{n}: each line must be a JSON object; fix or remove the line.")
        _text_value(rec.get(column), f"{src}:{n}", column)
        recs.append(rec)
        if len(recs) == READ_ROWS:
            yield _jsonl_payload(recs, column, id_column)
            recs = []
    if recs:
        yield _jsonl_payload(recs, column, id_column)


def _jsonl_payload(recs: list[dict], column: str, id_column: str):
    return recs, [r.get(column) for r in recs], [str(r.get(id_column, "")) for r in recs]


def _csv_windows(f, src: Path, column: str, id_column: str):
    reader = csv.reader(f)
    header = next(reader, None)
    if header is None or column not in header:
        raise InputError(f"{src}:1: no column '{column}' in the header ({', '.join(header or [])}); "
                         "pass --text-column.")
    ti, ii = header.index(column), header.index(id_column) if id_column in header else None
    rows, n = [], 0
    first = True
    for n, row in enumerate(reader, 2):
        rows.append(row)
        if len(rows) == READ_ROWS:
            yield (header if first else None, rows, ti), [r[ti] if ti < len(r) else None for r in rows], \
                [r[ii] if ii is not None and ii < len(r) else str(n) for r in rows]
            rows, first = [], False
    if rows or first:
        yield (header if first else None, rows, ti), [r[ti] if ti < len(r) else None for r in rows], \
            [r[ii] if ii is not None and ii < len(r) else str(n) for r in rows]


class Writer:
    def __init__(self, path: Path, fmt: str, column: str):
        self.path, self.fmt, self.column = path, fmt, column
        self.pq, self.f, self.csv = None, None, None

    def write(self, payload: object, texts: list[str | None], more: dict[str, list] | None = None) -> None:
        """Write the window back with ``texts`` in the column (and, Parquet only, ``more``: column -> values)."""
        if self.fmt == "parquet":
            batch: pa.RecordBatch = payload
            arrays, schema = list(batch.columns), batch.schema
            for name, values in {self.column: texts, **(more or {})}.items():
                i = schema.get_field_index(name)
                ftype = schema.field(i).type
                ftype = pa.string() if pa.types.is_null(ftype) else ftype
                schema, arrays[i] = schema.set(i, pa.field(name, ftype)), pa.array(values, ftype)
            batch = pa.RecordBatch.from_arrays(arrays, schema=schema)
            if self.pq is None:
                self.pq = pq.ParquetWriter(self.path, batch.schema)
            self.pq.write_batch(batch)
            return
        if self.f is None:
            self.f = open(self.path, "w", encoding="utf-8", newline="")  # noqa: SIM115 - closed in close()
            self.csv = csv.writer(self.f) if self.fmt == "csv" else None
        if self.fmt == "jsonl":
            for rec, t in zip(payload, texts):
                if self.column in rec:
                    rec[self.column] = t
                self.f.write(json.dumps(rec, ensure_ascii=False) + "\n")
        else:
            header, rows, ti = payload
            if header is not None:
                self.csv.writerow(header)
            for row, t in zip(rows, texts):
                if ti < len(row):
                    row[ti] = t
                self.csv.writerow(row)

    def close(self) -> None:
        if self.pq is not None:
            self.pq.close()
        if self.f is not None:
            self.f.close()
