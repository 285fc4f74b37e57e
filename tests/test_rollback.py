"""Automatic rollback's decisions (the monitor applying one: tests/test_monitor.py)."""

import pytest

from tasks.monitor.drift import DriftCheck, DriftReport
from tasks.monitor.rollback import previous_champion, should_roll_back


def _entry(action, champion, previous, model="m"):
    return {"action": action, "model": model, "version": champion, "champion": champion,
            "previous_champion": previous}


@pytest.mark.parametrize("entries, current, expected", [
    ([_entry("promote", 1, None), _entry("promote", 2, 1)], 2, 1),
    ([_entry("promote", 1, None), _entry("promote", 2, 1), _entry("rollback", 3, 2)], 3, 2),
    ([_entry("promote", 2, 1), _entry("monitor.rolled_back", 1, 2)], 1, 2),  # the newest move wins
    ([_entry("promote", 1, None)], 1, None),  # the first champion replaced nothing
    ([_entry("promote", 2, 1, model="other")], 2, None),  # another model's log
    ([_entry("reject", 2, 1), {"action": "retrain.completed", "version": 2, "model": "m"}], 2, None),
])
def test_the_version_a_champion_replaced_comes_from_the_audit_log(entries, current, expected):
    assert previous_champion(entries, "m", current) == expected


def _report(accuracy, macro_f1, labelled=200):
    checks = [DriftCheck(name="accuracy", kind="quality", value=accuracy, threshold=None, method="", drifted=False),
              DriftCheck(name="macro_f1", kind="quality", value=macro_f1, threshold=None, method="", drifted=False),
              DriftCheck(name="text_length", kind="descriptor", value=0.01, threshold=0.05, method="", drifted=True)]
    return DriftReport(checks=checks, reference_rows=200, current_rows=200, batch_rows=200, labelled_rows=labelled)


PREV = {"accuracy": 0.80, "macro_f1": 0.70}


@pytest.mark.parametrize("report, floors, margin, roll, reason_part", [
    (_report(0.78, 0.68), {}, 0.05, False, None),  # within the margin
    (_report(0.74, 0.68), {}, 0.05, True, "accuracy 0.7400 on 200 labelled rows is below the previous champion's"),
    (_report(0.79, 0.60), {}, 0.05, True, "macro_f1 0.6000"),
    (_report(0.74, 0.68), {}, 0.10, False, None),  # a wider margin
    (_report(0.79, 0.69), {"macro_f1": 0.75}, 0.05, True, "below the promotion floor 0.75"),
    (_report(0.10, 0.10, labelled=20), {}, 0.05, False, "20 labelled rows, fewer than"),  # too few labels to judge
])
def test_roll_back_only_when_labels_show_the_champion_worse(report, floors, margin, roll, reason_part):
    decided, reasons = should_roll_back(report, PREV, floors, margin, min_rows=50)
    assert decided is roll, reasons
    assert (reason_part is None and reasons == []) or any(reason_part in r for r in reasons), reasons
