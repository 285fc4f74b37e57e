"""Launch the training recipe under torchrun as a subprocess this task owns.

Training state lives in a stable sibling folder ``.<out_dir name>.work/`` (config, checkpoints, staging,
torchrun logs), so a retry of the same run resumes from its newest complete checkpoint. ``out_dir`` only
appears, whole, when training succeeded and the manifest checks out.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from tasks.config import TrainConfig
from tasks.errors import ConfigError, TrainingFailed
from tasks.refs import AdapterRef, SplitRef
from tasks.runtime import offline_environment
from tasks.train import nodes
from tasks.train.base_model import resolve_base_model

ROOT = Path(__file__).resolve().parents[2]  # the checkout: tasks/train/launch.py
RANK_PREFIX = re.compile(r"^\[(?:default|rank)?(\d+)\]:(.*)$")
FAILED_RANK = re.compile(r"^\s*rank\s*:\s*(\d+)")


def work_dir_for(out_dir: Path) -> Path:
    return out_dir.parent / f".{out_dir.name}.work"


def content_key(train: TrainConfig, split: SplitRef) -> str:
    """What a training run is, independent of where its files sit: the settings, the base model and the
    digests of the rows it trains and validates on. Two pipeline runs with the same key train the same model,
    so the second resumes from the first's newest checkpoint (``resume_root``)."""
    what = {"settings": train.model_dump(mode="json"), "base_model": resolve_base_model(train.base_model),
            "train_rows": split.train.sha256, "val_rows": split.val.sha256 if split.val else None,
            "dataset": split.dataset_sha256, "test_ids": split.test_ids_sha256}
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()


def recipe_config(train: TrainConfig, split: SplitRef, work: Path) -> dict:
    """The JSON the recipe reads: train fields, resolved base model, split files, work folders."""
    return {"train": train.model_dump(mode="json"), "base_model": resolve_base_model(train.base_model),
            "train_file": split.train.uri, "val_file": split.val.uri if split.val else None,
            "ckpt_dir": str(work / "checkpoints"), "stage_dir": str(work / "stage"),
            "dataset_sha256": split.dataset_sha256, "test_ids_sha256": split.test_ids_sha256}


def nproc(train: TrainConfig) -> int:
    if train.nproc_per_node != "auto":
        return int(train.nproc_per_node)
    import torch

    return max(1, torch.cuda.device_count())


def torchrun_command(train: TrainConfig, config_path: Path, log_dir: Path, run_key: str,
                     node0: bool = True) -> list[str]:
    """``python -m torch.distributed.run`` with the topology from the config; on several nodes node 0 hosts
    the rendezvous store, the others connect to it (``tasks.train.join``) and wait for it as long."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc(train))]
    if train.nnodes > 1:
        if not train.rdzv_endpoint:
            raise ConfigError("train.rdzv_endpoint: required when train.nnodes > 1 (host:port of node 0).")
        wait = min(train.join_timeout_s, train.timeout_s)
        conf = f"is_host={int(node0)},join_timeout={wait}" + ("" if node0 else f",read_timeout={wait}")
        cmd += ["--nnodes", str(train.nnodes), "--rdzv_backend", "c10d", "--rdzv_endpoint",
                train.rdzv_endpoint, "--rdzv_id", run_key[:16], "--rdzv_conf", conf]
    else:
        cmd += ["--standalone"]
    cmd += ["--max_restarts", "0", "--log_dir", str(log_dir), "--tee", "3",
            "-m", "tasks.train.recipe", "--config", str(config_path)]
    return cmd


def _kill_group(proc: subprocess.Popen) -> None:
    """Stop torchrun and every worker: torchrun starts each worker in a session of its own, so killing
    torchrun's group alone would orphan them."""
    import psutil

    if proc.poll() is not None:
        return
    try:
        family = [proc.pid] + [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        family = [proc.pid]
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        for pid in family:
            for kill in (os.killpg, os.kill):
                try:
                    kill(pid, sig)
                except (ProcessLookupError, PermissionError):
                    pass
        try:
            proc.wait(wait)
            if not any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
                       for p in family[1:]):
                return
        except (subprocess.TimeoutExpired, psutil.NoSuchProcess):
            continue


def _die_with_parent() -> None:
    """In the torchrun child: a SIGKILLed pipeline (no finally blocks run) must not leave training running on,
    writing checkpoints a re-run is about to resume from. Its workers do the same towards torchrun."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def run_torchrun(cmd: list[str], timeout_s: float, log_line: Callable[[str], None],
                 env: dict | None = None, meet: tuple[Path, nodes.NodeLaunch] | None = None) -> None:
    """Run ``cmd`` in its own process group, stream its lines, kill the group on timeout or cancel. With
    ``meet`` (several nodes: the work folder and its launch), a run whose process group never formed fails
    with ``NodesDidNotJoin``, naming the nodes to start."""
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, bufsize=1, start_new_session=True, preexec_fn=_die_with_parent)
    lines: queue.Queue[str | None] = queue.Queue()
    reader = threading.Thread(target=lambda: ([lines.put(x) for x in proc.stdout], lines.put(None)), daemon=True)
    reader.start()
    tails: dict[int | None, deque] = {}
    failed_rank, started, done, joined, no_rdzv = None, time.monotonic(), False, meet is None, False
    deadline = started + timeout_s
    try:
        while not done:
            try:
                line = lines.get(timeout=max(0.0, min(1.0, deadline - time.monotonic())))
            except queue.Empty:
                line = ""
            if line is None:
                done = True
                continue
            if line:
                line = line.rstrip("\n")
                m = RANK_PREFIX.match(line)
                rank = int(m.group(1)) if m else None
                tails.setdefault(rank, deque(maxlen=15)).append(m.group(2) if m else line)
                f = FAILED_RANK.match(line)
                failed_rank = int(f.group(1)) if f and failed_rank is None else failed_rank
                joined = joined or nodes.JOINED in line
                no_rdzv = no_rdzv or ("Rendezvous" in line and "Error" in line)
                log_line(line)
            if time.monotonic() > deadline:
                _kill_group(proc)
                if not joined:
                    raise nodes.not_joined(*meet, time.monotonic() - started)
                raise TrainingFailed(f"training exceeded train.timeout_s={timeout_s:g}s and was killed; "
                                     "raise train.timeout_s or lower epochs/max_steps.")
        rc = proc.wait()
    finally:
        _kill_group(proc)  # cancellation (KeyboardInterrupt, Prefect cancel) lands here too
    if rc != 0 and not joined and no_rdzv:
        raise nodes.not_joined(*meet, time.monotonic() - started)
    if rc != 0:
        rank = failed_rank if failed_rank in tails else next(
            (r for r, t in tails.items() if r is not None and any("Traceback" in x or "Error" in x for x in t)),
            None)
        tail = "\n".join(list(tails.get(rank, []))[-12:])
        who = f"rank {rank}" if rank is not None else "torchrun"
        raise TrainingFailed(f"torchrun exited with code {rc}; last lines of {who}:\n{tail}"
                             + (nodes.lost_hint(*meet) if meet else ""))


def verify_manifest(folder: Path) -> str:
    """Check every hash in manifest.json; return the manifest's own sha256."""
    path = folder / "manifest.json"
    if not path.is_file():
        raise TrainingFailed(f"{folder}: training ended without writing manifest.json; see the training log.")
    for rel, digest in json.loads(path.read_text())["files"].items():
        if hashlib.sha256((folder / rel).read_bytes()).hexdigest() != digest:
            raise TrainingFailed(f"{folder / rel}: hash differs from manifest.json; rerun training.")
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def finetune(train: TrainConfig, split: SplitRef, out_dir: Path,
             log_line: Callable[[str], None] = print, env: dict | None = None,
             resume_root: Path | None = None) -> AdapterRef:
    """Train (resuming a previous attempt of the same run if any) and publish ``out_dir`` whole.

    The checkpoints live in a work folder: beside ``out_dir`` by default, or, with ``resume_root``, in
    ``resume_root/<content key>``, shared by every pipeline run that trains the same thing: a pipeline killed
    during fine-tuning and run again (or a Prefect retry of the task) resumes from the newest complete
    checkpoint. A second run training the same thing at the same time uses a folder of its own."""
    if train.precision == "fp16" and not _has_cuda():
        raise ConfigError("train.precision: fp16 needs a CUDA GPU, where the loss is scaled (a gradient scaler) so "
                          "small gradients do not vanish; on this machine use precision: auto or bf16.")
    if train.searches_rate and split.val is None:
        raise ConfigError("train.learning_rate: auto chooses the rate by validation loss, and this split has no "
                          "validation rows; set split.val_fraction (e.g. 0.1) or give a learning rate.")
    out_dir = Path(out_dir)
    key = content_key(train, split)
    work, lock = work_dir_for(out_dir), None
    if resume_root is not None:
        from filelock import FileLock, Timeout

        Path(resume_root).mkdir(parents=True, exist_ok=True)
        try:
            held = FileLock(str(Path(resume_root) / f"{key[:20]}.lock"), thread_local=False)
            held.acquire(timeout=0)
            lock, work = held, Path(resume_root) / key[:20]
        except Timeout:
            log_line(f"another run is training the same model in {Path(resume_root) / key[:20]}; this one starts "
                     "fresh in its own folder")
    try:
        return _train_and_publish(train, split, out_dir, work, key, log_line, env)
    finally:
        if lock is not None:
            lock.release()


def child_environment(env: dict | None) -> dict:
    """torchrun's environment: offline, quiet, and this checkout first on the import path."""
    quiet = {"TRANSFORMERS_VERBOSITY": "warning", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
    return offline_environment({**quiet, **os.environ, **(env or {}), "PYTHONPATH": os.pathsep.join(
        [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])})


def _train_and_publish(train: TrainConfig, split: SplitRef, out_dir: Path, work: Path, key: str,
                       log_line: Callable[[str], None], env: dict | None) -> AdapterRef:
    cfg_path = work / "run.json"
    if cfg_path.is_file() and json.loads(cfg_path.read_text()).get("run_key") != key:
        shutil.rmtree(work)  # checkpoints from a different config or dataset must not be resumed
    work.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(work / "stage", ignore_errors=True)
    meet = None
    if train.nnodes > 1:  # the work folder becomes all the other nodes need (tasks/train/nodes.py)
        (work / nodes.LAUNCH).unlink(missing_ok=True)
        split = nodes.share_split(split, work)
    cfg = recipe_config(train, split, work)
    cfg_path.write_text(json.dumps({**cfg, "run_key": key}, indent=2))
    cmd = torchrun_command(train, cfg_path, work / "logs", key)
    if train.nnodes > 1:
        meet = (work, nodes.NodeLaunch(nnodes=train.nnodes, nproc_per_node=nproc(train), run_key=key,
                                       rdzv_endpoint=train.rdzv_endpoint, work=str(work)))
        nodes.write_launch(work, meet[1])
        for k in range(1, train.nnodes):
            log_line(f"waiting for node {k}: {nodes.node_command(work, k, train.rdzv_endpoint)}")
    run_torchrun(cmd, train.timeout_s, log_line, child_environment(env), meet)
    stage = work / "stage"
    manifest_sha = verify_manifest(stage)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    os.replace(stage, out_dir)
    shutil.rmtree(work, ignore_errors=True)
    metrics = json.loads((out_dir / "metrics.json").read_text())
    labels = json.loads((out_dir / "label_map.json").read_text())["labels"]
    scalars = {k: float(v) for k, v in metrics.items()
               if isinstance(v, (int, float)) and not isinstance(v, bool)}
    return AdapterRef(path=str(out_dir), base_model=cfg["base_model"], task=train.task, labels=labels,
                      manifest_sha256=manifest_sha, metrics=scalars)
