"""The registry's audit trail: alias moves serialised by one lock, and each recorded in ``audit.jsonl``.

``registry_lock`` is a file lock beside the work folder that every process moving an alias (promotion,
approval, rollback) holds while it reads and moves it; ``audit`` appends one JSON line saying who or
what triggered the move, when, what and why, and ``read_audit`` reads the log back (the monitor's
retrain cooldown reads it too).

The log is hash-chained, so it is tamper-evident: each entry carries ``seq`` (1, 2, …) and ``prev``, the
SHA-256 of the previous line's bytes (64 zeros for the first). ``audit.head`` beside it holds the newest
entry's ``seq`` and hash. ``verify_audit`` recomputes the chain: an edited entry breaks the link to the
next one (or, for the newest, the head), a removed or reordered one breaks ``seq``, and a removed tail no
longer reaches the head. Appends happen under one file lock, so concurrent writers (two retrains, a
rollback, the monitor) never interleave. Limit: someone who can rewrite the whole log *and* the head can
forge a consistent chain; the evidence pack's signed manifest fixes the head at the time it was made.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from filelock import FileLock

from tasks.config import PipelineConfig


@contextmanager
def registry_lock(cfg: PipelineConfig, timeout_s: float = 600) -> Iterator[None]:
    """Serialise alias moves: a file lock beside the work folder (shared by every process using it)."""
    path = cfg.work_path("registry.lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path), timeout=timeout_s, thread_local=False):
        yield


GENESIS = "0" * 64


def audit(cfg: PipelineConfig, action: str, **fields) -> dict:
    """Append one chained line to ``audit.jsonl``: who/what triggered it, when, what and why."""
    path = cfg.work_path("audit.jsonl")
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock", timeout=60, thread_local=False):
        last = _last_line(path)
        seq = 1 + _seq_of(last, path.with_name("audit.head"))
        entry = {
            "seq": seq,
            "prev": _sha(last) if last else GENESIS,
            "ts": datetime.now(UTC).isoformat(timespec="seconds"),
            "action": action,
            "model": cfg.model_name,
            "actor": f"{getpass.getuser()}@{socket.gethostname()}",
            **fields,
        }
        line = json.dumps(entry, default=str).encode()
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        head = path.with_name("audit.head")
        tmp = head.with_name(".audit.head.tmp")
        tmp.write_text(json.dumps({"seq": seq, "sha256": _sha(line)}))
        os.replace(tmp, head)
    return entry


def read_audit(cfg: PipelineConfig) -> list[dict]:
    path = cfg.work_path("audit.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


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


def _sha(line: bytes) -> str:
    return hashlib.sha256(line).hexdigest()


def _last_line(path: Path) -> bytes | None:
    """The newest complete line of ``path`` (read from the end), or None for an empty or missing log."""
    if not path.exists():
        return None
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
                return lines[-1]
    return None


@dataclass
class AuditCheck:
    entries: int
    unchained: int  # the first entries, written before the chain existed: not covered
    problems: list[str]  # every broken link, by line number; empty when the log is intact
    head: str | None  # SHA-256 of the newest line

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self, path: Path) -> list[str]:
        """``tunegate audit verify``'s report."""
        note = f" ({self.unchained} older entries predate the chain and are not covered)" if self.unchained else ""
        if self.ok:
            return [f"audit log intact: {self.entries} entries{note}, head {(self.head or '-')[:16]} ({path})"]
        return [f"BROKEN: {p}" for p in self.problems] + [
            f"audit log NOT intact: {len(self.problems)} problem(s) in {self.entries} entries{note} ({path})"]


def verify_audit(path: Path) -> AuditCheck:
    """Recompute the chain of the audit log at ``path`` (see the module docstring)."""
    if not path.exists():
        return AuditCheck(0, 0, [], None)
    data = path.read_bytes()
    lines = data.split(b"\n")
    problems: list[str] = []
    if lines and lines[-1] == b"":
        lines.pop()
    elif lines:
        problems.append(f"line {len(lines)} is incomplete (no newline): a write was cut off or the file edited")
    prev_line, expected, legacy = None, None, 0
    for n, raw in enumerate(lines, start=1):
        try:
            entry = json.loads(raw)
            if not isinstance(entry, dict):
                raise ValueError
        except ValueError:
            problems.append(f"line {n} is not a JSON entry: it was edited")
            prev_line, expected = raw, (expected + 1 if expected else None)
            continue
        if "seq" not in entry or "prev" not in entry:
            if expected is None:
                legacy += 1  # written before the chain existed
            else:
                problems.append(f"line {n} has no seq/prev: it was added or edited by hand")
            prev_line = raw
            continue
        seq = entry["seq"]
        if expected is not None and seq != expected:
            problems.append(f"line {n} has seq {seq} where {expected} was expected: "
                            + ("entries were removed before it" if isinstance(seq, int) and seq > expected
                               else "entries were reordered or duplicated"))
        want = _sha(prev_line) if prev_line is not None else GENESIS
        if entry["prev"] != want:
            problems.append(f"line {n} (seq {seq}) does not follow line {n - 1}: "
                            + ("the entry before it was changed, or one was removed or moved" if n > 1
                               else "the first entries were removed"))
        prev_line, expected = raw, (seq + 1 if isinstance(seq, int) else None)
    head = path.with_name("audit.head")
    if head.exists():
        rec = json.loads(head.read_text())
        last_seq = expected - 1 if expected else 0
        if last_seq < rec["seq"]:
            problems.append(f"the log ends at seq {last_seq} but its head records seq {rec['seq']}: "
                            "the newest entries were removed")
        elif last_seq == rec["seq"] and prev_line is not None and _sha(prev_line) != rec["sha256"]:
            problems.append(f"the newest entry (seq {last_seq}) differs from the one its head recorded: it was edited")
        elif last_seq > rec["seq"]:
            problems.append(f"the log goes on past its head (seq {rec['seq']}): entries were added by hand, "
                            "or a writer stopped between its entry and the head")
    return AuditCheck(entries=len(lines), unchained=legacy, problems=problems,
                      head=_sha(prev_line) if prev_line is not None else None)
