"""Automatic rollback: when labelled production rows show the champion below what the champion it replaced
scored, by more than ``monitor.rollback_margin`` (or below the promotion floors), go back to that version.

Plain functions: which version the champion replaced (from the audit log), and ``decide_rollback``, the whole
decision from plain values (pure, table-tested). The monitor's task gathers the facts, decides, then applies
(``tasks/monitor/task.py``: under the registry lock, audited, an event, the card's note).
Off by default (``monitor.auto_rollback: false``): a drift event then only asks for a retrain.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tasks.audit import PROMOTE, ROLLBACK, ROLLED_BACK
from tasks.monitor.drift import DriftReport

MOVES = (PROMOTE, ROLLBACK, ROLLED_BACK)
STAY, REQUEST, ROLL_BACK = "stay", "request", "roll_back"


@dataclass(frozen=True)
class RollbackDecision:
    """What the monitor does about the champion: ``stay``, ``request`` a rollback to ``to_version`` for a person
    to approve (``promotion.require_approval``), or ``roll_back`` to it now; ``reasons`` for a move, ``note``
    for the log when it stays for a reason worth saying."""

    action: str
    to_version: int | None = None
    reasons: list[str] = field(default_factory=list)
    note: str = ""


def previous_champion(entries: list[dict], model_name: str, current: int) -> int | None:
    """The version ``current`` replaced as champion: from the newest audit entry that made it champion."""
    for e in reversed(entries):
        if e.get("model") == model_name and e.get("action") in MOVES and e.get("champion") == current:
            prev = e.get("previous_champion")
            return prev if isinstance(prev, int) and prev != current else None
    return None


def should_roll_back(report: DriftReport, previous_eval: dict, floors: dict[str, float], margin: float,
                     min_rows: int) -> tuple[bool, list[str]]:
    """(roll back?, reasons): the champion's accuracy and macro-F1 on the batch's labelled rows against the
    previous champion's recorded test metrics minus ``margin``, and against the promotion floors."""
    if report.labelled_rows < min_rows:
        return False, [f"{report.labelled_rows} labelled rows, fewer than monitor.min_rollback_rows ({min_rows})"]
    seen = {c.name: c.value for c in report.checks if c.kind == "quality" and c.value is not None}
    reasons = []
    for metric, value in seen.items():
        before = previous_eval.get(metric)
        if before is not None and value < before - margin:
            reasons.append(f"{metric} {value:.4f} on {report.labelled_rows} labelled rows is below the previous "
                           f"champion's {before:.4f} minus {margin:g}")
        if metric in floors and value < floors[metric]:
            reasons.append(f"{metric} {value:.4f} is below the promotion floor {floors[metric]:g}")
    return bool(reasons), reasons


def decide_rollback(champion: int, previous: int | None, previous_eval: dict | None, report: DriftReport,
                    floors: dict[str, float], margin: float, min_rows: int, require_approval: bool,
                    unavailable: str = "") -> RollbackDecision:
    """The auto-rollback decision from plain values: ``previous`` is the version ``champion`` replaced (None:
    none), ``previous_eval`` its recorded test metrics (None: it cannot be restored, ``unavailable`` says why)."""
    if previous is None:
        return RollbackDecision(STAY, note=f"v{champion} replaced no earlier champion")
    if previous_eval is None:
        return RollbackDecision(STAY, note=f"v{previous} cannot be restored ({unavailable})")
    roll, reasons = should_roll_back(report, previous_eval, floors, margin, min_rows)
    if not roll:
        return RollbackDecision(STAY, reasons=reasons)
    return RollbackDecision(REQUEST if require_approval else ROLL_BACK, previous, reasons)
