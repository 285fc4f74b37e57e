"""Re-validation's pure parts as tables: who may validate, whose run it was, what counts as reproduced.

The whole command against a real registry (reproduces a version, fails on altered weights, refuses the starter
under four-eyes, joins the evidence pack): tests/pipeline/test_pipeline.py."""

import hashlib
import json

import pytest

from tasks.evaluate.revalidate import ABS_TOLERANCE, compare, flat_numbers, weights_match
from tasks.governance.revalidation import decide_validator, run_starter, signed_mismatches


@pytest.mark.parametrize("validator, starter, four_eyes, refused", [
    ("val", "ann@host1", True, None),
    ("Ann", "ann@host1", True, "started the version's run"),  # the host and case fold away: the same person
    ("a\u200bnn", "ann", True, "started the version's run"),
    ("Ann", "ann@host1", False, None),  # without four-eyes the starter may re-validate
    ("ann", None, True, None),  # nobody known started it (a schedule)
    (" \u200b ", "ann", False, "validator's name is empty"),
    (None, "ann", False, "validator's name is empty"),
])
def test_under_four_eyes_the_validator_is_not_the_runs_starter(validator, starter, four_eyes, refused):
    why = decide_validator(validator, starter, four_eyes)
    assert (why is None) if refused is None else (refused in why)


@pytest.mark.parametrize("entries, starter", [
    ([{"model": "m", "version": 3, "action": "pending_approval", "actor": "svc@worker"},
      {"model": "m", "version": 3, "action": "retrain.approval", "started_by": "ann"}], "ann"),
    ([{"model": "m", "version": 3, "action": "reject", "actor": "bob@laptop"}], "bob@laptop"),
    ([{"model": "m", "version": 2, "action": "promote", "actor": "bob@laptop"},
      {"model": "other", "version": 3, "action": "promote", "actor": "eve@x"}], None),
    ([{"model": "m", "version": 3, "action": "revalidate", "actor": "val@x"},
      {"model": "m", "version": 3, "action": "promote", "actor": "cy@x"}], "cy@x"),
])
def test_the_starter_is_the_approvals_or_else_the_account_that_registered_it(entries, starter):
    assert run_starter(entries, "m", 3) == starter


def test_each_number_is_checked_within_its_tolerance_and_a_missing_one_fails():
    rec = {"macro_f1": 0.9, "ece": 0.05, "calibration.temperature": 2.0, "robustness.upper": 0.8}
    new = {"macro_f1": 0.9 + ABS_TOLERANCE, "ece": 0.05 + 2 * ABS_TOLERANCE, "calibration.temperature": 2.03,
           "accuracy": 0.9}
    got = {c["name"]: c["ok"] for c in compare(rec, new)}
    assert got == {"accuracy": False, "calibration.temperature": True, "ece": False, "macro_f1": True,
                   "robustness.upper": False}
    assert compare({"calibration.temperature": 2.0}, {"calibration.temperature": 2.05})[0]["ok"] is False  # > 2 %


def test_the_flat_numbers_of_a_version():
    report = {"accuracy": 0.8, "macro_f1": 0.7, "ece": 0.1, "rouge_l": None,
              "per_class": {"a": {"f1": 0.6, "support": 3}, "b": {"f1": 0.0, "support": 0}}}
    rob = {"measured": True, "clean": 0.7, "perturbations": {"upper": {"value": 0.65, "drop": 0.05}}}
    cal = {"measured": True, "temperature": 1.5, "ece_before": 0.1, "ece_after": 0.05,
           "review": {"threshold": 0.9, "automation_rate": 0.6}}
    assert flat_numbers(report, rob, cal) == {
        "accuracy": 0.8, "macro_f1": 0.7, "ece": 0.1, "f1.a": 0.6, "robustness.clean": 0.7, "robustness.upper": 0.65,
        "calibration.temperature": 1.5, "calibration.ece_before": 0.1, "calibration.ece_after": 0.05,
        "calibration.review_threshold": 0.9, "calibration.automation_rate": 0.6}
    assert flat_numbers(report, {"measured": False}, {}) == {"accuracy": 0.8, "macro_f1": 0.7, "ece": 0.1, "f1.a": 0.6}


def test_altered_weights_and_altered_signed_files_are_named(tmp_path):
    model = tmp_path / "model"
    (model / "adapter").mkdir(parents=True)
    (model / "adapter" / "w.safetensors").write_bytes(b"weights")
    sha = hashlib.sha256(b"weights").hexdigest()
    (model / "manifest.json").write_text(json.dumps({"files": {"adapter/w.safetensors": sha}}))
    assert weights_match(model) == []
    signed = json.dumps({"files": {"version/model/manifest.json": hashlib.sha256(
        (model / "manifest.json").read_bytes()).hexdigest(), "version/eval/eval.json": "0" * 64}})
    assert signed_mismatches(tmp_path, signed) == ["version/eval/eval.json"]  # altered (here: absent)
    (model / "adapter" / "w.safetensors").write_bytes(b"weightz")
    assert weights_match(model) == ["model/adapter/w.safetensors"]
    assert "older tunegate" in signed_mismatches(tmp_path, None)[0]
