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
    return mp.get_context("fork").Pool(workers), local
