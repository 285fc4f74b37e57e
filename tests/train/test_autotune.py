"""Settings chosen from the data (tasks/train/autotune.py): the learning-rate search, max_length and epochs."""

import json
import math

import pytest
import torch

from tasks.config import PipelineConfig, TrainConfig, load_config
from tasks.errors import ConfigError
from tasks.train import autotune
from tasks.train.launch import finetune
from tests.conftest import torch_threads
from tests.tiny_models import tiny_bert
from tests.train.test_recipe import _run, tiny  # noqa: F401 - the module fixture


def _trial(lr, loss, collapsed=False):
    return {"learning_rate": lr, "val_loss": loss, "collapsed": collapsed}


@pytest.mark.parametrize("trials, chosen", [
    ([_trial(1e-4, 1.2), _trial(1e-3, 0.6), _trial(3e-3, 0.9)], 1e-3),  # lowest validation loss
    ([_trial(1e-4, 0.605), _trial(1e-3, 0.6)], 1e-4),  # within 2%: the smaller rate
    ([_trial(1e-4, 0.7), _trial(1e-3, 0.6)], 1e-3),  # beyond 2%: the better one
    ([_trial(1e-4, 1.0), _trial(1e-3, 0.5, collapsed=True)], 1e-4),  # a collapsed trial loses to any other
    ([_trial(1e-4, 1.0, True), _trial(1e-3, 0.9, True)], 1e-3),  # all collapsed: by loss
    ([_trial(1e-4, None), _trial(1e-3, 0.9), _trial(3e-3, None)], 1e-3),  # diverged trials never win
    ([_trial(3e-3, None), _trial(1e-3, None)], 1e-3),  # all diverged: the smallest rate
])
def test_pick_a_table_of_trials(trials, chosen):
    assert trials[autotune.pick(trials)]["learning_rate"] == chosen


def test_max_length_from_the_95th_percentile_within_the_model_limit():
    lengths = list(range(1, 101))  # p95 = 95 tokens -> rounded up to 96
    assert autotune.choose_max_length(lengths, 256)[0] == 96
    chosen, record = autotune.choose_max_length(lengths, 64)  # the model's limit wins
    assert chosen == 64 and record["model_limit"] == 64 and record["rows_cut"] == pytest.approx(0.36)
    assert autotune.choose_max_length([3, 4, 5], 256)[0] == autotune.MIN_LENGTH


def test_length_cap_reads_the_sentence_transformers_limit(tmp_path):
    from transformers import AutoTokenizer

    from tasks.train.base_model import default_base_model

    base = default_base_model()  # the packaged MiniLM: trained at 256 tokens, positions for 512
    assert autotune.length_cap(base, AutoTokenizer.from_pretrained(base)) == 256
    (tmp_path / "config.json").write_text(json.dumps({"max_position_embeddings": 128}))

    class Tok:
        model_max_length = int(1e30)  # "no limit" as tokenizers without one say it

    assert autotune.length_cap(str(tmp_path), Tok()) == 128


@pytest.mark.parametrize("rows, epochs", [(160, 10.0), (840, 5.66), (8000, 3.0), (2624, 3.0), (16, 10.0)])
def test_epochs_aim_at_a_number_of_steps(rows, epochs):
    chosen, record = autotune.choose_epochs(rows, 16, 1)
    assert chosen == epochs
    assert record["target_steps"] == autotune.TARGET_STEPS


def test_search_needs_validation_rows_and_replicas(tmp_path, tiny):  # noqa: F811
    with pytest.raises(ValueError, match="fsdp"):
        TrainConfig(fsdp=True)
    assert TrainConfig(fsdp=True, learning_rate=1e-4).fsdp
    cfg = tmp_path / "c.yaml"
    cfg.write_text("split: {val_fraction: 0}\n")
    with pytest.raises(ConfigError, match="val_fraction"):
        load_config(cfg)
    assert PipelineConfig(split={"val_fraction": 0}, train={"learning_rate": 1e-3}).split.val_fraction == 0
    no_val = tiny["split"].model_copy(update={"val": None})
    with pytest.raises(ConfigError, match="validation rows"):
        finetune(TrainConfig(base_model=str(tiny["bert"])), no_val, tmp_path / "out")
    assert not (tmp_path / "out").exists() and not (tmp_path / ".out.work").exists()


@pytest.mark.slow  # trains twice (8 s)
def test_chosen_settings_are_recorded_and_the_run_is_the_one_the_rate_would_give(tmp_path, tiny):  # noqa: F811
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
    common = {"base_model": str(tiny["bert"]), "max_steps": 8, "checkpoint_every": 1000}
    searched = _run(tmp_path / "a", tiny["split"], learning_rate=[1e-3, 3e-3], max_length="auto", **common)
    m = json.loads((searched / "metrics.json").read_text())
    auto = m["auto"]
    chosen = auto["learning_rate"]["chosen"]
    assert [t["learning_rate"] for t in auto["learning_rate"]["trials"]] == [1e-3, 3e-3]
    assert all(t["steps"] == autotune.MIN_TRIAL_STEPS and math.isfinite(t["val_loss"])
               for t in auto["learning_rate"]["trials"])
    assert m["learning_rate"] == chosen and m["lr_search_seconds"] > 0
    # the model folder says which numbers were used: predict reads max_length from it
    used = json.loads((searched / "train_config.json").read_text())
    assert used["learning_rate"] == chosen and used["max_length"] == auto["max_length"]["chosen"]
    assert isinstance(used["max_length"], int) and 16 <= used["max_length"] <= 64  # toy notes: < 50 words
    # the trials put back the weights and the random state: the same run as giving the chosen rate
    given = _run(tmp_path / "b", tiny["split"], learning_rate=chosen, max_length=used["max_length"], **common)
    assert json.loads((given / "metrics.json").read_text())["loss_curve"] == m["loss_curve"]


@pytest.mark.slow  # trains twice (15 s)
def test_a_resumed_run_keeps_the_rate_its_checkpoints_were_trained_with(tmp_path, tiny, capsys):  # noqa: F811
    kw = {"base_model": str(tiny["bert"]), "max_steps": 12, "checkpoint_every": 4, "learning_rate": [1e-3, 3e-3]}
    first = json.loads((_run(tmp_path, tiny["split"], **kw) / "metrics.json").read_text())
    out = capsys.readouterr().out
    # the run went on from the chosen trial's 5 steps, and checkpointed there (a kill does not repeat the search)
    assert "continuing from the chosen trial's step 5" in out and "checkpoint step 5" in out
    assert first["steps_from_search"] == 5 and first["resumed_from_step"] is None
    again = json.loads((_run(tmp_path, tiny["split"], **kw) / "metrics.json").read_text())  # checkpoint at 8
    out = capsys.readouterr().out
    assert "resumed from checkpoint step 8" in out and "learning-rate trial" not in out
    assert again["auto"]["learning_rate"] == first["auto"]["learning_rate"]
    assert again["loss_curve"] == first["loss_curve"]


@pytest.mark.slow
def test_the_search_picks_a_rate_that_learns_where_a_fixed_bad_rate_collapses(tmp_path):
    # A random tiny BERT needs ~150 steps to leave the class prior, so the run is long enough for trials of
    # that length (8% of 1,500 steps); full fine-tuning at 0.3 collapses onto one class.
    from tasks.refs import DatasetRef
    from tasks.train.split import write_split
    from tests.tiny_models import toy_claims

    torch.set_num_threads(torch_threads())
    df = toy_claims(240)
    df.to_parquet(tmp_path / "ds.parquet")
    split = write_split(DatasetRef(uri=str(tmp_path / "ds.parquet"), sha256="s", rows=len(df), columns={}),
                        0.2, 0.15, 13, tmp_path)
    (tmp_path / "bad").mkdir()
    (tmp_path / "auto").mkdir()
    kw = {"base_model": str(tiny_bert(tmp_path / "bert")), "method": "full", "epochs": 150, "checkpoint_every": 10_000}
    # The fixed bad rate runs a fifth of the budget: it has collapsed long before (checked at the full 1,500)
    bad = json.loads((_run(tmp_path / "bad", split, learning_rate=0.3, **{**kw, "max_steps": 300})
                      / "metrics.json").read_text())
    searched = json.loads((_run(tmp_path / "auto", split, learning_rate=[1e-5, 2e-3, 0.3], **kw)
                           / "metrics.json").read_text())
    assert bad["steps"] == 300 and bad["val_accuracy"] <= 0.3  # chance is 0.25
    trials = {t["learning_rate"]: t for t in searched["auto"]["learning_rate"]["trials"]}
    assert trials[0.3]["collapsed"] and searched["learning_rate"] == 2e-3
    assert searched["val_accuracy"] >= 0.8


@pytest.mark.slow  # trains twice (8 s)
def test_a_checkpoint_without_the_search_record_resumes_at_its_own_rate(tmp_path, tiny):  # noqa: F811
    kw = {"base_model": str(tiny["bert"]), "max_steps": 12, "checkpoint_every": 4, "learning_rate": [1e-3, 3e-3]}
    first = json.loads((_run(tmp_path, tiny["split"], **kw) / "metrics.json").read_text())
    meta_path = tmp_path / "work" / "checkpoints" / "step-0000008" / "meta.json"
    meta = json.loads(meta_path.read_text())
    del meta["auto"]  # as written before the search existed
    meta_path.write_text(json.dumps(meta))
    again = json.loads((_run(tmp_path, tiny["split"], **kw) / "metrics.json").read_text())
    assert again["auto"]["learning_rate"]["chosen"] == first["learning_rate"]
    assert again["auto"]["learning_rate"]["from_checkpoint"].endswith("step-0000008")
    assert again["loss_curve"] == first["loss_curve"]


def test_token_lengths_are_measured_whole_so_the_record_counts_the_rows_cut():
    from transformers import AutoTokenizer

    from tasks.train.base_model import default_base_model

    tok = AutoTokenizer.from_pretrained(default_base_model())
    texts = ["short note"] * 18 + ["a long complaint about the mortgage servicer " * 60] * 2
    lengths = autotune.token_lengths(tok, texts, [], "classification")
    assert max(lengths) > 256  # not cut at the model's limit
    chosen, record = autotune.choose_max_length(lengths, 256)
    assert chosen == 256 and record["p95_tokens"] > 256 and record["rows_cut"] == 0.1
