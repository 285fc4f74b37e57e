"""Whether a reviewer's answer approves a candidate that waited for approval: pure, table-tested.

``decide_approval`` takes plain values (the form's answer, the reviewer's and the run starter's names, the
four-eyes switch) and returns an ``ApprovalDecision``; ``apply_approval`` (``tasks/governance/task.py``)
finds the names, decides, audits the decision and, when approved, promotes. Names are compared folded
(``policy.identity``): case, spaces and zero-width characters do not make another person.
"""

from __future__ import annotations

from dataclasses import dataclass

from tasks.errors import IdentityRequired
from tasks.governance import policy

PENDING = "pending_approval"  # no answer before the timeout: the candidate stays registered, not champion
REFUSED = "refused_four_eyes"  # the answer cannot count (no name, or the starter under four-eyes): someone else
REJECTED = "rejected_by_reviewer"
APPROVED = "approved"


@dataclass(frozen=True)
class ApprovalDecision:
    """The outcome, what the audit entry records as ``approved`` (None: no decision counted) and why."""

    outcome: str
    approved: bool | None
    why: str


def decide_approval(approve: bool | None, comment: str, reviewer: str | None, starter: str | None,
                    four_eyes: bool, outside_envelope: bool = False) -> ApprovalDecision:
    """``approve`` is the form's answer (None: none came before the timeout), ``reviewer`` who gave it,
    ``starter`` who started the run (None: a schedule, a trigger, or nobody known). A candidate outside the
    declared change envelope (``tasks/governance/envelope.py``) takes four-eyes whatever ``four_eyes`` says."""
    if approve is None:
        return ApprovalDecision(PENDING, None, "no decision before the timeout")
    if not policy.identity(reviewer):
        return ApprovalDecision(REFUSED, None, f"{IdentityRequired.__name__}: reviewer is empty once case, spaces "
                                               "and zero-width characters are folded; the approval needs the "
                                               "reviewer's name")
    if (four_eyes or outside_envelope) and policy.same_person(reviewer, starter):
        rule = "four_eyes" if four_eyes else "outside the declared change envelope"
        return ApprovalDecision(REFUSED, None, f"{rule}: {reviewer} started this run and cannot approve it; "
                                               "another reviewer must decide")
    return ApprovalDecision(APPROVED if approve else REJECTED, approve, comment)
