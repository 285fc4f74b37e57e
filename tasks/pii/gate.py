"""The PII gate's decision, apart from its actions: ``judge_scrub`` takes the scrub's numbers and the limits and
says pass or fail, which check failed and with what numbers. No I/O: ``stream.scrub_file`` (the residual check,
before a scrubbed file is committed) and ``task.py`` (the recall check, after the estimate) raise the named
error, delete what a failed run wrote and record the evidence."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

Check = Literal["residual", "personal_column", "recall"]


@dataclass(frozen=True)
class ScrubVerdict:
    passed: bool
    check: Check | None  # the check that failed (None: passed)
    residual_rate: float  # identifiers the residual scan found, per document
    max_residual_rate: float
    # "personal_column": the scanned (not rewritten) columns that hold identifiers; "recall": the column whose
    # estimate is lowest under the bar
    columns: tuple[str, ...] = ()
    recall: float | None = None  # the failing column's overall estimated recall
    min_recall: float | None = None
    weak: tuple[tuple[str, float], ...] = ()  # (entity type, estimated recall) under the bar in that column


def judge_scrub(*, docs: int, residual_count: int, max_residual_rate: float,
                scanned_residual: Mapping[str, int] | None = None,
                recall_by_column: Mapping[str, Mapping[str, Mapping]] | None = None,
                min_recall: float | None = None) -> ScrubVerdict:
    """The residual check (identifiers per document over ``pii.residual_max_rate``; ``personal_column`` when a
    scanned column, never rewritten, holds any), then the recall check (any column's overall estimate below
    ``pii.min_estimated_recall``; the lowest is named). ``scanned_residual``: column -> identifiers found, for
    the scanned columns; ``recall_by_column``: column -> entity -> {"recall": ...}, with "_overall"."""
    rate = residual_count / docs if docs else 0.0
    base = {"residual_rate": rate, "max_residual_rate": max_residual_rate, "min_recall": min_recall}
    if rate > max_residual_rate:
        found = tuple(c for c, n in (scanned_residual or {}).items() if n)
        return ScrubVerdict(False, "personal_column" if found else "residual", columns=found, **base)
    low = [(c, e["_overall"]["recall"]) for c, e in (recall_by_column or {}).items()
           if min_recall is not None and "_overall" in e and e["_overall"]["recall"] < min_recall]
    if not low:
        return ScrubVerdict(True, None, **base)
    column, worst = min(low, key=lambda x: x[1])
    weak = tuple((e, m["recall"]) for e, m in recall_by_column[column].items()
                 if not e.startswith("_") and m["recall"] < min_recall)
    return ScrubVerdict(False, "recall", columns=(column,), recall=worst, weak=weak, **base)
