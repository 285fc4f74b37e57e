"""``tunegate train-node``: another node joins node 0's training run.

Reads and checks the work folder node 0 wrote (``tasks.train.nodes``), marks this node started, and runs the
same torchrun command as node 0 (the same nodes, processes a node and rendezvous id), as a client of node 0's
rendezvous. It writes nothing of the model: whichever process the rendezvous makes rank 0 writes checkpoints
and the staged model into the shared folder, and node 0's launch publishes it.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from tasks.config import TrainConfig
from tasks.errors import ConfigError
from tasks.train import nodes
from tasks.train.launch import child_environment, run_torchrun, torchrun_command

ENDPOINT = re.compile(r"^[A-Za-z0-9.\-_\[\]:]+:\d{1,5}$")


def join_run(run_dir: Path, node_rank: int, rdzv: str | None, log_line: Callable[[str], None] = print,
             env: dict | None = None) -> int:
    """Join the run in ``run_dir`` (or the one waiting in it) as node ``node_rank``; returns when this node's
    processes have finished. ``rdzv`` (host:port) replaces the recorded endpoint, for a node that reaches node 0
    by another name."""
    run_dir = Path(run_dir).resolve()
    if rdzv is not None and not ENDPOINT.match(rdzv):
        raise ConfigError(f"--rdzv {rdzv}: expected HOST:PORT of node 0's rendezvous, e.g. node0:29500.")
    run_dir, launch, cfg = nodes.read_run_dir(run_dir, node_rank)
    endpoint = rdzv or launch.rdzv_endpoint
    train = TrainConfig.model_validate(cfg["train"]).model_copy(
        update={"nproc_per_node": launch.nproc_per_node, "rdzv_endpoint": endpoint})
    local = Path(tempfile.mkdtemp(prefix=f"tunegate-node{node_rank}-"))  # this node's own files, not shared
    try:
        (local / "run.json").write_text(json.dumps(cfg, indent=2))
        nodes.mark_started(run_dir, node_rank)
        log_line(f"node {node_rank} of {launch.nnodes}: joining {endpoint} with {launch.nproc_per_node} "
                 f"process(es), run folder {run_dir}")
        cmd = torchrun_command(train, local / "run.json", local / "logs", launch.run_key, node0=False)
        run_torchrun(cmd, train.timeout_s, log_line, child_environment(env))
    finally:
        shutil.rmtree(local, ignore_errors=True)
    log_line(f"node {node_rank}: done; node 0 publishes the model")
    return 0
