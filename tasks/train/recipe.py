"""The fine-tuning recipe that torchrun launches: setup → train → save → cleanup.

    torchrun --standalone --nproc_per_node 2 -m tasks.train.recipe --config run.json

The same code runs as one plain process when RANK is unset. ``run.json`` is written by
``tasks.train.launch.recipe_config``: the TrainConfig fields plus the resolved base model, the split files,
the checkpoint folder and the staging folder that rank 0 fills with the final outputs and a manifest.
Logs carry numbers only, never document text. The model (base + LoRA, DDP/FSDP wrapping), the loss
and the validation pass are in ``tasks.train.model``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from pydantic import BaseModel, ConfigDict

from tasks.config import TrainConfig
from tasks.train import VAL_LOGITS_FILE, autotune, canaries
from tasks.train import data as td
from tasks.train.checkpoint import load_latest, save_checkpoint, write_manifest
from tasks.train.devices import autocast_dtype, peak_memory_mb
from tasks.train.model import build_model, evaluate, loss_weights, wrap_parallel
from tasks.train.optim import all_sum, make_optimizer, optimizer_step
from tasks.train.pooling import base_pooling
from tasks.train.validate import ValidationTracker, eval_interval


def log(msg: str, rank: int = 0) -> None:
    if rank == 0:
        print(f"[recipe] {msg}", flush=True)


# ---- setup -------------------------------------------------------------------------------------------
def setup_distributed() -> tuple[int, int, int, torch.device]:
    """(rank, local_rank, world, device); plain single process when RANK is unset (nanoGPT-style)."""
    if "RANK" not in os.environ:
        return 0, 0, 1, torch.device("cuda" if torch.cuda.is_available() else "cpu")
    _die_with_parent()
    rank, local, world = int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"]), int(os.environ["WORLD_SIZE"])
    if torch.cuda.is_available():
        torch.cuda.set_device(local)
        device, backend = torch.device("cuda", local), "nccl"
    else:
        device, backend = torch.device("cpu"), "gloo"
    dist.init_process_group(backend, timeout=timedelta(minutes=30))
    if local == 0:  # on several nodes, node 0's launcher waits for this line (tasks/train/nodes.py JOINED)
        print(f"[recipe] joined: {world} processes on {os.environ.get('GROUP_WORLD_SIZE', '1')} nodes", flush=True)
    return rank, local, world, device


def _die_with_parent() -> None:
    """torchrun puts each worker in its own session; if torchrun is SIGKILLed, the worker must not train on."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() == 1:  # parent already gone
            os._exit(1)


# ---- train -------------------------------------------------------------------------------------------
class RecipeRun(BaseModel):
    """``run.json``: what one launch trains (written by ``tasks.train.launch.recipe_config``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    train: TrainConfig
    base_model: str  # resolved local folder
    train_file: str
    val_file: str | None = None
    ckpt_dir: str
    stage_dir: str
    dataset_sha256: str | None = None
    test_ids_sha256: str | None = None
    run_key: str | None = None  # the launcher's: which run a work folder belongs to


@dataclass
class Session:
    """Everything ``setup`` prepared for ``train``: the process group, data, model and optimizer."""
    run: RecipeRun
    rank: int
    world: int
    device: torch.device
    tok: Any
    label_names: list[str]
    enc: Any  # td.Encoded training rows
    val: Any  # td.Encoded validation rows, or None
    model: Any  # wrapped for DDP/FSDP when world > 1
    core: Any  # the unwrapped model
    arch: str
    params: list
    total: int  # optimizer steps in all
    dtype: torch.dtype | None
    class_weight: torch.Tensor | None
    optimizer: Any = None
    scheduler: Any = None
    scaler: Any = None  # fp16 on a GPU: torch.amp.GradScaler
    start: int = 0  # first step (a resumed run starts at its checkpoint, an auto-rate run after its trial)
    carried: int = 0  # steps taken by the learning-rate search's chosen trial, which the run continues
    carried_tokens: int = 0
    history: list = field(default_factory=list)
    auto: dict = field(default_factory=dict)  # what tasks.train.autotune chose, and from what
    val_scores: dict | None = None  # the last validation pass's logits and labels (classification)

    @property
    def sharded(self) -> bool:
        return self.run.train.fsdp and self.world > 1


def setup(run: RecipeRun) -> Session:
    """Process group, tokenizer and data (no raw text kept), model, optimizer, schedule, checkpoint."""
    t = run.train
    rank, _, world, device = setup_distributed()
    torch.manual_seed(t.seed)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    elif os.environ.get("TUNEGATE_THREADS"):
        torch.set_num_threads(int(os.environ["TUNEGATE_THREADS"]))
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(run.base_model, local_files_only=True)
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    texts, targets = td.read_split(run.train_file, t.task)
    texts, targets = canaries.add_to(texts, targets, t.task, t.canaries, t.seed)  # causal LM: the canary test's
    auto = {}
    if t.task == "classification" and t.pooling == "auto":  # the resolved value goes into train_config.json
        auto["pooling"] = {"chosen": base_pooling(run.base_model)}
        t = t.model_copy(update={"pooling": auto["pooling"]["chosen"]})
    if t.max_length == "auto":
        cap = autotune.length_cap(run.base_model, tok)
        lengths = autotune.token_lengths(tok, texts, targets, t.task)
        ml, auto["max_length"] = autotune.choose_max_length(lengths, cap)
        t = t.model_copy(update={"max_length": ml})
    if t.epochs == "auto":
        epochs, auto["epochs"] = autotune.choose_epochs(len(texts), t.batch_size, t.grad_accum)
        t = t.model_copy(update={"epochs": epochs})
    run = run.model_copy(update={"train": t})
    label_names, enc, val = _encode(run, tok, texts, targets)
    class_weight = loss_weights(t.class_weights, enc.targets, len(label_names)) if t.task == "classification" else None
    class_weight = class_weight.to(device) if class_weight is not None else None
    core, arch = build_model(t, run.base_model, label_names, tok, device)
    model = wrap_parallel(core, world, t.fsdp and world > 1, device)
    per_epoch = td.batches_per_epoch(len(enc.ids), t.batch_size, world)
    total = t.max_steps or max(1, math.ceil(t.epochs * per_epoch / t.grad_accum))
    s = Session(run=run, rank=rank, world=world, device=device, tok=tok, label_names=label_names, enc=enc, val=val,
                model=model, core=core, arch=arch, params=[p for p in model.parameters() if p.requires_grad],
                total=total, dtype=autocast_dtype(t.precision, device), class_weight=class_weight, auto=auto)
    _optimizer(s, 1.0 if t.searches_rate else t.learning_rate)
    meta = None if s.sharded else load_latest(Path(run.ckpt_dir), core, s.optimizer, s.scheduler)
    if meta:
        s.start, s.history = meta["step"], meta.get("history", [])
        s.auto.update(meta.get("auto", {}))
        log(f"resumed from checkpoint step {s.start} ({meta['path']})", rank)
    if t.searches_rate:
        autotune.settle_learning_rate(s, meta, lambda m: log(m, rank))
        t = s.run.train
    if s.auto:
        log("chosen from the data: " + ", ".join(f"{k} {v['chosen']}" for k, v in s.auto.items()), rank)
    log(f"task={t.task} arch={arch} method={t.method} world={world} device={device.type} "
        f"rows={len(enc.ids)} steps={total} start={s.start} "
        f"trainable={sum(p.numel() for p in s.params)}", rank)
    return s


def _optimizer(s: Session, lr: float) -> None:
    t = s.run.train
    s.optimizer, s.scheduler = make_optimizer(s.params, lr, t.weight_decay, t.warmup_ratio, s.total, s.device)
    s.scaler = torch.amp.GradScaler(s.device.type) if s.dtype == torch.float16 else None


def _encode(run: RecipeRun, tok, texts: list[str], targets: list[str]) -> tuple[list[str], Any, Any]:
    """Label names, encoded training rows and encoded validation rows (or None); the texts are not kept."""
    t = run.train
    if t.task == "classification":
        label_names = sorted(set(targets))
        enc = td.encode_classification(tok, texts, targets, label_names, t.max_length, t.truncation)
    else:
        label_names = []
        enc = td.encode_sft(tok, texts, targets, t.max_length)
        enc = td.pack(enc, t.max_length) if t.packing else enc
    val = None
    if run.val_file:
        vx, vy = td.read_split(run.val_file, t.task)
        val = (td.encode_classification(tok, vx, vy, label_names, t.max_length, t.truncation)
               if t.task == "classification" else td.encode_sft(tok, vx, vy, t.max_length))
    return label_names, enc, val


def train(s: Session) -> dict:
    """The training loop from ``s.start`` to ``s.total`` (checkpointing), then validation; returns the metrics."""
    t, device, world, rank = s.run.train, s.device, s.world, s.rank
    stream = td.micro_batches(s.enc, t.batch_size, t.seed, world, rank, skip=s.start * t.grad_accum,
                              group=t.length_group)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    s.model.train()
    every = eval_interval(t.eval_every, s.total)
    tracker = ValidationTracker(every, t.early_stopping_patience, t.keep_best) \
        if every and s.val is not None and not s.sharded else None
    tokens, t0, last = 0, time.perf_counter(), s.total
    if s.carried and s.start < s.total and not s.sharded:  # a kill after the search does not repeat it
        _checkpoint(s, s.start)
    for step in range(s.start, s.total):
        loss_sum, count, real = optimizer_step(s, stream, s.optimizer, s.scheduler)  # summed over ranks
        tokens += int(real)
        s.history.append({"step": step + 1, "loss": round(loss_sum / max(count, 1), 6),
                          "lr": s.scheduler.get_last_lr()[0]})
        if rank == 0 and ((step + 1) % 10 == 0 or step + 1 == s.total or step == s.start):
            log(f"step {step + 1}/{s.total} loss {s.history[-1]['loss']:.4f}", rank)
        if tracker is not None and tracker.due(step + 1, s.total) and _validate(s, tracker, step + 1):
            last = step + 1
            break
        # FSDP shards weights and optimizer state across ranks; checkpoints here are rank-0 files, so
        # sharded runs do not checkpoint (a restart begins again).
        if (step + 1) % t.checkpoint_every == 0 and step + 1 < s.total and not s.sharded:
            _checkpoint(s, step + 1)
    elapsed = time.perf_counter() - t0
    restored = tracker.restore(s.core, last) if tracker is not None and rank == 0 else False
    metrics = {"steps": last, "start_step": s.start, "resumed_from_step": (s.start or None) if not s.carried else None,
               "steps_from_search": s.carried, "world_size": world,
               "train_seconds": round(elapsed, 3), "train_tokens": tokens + s.carried_tokens,
               "tokens_per_s": round(tokens / elapsed, 2) if elapsed > 0 and tokens else 0.0,
               "final_loss": s.history[-1]["loss"] if s.history else None, "loss_curve": s.history,
               "peak_memory_mb": peak_memory_mb(device), "precision": str(s.dtype or "fp32"),
               "device": device.type, "learning_rate": t.learning_rate, "max_length": t.max_length,
               "epochs": t.epochs}
    if s.auto:  # what autotune chose, and from what (the trials, percentiles, step counts)
        metrics["auto"] = s.auto
        if "learning_rate" in s.auto:
            metrics["lr_search_seconds"] = s.auto["learning_rate"].get("seconds", 0.0)
    if tracker is not None and rank == 0:
        metrics.update(tracker.metrics(), restored_best=restored)
    if s.class_weight is not None:
        metrics["class_weights"] = {n: round(float(w), 4) for n, w in zip(s.label_names, s.class_weight.tolist())}
    if s.val is not None and (rank == 0 or t.fsdp):
        s.val_scores = {} if t.task == "classification" else None  # kept for calibration (VAL_LOGITS_FILE)
        metrics.update(evaluate(s.model if t.fsdp else s.core, s.val, t.task, s.dtype, device, s.tok.pad_token_id,
                                t.batch_size * 2, rows=s.val_scores))
    return metrics


def _checkpoint(s: Session, step: int) -> None:
    if s.rank == 0:
        save_checkpoint(Path(s.run.ckpt_dir), step, s.core, s.optimizer, s.scheduler,
                        {"history": s.history, "auto": s.auto})
        log(f"checkpoint step {step}", s.rank)
    if s.world > 1:
        dist.barrier()


def _validate(s: Session, tracker: ValidationTracker, step: int) -> bool:
    """Rank 0 scores the validation split and tells every rank whether to stop."""
    t, stop = s.run.train, 0.0
    if s.rank == 0:
        result = evaluate(s.core, s.val, t.task, s.dtype, s.device, s.tok.pad_token_id, t.batch_size * 2)
        stop = float(tracker.observe(step, result, s.core))
        log(f"validation at step {step}: loss {result['val_loss']:.4f} (best {tracker.best_loss:.4f} at step "
            f"{tracker.best_step})" + (" - stopping: no improvement" if stop else ""), s.rank)
    return all_sum([stop], s.world, s.device)[0] > 0


# ---- save / cleanup ----------------------------------------------------------------------------------
def save(s: Session, metrics: dict) -> None:
    """Rank 0 writes the final folder into the staging area; the manifest goes last."""
    state = None
    if s.sharded:
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        state = get_model_state_dict(s.core, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    if s.rank != 0:
        return
    out = Path(s.run.stage_dir)
    out.mkdir(parents=True, exist_ok=True)
    if state:
        s.core.save_pretrained(out / "adapter", state_dict=state)
    else:
        s.core.save_pretrained(out / "adapter")
    s.tok.save_pretrained(out / "tokenizer")
    (out / "label_map.json").write_text(json.dumps({"labels": s.label_names,
                                                    "label2id": {n: i for i, n in enumerate(s.label_names)}}))
    (out / "train_config.json").write_text(json.dumps({**s.run.train.model_dump(mode="json"),
                                                       "base_model": s.run.base_model, "model_type": s.arch}, indent=2))
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    if s.val_scores:  # the calibration fits its temperature on these instead of scoring the split again
        np.savez(out / VAL_LOGITS_FILE, logits=s.val_scores["logits"], labels=s.val_scores["labels"])
    write_manifest(out)
    log(f"saved {out.name}: tokens/s {metrics['tokens_per_s']} val {metrics.get('val_accuracy')}", s.rank)


def cleanup(world: int) -> None:
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", required=True, help="run.json written by tasks.train.launch")
    run = RecipeRun.model_validate_json(Path(ap.parse_args(argv).config).read_text())
    session = setup(run)
    metrics = train(session)
    save(session, metrics)
    cleanup(session.world)


if __name__ == "__main__":
    main()  # saved, past the last barrier, group destroyed: skip the teardown, where gloo's C++ threads once
    logging.shutdown(), sys.stdout.flush(), sys.stderr.flush(), os._exit(0)  # aborted a finished rank (exit 1)
