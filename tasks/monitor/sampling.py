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

from pathlib import Path

import numpy as np
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


KS_CRITICAL, Z_POWER, SHIFT = 1.36, 0.84, 0.07  # alpha 0.05, power ~0.8, a 0.07 shift of a distribution function


def power_rows(reference_rows: int, shift: float = SHIFT) -> int | None:
    """Documents to score so a KS test against ``reference_rows`` sees a ``shift`` (None: all, the reference
    is too small for the sample size to matter)."""
    import math

    need = ((KS_CRITICAL + Z_POWER) / shift) ** 2
    if need >= reference_rows:
        return None
    return math.ceil(need * reference_rows / (reference_rows - need))
