"""The review list: surface forms replaced in many documents, for an operator to confirm or keep.

A form replaced in at least ``pii.review_min_docs`` distinct documents is rarely one person's identifier
and often a domain term the scrubber took for one ("Doppler", a firm, a product). It may still be a
person's (a claims handler named in every note, a common surname), so the form itself never leaves the
scrubbing stage:

- the run's evidence (``pii_evidence.json``, the Prefect artifact, MLflow) lists each frequent form by its
  type, the number of documents and its keyed hash, the same HMAC the subject index stores
  (``tasks.pii.ops.subject_hash``): nothing anyone without the pseudonymisation key can read or match;
- ``tunegate scrub --input RAW --output OUT --review`` prints the plain forms to the operator's terminal,
  read from the raw input the operator already holds, each with its hash (to match the evidence) and the
  one line that adds it to ``pii.keep.literals``. Nothing of it is written to a file.

Forms seen in fewer documents are never listed, hashed or plain.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path


def frequent_forms(docs: Iterable[tuple[str, Iterable[tuple[str, str]]]], min_docs: int) -> list[dict]:
    """[{type, form, docs}] for each (entity type, form) found in at least ``min_docs`` distinct documents,
    most documents first. ``docs``: (document id, [(entity type, form), ...]) per document; a form is a
    keyed hash in the evidence and the plain text only at the operator's terminal."""
    seen: dict[tuple[str, str], set[str]] = {}
    for doc_id, forms in docs:
        for entity, form in forms:
            seen.setdefault((entity, form), set()).add(doc_id)
    counts = Counter({k: len(v) for k, v in seen.items() if len(v) >= min_docs})
    return [{"type": t, "form": f, "docs": n} for (t, f), n in sorted(counts.items(), key=lambda x: (-x[1], x[0]))]


def review_from_index(index_path: Path, min_docs: int) -> list[dict]:
    """The evidence's review list from a subject index (id, entity, keyed hash): [{type, hash, docs}]."""
    import pyarrow.parquet as pq

    if not Path(index_path).is_file():
        return []
    t = pq.read_table(index_path, columns=["id", "entity", "hash"]).to_pydict()
    rows = frequent_forms(((i, [(e, h)]) for i, e, h in zip(t["id"], t["entity"], t["hash"])), min_docs)
    return [{"type": r["type"], "hash": r["form"], "docs": r["docs"]} for r in rows]


def keep_line(form: str) -> str:
    """The line that adds ``form`` to ``pii.keep.literals`` in a pipeline YAML (a JSON string is valid YAML)."""
    return f"    - {json.dumps(form, ensure_ascii=False)}"


def print_review(src: Path, spans_path: Path, column: str, pii, key: bytes | None, out=print) -> list[dict]:
    """Print the review list of a scrub (``src`` the raw input, ``spans_path`` the spans file the scrub
    wrote beside its output): each frequent form with its type, document count, the keyed hash the run's
    evidence lists it under (with a key) and the line that keeps it. Returns the rows printed."""
    from tasks.pii.files import file_format, read_windows
    from tasks.pii.ops import normalise, subject_hash

    with open(spans_path, encoding="utf-8") as f:
        spans = [[(s["start"], s["end"], s["type"]) for s in json.loads(line).get("spans", [])] for line in f]
    rows, plain, n = [], {}, 0
    for _, texts, _ids in read_windows(src, file_format(src), column, "id"):
        for text in texts:
            forms = []
            for a, b, t in (spans[n] if n < len(spans) and text else []):
                # Counted by the normalised form the evidence hashes ("Doppler" and "doppler" are one),
                # shown as first written.
                forms.append((t, normalise(t, text[a:b])))
                plain.setdefault(forms[-1], text[a:b])
            rows.append((str(n), forms))  # one row per input row, in order (ids may repeat)
            n += 1
    items = frequent_forms(rows, pii.review_min_docs)
    out(f"review list: {len(items)} forms replaced in >= {pii.review_min_docs} documents (pii.review_min_docs); "
        "shown here only, never written. To keep a domain term, add its line under pii.keep.literals.")
    for r in items:
        h = f"  hash {subject_hash(r['type'], plain[r['type'], r['form']], key)}" if key else ""
        out(f"{r['docs']:>7} docs  {r['type']:<24}{keep_line(plain[r['type'], r['form']])}{h}")
    return items
