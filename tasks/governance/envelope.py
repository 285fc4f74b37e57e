"""The change envelope: is a candidate a change declared and assessed in advance, or a substantial modification?

EU AI Act recital 128: changes to a model's algorithm and performance that the provider pre-determined and
assessed at the initial conformity assessment are not a substantial modification. ``governance.change_envelope``
(``tasks/declarations.py``, pinned at deployment) declares them; ``classify_change`` (pure, table-tested) puts a
candidate's facts against it. Inside: recorded as ``WITHIN`` and the promotion policy decides as usual. Outside:
``hold_for_approval`` makes the decision wait for a reviewer, with four-eyes whatever the policy
(``decide_approval(..., outside_envelope=True)``), and each breach is a reason. No envelope declared: nothing is
classified, the policy alone decides.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

from tasks.declarations import ChangeEnvelope
from tasks.evaluate.metrics import EvalReport
from tasks.governance.compute import PACKAGED_BASE, base_model_name
from tasks.registry.promote import LOWER_IS_BETTER, PromotionDecision

WITHIN = "within the declared envelope: not a substantial modification"
OUTSIDE = "outside the declared change envelope: four-eyes approval required whatever the policy"


@dataclass(frozen=True)
class ChangeFacts:
    """What a candidate changed, as the run recorded it (numbers and names, never text of a document)."""
    trigger: str  # the kind: schedule, drift, erasure, manual (a trigger's text before ':')
    rows: int  # training rows
    hyperparameters: dict[str, float]  # ``auto`` resolved to the value training used
    base_model: str  # the base model's name (PACKAGED_BASE for the packaged one)
    metrics: dict[str, float] = field(default_factory=dict)
    slices_passed: bool | None = None  # the slice gate's verdict (promotion.max_slice_regression); None: no gate
    membership_auc: float | None = None
    canary_exposure: float | None = None  # mean bits (causal LM)
    canaries_extracted: int | None = None
    data_from: str | None = None  # the training rows' oldest and newest timestamps, as dates (None: none)
    data_to: str | None = None


@dataclass(frozen=True)
class EnvelopeDecision:
    inside: bool
    breaches: list[str]

    @property
    def summary(self) -> str:
        return WITHIN if self.inside else f"{OUTSIDE}: " + "; ".join(self.breaches)

    def record(self, facts: ChangeFacts) -> dict:
        """``envelope.json`` of the version: the classification and the facts it was made on."""
        return {"inside": self.inside, "classification": WITHIN if self.inside else OUTSIDE,
                "breaches": self.breaches, "facts": asdict(facts)}


def trigger_kind(trigger: str) -> str:
    """``drift: event 123`` -> ``drift``."""
    return trigger.split(":", 1)[0].strip().lower() or "manual"


def _metric_breaches(metrics: dict[str, float], floors: dict[str, float]) -> list[str]:
    out = []
    for name, bound in sorted(floors.items()):
        value, lower = metrics.get(name), name in LOWER_IS_BETTER
        if value is None:
            out.append(f"metric {name}: not measured (the envelope bounds it at {bound:g})")
        elif (value > bound) if lower else (value < bound):
            out.append(f"metric {name}: {value:.4f} {'above the ceiling' if lower else 'below the floor'} {bound:g}")
    return out


def _memorisation_breaches(f: ChangeFacts, env: ChangeEnvelope) -> list[str]:
    out = []
    auc, ceiling = f.membership_auc, env.max_membership_auc
    if ceiling is not None and auc is not None and auc > ceiling:
        out.append(f"membership-inference AUC {f.membership_auc:.3f} above the ceiling {env.max_membership_auc:g}")
    if env.max_canary_exposure is not None and f.canary_exposure is not None and (
            f.canary_exposure > env.max_canary_exposure or (f.canaries_extracted or 0) > 0):
        out.append(f"canary exposure {f.canary_exposure:.2f} bits ({f.canaries_extracted or 0} extracted), ceiling "
                   f"{env.max_canary_exposure:g} bits and none extracted")
    return out


def _window_breaches(f: ChangeFacts, env: ChangeEnvelope) -> list[str]:
    if env.data_window_days is None:
        return []
    if not (f.data_from and f.data_to):
        return [f"data window: the training rows have no timestamps (the envelope bounds them to "
                f"{env.data_window_days} days)"]
    days = (date.fromisoformat(f.data_to) - date.fromisoformat(f.data_from)).days
    if days > env.data_window_days:
        return [f"data window: the training rows span {days} days, more than the declared {env.data_window_days}"]
    return []


def classify_change(facts: ChangeFacts, env: ChangeEnvelope) -> EnvelopeDecision:
    """Every way ``facts`` leave ``env``, each named; inside when there is none."""
    out = []
    if trigger_kind(facts.trigger) not in env.triggers:
        out.append(f"trigger {trigger_kind(facts.trigger)}: not among the declared {', '.join(env.triggers) or 'none'}")
    if env.min_rows is not None and facts.rows < env.min_rows:
        out.append(f"training rows {facts.rows}: fewer than the declared minimum {env.min_rows}")
    if env.max_rows is not None and facts.rows > env.max_rows:
        out.append(f"training rows {facts.rows}: more than the declared maximum {env.max_rows}")
    out += _window_breaches(facts, env)
    for name, rng in sorted(env.hyperparameters.items()):
        value = facts.hyperparameters.get(name)
        if value is None:
            out.append(f"{name}: not recorded (the envelope bounds it to {rng.min:g}–{rng.max:g})")
        elif not rng.holds(value):
            out.append(f"{name} {value:g}: outside the declared range {rng.min:g}–{rng.max:g}")
    if facts.base_model != (env.base_model or PACKAGED_BASE):
        out.append(f"base model {facts.base_model}: not the declared {env.base_model or PACKAGED_BASE}")
    out += _metric_breaches(facts.metrics, env.metric_floors)
    if env.slice_non_regression and facts.slices_passed is False:
        out.append("slice non-regression: the slice gate (promotion.max_slice_regression) failed")
    out += _memorisation_breaches(facts, env)
    return EnvelopeDecision(inside=not out, breaches=out)


def hold_for_approval(decision: PromotionDecision, envelope: EnvelopeDecision | None) -> PromotionDecision:
    """The promotion decision with the classification as a reason; a candidate the policy would promote waits for
    approval when it is outside the envelope (four-eyes: ``decide_approval``'s ``outside_envelope``)."""
    if envelope is None:
        return decision
    reasons = decision.reasons + ([WITHIN] if envelope.inside else [f"{OUTSIDE}: {b}" for b in envelope.breaches])
    hold = decision.promote and not envelope.inside
    return decision.model_copy(update={"reasons": reasons, "needs_approval": decision.needs_approval or hold})


def hyperparameters_of(train_config: dict) -> dict[str, float]:
    """The bounded hyper-parameters from a model folder's ``train_config.json`` (values training used)."""
    lora = train_config.get("lora") or {}
    raw = {k: train_config.get(k) for k in ("learning_rate", "epochs", "max_length", "batch_size", "weight_decay")}
    raw |= {"lora_r": lora.get("r"), "lora_alpha": lora.get("alpha")}
    return {k: float(v) for k, v in raw.items() if isinstance(v, int | float) and not isinstance(v, bool)}


def data_window(uri: str) -> tuple[str | None, str | None]:
    """The oldest and newest ``timestamp`` of a canonical dataset, as ISO dates; (None, None) without any."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    schema = pq.read_schema(uri)
    if "timestamp" not in schema.names:
        return None, None
    kind = schema.field("timestamp").type
    if not (pa.types.is_timestamp(kind) or pa.types.is_date(kind)):
        return None, None  # not a time (text the ingest kept as is): no window, which a declared window refuses
    span = pc.min_max(pq.read_table(uri, columns=["timestamp"])["timestamp"]).as_py()
    lo, hi = span["min"], span["max"]
    return (lo.date().isoformat() if lo else None), (hi.date().isoformat() if hi else None)


def facts_of(model_dir: Path, rows: int, base_model: str, trigger: str, report: EvalReport,
             memorisation: dict | None, slices_passed: bool | None = None,
             window: tuple[str | None, str | None] = (None, None)) -> ChangeFacts:
    """The facts of a trained candidate: its model folder's ``train_config.json``, its evaluation, memorisation
    result, the slice gate's verdict (None where no slice gate is set) and its training rows' time window
    (``data_window``)."""
    from tasks.train.base_model import default_base_model

    path = model_dir / "train_config.json"
    train_config = json.loads(path.read_text()) if path.is_file() else {}
    m = memorisation if memorisation and memorisation.get("measured") else {}
    canary = m.get("method") == "canary_exposure"
    metrics = {k: v for k in ("accuracy", "macro_f1", "ece", "rouge_l", "perplexity")
               if (v := report.metric(k)) is not None}
    return ChangeFacts(trigger=trigger, rows=rows, hyperparameters=hyperparameters_of(train_config),
                       base_model=base_model_name(base_model, default_base_model()), metrics=metrics,
                       membership_auc=None if canary else m.get("auc"),
                       canary_exposure=m.get("mean_exposure_bits") if canary else None,
                       canaries_extracted=m.get("extracted") if canary else None, slices_passed=slices_passed,
                       data_from=window[0], data_to=window[1])


def is_outside(decision: PromotionDecision) -> bool:
    """Whether ``hold_for_approval`` found the candidate outside the envelope (its reasons say so)."""
    return any(r.startswith(OUTSIDE) for r in decision.reasons)
