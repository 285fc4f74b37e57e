"""The train stage's Prefect boundary: its tasks, thin wrappers over the plain modules beside it."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from prefect import task

from tasks.caching import FilesStillThere, config_digest
from tasks.config import PipelineConfig, SplitConfig, TrainConfig
from tasks.errors import ConfigError, NodesDidNotJoin, TrainingFailed
from tasks.refs import AdapterRef, DatasetRef, SplitRef
from tasks.runtime import progress, run_logger
from tasks.train.base_model import resolve_base_model
from tasks.train.launch import finetune
from tasks.train.split import write_split

STEP = re.compile(r"\[recipe\] step (\d+)/(\d+)")


@task(name="split_dataset")
def split_dataset(dataset: DatasetRef, split: SplitConfig, run_dir: Path, champion_dir: Path | None = None) -> SplitRef:
    """Stratified, seeded train/val/test split of a (scrubbed) dataset; rows the champion (its version folder
    ``champion_dir``) learned from stay out of the test part."""
    return write_split(dataset, split.test_fraction, split.val_fraction, split.seed, Path(run_dir),
                       champion_trained_ids(champion_dir))


def champion_trained_ids(champion_dir: Path | None) -> frozenset[str]:
    """The id hashes a champion version learned from (its ``trained_ids.json``); empty for none or an old one."""
    path = Path(champion_dir, "trained_ids.json") if champion_dir else None
    if path is None or not path.is_file():
        return frozenset()
    return frozenset(json.loads(path.read_text())["ids"])


def _worth_retrying(task, task_run, state) -> bool:
    """Retry a training job that died (a killed or preempted worker), not one that cannot work: a bad config,
    bad data, a timeout or other nodes that never came would only fail again. The retry resumes from the newest
    checkpoint (on several nodes, once the other nodes are started again)."""
    exc = state.result(raise_on_failure=False)
    return isinstance(exc, TrainingFailed) and not isinstance(exc, NodesDidNotJoin) and "timeout_s" not in str(exc)


@task(name="launch_finetune", retries=1, retry_condition_fn=_worth_retrying)
def launch_finetune(train: TrainConfig, split: SplitRef, out_dir: Path, work_dir: Path | None = None) -> AdapterRef:
    """Fine-tune under torchrun; returns a reference to the published model folder. With the pipeline's
    ``work_dir``, the checkpoints go to ``<work_dir>/train-work/<content key>``: a run that trains the same
    thing as a killed one, or a retry of this task, resumes from the newest of them."""
    log = run_logger("tunegate.train").info
    resume_root = Path(work_dir).resolve() / "train-work" if work_dir else None
    with progress("fine-tune", None, "steps") as bar:  # rank 0's "[recipe] step N/M" lines drive it
        def line(text: str) -> None:
            log(text)
            if m := STEP.search(text):
                bar.update(int(m.group(1)), int(m.group(2)))

        return finetune(train, split, Path(out_dir), line, resume_root=resume_root)


@task(name="check_config")
def check_config(cfg: PipelineConfig) -> str:
    """Fail before any data work when the data, the base model or (in a deployment's run) the audit or evidence
    key is missing; returns the model's path."""
    from tasks.keys import preflight

    preflight(cfg.registry_scope)
    if cfg.data.sample is None and not Path(cfg.data.source).exists():
        raise ConfigError(f"data.source: {cfg.data.source} does not exist and data.sample is not set; "
                          "point it at a CSV/JSONL/Parquet file or add a sample: section.")
    return resolve_base_model(cfg.train.base_model)


def _split_key(p: dict) -> str:
    ids = Path(p["champion_dir"], "trained_ids.json") if p.get("champion_dir") else None
    kept_out = hashlib.sha256(ids.read_bytes() if ids and ids.is_file() else b"").hexdigest()[:12]
    return f"split-{p['dataset'].sha256[:24]}-{config_digest(p['split'])}-{kept_out}"


def _finetune_key(p: dict) -> str:
    s = p["split"]
    data = hashlib.sha256("".join([s.train.sha256, s.val.sha256 if s.val else "", s.test_ids_sha256]).encode())
    return f"finetune-{data.hexdigest()[:24]}-{config_digest(p['train'])}"


# The training pipeline's split and fine-tune: reused for the same input, settings and code while their files are there.
split_dataset_cached = split_dataset.with_options(
    cache_policy=FilesStillThere(key=_split_key, paths=lambda r: [r.train.uri, r.test.uri]), persist_result=True)
launch_finetune_cached = launch_finetune.with_options(
    cache_policy=FilesStillThere(key=_finetune_key, paths=lambda r: [Path(r.path, "manifest.json")]),
    persist_result=True)
