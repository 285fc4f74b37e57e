"""The config a deployment pins, and who may approve a candidate.

A deployment's run form shows the whole pipeline config, so a run could otherwise relax the rules it is
judged by. ``loosened`` (tasks/governance/pinning.py) compares a run's config with the config pinned at
deployment: a run may tighten a policy field (raise a floor, switch approval on) and change nothing else;
the run stops before it reads anything, with the list.

Who approved: the authenticated identity when the Prefect API has one (Prefect Cloud puts the person who
resumed a run on the run's state-change event as its related resource with role ``actor``), otherwise the
form's ``reviewer`` field, and the audit entry says which. Who started the run comes from the flow run itself
(``run_origin``), never from its ``reason``: a schedule or a known automation is nobody, a signed-in user is that
user, anything else is a person who must fill ``requested_by``. Names are compared folded (``identity``).
With ``promotion.four_eyes`` the starter cannot be the approver. On a server without identities (Prefect OSS,
basic auth) both names are typed in the form: four-eyes then catches a mistake, not a determined person, and
the audit entry says ``form``.
"""

from __future__ import annotations

import unicodedata

from tasks.governance.pinning import loosened

__all__ = ["actor", "clean_name", "identity", "loosened", "run_origin", "same_person"]


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
