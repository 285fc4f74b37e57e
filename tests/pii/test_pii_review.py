"""The review list: frequent replaced forms, hashed in the evidence, plain only at the operator's terminal."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tasks.config import PiiConfig
from tasks.pii.ops import subject_hash
from tasks.pii.review import frequent_forms, keep_line, print_review, review_from_index

KEY = b"k" * 32


@pytest.mark.parametrize("docs, min_docs, expected", [
    ([("1", [("PERSON", "a")]), ("2", [("PERSON", "a")])], 2, [("PERSON", "a", 2)]),
    ([("1", [("PERSON", "a")]), ("2", [("PERSON", "a")])], 3, []),                       # fewer: never listed
    ([("1", [("PERSON", "a"), ("PERSON", "a")]), ("2", [])], 2, []),                    # one document, twice
    ([("1", [("PERSON", "a")]), ("2", [("ORG", "a")])], 2, []),                         # types apart
    ([(str(i), [("PERSON", "b")] + ([("PERSON", "a")] if i < 2 else [])) for i in range(3)], 2,
     [("PERSON", "b", 3), ("PERSON", "a", 2)]),                                         # most documents first
])
def test_frequent_forms(docs, min_docs, expected):
    assert [(r["type"], r["form"], r["docs"]) for r in frequent_forms(docs, min_docs)] == expected


def test_review_from_index_lists_hashes_only(tmp_path):
    h, rare = subject_hash("PERSON", "Doppler", KEY), subject_hash("PERSON", "Jane Roe", KEY)
    ids = [str(i) for i in range(3)] + ["0"]
    pq.write_table(pa.table({"id": ids, "entity": ["PERSON"] * 4, "hash": [h, h, h, rare]}), tmp_path / "s.parquet")
    assert review_from_index(tmp_path / "s.parquet", 3) == [{"type": "PERSON", "hash": h, "docs": 3}]
    assert review_from_index(tmp_path / "absent.parquet", 3) == []


def test_print_review_shows_plain_forms_with_the_evidence_hash(tmp_path):
    texts = ["Duplex Doppler was done.", "doppler again", "Doppler and Jane Roe", "nothing here"]
    spans = [[(7, 14)], [(0, 7)], [(0, 7), (12, 20)], []]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(texts)))
    (tmp_path / "out.jsonl.spans.jsonl").write_text("".join(
        json.dumps({"id": i, "spans": [{"start": a, "end": b, "type": "PERSON"} for a, b in s]}) + "\n"
        for i, s in enumerate(spans)))
    lines: list[str] = []
    items = print_review(tmp_path / "in.jsonl", tmp_path / "out.jsonl.spans.jsonl", "text",
                         PiiConfig(review_min_docs=3), KEY, out=lines.append)
    assert [(r["form"], r["docs"]) for r in items] == [("doppler", 3)]
    body = "\n".join(lines)
    assert '- "Doppler"' in body and subject_hash("PERSON", "Doppler", KEY) in body
    assert "Jane" not in body  # seen in one document: never shown


def test_keep_line_is_yaml():
    import yaml

    assert yaml.safe_load("literals:\n" + keep_line('Mr. "Cooper"')) == {"literals": ['Mr. "Cooper"']}
