"""A seeded uniform sample of a canonical dataset, for monitoring batches bigger than it needs to score.

How big (``monitor.score_rows: auto``): drift is a statistical question, so the batch needs as many scored
documents as the drift tests need to see a shift, not more. For a two-sample Kolmogorov-Smirnov test at
alpha 0.05 (critical value 1.36) with power about 0.8 (+0.84), a shift that moves a column's distribution
function by ``SHIFT`` (0.07) needs an effective sample of ((1.36 + 0.84) / 0.07)^2 = 988; against the
2,000-row reference that is n * 2000 / (n + 2000) = 988, i.e. n = 1,952 scored documents. A smaller shift
needs more (0.05: 2,401 against a 10,000-row reference), a larger one fewer; the share test on prediction
classes is as powerful at this size. Scoring every document of a batch is the prediction path's job
(``tunegate predict``), which keeps a complete log; the monitor samples.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tasks.refs import DatasetRef, atomic_file


def sample_dataset(dataset: DatasetRef, rows: int, out: Path) -> DatasetRef:
    """``rows`` rows of ``dataset`` drawn uniformly without replacement, in their original order.

    The draw is seeded by the dataset's digest: the same batch always gives the same sample. A dataset no
    bigger than ``rows`` is returned as it is.
    """
    if dataset.rows <= rows:
        return dataset
    from tasks.pii.stream import describe_parquet

    rng = np.random.default_rng(int(dataset.sha256[:16], 16))
    keep = np.sort(rng.choice(dataset.rows, size=rows, replace=False))
    table = pq.read_table(dataset.uri).take(keep)
    with atomic_file(out) as tmp:
        pq.write_table(table, tmp)
    return describe_parquet(Path(out), scrubbed=dataset.scrubbed, label_is_text=dataset.label_is_text)


LOG_BATCH_ROWS = 8192  # rows decoded at a time while a sample is drawn from a prediction log
LOG_BUFFER_BYTES = 4 << 20  # read a column chunk in pieces: a 1M-row log's embeddings are one chunk of 768 MB


@dataclass(frozen=True)
class LogRead:
    """What drawing a sample cost: the log's rows, the row groups opened, the rows kept (materialised)."""

    rows: int
    row_groups: int
    row_groups_read: int
    kept: int


def sample_log(path: Path, rows: int, seed: int, columns: list[str]) -> tuple[pa.Table, LogRead]:
    """``rows`` rows of a prediction-store file (tasks/predict/store.py) drawn uniformly without replacement,
    seeded, in file order; all of them when it has no more.

    Memory holds the sample and one batch of ``LOG_BATCH_ROWS``, whatever the log's size: the draw is made on
    row numbers from the file's metadata, then only the row groups that hold a drawn row are read, batch by
    batch, keeping the drawn rows of each.
    """
    pf = pq.ParquetFile(path, buffer_size=LOG_BUFFER_BYTES)
    n, groups = pf.metadata.num_rows, pf.metadata.num_row_groups
    if n <= rows:
        return pf.read(columns=columns), LogRead(n, groups, groups, n)
    pick = np.sort(np.random.default_rng(seed).choice(n, size=rows, replace=False))
    parts, start, opened = [], 0, 0
    for g in range(groups):
        size = pf.metadata.row_group(g).num_rows
        mine = pick[np.searchsorted(pick, start):np.searchsorted(pick, start + size)] - start
        if len(mine):
            opened += 1
            at = 0
            for batch in pf.iter_batches(batch_size=LOG_BATCH_ROWS, row_groups=[g], columns=columns):
                inside = mine[(mine >= at) & (mine < at + batch.num_rows)] - at
                if len(inside):
                    parts.append(batch.take(pa.array(inside)))
                at += batch.num_rows
                if at > mine[-1]:
                    break
        start += size
    table = pa.Table.from_batches(parts).combine_chunks()
    return table, LogRead(n, groups, opened, table.num_rows)


KS_CRITICAL, Z_POWER, SHIFT = 1.36, 0.84, 0.07  # alpha 0.05, power ~0.8, a 0.07 shift of a distribution function


def power_rows(reference_rows: int, shift: float = SHIFT) -> int | None:
    """Documents to score so a KS test against ``reference_rows`` sees a ``shift`` (None: all, the reference
    is too small for the sample size to matter)."""
    import math

    need = ((KS_CRITICAL + Z_POWER) / shift) ** 2
    if need >= reference_rows:
        return None
    return math.ceil(need * reference_rows / (reference_rows - need))
