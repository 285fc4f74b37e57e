"""Promotion's checks on the validation statistics (``tasks/evaluate/stats.py``): significance and slices.

Pure, like ``decide_promotion`` which calls them: each returns (passed, reasons), and the reasons quote the
intervals. ``promotion.require_significant_gain`` asks the lower bound of the paired-bootstrap interval of
the gain over the champion to clear ``promotion.min_improvement``; ``promotion.max_slice_regression`` rejects a
candidate that loses more than that on any slice with at least ``evaluate.min_slice_rows`` test rows.
"""

from __future__ import annotations

from tasks.config import PromotionPolicy
from tasks.evaluate.stats import LOWER_IS_BETTER, ValidationReport


def check_significance(v: ValidationReport, metric: str, policy: PromotionPolicy,
                       has_champion: bool) -> tuple[bool, list[str]]:
    """The intervals of the gains over the champion and the baseline; the champion's gate when required."""
    reasons = []
    if (own := v.intervals.get("candidate", {}).get(metric)) is not None:
        reasons.append(f"{metric}: candidate {own.text()} (paired bootstrap, {v.resamples} resamples)")
    if (base := v.gain("baseline", metric)) is not None:
        reasons.append(f"{metric} gain over the TF-IDF baseline {base.text(signed=True)}")
    if not has_champion:
        return True, reasons
    gain = v.gain("champion", metric)
    test = f"; {v.mcnemar.text()}" if v.mcnemar is not None else ""
    if gain is None:
        ok = not policy.require_significant_gain
        return ok, reasons + [f"no interval for the {metric} gain over the champion" + (
            ": its significance cannot be shown (promotion.require_significant_gain)" if not ok else "")]
    text = f"{metric} gain over the champion {gain.text(signed=True)}{test}"
    if not policy.require_significant_gain:
        return True, reasons + [f"{text} (reported only: promotion.require_significant_gain is false)"]
    ok = gain.low > 0 and gain.low >= policy.min_improvement - 1e-12
    return ok, reasons + [f"{text} — " + (
        f"significant: the interval's lower bound clears the margin {policy.min_improvement:.4f}" if ok else
        f"not significant: the interval's lower bound {gain.low:+.4f} does not clear the margin "
        f"{policy.min_improvement:.4f} (the gain may be test-set noise; a larger test split narrows the interval)")]


def check_slices(v: ValidationReport, metric: str, limit: float | None, has_champion: bool) -> tuple[bool, list[str]]:
    """No gated slice may lose more than ``limit`` of ``metric`` against the champion on the same rows."""
    gated = [s for s in v.slices if s.gated]
    small = len(v.slices) - len(gated)
    note = [f"{small} slice(s) under evaluate.min_slice_rows: reported, not gated"] if small else []
    if not v.slices:
        return True, []
    if limit is None:
        return True, [f"{len(v.slices)} slices reported (promotion.max_slice_regression is null: no slice gate)"]
    if not has_champion:
        return True, [f"{len(v.slices)} slices reported: no champion to compare them with"]
    ok, reasons = True, []
    for s in gated:
        d = s.differences.get("champion", {}).get(metric)
        if d is None:
            continue
        loss = d.value if metric in LOWER_IS_BETTER else -d.value
        if loss > limit + 1e-12:
            ok = False
            champ, cand = s.metrics["champion"][metric].value, s.metrics["candidate"][metric].value
            reasons.append(f"slice {s.name} ({s.rows} rows): {metric} {champ:.4f} → {cand:.4f}, a loss of "
                           f"{loss:.4f} against the champion (more than {limit:.4f}; difference 95% "
                           f"{d.low:+.4f} to {d.high:+.4f}): the candidate trades this segment for the average")
    if ok:
        reasons.append(f"no gated slice ({len(gated)}) loses more than {limit:.4f} {metric} against the champion")
    return ok, reasons + note + v.slice_notes  # a slice asked for and not made is said, not hidden


def check_validation(v: ValidationReport | None, metric: str, policy: PromotionPolicy,
                     has_champion: bool) -> tuple[bool, list[str]]:
    """Significance and slices; nothing to check without a validation (an older caller)."""
    if v is None:
        return (not (policy.require_significant_gain and has_champion),
                ["no validation statistics: the gain's significance cannot be shown"]
                if policy.require_significant_gain and has_champion else [])
    sig_ok, sig = check_significance(v, metric, policy, has_champion)
    slice_ok, sl = check_slices(v, metric, policy.max_slice_regression, has_champion)
    return sig_ok and slice_ok, sig + sl
