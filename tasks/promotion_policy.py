"""The ``promotion`` section of the pipeline config: the bar a candidate must clear to replace the champion.

Common layer (read by ``tasks/config.py``): the decision that applies it is ``tasks/registry/promote.py``; pinning
(``tasks/governance/pinning.py``) lets a deployment's runs tighten it, never relax it.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class PromotionPolicy(BaseModel):
    """When a candidate may replace the champion. Fixed at deployment: a run may tighten, never relax it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    primary_metric: str = "macro_f1"
    min_improvement: float = 0.0
    min_gain_over_baseline: float | None = 0.0  # over the TF-IDF baseline (null: reported, no gate)
    max_membership_auc: float | None = Field(0.60, ge=0.5, le=1)  # tasks/evaluate/membership.py (null: no gate)
    max_canary_exposure: float | None = Field(10.0, gt=0)  # bits, causal LM (tasks/evaluate/canaries.py)
    floors: dict[str, float] = {"macro_f1": 0.5}
    max_class_regression: float = Field(0.05, ge=0, le=1)
    require_approval: bool = False
    four_eyes: bool = False  # the person who started a run cannot approve it (tasks/governance/policy.py)
    approval_timeout_s: int = Field(86_400, ge=1)
    require_significant_gain: bool = False  # the gain's 95% interval must clear min_improvement (evaluate/stats.py)
    max_slice_regression: float | None = Field(None, ge=0, le=1)  # on any gated slice (null: reported, no gate)
    max_robustness_drop: float | None = Field(None, ge=0, le=1)  # any perturbation's drop (null: reported only)
