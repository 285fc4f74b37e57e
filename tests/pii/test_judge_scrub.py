"""The PII gate's pure decision (tasks/pii/gate.py), as a table: residual rate, a scanned column, recall."""

import pytest

from tasks.pii.gate import judge_scrub


def est(overall: float, **by_entity: float) -> dict:
    return {"_overall": {"recall": overall}, **{e: {"recall": r, "inserted": 10} for e, r in by_entity.items()}}


@pytest.mark.parametrize("case, want", [
    # (docs, residual, max rate, scanned residual, recall by column, min recall) -> (passed, check, columns)
    ((1000, 0, 0.001, None, None, None), (True, None, ())),
    ((1000, 1, 0.001, None, None, None), (True, None, ())),  # exactly at the limit: passes
    ((1000, 2, 0.001, None, None, None), (False, "residual", ())),
    ((0, 0, 0.0, None, None, None), (True, None, ())),  # no documents: rate 0
    ((10, 1, 0.0, {"label": 0}, None, None), (False, "residual", ())),  # found in a scrubbed column only
    ((10, 1, 0.0, {"label": 1, "notes": 0}, None, None), (False, "personal_column", ("label",))),
    ((10, 3, 0.0, {"label": 1, "notes": 2}, None, None), (False, "personal_column", ("label", "notes"))),
    ((10, 0, 0.0, {"label": 0}, {"text": est(0.5)}, None), (True, None, ())),  # no recall bar
    ((10, 0, 0.0, None, {"text": est(0.95)}, 0.9), (True, None, ())),
    ((10, 0, 0.0, None, {"text": est(0.9)}, 0.9), (True, None, ())),  # at the bar: passes
    ((10, 0, 0.0, None, {"text": est(0.8, PERSON=0.7, EMAIL_ADDRESS=0.99)}, 0.9), (False, "recall", ("text",))),
    ((10, 0, 0.0, None, {"text": est(0.85), "notes": est(0.6)}, 0.9), (False, "recall", ("notes",))),
    ((10, 0, 0.0, None, {"text": {}}, 0.9), (True, None, ())),  # a column without an estimate
    ((10, 5, 0.1, None, {"text": est(0.1)}, 0.9), (False, "residual", ())),  # residual is judged first
])
def test_judge_scrub(case, want):
    docs, residual, max_rate, scanned, recall, min_recall = case
    v = judge_scrub(docs=docs, residual_count=residual, max_residual_rate=max_rate, scanned_residual=scanned,
                    recall_by_column=recall, min_recall=min_recall)
    assert (v.passed, v.check, v.columns) == want
    assert v.residual_rate == (residual / docs if docs else 0.0)
    assert v.max_residual_rate == max_rate


def test_recall_verdict_names_the_weak_types_and_numbers():
    v = judge_scrub(docs=10, residual_count=0, max_residual_rate=0.0,
                    recall_by_column={"text": est(0.8, PERSON=0.7, EMAIL_ADDRESS=0.99, UK_NHS=0.5)}, min_recall=0.9)
    assert v.recall == 0.8 and v.min_recall == 0.9
    assert v.weak == (("PERSON", 0.7), ("UK_NHS", 0.5))
