"""Causal-LM evaluation: a tiny llama trained in-process with the recipe, loaded, scored and generated from."""

import json
import math

import numpy as np
import pytest
import torch

from tasks.errors import ConfigError, InputError
from tasks.evaluate.metrics import NO_LABEL, causal_metrics, evaluate_dir, match_label
from tasks.predict.generate import generate_responses, load_causal_model, response_nll
from tasks.refs import DatasetRef
from tasks.train.split import write_split
from tests.tiny_models import tiny_llama, toy_claims
from tests.train.test_recipe import _run


@pytest.fixture(scope="module")
def causal(tmp_path_factory):
    """A seeded tiny llama, fine-tuned with LoRA (``lora``), fully (``full``), and barely at all (``base``).

    LoRA hardly moves this random 32-wide model, so the learning check uses the full fine-tune; ``base`` is one
    LoRA step at a negligible rate, i.e. the base model behind the same folder layout.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: one thread is fastest, and immune to a busy machine
    d = tmp_path_factory.mktemp("causal")
    df = toy_claims(160)
    df.to_parquet(d / "ds.parquet")
    split = write_split(DatasetRef(uri=str(d / "ds.parquet"), sha256="s", rows=len(df), columns={}), 0.2, 0.15, 13, d)
    torch.manual_seed(0)
    llama = tiny_llama(d / "llama")
    common = {"base_model": str(llama), "task": "causal_lm", "max_length": 96, "batch_size": 8, "seed": 7,
              "checkpoint_every": 1000}
    runs = {"lora": {"epochs": 3, "learning_rate": 1e-2},
            "full": {"method": "full", "epochs": 10, "learning_rate": 3e-3, "packing": False},
            "base": {"max_steps": 1, "learning_rate": 1e-9}}
    out = {"split": split}
    for name, kw in runs.items():
        (d / name).mkdir()
        out[name] = _run(d / name, split, **common, **kw)
    yield out
    torch.set_num_threads(threads)


def test_causal_evaluation_reports_rouge_and_perplexity(causal):
    from tasks.evaluate.metrics import scored_dir
    from tasks.evaluate.stats import intervals

    r, rows = scored_dir(causal["lora"], causal["split"].test.uri)
    assert r.n == causal["split"].test.rows == rows.n and rows.true is None  # free text: no class indices
    # the per-row scores are those the report averages, and give the intervals of ROUGE-L and perplexity
    own, _ = intervals({"candidate": rows}, resamples=200, seed=0)
    assert own["candidate"]["rouge_l"].value == pytest.approx(r.rouge_l)
    assert own["candidate"]["perplexity"].value == pytest.approx(r.perplexity)
    assert own["candidate"]["perplexity"].low <= r.perplexity <= own["candidate"]["perplexity"].high
    assert math.isfinite(r.perplexity) and r.perplexity > 1 and 0 <= r.rouge_l <= 1
    # The toy split has a ``response`` column ("<label> claim"): not class labels, so no classification metrics.
    assert r.accuracy is None and r.macro_f1 is None and r.ece is None and r.per_class == {} and r.confusion == []
    assert set(r.model_dump()) >= {"rouge_l", "perplexity"}


def test_training_lowers_perplexity_and_raises_rouge(causal):
    trained = evaluate_dir(causal["full"], causal["split"].test.uri)
    base = evaluate_dir(causal["base"], causal["split"].test.uri)
    assert trained.perplexity < 0.5 * base.perplexity, (trained.perplexity, base.perplexity)
    assert trained.rouge_l > base.rouge_l


@pytest.mark.parametrize("kind", ["lora", "full"])
def test_nll_matches_the_recipe_validation_loss(causal, kind):
    """Same weights (adapter merged), prompt format and truncation as training: mean response NLL is val_loss."""
    import pandas as pd

    model = load_causal_model(causal[kind])
    val = pd.read_parquet(causal["split"].val.uri)
    nll = response_nll(model, val["text"].tolist(), val["response"].tolist(), batch_size=5)
    total, count = nll.total()
    assert (nll.tokens > 0).all() and (nll.nll > 0).all()
    val_loss = json.loads((causal[kind] / "metrics.json").read_text())["val_loss"]
    assert total / count == pytest.approx(val_loss, rel=1e-3)


def test_generation_is_batch_independent_and_greedy(causal):
    """Left padding must not change what a prompt generates; confidence is a probability."""
    import pandas as pd

    model = load_causal_model(causal["full"])
    texts = pd.read_parquet(causal["split"].test.uri)["text"].tolist()[:9]
    batched = generate_responses(model, texts, max_new_tokens=8, batch_size=4)
    single = generate_responses(model, texts, max_new_tokens=8, batch_size=1)
    assert batched.texts == single.texts
    assert np.allclose(batched.confidence, single.confidence, atol=1e-4)
    assert ((batched.confidence > 0) & (batched.confidence <= 1)).all()


def test_generation_embeds_each_prompt_from_its_own_forward_pass(causal):
    """``embed=True``: the mean of each prompt's last hidden states from the first generation step, padding
    masked (the same as the prompt run alone); tokens and perplexity follow from the continuation."""
    import pandas as pd

    from tasks.train import data as td

    model = load_causal_model(causal["full"])
    texts = pd.read_parquet(causal["split"].test.uri)["text"].tolist()[:6]
    gen = generate_responses(model, texts, max_new_tokens=8, batch_size=4, embed=True)
    assert gen.texts == generate_responses(model, texts, max_new_tokens=8, batch_size=4).texts
    assert gen.embeddings.shape == (6, model.model.config.hidden_size)
    assert ((gen.tokens >= 1) & (gen.tokens <= 8)).all()
    assert np.allclose(gen.perplexity(), np.exp(-np.log(gen.confidence) / gen.tokens), rtol=1e-4)
    with torch.inference_mode():
        for text, got in zip(texts, gen.embeddings, strict=True):
            ids = model.tokenizer([td.prompt_text(text)], return_tensors="pt")["input_ids"][:, :model.max_length]
            alone = model.model(input_ids=ids, output_hidden_states=True).hidden_states[-1].mean(dim=1)[0]
            assert np.allclose(got, torch.nn.functional.normalize(alone.float(), dim=0).numpy(), atol=1e-4)


def test_label_as_response_is_also_scored_as_a_classifier():
    r = causal_metrics(["fire", "theft", "fire"], ["Fire", "fire", "smoke everywhere"], (3.0, 6),
                       np.array([0.9, 0.6, 0.2]), labels_are_targets=True)
    assert r.accuracy == pytest.approx(1 / 3) and r.labels == ["fire", "theft", NO_LABEL]
    assert r.per_class["fire"]["recall"] == 0.5 and r.perplexity == pytest.approx(math.e ** 0.5)
    assert r.rouge_l == pytest.approx(1 / 3)
    assert match_label(" Storm ", ["storm", "fire"]) == "storm" and match_label("a storm", ["storm"]) == NO_LABEL


def test_missing_or_wrong_model_folder_is_a_named_error(tmp_path, causal):
    with pytest.raises(InputError, match="not a tunegate model folder"):
        evaluate_dir(tmp_path / "nope", causal["split"].test.uri)
    cfg = json.loads((causal["lora"] / "train_config.json").read_text())
    (tmp_path / "cls").mkdir()
    (tmp_path / "cls" / "train_config.json").write_text(json.dumps({**cfg, "task": "classification"}))
    with pytest.raises(ConfigError, match="causal_lm models only"):
        load_causal_model(tmp_path / "cls")
    (tmp_path / "moved").mkdir()
    (tmp_path / "moved" / "train_config.json").write_text(json.dumps({**cfg, "base_model": str(tmp_path / "gone")}))
    for part in ("adapter", "tokenizer"):
        (tmp_path / "moved" / part).symlink_to(causal["lora"] / part)
    with pytest.raises(ConfigError, match="not a local model folder"):
        load_causal_model(tmp_path / "moved")


@pytest.mark.parametrize("kind", ["lora"])
def test_a_model_whose_base_is_gone_is_a_named_error_not_a_substitute(causal, tmp_path, kind):
    import shutil

    from tasks.predict.classify import load_model

    moved = tmp_path / "model"
    shutil.copytree(causal[kind], moved)
    cfg = json.loads((moved / "train_config.json").read_text())
    cfg["base_model"] = str(tmp_path / "gone")
    (moved / "train_config.json").write_text(json.dumps(cfg))
    with pytest.raises(ConfigError, match=r"trained on base model .*gone.*restore that folder"):
        load_causal_model(moved)
    cfg["task"] = "classification"  # the classifier loader follows the same rule (it used to swap in MiniLM)
    (moved / "train_config.json").write_text(json.dumps(cfg))
    (moved / "label_map.json").write_text(json.dumps({"labels": ["a", "b"]}))
    with pytest.raises(ConfigError, match=r"trained on base model .*gone"):
        load_model(moved)
