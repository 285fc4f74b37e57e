"""Governed rollback: the champion goes back only to a version that was once promoted, and under
``promotion.require_approval`` only with a second person's approval.

- ``apply`` (tasks/registry/promote.py) tags every version it makes champion ``promoted_at`` (ISO time) and
  ``promoted_how`` (``policy`` or ``approved by <name>``). A version is restorable when it has ``promoted_at``
  or, for versions older than the tag, a ``promote`` entry in the audit log (entries of past ungoverned
  rollbacks do not count); never when it is tagged ``erasure_pending`` or ``archived``. Every refusal is
  audited (``rollback.refused``) and raised as ``RollbackRefused``.
- Under ``require_approval`` a rollback is first a request (``rollback.requested``, with an id, the asker
  and the champion at that time); ``approve_rollback`` completes it under the registry lock, once, while
  that champion still holds and within ``promotion.approval_timeout_s``. With ``four_eyes`` the approver
  cannot be the asker (names folded: ``policy.identity``). The CLI's identity is the OS account running it.
  The request is read from the audit log, and only from a log that verifies (an entry added by hand is not).
- ``move_back`` is the one place the champion moves backwards; it refuses an unapproved move under
  ``require_approval`` whoever calls it.
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta

from tasks.audit import AUDIT_LOG, PROMOTE, ROLLBACK, audit, read_audit, verify_audit
from tasks.audit import ROLLBACK_REFUSED as REFUSED
from tasks.audit import ROLLBACK_REQUESTED as REQUESTED
from tasks.config import PromotionPolicy, RegistryScope
from tasks.errors import PromotionError, RollbackRefused
from tasks.governance import policy
from tasks.keys import audit_key
from tasks.locks import shared_path
from tasks.registry.lock import registry_lock
from tasks.registry.promote import PROMOTED_AT
from tasks.registry.versions import _resolve, champion_version, client_for, set_alias

UNSAFE = ("erasure_pending", "archived")


def os_identity() -> str:
    """The OS account running this process (not ``$USER``, which anyone can set)."""
    try:
        import pwd

        return pwd.getpwuid(os.geteuid()).pw_name
    except (ImportError, KeyError):  # no passwd entry (or not POSIX): the login name
        import getpass

        return getpass.getuser()


def was_promoted(reg: RegistryScope, version: int, tags: dict) -> bool:
    """Was ``version`` (with its registry ``tags``) ever made champion by ``apply`` (policy or approval)?"""
    if PROMOTED_AT in tags:
        return True
    return any(e.get("model") == reg.model_name and e.get("action") == PROMOTE and e.get("champion") == version
               for e in read_audit(reg))


def check_restorable(reg: RegistryScope, version: int) -> None:
    """Raise RollbackRefused unless ``version`` is complete, was once promoted, and is not pending erasure
    or archived."""
    try:
        tags = dict(_resolve(reg, client_for(reg), version).tags or {})
    except PromotionError as e:  # no such complete version, or archived
        raise RollbackRefused(str(e)) from None
    for tag in UNSAFE:
        if tags.get(tag):
            raise RollbackRefused(f"v{version} is tagged {tag} ({tags[tag]}): it was trained on documents an erasure "
                                  "removed and cannot be restored; roll back to a version trained without them.")
    if not was_promoted(reg, version, tags):
        raise RollbackRefused(f"v{version} was never promoted (no '{PROMOTED_AT}' tag, no promote entry in the "
                              "audit log): it was rejected or never approved, so a rollback cannot make it champion; "
                              "pick a version that was champion before.")


def _refuse(reg: RegistryScope, error: RollbackRefused, version: int | None, **fields) -> RollbackRefused:
    audit(reg, action=REFUSED, version=version, why=str(error), **fields)
    return error


def _find_request(entries: list[dict], model: str, request: str) -> dict | None:
    return next((e for e in entries if e.get("model") == model and e.get("action") == REQUESTED
                 and e.get("request") == request), None)


def move_back(reg: RegistryScope, promotion: PromotionPolicy, to_version: int, reason: str | list[str],
              trigger: str = "cli", only_if_champion: int | None = None, action: str = ROLLBACK,
              approved_by: str | None = None, request: str | None = None) -> dict | None:
    """Move ``champion`` back to ``to_version`` under the lock, audited; refused (audited, RollbackRefused)
    for a version that cannot be restored, or without an approval under ``require_approval``. With
    ``only_if_champion``: only while that version is still champion (else None, nothing moved)."""
    reasons = [reason] if isinstance(reason, str) else list(reason)
    with registry_lock(reg):
        try:
            if promotion.require_approval and not (approved_by and request):
                raise RollbackRefused("promotion.require_approval: a rollback needs a second person's approval; "
                                      "`tunegate rollback --to-version N` records a request, and another person "
                                      "completes it with `tunegate rollback --approve REQUEST_ID`.")
            if request and any(e.get("action") == ROLLBACK and e.get("request") == request
                               for e in read_audit(reg) if e.get("model") == reg.model_name):
                raise RollbackRefused(f"rollback request {request} was already approved and carried out.")
            check_restorable(reg, to_version)
        except RollbackRefused as e:
            raise _refuse(reg, e, to_version, trigger=trigger, request=request, approved_by=approved_by) from None
        previous = champion_version(reg)
        if only_if_champion is not None and previous != only_if_champion:
            return None
        set_alias(reg, "champion", to_version)
        extra = {"approved_by": approved_by, "request": request} if request else {}
        return audit(reg, action=action, version=to_version, previous_champion=previous, champion=to_version,
                     trigger=trigger, reasons=reasons, **extra)


def request_rollback(reg: RegistryScope, promotion: PromotionPolicy, to_version: int, reason: str | list[str],
                     requested_by: str, source: str = "os_user", trigger: str = "cli") -> dict:
    """Record a rollback request (``rollback.requested``) for a second person to approve; its entry has the
    ``request`` id. A target that cannot be restored is refused now."""
    reasons = [reason] if isinstance(reason, str) else list(reason)
    with registry_lock(reg):
        try:
            if not policy.identity(requested_by):
                raise RollbackRefused("requested_by: a rollback request needs the name of who asks for it.")
            check_restorable(reg, to_version)
            current = champion_version(reg)
            if current == to_version:
                raise RollbackRefused(f"v{to_version} is the champion already; nothing to roll back.")
        except RollbackRefused as e:
            raise _refuse(reg, e, to_version, trigger=trigger, requested_by=requested_by) from None
        return audit(reg, action=REQUESTED, request=f"rollback-{uuid.uuid4().hex[:10]}", version=to_version,
                     champion=current, requested_by=policy.clean_name(requested_by), requested_by_source=source,
                     trigger=trigger, reasons=reasons,
                     expires=(datetime.now(UTC) + timedelta(seconds=promotion.approval_timeout_s)).isoformat(
                         timespec="seconds"))


def approve_rollback(reg: RegistryScope, promotion: PromotionPolicy, request: str, approver: str,
                     source: str = "os_user") -> dict:
    """Carry out a pending rollback request: by a named approver (not its asker, with ``four_eyes``), before
    it expires, once, and only while the champion is still the one it was asked against."""
    entries = read_audit(reg)
    req = _find_request(entries, reg.model_name, request)
    seen = {"request": request, "approved_by": policy.clean_name(approver), "approver_source": source}
    try:
        if not verify_audit(shared_path(reg, AUDIT_LOG), audit_key(reg)).ok:  # a request written by hand is no request
            raise RollbackRefused("the audit log does not verify (`tunegate audit verify`): a rollback request "
                                  "cannot be trusted from it; repair the log, then ask again.")
        if req is None:
            raise RollbackRefused(f"no rollback request {request} for model {reg.model_name} in the audit log; "
                                  "list requests with `grep rollback.requested audit.jsonl`.")
        if not policy.identity(approver):
            raise RollbackRefused("approver: empty once case, spaces and zero-width characters are folded; the "
                                  "approval needs a person's name.")
        if promotion.four_eyes and policy.same_person(approver, req.get("requested_by")):
            raise RollbackRefused(f"promotion.four_eyes: {policy.clean_name(approver)} asked for {request} and "
                                  "cannot approve it; another person must.")
        if datetime.fromisoformat(req["expires"]) < datetime.now(UTC):
            raise RollbackRefused(f"{request} expired at {req['expires']} (promotion.approval_timeout_s); "
                                  "ask again.")
    except RollbackRefused as e:
        raise _refuse(reg, e, req.get("version") if req else None, **seen) from None
    entry = move_back(reg, promotion, int(req["version"]), req.get("reasons") or [],
                      trigger=f"approved by {seen['approved_by']}", only_if_champion=req.get("champion"),
                      approved_by=seen["approved_by"], request=request)
    if entry is None:
        e = RollbackRefused(f"the champion changed since {request} was made (then v{req.get('champion')}); "
                            "the request is stale: ask again if the rollback is still wanted.")
        raise _refuse(reg, e, int(req["version"]), **seen)
    return entry


def rollback_command(reg: RegistryScope, promotion: PromotionPolicy, to_version: int | None, reason: str,
                     approve: str | None, config_path: str) -> str:
    """``tunegate rollback``: approve a request, record one (under ``require_approval``), or move back."""
    me = os_identity()
    if approve:
        entry = approve_rollback(reg, promotion, approve, me)
    elif promotion.require_approval:
        req = request_rollback(reg, promotion, int(to_version), reason, requested_by=me)
        return (f"{reg.model_name}: rollback to v{to_version} requested as {req['request']} by {me}; the champion "
                f"stays v{req['champion']} until {'another person' if promotion.four_eyes else 'a reviewer'} "
                f"runs `tunegate rollback --config {config_path} --approve {req['request']}` (before "
                f"{req['expires']})")
    else:
        entry = move_back(reg, promotion, int(to_version), reason, trigger=f"cli by {me}")
    return (f"{reg.model_name}: champion is now v{entry['version']} (was v{entry['previous_champion']}); recorded "
            f"in {shared_path(reg, AUDIT_LOG)}")
