"""Stage 1, ingest: documents in, one canonical dataset out, behind a quality gate.

In: CSV, JSON-lines, Parquet or a folder of .txt files (``DataConfig``). Out: ``DatasetRef``, a Parquet
file with ``id``, ``text``, ``label``, ``timestamp`` and its digest.

- ``read``: read any of the formats into the canonical dataset, atomically; ``sources``: the readers,
  one per format, that stream a source in chunks.
- ``quality``: the Great Expectations suite the dataset must pass (no raw value reaches its results).
- ``sample_data``: the synthetic claims corpus the examples and tests run on, with its PII ground truth;
  its words are in ``sample_text``, its identifiers (with valid check digits) in ``sample_values``.
"""
