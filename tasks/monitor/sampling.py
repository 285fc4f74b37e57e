"""A seeded uniform sample of a canonical dataset, for monitoring batches bigger than it needs to score."""

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
    return describe_parquet(Path(out), scrubbed=dataset.scrubbed)
