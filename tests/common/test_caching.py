"""The cached stages' policy: the same input, config and code reuse a result while its files are still there."""

from __future__ import annotations

import uuid
from pathlib import Path

from tasks.caching import CODE_DIGEST, FilesStillThere, stored_in


def test_a_cached_result_whose_files_are_gone_is_recomputed_once(prefect_harness, tmp_path):
    from prefect import flow, task

    calls: list[str] = []

    @task(name="write_thing")
    def write_thing(value: str, run_dir: Path) -> str:
        calls.append(value)
        out = Path(run_dir) / f"thing-{uuid.uuid4().hex[:6]}.txt"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(value)
        return str(out)

    cached = write_thing.with_options(
        cache_policy=FilesStillThere(key=lambda p: f"thing-{p['value']}", paths=lambda r: [r]), persist_result=True)

    @flow
    def pipeline(value: str, run: str) -> str:
        return stored_in(cached, tmp_path / "results")(value, tmp_path / run)

    first = pipeline("a", "r1")
    assert pipeline("a", "r2") == first and calls == ["a"]  # same input: reused, the task body did not run
    other = pipeline("b", "r3")
    assert other != first and calls == ["a", "b"]  # another input: computed
    Path(first).unlink()  # a person deleted the first run's files
    again = pipeline("a", "r4")
    assert again != first and Path(again).is_file() and calls == ["a", "b", "a"]
    assert pipeline("a", "r5") == again and calls == ["a", "b", "a"]  # the fresh result is the one reused now
    assert len(CODE_DIGEST) == 16  # the code of tasks/ is part of every key
