"""The classification head on the mean of the tokens (tasks/train/pooling.py): chosen from the base model's
own sentence-transformers pooling, trained, saved, loaded and scored the same way batched or alone."""

import json
import os
from pathlib import Path

import pytest
import torch

from tasks.config import TrainConfig
from tasks.predict.classify import load_model, predict_texts
from tasks.train.base_model import default_base_model
from tasks.train.launch import recipe_config
from tasks.train.pooling import HEAD_FILE, MeanPoolClassifier, base_pooling, new_classifier
from tasks.train.recipe import main as recipe_main
from tests.conftest import torch_threads
from tests.tiny_models import tiny_bert, toy_split

TEXTS = ["wind took the roof tiles", "car", "smoke and flames in the kitchen after a pan fire on arrival", "stolen"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    torch.set_num_threads(torch_threads())
    d = tmp_path_factory.mktemp("pool")
    split = toy_split(d)
    return {"plain": tiny_bert(d / "plain"), "mean": tiny_bert(d / "mean", sentence_pooling="mean"),
            "cls": tiny_bert(d / "cls", sentence_pooling="cls"), "split": split}


def _run(tmp_path, split, **train) -> Path:
    os.environ.pop("RANK", None)
    cfg = recipe_config(TrainConfig(**{"max_length": 64, "batch_size": 16, "nproc_per_node": 1,
                                       "learning_rate": 5e-3, "checkpoint_every": 1000, **train}),
                        split, tmp_path / "work")
    (tmp_path / "run.json").write_text(json.dumps(cfg))
    recipe_main(["--config", str(tmp_path / "run.json")])
    return tmp_path / "work" / "stage"


@pytest.mark.parametrize("name, expected", [("plain", "cls"), ("mean", "mean"), ("cls", "cls")])
def test_pooling_follows_the_base_models_own_sentence_pooling(tiny, name, expected):
    assert base_pooling(tiny[name]) == expected


def test_the_packaged_minilm_pools_by_the_mean():
    assert base_pooling(default_base_model()) == "mean"


def test_mean_pooling_ignores_padding(tiny):
    torch.manual_seed(0)
    model = new_classifier(tiny["mean"], 4).eval()
    ids = torch.tensor([[2, 40, 41, 42, 3]])
    padded = torch.cat([ids, torch.zeros((1, 7), dtype=torch.long)], dim=1)
    mask = (padded != 0).long()
    alone = model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits
    assert torch.allclose(model(input_ids=padded, attention_mask=mask).logits, alone, atol=1e-5)
    # without the mask the padding would count: the test above can fail
    assert not torch.allclose(model(input_ids=padded, attention_mask=torch.ones_like(padded)).logits, alone,
                              atol=1e-3)
    assert model.encoder.pooler is None  # no idle weights for DDP to wait on


# LoRA on a random tiny encoder barely learns either way (its features carry nothing); a full fine-tune does.
@pytest.mark.slow  # trains a classifier twice (26 s + 5 s on an idle 2-core machine)
@pytest.mark.parametrize("method, epochs, min_accuracy", [("lora", 4, 0.0), ("full", 20, 0.9)])
def test_a_mean_pooled_classifier_learns_and_loads_as_trained(tmp_path, tiny, method, epochs, min_accuracy):
    out = _run(tmp_path, tiny["split"], base_model=str(tiny["mean"]), method=method, epochs=epochs,
               learning_rate=5e-3 if method == "lora" else 2e-3)
    cfg = json.loads((out / "train_config.json").read_text())
    assert cfg["pooling"] == "mean"  # resolved from auto, and recorded for the card
    assert json.loads((out / "metrics.json").read_text())["auto"]["pooling"] == {"chosen": "mean"}
    if method == "full":
        assert (out / "adapter" / HEAD_FILE).is_file()
    else:
        assert json.loads((out / "adapter/adapter_config.json").read_text())["modules_to_save"] == ["classifier"]
    m = json.loads((out / "metrics.json").read_text())
    assert m["val_accuracy"] >= min_accuracy  # chance is 0.25
    model = load_model(out)
    assert isinstance(model.model, MeanPoolClassifier)
    import pandas as pd

    val = pd.read_parquet(tiny["split"].val.uri)
    preds = predict_texts(model, val["text"].tolist(), batch_size=7)
    # the loaded model is the one training validated: the same accuracy, to a borderline row or so
    assert abs(float((pd.Series(preds.labels) == val["label"]).mean()) - m["val_accuracy"]) <= 2 / len(val)
    one_by_one = [predict_texts(model, [t]).probs[0] for t in TEXTS]
    batched = predict_texts(model, TEXTS, batch_size=4, embed=True)
    assert all(torch.allclose(torch.tensor(p), torch.tensor(q), atol=1e-4) for p, q in zip(batched.probs, one_by_one))
    assert batched.embeddings.shape == (4, 32)


def test_cls_pooling_when_asked_keeps_transformers_head(tmp_path, tiny):
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification

    out = _run(tmp_path, tiny["split"], base_model=str(tiny["mean"]), pooling="cls", max_steps=3)
    assert json.loads((out / "train_config.json").read_text())["pooling"] == "cls"
    base = AutoModelForSequenceClassification.from_pretrained(tiny["mean"], num_labels=4)
    PeftModel.from_pretrained(base, out / "adapter")
    assert not isinstance(load_model(out).model, MeanPoolClassifier)
