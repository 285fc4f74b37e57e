"""How scrubbing workers start (tasks/pii/workers.py, and a shard's worker on Dask: tasks/pii/shards.py)."""

import json
import os
from pathlib import Path

import pytest


def test_workers_fork_only_without_threads_and_with_torch_blocked(monkeypatch):
    # A fork copies the parent's threads mid-state (Prefect's) and torch's pools do not survive one.
    import sys
    import threading

    from tasks.pii.workers import may_fork

    monkeypatch.setitem(sys.modules, "torch", None)
    assert may_fork() == (threading.active_count() == 1)
    stop = threading.Event()
    t = threading.Thread(target=stop.wait)
    t.start()
    try:
        assert not may_fork()
    finally:
        stop.set()
        t.join()
    monkeypatch.delitem(sys.modules, "torch")
    assert not may_fork()


_MALLINFO = """
import ctypes, ctypes.util, json
from tasks.pii.workers import restore_malloc_thresholds

class Info(ctypes.Structure):  # glibc's struct mallinfo2
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                "fsmblks", "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.mallinfo2.restype = Info

def mapped_for_4_mib():
    before = libc.mallinfo2().hblks
    block = bytearray(4 << 20)  # one malloc of 4 MiB
    return libc.mallinfo2().hblks - before

first = mapped_for_4_mib()
restored = restore_malloc_thresholds()
print(json.dumps([first, restored, mapped_for_4_mib()]))
"""


def test_a_scrubbing_worker_under_dasks_malloc_setting_gets_its_mmap_threshold_back():
    """Dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536, which freezes glibc's mmap threshold at
    128 KiB (every larger block mapped and unmapped: 13-19 % more CPU per shard). After the shard's
    ``restore_malloc_thresholds`` (tasks/pii/workers.py) a 4 MiB block comes from the heap."""
    import ctypes.util
    import subprocess
    import sys

    libc = ctypes.util.find_library("c")
    if not sys.platform.startswith("linux") or not libc or not hasattr(ctypes.CDLL(libc), "mallinfo2"):
        pytest.skip("glibc with mallinfo2 only")
    env = {**os.environ, "MALLOC_TRIM_THRESHOLD_": "65536", "PYTHONPATH": str(Path(__file__).parents[2])}
    out = subprocess.run([sys.executable, "-c", _MALLINFO], env=env, capture_output=True, text=True, check=True)
    first, restored, after = json.loads(out.stdout.splitlines()[-1])
    assert (first, restored, after) == (1, True, 0)


@pytest.mark.slow  # a `tunegate scrub` process on 1,200 notes and the same scrub in this one (~20 s)
def test_the_scrub_command_forks_warm_workers_and_exits_with_every_row_written(tmp_path, monkeypatch):
    """`tunegate scrub` on a file big enough for its pool: workers forked after the scrubber is loaded, the
    collector frozen and malloc's thresholds set before the fork, ``os._exit`` once the files are closed. Its
    output is, byte for byte, a one-process scrub of the same file with the same key."""
    import subprocess
    import sys

    from tasks.ingest.sample_data import write_sample
    from tasks.pii.ops import resolve_pseudonym_key
    from tasks.pii.stream import scrub_file

    root = Path(__file__).parents[2]
    secret = "workers-test-key-not-secret-32-bytes"
    src = write_sample(tmp_path / "in.jsonl", rows=1200, seed=5)  # past MIN_POOL_ROWS: the pool is used
    import yaml

    from tasks.config import load_config

    pii = load_config(root / "examples" / "claims.yaml").pii.model_copy(update={"workers": 2})  # its references
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump({"name": "w", "work_dir": str(tmp_path / "work"),
                                   "pii": pii.model_dump(mode="json")}), encoding="utf-8")
    env = {**os.environ, "TUNEGATE_PII_KEY": secret, "PYTHONPATH": str(root)}
    run = subprocess.run([sys.executable, "-m", "flows.cli", "scrub", "--config", str(cfg), "--input", str(src),
                          "--output", str(tmp_path / "cli.jsonl")], cwd=root, env=env, capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "scrubbed 1200 rows" in run.stdout  # printed before os._exit, and flushed
    monkeypatch.setenv("TUNEGATE_PII_KEY", secret)
    key = resolve_pseudonym_key("TUNEGATE_PII_KEY", None, tmp_path / "work", require=True)
    scrub_file(src, tmp_path / "one.jsonl", "text", pii, key, tmp_path / "one.jsonl.spans.jsonl", workers=1)
    assert (tmp_path / "cli.jsonl").read_bytes() == (tmp_path / "one.jsonl").read_bytes()
    assert (tmp_path / "cli.jsonl.spans.jsonl").read_bytes() == (tmp_path / "one.jsonl.spans.jsonl").read_bytes()
    assert len((tmp_path / "cli.jsonl").read_text().splitlines()) == 1200
