"""The recipe run in-process (RANK unset, nanoGPT-style) on tiny models, and its data/checkpoint helpers."""

import hashlib
import json
import os
from pathlib import Path

import pytest
import torch

from tasks.config import TrainConfig
from tasks.errors import ConfigError
from tasks.refs import DatasetRef
from tasks.train import data as td
from tasks.train.checkpoint import MARKER, complete_checkpoints, load_latest, save_checkpoint
from tasks.train.launch import recipe_config
from tasks.train.recipe import main as recipe_main
from tasks.train.split import write_split
from tests.conftest import torch_threads
from tests.tiny_models import tiny_bert, tiny_llama, toy_claims, toy_split


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    torch.set_num_threads(torch_threads())
    d = tmp_path_factory.mktemp("tiny")
    split = toy_split(d)
    return {"bert": tiny_bert(d / "bert"), "llama": tiny_llama(d / "llama"), "split": split}


def _run(tmp_path, split, **train) -> Path:
    """Run the recipe in this process and return its staging folder."""
    os.environ.pop("RANK", None)
    cfg = recipe_config(TrainConfig(**{"max_length": 64, "batch_size": 16, "nproc_per_node": 1, **train}),
                        split, tmp_path / "work")
    (tmp_path / "run.json").write_text(json.dumps(cfg))
    recipe_main(["--config", str(tmp_path / "run.json")])
    return tmp_path / "work" / "stage"


@pytest.mark.slow  # trains a model
def test_classification_lora_outputs(tmp_path, tiny):
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification

    out = _run(tmp_path, tiny["split"], base_model=str(tiny["bert"]), max_steps=6, checkpoint_every=3)
    for name in ("adapter/adapter_config.json", "adapter/adapter_model.safetensors", "tokenizer/tokenizer.json",
                 "label_map.json", "train_config.json", "metrics.json", "manifest.json"):
        assert (out / name).is_file(), name
    manifest = json.loads((out / "manifest.json").read_text())["files"]
    assert manifest["metrics.json"] == hashlib.sha256((out / "metrics.json").read_bytes()).hexdigest()
    assert "adapter/adapter_model.safetensors" in manifest
    labels = json.loads((out / "label_map.json").read_text())["labels"]
    assert labels == ["fire", "motor", "storm", "theft"]
    assert "classifier" in json.loads((out / "adapter/adapter_config.json").read_text())["modules_to_save"]
    m = json.loads((out / "metrics.json").read_text())
    assert m["steps"] == 6 and len(m["loss_curve"]) == 6 and m["tokens_per_s"] > 0 and m["peak_memory_mb"] > 0
    assert 0 <= m["val_accuracy"] <= 1 and m["resumed_from_step"] is None
    base = AutoModelForSequenceClassification.from_pretrained(tiny["bert"], num_labels=4)
    PeftModel.from_pretrained(base, out / "adapter")  # standard PEFT format
    assert len(complete_checkpoints(tmp_path / "work" / "checkpoints")) == 1  # step 3 (6 is the end)


@pytest.mark.slow
def test_full_finetune_learns(tmp_path, tiny):
    # A random tiny BERT has no [CLS] meaning to start from: on its [CLS] head, full fine-tuning at 2e-3 for
    # 12 epochs ended at 0.47-1.00 over seeds 0-15 (six at 0.50 or less; CI's machine drew 0.50). On the
    # mean of its tokens, 18 epochs reached 1.00 with every seed 0-15 (1 and 2 threads; 12: 0.61-1.00).
    out = _run(tmp_path, tiny["split"], base_model=str(tiny["bert"]), method="full", epochs=18,
               learning_rate=2e-3, pooling="mean", checkpoint_every=1000)
    m = json.loads((out / "metrics.json").read_text())
    assert m["loss_curve"][-1]["loss"] < m["loss_curve"][0]["loss"]
    assert m["val_accuracy"] >= 0.6  # chance is 0.25


@pytest.mark.slow  # trains a model
def test_causal_lm_sft_with_packing(tmp_path, tiny):
    out = _run(tmp_path, tiny["split"], base_model=str(tiny["llama"]), task="causal_lm", max_length=128,
               batch_size=4, epochs=3, learning_rate=1e-2, checkpoint_every=1000)
    m = json.loads((out / "metrics.json").read_text())
    assert m["loss_curve"][-1]["loss"] < m["loss_curve"][0]["loss"] and "val_loss" in m
    cfg = json.loads((out / "adapter/adapter_config.json").read_text())
    assert set(cfg["target_modules"]) >= {"q_proj", "v_proj"} and cfg["task_type"] == "CAUSAL_LM"


def test_sft_loss_only_on_response(tiny):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny["llama"])
    enc = td.encode_sft(tok, ["stolen car", "smoke"], ["theft claim", "fire claim"], 64)
    for ids, labels in zip(enc.ids, enc.targets):
        answer = [x for x in labels if x != td.IGNORE]
        assert answer[-1] == tok.eos_token_id and ids[-len(answer):] == answer
        assert labels[: len(ids) - len(answer)] == [td.IGNORE] * (len(ids) - len(answer))
    packed = td.pack(enc, 64)
    assert len(packed.ids) == 1 and packed.ids[0] == enc.ids[0] + enc.ids[1]
    # a document longer than max_length is cut before the response marker, which the model always sees
    marker = tok(td.PROMPT_SUFFIX, add_special_tokens=False)["input_ids"]
    long = td.encode_sft(tok, ["the insured reported smoke damage " * 40], ["fire claim"], 48)
    ids, labels = long.ids[0], long.targets[0]
    answer = [x for x in labels if x != td.IGNORE]
    assert len(ids) == 48 and ids[-len(answer) - len(marker):-len(answer)] == marker


def test_length_grouped_batches_cover_rows_once_and_pad_less():
    lengths = [int(x) for x in torch.randint(5, 250, (1000,), generator=torch.Generator().manual_seed(0))]
    ranks = [td.epoch_batches(lengths, 16, seed=3, epoch=0, world=2, rank=r) for r in (0, 1)]
    rows = [i for batches in ranks for b in batches for i in b]
    assert len(rows) == len(set(rows)) and len(ranks[0]) == len(ranks[1]) == td.batches_per_epoch(1000, 16, 2)
    padded = sum(len(b) * max(lengths[i] for i in b) for bs in ranks for b in bs)
    naive = sum(16 * max(lengths[i] for i in range(s, s + 16)) for s in range(0, 992, 16))
    assert padded < 0.75 * naive
    assert td.epoch_batches(lengths, 16, 3, 1, 1, 0) != td.epoch_batches(lengths, 16, 3, 0, 1, 0)


def test_length_group_trades_padding_for_randomness():
    lengths = [int(x) for x in torch.randint(5, 250, (2048,), generator=torch.Generator().manual_seed(1))]

    def padded(group):
        batches = td.epoch_batches(lengths, 8, seed=3, epoch=0, world=1, rank=0, group=group)
        assert sorted(i for b in batches for i in b) == list(range(2048))
        return sum(len(b) * max(lengths[i] for i in b) for b in batches)

    # group 1 is plain random batches; each wider window pads less
    assert padded(64) < padded(8) < padded(1)
    assert padded(1) > 1.3 * padded(8)
    # the stream the recipe trains on uses the window it is given (the recipe passes train.length_group)
    stream = td.micro_batches(td.Encoded([[1] * n for n in lengths], [0] * 2048), 8, 3, 1, 0, skip=0, group=2)
    first = [next(stream) for _ in range(5)]
    assert first == td.epoch_batches(lengths, 8, 3, 0, 1, 0, group=2)[:5]
    assert first != td.epoch_batches(lengths, 8, 3, 0, 1, 0)[:5]
    assert TrainConfig().length_group == td.LENGTH_GROUP  # the config's default is the data module's


def test_micro_batches_resume_at_position():
    enc = td.Encoded([[1] * (i % 7 + 1) for i in range(50)], [0] * 50)
    full = td.micro_batches(enc, 8, seed=1, world=1, rank=0, skip=0)
    first = [next(full) for _ in range(10)]  # crosses an epoch boundary (6 batches per epoch)
    resumed = td.micro_batches(enc, 8, seed=1, world=1, rank=0, skip=7)
    assert [next(resumed) for _ in range(3)] == first[7:10]


def _toy_training():
    model = torch.nn.Linear(4, 2)
    model.bias.requires_grad_(False)
    opt = torch.optim.AdamW([model.weight], lr=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    model(torch.ones(1, 4)).sum().backward()
    opt.step()
    sched.step()
    return model, opt, sched


def test_torn_checkpoint_is_skipped(tmp_path):
    model, opt, sched = _toy_training()
    save_checkpoint(tmp_path, 2, model, opt, sched, {"history": [1]})
    good = model.weight.detach().clone()
    with torch.no_grad():
        model.weight.add_(1.0)
    save_checkpoint(tmp_path, 4, model, opt, sched, {"history": [1, 2]})
    (tmp_path / "step-0000004" / MARKER).unlink()  # torn: crashed before the marker
    (tmp_path / ".tmp-step-0000006").mkdir()  # torn: crashed mid-write
    fresh, opt2, sched2 = _toy_training()
    meta = load_latest(tmp_path, fresh, opt2, sched2)
    assert meta["step"] == 2 and torch.equal(fresh.weight, good)
    assert set(load_file_keys(tmp_path)) == {"weight"}  # trainable parameters only


def load_file_keys(folder):
    from safetensors.torch import load_file

    return load_file(str(folder / "step-0000002" / "model.safetensors")).keys()


def test_damaged_complete_checkpoint_falls_back(tmp_path):
    model, opt, sched = _toy_training()
    save_checkpoint(tmp_path, 2, model, opt, sched, {})
    save_checkpoint(tmp_path, 4, model, opt, sched, {})
    (tmp_path / "step-0000004" / "state.pt").write_bytes(b"truncated")
    meta = load_latest(tmp_path, *_toy_training())
    assert meta["step"] == 2


def test_only_newest_checkpoints_are_kept(tmp_path):
    model, opt, sched = _toy_training()
    for step in (1, 2, 3):
        save_checkpoint(tmp_path, step, model, opt, sched, {}, keep=2)
    assert [p.name for p in complete_checkpoints(tmp_path)] == ["step-0000003", "step-0000002"]


def test_missing_base_model_is_a_config_error(tmp_path, tiny):
    with pytest.raises(ConfigError, match="not a local model folder"):
        recipe_config(TrainConfig(base_model=str(tmp_path / "nope")), tiny["split"], tmp_path)


@pytest.mark.slow
def test_packaged_minilm_few_steps(tmp_path, tiny):
    from tasks.predict.classify import load_model, predict_texts

    out = _run(tmp_path, tiny["split"], base_model=None, max_steps=4, batch_size=8, checkpoint_every=1000)
    cfg = json.loads((out / "train_config.json").read_text())
    assert cfg["model_type"] == "bert" and Path(cfg["base_model"], "model.safetensors").is_file()
    model = load_model(out)
    texts = ["stolen bicycle from the garage overnight", "smoke", "roof tiles lost in the wind storm"]
    preds = predict_texts(model, texts, batch_size=2)
    one_by_one = [predict_texts(model, [t]).probs[0] for t in texts]
    assert preds.probs.shape == (3, 4) and preds.label_names == ["fire", "motor", "storm", "theft"]
    assert all(torch.allclose(torch.tensor(p), torch.tensor(q), atol=1e-4) for p, q in zip(preds.probs, one_by_one))


def test_precision_auto_is_bf16_only_where_the_hardware_has_it(monkeypatch):
    from tasks.train import devices

    cpu = torch.device("cpu")
    assert devices.autocast_dtype("fp32", cpu) is None and devices.autocast_dtype("bf16", cpu) is torch.bfloat16
    assert devices.autocast_dtype("fp16", cpu) is torch.float16
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: False)
    assert devices.autocast_dtype("auto", cpu) is None  # emulated bf16 is slower than fp32
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: True)
    assert devices.autocast_dtype("auto", cpu) is torch.bfloat16


def test_batches_pad_to_a_multiple_of_16_within_the_limit():
    assert [td.padded_width(n) for n in (1, 16, 17, 250)] == [16, 16, 32, 256]
    assert td.padded_width(45, limit=48) == 48 and td.padded_width(50, limit=50) == 50
    enc = td.Encoded(ids=[[5] * 20, [6] * 3], targets=[0, 1])
    batch = td.collate(enc, [0, 1], pad_id=0, task="classification")
    assert batch["input_ids"].shape == (2, 32) and int(batch["attention_mask"].sum()) == 23


def test_balanced_class_weights_average_one_over_the_rows():
    from tasks.train.model import balanced_weights

    w = balanced_weights([0, 0, 0, 1], 2)
    assert torch.allclose(w, torch.tensor([4 / 6, 4 / 2]))
    assert float((w[torch.tensor([0, 0, 0, 1])]).mean()) == pytest.approx(1.0)
    assert balanced_weights([0, 1], 3)[2] == 1.0  # a class with no training rows is not divided by zero


@pytest.mark.parametrize("setting, rows, weighted", [
    ("auto", [0] * 50 + [1] * 10 + [2] * 10, False),  # 5x: at the line, not beyond it
    ("auto", [0] * 51 + [1] * 10 + [2] * 10, True),   # beyond 5x: balanced
    ("auto", [0] * 30 + [1] * 10, False),             # the sample corpus is about 3x
    ("auto", [0] * 40, False),                        # one class: nothing to balance
    ("none", [0] * 500 + [1], False),
    ("balanced", [0] * 10 + [1] * 10, True),
])
def test_class_weights_auto_balances_only_clearly_imbalanced_rows(setting, rows, weighted):
    from tasks.train.model import balanced_weights, loss_weights

    w = loss_weights(setting, rows, 3)
    assert (w is not None) is weighted
    if weighted:
        assert torch.equal(w, balanced_weights(rows, 3))


def test_weighted_loss_counts_minority_mistakes_more():
    from tasks.train.model import forward_loss

    class Fixed(torch.nn.Module):  # logits that favour class 0 for every row
        def forward(self, input_ids, attention_mask):
            return type("Out", (), {"logits": torch.tensor([[2.0, 0.0]]).repeat(len(input_ids), 1)})()

    batch = {"input_ids": torch.zeros(4, 3, dtype=torch.long), "attention_mask": torch.ones(4, 3),
             "labels": torch.tensor([0, 0, 0, 1])}
    plain, n, _ = forward_loss(Fixed(), batch, "classification", None)
    weighted, n_w, _ = forward_loss(Fixed(), batch, "classification", None, torch.tensor([4 / 6, 2.0]))
    assert n == n_w == 4 and float(weighted) > float(plain)  # the one minority row is the costly mistake


@pytest.mark.slow  # trains a model
def test_recipe_trains_with_balanced_class_weights_on_imbalanced_rows(tmp_path):
    import pandas as pd

    df = toy_claims(240)  # 60 rows per class
    keep = {"fire": 60, "motor": 30, "storm": 15, "theft": 15}
    df = pd.concat([df[df.label == k].head(n) for k, n in keep.items()])
    df.to_parquet(tmp_path / "ds.parquet")
    split = write_split(DatasetRef(uri=str(tmp_path / "ds.parquet"), sha256="s", rows=len(df), columns={}),
                        0.2, 0.15, 13, tmp_path / "split")
    out = _run(tmp_path, split, base_model=str(tiny_bert(tmp_path / "bert")), max_steps=3, checkpoint_every=1000,
               class_weights="balanced")
    counts = pd.read_parquet(split.train.uri)["label"].value_counts()
    expected = {k: round(counts.sum() / (len(counts) * v), 4) for k, v in counts.items()}
    m = json.loads((out / "metrics.json").read_text())
    assert m["class_weights"] == pytest.approx(expected, abs=1e-4)
    assert m["class_weights"]["storm"] > 1 > m["class_weights"]["fire"]
    assert json.loads((out / "train_config.json").read_text())["class_weights"] == "balanced"


def test_early_stopping_keeps_the_weights_of_the_best_validation_step(tmp_path, tiny, monkeypatch):
    """A rigged validation curve (best at step 2, then worse): training stops after `patience` bad evaluations
    and the saved adapter is the step-2 one, not the last step's."""
    from safetensors.torch import load_file

    import tasks.train.recipe as recipe

    curve, seen = iter([1.0, 0.6, 0.7, 0.8]), []

    def rigged(model, enc, task, dtype, device, pad_id, batch_size, rows=None):
        seen.append(sum(float(p.detach().sum()) for p in model.parameters() if p.requires_grad))
        return {"val_loss": next(curve, 0.5), "val_rows": len(enc.ids), "val_accuracy": 0.5}

    monkeypatch.setattr(recipe, "evaluate", rigged)
    out = _run(tmp_path, tiny["split"], base_model=str(tiny["bert"]), max_steps=10, checkpoint_every=1000,
               eval_every=1, early_stopping_patience=2, learning_rate=0.01)
    m = json.loads((out / "metrics.json").read_text())
    assert (m["best_step"], m["stopped_early_at"], m["steps"], m["restored_best"]) == (2, 4, 4, True)
    assert [p["step"] for p in m["val_curve"]] == [1, 2, 3, 4] and len(m["loss_curve"]) == 4
    assert m["best_val_loss"] == 0.6
    saved = sum(float(t.sum()) for t in load_file(out / "adapter" / "adapter_model.safetensors").values())
    assert saved == pytest.approx(seen[1], rel=1e-5) and seen[1] != pytest.approx(seen[3], rel=1e-5)
    # the final validation (after the loop) scored the restored weights
    assert seen[-1] == pytest.approx(seen[1], rel=1e-5)
    from tasks.registry.card import validation_line

    assert validation_line(m) == ("Validation during training: lowest validation loss 0.6000 at step 2; stopped "
                                  "early at step 4 (no improvement); the saved weights are those of the best step "
                                  "(curve in the training metrics).")
    assert validation_line({"steps": 4}) is None


@pytest.mark.slow  # trains a model
def test_without_eval_every_training_runs_to_the_end_as_before(tmp_path, tiny):
    out = _run(tmp_path, tiny["split"], base_model=str(tiny["bert"]), max_steps=4, checkpoint_every=1000)
    m = json.loads((out / "metrics.json").read_text())
    assert m["steps"] == 4 and "val_curve" not in m and "val_loss" in m


def test_eval_interval_and_a_plateau():
    from tasks.train.validate import ValidationTracker, eval_interval

    assert (eval_interval(None, 100), eval_interval("auto", 100), eval_interval("auto", 5), eval_interval(7, 100)) \
        == (None, 10, 1, 7)
    t, model = ValidationTracker(every=10, patience=None, keep_best=False), torch.nn.Linear(2, 1)
    assert not any(t.observe(s, {"val_loss": 1.0}, model) for s in (10, 20, 30))  # no patience: never stops
    assert t.best_step == 10 and t.due(25, 25) and not t.due(25, 30)


def test_fp16_is_refused_where_no_gpu_scales_the_loss(tmp_path, tiny):
    from tasks.train.launch import finetune

    if torch.cuda.is_available():
        pytest.skip("a GPU is present: fp16 trains there, with a gradient scaler")
    with pytest.raises(ConfigError, match="fp16 needs a CUDA GPU"):
        finetune(TrainConfig(base_model=str(tiny["bert"]), precision="fp16", learning_rate=1e-3), tiny["split"],
                 tmp_path / "model")
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_a_gradient_scaler_scales_the_loss_and_steps_on_the_true_gradients(tmp_path, tiny):
    """The fp16 path of optimizer_step (scale, unscale, clip, step, update) with a real GradScaler, run in fp32 on
    CPU: the weights after three steps equal those of the plain path."""
    from tasks.train.optim import optimizer_step
    from tasks.train.recipe import RecipeRun, setup

    os.environ.pop("RANK", None)
    cfg = recipe_config(TrainConfig(base_model=str(tiny["bert"]), max_length=64, batch_size=16, learning_rate=1e-2,
                                    max_steps=3, nproc_per_node=1), tiny["split"], tmp_path / "work")
    after = []
    for scaled in (False, True):
        s = setup(RecipeRun.model_validate(cfg))
        if scaled:
            s.scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 12)
        stream = td.micro_batches(s.enc, 16, 42, 1, 0, 0)
        for _ in range(3):
            optimizer_step(s, stream, s.optimizer, s.scheduler)
        after.append({n: p.detach().clone() for n, p in s.model.named_parameters() if p.requires_grad})
        if scaled:
            assert s.scaler.get_scale() == 2.0 ** 12  # no overflow: the scale stayed, every step was taken
    for name, w in after[0].items():
        torch.testing.assert_close(after[1][name], w, rtol=1e-4, atol=1e-6, msg=name)
