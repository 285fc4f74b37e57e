"""The optimiser, its schedule and one optimiser step: shared by the training loop and the learning-rate search.

AdamW with weight decay on matrices only; a linear warm-up over ``train.warmup_ratio`` of the steps, then a
linear decay to zero at the last step. ``optimizer_step`` runs the micro-batches of one step (gradient
accumulation, DDP gradient sync on the last one only), clips, steps and returns the loss sums of every rank.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import torch
import torch.distributed as dist

from tasks.train import data as td
from tasks.train.model import forward_loss


def lr_lambda(warmup: int, total: int):
    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))
    return f


def make_optimizer(params: list, lr: float, weight_decay: float, warmup_ratio: float, total: int,
                   device: torch.device) -> tuple[Any, Any]:
    """(AdamW, LambdaLR) for ``total`` optimiser steps at peak rate ``lr``."""
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=lr, fused=device.type == "cuda")
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(max(1, int(total * warmup_ratio)), total))
    return optimizer, scheduler


def all_sum(values: list[float], world: int, device) -> list[float]:
    if world == 1:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def optimizer_step(s: Any, stream, optimizer, scheduler) -> list[float]:
    """One optimiser step of session ``s`` (``tasks.train.recipe.Session``) on the next batches of ``stream``;
    returns [loss sum, loss count, real tokens] summed over all ranks."""
    t, device, world = s.run.train, s.device, s.world
    sums = [0.0, 0.0, 0.0]
    micro = [{k: v.to(device, non_blocking=True)
              for k, v in td.collate(s.enc, next(stream), s.tok.pad_token_id, t.task, t.max_length).items()}
             for _ in range(t.grad_accum)]
    window = all_sum([float(sum(int((b["labels"] != td.IGNORE).sum()) for b in micro))], world, device)[0]
    for i, batch in enumerate(micro):
        sync = i == len(micro) - 1 or world == 1 or t.fsdp
        with s.model.no_sync() if not sync and hasattr(s.model, "no_sync") else nullcontext():
            loss, n, _ = forward_loss(s.model, batch, t.task, s.dtype, s.class_weight)
            # DDP averages gradients over ranks, so scale by world/window to get the global mean.
            scaled = loss * world / max(window, 1)
            (s.scaler.scale(scaled) if s.scaler else scaled).backward()  # fp16: scaled so gradients survive
        sums[0] += float(loss.detach())
        sums[1] += n
        sums[2] += int(batch["attention_mask"].sum())
    if s.scaler:
        s.scaler.unscale_(optimizer)  # clip the true gradients
    torch.nn.utils.clip_grad_norm_(s.params, 1.0)
    if s.scaler:
        s.scaler.step(optimizer)  # skips the step when a gradient overflowed
        s.scaler.update()
    else:
        optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return all_sum(sums, world, device)
