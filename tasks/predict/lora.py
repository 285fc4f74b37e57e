"""Fold a plain LoRA adapter into its base model's weights, without importing PEFT.

Scoring a model folder merges its adapter (``W += B @ A * alpha / r`` on each target layer, and the trained
copies of ``modules_to_save`` put in place): the same weights as PEFT's ``merge_and_unload``, and the same
outputs, checked against PEFT in ``tests/predict/test_lora.py``. PEFT's import alone takes ~1.3 s of every
process that scores (predict, monitor, evaluation; 2-core machine, bytecode compiled); this reads two files.
Any adapter this does not handle exactly (DoRA, rsLoRA, per-layer ranks or alphas, LoRA on embeddings, biases,
a key it cannot place) returns None before a weight is touched, and the caller uses PEFT as before.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

PREFIX = "base_model.model."
# adapter_config.json fields that change what a merge computes: each must hold its plain value here
_PLAIN = {"peft_type": "LORA", "use_dora": False, "use_rslora": False, "fan_in_fan_out": False, "bias": "none",
          "lora_bias": False, "alpha_pattern": {}, "rank_pattern": {}, "target_parameters": None,
          "trainable_token_indices": None, "layer_replication": None, "alora_invocation_tokens": None,
          "use_qalora": False, "use_bdlora": None, "arrow_config": None, "astra_config": None, "kasa_config": None,
          "monteclora_config": None, "velora_config": None}


def merge_lora(model: torch.nn.Module, adapter_dir: Path) -> torch.nn.Module | None:
    """``model`` with the adapter of ``adapter_dir`` folded into its weights (in place), or None (untouched)
    when the adapter is not a plain LoRA this can merge exactly."""
    from safetensors.torch import load_file

    adapter_dir = Path(adapter_dir)
    cfg = json.loads((adapter_dir / "adapter_config.json").read_text())
    if any(cfg.get(k, v) != v for k, v in _PLAIN.items()) or not cfg.get("r"):
        return None
    weights = load_file(str(adapter_dir / "adapter_model.safetensors"))
    params = dict(model.named_parameters())
    scale = float(cfg["lora_alpha"]) / float(cfg["r"])
    deltas: list[tuple[torch.nn.Parameter, torch.Tensor, torch.Tensor]] = []
    copies: list[tuple[torch.nn.Parameter, torch.Tensor]] = []
    for key, value in weights.items():
        if not key.startswith(PREFIX):
            return None
        name = key[len(PREFIX):]
        if name.endswith(".lora_A.weight"):
            continue
        if name.endswith(".lora_B.weight"):
            layer = name[: -len(".lora_B.weight")]
            a, target = weights.get(f"{PREFIX}{layer}.lora_A.weight"), params.get(f"{layer}.weight")
            if a is None or target is None or target.dim() != 2 or \
                    (value.shape[0], a.shape[1]) != tuple(target.shape) or value.shape[1] != a.shape[0]:
                return None
            deltas.append((target, value, a))
        elif "lora_" in name or name not in params or params[name].shape != value.shape:
            return None  # an embedding's LoRA, or a module this model does not have
        else:
            copies.append((params[name], value))  # modules_to_save: the trained copy
    with torch.no_grad():
        for target, b, a in deltas:
            target += (b.to(target.dtype) @ a.to(target.dtype)) * scale
        for target, value in copies:
            target.copy_(value.to(target.dtype))
    return model
