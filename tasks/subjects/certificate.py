"""The erasure certificate: what one ``tunegate subject erase`` request did, signed, and never an identifier.

``certificate_of`` (pure) turns an ``ErasureReport`` into the certificate: the request id, reason and time;
every store searched and what it still holds (counts); rows removed per file; the versions trained on the
subject with their state now; where the champion alias moved; the answer deadline (GDPR Art. 12(3): one month
from the request) and whether the erasure was complete within it. The membership test of the successor on the
erased rows (``tasks/subjects/successor.py``): the AUC, its interval and the rows it rests on, or why it
could not be run. No value, keyed hash or document id goes in: counts, request ids, version numbers,
run-folder file names and the test's numbers only.

``write_certificate`` signs it with the evidence key (``tasks/keys.py``, Ed25519) into
``<work_dir>/erasures/certificates/<request>.json`` (outside the journals' glob); ``verify_certificate``
(``tunegate subject certificate verify FILE``) checks the signature against trusted keys only, and that the
file is byte for byte the canonical form of what was signed, so a one-byte change anywhere, even in the
spacing, is caught.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

from tasks.config import RegistryConfig, RegistryScope
from tasks.errors import InputError
from tasks.subjects.erased import ERASURES

DEADLINE_DAYS = 30  # GDPR Art. 12(3): without undue delay, at the latest within one month
VERIFIED, TAMPERED, UNTRUSTED = 0, 1, 20


def certificate_of(report, model: str, reason: str, requested_at: datetime, now: datetime) -> dict:
    """The certificate's body (no signature) of an ``ErasureReport``."""
    deadline = requested_at + timedelta(days=DEADLINE_DAYS)
    c = report.champion or {}
    versions = {str(v): {"reference_rows_removed": n, "state": "erasure pending: archived (weights deleted under "
                         "retention.erased_versions) when a version trained without the subject is champion"}
                for v, n in sorted((report.versions or {}).items(), key=lambda kv: int(kv[0]))}
    return {"format": 1, "kind": "tunegate erasure certificate", "model": model, "request": report.request,
            "reason": reason, "outcome": report.outcome, "requested_at": requested_at.isoformat(timespec="seconds"),
            "certified_at": now.isoformat(timespec="seconds"), "documents_removed": report.documents,
            "rows_removed": dict(sorted((report.files or {}).items())),
            "rows_removed_total": sum((report.files or {}).values()),
            "stores_searched": {s: {"still_holding": len(left)} for s, left in sorted((report.stores or {}).items())},
            "complete": report.complete, "versions_affected": versions,
            "champion": {"previous": c.get("previous"), "now": c.get("now"), "withdrawn_at": c.get("withdrawn_at"),
                         "aliases_withdrawn": list(c.get("aliases") or [])},
            "deadline": deadline.isoformat(timespec="seconds"),
            "deadline_met": bool(report.complete and now <= deadline),
            "successor_membership_test": report.successor or {"measured": False, "why": "not recorded"}}


def canonical(doc: dict) -> bytes:
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=True).encode() + b"\n"


def _signed_part(doc: dict) -> bytes:
    """What the signature covers: the whole document but the signature's own value."""
    return canonical({**doc, "signature": {k: v for k, v in doc["signature"].items() if k != "value"}})


def write_certificate(reg: RegistryScope, body: dict) -> Path:
    """Sign ``body`` with the evidence key and write it beside the request's journal; returns the path."""
    from tasks.keys import public_hex, signing_key
    from tasks.refs import atomic_file

    key, source, dev = signing_key(reg)
    doc = {"certificate": body, "signature": {"algorithm": "Ed25519", "public_key": public_hex(key),
                                              "key_source": source, "dev_key": dev}}
    doc["signature"]["value"] = key.sign(_signed_part(doc)).hex()
    path = reg.work_path(ERASURES, "certificates", f"{body['request']}.json")
    with atomic_file(path) as tmp:
        tmp.write_bytes(canonical(doc))
    return path


def verify_certificate(path: Path, trusted: set[str], allow_dev_key: bool = False) -> tuple[list[str], int]:
    """(lines, exit code): 0 verified; 1 changed (not canonical, or the signature fails); 20 signed by a key
    not trusted (or a development key without ``allow_dev_key``)."""
    from tasks.governance.evidence_verify import _signed

    try:
        raw = Path(path).read_bytes()
    except OSError:
        raise InputError(f"{path}: no such certificate (written by `tunegate subject erase` under "
                         f"<work_dir>/{ERASURES}/).") from None
    try:
        doc = json.loads(raw)
        body, sig = doc["certificate"], doc["signature"]
        key = str(sig["public_key"]).lower()
    except (ValueError, KeyError, TypeError):
        return [f"certificate NOT verified: {path} is not a readable certificate: it was changed"], TAMPERED
    if canonical(doc) != raw:
        return [f"certificate NOT verified: {path} differs from its signed form (a byte was changed)"], TAMPERED
    if not _signed(key, str(sig.get("value", "")), _signed_part(doc)):
        return [f"certificate NOT verified: the signature does not match {path}: its content was changed"], TAMPERED
    if key not in trusted or (sig.get("dev_key") is True and not allow_dev_key):
        return [f"certificate NOT verified: signed by key {key[:16]}…, which is not trusted (--public-key, "
                "registry.evidence_public_keys; a development key needs --allow-dev-key)"], UNTRUSTED
    return [f"certificate verified: {body.get('request')} of {body.get('model')}: {body.get('rows_removed_total')} "
            f"row(s) removed, complete: {body.get('complete')}, signed by {key[:16]}…"], VERIFIED


def verify_command(action: str, words: list[str], registry: RegistryConfig, public_keys: list[str]
                   ) -> tuple[list[str], int]:
    """``tunegate subject certificate verify FILE``: the keys trusted are ``--public-key`` and
    ``registry.evidence_public_keys``, never the certificate's own; a development key is never trusted here."""
    from tasks.governance.evidence_verify import trusted_keys

    if action != "certificate":
        raise InputError(f"tunegate subject {action} needs --value-file (a file of `ENTITY: value` lines).")
    if len(words) != 2 or words[0] != "verify":
        raise InputError("usage: tunegate subject certificate verify FILE --config C [--public-key HEX]")
    trusted = trusted_keys(public_keys, None, registry)
    if not trusted:
        raise InputError("certificate verify needs a public key to trust: --public-key HEX or "
                         "registry.evidence_public_keys; the certificate's own key proves nothing.")
    return verify_certificate(Path(words[1]), trusted)
