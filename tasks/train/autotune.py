"""Training settings chosen from the data: ``learning_rate``, ``max_length`` and ``epochs`` set to ``auto``.

- **max_length**: the 95th percentile of the training rows' token lengths, rounded up to a multiple of 8, at
  least 16 and at most what the model was trained for (``max_seq_length`` of a sentence-transformers folder,
  else the tokenizer's or the position embeddings' limit). Short documents then train on short batches; long
  ones are cut where the model stops being reliable, not at an arbitrary 256.
- **epochs**: ``MIN_EPOCHS`` (3, the fixed default before), or more for small data: enough passes for about
  ``TARGET_STEPS`` optimiser steps of one process (so more GPUs train the same epochs, faster), at most
  ``MAX_EPOCHS``. Three passes over 840 rows are 159 steps, and the sample corpus was still improving there.
- **learning_rate**: a short seeded search. Each rate of the method's grid (``LR_GRID``) trains a copy of the
  same initial weights for the first ``TRIAL_SHARE`` of the real run's steps at that rate: the same batches,
  the same warm-up, the same place in the schedule (no decay squeezed into the trial, which would flatter
  rates that are only stable once annealed). Then the class-weighted validation loss (the training
  objective) is measured on up to ``TRIAL_VAL_ROWS`` validation rows. A trial that diverged or predicts a single class
  (collapsed onto the prior) loses to any that did not; among the rest, the lowest loss wins, and a smaller
  rate within ``TIE`` of it is preferred (a short trial flatters high rates; the full run is longer). The
  run then continues from the chosen trial's state (its weights, optimizer, schedule and random state), so it
  is exactly the run a user would get by giving the chosen rate, and the trial's steps are not taken twice.
  Rank 0 evaluates; its choice reaches every rank through one collective per trial.

Everything chosen is recorded: in the model's ``train_config.json`` (the numbers used), ``metrics.json``
(``auto``: the trials, percentiles and step counts) and from there MLflow and the model card.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import torch

from tasks.errors import ConfigError
from tasks.train import data as td
from tasks.train.model import evaluate
from tasks.train.optim import all_sum, make_optimizer, optimizer_step

LR_GRID = {"lora": (1e-4, 3e-4, 1e-3, 3e-3), "full": (1e-5, 3e-5, 1e-4, 3e-4)}
TRIAL_SHARE = 0.08  # of the run's optimiser steps, per trial: four trials cost about a third of the run
MIN_TRIAL_STEPS = 5
TRIAL_VAL_ROWS = 512
TIE = 0.02  # relative validation-loss margin within which the smaller rate is taken
LENGTH_QUANTILE = 0.95
MIN_LENGTH = 16
TARGET_STEPS = 300
MIN_EPOCHS = 3.0
MAX_EPOCHS = 10.0


# ---- max_length --------------------------------------------------------------------------------------
def length_cap(base: str, tok) -> int:
    """The longest input the base model is meant for."""
    sbert = Path(base, "sentence_bert_config.json")
    if sbert.is_file():
        limit = json.loads(sbert.read_text()).get("max_seq_length")
        if isinstance(limit, int) and limit > 0:
            return limit
    limits = [int(tok.model_max_length)] if 0 < tok.model_max_length < 1_000_000 else []
    cfg = Path(base, "config.json")
    if cfg.is_file():
        for key in ("max_position_embeddings", "n_positions"):
            if isinstance(v := json.loads(cfg.read_text()).get(key), int) and v > 0:
                limits.append(v)
    return min(limits) if limits else 512


def choose_max_length(lengths: list[int], cap: int) -> tuple[int, dict]:
    """(max_length, record) from the rows' token lengths; ``cap``: the model's limit."""
    ordered = sorted(lengths)
    p = ordered[min(len(ordered) - 1, math.ceil(LENGTH_QUANTILE * len(ordered)) - 1)] if ordered else cap
    chosen = max(MIN_LENGTH, min(cap, -(-p // 8) * 8))
    cut = sum(n > chosen for n in lengths) / max(1, len(lengths))
    return chosen, {"chosen": chosen, "p95_tokens": p, "model_limit": cap, "rows_cut": round(cut, 4)}  # share


def token_lengths(tok, texts: list[str], targets: list[str], task: str) -> list[int]:
    """Each training row's full length in tokens (not cut at the model's limit, so the record shows how many
    rows the chosen length cuts)."""
    if task == "classification":
        return [len(x) for x in tok(texts, truncation=False, verbose=False)["input_ids"]]
    return [len(x) for x in td.encode_sft(tok, texts, targets, 1 << 30).ids]


# ---- epochs ------------------------------------------------------------------------------------------
def choose_epochs(rows: int, batch_size: int, grad_accum: int) -> tuple[float, dict]:
    """(epochs, record): about ``TARGET_STEPS`` optimiser steps of one process, ``MIN_EPOCHS`` to ``MAX_EPOCHS``."""
    per_epoch = max(1.0, math.ceil(rows / batch_size) / grad_accum)
    epochs = round(min(MAX_EPOCHS, max(MIN_EPOCHS, TARGET_STEPS / per_epoch)), 2)
    return epochs, {"chosen": epochs, "target_steps": TARGET_STEPS, "steps_per_epoch": per_epoch}


# ---- learning rate -----------------------------------------------------------------------------------
def trial_steps(total: int) -> int:
    return min(total, max(MIN_TRIAL_STEPS, math.ceil(TRIAL_SHARE * total)))


def pick(trials: list[dict]) -> int:
    """Index of the chosen trial (see the module docstring); all diverged: the smallest rate."""
    finite = [i for i, r in enumerate(trials) if r.get("val_loss") is not None and math.isfinite(r["val_loss"])]
    if not finite:
        return min(range(len(trials)), key=lambda i: trials[i]["learning_rate"])
    pool = [i for i in finite if not trials[i].get("collapsed")] or finite
    best = min(trials[i]["val_loss"] for i in pool)
    near = [i for i in pool if trials[i]["val_loss"] <= best + TIE * abs(best)]
    return min(near, key=lambda i: trials[i]["learning_rate"])


def _subset(enc: td.Encoded, rows: int, seed: int) -> td.Encoded:
    if len(enc.ids) <= rows:
        return enc
    keep = sorted(torch.randperm(len(enc.ids), generator=torch.Generator().manual_seed(seed))[:rows].tolist())
    return td.Encoded([enc.ids[i] for i in keep], [enc.targets[i] for i in keep])


def _put_back(model: torch.nn.Module, weights: dict[str, torch.Tensor]) -> None:
    with torch.no_grad():
        for n, p in model.named_parameters():
            if n in weights:
                p.copy_(weights[n])


def _rng_state(device: torch.device) -> tuple:
    """The generators dropout draws from: the CPU's, and the GPU's on CUDA."""
    return torch.get_rng_state(), torch.cuda.get_rng_state(device) if device.type == "cuda" else None


def _set_rng_state(device: torch.device, state: tuple) -> None:
    torch.set_rng_state(state[0])
    if state[1] is not None:
        torch.cuda.set_rng_state(state[1], device)


def search_learning_rate(s: Any, log=print) -> tuple[float, dict, dict | None]:
    """(chosen rate, record, carry) for session ``s`` (``tasks.train.recipe.Session``, before training starts).

    ``carry`` is the chosen trial's state where it was kept (the weights are then already in ``s.core``): its
    optimizer and schedule, the steps it took and their loss history, so the run continues from there instead
    of taking those steps again. The trial ran the run's own first steps (same weights, batches, schedule
    and random state), so this is the same run, one trial's worth cheaper. Only the best trial so far is
    kept, one copy of the trainable weights and optimizer state; where ``pick``'s tie rule ends on another
    trial, ``carry`` is None and the run starts from the initial weights."""
    t = s.run.train
    if s.val is None:
        raise ConfigError("train.learning_rate: auto (or a list) chooses the rate by validation loss, and this run "
                          "has no validation rows; set split.val_fraction (e.g. 0.1) or give a learning rate.")
    grid = LR_GRID[t.method] if t.learning_rate == "auto" else tuple(sorted(t.learning_rate))
    steps = trial_steps(s.total)
    val = _subset(s.val, TRIAL_VAL_ROWS, t.seed)
    classes = len({y for y in val.targets if isinstance(y, int) and y >= 0}) if t.task == "classification" else 0
    start = {n: p.detach().clone() for n, p in s.core.named_parameters() if p.requires_grad}
    rng = _rng_state(s.device)
    trials, held, t0 = [], None, time.perf_counter()
    for i, lr in enumerate(grid):
        _put_back(s.core, start)
        _set_rng_state(s.device, rng)
        optimizer, scheduler = make_optimizer(s.params, lr, t.weight_decay, t.warmup_ratio, s.total, s.device)
        stream = td.micro_batches(s.enc, t.batch_size, t.seed, s.world, s.rank, skip=0, group=t.length_group)
        s.model.train()  # dropout on, as in the run (a freshly loaded model is in eval mode)
        losses, history = [], []
        for step in range(steps):
            losses.append(optimizer_step(s, stream, optimizer, scheduler))
            history.append({"step": step + 1, "loss": round(losses[-1][0] / max(losses[-1][1], 1), 6),
                            "lr": scheduler.get_last_lr()[0]})
        after = _rng_state(s.device)
        trial = {"learning_rate": lr, "steps": steps,
                 "train_loss": round(sum(x[0] for x in losses[-3:]) / max(1.0, sum(x[1] for x in losses[-3:])), 6)}
        if s.rank == 0:
            result = evaluate(s.core, val, t.task, s.dtype, s.device, s.tok.pad_token_id, t.batch_size * 2,
                              weight=s.class_weight, spread=True)
            loss = float(result["val_loss"])
            trial.update(val_loss=round(loss, 6) if math.isfinite(loss) else None,
                         val_accuracy=round(result.get("val_accuracy", 0.0), 4),
                         collapsed=classes > 1 and result.get("predicted_classes") == 1)
            log(f"learning-rate trial {lr:g}: {steps} steps, validation loss {trial['val_loss']}"
                + (" (collapsed onto one class)" if trial["collapsed"] else ""))
        trials.append(trial)
        best = int(all_sum([float(pick(trials)) if s.rank == 0 else 0.0], s.world, s.device)[0])
        if best == i:  # the best so far: keep its state, drop the one kept before
            held = {"index": i, "weights": {n: p.detach().clone() for n, p in s.core.named_parameters()
                                            if p.requires_grad},
                    "optimizer": optimizer, "scheduler": scheduler, "rng": after, "history": history,
                    "tokens": int(sum(x[2] for x in losses))}
        del optimizer, scheduler
    chosen = best
    carry = None
    if held is not None and held["index"] == chosen:
        _put_back(s.core, held["weights"])
        _set_rng_state(s.device, held["rng"])
        carry = {k: held[k] for k in ("optimizer", "scheduler", "history", "tokens")} | {"steps": steps}
    else:
        _put_back(s.core, start)
        _set_rng_state(s.device, rng)
    lr = grid[chosen]
    seconds = round(time.perf_counter() - t0, 3)
    return lr, {"chosen": lr, "grid": list(grid), "trial_steps": steps, "val_rows": len(val.ids),
                "seconds": seconds, "continued_from_trial": carry is not None,
                "trials": trials if s.rank == 0 else []}, carry


def settle_learning_rate(s: Any, meta: dict | None, log=print) -> None:
    """Give session ``s`` its rate: the one its checkpoint was trained with when resuming (from the record, or
    from the checkpoint's schedule when it has none), else a search; then continue from the chosen trial."""
    t = s.run.train
    if meta and "learning_rate" not in s.auto:
        s.auto["learning_rate"] = {"chosen": s.scheduler.base_lrs[0], "from_checkpoint": meta["path"]}
    if "learning_rate" not in s.auto:
        lr, s.auto["learning_rate"], carry = search_learning_rate(s, log)
        if carry is None:
            s.optimizer, s.scheduler = make_optimizer(s.params, lr, t.weight_decay, t.warmup_ratio, s.total,
                                                      s.device)
        else:  # the chosen trial ran this run's first steps: go on from there
            s.optimizer, s.scheduler = carry["optimizer"], carry["scheduler"]
            s.start = s.carried = carry["steps"]
            s.history, s.carried_tokens = carry["history"], carry["tokens"]
            log(f"continuing from the chosen trial's step {s.start}")
    chosen = s.auto["learning_rate"]["chosen"]
    s.run = s.run.model_copy(update={"train": t.model_copy(update={"learning_rate": chosen})})
