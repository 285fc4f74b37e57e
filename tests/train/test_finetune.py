"""The launcher: torchrun command, subprocess ownership, failures, kill/resume and two-process DDP."""

import json
import os
import signal
import subprocess
import time

import pytest

from tasks.config import TrainConfig
from tasks.errors import ConfigError, TrainingFailed
from tasks.predict.classify import load_model, predict_texts
from tasks.train.checkpoint import complete_checkpoints
from tasks.train.launch import ROOT, content_key, finetune, recipe_config, torchrun_command, work_dir_for
from tasks.train.task import launch_finetune
from tests.tiny_models import tiny_bert, toy_split

ENV = {"TUNEGATE_THREADS": "1", "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny")
    split = toy_split(d)
    return {"bert": str(tiny_bert(d / "bert")), "split": split,
            "mean": str(tiny_bert(d / "mean", sentence_pooling="mean"))}


def _train(tiny, **kw) -> TrainConfig:
    return TrainConfig(**{"base_model": tiny["bert"], "max_length": 64, "batch_size": 16, "nproc_per_node": 1,
                          "learning_rate": 5e-3, **kw})


@pytest.mark.parametrize("kw, expected, absent", [
    ({"nproc_per_node": "auto"}, ["--nproc_per_node", "1", "--standalone"], "--rdzv_endpoint"),
    ({"nproc_per_node": 4}, ["--nproc_per_node", "4", "--standalone"], "--nnodes"),
    ({"nproc_per_node": 8, "nnodes": 2, "rdzv_endpoint": "node0:29500"},
     ["--nnodes", "2", "--rdzv_backend", "c10d", "--rdzv_endpoint", "node0:29500"], "--standalone"),
])
def test_torchrun_command(kw, expected, absent, tmp_path):
    cmd = torchrun_command(TrainConfig(**kw), tmp_path / "run.json", tmp_path / "logs", "k" * 64)
    joined = " ".join(cmd)
    assert " ".join(expected) in joined and absent not in cmd
    assert cmd[-4:] == ["-m", "tasks.train.recipe", "--config", str(tmp_path / "run.json")]


def test_multinode_without_endpoint_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="rdzv_endpoint"):
        torchrun_command(TrainConfig(nnodes=2), tmp_path / "r.json", tmp_path, "k")


@pytest.mark.slow  # launches torchrun (18 s)
def test_launch_finetune_publishes_whole_folder(tmp_path, tiny, monkeypatch):
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    out = tmp_path / "model"
    ref = launch_finetune.fn(_train(tiny, max_steps=8, checkpoint_every=4), tiny["split"], out)
    assert ref.path == str(out) and ref.labels == ["fire", "motor", "storm", "theft"] and ref.task == "classification"
    assert sorted(p.name for p in out.iterdir()) == ["adapter", "label_map.json", "manifest.json", "metrics.json",
                                                     "tokenizer", "train_config.json", "val_logits.npz"]
    assert ref.metrics["steps"] == 8 and ref.metrics["world_size"] == 1 and len(ref.manifest_sha256) == 64
    assert not work_dir_for(out).exists()  # checkpoints and staging are cleaned up after success
    texts = ["wind took the roof tiles", "car", "smoke and flames in the kitchen after a pan fire", "stolen"]
    preds = predict_texts(load_model(out), texts, batch_size=3)
    assert [predict_texts(load_model(out), [t]).labels[0] for t in texts] == preds.labels
    assert preds.probs.shape == (4, 4) and abs(float(preds.probs.sum(1).mean()) - 1) < 1e-5


@pytest.mark.slow  # launches torchrun (10 s)
def test_failure_quotes_failing_rank_and_leaves_no_output(tmp_path, tiny):
    import pandas as pd

    bad = tmp_path / "bad.parquet"
    pd.DataFrame({"id": ["a"], "text": ["x"]}).to_parquet(bad)  # no label column
    split = tiny["split"].model_copy(update={"train": tiny["split"].train.model_copy(update={"uri": str(bad)})})
    lines = []
    with pytest.raises(TrainingFailed) as err:
        finetune(_train(tiny, max_steps=2), split, tmp_path / "model", log_line=lines.append, env=ENV)
    msg = str(err.value)
    assert "exited with code" in msg and "rank 0" in msg and "needs columns 'text' and 'label'" in msg
    assert not (tmp_path / "model").exists() and lines


@pytest.mark.slow  # launches torchrun (5 s)
def test_timeout_kills_process_group(tmp_path, tiny):
    lines = []
    t0 = time.monotonic()
    with pytest.raises(TrainingFailed, match="timeout_s=3"):
        finetune(_train(tiny, max_steps=100000, timeout_s=3), tiny["split"], tmp_path / "model",
                 log_line=lines.append, env=ENV)
    assert time.monotonic() - t0 < 30
    time.sleep(0.5)
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    assert str(work_dir_for(tmp_path / "model") / "run.json") not in ps  # no recipe process survived


@pytest.mark.slow
def test_sigkill_after_second_checkpoint_then_resume(tmp_path, tiny):
    train = _train(tiny, max_steps=30, checkpoint_every=4)
    baseline = finetune(train, tiny["split"], tmp_path / "baseline", log_line=lambda s: None, env=ENV)

    out = tmp_path / "model"
    work = work_dir_for(out)
    # Start the very command the launcher would, then kill its whole group once two checkpoints exist.
    work.mkdir(parents=True)
    cfg = recipe_config(train, tiny["split"], work)
    key = content_key(train, tiny["split"])  # what the launcher keys a run's checkpoints by
    (work / "run.json").write_text(json.dumps({**cfg, "run_key": key}))
    cmd = torchrun_command(train, work / "run.json", work / "logs", key)
    env = {**os.environ, **ENV, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 120
    while len(complete_checkpoints(work / "checkpoints")) < 2 and proc.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    import psutil

    family = [proc.pid] + [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]
    for pid in family:  # torchrun's group and each worker's own session, all at once
        os.killpg(pid, signal.SIGKILL)
    proc.wait()
    newest = int(complete_checkpoints(work / "checkpoints")[0].name.split("-")[1])
    assert 8 <= newest < 30 and not out.exists()

    lines = []
    ref = finetune(train, tiny["split"], out, log_line=lines.append, env=ENV)
    m = json.loads((out / "metrics.json").read_text())
    assert m["resumed_from_step"] == newest and any(f"resumed from checkpoint step {newest}" in x for x in lines)
    assert m["steps"] == 30 and len(m["loss_curve"]) == 30 and m["loss_curve"][-1]["step"] == 30
    assert abs(ref.metrics["final_loss"] - baseline.metrics["final_loss"]) < 0.02
    assert abs(ref.metrics["val_accuracy"] - baseline.metrics["val_accuracy"]) <= 0.05


@pytest.mark.distributed
def test_two_process_ddp_gloo_mean_loss(tmp_path, tiny):
    single = finetune(_train(tiny, max_steps=3, learning_rate=1e-6), tiny["split"], tmp_path / "one",
                      log_line=lambda s: None, env=ENV)
    double = finetune(_train(tiny, max_steps=3, learning_rate=1e-6, nproc_per_node=2), tiny["split"],
                      tmp_path / "two", log_line=lambda s: None, env=ENV)
    assert double.metrics["world_size"] == 2
    one = json.loads((tmp_path / "one" / "metrics.json").read_text())["loss_curve"][0]["loss"]
    two = json.loads((tmp_path / "two" / "metrics.json").read_text())["loss_curve"][0]["loss"]
    # Both start near ln(4) = 1.386 with the same seeded head; a loss summed over ranks would be ~2x.
    assert 0.8 < two / one < 1.25
    # Two ranks see twice the rows per step: the same 3 steps process about twice the tokens.
    assert double.metrics["train_tokens"] > 1.5 * single.metrics["train_tokens"]


@pytest.mark.distributed
@pytest.mark.parametrize("method", ["lora", "full"])
def test_two_process_ddp_trains_a_mean_pooled_head(tmp_path, tiny, method):
    # DDP waits for a gradient on every trainable weight: an idle one (BERT's pooler, which the mean-pooled
    # head does not read) would fail the step.
    ref = finetune(_train(tiny, base_model=tiny["mean"], max_steps=3, nproc_per_node=2, method=method),
                   tiny["split"], tmp_path / "model", log_line=lambda s: None, env=ENV)
    assert ref.metrics["world_size"] == 2 and ref.metrics["steps"] == 3
    assert json.loads((tmp_path / "model" / "train_config.json").read_text())["pooling"] == "mean"
    assert len(predict_texts(load_model(tmp_path / "model"), ["car", "stolen"]).labels) == 2


@pytest.mark.distributed
def test_two_process_ddp_learning_rate_search(tmp_path, tiny):
    # Rank 0 scores the trials and tells rank 1 its choice; both train the chosen rate (a mismatch would hang
    # or diverge the collectives). The search's record and the rate used reach the model folder.
    lines: list[str] = []
    ref = finetune(_train(tiny, max_steps=6, learning_rate=[1e-3, 3e-3], nproc_per_node=2), tiny["split"],
                   tmp_path / "model", log_line=lines.append, env=ENV)
    m = json.loads((tmp_path / "model" / "metrics.json").read_text())
    search = m["auto"]["learning_rate"]
    assert ref.metrics["world_size"] == 2 and [t["learning_rate"] for t in search["trials"]] == [1e-3, 3e-3]
    assert m["learning_rate"] == search["chosen"] == json.loads(
        (tmp_path / "model" / "train_config.json").read_text())["learning_rate"]
    assert sum("learning-rate trial" in x for x in lines) == 2  # rank 0 reports each trial once
    assert len(m["loss_curve"]) == 6 and m["steps_from_search"] == 5
    # both ranks went on from the chosen trial's state: the same run as giving the chosen rate
    finetune(_train(tiny, max_steps=6, learning_rate=search["chosen"], nproc_per_node=2), tiny["split"],
             tmp_path / "given", log_line=lambda s: None, env=ENV)
    assert json.loads((tmp_path / "given" / "metrics.json").read_text())["loss_curve"] == m["loss_curve"]


@pytest.mark.distributed
def test_two_process_fsdp_saves_full_adapter(tmp_path, tiny):
    from safetensors.torch import load_file

    ref = finetune(_train(tiny, max_steps=3, checkpoint_every=1, fsdp=True, nproc_per_node=2), tiny["split"],
                   tmp_path / "model", log_line=lambda s: None, env=ENV)
    assert ref.metrics["world_size"] == 2
    weights = load_file(str(tmp_path / "model" / "adapter" / "adapter_model.safetensors"))
    lora_b = [v for k, v in weights.items() if "lora_B" in k]
    # Gathered whole, not one rank's shard: every tiny-BERT output dim is 32 or 64 (a shard would be half).
    assert lora_b and all(v.shape[0] in (32, 64) and v.shape[1] == 16 for v in lora_b)
    assert any(float(v.abs().sum()) > 0 for v in lora_b)  # B starts at zero: training moved it
