"""Validation while training: evaluate every N steps, keep the best weights, stop when the loss plateaus.

With ``train.eval_every`` set, the training loop scores the validation split every N optimiser steps (and
at the last one). ``ValidationTracker`` records the curve, remembers the trainable weights at the lowest
validation loss (``train.keep_best``: LoRA adapters and heads, or every weight of a full fine-tune), and
asks the loop to stop after ``train.early_stopping_patience`` evaluations without improvement. At the end
the best weights are put back before the model is saved. Rank 0 evaluates; its verdict reaches every
rank through one collective, so all ranks stop, and restore, together.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

MIN_DELTA = 1e-4  # a smaller drop in validation loss is not an improvement


@dataclass
class ValidationTracker:
    every: int  # optimiser steps between evaluations
    patience: int | None  # evaluations without improvement before stopping (None: never stop early)
    keep_best: bool
    curve: list[dict] = field(default_factory=list)
    best_loss: float = math.inf
    best_step: int | None = None
    stopped_at: int | None = None
    _bad: int = 0
    _best: dict[str, torch.Tensor] | None = None

    def due(self, step: int, total: int) -> bool:
        return step % self.every == 0 or step == total

    def observe(self, step: int, result: dict, model: torch.nn.Module) -> bool:
        """Record one evaluation (``val_loss`` …); remember the weights if it is the best; True: stop now."""
        self.curve.append({"step": step, **{k: round(float(v), 6) for k, v in result.items() if k != "val_rows"}})
        if result["val_loss"] < self.best_loss - MIN_DELTA:
            self.best_loss, self.best_step, self._bad = float(result["val_loss"]), step, 0
            if self.keep_best:
                self._best = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
        else:
            self._bad += 1
        if self.patience is not None and self._bad >= self.patience:
            self.stopped_at = step
            return True
        return False

    def restore(self, model: torch.nn.Module, last_step: int) -> bool:
        """Put the best weights back (when they are not the last step's); True if it did."""
        if self._best is None or self.best_step == last_step:
            return False
        with torch.no_grad():
            for n, p in model.named_parameters():
                if n in self._best:
                    p.copy_(self._best[n])
        return True

    def metrics(self) -> dict:
        return {"val_curve": self.curve, "best_step": self.best_step,
                "best_val_loss": None if self.best_step is None else round(self.best_loss, 6),
                "stopped_early_at": self.stopped_at}


def eval_interval(setting: int | str | None, total: int) -> int | None:
    """``train.eval_every``: a number of steps, ``auto`` (ten evaluations a run), or None (only at the end)."""
    if setting is None:
        return None
    return max(1, total // 10) if setting == "auto" else int(setting)
