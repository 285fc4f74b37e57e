"""Slices: the candidate, champion and baseline scored on each segment of the test split, with intervals.

``evaluate.slices`` names columns of the data (kept through ingest and scrubbing by ``data.keep_columns``);
a length bucket (terciles of the documents' word counts) is always added. Every slice gets each model's
metric intervals and the candidate's differences, from the stored per-row outputs (``stats.py``); slices
with fewer than ``evaluate.min_slice_rows`` rows are reported but never gate promotion.

A slice's value is printed in reports, the card, MLflow and the audit log. So only a column that looks like
a segment is sliced: at most ``MAX_SLICE_VALUES`` distinct values of at most ``MAX_VALUE_CHARS`` characters
each, and never the text, the target or the id. A free-text or identifier column named by mistake is not
sliced and the note says so without quoting any of its values. These limits are constants, not settings.
"""

from __future__ import annotations

import numpy as np

from tasks.evaluate.stats import RowScores, SliceResult, intervals

MAX_SLICE_VALUES = 25  # more distinct values: free text or an identifier, not a segment
MAX_VALUE_CHARS = 80  # CFPB's longest product name is 76
NOT_SLICEABLE = frozenset({"id", "text", "label", "response", "prompt"})
LENGTH = "length"  # the always-added slice: the document's length in words, in terciles
MISSING = "(missing)"


def length_buckets(word_counts: np.ndarray) -> np.ndarray:
    """Each document's length tercile, named by its word range (``short (≤ 40 words)`` …)."""
    words = np.asarray(word_counts, dtype=int)
    if words.size == 0:
        return np.array([], dtype=object)
    lo, hi = (int(q) for q in np.quantile(words, [1 / 3, 2 / 3]))
    out = np.where(words <= lo, f"short (≤ {lo} words)",
                   np.where(words <= hi, f"medium ({lo + 1}–{hi} words)", f"long (> {hi} words)"))
    return out.astype(object)


def slice_columns(frame, names: list[str], word_counts: np.ndarray) -> tuple[dict[str, np.ndarray], list[str]]:
    """(column -> each row's value, notes on the columns not sliced and why), the length bucket last.
    ``frame``: the test split's columns (a pandas DataFrame, row order of the split)."""
    columns, notes = {}, []
    for name in dict.fromkeys(names):
        if name in NOT_SLICEABLE:
            notes.append(f"slice '{name}' not sliced: a document's text, target or id is not a segment")
        elif name not in frame.columns:
            notes.append(f"slice '{name}' not sliced: no such column in the test split (keep it through ingest with "
                         "data.keep_columns)")
        else:
            values = frame[name].astype(object).where(frame[name].notna(), MISSING).astype(str)
            distinct = values.nunique()
            if distinct > MAX_SLICE_VALUES or values.str.len().max() > MAX_VALUE_CHARS:
                notes.append(f"slice '{name}' not sliced: {distinct} distinct values (at most {MAX_SLICE_VALUES} "
                             f"of at most {MAX_VALUE_CHARS} characters make a segment); it looks like free text or "
                             "an identifier, so its values are not reported")
            else:
                columns[name] = values.to_numpy(dtype=object)
    columns[LENGTH] = length_buckets(word_counts)
    return columns, notes


def slice_report(models: dict[str, RowScores], columns: dict[str, np.ndarray], min_rows: int, resamples: int,
                 seed: int) -> list[SliceResult]:
    """Each slice's rows, each model's intervals and the candidate's differences (same draws for all models)."""
    out = []
    for column, values in columns.items():
        for value in sorted(set(values.tolist())):
            index = np.flatnonzero(values == value)
            own, diffs = intervals({k: r.take(index) for k, r in models.items()}, resamples, seed)
            out.append(SliceResult(column=column, value=str(value), rows=len(index), gated=len(index) >= min_rows,
                                   metrics=own, differences=diffs))
    return out
