"""The subject index: what it costs the scrub, and how fast `subject find` answers on a large store.

    python benchmarks/erasure_bench.py [--docs 10000] [--store-docs 100000] [--versions 10]

1. Index cost: the same sample notes scrubbed twice in one run, in-process (one core, so the figure is
   not pool noise), with and without ``subject_index``; the share is (with - without) / without.
   Target: at most 5 %.
2. Find: a work dir of ``--store-docs`` documents in ``--versions`` scrubbed datasets (subject indexes with
   the real hash function, 6 identifiers a document), searched for one subject with ``find_in_indexes``
   against the baseline of a plain scan of the same index files row by row. Target: at most 2 s.
3. Erase: the same store, each dataset also holding its scrubbed text (``scrubbed.parquet``, ~400
   characters a note): the subject's folders found by the index and rewritten without their documents
   (``rewrite_without``, as ``subject erase`` does), against the baseline of rewriting every dataset of
   the store without them (what an erasure without an index would have to do, short of re-scrubbing).
4. Find on text nobody here wrote (``../shared/data/pii-external``, skipped when absent): the 2,109
   texts scrubbed with a new user's defaults (``PiiConfig()``) and their index; each labelled identifier
   is then looked up as a requester might write it (a name in lower case with a title, a phone number as
   bare digits, an e-mail in capitals, card, SSN and IBAN without separators, an address in lower case;
   an address the set labels in parts is asked for whole).
   Found: its document is among the hits. Baseline: a scan of the raw text for the value as written.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

KEY = b"benchmark-key-not-secret"


def index_cost(docs: int) -> dict:
    from tasks.config import load_config
    from tasks.ingest.sample_data import write_sample
    from tasks.pii.stream import ScrubEngine, scrub_file

    pii = load_config(ROOT / "examples" / "claims.yaml").pii
    with tempfile.TemporaryDirectory() as tmp:
        src = write_sample(Path(tmp) / "claims.jsonl", rows=docs, seed=11)
        times = {}
        # one engine a side: an engine built for the index also computes the hashes, written or not
        with ScrubEngine(pii, KEY, 1, index=False) as plain, ScrubEngine(pii, KEY, 1, index=True) as indexed:
            for engine in (plain, indexed):
                engine.scrub(["warm-up text from Jane Doherty"])
            for rep in range(2):  # alternate, twice each: the machine's drift falls on both sides
                for name, engine, index in (("without", plain, None),
                                            ("with", indexed, Path(tmp) / f"subjects{rep}.parquet")):
                    t = time.perf_counter()
                    scrub_file(src, Path(tmp) / "out.jsonl", "text", pii, KEY, Path(tmp) / "s.jsonl", workers=1,
                               engine=engine, index_path=index)
                    times.setdefault(name, []).append(time.perf_counter() - t)
    best = {k: min(v) for k, v in times.items()}
    return {"docs": docs, "scrub_s_without_index": round(best["without"], 2),
            "scrub_s_with_index": round(best["with"], 2),
            "index_share": round((best["with"] - best["without"]) / best["without"], 4)}


def _value(entity: str, v: int, d: int) -> str:
    """A distinct value per document and type (a phone number shaped like one: its form is its digits)."""
    return f"0770{v} {d:06d}" if entity == "PHONE_NUMBER" else f"{entity} value {v}-{d}"


def find_speed(store_docs: int, versions: int) -> dict:
    """Find and erase on a store of ``store_docs`` documents in ``versions`` datasets."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from tasks.pii.ops import key_fingerprint, subject_hash
    from tasks.pii.subjects import SUBJECT_INDEX, find_in_indexes, subject_hashes
    from tasks.subjects.erased import id_files, rewrite_without

    entities = ["PERSON", "PHONE_NUMBER", "EMAIL_ADDRESS", "UK_POSTCODE", "CLAIM_REFERENCE", "UK_NINO"]
    with tempfile.TemporaryDirectory() as tmp:
        folders, per = [], store_docs // versions
        t_build = time.perf_counter()
        for v in range(versions):
            folder = Path(tmp) / "runs" / f"run-{v:02d}"
            folder.mkdir(parents=True)
            ids, ents, hashes = [], [], []
            for d in range(per):
                for e in entities:
                    ids.append(f"doc-{v}-{d}")
                    ents.append(e)
                    hashes.append(subject_hash(e, _value(e, v, d), KEY))
            table = pa.table({"id": ids, "entity": ents, "hash": hashes})
            table = table.replace_schema_metadata({"tunegate.key": key_fingerprint(KEY)})
            pq.write_table(table, folder / SUBJECT_INDEX)
            docs = [f"doc-{v}-{d}" for d in range(per)]
            pq.write_table(pa.table({"id": docs, "text": [f"Claim note {d}: water damage to the kitchen ceiling "
                                                          f"after a burst pipe. " * 6 for d in range(per)]}),
                           folder / "scrubbed.parquet")
            folders.append(folder)
        build_s = time.perf_counter() - t_build
        subject = [("PERSON", _value("PERSON", 3, 17)), ("PHONE_NUMBER", _value("PHONE_NUMBER", 7, 4))]
        wanted = subject_hashes(subject, KEY)

        finds, scans = [], []
        for _ in range(3):  # alternate, three times each: the page cache and the machine's drift fall on both
            t = time.perf_counter()
            hits = find_in_indexes(folders, wanted, KEY)
            finds.append(time.perf_counter() - t)
            t = time.perf_counter()  # baseline: every row of every index file, compared in Python
            naive = []
            for folder in folders:
                data = pq.read_table(folder / SUBJECT_INDEX).to_pylist()
                naive += [r["id"] for r in data if (r["entity"], r["hash"]) in wanted]
            scans.append(time.perf_counter() - t)
        find_s, scan_s = min(finds), min(scans)
        t = time.perf_counter()  # erase: find, then rewrite the folders that hold the documents
        hits = find_in_indexes(folders, wanted, KEY)
        removed = sum(sum(rewrite_without(h.run_dir, set(h.ids)).values()) for h in hits)
        erase_s = time.perf_counter() - t
        ids = pa.array(sorted({i for h in hits for i in h.ids}))
        t = time.perf_counter()  # baseline: every id-keyed file of the store read, filtered and written again
        for folder in folders:
            for f in id_files(folder):
                table = pq.read_table(f)
                pq.write_table(table.filter(pc.invert(pc.is_in(table["id"], ids))), f)
        all_s = time.perf_counter() - t
    found = sorted(i for h in hits for i in h.ids)
    assert found == sorted(set(naive)) == ["doc-3-17", "doc-7-4"], (found, sorted(set(naive)))
    return {"store_docs": per * versions, "datasets": versions, "index_rows": per * versions * len(entities),
            "build_s": round(build_s, 1), "find_s": round(find_s, 3), "row_scan_s": round(scan_s, 3),
            "ratio": round(scan_s / find_s, 1), "erase_s": round(erase_s, 3), "rewrite_all_s": round(all_s, 3),
            "erase_ratio": round(all_s / erase_s, 1), "erase_rows_removed": removed}


EXTERNAL = ROOT.parent / "shared" / "data" / "pii-external" / "generated_large.json"
# external label -> (tunegate identifier type, how a requester might write the value)
RENDER = {
    "PERSON": ("PERSON", lambda v: "mrs " + v.lower()),
    "PHONE_NUMBER": ("PHONE_NUMBER", lambda v: ("+" if v.strip().startswith("+") else "") + re.sub(r"\D", "", v)),
    "EMAIL_ADDRESS": ("EMAIL_ADDRESS", str.upper),
    "CREDIT_CARD": ("CREDIT_CARD", lambda v: re.sub(r"\D", "", v)),
    "US_SSN": ("US_SSN", lambda v: re.sub(r"\D", "", v)),
    "IBAN_CODE": ("IBAN_CODE", lambda v: re.sub(r"\W", "", v)),
    "ADDRESS": ("STREET_ADDRESS", str.lower),
}


def _requested(record: dict) -> list[tuple[str, str]]:
    """The values a requester would give: each labelled identifier, except that an address the set labels
    in parts (house number, street, suite, postcode as separate spans) is asked for whole, as it is written."""
    text, out, spans = record["full_text"], [], sorted(record.get("spans", []), key=lambda s: s["start_position"])
    address: list[int] | None = None
    for s in spans:
        if s["entity_type"] == "ADDRESS":
            gap = text[address[1]:s["start_position"]] if address else None
            if address and len(gap) <= 4 and not re.search(r"\w", gap):
                address[1] = max(address[1], s["end_position"])
                continue
            if address:
                out.append(("ADDRESS", text[address[0]:address[1]]))
            address = [s["start_position"], s["end_position"]]
        elif s["entity_type"] in RENDER:
            out.append((s["entity_type"], s["entity_value"]))
    if address:
        out.append(("ADDRESS", text[address[0]:address[1]]))
    return out


def external_find(path: Path) -> dict | None:
    """Recall of ``subject find`` per type on external text, against a scan of the raw text."""
    import pyarrow.parquet as pq

    from tasks.config import PiiConfig
    from tasks.pii.stream import scrub_file
    from tasks.pii.subjects import SUBJECT_INDEX, subject_hashes

    if not path.is_file():
        return None
    records = json.loads(path.read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "external.jsonl"
        src.write_text("".join(json.dumps({"id": str(i), "text": r["full_text"]}) + "\n"
                               for i, r in enumerate(records)))
        scrub_file(src, Path(tmp) / "out.jsonl", "text", PiiConfig(), KEY, Path(tmp) / "spans.jsonl",
                   index_path=Path(tmp) / SUBJECT_INDEX)
        index = pq.read_table(Path(tmp) / SUBJECT_INDEX).to_pylist()
    docs_of: dict[tuple[str, str], set[str]] = {}
    for row in index:
        docs_of.setdefault((row["entity"], row["hash"]), set()).add(row["id"])
    out: dict[str, dict] = {}
    asked_docs = found_docs = 0
    for i, r in enumerate(records):
        requested = _requested(r)
        asked_docs += bool(requested)
        found_any = False
        for label, value in requested:
            entity, render = RENDER[label]
            asked = render(value)
            [h] = subject_hashes([(entity, asked)], KEY)
            hits = docs_of.get(h, set())
            m = out.setdefault(label, {"n": 0, "found": 0, "scan": 0, "other_docs": 0})
            m["n"] += 1
            m["found"] += str(i) in hits
            m["scan"] += asked in r["full_text"]
            m["other_docs"] += len(hits - {str(i)})
            found_any |= str(i) in hits
        found_docs += found_any
    total = {k: sum(m[k] for m in out.values()) for k in ("n", "found", "scan", "other_docs")}
    for m in [*out.values(), total]:
        m["recall"], m["scan_recall"] = round(m["found"] / m["n"], 3), round(m["scan"] / m["n"], 3)
    return {"docs": len(records), "by_type": out, "overall": total, "documents_asked": asked_docs,
            "documents_found_by_any": found_docs, "document_recall": round(found_docs / max(asked_docs, 1), 3)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--docs", type=int, default=10_000)
    p.add_argument("--store-docs", type=int, default=100_000)
    p.add_argument("--versions", type=int, default=10)
    p.add_argument("--out", type=Path)
    p.add_argument("--skip-external", action="store_true", help="skip part 4 (the external texts)")
    p.add_argument("--only-external", action="store_true", help="run part 4 alone")
    args = p.parse_args()
    if args.only_external:
        args.docs = args.store_docs = 0
    cost = index_cost(args.docs) if args.docs else None
    if cost:
        print(f"index cost: {cost['docs']} docs scrubbed in one process in {cost['scrub_s_without_index']} s without "
              f"the index, {cost['scrub_s_with_index']} s with it: {cost['index_share']:.1%} (target <= 5%)")
    find = find_speed(args.store_docs, args.versions) if args.store_docs else None
    if find:
        print(f"subject find: {find['store_docs']} docs in {find['datasets']} datasets ({find['index_rows']} index "
              f"rows): {find['find_s']} s; row-by-row scan of the same files {find['row_scan_s']} s "
              f"({find['ratio']}x) (target <= 2 s)")
        print(f"subject erase: {find['erase_rows_removed']} rows removed (find + rewrite of the datasets holding "
              f"them) in {find['erase_s']} s; rewriting every dataset of the store {find['rewrite_all_s']} s "
              f"({find['erase_ratio']}x)")
    external = None if args.skip_external else external_find(EXTERNAL)
    if external is None:
        print(f"subject find on external text: skipped ({EXTERNAL} absent or --skip-external)")
    else:
        o = external["overall"]
        print(f"subject find on external text ({external['docs']} texts, PiiConfig() defaults, values re-written as "
              f"a requester might): found {o['found']}/{o['n']} = {o['recall']:.3f}; raw-text scan for the value "
              f"as written {o['scan_recall']:.3f}")
        print(f"  documents found by any of their identifiers (a request that names all it knows): "
              f"{external['documents_found_by_any']}/{external['documents_asked']} = {external['document_recall']:.3f}")
        for name, m in sorted(external["by_type"].items()):
            print(f"  {name:14} n={m['n']:5}  index {m['recall']:.3f}  scan {m['scan_recall']:.3f}  "
                  f"other documents matched {m['other_docs']}")
    if args.out:
        args.out.write_text(json.dumps({"index_cost": cost, "find": find, "external": external}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
