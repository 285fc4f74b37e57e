"""Promotion is data: decide first (pure), then apply (registry aliases + audit log).

``decide_promotion`` compares a candidate's EvalReport with the champion's under a PromotionPolicy and
returns a PromotionDecision with every check it made, and whether a person must approve first.
``apply`` acts on it and nothing else: it moves the ``champion`` alias under the registry lock, only if
the champion is still the one the decision was made against, and audits what it did.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict

from tasks.audit import PROMOTE, audit
from tasks.config import PromotionPolicy, RegistryScope
from tasks.evaluate.metrics import EvalReport
from tasks.evaluate.stats import ValidationReport
from tasks.registry.erasure import ARCHIVED, PENDING, archive_erased
from tasks.registry.lock import registry_lock
from tasks.registry.validation_checks import check_validation
from tasks.registry.versions import champion_version, clear_alias, client_for, set_alias
from tasks.retention import RetentionConfig
from tasks.runtime import run_logger

LOWER_IS_BETTER = frozenset({"ece", "perplexity"})
ERASED_VERSIONS_DEFAULT = RetentionConfig().erased_versions
CLASS_METRICS = frozenset({"accuracy", "macro_f1"})
PROMOTED_AT, PROMOTED_HOW = "promoted_at", "promoted_how"  # a rollback restores only versions tagged so


class PromotionDecision(BaseModel):
    """Whether a candidate may replace the champion, and why (each check, passed or failed)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    promote: bool
    reasons: list[str]
    needs_approval: bool = False  # a person approves before the champion moves (promotion.require_approval)
    primary_metric: str = "macro_f1"
    candidate_value: float | None = None
    champion_value: float | None = None


def _fmt(v: float | None) -> str:
    return "missing" if v is None else f"{v:.4f}"


def _check_floors(candidate: EvalReport, floors: dict[str, float]) -> tuple[bool, list[str]]:
    ok, reasons = True, []
    for name, bound in sorted(floors.items()):
        value = candidate.metric(name)
        lower = name in LOWER_IS_BETTER
        if value is None:
            ok = False
            reasons.append(f"floor {name}: candidate has no '{name}' metric")
        elif (value > bound) if lower else (value < bound):
            ok = False
            reasons.append(f"floor {name}: {value:.4f} {'above' if lower else 'below'} the limit {bound:.4f}")
        else:
            reasons.append(f"floor {name}: {value:.4f} within the limit {bound:.4f}")
    return ok, reasons


def _check_classes(candidate: EvalReport, champion: EvalReport, max_drop: float) -> tuple[bool, list[str]]:
    ok, reasons = True, []
    for label, stats in sorted(champion.per_class.items()):
        if stats.get("support", 0) <= 0:
            continue
        before = float(stats.get("f1", 0.0))
        after = float(candidate.per_class.get(label, {}).get("f1", 0.0))
        if before - after > max_drop + 1e-12:
            ok = False
            reasons.append(f"class {label}: F1 regresses {before:.4f} → {after:.4f} (more than {max_drop:.4f})")
    if ok:
        reasons.append(f"no class F1 regresses by more than {max_drop:.4f}")
    return ok, reasons


def _check_collapse(candidate: EvalReport) -> tuple[bool, list[str]]:
    """A classifier that gives every test document the same class has learnt nothing but the class prior."""
    if not candidate.confusion or sum(1 for s in candidate.per_class.values() if s.get("support", 0) > 0) < 2:
        return True, []
    predicted = [sum(col) for col in zip(*candidate.confusion)]
    used = [candidate.labels[i] for i, c in enumerate(predicted) if c > 0]
    if len(used) == 1:
        return False, [f"collapsed: the candidate predicts '{used[0]}' for all {candidate.n} test documents "
                       "(it learnt only the class prior; lower train.learning_rate or train longer)"]
    return True, []


def _check_baseline(cand: float | None, baseline: EvalReport | None, metric: str,
                    min_gain: float | None) -> tuple[bool, list[str]]:
    """The candidate against the TF-IDF baseline fitted on the same training split, on the primary metric."""
    base = baseline.metric(metric) if baseline is not None else None
    if base is None or cand is None:
        return True, ([f"TF-IDF baseline has no '{metric}': not compared"] if baseline is not None else [])
    if min_gain is None:
        return True, [f"{metric}: TF-IDF baseline {base:.4f} (reported only: promotion.min_gain_over_baseline is null)"]
    gain = (base - cand) if metric in LOWER_IS_BETTER else (cand - base)
    ok = gain >= min_gain - 1e-12
    return ok, [f"{metric}: candidate {cand:.4f} vs TF-IDF baseline {base:.4f} (gain {gain:+.4f}, required "
                f"{min_gain:+.4f}) — {'beats' if ok else 'does not beat'} the baseline"
                + ("" if ok else ": fine-tuning has not earned its place on this data")]


def _check_membership(result: dict | None, limit: float | None) -> tuple[bool, list[str]]:
    """The membership-inference attack's AUC against ``promotion.max_membership_auc``."""
    if not result or not result.get("measured"):
        return True, ([f"membership inference not measured: {result['why']}"] if result else [])
    low, high = result["auc_95"]
    text = f"membership-inference AUC {result['auc']:.3f} (95% {low:.3f}–{high:.3f})"
    if limit is None:
        return True, [f"{text} (reported only: promotion.max_membership_auc is null)"]
    ok = result["auc"] <= limit
    return ok, [f"{text}, limit {limit:.2f} — " + ("passes" if ok else "fails: the model tells its training "
                                                   "documents from others; train less, or on more data")]


def _check_canaries(result: dict, limit: float | None) -> tuple[bool, list[str]]:
    """Canary exposure (bits) against ``promotion.max_canary_exposure``; any extracted canary fails."""
    text = (f"canary exposure: mean {result['mean_exposure_bits']:.2f} bits, max {result['max_exposure_bits']:.2f} "
            f"of {result['space_bits']:.1f}; {result['extracted']} of {result['canaries']} extracted by greedy "
            "decoding")
    if limit is None:
        return True, [f"{text} (reported only: promotion.max_canary_exposure is null)"]
    ok = result["mean_exposure_bits"] <= limit and result["extracted"] == 0
    return ok, [f"{text}, limit {limit:g} bits and none extracted — " + (
        "passes" if ok else "fails: the model gives back secrets it saw in training; train less (fewer epochs, "
                            "a lower rate) or on more data")]


def _check_memorisation(result: dict | None, policy: PromotionPolicy) -> tuple[bool, list[str]]:
    if result and result.get("measured") and result.get("method") == "canary_exposure":
        return _check_canaries(result, policy.max_canary_exposure)
    return _check_membership(result, policy.max_membership_auc)


def _check_robustness(result: dict | None, limit: float | None) -> tuple[bool, list[str]]:
    """Each perturbation's drop from the clean score (tasks/evaluate/robustness.py) against
    ``promotion.max_robustness_drop``; the failing perturbations are named."""
    if not result or not result.get("measured"):
        return True, ([f"robustness not measured: {result['why']}"] if result else [])
    per = result["perturbations"]
    text = f"robustness ({result['metric']} clean {result['clean']:.4f}): " + ", ".join(
        f"{name} {-p['drop'] or 0.0:+.4f}" for name, p in per.items())  # never -0.0000
    if limit is None:
        return True, [f"{text} (reported only: promotion.max_robustness_drop is null)"]
    over = [name for name, p in per.items() if p["drop"] > limit + 1e-12]
    return not over, [f"{text}; limit {limit:.4f} — " + ("passes" if not over else
                      f"fails on {', '.join(over)}: the model breaks on text it will meet; train on such text")]


def decide_promotion(candidate: EvalReport, champion: EvalReport | None, policy: PromotionPolicy,
                     baseline: EvalReport | None = None, membership: dict | None = None,
                     validation: ValidationReport | None = None,
                     robustness: dict | None = None) -> PromotionDecision:
    """Promote only if the candidate is not collapsed onto one class, floors hold, the primary metric beats the
    TF-IDF baseline and the champion by their margins, no class regresses, and the memorisation test passes: a
    membership-inference attack's AUC (classifier) or the training canaries' exposure and extraction (causal LM).
    With ``validation`` the reasons quote the bootstrap intervals, and the significance and slice gates apply
    (``validation_checks.py``)."""
    metric = policy.primary_metric
    cand = candidate.metric(metric)
    champ = champion.metric(metric) if champion is not None else None
    # Judged on class metrics, a single-class candidate is rejected; a causal LM judged on perplexity is not.
    ok, reasons = _check_collapse(candidate) if metric in CLASS_METRICS else (True, [])
    floors_ok, floor_reasons = _check_floors(candidate, policy.floors)
    ok, reasons = ok and floors_ok, reasons + floor_reasons
    if cand is None:
        ok = False
        reasons.append(f"primary metric '{metric}' missing from the candidate's evaluation")
    elif champion is None:
        reasons.append(f"no champion yet: {metric} {cand:.4f} is judged on the floors alone")
    elif champ is None:
        reasons.append(f"champion has no '{metric}' metric: judged on the floors and classes alone")
    else:
        gain = (champ - cand) if metric in LOWER_IS_BETTER else (cand - champ)
        beats = gain > 0 and gain >= policy.min_improvement - 1e-12
        ok = ok and beats
        reasons.append(
            f"{metric}: candidate {cand:.4f} vs champion {champ:.4f} (gain {gain:+.4f}, margin "
            f"{policy.min_improvement:.4f}) — {'beats' if beats else 'does not beat'} the champion"
        )
    base_ok, base_reasons = _check_baseline(cand, baseline, metric, policy.min_gain_over_baseline)
    ok, reasons = ok and base_ok, reasons + base_reasons
    mi_ok, mi_reasons = _check_memorisation(membership, policy)
    ok, reasons = ok and mi_ok, reasons + mi_reasons
    val_ok, val_reasons = check_validation(validation, metric, policy, champion is not None and champ is not None)
    ok, reasons = ok and val_ok, reasons + val_reasons
    rob_ok, rob_reasons = _check_robustness(robustness, policy.max_robustness_drop)
    ok, reasons = ok and rob_ok, reasons + rob_reasons
    if champion is not None:
        classes_ok, class_reasons = _check_classes(candidate, champion, policy.max_class_regression)
        ok = ok and classes_ok
        reasons.extend(class_reasons)
    if ok and policy.require_approval:
        reasons.append("approval required: a reviewer approves before the champion moves")
    return PromotionDecision(promote=ok, needs_approval=ok and policy.require_approval, reasons=reasons,
                             primary_metric=metric, candidate_value=cand, champion_value=champ)


def _erasure_hold(reg: RegistryScope, version: int) -> str | None:
    """``erasure_pending (erasure-N)`` or ``archived (...)`` when the candidate carries that tag, else None."""
    tags = client_for(reg).get_model_version(reg.model_name, str(version)).tags or {}
    return next((f"{t} ({tags[t]})" for t in (PENDING, ARCHIVED) if tags.get(t)), None)


def mark_promoted(reg: RegistryScope, version: int, approved_by: str | None = None) -> dict[str, str]:
    """Tag a version just made champion with when and how (under the registry lock, by ``apply``)."""
    tags = {PROMOTED_AT: datetime.now(UTC).isoformat(timespec="seconds"),
            PROMOTED_HOW: f"approved by {approved_by}" if approved_by else "policy"}
    client = client_for(reg)
    for k, v in tags.items():
        client.set_model_version_tag(reg.model_name, str(version), k, v)
    return tags


class PromotionOutcome(BaseModel):
    """What applying a PromotionDecision did to the registry."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    promoted: bool
    action: str  # promote | reject | pending_approval | lost_race
    version: int
    champion_version: int | None  # after applying
    previous_champion: int | None
    note: str = ""


def apply(
    reg: RegistryScope,
    version: int,
    decision: PromotionDecision,
    expected_champion: int | None,
    trigger: str = "manual",
    run_id: str | None = None,
    approved_by: str | None = None,
    *,
    erased_versions: str = ERASED_VERSIONS_DEFAULT,
    config_sha256: str | None = None,
) -> PromotionOutcome:
    """Act on a PromotionDecision: move ``champion`` if still compared against the current one; audit either way.
    A candidate tagged ``erasure_pending`` or ``archived`` (at registration, or since) is never promoted; one made
    champion is tagged ``promoted_at`` and ``promoted_how`` (the tags a rollback requires). ``erased_versions``:
    ``retention.erased_versions``, for the versions its promotion archives; ``config_sha256``: the config that
    judged it, for the audit entry."""
    with registry_lock(reg):
        current = champion_version(reg)
        held = _erasure_hold(reg, version) if decision.promote else None
        if not decision.promote:
            action, note, new = "reject", "decision: do not promote", current
        elif held:
            action, new = "reject", current
            note = (f"v{version} is tagged {held}: it was trained on documents an erasure removed; not promoted "
                    "(the retrain the erasure requested trains without them)")
        elif current != expected_champion:
            action = "lost_race"
            note = (f"champion changed to v{current} while this candidate was compared with "
                    f"{'no champion' if expected_champion is None else f'v{expected_champion}'}; re-run to compare")
            new = current
        elif decision.needs_approval:
            action, note, new = "pending_approval", (
                f"approval required: the retrain run pauses for a reviewer's Approval of v{version} in the "
                "Prefect UI"), current
        else:
            set_alias(reg, "champion", version)
            # the challenger alias names the latest candidate not in use
            clear_alias(reg, "challenger", only_if=version)
            action, note, new = PROMOTE, "champion alias moved", version
            mark_promoted(reg, version, approved_by)
            archived = archive_erased(reg, erased_versions, version, trigger)
            if archived:
                note += f"; archived v{', v'.join(map(str, archived))} (trained on erased subjects' documents)"
        audit(reg, action=action, version=version, previous_champion=current, champion=new, trigger=trigger,
              reasons=decision.reasons + ([note] if note else []), run_id=run_id, config_sha256=config_sha256)
    run_logger("tunegate.registry").info("v%d: %s (champion now %s)", version, action, new)
    return PromotionOutcome(promoted=action == PROMOTE, action=action, version=version, champion_version=new,
                            previous_champion=current, note=note)
