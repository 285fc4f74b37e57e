"""decide_promotion as a table; apply against a real (SQLite) MLflow registry, concurrently."""

import threading
import uuid
from pathlib import Path

import pytest

from tasks.config import PipelineConfig, PromotionPolicy
from tasks.evaluate.metrics import EvalReport
from tasks.evaluate.stats import Interval, SliceResult, ValidationReport
from tasks.registry.promote import PromotionDecision, apply, decide_promotion


def report(macro_f1=0.8, per_class=None, confusion=None, **kw) -> EvalReport:
    per_class = per_class or {"a": 0.8, "b": 0.8}
    return EvalReport(
        accuracy=kw.pop("accuracy", macro_f1),
        macro_f1=macro_f1,
        per_class={k: {"precision": v, "recall": v, "f1": v, "support": 10} for k, v in per_class.items()},
        confusion=confusion or [[10 if i == j else 0 for j in range(len(per_class))] for i in range(len(per_class))],
        labels=list(per_class),
        ece=kw.pop("ece", 0.05),
        n=20,
        **kw,
    )


def causal(rouge: float, ppl: float) -> EvalReport:
    return EvalReport(accuracy=None, macro_f1=None, per_class={}, confusion=[], labels=[], ece=None, n=20,
                      rouge_l=rouge, perplexity=ppl)


POLICY = PromotionPolicy(primary_metric="macro_f1", min_improvement=0.01, floors={"macro_f1": 0.6},
                         max_class_regression=0.05)

BASE = PromotionPolicy(floors={}, min_gain_over_baseline=0.0)


@pytest.mark.parametrize("candidate, baseline, policy, promote, reason_part", [
    # the fine-tuned model must not be worse than TF-IDF + logistic regression on the same split (default)
    (report(0.80), report(0.78), BASE, True, "beats the baseline"),
    (report(0.80), report(0.80), BASE, True, "gain +0.0000, required +0.0000) — beats the baseline"),
    (report(0.80), report(0.81), BASE, False, "does not beat the baseline: fine-tuning has not earned its place"),
    # a required margin
    (report(0.84), report(0.80), PromotionPolicy(floors={}, min_gain_over_baseline=0.05), False, "required +0.0500"),
    (report(0.86), report(0.80), PromotionPolicy(floors={}, min_gain_over_baseline=0.05), True, "beats the baseline"),
    # null: reported, not a gate
    (report(0.70), report(0.90), PromotionPolicy(floors={}, min_gain_over_baseline=None), True, "reported only"),
    # no baseline (a causal LM on free text), or a baseline without the primary metric: nothing to compare
    (report(0.80), None, BASE, True, "no champion yet"),
    (causal(0.5, 3.0), report(0.9), PromotionPolicy(primary_metric="perplexity", floors={}), True,
     "TF-IDF baseline has no 'perplexity'"),
    # lower is better: the gain is the other way round
    (report(0.8, ece=0.04), report(0.8, ece=0.03), PromotionPolicy(primary_metric="ece", floors={}), False,
     "does not beat the baseline"),
])
def test_the_baseline_challenger_gates_promotion(candidate, baseline, policy, promote, reason_part):
    d = decide_promotion(candidate, None, policy, baseline)
    assert d.promote is promote, d.reasons
    assert any(reason_part in r for r in d.reasons), d.reasons
    # the baseline gate stands beside the champion's: beating one does not excuse losing to the other
    if baseline is not None and not promote:
        assert not decide_promotion(candidate, report(0.1), policy, baseline).promote


MI = {"measured": True, "auc_95": [0.5, 0.7], "train_rows": 200, "test_rows": 200}


def val(gain: tuple[float, float, float] | None = None, slices=(), metric="macro_f1") -> ValidationReport:
    """A validation whose candidate−champion difference on ``metric`` is (value, low, high); ``slices``:
    (name, rows, gated, champion value, candidate value)."""
    i = lambda v, lo, hi: Interval(value=v, low=lo, high=hi)  # noqa: E731
    diffs = {"champion": {metric: i(*gain)}} if gain else {}
    return ValidationReport(
        n=240, resamples=1000, seed=0, intervals={"candidate": {metric: i(0.8, 0.75, 0.85)}}, differences=diffs,
        slices=[SliceResult(column="product", value=name, rows=rows, gated=gated,
                            metrics={"candidate": {metric: i(cand, cand - .1, cand + .1)},
                                     "champion": {metric: i(champ, champ - .1, champ + .1)}},
                            differences={"champion": {metric: i(cand - champ, cand - champ - .1, cand - champ + .1)}})
                for name, rows, gated, champ, cand in slices])


SIG = PromotionPolicy(floors={}, min_improvement=0.0, require_significant_gain=True, max_class_regression=1)
SIG_MARGIN = SIG.model_copy(update={"min_improvement": 0.01})
SLICE = PromotionPolicy(floors={}, max_slice_regression=0.05, max_class_regression=1)


@pytest.mark.parametrize("validation, policy, promote, reason_part", [
    # the gain's interval must clear the margin when required
    (val((0.03, 0.012, 0.05)), SIG, True, "+0.0300 (95% +0.0120 to +0.0500)"),
    (val((0.03, 0.012, 0.05)), SIG, True, "significant: the interval's lower bound clears the margin 0.0000"),
    (val((0.03, -0.01, 0.07)), SIG, False, "not significant: the interval's lower bound -0.0100 does not clear"),
    (val((0.03, 0.0, 0.07)), SIG, False, "not significant"),  # a lower bound of zero: no evidence of a gain
    (val((0.03, 0.005, 0.06)), SIG_MARGIN, False, "does not clear the margin 0.0100"),
    (val((0.03, 0.015, 0.06)), SIG_MARGIN, True, "significant"),
    (None, SIG, False, "no validation statistics"),  # required, and nothing to show it with
    (val(None), SIG, False, "its significance cannot be shown"),
    # not required: the interval is quoted, not a gate
    (val((0.03, -0.01, 0.07)), PromotionPolicy(floors={}, max_class_regression=1), True, "reported only"),
    # slices: a gated slice losing more than the limit rejects, and the reason names it
    (val((0.03, 0.01, 0.05), [("HomeShield Plus", 60, True, 0.90, 0.80)]), SLICE, False,
     "slice product=HomeShield Plus (60 rows): macro_f1 0.9000 → 0.8000, a loss of 0.1000"),
    (val((0.03, 0.01, 0.05), [("HomeShield Plus", 60, True, 0.90, 0.86)]), SLICE, True,
     "no gated slice (1) loses more than 0.0500"),
    (val((0.03, 0.01, 0.05), [("Tiny", 5, False, 0.90, 0.50)]), SLICE, True,
     "1 slice(s) under evaluate.min_slice_rows"),
    (val((0.03, 0.01, 0.05), [("HomeShield Plus", 60, True, 0.90, 0.50)]),
     PromotionPolicy(floors={}, max_class_regression=1), True, "no slice gate"),
])
def test_significance_and_slice_gates(validation, policy, promote, reason_part):
    d = decide_promotion(report(0.83), report(0.80), policy, validation=validation)
    assert d.promote is promote, d.reasons
    assert any(reason_part in r for r in d.reasons), d.reasons


def test_lower_is_better_metrics_turn_the_gain_and_the_slice_loss_round():
    # ECE: the candidate − champion difference is negative when the candidate is better
    v = val((-0.02, -0.03, -0.01), [("web", 50, True, 0.05, 0.12)], metric="ece")
    d = decide_promotion(report(0.8, ece=0.03), report(0.8, ece=0.05),
                         PromotionPolicy(primary_metric="ece", floors={}, require_significant_gain=True,
                                         max_slice_regression=0.05, max_class_regression=1), validation=v)
    assert any("gain over the champion +0.0200 (95% +0.0100 to +0.0300)" in r for r in d.reasons), d.reasons
    assert any("slice product=web (50 rows): ece 0.0500 → 0.1200, a loss of 0.0700" in r for r in d.reasons)
    assert not d.promote


def test_without_a_champion_the_intervals_are_quoted_and_nothing_is_gated():
    d = decide_promotion(report(0.83), None, SIG.model_copy(update={"max_slice_regression": 0.0}),
                         validation=val(None, [("a", 60, True, 0.9, 0.1)]))
    assert d.promote, d.reasons
    assert any("candidate 0.8000 (95% 0.7500 to 0.8500)" in r for r in d.reasons)


@pytest.mark.parametrize("membership, policy, promote, reason_part", [
    ({**MI, "auc": 0.55}, BASE, True, "AUC 0.550 (95% 0.500–0.700), limit 0.60 — passes"),
    ({**MI, "auc": 0.60}, BASE, True, "passes"),
    ({**MI, "auc": 0.61}, BASE, False, "fails: the model tells its training documents from others"),
    ({**MI, "auc": 0.61}, PromotionPolicy(floors={}, max_membership_auc=0.7), True, "limit 0.70 — passes"),
    ({**MI, "auc": 0.95}, PromotionPolicy(floors={}, max_membership_auc=None), True, "reported only"),
    ({"measured": False, "why": "causal-LM models: not built"}, BASE, True, "not measured: causal-LM"),
])
def test_the_membership_gate(membership, policy, promote, reason_part):
    d = decide_promotion(report(0.80), None, policy, None, membership)
    assert d.promote is promote and any(reason_part in r for r in d.reasons), d.reasons
    assert decide_promotion(report(0.80), None, policy).promote  # not measured at all: no gate, no reason


@pytest.mark.parametrize(
    "candidate, champion, policy, promote, reason_part",
    [
        # no champion: floors alone
        (report(0.70), None, POLICY, True, "no champion yet"),
        (report(0.55), None, POLICY, False, "below the limit"),
        # margin
        (report(0.82), report(0.80), POLICY, True, "beats the champion"),
        (report(0.805), report(0.80), POLICY, False, "does not beat"),
        (report(0.80), report(0.80), PromotionPolicy(min_improvement=0.0), False, "does not beat"),
        (report(0.80001), report(0.80), PromotionPolicy(min_improvement=0.0), True, "beats the champion"),
        # better on average but one class regresses too much
        (report(0.85, {"a": 0.95, "b": 0.70}), report(0.80, {"a": 0.8, "b": 0.8}), POLICY, False, "class b"),
        (report(0.84, {"a": 0.92, "b": 0.76}), report(0.80, {"a": 0.8, "b": 0.8}), POLICY, True, "no class F1"),
        # a class the candidate lost entirely counts as F1 0
        (report(0.90, {"a": 0.9}), report(0.80, {"a": 0.8, "b": 0.8}), POLICY, False, "class b"),
        # a candidate that predicts one class for every document is rejected even with no floors or champion
        (report(0.33, {"a": 0.67, "b": 0.0}, confusion=[[10, 0], [10, 0]]), None, PromotionPolicy(floors={}), False,
         "collapsed: the candidate predicts 'a' for all 20"),
        (report(0.6, {"a": 0.7, "b": 0.5}, confusion=[[9, 1], [7, 3]]), None, PromotionPolicy(floors={}), True,
         "no champion yet"),
        (report(0.33, {"a": 0.67, "b": 0.0}, confusion=[[10, 0], [10, 0]], perplexity=3.0), None,
         PromotionPolicy(primary_metric="perplexity", floors={}), True, "no champion yet"),
        # missing metrics
        (report(0.9), None, PromotionPolicy(primary_metric="rouge_l", floors={}), False, "missing"),
        (report(0.9), None, PromotionPolicy(floors={"perplexity": 20.0}), False, "no 'perplexity'"),
        (report(0.9, rouge_l=0.5), report(0.8), PromotionPolicy(primary_metric="rouge_l", floors={}), True,
         "champion has no 'rouge_l'"),
        # lower-is-better metrics as primary and as ceilings
        (report(0.9, ece=0.02), report(0.9, ece=0.05), PromotionPolicy(primary_metric="ece", floors={}), True,
         "beats"),
        (report(0.9, ece=0.2), None, PromotionPolicy(floors={"ece": 0.1}), False, "above the limit"),
        # causal LM: perplexity is lower-is-better as primary metric and as a ceiling
        (report(0.8, perplexity=3.0), report(0.8, perplexity=3.5),
         PromotionPolicy(primary_metric="perplexity", min_improvement=0.2, floors={}), True, "beats"),
        (report(0.8, perplexity=3.4), report(0.8, perplexity=3.5),
         PromotionPolicy(primary_metric="perplexity", min_improvement=0.2, floors={}), False, "does not beat"),
        (report(0.8, perplexity=4.0), report(0.8, perplexity=3.5),
         PromotionPolicy(primary_metric="perplexity", floors={}), False, "does not beat"),
        (report(0.8, perplexity=9.0), None, PromotionPolicy(primary_metric="perplexity", floors={"perplexity": 8.0}),
         False, "above the limit"),
        # a causal LM scored on free-text responses has no class metrics: judged on what it has
        (causal(0.4, 3.0), causal(0.3, 3.5), PromotionPolicy(primary_metric="perplexity", floors={"rouge_l": 0.2}),
         True, "beats"),
        (causal(0.4, 3.0), None, PromotionPolicy(primary_metric="perplexity"), False, "no 'macro_f1' metric"),
        (causal(0.4, 3.0), None, PromotionPolicy(primary_metric="macro_f1", floors={}), False, "missing"),
    ],
)
def test_decide_promotion_table(candidate, champion, policy, promote, reason_part):
    d = decide_promotion(candidate, champion, policy)
    assert d.promote is promote
    assert any(reason_part in r for r in d.reasons), d.reasons


def test_decision_is_pure_and_reports_values():
    cand, champ = report(0.82), report(0.80)
    assert decide_promotion(cand, champ, POLICY) == decide_promotion(cand, champ, POLICY)
    d = decide_promotion(cand, champ, POLICY)
    assert (d.candidate_value, d.champion_value) == (0.82, 0.80)


@pytest.fixture
def cfg(tmp_path):
    return PipelineConfig(name=f"t-promote-{uuid.uuid4().hex[:8]}", work_dir=str(tmp_path / "work"))


def _register(cfg, tmp_path, tag):
    from tasks.registry.versions import register_version
    from tests.registry.test_registry import fake_layout

    return register_version(cfg.registry_scope, fake_layout(tmp_path / tag, tag), {"k": tag}, {"macro_f1": 0.9},
                            {"t": tag})[0]


def test_two_concurrent_promotions_yield_one_champion(cfg, tmp_path):
    from tasks.audit import read_audit
    from tasks.registry.versions import champion_version

    versions = [_register(cfg, tmp_path, "a"), _register(cfg, tmp_path, "b")]
    yes = PromotionDecision(promote=True, reasons=["test"])
    barrier = threading.Barrier(2)
    outcomes = []

    def promote(v):
        barrier.wait()
        outcomes.append(apply(cfg.registry_scope, v, yes, expected_champion=None, trigger="test"))

    threads = [threading.Thread(target=promote, args=(v,)) for v in versions]
    [t.start() for t in threads]
    [t.join() for t in threads]
    winners = [o for o in outcomes if o.promoted]
    assert len(winners) == 1
    assert sorted(o.action for o in outcomes) == ["lost_race", "promote"]
    assert champion_version(cfg.registry_scope) == winners[0].version
    actions = sorted(e["action"] for e in read_audit(cfg))
    assert actions == ["lost_race", "promote"]


def test_rejection_leaves_champion_and_is_audited(cfg, tmp_path):
    from tasks.audit import read_audit
    from tasks.registry.versions import champion_version

    v1 = _register(cfg, tmp_path, "a")
    apply(cfg.registry_scope, v1, PromotionDecision(promote=True, reasons=["first"]), expected_champion=None)
    v2 = _register(cfg, tmp_path, "b")
    out = apply(cfg.registry_scope, v2, PromotionDecision(promote=False, reasons=["worse"]), expected_champion=v1,
                trigger="drift",
                config_sha256=cfg.digest())
    assert not out.promoted and out.champion_version == v1 == champion_version(cfg.registry_scope)
    last = read_audit(cfg)[-1]
    assert last["action"] == "reject" and last["trigger"] == "drift" and "worse" in last["reasons"]
    assert last["config_sha256"] == cfg.digest()  # which config judged it, deployed or a CLI user's file


def test_the_decision_says_when_a_person_must_approve_and_apply_only_applies_it(cfg, tmp_path):
    from tasks.audit import read_audit
    from tasks.registry.versions import champion_version

    gated = POLICY.model_copy(update={"require_approval": True})
    decision = decide_promotion(report(0.80), report(0.70), gated)
    assert decision.promote and decision.needs_approval and any("approval required" in r for r in decision.reasons)
    worse = decide_promotion(report(0.60), report(0.70), gated)
    assert not worse.promote and not worse.needs_approval  # nothing to approve
    assert not decide_promotion(report(0.80), report(0.70), POLICY).needs_approval

    v1 = _register(cfg, tmp_path, "a")
    apply(cfg.registry_scope, v1, PromotionDecision(promote=True, reasons=["first"]), expected_champion=None)
    v2 = _register(cfg, tmp_path, "b")
    out = apply(cfg.registry_scope, v2, decision, expected_champion=v1)  # the config's own policy is not consulted
    assert out.action == "pending_approval" and champion_version(cfg.registry_scope) == v1
    approved = apply(cfg.registry_scope, v2, decision.model_copy(update={"needs_approval": False}),
                     expected_champion=v1)
    assert approved.action == "promote" and champion_version(cfg.registry_scope) == v2
    assert [e["action"] for e in read_audit(cfg)][-2:] == ["pending_approval", "promote"]


RACER = """
import json, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[4])
from tasks.config import PipelineConfig
from tasks.registry.promote import PromotionDecision, apply
from tasks.registry.versions import register_version
from tests.registry.test_registry import fake_layout

cfg = PipelineConfig.model_validate_json(Path(sys.argv[1]).read_text())
go = Path(sys.argv[2])
while not go.exists():  # both processes are up and imported: start together
    time.sleep(0.005)
v, _ = register_version(cfg.registry_scope, fake_layout(Path(sys.argv[3]), sys.argv[3]), {}, {"macro_f1": 0.9}, {})
out = apply(cfg.registry_scope, v, PromotionDecision(promote=True, reasons=["race"]), expected_champion=1,
            trigger="race")
print(json.dumps({"version": v, "action": out.action}))
"""


@pytest.mark.slow
def test_two_pipelines_finishing_at_once_in_two_processes_give_one_champion_and_distinct_versions(cfg, tmp_path):
    """Processes, not threads: each registers its candidate and applies a promote decision against champion
    v1 at the same moment, on one MLflow store (SQLite) and one audit log."""
    import json
    import os
    import subprocess
    import sys
    import time

    from tasks.audit import read_audit, verify_audit
    from tasks.registry.versions import champion_version, set_alias

    cfg = cfg.model_copy(update={"registry": cfg.registry.model_copy(
        update={"tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}"})})
    set_alias(cfg.registry_scope, "champion", _register(cfg, tmp_path, "first"))
    (tmp_path / "cfg.json").write_text(cfg.model_dump_json())
    root = str(Path(__file__).resolve().parents[2])
    procs = [subprocess.Popen([sys.executable, "-c", RACER, str(tmp_path / "cfg.json"), str(tmp_path / "go"),
                               str(tmp_path / f"racer{i}"), root], cwd=root, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env={**os.environ}) for i in range(2)]
    time.sleep(8)  # imports (MLflow, pandas) done in both
    (tmp_path / "go").touch()
    results = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-3000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert len({r["version"] for r in results}) == 2 and 1 not in {r["version"] for r in results}
    assert sorted(r["action"] for r in results) == ["lost_race", "promote"]
    (winner,) = [r["version"] for r in results if r["action"] == "promote"]
    assert champion_version(cfg.registry_scope) == winner
    assert sorted(e["action"] for e in read_audit(cfg)) == ["lost_race", "promote"]
    assert verify_audit(cfg.work_path("audit.jsonl")).ok


def test_a_candidate_registered_pending_erasure_is_never_promoted(cfg, tmp_path):
    from tasks.audit import read_audit
    from tasks.registry.versions import champion_version, register_version
    from tests.registry.test_registry import fake_layout

    v1 = _register(cfg, tmp_path, "a")
    apply(cfg.registry_scope, v1, PromotionDecision(promote=True, reasons=["first"]), expected_champion=None)
    # an erasure request made while it trained touched its dataset: register_and_promote tags it so
    v2, _ = register_version(cfg.registry_scope, fake_layout(tmp_path / "b"), {}, {"macro_f1": 0.9},
                             {"erasure_pending": "erasure-1"})
    out = apply(cfg.registry_scope, v2, PromotionDecision(promote=True, reasons=["beats the champion"]),
                expected_champion=v1)
    assert not out.promoted and out.action == "reject" and champion_version(cfg.registry_scope) == v1
    last = read_audit(cfg)[-1]
    assert last["action"] == "reject" and last["version"] == v2 and any("erasure-1" in r for r in last["reasons"])


def test_a_candidate_tagged_pending_erasure_while_it_waits_for_approval_is_not_promoted(cfg, tmp_path):
    from tasks.audit import read_audit
    from tasks.registry.versions import champion_version, client_for

    v1 = _register(cfg, tmp_path, "a")
    apply(cfg.registry_scope, v1, PromotionDecision(promote=True, reasons=["first"]), expected_champion=None)
    v2 = _register(cfg, tmp_path, "b")
    waits = PromotionDecision(promote=True, needs_approval=True, reasons=["beats the champion"])
    assert apply(cfg.registry_scope, v2, waits, expected_champion=v1).action == "pending_approval"
    # the retrain lock is released while the run waits: an erasure marks the candidate meanwhile
    client_for(cfg.registry_scope).set_model_version_tag(cfg.model_name, str(v2), "erasure_pending", "erasure-2")
    out = apply(cfg.registry_scope, v2, waits.model_copy(update={"needs_approval": False}), expected_champion=v1,
                trigger="approved by bob", approved_by="bob")
    assert out.action == "reject" and champion_version(cfg.registry_scope) == v1
    assert "erasure_pending" in out.note and any("erasure-2" in r for r in read_audit(cfg)[-1]["reasons"])
    assert "promoted_at" not in client_for(cfg.registry_scope).get_model_version(cfg.model_name, str(v2)).tags


def test_an_approved_promotion_says_who_approved_in_its_tags(cfg, tmp_path):
    from tasks.registry.versions import client_for

    v1 = _register(cfg, tmp_path, "a")
    apply(cfg.registry_scope, v1, PromotionDecision(promote=True, reasons=["ok"]), expected_champion=None,
          approved_by="bob.checker")
    tags = client_for(cfg.registry_scope).get_model_version(cfg.model_name, str(v1)).tags
    assert tags["promoted_how"] == "approved by bob.checker" and tags["promoted_at"]
