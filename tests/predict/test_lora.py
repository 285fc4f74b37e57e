"""Folding a LoRA adapter in without PEFT gives PEFT's merged weights and outputs; anything else goes to PEFT."""

from __future__ import annotations

import json

import pytest
import torch

from tasks.config import TrainConfig
from tasks.predict.lora import merge_lora
from tests.tiny_models import tiny_bert


def _adapter(tmp_path, pooling: str):
    """A tiny classifier wrapped for LoRA by training's own code, its zero-initialised B matrices and head made
    random (as after training), saved as the recipe saves it."""
    from transformers import AutoTokenizer

    from tasks.train.model import build_model

    bert = tiny_bert(tmp_path / "bert")
    tok = AutoTokenizer.from_pretrained(bert, local_files_only=True)
    t = TrainConfig(base_model=str(bert), pooling=pooling, lora={"r": 4, "alpha": 8})
    torch.manual_seed(0)
    peft_model, _ = build_model(t, str(bert), ["a", "b", "c"], tok, torch.device("cpu"))
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if p.requires_grad:
                p.copy_(torch.randn_like(p) * 0.1)
    peft_model.save_pretrained(tmp_path / "adapter")
    return peft_model, tok, tmp_path / "adapter"


def _fresh_base(bert_dir, pooling: str):
    from transformers import AutoModelForSequenceClassification

    from tasks.train.pooling import new_classifier

    torch.manual_seed(1)  # a head initialised differently from the trained one: the merge must replace it
    if pooling == "mean":
        return new_classifier(str(bert_dir), 3)
    return AutoModelForSequenceClassification.from_pretrained(bert_dir, num_labels=3, local_files_only=True)


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_the_merge_equals_peft_merge_and_unload(tmp_path, pooling):
    from peft import PeftModel

    _, tok, adapter = _adapter(tmp_path, pooling)
    ours = merge_lora(_fresh_base(tmp_path / "bert", pooling), adapter)
    assert ours is not None
    theirs = PeftModel.from_pretrained(_fresh_base(tmp_path / "bert", pooling), adapter).merge_and_unload()
    mine, peft = ours.state_dict(), theirs.state_dict()
    assert set(mine) == set(peft)
    changed = 0
    for k in mine:
        assert torch.allclose(mine[k], peft[k], atol=1e-6), k
        changed += not torch.equal(mine[k], _fresh_base(tmp_path / "bert", pooling).state_dict()[k])
    assert changed >= 4  # the merge moved weights (query/key/value/dense of each layer and the head)
    batch = tok(["wind took the roof", "a stolen car in the night"], return_tensors="pt", padding=True)
    ours.eval(), theirs.eval()
    with torch.no_grad():
        a, b = ours(**batch).logits, theirs(**batch).logits
    assert torch.allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("change", [{"use_dora": True}, {"use_rslora": True}, {"rank_pattern": {"query": 2}},
                                    {"fan_in_fan_out": True}, {"peft_type": "IA3"},
                                    {"alora_invocation_tokens": [5, 6]}])
def test_an_adapter_it_cannot_merge_exactly_is_left_to_peft_untouched(tmp_path, change):
    _, _, adapter = _adapter(tmp_path, "mean")
    cfg = json.loads((adapter / "adapter_config.json").read_text())
    (adapter / "adapter_config.json").write_text(json.dumps({**cfg, **change}))
    base = _fresh_base(tmp_path / "bert", "mean")
    before = {k: v.clone() for k, v in base.state_dict().items()}
    assert merge_lora(base, adapter) is None
    assert all(torch.equal(before[k], v) for k, v in base.state_dict().items())


def test_a_key_it_cannot_place_leaves_the_model_untouched(tmp_path):
    from safetensors.torch import load_file, save_file

    _, _, adapter = _adapter(tmp_path, "mean")
    weights = load_file(str(adapter / "adapter_model.safetensors"))
    weights["base_model.model.encoder.embeddings.word_embeddings.lora_embedding_A"] = torch.zeros(4, 8)
    save_file(weights, str(adapter / "adapter_model.safetensors"))
    base = _fresh_base(tmp_path / "bert", "mean")
    before = {k: v.clone() for k, v in base.state_dict().items()}
    assert merge_lora(base, adapter) is None
    assert all(torch.equal(before[k], v) for k, v in base.state_dict().items())
