"""Policy fixed at deployment, who approved, and four-eyes (tasks/governance/policy.py and apply_approval).

The same rules on a real Prefect server, through the API the UI uses: tests/deploy/test_deployments.py."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from tasks.config import PipelineConfig
from tasks.governance import policy

BASE = PipelineConfig(name="p", promotion={"floors": {"macro_f1": 0.6}, "min_gain_over_baseline": 0.0,
                                           "require_approval": True, "four_eyes": True},
                      pii={"min_estimated_recall": 0.9, "keep": {"literals": ["HomeShield"], "patterns": ["EOW-\\d+"]},
                           "references": [{"entity": "POLICY_NUMBER", "pattern": "POL\\d{8}"}]})


def _with(**sections) -> PipelineConfig:
    raw = BASE.model_dump(mode="json")
    for section, fields in sections.items():
        raw[section] = raw[section] | fields if isinstance(fields, dict) else fields
    return PipelineConfig.model_validate(raw)


@pytest.mark.parametrize("change, relaxed", [
    ({}, []),
    ({"promotion": {"floors": {"macro_f1": 0.7, "accuracy": 0.5}}}, []),  # tightened, and a floor added
    ({"promotion": {"floors": {"macro_f1": 0.5}}}, ["promotion.floors.macro_f1: 0.6 -> 0.5"]),
    ({"promotion": {"floors": {}}}, ["promotion.floors.macro_f1: 0.6 -> None"]),
    ({"promotion": {"min_gain_over_baseline": None}}, ["promotion.min_gain_over_baseline: 0.0 -> None"]),
    ({"promotion": {"min_gain_over_baseline": 0.05}}, []),
    ({"promotion": {"max_membership_auc": 0.7}}, ["promotion.max_membership_auc: 0.6 -> 0.7"]),
    ({"promotion": {"max_membership_auc": 0.55}}, []),
    ({"promotion": {"max_class_regression": 0.2}}, ["promotion.max_class_regression: 0.05 -> 0.2"]),
    ({"promotion": {"require_approval": False}}, ["promotion.require_approval: True -> False"]),
    ({"promotion": {"four_eyes": False}}, ["promotion.four_eyes: True -> False"]),
    ({"promotion": {"primary_metric": "accuracy"}}, ["promotion.primary_metric: changed"]),  # text: never shown
    ({"promotion": {"approval_timeout_s": 60}}, []),  # not a safety limit
    ({"pii": {"residual_max_rate": 0.01}}, ["pii.residual_max_rate: 0.001 -> 0.01"]),
    ({"pii": {"residual_max_rate": 0.0}}, []),
    ({"pii": {"enabled": False}}, ["pii.enabled: True -> False"]),
    ({"pii": {"min_estimated_recall": None}}, ["pii.min_estimated_recall: 0.9 -> None"]),
    ({"train": {"canaries": 0}}, ["train.canaries: 10 -> 0"]),  # the causal-LM memorisation test switched off
    ({"promotion": {"max_canary_exposure": 16}}, ["promotion.max_canary_exposure: 10.0 -> 16.0"]),
    ({"promotion": {"min_improvement": 0.01}}, []),
    ({"train": {"seed": 7}}, ["train.seed: 42 -> 7"]),  # not a policy field: must equal the deployed value
    # the robustness gate and the review threshold: a run may set or tighten them, never relax or remove them
    ({"promotion": {"max_robustness_drop": 0.05}}, []),
    ({"evaluate": {"target_accuracy": 0.9}}, []),
    ({"evaluate": {"calibrate": False}}, ["evaluate.calibrate: True -> False"]),
])
def test_a_run_may_tighten_policy_but_never_relax_it(change, relaxed):
    assert policy.loosened(BASE, _with(**change)) == relaxed


@pytest.mark.parametrize("field, value, line", [
    ("promotion__require_significant_gain", False, "promotion.require_significant_gain: True -> False"),
    ("promotion__max_slice_regression", 0.5, "promotion.max_slice_regression: 0.05 -> 0.5"),
    ("promotion__max_slice_regression", None, "promotion.max_slice_regression: 0.05 -> None"),
    ("evaluate__slices", ["channel"], "evaluate.slices: 1 removed"),
    ("evaluate__slices", [], "evaluate.slices: 1 removed"),
])
def test_a_run_cannot_switch_off_the_significance_or_slice_gates(field, value, line):
    deployed = _edit(BASE, promotion__require_significant_gain=True, promotion__max_slice_regression=0.05,
                     evaluate__slices=["product"])
    assert policy.loosened(deployed, _edit(deployed, **{field: value})) == [line]


def test_a_run_cannot_loosen_or_remove_the_robustness_gate_or_the_review_target():
    deployed = _with(promotion={"max_robustness_drop": 0.05}, evaluate={"target_accuracy": 0.98})
    assert policy.loosened(deployed, _with(promotion={"max_robustness_drop": 0.2}, evaluate={"target_accuracy": 0.98})
                           ) == ["promotion.max_robustness_drop: 0.05 -> 0.2"]
    assert policy.loosened(deployed, _with(promotion={"max_robustness_drop": None}, evaluate={"target_accuracy": 0.98})
                           ) == ["promotion.max_robustness_drop: 0.05 -> None"]
    assert policy.loosened(deployed, _with(promotion={"max_robustness_drop": 0.05}, evaluate={"target_accuracy": 0.9})
                           ) == ["evaluate.target_accuracy: 0.98 -> 0.9"]
    assert policy.loosened(deployed, _with(promotion={"max_robustness_drop": 0.01}, evaluate={"target_accuracy": None})
                           ) == ["evaluate.target_accuracy: 0.98 -> None"]
    assert policy.loosened(deployed, _with(promotion={"max_robustness_drop": 0.01}, evaluate={"target_accuracy": 0.99})
                           ) == []


def test_a_limit_absent_at_deployment_is_not_relaxed_by_any_value():
    deployed = _with(promotion={"max_membership_auc": None}, pii={"min_estimated_recall": None})
    assert policy.loosened(deployed, _with(promotion={"max_membership_auc": 0.9})) == []


def _edit(cfg: PipelineConfig, **changes) -> PipelineConfig:
    """``cfg`` with dotted fields (``pii__keep__patterns``) set."""
    raw = cfg.model_dump(mode="json")
    for dotted, value in changes.items():
        *parents, leaf = dotted.split("__")
        node = raw
        for part in parents:
            node = node[part]
        node[leaf] = value
    return PipelineConfig.model_validate(raw)


# The five exploits of P13: each one switched a control off through the run form without any error.
EXPLOITS = [
    ("pii__keep__patterns", ["[\\s\\S]+"], "pii.keep.patterns: 1 added"),  # keeps every span
    ("pii__estimate_docs", 0, "pii.estimate_docs: 200 -> 0"),  # the recall floor silently off
    ("pii__pseudonym_key_env", "HOME", "pii.pseudonym_key_env: changed"),  # the key becomes /root
    ("work_dir", "/tmp/elsewhere", "work_dir: changed"),  # no erasure list, its own audit log
    ("registry__tracking_uri", "http://mlflow.attacker.example", "registry.tracking_uri: changed"),
]


@pytest.mark.parametrize("field, value, line", EXPLOITS + [
    ("pii__keep__literals", ["HomeShield", "Jane Doherty"], "pii.keep.literals: 1 added"),
    ("pii__keep__literals", [], None),  # keeping fewer terms replaces more
    ("pii__keep__patterns", [], None),
    ("pii__estimate_docs", 500, None),
    ("pii__pseudonym_key_block", "another-block", "pii.pseudonym_key_block: changed"),
    ("pii__operators", {"default": "mask"}, "pii.operators: changed"),
    ("pii__references", [], "pii.references: 1 removed"),
    ("pii__references", [{"entity": "POLICY_NUMBER", "pattern": "POL\\d{8}"},
                         {"entity": "CLAIM", "pattern": "CLM\\d{6}"}], None),  # a reference added
    ("pii__references", [{"entity": "POLICY_NUMBER", "pattern": "POL\\d{9}"}], "pii.references: 1 removed"),
    ("pii__locales", ["uk"], "pii.locales: 2 removed"),
    ("pii__score_threshold", 0.6, "pii.score_threshold: 0.4 -> 0.6"),
    ("pii__score_threshold", 0.3, None),
    ("pii__require_key", False, "pii.require_key: None -> False"),
    ("pii__require_key", True, None),
    ("pii__subject_index", False, "pii.subject_index: True -> False"),
    ("pii__min_estimated_recall", 0.5, "pii.min_estimated_recall: 0.9 -> 0.5"),
    ("pii__min_estimated_recall", 0.95, None),
    ("pii__spacy_model", "en_core_web_lg", "pii.spacy_model: changed"),
    ("pii__workers", 2, "pii.workers: changed"),
    ("pii__batch_size", 8, "pii.batch_size: 64 -> 8"),
    ("registry__model_name", "fresh-model", "registry.model_name: changed"),  # no champion to beat
    ("registry__experiment", "x", "registry.experiment: changed"),
    ("registry__evidence_key_block", "x", "registry.evidence_key_block: changed"),
    ("data__source", "/tmp/other.jsonl", "data.source: changed"),
    ("data__keep_columns", ["notes"], "data.keep_columns: changed"),
    ("data__sample", None, "data.sample: changed"),
    ("data__columns__text", "body", "data.columns.text: changed"),
    ("retention__keep_raw_days", 30, "retention.keep_raw_days: 0 -> 30"),
    ("retention__predictions_days", 30, None),  # a limit where there was none
    ("retention__erased_versions", "keep", "retention.erased_versions: changed"),
    ("retention__checkpoints_days", 365, "retention.checkpoints_days: 7 -> 365"),  # erased subjects linger
    ("retention__checkpoints_days", 1, None),
    ("retention__pending_versions_days", None, "retention.pending_versions_days: 30 -> None"),
    ("pii__allow_dev_key", True, "pii.allow_dev_key: False -> True"),
    ("data__non_personal_columns", ["notes"], "data.non_personal_columns: 1 added"),  # no longer scrubbed
    ("deploy__inbox", "/", "deploy.inbox: changed"),  # any file on the worker joins training
    ("registry__evidence_public_keys", ["ab" * 32], "registry.evidence_public_keys: changed"),
    ("registry__audit_key_block", "x", "registry.audit_key_block: changed"),
    ("train__base_model", "/models/other", "train.base_model: changed"),
    ("train__nnodes", 2, "train.nnodes: 1 -> 2"),
    ("train__rdzv_endpoint", "host0.attacker.example:29500", "train.rdzv_endpoint: changed"),
    ("quality__min_rows", 100, "quality.min_rows: 200 -> 100"),
    ("quality__min_rows", 500, None),
    ("quality__max_duplicate_text_share", 0.5, "quality.max_duplicate_text_share: 0.05 -> 0.5"),
    ("deploy__cooldown_minutes", 0, "deploy.cooldown_minutes: 60 -> 0"),
    ("name", "q", "name: changed"),
    ("promotion__approval_timeout_s", 10**6, "promotion.approval_timeout_s: 86400 -> 1000000"),
    # P15: the significance and slice gates may be switched on or tightened by a run, never relaxed
    ("promotion__require_significant_gain", True, None),
    ("promotion__max_slice_regression", 0.05, None),  # a limit where there was none
    ("evaluate__slices", ["product"], None),  # one more slice to pass
    ("evaluate__min_slice_rows", 10, None),  # more slices gated
    ("evaluate__min_slice_rows", 10_000, "evaluate.min_slice_rows: 30 -> 10000"),  # no slice would gate
    ("evaluate__resamples", 100, "evaluate.resamples: 1000 -> 100"),  # wider intervals: must equal the pin
    ("evaluate__seed", 3, "evaluate.seed: 0 -> 3"),  # a run could shop for a lucky seed
])
def test_a_run_may_differ_from_the_pinned_config_only_by_tightening(field, value, line):
    assert policy.loosened(BASE, _edit(BASE, **{field: value})) == ([line] if line else [])


def test_the_unchanged_config_passes_and_a_refusal_quotes_no_text():
    assert policy.loosened(BASE, PipelineConfig.model_validate(BASE.model_dump(mode="json"))) == []
    lines = policy.loosened(BASE, _edit(BASE, pii__keep__literals=["HomeShield", "Jane Doherty"],
                                        registry__tracking_uri="https://user:hunter2@mlflow.example"))
    assert lines == ["pii.keep.literals: 1 added", "registry.tracking_uri: changed"]
    assert not any("Jane" in x or "hunter2" in x for x in lines)


def test_a_retention_limit_removed_loosens():
    deployed = _edit(BASE, retention__predictions_days=30)
    assert policy.loosened(deployed, BASE) == ["retention.predictions_days: 30 -> None"]


def test_the_pin_reads_back_as_the_deployed_config_and_a_bad_one_is_named():
    from pathlib import Path

    from tasks.config import load_config
    from tasks.errors import ConfigError
    from tasks.governance.pinning import PIN_ENV, pin_environment, read_pin

    cfg = load_config(Path(__file__).resolve().parents[2] / "examples" / "claims.yaml")
    pinned = read_pin(pin_environment(cfg))
    assert pinned.digest() == cfg.digest() and policy.loosened(cfg, pinned) == []  # the digest shown is the pin's
    assert read_pin({}) is None
    with pytest.raises(ConfigError, match=PIN_ENV):
        read_pin({PIN_ENV: '{"work_dir": 3}'})


# ---- every deployment's flow checks the pin first, before it reads anything ----------------------------
FLOWS = ["retrain", "monitor-latest", "predict", "purge"]


def _deployed(tmp_path) -> PipelineConfig:
    return PipelineConfig(name="pinned", work_dir=str(tmp_path / "work"),
                          registry={"tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}"},
                          deploy={"monitor_batch": str(tmp_path / "incoming")})


def _run_flow(name: str, cfg: PipelineConfig, tmp_path):
    from flows.predict import predict
    from flows.retrain import monitor_latest, purge, retrain

    if name == "retrain":
        return retrain(config=cfg, reason="manual", requested_by="ann")
    if name == "monitor-latest":
        return monitor_latest(config=cfg)
    if name == "predict":
        return predict(config=cfg, input=str(tmp_path / "in.jsonl"), output=str(tmp_path / "out.csv"))
    return purge(config=cfg)


@pytest.fixture
def as_deployment(monkeypatch):
    """Flow runs in this test count as a deployment's (prefect.runtime reads the mocked id)."""
    monkeypatch.setenv("PREFECT__RUNTIME__DEPLOYMENT__ID", "7d1a4c0e-0000-4000-8000-00000000d3e9")
    monkeypatch.setenv("PREFECT__RUNTIME__DEPLOYMENT__NAME", "pinned")


@pytest.mark.parametrize("flow", FLOWS)
@pytest.mark.parametrize("field, value, line", EXPLOITS)
def test_every_deployments_run_refuses_a_loosened_config_before_reading(flow, field, value, line, tmp_path,
                                                                       monkeypatch, prefect_harness,
                                                                       as_deployment):
    from tasks.errors import PolicyLoosened
    from tasks.governance.pinning import pin_environment

    deployed = _deployed(tmp_path)
    monkeypatch.setenv(*next(iter(pin_environment(deployed).items())))
    run = _edit(deployed, **{field: str(tmp_path / "elsewhere") if field == "work_dir" else value})
    with pytest.raises(PolicyLoosened, match=line.split(":")[0].replace(".", r"\.")):
        _run_flow(flow, run, tmp_path)
    refused = [e for e in _audit(deployed) if e["action"] == f"{flow}.refused"]  # in the pinned work folder
    assert refused and refused[-1]["fields"] == [line]
    assert refused[-1]["pinned_config_sha256"] == deployed.digest()
    assert "[\\s\\S]" not in json.dumps(refused[-1])  # the values of lists and text are not recorded
    assert not (tmp_path / "elsewhere").exists() and not deployed.work_path("runs").exists()


@pytest.mark.parametrize("flow", FLOWS)
def test_a_deployments_run_without_a_pin_fails_closed(flow, tmp_path, monkeypatch, prefect_harness,
                                                      as_deployment):
    from tasks.errors import DeploymentNotPinned
    from tasks.governance.pinning import PIN_ENV

    monkeypatch.delenv(PIN_ENV, raising=False)
    with pytest.raises(DeploymentNotPinned, match=PIN_ENV):
        _run_flow(flow, _deployed(tmp_path), tmp_path)


def test_the_forms_default_and_a_tightened_config_run(tmp_path, monkeypatch, prefect_harness, as_deployment):
    from flows.retrain import purge
    from tasks.governance.pinning import pin_environment

    deployed = _deployed(tmp_path)
    monkeypatch.setenv(*next(iter(pin_environment(deployed).items())))
    assert purge(config=PipelineConfig.model_validate(deployed.model_dump(mode="json"))) is not None
    tighter = _edit(deployed, retention__predictions_days=30, pii__residual_max_rate=0.0)
    assert purge(config=tighter) is not None
    assert [e["action"] for e in _audit(deployed)] == ["retention.purge", "retention.purge"]


def test_outside_a_deployment_the_config_file_is_the_callers(tmp_path, monkeypatch, prefect_harness):
    """The CLI (`tunegate purge`, `run`, `monitor`, `predict`) runs the file its user owns: nothing is pinned."""
    from flows.retrain import purge
    from tasks.governance.pinning import pin_environment

    monkeypatch.setenv(*next(iter(pin_environment(_deployed(tmp_path)).items())))
    own = _edit(_deployed(tmp_path), work_dir=str(tmp_path / "mine"))
    assert purge(config=own) is not None
    assert [e["action"] for e in _audit(own)] == ["retention.purge"]


def _event(ts: str, *related: dict) -> dict:
    return {"occurred": ts, "event": "prefect.flow-run.Running", "related": list(related)}


USER = {"prefect.resource.id": "prefect-cloud.user.5f2a", "prefect.resource.role": "actor",
        "prefect.resource.name": "ann.reviewer"}
BOT = {"prefect.resource.id": "prefect-cloud.service-account.9c1", "prefect.resource.role": "actor",
       "prefect.resource.name": "ci-bot"}
FLOW = {"prefect.resource.id": "prefect.flow.1", "prefect.resource.role": "flow", "prefect.resource.name": "retrain"}


@pytest.mark.parametrize("events, who", [
    ([], None),
    ([_event("1", FLOW)], None),  # Prefect OSS: no actor on the event
    ([_event("1", FLOW, USER)], "ann.reviewer"),
    ([_event("1", USER), _event("2", FLOW, BOT)], None),  # the newest change was a service account's
    ([_event("1", BOT), _event("2", FLOW, USER)], "ann.reviewer"),
])
def test_the_approver_is_the_signed_in_user_behind_the_newest_state_change(events, who):
    assert policy.actor(events) == who


@pytest.mark.parametrize("a, b, same", [
    ("ann.starter", "Ann Starter", True), ("ann.starter@bank.example", "ann_starter", True),
    ("ann", "anne", False), (None, "ann", False), ("", "", False), ("bob.checker", "ann.starter", False),
    # case, spaces, zero-width characters and compatibility forms do not make two people
    ("Bob", " bob ", True), ("b\u200bob", "bob", True), ("BOB@example.com", "Bob", True),
    ("\ufeffB\u2060o\u200db", "bob", True), ("\uff42\uff4f\uff42", "bob", True), ("bo\u200cb", "Bob", True),
    # nobody is nobody, and two nobodies are not one person
    (" ", " ", False), ("\u200b", "\u200b", False), ("\u200b", None, False),
])
def test_names_compare_as_people(a, b, same):
    assert policy.same_person(a, b) is same


def _audit(cfg: PipelineConfig) -> list[dict]:
    return [json.loads(x) for x in cfg.work_path("audit.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("four_eyes, reviewer, action, champion_after", [
    (True, "Ann Starter", "refused_four_eyes", 1),  # the starter's own approval is refused and recorded
    (True, "bob.checker", "promote", 2),
    (False, "ann.starter", "promote", 2),  # without four-eyes the starter may approve
])
@pytest.mark.slow  # a real MLflow registry made and migrated per test: 5-17 s
def test_four_eyes_refuses_the_starters_own_approval(tmp_path, four_eyes, reviewer, action, champion_after):
    from tasks.governance.task import APPROVAL, Approval, Person, apply_approval
    from tasks.registry.promote import PromotionDecision
    from tasks.registry.versions import champion_version, register_version, set_alias
    from tests.registry.test_registry import fake_layout

    cfg = PipelineConfig(name=f"eyes-{four_eyes}-{reviewer[:3]}", work_dir=str(tmp_path / "work"),
                         promotion={"require_approval": True, "four_eyes": four_eyes},
                         registry={"tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}"})
    v1, _ = register_version(cfg.registry_scope, fake_layout(tmp_path / "a"), {}, {}, {})
    set_alias(cfg.registry_scope, "champion", v1)
    v2, _ = register_version(cfg.registry_scope, fake_layout(tmp_path / "b"), {}, {}, {})
    result = SimpleNamespace(version=v2, run_id="run-x", previous_champion=v1,
                             decision=PromotionDecision(promote=True, reasons=["beats the champion"]))
    starter = Person(name="ann.starter", source="form")
    got = apply_approval.fn(cfg, result, Approval(approve=True, reviewer=reviewer), starter)
    assert got == action
    assert champion_version(cfg.registry_scope) == champion_after
    entry = [e for e in _audit(cfg) if e["action"] == APPROVAL][-1]
    assert (entry["reviewer"], entry["reviewer_source"], entry["started_by"], entry["started_by_source"]) == (
        reviewer, "form", "ann.starter", "form")
    assert entry["approved"] is (None if action == "refused_four_eyes" else True)
    if action == "refused_four_eyes":
        assert "four_eyes" in entry["why"]


@pytest.mark.parametrize("reason, requested_by, four_eyes, who", [
    ("manual", "  ann.starter ", True, ("ann.starter", "form")),
    ("manual", None, False, (None, "none")),
    ("manual", None, True, "PolicyLoosened"),  # four-eyes cannot work without the starter's name
    # the reason is the caller's to type: a person's run that says "schedule" is still a person's run
    ("schedule", None, True, "PolicyLoosened"),
    ("drift: batch.jsonl", None, True, "PolicyLoosened"),
    ("manual", " \u200b ", True, "PolicyLoosened"),  # a name that is nothing once folded
])
def test_the_starter_comes_from_the_form_when_the_server_knows_no_users(reason, requested_by, four_eyes, who):
    from tasks.errors import PolicyLoosened
    from tasks.governance.task import identify_starter

    cfg = _with(promotion={"four_eyes": four_eyes})
    if who == "PolicyLoosened":
        with pytest.raises(PolicyLoosened, match="requested_by"):
            identify_starter.fn(cfg, reason, requested_by)
    else:
        p = identify_starter.fn(cfg, reason, requested_by)
        assert (p.name, p.source) == who


@pytest.mark.parametrize("reviewer, four_eyes", [(" ", True), ("\u200b\u2060", True), ("", False),
                                                 ("\ufeff ", False), ("b\u200bob", True), ("BOB@example.com", True)])
@pytest.mark.slow  # a real MLflow registry made and migrated per test: 5-17 s
def test_an_empty_reviewer_or_the_starter_spelt_differently_cannot_approve(tmp_path, reviewer, four_eyes):
    from tasks.governance.task import APPROVAL, REFUSED, Approval, Person, apply_approval
    from tasks.registry.promote import PromotionDecision
    from tasks.registry.versions import champion_version, register_version, set_alias
    from tests.registry.test_registry import fake_layout

    cfg = PipelineConfig(name=f"nobody-{abs(hash(reviewer))}", work_dir=str(tmp_path / "work"),
                         promotion={"require_approval": True, "four_eyes": four_eyes},
                         registry={"tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}"})
    v1, _ = register_version(cfg.registry_scope, fake_layout(tmp_path / "a"), {}, {}, {})
    set_alias(cfg.registry_scope, "champion", v1)
    v2, _ = register_version(cfg.registry_scope, fake_layout(tmp_path / "b"), {}, {}, {})
    result = SimpleNamespace(version=v2, run_id="run-x", previous_champion=v1,
                             decision=PromotionDecision(promote=True, reasons=["beats the champion"]))
    got = apply_approval.fn(cfg, result, Approval(approve=True, reviewer=reviewer), Person(name="Bob", source="form"))
    assert got == REFUSED and champion_version(cfg.registry_scope) == v1
    entry = [e for e in _audit(cfg) if e["action"] == APPROVAL][-1]
    assert entry["approved"] is None
    assert ("IdentityRequired" in entry["why"]) if not reviewer.strip("\u200b\u2060\ufeff ") else (
        "four_eyes" in entry["why"])


@pytest.mark.parametrize("run, origin", [
    ({"auto_scheduled": True}, "schedule"),  # the deployment's schedule created it: nobody started it
    ({"created_by": {"type": "AUTOMATION", "display_value": "retrain on drift"}}, "automation"),
    ({"created_by": {"type": "USER", "display_value": "Ann Starter"}}, "user"),
    ({"created_by": {"type": "USER", "display_value": " \u200b"}}, "person"),  # a user without a name
    ({}, "person"),  # a deployment run made in the UI or the API of a server without users
    ({"created_by": {"type": "AUTOMATION"}, "auto_scheduled": False}, "person"),  # an automation unknown
])
def test_who_started_a_run_comes_from_the_flow_run_itself(run, origin):
    from uuid import uuid4

    from prefect.client.schemas.objects import CreatedBy, FlowRun

    created = run.get("created_by")
    fr = FlowRun(flow_id=uuid4(), auto_scheduled=run.get("auto_scheduled", False),
                 created_by=CreatedBy(id=uuid4(), **created) if created else None)
    known = bool(created and created.get("display_value"))  # the automation exists on the server
    assert policy.run_origin(fr, automation_known=known) == origin


def test_a_retrain_a_person_starts_with_reason_schedule_still_needs_its_starter(tmp_path, prefect_harness):
    """A real flow run on a real server: the run itself says a person started it (not auto-scheduled, not an
    automation's), whatever its ``reason``; under four-eyes with approval it stops before the lock, audited."""
    from flows.retrain import retrain
    from tasks.errors import PolicyLoosened

    cfg = _with(work_dir=str(tmp_path / "work"))
    with pytest.raises(PolicyLoosened, match="requested_by"):
        retrain(config=cfg, reason="schedule")
    entry = _audit(cfg)[-1]
    assert entry["action"] == "retrain.refused" and entry["origin"] == "person" and entry["reason"] == "schedule"
    assert not cfg.work_path("retrain.lock").exists()
