"""Checking ``audit.jsonl``: the HMAC chain, and the heads kept elsewhere that pin its end.

Entry ``n`` carries ``prev`` = HMAC-SHA256(key, line ``n-1``) (64 zeros for the first line) and ``kid``, the
key's id; the newest line's MAC is pinned by a *head*, ``"seq:mac"`` with mac = HMAC(key, "head", seq, line MAC),
which no one can compute without the key (not even from the ``prev`` fields in the log). Heads are kept in
three places: ``audit.head`` beside the log (each append), the registered model's ``audit_head`` tag (each
alias move and registration) and each evidence pack's manifest. ``verify_audit`` recomputes the chain and
checks each head it is given: a head beyond the log's end means entries were removed or the log replaced (a
deleted log, a fresh log, a removed tail); a head whose MAC differs means the entry it pins was changed.

Older entries (unchained, or SHA-256-chained by older tunegate) before the first HMAC entry are counted as
predating the HMAC chain; the SHA links between them are still checked, and the first HMAC entry covers the
line before it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from pathlib import Path

GENESIS = "0" * 64


def line_mac(key: bytes, line: bytes) -> str:
    return hmac.new(key, line, hashlib.sha256).hexdigest()


def head_mac(key: bytes, seq: int, mac: str) -> str:
    return hmac.new(key, b"tunegate-audit-head\0%d\0" % seq + mac.encode(), hashlib.sha256).hexdigest()


def parse_head(value: str | None) -> tuple[int, str] | None:
    """``"seq:mac"`` -> (seq, mac); None for no head or one that is not of that form."""
    try:
        seq, mac = str(value).split(":")
        return int(seq), mac
    except (ValueError, TypeError):
        return None


@dataclass
class AuditCheck:
    entries: int
    unchained: int  # the first entries, written before the HMAC chain existed
    problems: list[str]  # every broken link and head, by line number; empty when the log is intact
    head: str | None  # "seq:mac" of the newest HMAC entry
    dev_key: int = 0  # entries chained with a development key
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self, path: Path) -> list[str]:
        """``tunegate audit verify``'s report."""
        note = f" ({self.unchained} older entries predate the HMAC chain)" if self.unchained else ""
        extra = [f"note: {n}" for n in self.notes]
        if self.dev_key:
            extra.append(f"note: {self.dev_key} entries were chained with a development key (not for production)")
        if self.ok:
            return extra + [f"audit log intact: {self.entries} entries{note}, head {(self.head or '-')[:24]} ({path})"]
        return [f"BROKEN: {p}" for p in self.problems] + extra + [
            f"audit log NOT intact: {len(self.problems)} problem(s) in {self.entries} entries{note} ({path})"]


def _file_head(path: Path) -> tuple[str | None, dict | None]:
    """(``"seq:mac"``, a legacy ``{"seq", "sha256"}`` record) from ``audit.head``."""
    if not path.exists():
        return None, None
    try:
        rec = json.loads(path.read_text())
        if "mac" in rec:
            return f"{int(rec['seq'])}:{rec['mac']}", None
        return None, {"seq": int(rec["seq"]), "sha256": str(rec["sha256"])}
    except (ValueError, KeyError, TypeError):
        return "unreadable", None


def verify_audit(path: Path, key=None, registry_head: str | None = None, pack_head: str | None = None) -> AuditCheck:
    """Recompute the chain of the audit log at ``path`` with ``key`` (a ``keys.Key``; None: the configured or
    development key, no Secret block) and check its heads (see the module docstring)."""
    if key is None:
        from tasks.keys import audit_key

        key = audit_key(None)
    data = path.read_bytes() if path.exists() else b""
    lines = data.split(b"\n") if data else []
    problems: list[str] = []
    if lines and lines[-1] == b"":
        lines.pop()
    elif lines:
        problems.append(f"line {len(lines)} is incomplete (no newline): a write was cut off or the file edited")
    prev_line, expected, legacy, dev = None, None, 0, 0
    macs: dict[int, str] = {}
    for n, raw in enumerate(lines, start=1):
        try:
            entry = json.loads(raw)
            if not isinstance(entry, dict):
                raise ValueError
        except ValueError:
            problems.append(f"line {n} is not a JSON entry: it was edited")
            prev_line, expected = raw, (expected + 1 if expected else None)
            continue
        chained = "kid" in entry and "seq" in entry and "prev" in entry
        if not chained and (macs or expected is not None and "prev" not in entry):
            problems.append(f"line {n} has no HMAC link: it was added or edited by hand")
            prev_line = raw
            continue
        if not chained and "prev" not in entry:
            legacy += 1  # written before any chain existed
            prev_line = raw
            continue
        seq = entry.get("seq")
        if expected is not None and seq != expected:
            problems.append(f"line {n} has seq {seq} where {expected} was expected: "
                            + ("entries were removed before it" if isinstance(seq, int) and seq > expected
                               else "entries were reordered or duplicated"))
        if chained and entry["kid"] != key.kid:
            problems.append(f"line {n} (seq {seq}) was chained with another audit key (id {entry['kid']}; this key "
                            f"is {key.kid}): verify with the key that wrote it, or it was forged")
        else:
            link = line_mac if chained else (lambda _k, b: hashlib.sha256(b).hexdigest())
            want = link(key.secret, prev_line) if prev_line is not None else GENESIS
            if entry["prev"] != want:
                problems.append(f"line {n} (seq {seq}) does not follow line {n - 1}: "
                                + ("the entry before it was changed, or one was removed or moved" if n > 1
                                   else "the first entries were removed"))
        if chained:
            macs[seq] = line_mac(key.secret, raw)
            dev += bool(entry.get("dev_key"))
        else:
            legacy += 1  # SHA-256-chained by older tunegate
        prev_line, expected = raw, (seq + 1 if isinstance(seq, int) else None)
    last_seq = expected - 1 if expected else 0
    newest = f"{last_seq}:{head_mac(key.secret, last_seq, macs[last_seq])}" if last_seq in macs else None
    file_head, legacy_head = _file_head(path.with_name("audit.head"))
    if legacy_head is not None:
        if macs:
            problems.append("audit.head holds no MAC: it was recomputed without the key (or restored from older "
                            "tunegate)")
        elif last_seq < legacy_head["seq"]:
            problems.append(f"the log ends at seq {last_seq} but audit.head records seq {legacy_head['seq']}: "
                            "the newest entries were removed")
        elif prev_line is not None and hashlib.sha256(prev_line).hexdigest() != legacy_head["sha256"]:
            problems.append(f"the newest entry (seq {last_seq}) differs from the one audit.head recorded")
    elif file_head is None and macs:
        problems.append("audit.head is missing: it is written with every entry, so it was deleted")
    elif file_head is not None and newest is not None and parse_head(file_head) and \
            parse_head(file_head)[0] < last_seq:
        problems.append(f"the log goes on past audit.head (seq {parse_head(file_head)[0]}): entries were added by "
                        "hand, or a writer stopped between its entry and the head")
    notes = [] if macs or not lines else ["no entry is HMAC-chained yet: the log is pinned only once tunegate "
                                           "writes to it (and an older log can be rewritten with its SHA-256 head)"]
    for name, value in (("audit.head", file_head), ("the registry's audit_head tag", registry_head),
                        ("the evidence pack", pack_head)):
        if value is None:
            continue
        parsed = parse_head(value)
        if parsed is None:
            problems.append(f"{name} is not a head (seq:mac): it was edited")
        elif parsed[0] > last_seq:
            problems.append(f"the log ends at seq {last_seq} but {name} records seq {parsed[0]}: entries were removed, "
                            "or the log was deleted or replaced by a fresh one")
        elif parsed[0] not in macs:
            problems.append(f"{name} records seq {parsed[0]}, which is not a readable HMAC entry of this log: it was "
                            "damaged or replaced")
        elif not hmac.compare_digest(head_mac(key.secret, parsed[0], macs[parsed[0]]), parsed[1]):
            problems.append(f"entry seq {parsed[0]} differs from the one {name} recorded (or the head was recomputed "
                            "without the key): the log was edited or replaced")
        elif name != "audit.head":
            notes.append(f"{name} (seq {parsed[0]}) matches the log")
    return AuditCheck(entries=len(lines), unchained=legacy, problems=problems, head=newest, dev_key=dev, notes=notes)
