"""Tokenizing for training and scoring: chunked into a compact ragged array, head or head-and-tail cuts."""

import numpy as np
import pytest

from tasks.train import data as td


@pytest.fixture(scope="module")
def tok():
    from transformers import AutoTokenizer

    from tasks.monitor.descriptors import minilm_path

    return AutoTokenizer.from_pretrained(minilm_path(), local_files_only=True)


TEXTS = [f"claim {i}: " + " ".join(["water damage to the kitchen ceiling"] * (i * 3)) for i in range(11)]


def test_chunked_encoding_equals_the_tokenizer_and_stores_four_bytes_a_token(tok, monkeypatch):
    monkeypatch.setattr(td, "ENCODE_CHUNK", 3)  # chunk boundaries inside the list
    enc = td.encode_texts(tok, TEXTS, 64)
    expected = tok(TEXTS, truncation=True, max_length=64)["input_ids"]
    assert len(enc) == len(TEXTS) and [r.tolist() for r in enc] == expected
    assert enc[4].tolist() == expected[4] and max(len(r) for r in enc) == 64
    assert enc.flat.dtype == np.int32 and enc.flat.nbytes == 4 * sum(map(len, expected))
    assert len(td.encode_texts(tok, [], 64)) == 0


def test_head_tail_keeps_the_start_and_the_end_of_a_long_text(tok, monkeypatch):
    monkeypatch.setattr(td, "ENCODE_CHUNK", 4)
    long_text = "alpha " * 100 + "omega"
    short = "a short note"
    enc = td.encode_texts(tok, [short, long_text], 32, "head_tail")
    bare = tok(long_text, add_special_tokens=False)["input_ids"]
    cls, sep = tok.cls_token_id, tok.sep_token_id
    assert enc[0].tolist() == tok(short)["input_ids"]  # short texts are not cut
    row = enc[1].tolist()
    budget = 32 - 2
    head = int(budget * td.HEAD_SHARE)
    assert len(row) == 32 and row[0] == cls and row[-1] == sep
    assert row[1:1 + head] == bare[:head] and row[1 + head:-1] == bare[len(bare) - (budget - head):]
    assert row[-2] == tok.convert_tokens_to_ids("omega")  # the end survives, where head would drop it
    assert td.encode_texts(tok, [long_text], 32)[0].tolist()[-2] != row[-2]
