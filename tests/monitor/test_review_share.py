"""The share of a batch the champion sends to review, against its reference: a rising share counts as drift."""

import numpy as np
import pytest

from tasks.config import MonitorConfig
from tasks.monitor.drift import DriftReport, review_check
from tasks.monitor.policy import should_retrain


def _conf(n: int, below: float) -> np.ndarray:
    """``n`` confidences, the first ``below`` share of them under 0.9."""
    k = round(n * below)
    return np.r_[np.full(k, 0.5), np.full(n - k, 0.99)]


@pytest.mark.parametrize("ref_share, cur_share, n, drifted", [
    (0.10, 0.10, 1000, False),
    (0.10, 0.14, 1000, False),  # within the 0.05 allowance
    (0.10, 0.20, 1000, True),
    (0.10, 0.05, 1000, False),  # fewer to review is no drift
    (0.10, 0.16, 60, False),  # a small batch: 2 SE (0.079), not 0.05, is the allowance
    (0.10, 0.30, 60, True),
])
def test_a_rising_review_share_is_drift(ref_share, cur_share, n, drifted):
    check = review_check(_conf(2000, ref_share), _conf(n, cur_share), threshold=0.9)
    assert check.name == "review_share" and check.value == pytest.approx(cur_share, abs=0.01)
    assert check.drifted is drifted
    assert check.threshold == pytest.approx(ref_share + max(0.05, 2 * np.sqrt(ref_share * (1 - ref_share)
                                                                                * (1 / n + 1 / 2000))), abs=1e-3)


@pytest.mark.parametrize("drifted, verdict", [(True, True), (False, False)])
def test_should_retrain_counts_the_review_share(drifted, verdict):
    check = review_check(_conf(2000, 0.1), _conf(500, 0.4 if drifted else 0.1), threshold=0.9)
    report = DriftReport(checks=[check], reference_rows=2000, current_rows=500, batch_rows=500)
    decision = should_retrain(report, MonitorConfig())
    assert decision.drift is verdict and decision.reasons[0].startswith("share sent to review")
