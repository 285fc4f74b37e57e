"""Progress of long work: a terminal bar when a person is watching, nothing in logs, a Prefect progress
artifact in a run."""

from __future__ import annotations

import io
import re

from tasks.progress import Progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_redrawn_bar_with_share_count_and_eta():
    out, sent = _Terminal(), []
    with Progress("scrub", 200, "docs", sink=sent.append, stream=out) as bar:
        bar.update(50)
        bar.update(100)  # within half a second of the last draw: not redrawn
    text = out.getvalue()
    assert text.startswith("\rscrub  [######..................]   25%  50/200 docs  ETA ")
    assert re.search(r"\rscrub  \[#{12}\.{12}\]   50%  100/200 docs  ETA \d+:\d\d\n$", text), text
    assert text.count("\r") == 2  # the first draw and the final one
    assert sent[0] == 25.0 and sent[-1] == 50.0  # the sink gets percentages; the final update is sent


def test_quiet_when_not_a_terminal_and_a_count_when_the_total_is_unknown():
    out = io.StringIO()
    with Progress("scrub", 10, "docs", stream=out) as bar:
        bar.update(10)
    assert out.getvalue() == ""
    bar = Progress("scrub", None, "rows", stream=_Terminal())
    bar.update(1234, final=True)
    assert bar.stream.getvalue() == "\rscrub  1,234 rows\n"


def test_training_steps_set_the_total_as_they_arrive():
    out = _Terminal()
    bar = Progress("fine-tune", None, "steps", stream=out)
    bar.update(10, 40, final=True)
    assert "  25%  10/40 steps  ETA " in out.getvalue()


def test_inside_a_prefect_run_the_task_publishes_a_progress_artifact(prefect_harness):
    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterType

    from tasks.runtime import progress

    @flow
    def work() -> str:
        from prefect.runtime import flow_run

        with progress("score", 4, "docs") as bar:
            for i in range(1, 5):
                bar.update(i)
        return flow_run.id

    run_id = work()
    with get_client(sync_client=True) as c:
        arts = c.read_artifacts(artifact_filter=ArtifactFilter(type=ArtifactFilterType(any_=["progress"])))
    mine = [a for a in arts if str(a.flow_run_id) == str(run_id)]
    assert len(mine) == 1 and mine[0].data == 100.0 and mine[0].description == "score (docs)"
