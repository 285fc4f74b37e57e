"""Stage 1, ingest: documents in, one canonical dataset out, behind a quality gate.

In: CSV, JSON-lines, Parquet or a folder of .txt files (``DataConfig``). Out: ``DatasetRef``, a Parquet
file with ``id``, ``text``, ``label``, ``timestamp`` and its digest.

- ``read``: read any of the formats into the canonical dataset, atomically.
- ``quality``: the Great Expectations suite the dataset must pass (no raw value reaches its results).
- ``sample_data``: the synthetic claims corpus the examples and tests run on, with its PII ground truth.
"""
