"""The source readers: CSV, JSON lines, Parquet and a folder of .txt files, each streamed in chunks.

``detect_format`` tells the format from the suffix (or a folder); each reader checks the configured
columns are there and yields ``Chunk``s, a source's raw columns for a batch of rows with a way to name
a row ("line 12", "data row 3", "file motor/a.txt") in errors. Errors name the file and line and what
to fix, never document text. ``tasks.ingest.read`` turns the chunks into the canonical dataset.
"""

from __future__ import annotations

import codecs
import csv
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tasks.datasets import format_of
from tasks.errors import InputError

FORMATS = ("csv", "jsonl", "parquet", "text_folder")


def detect_format(source: Path, fmt: str = "auto") -> str:
    if fmt != "auto":
        return fmt
    if source.is_dir():
        return "text_folder"
    kind = format_of(source)
    if kind is None:
        raise InputError(f"{source}: cannot tell the format from the suffix; name it .csv, .jsonl or .parquet, "
                         "or set data.format in the config.")
    return kind


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


class _RepeatedKey(ValueError):
    pass


def _no_repeats(pairs: list[tuple[str, object]]) -> dict:
    out = {}
    for k, v in pairs:
        if k in out:
            raise _RepeatedKey(k)
        out[k] = v
    return out


def _read_jsonl(path: Path, wanted: list[str], chunk_rows: int) -> Iterator[Chunk]:
    cols: dict[str, list] = {c: [] for c in wanted}
    lines: list[int] = []
    first = True
    with open(path, "rb") as f:
        for n, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            try:  # JSON lines are UTF-8 (a byte-order mark on the first line is tolerated)
                rec = json.loads(raw.decode("utf-8-sig" if n == 1 else "utf-8"), object_pairs_hook=_no_repeats)
            except UnicodeDecodeError:
                raise InputError(f"{path}: line {n} is not valid UTF-8; re-encode the file as UTF-8.") from None
            except _RepeatedKey as e:
                raise InputError(f"{path}: line {n} has the key {e.args[0]!r} twice; which value counts is "
                                 "ambiguous: keep one.") from None
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


def _read_csv(path: Path, wanted: list[str], chunk_rows: int, delimiter: str = ",") -> Iterator[Chunk]:
    """A CSV file as spreadsheet programs export it: UTF-8 with or without a byte-order mark ("CSV UTF-8"),
    LF or CRLF line ends, quoted fields holding newlines; ``delimiter`` from ``data.csv_delimiter``."""
    import pyarrow.csv as pacsv

    with open(path, encoding="utf-8-sig", errors="replace", newline="") as f:  # -sig: drop a byte-order mark
        header = next(csv.reader(f, delimiter=delimiter), None)
    if not header:
        raise InputError(f"{path}: the file is empty; it needs a header row and at least one document.")
    if len(header) == 1 and (other := next((d for d in ";\t|," if d != delimiter and d in header[0]), None)):
        raise InputError(f"{path}: the header is one field, {header[0][:80]!r}: the file seems separated by "
                         f"{other!r}, not {delimiter!r}; set data.csv_delimiter: {other!r} in the config.")
    _require(path, wanted, header)
    _check_quoting(path, delimiter)
    row = 1
    try:
        reader = pacsv.open_csv(
            path, read_options=pacsv.ReadOptions(block_size=16 << 20),
            parse_options=pacsv.ParseOptions(newlines_in_values=True, delimiter=delimiter),
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


def _check_quoting(path: Path, delimiter: str) -> None:
    """One strict pass of Python's csv module: a stray quote (``"d1,"text...``) is an error there, where the
    fast reader would silently shift text into the wrong column, e.g. a note with personal data into ``id``,
    which is not scrubbed."""
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as f:
        reader = csv.reader(f, delimiter=delimiter, strict=True)
        try:
            for _ in reader:
                pass
        except csv.Error as e:
            raise InputError(f"{path}: line {reader.line_num}: malformed quoting ({str(e).split(' (')[0]}); a "
                             "field with commas, quotes or newlines must be wrapped in double quotes, and a quote "
                             "inside one doubled.") from None


MAX_EXPANSION, MAX_GROUP_BYTES = 200, 64 << 20  # a row group that grows 200x and past 64 MB when read


def _check_expansion(path: Path, pf, wanted: list[str]) -> None:
    """Refuse a decompression bomb before reading it: plain text compresses about 3-10x, never 200x."""
    names = pf.schema_arrow.names
    for g in range(pf.metadata.num_row_groups):
        rg = pf.metadata.row_group(g)
        cols = [rg.column(i) for i, n in enumerate(names) if n in wanted]
        raw, packed = sum(c.total_uncompressed_size for c in cols), sum(c.total_compressed_size for c in cols)
        if raw > MAX_GROUP_BYTES and raw > MAX_EXPANSION * max(packed, 1):
            raise InputError(f"{path}: row group {g} expands from {packed:,} to {raw:,} bytes when read "
                             f"({raw // max(packed, 1):,}x); that is not text a person wrote: check the export, or "
                             "split the file.")


def _read_parquet(path: Path, wanted: list[str], chunk_rows: int) -> Iterator[Chunk]:
    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError):
        raise InputError(f"{path}: not a readable Parquet file; re-export it as Parquet.") from None
    _require(path, wanted, pf.schema_arrow.names)
    _check_expansion(path, pf, wanted)
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
    twice = [c for c in wanted if have.count(c) > 1]
    if twice:
        raise InputError(f"{path}: {where + ': ' if where else ''}column(s) "
                         f"{', '.join(f'{c!r} ({have.count(c)} times)' for c in twice)} appear more than once; "
                         "which one holds the data is ambiguous: rename or remove the extra column.")
    missing = [c for c in wanted if c not in have]
    if missing:
        raise InputError(f"{path}: {where + ': ' if where else ''}missing column(s) "
                         f"{', '.join(repr(c) for c in missing)}; the file has "
                         f"{', '.join(repr(c) for c in have)}. Fix data.columns / data.keep_columns in the config.")
