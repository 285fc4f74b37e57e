"""``tunegate audit verify``: the audit log's chain, and every head that pins its end.

The heads compared: ``audit.head`` beside the log, the registered model's ``audit_head`` tag
(``tasks/registry/lock.py``) and, given one, an evidence pack's. The chain check itself is
``tasks/audit_verify.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

from tasks.audit import AUDIT_LOG
from tasks.audit_verify import AuditCheck, verify_audit
from tasks.config import RegistryScope
from tasks.keys import audit_key
from tasks.locks import shared_path
from tasks.registry.lock import registry_head


def verify_config(reg: RegistryScope, pack: Path | None = None) -> AuditCheck:
    """``tunegate audit verify``: the chain, ``audit.head``, the registry's head and (given) a pack's head."""
    try:
        head, note = registry_head(reg)
    except Exception as e:  # noqa: BLE001 - a registry that cannot be reached is reported, not fatal
        head, note = None, f"the registry could not be read ({type(e).__name__}): its audit head was not compared"
    pack_head = None
    if pack is not None:
        from tasks.governance.evidence import read_pack

        try:
            pack_head = json.loads(read_pack(pack)["manifest.json"]).get("audit_head")
        except (KeyError, ValueError, AttributeError):
            pack_head = None
        if pack_head is None:
            note = (note + "; " if note else "") + f"{pack} records no audit head"
    check = verify_audit(shared_path(reg, AUDIT_LOG), audit_key(reg), head, pack_head)
    if note:
        check.notes.append(note)
    if pack_head is not None:
        check.notes.append("the pack's own signature is checked by `tunegate evidence verify`")
    return check


def command(config: str, pack: str | None) -> tuple[list[str], int]:
    """``tunegate audit verify``: (lines to print, exit code: 1 when the log or a head does not hold)."""
    from tasks.config import load_config

    cfg = load_config(config)
    check = verify_config(cfg.registry_scope, Path(pack) if pack else None)
    return check.lines(shared_path(cfg.registry_scope, AUDIT_LOG)), 0 if check.ok else 1
