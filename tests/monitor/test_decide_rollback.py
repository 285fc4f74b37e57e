"""``decide_rollback``: the monitor's whole auto-rollback decision from plain values, one row per case."""

import pytest

from tasks.monitor.drift import DriftCheck, DriftReport
from tasks.monitor.rollback import REQUEST, ROLL_BACK, STAY, RollbackDecision, decide_rollback


def _report(accuracy, macro_f1, labelled=200):
    checks = [DriftCheck(name="accuracy", kind="quality", value=accuracy, threshold=None, method="", drifted=False),
              DriftCheck(name="macro_f1", kind="quality", value=macro_f1, threshold=None, method="", drifted=False)]
    return DriftReport(checks=checks, reference_rows=200, current_rows=200, batch_rows=200, labelled_rows=labelled)


PREV = {"accuracy": 0.80, "macro_f1": 0.70}
WORSE, FINE = _report(0.70, 0.60), _report(0.79, 0.69)


@pytest.mark.parametrize("previous, previous_eval, report, floors, approval, unavailable, action, to, says", [
    (None, None, WORSE, {}, False, "", STAY, None, "v3 replaced no earlier champion"),  # the first champion
    (None, PREV, WORSE, {}, True, "", STAY, None, "replaced no earlier champion"),
    (2, None, WORSE, {}, False, "v2 is archived", STAY, None, "v2 cannot be restored (v2 is archived)"),
    (2, PREV, FINE, {}, False, "", STAY, None, ""),  # within the margin: nothing to say
    (2, PREV, FINE, {}, True, "", STAY, None, ""),
    (2, PREV, _report(0.10, 0.10, labelled=20), {}, False, "", STAY, None, "20 labelled rows, fewer than"),
    (2, PREV, WORSE, {}, False, "", ROLL_BACK, 2, "accuracy 0.7000 on 200 labelled rows is below"),
    (2, PREV, WORSE, {}, True, "", REQUEST, 2, "macro_f1 0.6000"),  # require_approval: a person approves
    (1, PREV, FINE, {"macro_f1": 0.75}, False, "", ROLL_BACK, 1, "below the promotion floor 0.75"),
    (1, PREV, FINE, {"macro_f1": 0.75}, True, "", REQUEST, 1, "below the promotion floor 0.75"),
    (2, {}, WORSE, {}, False, "", STAY, None, ""),  # the previous version recorded no metrics: nothing to compare
])
def test_decide_rollback(previous, previous_eval, report, floors, approval, unavailable, action, to, says):
    d = decide_rollback(3, previous, previous_eval, report, floors, margin=0.05, min_rows=50,
                        require_approval=approval, unavailable=unavailable)
    assert isinstance(d, RollbackDecision)
    assert (d.action, d.to_version) == (action, to), d
    if action != STAY:
        assert d.note == "" and any(says in r for r in d.reasons), d
    elif says:
        assert says in d.note or any(says in r for r in d.reasons), d
    else:
        assert d.note == "" and d.reasons == [], d
