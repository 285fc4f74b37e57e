"""The audit trail: ``audit.jsonl``, one HMAC-chained JSON line per governed action, written by every stage.

``audit`` appends one line saying who or what did it, when, what and why (promotions, approvals, rollbacks,
erasures, retrain gates, monitor runs); ``read_audit`` reads the log back (the retrain cooldown and the
rollbacks read it too). The action names that other code reads back are constants here.

The log is HMAC-chained with the audit key (``tasks/keys.py``: ``$TUNEGATE_AUDIT_KEY`` or a Prefect
Secret block, never in the work folder): each entry carries ``seq`` (1, 2, …), ``kid`` (the key's id) and
``prev``, the HMAC-SHA256 of the previous line's bytes (64 zeros for the first); an entry chained with a
development key says ``dev_key: true``. ``audit.head`` beside it holds the newest entry's ``seq`` and a head
MAC; the registered model's ``audit_head`` tag holds the same, written when the registry lock is released
(every alias move: ``tasks/registry/lock.py``) and at each registration; each evidence pack records it too.
``tasks/audit_verify.py`` checks the chain and every head. Appends happen under one lock, so concurrent
writers never interleave: a file lock beside the log, or, with ``registry.shared_dir`` (workers on several
machines append to ``<shared_dir>/<model>/audit.jsonl``), the Prefect server's ``tunegate-audit-<model>``
limit, because file locks on a network mount do not hold.

Limits: entries appended after the last registry update and before a pack are pinned by ``audit.head`` alone
(someone who can delete files in the work folder can remove them together with the head); someone who holds
the audit key, or who can both rewrite the work folder and reset the registry tag, can forge a consistent log.

A line that cannot be read (a write cut off by a crash, an edit) is ``AuditLogDamaged`` from ``read_audit``.
The gates that read the log (the monitor's retrain cooldown, auto-rollback) call it with ``skip_damaged=True``:
they read every intact entry and log a warning naming the damaged lines, so a damaged log neither stops
them with a traceback nor blocks retraining; ``tunegate audit verify`` reports the damage.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
from datetime import UTC, datetime
from pathlib import Path

from filelock import FileLock

from tasks.audit_verify import GENESIS, AuditCheck, head_mac, line_mac, verify_audit
from tasks.config import RegistryScope
from tasks.errors import AuditLogDamaged
from tasks.locks import shared_path

__all__ = ["GENESIS", "AuditCheck", "audit", "file_head", "pins_this_log", "read_audit", "verify_audit"]

# The actions that other code reads back (the others are named where they are written).
PROMOTE = "promote"  # a candidate made champion (its siblings: reject, pending_approval, lost_race)
ROLLBACK = "rollback"  # the champion moved back (tunegate rollback, an approved request)
ROLLED_BACK = "monitor.rolled_back"  # the monitor's automatic rollback
ROLLBACK_REQUESTED, ROLLBACK_REFUSED = "rollback.requested", "rollback.refused"
APPROVAL = "retrain.approval"  # a reviewer's decision on a candidate that waited for approval
COMPLETED, SKIPPED = "retrain.completed", "retrain.skipped"  # the retrain cooldown reads these
MONITORED = "monitor.checked"  # one per monitor run: the version watched, its checks and drift decision
AUDIT_LOG, AUDIT_HEAD = "audit.jsonl", "audit.head"  # in shared_path(reg): work_dir, or registry.shared_dir
APPEND_WAIT_S = 60


def audit(reg: RegistryScope, action: str, **fields) -> dict:
    """Append one HMAC-chained line to ``audit.jsonl``: who/what triggered it, when, what and why."""
    from tasks.keys import audit_key

    key = audit_key(reg)  # before the lock: a governed run without a key stops here, nothing written
    path = shared_path(reg, AUDIT_LOG)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _append_lock(reg, path):
        last, cut_off = _last_line(path)
        seq = 1 + _seq_of(last, path.with_name(AUDIT_HEAD))
        entry = {
            "seq": seq,
            "prev": line_mac(key.secret, last) if last else GENESIS,
            "kid": key.kid,
            **({"dev_key": True} if key.dev else {}),
            "ts": datetime.now(UTC).isoformat(timespec="seconds"),
            "action": action,
            "model": reg.model_name,
            "actor": f"{getpass.getuser()}@{socket.gethostname()}",
            **fields,
        }
        line = json.dumps(entry, default=str).encode()
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:  # a cut-off line stays on its own (verify names it); the chain goes on after it
            os.write(fd, (b"\n" if cut_off else b"") + line + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        head = path.with_name(AUDIT_HEAD)
        tmp = head.with_name(f".{AUDIT_HEAD}.tmp")
        tmp.write_text(json.dumps({"seq": seq, "mac": head_mac(key.secret, seq, line_mac(key.secret, line)),
                                   "kid": key.kid}))
        os.replace(tmp, head)
    return entry


def _append_lock(reg: RegistryScope, path: Path):
    """The lock appends take: the server's limit for a shared log, else a file lock beside the log."""
    if not reg.registry.shared_dir:
        return FileLock(str(path) + ".lock", timeout=APPEND_WAIT_S, thread_local=False)
    from tasks.errors import LockServerUnreachable
    from tasks.locks import use_server
    from tasks.server_locks import limit_name, server_lock

    use_server(reg)  # no server configured: LockServerUnreachable, nothing appended
    name = limit_name("audit", reg.model_name)
    return server_lock(name, APPEND_WAIT_S, lambda: LockServerUnreachable(
        f"the audit lock {name} on the Prefect server stayed taken for {APPEND_WAIT_S} s (a writer stuck, or a "
        "lease not yet lapsed); nothing was appended; run again."))


def read_audit(reg: RegistryScope, skip_damaged: bool = False) -> list[dict]:
    """The log's entries. A line that is not a JSON entry is ``AuditLogDamaged``; with ``skip_damaged`` (the
    gates that read the log) every intact entry is returned and the damaged lines are logged as a warning."""
    path = shared_path(reg, AUDIT_LOG)
    if not path.exists():
        return []
    out, damaged = [], []
    for n, line in enumerate(path.read_bytes().split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            if not isinstance(entry, dict):
                raise ValueError
            out.append(entry)
        except ValueError:
            damaged.append(n)
    if damaged and not skip_damaged:
        raise AuditLogDamaged(f"{path}: line(s) {', '.join(map(str, damaged[:10]))} cannot be read (a write was cut "
                              "off, or the file was edited); run `tunegate audit verify --config CONFIG`, keep a "
                              "copy of the log as evidence and repair the damaged line(s).")
    if damaged:
        from tasks.runtime import run_logger

        run_logger("tunegate.audit").warning(
            "audit log %s: line(s) %s cannot be read and were skipped; run `tunegate audit verify`", path,
            ", ".join(map(str, damaged[:10])))
    return out


def file_head(reg: RegistryScope) -> str | None:
    """``"seq:mac"`` from ``audit.head``, or None."""
    try:
        rec = json.loads(shared_path(reg, AUDIT_HEAD).read_text())
        return f"{int(rec['seq'])}:{rec['mac']}"
    except (OSError, ValueError, KeyError, TypeError):
        return None


def pins_this_log(reg: RegistryScope, seq: int, mac: str) -> bool:
    """Whether head ``seq:mac`` pins an entry of the log as it is now (never advance a head over a re-rooted log)."""
    from tasks.keys import audit_key

    key = audit_key(reg)
    for line in shared_path(reg, AUDIT_LOG).read_bytes().split(b"\n"):
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("seq") == seq and "kid" in entry:
            return head_mac(key.secret, seq, line_mac(key.secret, line)) == mac
    return False


def _seq_of(last: bytes | None, head: Path) -> int:
    """The newest entry's seq; from the head where that line is unreadable (an edited log still takes
    entries: the break stays visible to ``verify_audit``, and promotions are not blocked by it)."""
    if last is None:
        return 0
    try:
        return int(json.loads(last).get("seq") or 0)
    except (ValueError, AttributeError, TypeError):
        try:
            return int(json.loads(head.read_text())["seq"])
        except (OSError, ValueError, KeyError, TypeError):
            return 0


def _last_line(path: Path) -> tuple[bytes | None, bool]:
    """(the newest line of ``path`` read from the end, or None for an empty or missing log; whether it lacks
    its newline: a write that was cut off)."""
    if not path.exists():
        return None, False
    with path.open("rb") as f:
        f.seek(0, os.SEEK_END)
        end = f.tell()
        buf, pos = b"", end
        while pos > 0:
            step = min(65536, pos)
            pos -= step
            f.seek(pos)
            buf = f.read(step) + buf
            lines = [x for x in buf.split(b"\n") if x.strip()]
            if len(lines) >= 2 or (lines and pos == 0):
                return lines[-1], not buf.endswith(b"\n")
    return None, False
