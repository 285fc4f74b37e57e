"""The config a deployment pins, and who may approve a candidate.

A deployment's run form shows the whole pipeline config, so a run could otherwise relax the rules it is
judged by. ``loosened`` (tasks/registry/pinning.py) compares a run's config with the config pinned at
deployment: a run may tighten a policy field (raise a floor, switch approval on) and change nothing else;
the run stops before it reads anything, with the list.

Who approved: the authenticated identity when the Prefect API has one (Prefect Cloud puts the person who
resumed a run on the run's state-change event as its related resource with role ``actor``), otherwise the
form's ``reviewer`` field, and the audit entry says which. Who started the run: the flow run's creator
when it is a user, otherwise the form's ``requested_by``. With ``promotion.four_eyes`` the starter cannot be
the approver. On a server without identities (Prefect OSS, basic auth) both names are typed in the form:
four-eyes then catches a mistake, not a determined person, and the audit entry says ``form``.
"""

from __future__ import annotations

from tasks.registry.pinning import loosened

__all__ = ["actor", "loosened", "same_person"]


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
