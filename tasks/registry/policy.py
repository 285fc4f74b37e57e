"""The promotion and PII policy a deployment was created with, and who may approve a candidate.

A deployment's retrain form shows the whole pipeline config, so a run could otherwise relax the rules it is
judged by. ``loosened`` compares a run's config with the deployment's: a run may tighten any policy field
(raise a floor, switch approval on) but never relax one; the run then stops before it trains, with the list.

Who approved: the authenticated identity when the Prefect API has one (Prefect Cloud puts the person who
resumed a run on the run's state-change event as its related resource with role ``actor``), otherwise the
form's ``reviewer`` field, and the audit entry says which. Who started the run: the flow run's creator
when it is a user, otherwise the form's ``requested_by``. With ``promotion.four_eyes`` the starter cannot be
the approver. On a server without identities (Prefect OSS, basic auth) both names are typed in the form:
four-eyes then catches a mistake, not a determined person, and the audit entry says ``form``.
"""

from __future__ import annotations

from typing import Any

from tasks.config import PipelineConfig

# (field, direction): "min" fields may only go up, "max" fields only down, "on" switches only stay on.
PROMOTION_FIELDS = (("min_improvement", "min"), ("min_gain_over_baseline", "min"), ("max_membership_auc", "max"),
                    ("max_canary_exposure", "max"), ("max_class_regression", "max"), ("require_approval", "on"),
                    ("four_eyes", "on"))
TRAIN_FIELDS = (("canaries", "min"),)  # fewer canaries: a weaker memorisation test
PII_FIELDS = (("enabled", "on"), ("residual_max_rate", "max"), ("min_estimated_recall", "min"))


def _looser(old: Any, new: Any, direction: str) -> bool:
    if direction == "on":
        return bool(old) and not new
    if old is None:  # no limit at deployment: anything is as strict or stricter
        return False
    if new is None:  # the limit was removed
        return True
    return new < old if direction == "min" else new > old


def loosened(deployed: PipelineConfig, run: PipelineConfig) -> list[str]:
    """Each policy field the run relaxes against the deployment, as '<field>: <deployed> -> <run>'."""
    out = []
    for section, fields in (("promotion", PROMOTION_FIELDS), ("pii", PII_FIELDS), ("train", TRAIN_FIELDS)):
        a, b = getattr(deployed, section), getattr(run, section)
        out += [f"{section}.{f}: {getattr(a, f)} -> {getattr(b, f)}" for f, d in fields
                if _looser(getattr(a, f), getattr(b, f), d)]
    p, q = deployed.promotion, run.promotion
    if p.primary_metric != q.primary_metric:
        out.append(f"promotion.primary_metric: {p.primary_metric} -> {q.primary_metric}")
    out += [f"promotion.floors.{m}: {v} -> {q.floors.get(m)}" for m, v in sorted(p.floors.items())
            if _looser(v, q.floors.get(m), "min")]
    return out


def actor(events: list[dict]) -> str | None:
    """The person behind the newest state change among ``events`` (JSON dicts, oldest first): the name of its
    related resource with role ``actor`` when that is a user, else None."""
    for e in reversed(events):
        for r in e.get("related") or []:
            if r.get("prefect.resource.role") == "actor":  # the newest change with an actor decides
                rid = str(r.get("prefect.resource.id", ""))
                return (r.get("prefect.resource.name") or rid) if ".user." in rid else None
    return None


def same_person(a: str | None, b: str | None) -> bool:
    """Names compared as a person would: case, spaces and an e-mail domain do not make two people."""
    def norm(x: str) -> str:
        return " ".join(x.strip().lower().split("@")[0].replace(".", " ").replace("_", " ").split())
    return bool(a and b) and norm(a) == norm(b)
