"""The scrubbing worker processes: how they start, and the one call they serve.

Spawned by default: a fork copies every thread of the parent mid-state, and under Prefect there are
always some. A process with no other thread that has shut torch out (``tunegate scrub``: the CLI's file
commands block it) loads the scrubber once and forks warm workers instead; each spawned worker would
import and load everything again (~3-5 s of CPU each, as much as scrubbing 2,000 short documents).
"""

from __future__ import annotations

import multiprocessing as mp
import sys
import threading

from tasks.config import PiiConfig

_WORKER = None


def _init_worker(pii_json: str, key: bytes | None) -> None:
    global _WORKER
    # Presidio imports transformers and torch if they are installed (~5 s per process); the NER-only
    # spaCy path never uses them, so a worker that has not imported them yet never will.
    for name in ("transformers", "torch"):
        sys.modules.setdefault(name, None)
    from tasks.pii.engine import Scrubber

    _WORKER = Scrubber(PiiConfig.model_validate_json(pii_json), key)


def scrub_in_worker(texts: list[str]) -> tuple[list[list], object]:
    """A chunk's spans before the names are judged, and its corpus counts (the window's are merged first)."""
    return _WORKER.candidates(texts)


def may_fork() -> bool:
    """No other thread, and torch blocked (not merely absent: a later import would start its thread pools)."""
    return threading.active_count() == 1 and "fork" in mp.get_all_start_methods() \
        and "torch" in sys.modules and sys.modules["torch"] is None


def start_pool(pii: PiiConfig, key: bytes | None, workers: int, local=None):
    """(pool, the in-process scrubber if one was loaded for a fork) for ``workers`` processes."""
    global _WORKER
    if not may_fork():
        return mp.get_context("spawn").Pool(workers, _init_worker, (pii.model_dump_json(), key)), local
    if local is None:
        from tasks.pii.engine import Scrubber

        local = Scrubber(pii, key)
    local.candidates(["Warm-up with Jane Smith of Leeds."])  # the lazy lists load before the fork
    _WORKER = local
    # What is loaded now lives as long as the processes: the collector stops scanning it (in the parent and
    # in the workers, which no longer copy its pages by touching their headers), and allocation-heavy
    # scrubbing gets fixed malloc thresholds; about 0.3 s of `tunegate scrub`'s 4.5 s on the outside texts.
    import gc

    restore_malloc_thresholds()
    gc.freeze()
    return mp.get_context("fork").Pool(workers), local


# glibc's M_TRIM_THRESHOLD and M_MMAP_THRESHOLD (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def restore_malloc_thresholds() -> bool:
    """Give glibc's allocator thresholds that suit scrubbing, in this process (and the ones it forks); False
    where there is no glibc. Dask's nanny starts every worker with ``MALLOC_TRIM_THRESHOLD_=65536`` (to return
    memory to the system early), and setting any threshold freezes glibc's mmap threshold at 128 KiB: spaCy's
    arrays are then mapped and unmapped on every call, and a shard took 13-19 % more CPU than the same shard
    in a plain process (``benchmarks/pii_dask_bench.py``). A plain process gains 2-3 % too. Memory goes back
    to the system in steps of 64 MiB."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c") if sys.platform.startswith("linux") else None
    try:
        libc = ctypes.CDLL(name) if name else None
        return bool(libc and libc.mallopt(_M_MMAP_THRESHOLD, 32 << 20) and libc.mallopt(_M_TRIM_THRESHOLD, 64 << 20))
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
