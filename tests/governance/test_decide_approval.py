"""``decide_approval``: a reviewer's answer on a candidate that waited for approval, one row per case."""

import pytest

from tasks.governance.approval import APPROVED, PENDING, REFUSED, REJECTED, ApprovalDecision, decide_approval


@pytest.mark.parametrize("approve, comment, reviewer, starter, four_eyes, outcome, approved, why", [
    (None, "", None, None, True, PENDING, None, "no decision before the timeout"),  # the pause timed out
    (None, "", "alice", "bob", False, PENDING, None, "no decision before the timeout"),
    (True, "looks good", "alice", "bob", True, APPROVED, True, "looks good"),
    (True, "ok", "alice", None, True, APPROVED, True, "ok"),  # a scheduled run: nobody started it
    (False, "misroutes fire claims", "alice", "bob", True, REJECTED, False, "misroutes fire claims"),
    (False, "no", "bob", "bob", True, REFUSED, None, "four_eyes: bob started this run"),  # even a rejection
    (True, "", "bob", "bob", True, REFUSED, None, "four_eyes: bob started this run and cannot approve it"),
    (True, "", " BOB\u200b ", "bob", True, REFUSED, None, "four_eyes"),  # case, spaces, zero-width folded
    (True, "", "bob@example.com", "Bob", True, REFUSED, None, "four_eyes"),  # an e-mail domain folded
    (True, "self-approved", "bob", "bob", False, APPROVED, True, "self-approved"),  # four-eyes off
    (True, "", "", "bob", True, REFUSED, None, "IdentityRequired: reviewer is empty"),
    (True, "", "\u200b  ", None, False, REFUSED, None, "IdentityRequired"),  # nothing left once folded
    (True, "", None, None, False, REFUSED, None, "the approval needs the reviewer's name"),
])
def test_decide_approval(approve, comment, reviewer, starter, four_eyes, outcome, approved, why):
    d = decide_approval(approve, comment, reviewer, starter, four_eyes)
    assert isinstance(d, ApprovalDecision)
    assert (d.outcome, d.approved) == (outcome, approved), d
    assert why in d.why, d
