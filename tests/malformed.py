"""A generated corpus of malformed input files, every format: what users really send by mistake.

``build(folder)`` writes the files and returns ``{case name: (path, data overrides)}``. Every file must be
refused by ``tunegate validate`` with a named error. Each holds ``SECRET`` (a stand-in for personal data)
where a message might be tempted to quote it. Categories: encodings, truncation, wrong types, huge fields,
binary, Parquet decompression bombs, duplicate columns, broken line structure, label typos, and the
emptiness of all kinds.
"""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

SECRET = "Quux Zebedee-Fairweather"
LABELS = ["fire", "theft", "motor", "storm"]
ROWS = 24


def _rows(n: int = ROWS) -> list[dict]:
    return [{"id": f"d{i:03d}", "text": f"claim note {i}: {SECRET} reported a loss at the property, case {i}",
             "label": LABELS[i % len(LABELS)]} for i in range(n)]


def _jsonl(rows: list) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in rows)


def _csv(rows: list[dict], sep: str = ",", header: list[str] | None = None) -> str:
    header = header or ["id", "text", "label"]
    out = [sep.join(header)]
    for r in rows:
        out.append(sep.join('"' + str(r[c]).replace('"', '""') + '"' for c in ["id", "text", "label"]))
    return "\n".join(out) + "\n"


def _garbage(seed: int, n: int = 4096) -> bytes:
    return random.Random(seed).randbytes(n)


def build(folder: Path) -> dict[str, tuple[Path, dict]]:
    folder.mkdir(parents=True, exist_ok=True)
    cases: dict[str, tuple[Path, dict]] = {}
    positions = {"first": 0, "middle": ROWS // 2, "last": ROWS - 1}

    def put(name: str, suffix: str, content: bytes | str, **data) -> None:
        path = folder / f"{name}{suffix}"
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
        cases[name] = (path, data)

    def table(name: str, t: pa.Table, **kw) -> None:
        path = folder / f"{name}.parquet"
        pq.write_table(t, path, **kw)
        cases[name] = (path, {})

    good_jsonl, good_csv = _jsonl(_rows()), _csv(_rows())
    pq.write_table(pa.Table.from_pylist(_rows()), folder / "_good.parquet")
    good_parquet = (folder / "_good.parquet").read_bytes()
    (folder / "_good.parquet").unlink()

    # ---- JSONL ----------------------------------------------------------------------------------------
    for where, i in positions.items():
        lines = good_jsonl.splitlines(keepends=True)
        lines[i] = lines[i].replace(b"claim", b"cl\xff\xfeaim")
        put(f"jsonl_bad_utf8_{where}", ".jsonl", b"".join(lines))
        rows = _rows()
        for kind, value in {"number": 42, "list": [SECRET], "dict": {"note": SECRET}, "bool": True}.items():
            put(f"jsonl_text_{kind}_{where}", ".jsonl", _jsonl(rows[:i] + [{**rows[i], "text": value}] + rows[i + 1:]))
        for kind, value in {"dict": {"v": 1}, "list": [1, 2]}.items():
            put(f"jsonl_id_{kind}_{where}", ".jsonl", _jsonl(rows[:i] + [{**rows[i], "id": value}] + rows[i + 1:]))
            put(f"jsonl_label_{kind}_{where}", ".jsonl",
                _jsonl(rows[:i] + [{**rows[i], "label": value}] + rows[i + 1:]))
        for kind, value in {"array": [1, 2], "string": SECRET, "number": 7, "null": None}.items():
            lines = good_jsonl.splitlines(keepends=True)
            lines[i] = json.dumps(value).encode() + b"\n"
            put(f"jsonl_line_is_{kind}_{where}", ".jsonl", b"".join(lines))
        put(f"jsonl_text_nan_{where}", ".jsonl", good_jsonl.replace(
            json.dumps(rows[i]["text"]).encode(), b"NaN", 1))
        put(f"jsonl_duplicate_key_{where}", ".jsonl", good_jsonl.replace(
            f'"id": "{rows[i]["id"]}", '.encode(), f'"id": "{rows[i]["id"]}", "text": "{SECRET}", '.encode(), 1))
        put(f"jsonl_huge_text_{where}", ".jsonl",
            _jsonl(rows[:i] + [{**rows[i], "text": SECRET + " x" * 60_000}] + rows[i + 1:]))
        for typo in ("fier", "Fire", "fire "):
            put(f"jsonl_label_typo_{typo.strip().lower()}{'_space' if typo.endswith(' ') else ''}"
                f"{'_case' if typo[0].isupper() else ''}_{where}", ".jsonl",
                _jsonl(rows[:i] + [{**rows[i], "label": typo}] + rows[i + 1:]), labels=True)
        put(f"jsonl_missing_text_{where}", ".jsonl",
            _jsonl(rows[:i] + [{k: v for k, v in rows[i].items() if k != "text"}] + rows[i + 1:]))
        put(f"jsonl_duplicate_id_{where}", ".jsonl",
            _jsonl(rows[:i] + [{**rows[i], "id": rows[(i + 1) % ROWS]["id"]}] + rows[i + 1:]))
    for frac in (0.1, 0.3, 0.5, 0.7, 0.9, 0.995):  # cut inside a record: its object never closes
        cut = good_jsonl[:int(len(good_jsonl) * frac)].rstrip(b"\n")
        put(f"jsonl_truncated_{int(frac * 1000)}", ".jsonl", cut[:-1] if cut.endswith(b"}") else cut)
    for enc in ("utf-16", "utf-16-be", "utf-32"):
        put(f"jsonl_{enc}", ".jsonl", good_jsonl.decode().encode(enc))
    put("jsonl_latin1", ".jsonl", good_jsonl.replace(b"claim", "clàim".encode("latin-1")))
    put("jsonl_gzipped", ".jsonl", gzip.compress(good_jsonl))
    for s in range(4):
        put(f"jsonl_binary_{s}", ".jsonl", _garbage(s))
    put("jsonl_empty", ".jsonl", b"")
    put("jsonl_blank_lines", ".jsonl", b"\n\n  \n\t\n")
    put("jsonl_too_few_rows", ".jsonl", _jsonl(_rows(3)))
    put("jsonl_all_unlabelled", ".jsonl", _jsonl([{**r, "label": None} for r in _rows()]))

    # ---- CSV -------------------------------------------------------------------------------------------
    for where, i in positions.items():
        lines = good_csv.encode().splitlines(keepends=True)
        lines[i + 1] = lines[i + 1].replace(b"claim", b"cl\xff\xfeaim")
        put(f"csv_bad_utf8_{where}", ".csv", b"".join(lines))
        lines = good_csv.splitlines(keepends=True)
        put(f"csv_extra_field_{where}", ".csv", "".join(lines[:i + 1] + [lines[i + 1].rstrip("\n") + ',"x"\n']
                                                        + lines[i + 2:]))
        put(f"csv_missing_field_{where}", ".csv", "".join(
            lines[:i + 1] + [lines[i + 1].rsplit(",", 1)[0] + "\n"] + lines[i + 2:]))
        put(f"csv_unterminated_quote_{where}", ".csv", "".join(
            lines[:i + 1] + [lines[i + 1].replace('",', ',', 1)] + lines[i + 2:]))
        put(f"csv_bare_cr_{where}", ".csv", "".join(  # an unquoted row broken by a lone carriage return
            lines[:i + 1] + [lines[i + 1].replace('"', "").replace(" reported", "\rreported", 1)] + lines[i + 2:]))
        rows = _rows()
        for typo in ("fier", "Theft", "storm."):
            put(f"csv_label_typo_{typo.lower().strip('.')}_{where}", ".csv",
                _csv(rows[:i] + [{**rows[i], "label": typo}] + rows[i + 1:]), labels=True)
        put(f"csv_huge_text_{where}", ".csv", _csv(rows[:i] + [{**rows[i], "text": "y" * 120_000}] + rows[i + 1:]))
        put(f"csv_blank_text_{where}", ".csv", _csv(rows[:i] + [{**rows[i], "text": "   "}] + rows[i + 1:]))
        put(f"csv_duplicate_id_{where}", ".csv", _csv(rows[:i] + [{**rows[i], "id": rows[(i + 1) % ROWS]["id"]}]
                                                      + rows[i + 1:]))
    for header in (["id", "body", "label"], ["doc", "text", "label"], ["id", "text", "category"],
                   ["ID", "Text", "Label"]):
        put(f"csv_header_{'_'.join(h.lower() for h in header)}{'_caps' if header[0] == 'ID' else ''}", ".csv",
            _csv(_rows(), header=header))
    for dup in (["id", "text", "text"], ["id", "id", "label"], ["text", "text", "label"]):
        put(f"csv_duplicate_column_{'_'.join(dup)}", ".csv", _csv(_rows(), header=dup))
    put("csv_semicolons", ".csv", _csv(_rows(), sep=";"))
    put("csv_tabs", ".csv", _csv(_rows(), sep="\t"))
    put("csv_pipes", ".csv", _csv(_rows(), sep="|"))
    for enc in ("utf-16", "utf-16-le", "utf-32"):
        put(f"csv_{enc}", ".csv", good_csv.encode(enc))
    put("csv_latin1", ".csv", good_csv.replace("claim", "clàim").encode("latin-1"))
    for frac in (0.2, 0.5, 0.8):  # cut inside a quoted text: the quote never closes
        cut = good_csv.index("claim note", int(len(good_csv) * frac)) + 5
        put(f"csv_truncated_{int(frac * 100)}", ".csv", good_csv[:cut])
    for s in range(4):
        put(f"csv_binary_{s}", ".csv", _garbage(100 + s))
    put("csv_png", ".csv", b"\x89PNG\r\n\x1a\n" + _garbage(7, 512))
    put("csv_xlsx_zip", ".csv", b"PK\x03\x04" + _garbage(8, 512))
    put("csv_gzipped", ".csv", gzip.compress(good_csv.encode()))
    put("csv_empty", ".csv", b"")
    put("csv_only_bom", ".csv", b"\xef\xbb\xbf")
    put("csv_header_only", ".csv", "id,text,label\n")
    put("csv_too_few_rows", ".csv", _csv(_rows(3)))
    put("csv_all_unlabelled", ".csv", _csv([{**r, "label": ""} for r in _rows()]))
    put("csv_over_block_size", ".csv", "id,text,label\n1,\"" + "z" * (17 << 20) + "\",fire\n")

    # ---- Parquet ---------------------------------------------------------------------------------------
    for frac in (0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 0.999):
        put(f"parquet_truncated_{int(frac * 1000)}", ".parquet", good_parquet[:int(len(good_parquet) * frac)])
    put("parquet_no_footer_magic", ".parquet", good_parquet[:-4] + b"XXXX")
    for s in range(3):
        put(f"parquet_binary_{s}", ".parquet", _garbage(200 + s))
    put("parquet_is_csv", ".parquet", good_csv)
    put("parquet_is_jsonl", ".parquet", good_jsonl)
    base = {"id": [r["id"] for r in _rows()], "text": [r["text"] for r in _rows()],
            "label": [r["label"] for r in _rows()]}
    for kind, col in {"int": pa.array(range(ROWS)), "list": pa.array([[SECRET]] * ROWS),
                      "struct": pa.array([{"note": SECRET}] * ROWS),
                      "all_null": pa.array([None] * ROWS, pa.string()), "float": pa.array([1.5] * ROWS)}.items():
        table(f"parquet_text_{kind}", pa.table({**base, "text": col}))
    table("parquet_id_struct", pa.table({**base, "id": pa.array([{"v": i} for i in range(ROWS)])}))
    table("parquet_label_list", pa.table({**base, "label": pa.array([["fire"]] * ROWS)}))
    for missing in ("id", "text", "label"):
        table(f"parquet_missing_{missing}", pa.table({k: v for k, v in base.items() if k != missing}))
    for dup in ("text", "id"):
        names = ["id", "text", "label", dup]
        table(f"parquet_duplicate_column_{dup}", pa.Table.from_arrays(
            [pa.array(base["id"]), pa.array(base["text"]), pa.array(base["label"]), pa.array(base[dup])], names))
    for typo in ("fier", "Motor", "sotrm"):
        table(f"parquet_label_typo_{typo.lower()}", pa.table({**base, "label": [typo] + base["label"][1:]}))
        cases[f"parquet_label_typo_{typo.lower()}"] = (folder / f"parquet_label_typo_{typo.lower()}.parquet",
                                                       {"labels": True})
    table("parquet_zero_rows", pa.table({k: pa.array([], pa.string()) for k in base}))
    table("parquet_too_few_rows", pa.table({k: v[:3] for k, v in base.items()}))
    table("parquet_duplicate_ids", pa.table({**base, "id": ["same"] * ROWS}))
    table("parquet_huge_text", pa.table({**base, "text": ["w" * 150_000] + base["text"][1:]}))
    # Decompression bombs: a few kilobytes on disk, hundreds of megabytes once read.
    table("parquet_bomb_one_value", pa.table({"id": ["1", "2"], "text": ["A" * (96 << 20), "b"],
                                              "label": ["fire", "fire"]}), compression="zstd")
    table("parquet_bomb_gzip", pa.table({"id": ["1", "2"], "text": ["b", "C" * (80 << 20)],
                                         "label": ["fire", "fire"]}), compression="gzip")

    # ---- folders of .txt -------------------------------------------------------------------------------
    def txt_folder(name: str, files: dict[str, bytes], **data) -> None:
        root = folder / name
        for rel, content in files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(content)
        root.mkdir(parents=True, exist_ok=True)
        cases[name] = (root, {"format": "text_folder", **data})

    good_txt = {f"{r['label']}/{r['id']}.txt": r["text"].encode() for r in _rows()}
    for where, i in positions.items():
        key = list(good_txt)[i]
        txt_folder(f"txt_bad_utf8_{where}", {**good_txt, key: b"bad \xff\xfe " + SECRET.encode()})
        txt_folder(f"txt_binary_{where}", {**good_txt, key: _garbage(300 + i)})
        txt_folder(f"txt_label_typo_{where}", {**{k: v for k, v in good_txt.items() if k != key},
                                              "fier/" + key.split("/")[1]: good_txt[key]}, labels=True)
        txt_folder(f"txt_huge_{where}", {**good_txt, key: b"v" * 110_000})
        txt_folder(f"txt_blank_{where}", {**good_txt, key: b"  \n\t "})
    txt_folder("txt_utf16", {k: v.decode().encode("utf-16") for k, v in good_txt.items()})
    txt_folder("txt_latin1", {k: v.decode().replace("claim", "clàim").encode("latin-1") for k, v in good_txt.items()})
    txt_folder("txt_empty_folder", {})
    txt_folder("txt_only_markdown", {"fire/a.md": b"# not a document"})
    txt_folder("txt_too_few", dict(list(good_txt.items())[:3]))
    txt_folder("txt_unlabelled", {r["id"] + ".txt": r["text"].encode() for r in _rows()})
    return cases
