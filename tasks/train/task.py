"""The train stage's Prefect boundary: its tasks, thin wrappers over the plain modules beside it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

# ---- from split --------------------------------------------------------------------------------
from prefect import task

from tasks.config import SplitConfig, TrainConfig
from tasks.refs import AdapterRef, DatasetRef, SplitRef
from tasks.train.launch import finetune
from tasks.train.split import write_split


@task(name="split_dataset")
def split_dataset(dataset: DatasetRef, split: SplitConfig, run_dir: Path) -> SplitRef:
    """Stratified, seeded train/val/test split of a (scrubbed) dataset."""
    return write_split(dataset, split.test_fraction, split.val_fraction, split.seed, Path(run_dir))


# ---- from launch --------------------------------------------------------------------------------
from prefect import task
from prefect.context import TaskRunContext


def _logger_line() -> Callable[[str], None]:
    if TaskRunContext.get() is not None:
        from prefect import get_run_logger

        return get_run_logger().info
    return logging.getLogger("tunegate.train").info


@task(name="launch_finetune")
def launch_finetune(train: TrainConfig, split: SplitRef, out_dir: Path) -> AdapterRef:
    """Fine-tune under torchrun; returns a reference to the published model folder."""
    return finetune(train, split, Path(out_dir), _logger_line())
