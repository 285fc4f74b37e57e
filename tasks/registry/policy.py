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

import unicodedata
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
    related resource with role ``actor`` when that is a user (and the name is not empty), else None."""
    for e in reversed(events):
        for r in e.get("related") or []:
            if r.get("prefect.resource.role") == "actor":  # the newest change with an actor decides
                rid = str(r.get("prefect.resource.id", ""))
                name = clean_name(r.get("prefect.resource.name") or rid)
                return name if ".user." in rid and identity(name) else None
    return None


# Zero-width and other invisible format characters (U+200B..U+200D, U+2060, U+FEFF, soft hyphen, bidi marks):
# "b\u200bob" is bob. Unicode category Cf covers them all.
def clean_name(x: str | None) -> str:
    """A name as typed, made comparable: NFKC, invisible format characters removed, outer spaces stripped."""
    text = unicodedata.normalize("NFKC", x or "")
    return " ".join("".join(c for c in text if unicodedata.category(c) != "Cf").split())


def identity(x: str | None) -> str:
    """The person a name stands for: case, spaces, zero-width characters, compatibility forms, separators
    (``.``, ``_``, ``-``) and an e-mail domain folded; "" when nothing is left (no person)."""
    name = clean_name(x).casefold().split("@")[0]
    return " ".join(name.replace(".", " ").replace("_", " ").replace("-", " ").split())


def same_person(a: str | None, b: str | None) -> bool:
    """Names compared as a person would: "Bob", " bob ", "b\u200bob" and "BOB@example.com" are one person;
    an empty name (once folded) is nobody, and never the same person as anyone."""
    return bool(identity(a)) and identity(a) == identity(b)


def run_origin(flow_run, automation_known: bool = False) -> str:
    """Who made a flow run, from the run itself (never from its ``reason`` parameter): ``schedule`` (the
    deployment's schedule: ``auto_scheduled``, which only the server's scheduler sets), ``automation`` (a
    trigger: ``created_by`` type AUTOMATION, for an automation that exists on the server), ``user`` (a
    signed-in user with a name: Prefect Cloud), else ``person`` (a person through the UI, the API or the CLI
    of a server without users, or a direct call)."""
    created = getattr(flow_run, "created_by", None) if flow_run is not None else None
    kind = str(getattr(created, "type", "") or "").upper()
    if flow_run is not None and getattr(flow_run, "auto_scheduled", False):
        return "schedule"
    if kind == "AUTOMATION" and automation_known:
        return "automation"
    if kind == "USER" and identity(getattr(created, "display_value", None)):
        return "user"
    return "person"
