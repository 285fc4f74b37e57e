"""The registry's audit trail: alias moves serialised by one lock, and each recorded in ``audit.jsonl``.

``registry_lock`` is a file lock beside the work folder that every process moving an alias (promotion,
approval, rollback) holds while it reads and moves it; ``audit`` appends one JSON line saying who or
what triggered the move, when, what and why, and ``read_audit`` reads the log back (the monitor's
retrain cooldown reads it too).

The log is HMAC-chained with the audit key (``tasks/registry/keys.py``: ``$TUNEGATE_AUDIT_KEY`` or a Prefect
Secret block, never in the work folder): each entry carries ``seq`` (1, 2, …), ``kid`` (the key's id) and
``prev``, the HMAC-SHA256 of the previous line's bytes (64 zeros for the first); an entry chained with a
development key says ``dev_key: true``. ``audit.head`` beside it holds the newest entry's ``seq`` and a head
MAC; the registered model's ``audit_head`` tag holds the same, written when the registry lock is released
(every alias move) and at each registration; each evidence pack records it too. ``tasks/registry/audit_verify.py``
checks the chain and every head. Appends happen under one file lock, so concurrent writers never interleave.

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
import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from filelock import FileLock

from tasks.config import PipelineConfig
from tasks.errors import AuditLogDamaged
from tasks.registry.audit_verify import GENESIS, AuditCheck, head_mac, line_mac, parse_head, verify_audit

__all__ = ["GENESIS", "AuditCheck", "audit", "publish_head", "read_audit", "registry_head", "registry_lock",
           "verify_audit"]
HEAD_TAG = "audit_head"


@contextmanager
def registry_lock(cfg: PipelineConfig, timeout_s: float = 600) -> Iterator[None]:
    """Serialise alias moves: a file lock beside the work folder (shared by every process using it). On the
    way out the audit head is written to the registry, so every alias move's entry is pinned there."""
    path = cfg.work_path("registry.lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path), timeout=timeout_s, thread_local=False):
        yield
        publish_head(cfg)


def audit(cfg: PipelineConfig, action: str, **fields) -> dict:
    """Append one HMAC-chained line to ``audit.jsonl``: who/what triggered it, when, what and why."""
    from tasks.registry.keys import audit_key

    key = audit_key(cfg)  # before the lock: a governed run without a key stops here, nothing written
    path = cfg.work_path("audit.jsonl")
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock", timeout=60, thread_local=False):
        last, cut_off = _last_line(path)
        seq = 1 + _seq_of(last, path.with_name("audit.head"))
        entry = {
            "seq": seq,
            "prev": line_mac(key.secret, last) if last else GENESIS,
            "kid": key.kid,
            **({"dev_key": True} if key.dev else {}),
            "ts": datetime.now(UTC).isoformat(timespec="seconds"),
            "action": action,
            "model": cfg.model_name,
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
        head = path.with_name("audit.head")
        tmp = head.with_name(".audit.head.tmp")
        tmp.write_text(json.dumps({"seq": seq, "mac": head_mac(key.secret, seq, line_mac(key.secret, line)),
                                   "kid": key.kid}))
        os.replace(tmp, head)
    return entry


def read_audit(cfg: PipelineConfig, skip_damaged: bool = False) -> list[dict]:
    """The log's entries. A line that is not a JSON entry is ``AuditLogDamaged``; with ``skip_damaged`` (the
    gates that read the log) every intact entry is returned and the damaged lines are logged as a warning."""
    path = cfg.work_path("audit.jsonl")
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


def file_head(cfg: PipelineConfig) -> str | None:
    """``"seq:mac"`` from ``audit.head``, or None."""
    try:
        rec = json.loads(cfg.work_path("audit.head").read_text())
        return f"{int(rec['seq'])}:{rec['mac']}"
    except (OSError, ValueError, KeyError, TypeError):
        return None


def registry_client(cfg: PipelineConfig):
    """An MLflow client, or None where asking would create a registry (a local SQLite file not made yet)."""
    from tasks.registry.versions import client_for, tracking_uri

    uri = tracking_uri(cfg)
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists():
        return None
    return client_for(cfg)


def publish_head(cfg: PipelineConfig) -> None:
    """Write ``audit.head`` to the registered model's ``audit_head`` tag (best effort: a registry that cannot
    be reached, or a model not registered yet, is logged and skipped; the head file still pins the log)."""
    head = file_head(cfg)
    if head is None:
        return
    try:
        client = registry_client(cfg)
        if client is None:
            return
        known = parse_head(client.get_registered_model(cfg.model_name).tags.get(HEAD_TAG))
        if known is not None and not _pins_this_log(cfg, *known):
            logging.getLogger("tunegate.audit").warning(
                "the registry's audit head (seq %d) does not match %s: the log was removed, cut or replaced; the "
                "registry head is kept as evidence (run `tunegate audit verify`)", known[0],
                cfg.work_path("audit.jsonl"))
            return
        if known is None or known[0] < parse_head(head)[0]:
            client.set_registered_model_tag(cfg.model_name, HEAD_TAG, head)
    except Exception as e:  # noqa: BLE001 - no registry (yet): nothing to pin the head in
        logging.getLogger("tunegate.audit").info("audit head not written to the registry (%s)", type(e).__name__)


def _pins_this_log(cfg: PipelineConfig, seq: int, mac: str) -> bool:
    """Whether head ``seq:mac`` pins an entry of the log as it is now (never advance a head over a re-rooted log)."""
    from tasks.registry.keys import audit_key

    key = audit_key(cfg)
    for line in cfg.work_path("audit.jsonl").read_bytes().split(b"\n"):
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("seq") == seq and "kid" in entry:
            return head_mac(key.secret, seq, line_mac(key.secret, line)) == mac
    return False


def registry_head(cfg: PipelineConfig) -> tuple[str | None, str]:
    """(the registered model's ``audit_head`` tag, or None; a note on where it came from)."""
    from mlflow.exceptions import MlflowException

    client = registry_client(cfg)
    if client is None:
        return None, "no registry in this work folder yet: no registry head to compare"
    try:
        tags = client.get_registered_model(cfg.model_name).tags
    except MlflowException:
        return None, f"model '{cfg.model_name}' is not registered: no registry head to compare"
    head = tags.get(HEAD_TAG)
    return head, ("the registry holds no audit head yet (no alias move or registration since HMAC chaining)"
                  if head is None else "")


def verify_config(cfg: PipelineConfig, pack: Path | None = None) -> AuditCheck:
    """``tunegate audit verify``: the chain, ``audit.head``, the registry's head and (given) a pack's head."""
    from tasks.registry.keys import audit_key

    try:
        reg, note = registry_head(cfg)
    except Exception as e:  # noqa: BLE001 - a registry that cannot be reached is reported, not fatal
        reg, note = None, f"the registry could not be read ({type(e).__name__}): its audit head was not compared"
    pack_head = None
    if pack is not None:
        from tasks.registry.evidence import read_pack

        try:
            pack_head = json.loads(read_pack(pack)["manifest.json"]).get("audit_head")
        except (KeyError, ValueError, AttributeError):
            pack_head = None
        if pack_head is None:
            note = (note + "; " if note else "") + f"{pack} records no audit head"
    check = verify_audit(cfg.work_path("audit.jsonl"), audit_key(cfg), reg, pack_head)
    if note:
        check.notes.append(note)
    if pack_head is not None:
        check.notes.append("the pack's own signature is checked by `tunegate evidence verify`")
    return check


def command(config: str, pack: str | None) -> tuple[list[str], int]:
    """``tunegate audit verify``: (lines to print, exit code: 1 when the log or a head does not hold)."""
    from tasks.config import load_config

    cfg = load_config(config)
    check = verify_config(cfg, Path(pack) if pack else None)
    return check.lines(cfg.work_path("audit.jsonl")), 0 if check.ok else 1


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
