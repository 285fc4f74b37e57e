"""Training checkpoints: written whole or not at all, loaded with safe formats only.

A checkpoint is a folder ``step-NNNNNNN/`` with the trainable weights (safetensors), optimizer and
scheduler state and RNG state (``torch.save``, loaded with ``weights_only=True``), and a ``COMPLETE``
marker written last. It is built under a temporary name and renamed into place, so a crash mid-write leaves
a folder resume ignores.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

MARKER = "COMPLETE"


def trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().to("cpu").contiguous() for n, p in model.named_parameters() if p.requires_grad}


def save_checkpoint(ckpt_dir: Path, step: int, model: torch.nn.Module, optimizer, scheduler,
                    extra: dict, keep: int = 2) -> Path:
    """Write checkpoint ``step`` atomically and drop all but the newest ``keep`` complete ones."""
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    final = ckpt_dir / f"step-{step:07d}"
    tmp = ckpt_dir / f".tmp-step-{step:07d}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    save_file(trainable_state(model), str(tmp / "model.safetensors"))
    rng = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state()
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "rng": rng},
               tmp / "state.pt")
    (tmp / "meta.json").write_text(json.dumps({"step": step, **extra}))
    with open(tmp / MARKER, "w") as f:
        f.write(str(step))
        f.flush()
        os.fsync(f.fileno())
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    for old in complete_checkpoints(ckpt_dir)[keep:]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def complete_checkpoints(ckpt_dir: Path) -> list[Path]:
    """Complete checkpoints, newest first (folders without the marker are torn and ignored)."""
    if not ckpt_dir.is_dir():
        return []
    found = [p for p in ckpt_dir.glob("step-*") if (p / MARKER).is_file()]
    return sorted(found, key=lambda p: int(p.name.split("-")[1]), reverse=True)


def load_latest(ckpt_dir: Path, model: torch.nn.Module, optimizer, scheduler) -> dict | None:
    """Restore the newest loadable complete checkpoint; returns its meta (with ``step``) or None."""
    for path in complete_checkpoints(ckpt_dir):
        try:
            weights = load_file(str(path / "model.safetensors"))
            state = torch.load(path / "state.pt", weights_only=True, map_location="cpu")
            meta = json.loads((path / "meta.json").read_text())
        except Exception:  # noqa: BLE001, S112 - any damaged file: fall back to the one before
            continue
        params = dict(model.named_parameters())
        missing = [n for n in weights if n not in params]
        if missing:
            continue
        with torch.no_grad():
            for n, t in weights.items():
                params[n].copy_(t.to(params[n].device, params[n].dtype))
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"]["cpu"])
        if "cuda" in state["rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state(state["rng"]["cuda"])
        meta["path"] = str(path)
        return meta
    return None


def write_manifest(folder: Path) -> None:
    """``manifest.json``: the SHA-256 of every other file in a finished model folder, written last."""
    import hashlib

    files = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file() and p.name != "manifest.json":
            files[str(p.relative_to(folder))] = hashlib.sha256(p.read_bytes()).hexdigest()
    (folder / "manifest.json").write_text(json.dumps({"files": files}, indent=2))
