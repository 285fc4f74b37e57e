"""The prediction log: embeddings from the scoring pass, the store's batch key, and the monitor's reuse of it."""

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch

from tasks.errors import InputError
from tasks.predict.store import append_predictions, find_logged, logged_meta, prediction_rows, read_embeddings


def _rows(ids, version=3):
    docs = pd.DataFrame({"id": ids, "text": [f"note {i}" for i in ids]})
    preds = pd.DataFrame({"id": ids, "prediction": ["storm"] * len(ids), "confidence": [0.9] * len(ids),
                          "model_version": [version] * len(ids)})
    return prediction_rows(docs, preds, datetime.now(UTC))


def test_embeddings_and_the_batch_key_round_trip_through_the_store(tmp_path):
    emb = np.random.default_rng(0).normal(size=(4, 8)).astype(np.float32)
    path = append_predictions(_rows(list("abcd")), tmp_path, "predict-1", embeddings=emb, batch_sha256="k1",
                              complete=True)
    back = read_embeddings(pq.read_table(path))
    assert back.shape == (4, 8) and np.allclose(back, emb, atol=2e-3)  # float16 on disk
    assert logged_meta(path) == {"batch_sha256": "k1", "model_version": 3, "complete": True}
    with pytest.raises(InputError, match="3 embeddings for 4 rows"):
        append_predictions(_rows(list("abcd")), tmp_path, "predict-2", embeddings=emb[:3], batch_sha256="k1")


def test_find_logged_matches_batch_and_version_and_prefers_a_complete_log(tmp_path):
    emb = np.ones((3, 4), dtype=np.float32)
    day = datetime(2026, 11, 1, tzinfo=UTC)
    full = append_predictions(_rows(list("abc")), tmp_path, "predict-1", day, emb, "k1", complete=True)
    append_predictions(_rows(list("ab") + ["z"]), tmp_path, "monitor-2", day + timedelta(days=1), emb, "k1",
                       complete=False)  # newer, but a sample
    append_predictions(_rows(list("abc"), version=4), tmp_path, "predict-3", day, emb, "k2")
    append_predictions(_rows(list("abc")), tmp_path, "old-4", day, None, "k3")  # no embeddings: not reusable
    assert find_logged(tmp_path, "k1", 3) == full
    assert find_logged(tmp_path, "k1", 4) is None and find_logged(tmp_path, "k2", 3) is None
    assert find_logged(tmp_path, "k2", 4).name == "predict-3.parquet"
    assert find_logged(tmp_path, "k3", 3) is None and find_logged(tmp_path / "none", "k1", 3) is None


def test_erasing_a_document_from_the_store_removes_its_embedding_with_it(tmp_path):
    from tasks.subjects.erased import rewrite_without

    emb = np.arange(12, dtype=np.float32).reshape(4, 3)
    path = append_predictions(_rows(list("abcd")), tmp_path, "predict-1", embeddings=emb, batch_sha256="k1")
    assert rewrite_without(path.parent, {"b"}, files=[path]) == {path.name: 1}
    table = pq.read_table(path)
    assert table["id"].to_pylist() == ["a", "c", "d"]
    assert read_embeddings(table).tolist() == emb[[0, 2, 3]].tolist()
    assert logged_meta(path)["batch_sha256"] == "k1"


def test_the_batch_digest_covers_ids_and_texts_only(tmp_path):
    from tasks.datasets import content_sha256

    base = pd.DataFrame({"id": ["1", "2"], "text": ["a note", "another"]})
    base.to_parquet(tmp_path / "plain.parquet")
    base.assign(label=["x", "y"]).to_parquet(tmp_path / "labelled.parquet")
    base.assign(text=["a note", "another!"]).to_parquet(tmp_path / "edited.parquet")
    digest = content_sha256(tmp_path / "plain.parquet")
    assert content_sha256(tmp_path / "labelled.parquet") == digest
    assert content_sha256(tmp_path / "edited.parquet") != digest


def test_embeddings_come_from_the_scoring_pass_and_ignore_padding_and_order(tmp_path):
    """Batched, length-sorted scoring gives each text the mean of its own last hidden states (unit length),
    the same as scoring it alone through the encoder, and embedding changes no prediction."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from tasks.predict.classify import LoadedModel, predict_texts
    from tests.tiny_models import tiny_bert

    folder = tiny_bert(tmp_path / "bert")
    tok = AutoTokenizer.from_pretrained(folder)
    net = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=3).eval()
    model = LoadedModel(net, tok, ["a", "b", "c"], "classification", 64, torch.device("cpu"))
    texts = ["roof tiles lost in the storm last night and water came in", "smoke", "a stolen bicycle",
             "the kitchen fire spread to the hall"]
    with_emb = predict_texts(model, texts, batch_size=3, embed=True)
    assert predict_texts(model, texts, batch_size=3).embeddings is None
    assert np.allclose(with_emb.probs, predict_texts(model, texts, batch_size=3).probs, atol=1e-6)
    assert with_emb.embeddings.shape == (4, 32)
    assert np.allclose(np.linalg.norm(with_emb.embeddings, axis=1), 1.0, atol=1e-5)
    with torch.inference_mode():
        for text, got in zip(texts, with_emb.embeddings, strict=True):
            enc = tok(text, truncation=True, max_length=64, return_tensors="pt")
            alone = net.bert(**enc).last_hidden_state.mean(dim=1)[0]
            assert np.allclose(got, torch.nn.functional.normalize(alone, dim=0).numpy(), atol=1e-4)
