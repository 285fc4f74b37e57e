"""Fine-tuning on several nodes: node 0 is the pipeline's launch task, node K is `tunegate train-node`.

Two "nodes" are two torchrun agents on 127.0.0.1 meeting at a c10d rendezvous (gloo, one process each).
"""

import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tasks.config import TrainConfig
from tasks.errors import ConfigError, NodesDidNotJoin, TrainingFailed
from tasks.train import nodes
from tasks.train.checkpoint import complete_checkpoints
from tasks.train.launch import ROOT, content_key, recipe_config
from tests.tiny_models import tiny_bert, toy_split

ENV = {"TUNEGATE_THREADS": "1", "OMP_NUM_THREADS": "1"}
TUNEGATE = Path(sys.executable).with_name("tunegate")
WAITING = re.compile(r"waiting for node 1: tunegate (train-node .*)$")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny")
    return {"bert": str(tiny_bert(d / "bert")), "split": toy_split(d)}


@pytest.fixture
def env(monkeypatch):
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _train(tiny, **kw) -> TrainConfig:
    return TrainConfig(**{"base_model": tiny["bert"], "max_length": 48, "batch_size": 8, "learning_rate": 5e-3,
                          "nproc_per_node": 1, "nnodes": 2, "rdzv_endpoint": f"127.0.0.1:{_free_port()}",
                          "timeout_s": 300, **kw})


class Node0:
    """``launch_finetune`` as the pipeline calls it, in a thread; its log lines collected."""

    def __init__(self, train: TrainConfig, split, tmp: Path):
        self.lines: list[str] = []
        self.out = tmp / "model"
        handler = logging.Handler()
        handler.emit = lambda record: self.lines.append(record.getMessage())
        logger = logging.getLogger("tunegate.train")
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        self.done = threading.Event()
        pool = ThreadPoolExecutor(1)
        self.future = pool.submit(self._run, train, split, tmp, logger, handler)
        pool.shutdown(wait=False)

    def _run(self, train, split, tmp, logger, handler):
        from tasks.train.task import launch_finetune

        try:
            return launch_finetune.fn(train, split, self.out, work_dir=tmp / "work")
        finally:
            logger.removeHandler(handler)
            self.done.set()

    def command_for_node1(self, timeout: float = 60) -> list[str]:
        """The `tunegate train-node ...` command node 0 logged for node 1."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.done.is_set():
            found = [m.group(1) for x in list(self.lines) if (m := WAITING.search(x))]
            if found:
                return found[0].split()
            time.sleep(0.05)
        raise AssertionError("node 0 never logged the command for node 1:\n" + "\n".join(self.lines[-20:]))


def _start_node(args: list[str], log: Path) -> subprocess.Popen:
    """`tunegate train-node ...` in a session of its own, its output to ``log`` (a pipe nobody reads could fill)."""
    env = {**os.environ, **ENV, "PYTHONPATH": str(ROOT)}
    with open(log, "w") as out:
        return subprocess.Popen([str(TUNEGATE), *args], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def _kill_family(proc: subprocess.Popen) -> None:
    import psutil

    family = [proc.pid] + [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]
    for pid in family:  # train-node, its torchrun's group and each worker's own session, at once
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait(30)


def _trainers_of(run_dir: Path) -> list[int]:
    import psutil

    return [p.pid for p in psutil.process_iter(["cmdline"])
            if "tasks.train.recipe" in " ".join(p.info["cmdline"] or []) and str(run_dir) in " ".join(
                p.info["cmdline"] or [])]


def _curve(folder: Path) -> list[dict]:
    return json.loads((folder / "metrics.json").read_text())["loss_curve"]


@pytest.mark.distributed
@pytest.mark.timeout(240)
def test_two_nodes_train_the_same_curve_as_one_node_with_two_processes(tmp_path, tiny, env):
    from tasks.train.task import launch_finetune

    train = _train(tiny, max_steps=10, checkpoint_every=4)
    one_node = ThreadPoolExecutor(1).submit(  # the same global batch: two processes on one node
        launch_finetune.fn, train.model_copy(update={"nnodes": 1, "nproc_per_node": 2, "rdzv_endpoint": None}),
        tiny["split"], tmp_path / "one" / "model")
    node0 = Node0(train, tiny["split"], tmp_path / "two")
    node1 = _start_node(node0.command_for_node1(), tmp_path / "node1.log")
    ref = node0.future.result(timeout=200)
    node1.wait(60)
    out1 = (tmp_path / "node1.log").read_text()
    assert node1.returncode == 0, out1[-3000:]
    assert "node 1 of 2: joining" in out1 and "node 0 publishes the model" in out1

    assert ref.path == str(node0.out) and ref.metrics["world_size"] == 2 and ref.metrics["steps"] == 10
    assert (node0.out / "manifest.json").is_file() and not list((tmp_path / "two" / "work" / "train-work").glob(
        "*/checkpoints"))  # the work folder, shared with node 1, is gone once node 0 published
    one = one_node.result(timeout=200)
    assert one.metrics["world_size"] == 2
    two_nodes, one_two = _curve(node0.out), _curve(tmp_path / "one" / "model")
    assert [x["step"] for x in two_nodes] == [x["step"] for x in one_two] == list(range(1, 11))
    for a, b in zip(two_nodes, one_two):
        assert a["loss"] == pytest.approx(b["loss"], rel=0.01), (a, b)
    print("largest relative loss difference:", max(abs(a["loss"] - b["loss"]) / b["loss"]
                                                    for a, b in zip(two_nodes, one_two)))


@pytest.mark.distributed
@pytest.mark.timeout(240)
def test_a_node_killed_mid_run_fails_node_0_and_both_resume_from_the_checkpoint(tmp_path, tiny, env):
    train = _train(tiny, max_steps=40, checkpoint_every=4)
    node0 = Node0(train, tiny["split"], tmp_path)
    args = node0.command_for_node1()
    run_dir = Path(args[args.index("--run-dir") + 1])
    node1 = _start_node(args, tmp_path / "node1.log")
    deadline = time.monotonic() + 120
    while not complete_checkpoints(run_dir / "checkpoints"):
        assert time.monotonic() < deadline and node1.poll() is None, (tmp_path / "node1.log").read_text()[-3000:]
        time.sleep(0.02)
    _kill_family(node1)
    with pytest.raises(TrainingFailed) as err:
        node0.future.result(timeout=120)
    assert "A node may have stopped" in str(err.value) and "tunegate train-node --run-dir" in str(err.value)
    assert not node0.out.exists()  # nothing published
    assert not _trainers_of(run_dir)  # node 0's torchrun and worker are gone too
    left = int(complete_checkpoints(run_dir / "checkpoints")[0].name.split("-")[1])
    assert 4 <= left < 40

    again = Node0(train, tiny["split"], tmp_path)  # the same run on both nodes, started again
    assert again.command_for_node1() == args
    node1 = _start_node(args, tmp_path / "node1-again.log")
    ref = again.future.result(timeout=200)
    assert node1.wait(60) == 0, (tmp_path / "node1-again.log").read_text()[-3000:]
    m = json.loads((again.out / "metrics.json").read_text())
    assert m["resumed_from_step"] == left and ref.metrics["steps"] == 40 and len(m["loss_curve"]) == 40
    assert not run_dir.exists()


@pytest.mark.distributed
@pytest.mark.timeout(120)  # < train.timeout_s (300 s): only the 4 s join timeout can end the wait in time
def test_node_0_alone_names_the_nodes_that_did_not_join_and_how_to_start_them(tmp_path, tiny, env):
    from tasks.train.task import launch_finetune

    train = _train(tiny, max_steps=4, join_timeout_s=4)
    with pytest.raises(NodesDidNotJoin) as err:
        launch_finetune.fn(train, tiny["split"], tmp_path / "model", work_dir=tmp_path / "work")
    msg = str(err.value)
    (run_dir,) = (tmp_path / "work" / "train-work").glob("*/launch.json")
    assert "node 1 did not join" in msg and "nothing was trained or published" in msg
    assert (f"tunegate train-node --run-dir {run_dir.parent} --node-rank 1 --rdzv {train.rdzv_endpoint}"
            in msg)
    assert not (tmp_path / "model").exists() and not complete_checkpoints(run_dir.parent / "checkpoints")


# ---- the work folder another node reads: checked before anything starts --------------------------------
@pytest.fixture(scope="module")
def light(tmp_path_factory):
    """A split and a stand-in base model folder: enough to write a run folder, nothing trains here."""
    d = tmp_path_factory.mktemp("light")
    (d / "base").mkdir()
    (d / "base" / "config.json").write_text("{}")
    return {"bert": str(d / "base"), "split": toy_split(d)}


@pytest.fixture
def run_dir(tmp_path, light):
    train = _train(light, nnodes=3)
    work = tmp_path / "shared" / "work"
    split = nodes.share_split(light["split"], work)
    key = content_key(train, split)
    (work / "run.json").write_text(json.dumps({**recipe_config(train, split, work), "run_key": key}))
    nodes.write_launch(work, nodes.NodeLaunch(nnodes=3, nproc_per_node=1, rdzv_endpoint=train.rdzv_endpoint,
                                              run_key=key, work=str(work)))
    return work


@pytest.mark.parametrize("damage, rank, expected", [
    (None, 0, "--node-rank 0: this run has train.nnodes=3, so the other nodes are 1 to 2"),
    (None, 3, "--node-rank 3: this run has train.nnodes=3"),
    ("no folder", 1, "no such folder on this node"),
    ("no launch", 1, "no launch.json; node 0 has not started this run yet"),
    ("damaged run", 1, "launch.json or run.json is missing or damaged (JSONDecodeError)"),
    ("damaged launch", 1, "launch.json or run.json is missing or damaged (ValidationError)"),
    ("other run", 1, "belong to different runs"),
    ("no data", 1, "lacks node 0's copy"),
])
def test_a_bad_run_dir_or_node_rank_is_a_config_error(run_dir, damage, rank, expected, tmp_path):
    from tasks.train.join import join_run

    if damage == "no folder":
        run_dir = tmp_path / "elsewhere"
    elif damage == "no launch":
        (run_dir / "launch.json").unlink()
    elif damage == "damaged run":
        (run_dir / "run.json").write_text('{"train": ')
    elif damage == "damaged launch":
        (run_dir / "launch.json").write_text('{"nnodes": 1}')
    elif damage == "other run":
        cfg = json.loads((run_dir / "run.json").read_text())
        (run_dir / "run.json").write_text(json.dumps({**cfg, "run_key": "another"}))
    elif damage == "no data":
        (run_dir / "data" / "train.parquet").unlink()
    with pytest.raises(ConfigError) as err:
        join_run(run_dir, rank, None, log_line=lambda s: None)
    assert expected in str(err.value)
    assert not (run_dir / "nodes").exists()  # refused before marking itself started


def test_the_folder_mounted_elsewhere_is_read_from_there(run_dir, tmp_path):
    moved = tmp_path / "mounted-here"
    run_dir.rename(moved)
    found, launch, cfg = nodes.read_run_dir(moved, 2)
    assert found == moved and launch.nnodes == 3 and cfg["train_file"] == str(moved / "data" / "train.parquet")
    assert cfg["ckpt_dir"] == str(moved / "checkpoints") and cfg["stage_dir"] == str(moved / "stage")


def test_the_run_waiting_in_train_work_is_found(run_dir, tmp_path):
    assert nodes.read_run_dir(run_dir.parent, 1)[0] == run_dir  # <work_dir>/train-work: the one run there
    other = run_dir.parent / "other"
    other.mkdir()
    (other / "launch.json").write_text((run_dir / "launch.json").read_text())
    with pytest.raises(ConfigError, match="several runs wait for nodes"):
        nodes.read_run_dir(run_dir.parent, 1)


def test_not_joined_names_the_nodes_that_never_started_and_the_command_for_each(run_dir):
    launch = nodes.NodeLaunch.model_validate_json((run_dir / "launch.json").read_text())
    msg = str(nodes.not_joined(run_dir, launch, 600))
    assert "nodes 1, 2 did not join within 600 s" in msg and "--node-rank 2 --rdzv 127.0.0.1:" in msg
    nodes.mark_started(run_dir, 1)
    msg = str(nodes.not_joined(run_dir, launch, 600))
    assert "node 2 did not join" in msg and "--node-rank 1 " not in msg and "--node-rank 2 " in msg
    nodes.mark_started(run_dir, 2)
    assert "nodes 1, 2 started but did not reach the rendezvous" in str(nodes.not_joined(run_dir, launch, 600))
    nodes.write_launch(run_dir, launch)  # node 0's next attempt forgets who started for this one
    assert "nodes 1, 2 did not join" in str(nodes.not_joined(run_dir, launch, 600))


def test_a_bad_rdzv_is_a_config_error(run_dir):
    from tasks.train.join import join_run

    with pytest.raises(ConfigError, match="--rdzv node0: expected HOST:PORT"):
        join_run(run_dir, 1, "node0")


@pytest.mark.parametrize("node0, kw, conf", [
    (True, {}, "is_host=1,join_timeout=600"),
    (False, {}, "is_host=0,join_timeout=600,read_timeout=600"),  # a node started first waits for node 0's store
    (True, {"timeout_s": 90}, "is_host=1,join_timeout=90"),  # never longer than the whole launch
    (True, {"join_timeout_s": 30}, "is_host=1,join_timeout=30"),
])
def test_node_0_hosts_the_rendezvous_and_the_others_connect(node0, kw, conf, tmp_path):
    from tasks.train.launch import torchrun_command

    train = TrainConfig(nnodes=2, nproc_per_node=1, rdzv_endpoint="node0:29500", **kw)
    cmd = torchrun_command(train, tmp_path / "run.json", tmp_path, "k" * 64, node0=node0)
    assert cmd[cmd.index("--rdzv_conf") + 1] == conf and cmd[cmd.index("--rdzv_id") + 1] == "k" * 16


def test_the_command_reports_a_config_error_in_one_line(tmp_path, capsys):
    from flows.cli import main

    assert main(["train-node", "--run-dir", str(tmp_path / "none"), "--node-rank", "1"]) == 2
    assert capsys.readouterr().err.startswith("ConfigError: --run-dir ")
