"""Several nodes: what node 0 leaves in the run's work folder for the others, and how they are checked.

Node 0 (the pipeline's launch task) writes into the work folder ``run.json`` (what the recipe trains, its
split files copied into ``data/``) and ``launch.json`` (how the nodes meet: nodes, processes a node, the
rendezvous id and endpoint). That folder is all another node needs, and it must be on storage every node
reaches: the c10d rendezvous numbers the processes itself, so rank 0, which writes the checkpoints and the
staged model, may run on any node. Node K runs ``tunegate train-node`` (``tasks.train.join``), which marks
itself started in ``nodes/`` so that node 0, when the others never come, can say which of them to start.
Only node 0's launch publishes the model.
"""

from __future__ import annotations

import json
import shlex
import shutil
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from tasks.config import TrainConfig
from tasks.errors import ConfigError, NodesDidNotJoin
from tasks.refs import SplitRef, atomic_file

LAUNCH = "launch.json"
RUN_KEYS = ("base_model", "train_file", "ckpt_dir", "stage_dir", "run_key")  # what another node reads of run.json
JOINED = "[recipe] joined:"  # the recipe's line once its process group has formed (tasks/train/recipe.py)


class NodeLaunch(BaseModel):
    """``launch.json``: the torchrun topology every node must share."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    nnodes: int = Field(ge=2)
    nproc_per_node: int = Field(ge=1)  # resolved on node 0: every node starts as many (the same global batch)
    rdzv_endpoint: str
    run_key: str
    work: str  # the folder's path on node 0; paths in run.json under it are read relative to --run-dir


def share_split(split: SplitRef, work: Path) -> SplitRef:
    """Copy the split files the recipe reads into ``work/data/`` so the work folder is self-sufficient."""
    parts = {}
    for name in ("train", "val"):
        ref = getattr(split, name)
        if ref is not None:
            dest = work / "data" / f"{name}.parquet"
            with atomic_file(dest) as tmp:
                shutil.copyfile(ref.uri, tmp)
            parts[name] = ref.model_copy(update={"uri": str(dest)})
    return split.model_copy(update=parts)


def write_launch(work: Path, launch: NodeLaunch) -> None:
    """Forget which nodes started for an earlier attempt, then write ``launch.json``."""
    shutil.rmtree(work / "nodes", ignore_errors=True)
    with atomic_file(work / LAUNCH) as tmp:
        tmp.write_text(launch.model_dump_json(indent=2))


def node_command(run_dir: Path | str, rank: int, endpoint: str) -> str:
    return f"tunegate train-node --run-dir {shlex.quote(str(run_dir))} --node-rank {rank} --rdzv {endpoint}"


def mark_started(run_dir: Path, rank: int) -> None:
    with atomic_file(run_dir / "nodes" / f"{rank}.started") as tmp:
        tmp.write_text(str(rank))


def not_joined(run_dir: Path, launch: NodeLaunch, waited_s: float) -> NodesDidNotJoin:
    """Which nodes never started ``train-node`` (none marked started), and the command for each."""
    others = range(1, launch.nnodes)
    absent = [k for k in others if not (run_dir / "nodes" / f"{k}.started").is_file()]
    how = "\n".join(f"  node {k}: {node_command(run_dir, k, launch.rdzv_endpoint)}" for k in absent or others)
    if absent:
        what = f"node{'s' if len(absent) > 1 else ''} {', '.join(map(str, absent))} did not join"
    else:
        what = (f"nodes {', '.join(map(str, others))} started but did not reach the rendezvous (check that they "
                f"reach {launch.rdzv_endpoint} and node 0's address: firewall, --rdzv)")
    return NodesDidNotJoin(
        f"train.nnodes={launch.nnodes}: {what} within {waited_s:.0f} s (train.join_timeout_s, train.timeout_s); "
        f"nothing was trained or published. Run the pipeline again and, within train.join_timeout_s, start on "
        f"each other node (the work folder mounted at the same path, or --run-dir its path there):\n{how}\n"
        f"or set train.nnodes: 1 to train on this node alone.")


def lost_hint(run_dir: Path, launch: NodeLaunch) -> str:
    return (f"\nA node may have stopped. The checkpoints in {run_dir / 'checkpoints'} are kept: run the pipeline "
            f"again and restart the other nodes ({node_command(run_dir, 1, launch.rdzv_endpoint)}, and so on); "
            "it resumes from the newest checkpoint.")


def find_run(run_dir: Path) -> Path:
    """``run_dir`` itself, or the one run waiting for nodes in it (``<work_dir>/train-work``, whose run folders are
    named by what they train, so a Kubernetes Job can be written before node 0 starts)."""
    waiting = sorted(p.parent for p in run_dir.glob(f"*/{LAUNCH}")) if not (run_dir / LAUNCH).is_file() else []
    if len(waiting) > 1:
        raise ConfigError(f"--run-dir {run_dir}: several runs wait for nodes ({', '.join(p.name for p in waiting)}); "
                          "give the one node 0 logged.")
    return waiting[0] if waiting else run_dir


def read_run_dir(run_dir: Path, node_rank: int) -> tuple[Path, NodeLaunch, dict]:
    """The run folder (``find_run``), its ``launch.json`` and ``run.json``, checked, with run.json's paths read
    from that folder."""
    run_dir = find_run(run_dir)
    if not run_dir.is_dir():
        raise ConfigError(f"--run-dir {run_dir}: no such folder on this node; give the work folder node 0 logged "
                          "(it holds run.json and launch.json) on storage this node reaches.")
    if not (run_dir / LAUNCH).is_file():
        raise ConfigError(f"--run-dir {run_dir}: no {LAUNCH}; node 0 has not started this run yet, it has finished "
                          "(the folder goes once the model is published), or it trains on one node (train.nnodes).")
    try:
        launch = NodeLaunch.model_validate_json((run_dir / LAUNCH).read_text())
        cfg = json.loads((run_dir / "run.json").read_text())
        TrainConfig.model_validate(cfg["train"])  # the recipe checks the rest; importing it here costs seconds
        if not all(isinstance(cfg.get(k), str) for k in RUN_KEYS):
            raise ValueError("run.json lacks a key")
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ConfigError(f"--run-dir {run_dir}: {LAUNCH} or run.json is missing or damaged "
                          f"({type(e).__name__}); run the pipeline on node 0 again (it rewrites both).") from None
    if cfg.get("run_key") != launch.run_key:
        raise ConfigError(f"--run-dir {run_dir}: {LAUNCH} and run.json belong to different runs; "
                          "run the pipeline on node 0 again (it rewrites both).")
    if not 1 <= node_rank < launch.nnodes:
        raise ConfigError(f"--node-rank {node_rank}: this run has train.nnodes={launch.nnodes}, so the other nodes "
                          f"are 1 to {launch.nnodes - 1} (node 0 is the pipeline's own launch).")
    cfg = rebase(cfg, Path(launch.work), run_dir)
    for key in ("train_file", "val_file", "base_model"):
        if cfg.get(key) and not Path(cfg[key]).exists():
            raise ConfigError(f"{key}: {cfg[key]} is not on this node; "
                              + ("install the same base model here at that path." if key == "base_model" else
                                 f"--run-dir {run_dir} lacks node 0's copy: run the pipeline on node 0 again."))
    return run_dir, launch, cfg


def rebase(cfg: dict, work: Path, run_dir: Path) -> dict:
    """run.json's paths under node 0's work folder, read under ``run_dir`` (the same volume, mounted elsewhere)."""
    out = dict(cfg)
    for key in ("train_file", "val_file", "ckpt_dir", "stage_dir"):
        if out.get(key) and Path(out[key]).is_relative_to(work):
            out[key] = str(run_dir / Path(out[key]).relative_to(work))
    return out
