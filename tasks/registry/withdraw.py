"""Erasure reaches serving: versions trained on an erased subject lose every alias the moment it is erased.

``withdraw`` runs inside ``tunegate subject erase``, under the registry lock, before any file is rewritten.
Each alias (``champion``, ``challenger``) held by a version trained on the subject's documents, or by one
already pending erasure, is deleted. ``champion`` moves to the newest *approved* version that was not:
complete, neither archived nor pending erasure. Approved means tagged ``promoted_at`` (set when a version
becomes champion), or, for versions older than that tag, named by a ``promote`` entry (champion == version)
or an approving ``retrain.approval`` entry of the audit log; a version that was only ever rolled back to is
not, since a rollback could bypass the promotion gates. With no such version there is no champion: the
registered model is tagged ``champion_withdrawn`` and ``predict`` and ``monitor`` stop with
``ChampionWithdrawn``, which names the request. Every withdrawal is audited with its time.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from tasks.audit import APPROVAL, PROMOTE, audit, read_audit
from tasks.config import RegistryScope
from tasks.errors import ChampionWithdrawn, PromotionError, TunegateError
from tasks.registry.erasure import ARCHIVED, PENDING
from tasks.registry.lock import registry_lock
from tasks.registry.versions import COMPLETE_TAG, client_for, set_alias

WITHDRAWN = "champion_withdrawn"  # registered-model tag: why there is no champion
APPROVED_TAG = "promoted_at"  # version tag set by promotion (tasks.registry.promote.apply)


def approved_versions(reg: RegistryScope, versions) -> set[int]:
    """Versions that were once promoted or approved: the ``promoted_at`` tag, else the audit log."""
    out = {int(mv.version) for mv in versions if APPROVED_TAG in (mv.tags or {})}
    try:
        entries = read_audit(reg)
    except (TunegateError, ValueError, OSError):  # an unreadable log proves nothing: the tag alone counts
        entries = []
    for e in entries:
        if not isinstance(e, dict) or e.get("model") not in (None, reg.model_name):
            continue
        promoted = e.get("action") == PROMOTE and e.get("champion") == e.get("version")
        approved = e.get("action") == APPROVAL and e.get("approved") is True
        if (promoted or approved) and isinstance(e.get("version"), int):
            out.add(e["version"])
    return out


def withdraw(reg: RegistryScope, request: str, trained_on: set[int]) -> dict:
    """Take every alias off the versions trained on the subject (see the module docstring); what moved, or {}."""
    client = client_for(reg)
    name = reg.model_name
    with registry_lock(reg):
        versions = client.search_model_versions(f"name='{name}'")
        tags = {int(mv.version): dict(mv.tags or {}) for mv in versions}
        bad = set(trained_on) | {v for v, t in tags.items() if PENDING in t}
        held = _aliases(client, name)
        moved = {a: v for a, v in held.items() if v in bad}
        if not moved:
            return {}
        for alias in moved:
            client.delete_registered_model_alias(name, alias)
        at = datetime.now(UTC).isoformat(timespec="seconds")
        previous, now = moved.get("champion"), None
        if previous is not None:
            ok = [v for v in approved_versions(reg, versions) if v in tags and v not in bad
                  and tags[v].get(COMPLETE_TAG) == "true" and ARCHIVED not in tags[v]]
            now = max(ok, default=None)
            if now is not None:
                set_alias(reg, "champion", now)
                _untag(client, name)
            else:
                client.set_registered_model_tag(name, WITHDRAWN, json.dumps(
                    {"request": request, "version": previous, "at": at}, sort_keys=True))
        audit(reg, action="erasure.champion_withdrawn" if previous is not None else "erasure.aliases_withdrawn",
              request=request, previous_champion=previous, champion=now, aliases_removed=sorted(moved),
              withdrawn_at=at)
    return {"previous": previous, "now": now, "withdrawn_at": at, "aliases": sorted(moved)}


def _aliases(client, name: str) -> dict[str, int]:
    """alias -> version (search results do not carry aliases; the registered model does)."""
    from mlflow.exceptions import MlflowException

    try:
        return {a: int(v) for a, v in (client.get_registered_model(name).aliases or {}).items()}
    except MlflowException:
        return {}


def _untag(client, name: str) -> None:
    from mlflow.exceptions import MlflowException

    try:
        client.delete_registered_model_tag(name, WITHDRAWN)
    except MlflowException:
        pass


def withdrawn_error(client, name: str) -> ChampionWithdrawn | None:
    """Why there is no champion, when an erasure took it away (None otherwise)."""
    from mlflow.exceptions import MlflowException

    try:
        raw = (client.get_registered_model(name).tags or {}).get(WITHDRAWN)
        why = json.loads(raw) if raw else None
    except (MlflowException, ValueError):
        why = None
    if not isinstance(why, dict):
        return None
    return ChampionWithdrawn(
        f"model '{name}' has no champion: v{why.get('version')} was withdrawn by erasure request "
        f"{why.get('request')} at {why.get('at')} (it was trained on the erased subject's documents) and no "
        "approved version trained without them could take its place; retrain or approve a version trained "
        "without the subject (the erasure's retrain event, or `tunegate run CONFIG`).")


def refuse_pending(reg: RegistryScope, which: str | int) -> None:
    """Serving refuses a version pending erasure, by number or by an alias a pre-withdrawal erasure left on it."""
    from tasks.registry.versions import _version_by_alias

    client = client_for(reg)
    if str(which).isdigit():
        from mlflow.exceptions import MlflowException

        try:
            mv = client.get_model_version(reg.model_name, str(int(which)))
        except MlflowException:
            return  # get_version says it does not exist
    else:
        mv = _version_by_alias(client, reg.model_name, str(which))
    pending = (mv.tags or {}).get(PENDING) if mv is not None else None
    if not pending:
        return
    text = (f"model '{reg.model_name}' v{mv.version} was trained on documents erased by {pending} and cannot be "
            "served; retrain or approve a version trained without the subject.")
    raise (ChampionWithdrawn if which == "champion" else PromotionError)(text)
