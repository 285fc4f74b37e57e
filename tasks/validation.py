"""The ``evaluate`` section of the pipeline config: what validation computes from the stored test-split outputs.

Common layer (read by ``tasks/config.py``): the statistics themselves live in ``tasks/evaluate/stats.py``
(paired bootstrap, McNemar) and ``tasks/evaluate/slices.py``; the gates that use them are promotion policy
(``promotion.require_significant_gain``, ``promotion.max_slice_regression``).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class EvaluateConfig(BaseModel):
    """Bootstrap intervals and slices of the test split (``tasks/evaluate/stats.py``, ``slices.py``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    resamples: int = Field(1000, ge=100)  # paired bootstrap resamples of the test rows
    seed: int = 0
    # Columns of the data to slice by (kept through ingest by data.keep_columns); a length bucket is always added.
    slices: list[str] = []
    # Slices with fewer test rows are reported but never gate: at 30 rows one document moves accuracy by 0.033.
    min_slice_rows: int = Field(30, ge=1)
    # Calibration and the review threshold (tasks/evaluate/calibration.py); robustness is always measured.
    calibrate: bool = True  # classifiers: temperature scaling fitted on the validation split; predict serves it
    target_accuracy: float | None = Field(None, gt=0, le=1)  # of the automated share; the rest: needs_review
