"""Automatic rollback's decisions (the monitor applying one: tests/monitor/test_monitor.py)."""

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


# ---- governed rollback: only to a version once promoted, with the approval step under require_approval --
import json  # noqa: E402
import uuid  # noqa: E402
from pathlib import Path  # noqa: E402

from tasks.config import PipelineConfig  # noqa: E402
from tasks.errors import PromotionError  # noqa: E402


def _cfg(tmp_path: Path, **promotion) -> PipelineConfig:
    return PipelineConfig(name=f"rb-{uuid.uuid4().hex[:8]}", work_dir=str(tmp_path / "work"), promotion=promotion,
                          registry={"tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}"})


def _register(cfg, tmp_path, tag, tags=None) -> int:
    from tasks.registry.versions import register_version
    from tests.registry.test_registry import fake_layout

    return register_version(cfg.registry_scope, fake_layout(tmp_path / tag, tag), {}, {"macro_f1": 0.9}, tags or {})[0]


def _promote(cfg, version, expected, promote=True):
    from tasks.registry.promote import PromotionDecision, apply

    return apply(cfg.registry_scope, version, PromotionDecision(promote=promote, reasons=["test"]),
                 expected_champion=expected)


def _history(cfg, tmp_path):
    """v1 promoted, v2 rejected, v3 promoted: the champion is v3."""
    v1 = _register(cfg, tmp_path, "a")
    _promote(cfg, v1, None)
    v2 = _register(cfg, tmp_path, "b")
    assert _promote(cfg, v2, v1, promote=False).action == "reject"
    v3 = _register(cfg, tmp_path, "c")
    assert _promote(cfg, v3, v1).action == "promote"
    return v1, v2, v3


def _cli(cfg, tmp_path, *args) -> int:
    from flows.cli import main

    path = tmp_path / "cfg.yaml"
    path.write_text(json.dumps(cfg.model_dump(mode="json")))
    return main(["rollback", "--config", str(path), *args])


def _audit(cfg) -> list[dict]:
    from tasks.audit import read_audit

    return read_audit(cfg)


def test_rollback_to_a_rejected_version_is_refused_and_audited(tmp_path, capsys):
    from tasks.governance.rollback import move_back
    from tasks.registry.versions import champion_version

    cfg = _cfg(tmp_path)
    v1, v2, v3 = _history(cfg, tmp_path)
    with pytest.raises(PromotionError, match="never promoted") as e:
        move_back(cfg.registry_scope, cfg.promotion, v2, "restore the rejected one")
    assert e.typename == "RollbackRefused"
    assert _cli(cfg, tmp_path, "--to-version", str(v2)) == 6
    assert "RollbackRefused" in capsys.readouterr().err
    assert champion_version(cfg.registry_scope) == v3
    refused = [x for x in _audit(cfg) if x["action"] == "rollback.refused"]
    assert len(refused) == 2 and refused[-1]["version"] == v2 and "never promoted" in refused[-1]["why"]
    # a version once promoted may come back
    assert move_back(cfg.registry_scope, cfg.promotion, v1, "v3 misroutes")["champion"] == v1


@pytest.mark.slow  # a real MLflow registry made and migrated per test: 5-17 s
def test_promotion_tags_the_version_with_when_and_how(tmp_path):
    from datetime import datetime

    from tasks.registry.versions import client_for

    cfg = _cfg(tmp_path)
    v1, v2, _ = _history(cfg, tmp_path)
    tags = client_for(cfg.registry_scope).get_model_version(cfg.model_name, str(v1)).tags
    assert datetime.fromisoformat(tags["promoted_at"]).tzinfo is not None and tags["promoted_how"] == "policy"
    assert "promoted_at" not in client_for(cfg.registry_scope).get_model_version(cfg.model_name, str(v2)).tags


@pytest.mark.slow  # a real MLflow registry made and migrated per test: 5-17 s
def test_a_version_from_before_the_tag_counts_as_promoted_only_by_a_promote_entry_in_the_audit_log(tmp_path):
    from tasks.audit import audit
    from tasks.governance.rollback import move_back
    from tasks.registry.versions import champion_version, set_alias

    cfg = _cfg(tmp_path)
    old, hand, new = (_register(cfg, tmp_path, t) for t in "abc")
    audit(cfg, action="promote", version=old, previous_champion=None, champion=old, trigger="schedule", reasons=[])
    # an ungoverned rollback of the past made `hand` champion: that does not make it restorable
    audit(cfg, action="rollback", version=hand, previous_champion=old, champion=hand, trigger="cli", reasons=[])
    set_alias(cfg.registry_scope, "champion", new)
    with pytest.raises(PromotionError, match="never promoted"):
        move_back(cfg.registry_scope, cfg.promotion, hand, "x")
    assert move_back(cfg.registry_scope, cfg.promotion, old, "x")["champion"] == old == champion_version(cfg)


@pytest.mark.parametrize("tag, value, match", [("erasure_pending", "erasure-1", "erasure-1"),
                                               ("archived", "erasure erasure-1, replaced by v3", "archived")])
@pytest.mark.slow  # a real MLflow registry made and migrated per test: 5-17 s
def test_rollback_to_a_version_pending_erasure_or_archived_is_refused(tmp_path, tag, value, match):
    from tasks.governance.rollback import move_back
    from tasks.registry.versions import champion_version, client_for

    cfg = _cfg(tmp_path)
    v1, _, v3 = _history(cfg, tmp_path)
    client_for(cfg.registry_scope).set_model_version_tag(cfg.model_name, str(v1), tag, value)
    with pytest.raises(PromotionError, match=match):
        move_back(cfg.registry_scope, cfg.promotion, v1, "x")
    assert _cli(cfg, tmp_path, "--to-version", str(v1)) == 6
    assert champion_version(cfg.registry_scope) == v3
    assert [x["version"] for x in _audit(cfg) if x["action"] == "rollback.refused"] == [v1, v1]


@pytest.mark.slow  # a real MLflow registry made and migrated per test: 5-17 s
def test_under_require_approval_a_rollback_is_a_request_a_second_person_completes(tmp_path, capsys):
    from tasks.governance.rollback import approve_rollback, move_back, os_identity
    from tasks.registry.versions import champion_version

    cfg = _cfg(tmp_path, require_approval=True, four_eyes=True)
    v1, _, v3 = _history(cfg, tmp_path.joinpath("h"))  # promoted by policy before approval was switched on
    capsys.readouterr()
    assert _cli(cfg, tmp_path, "--to-version", str(v1), "--reason", "v3 misroutes fire claims") == 0
    out = capsys.readouterr().out
    assert champion_version(cfg.registry_scope) == v3  # nothing moved: a request
    [req] = [x for x in _audit(cfg) if x["action"] == "rollback.requested"]
    assert req["request"] in out and req["version"] == v1 and req["requested_by"] == os_identity()
    with pytest.raises(PromotionError, match="approv"):  # the primitive refuses without an approval too
        move_back(cfg.registry_scope, cfg.promotion, v1, "straight through")
    # the person who asked cannot approve it: not as the same OS user, nor spelt differently
    assert _cli(cfg, tmp_path, "--approve", req["request"]) == 6
    assert "four_eyes" in capsys.readouterr().err
    with pytest.raises(PromotionError, match="four_eyes"):
        approve_rollback(cfg.registry_scope, cfg.promotion, req["request"], " " + os_identity().upper() + "\u200b")
    for nobody in ("", "  ", "\u200b\u2060", "\ufeff"):
        with pytest.raises(PromotionError, match="approver"):
            approve_rollback(cfg.registry_scope, cfg.promotion, req["request"], nobody)
    assert champion_version(cfg) == v3
    entry = approve_rollback(cfg.registry_scope, cfg.promotion, req["request"], "bob.checker")
    assert champion_version(cfg) == v1 and entry["approved_by"] == "bob.checker" and entry["request"] == req["request"]
    with pytest.raises(PromotionError, match="already"):
        approve_rollback(cfg.registry_scope, cfg.promotion, req["request"], "carol.checker")
    with pytest.raises(PromotionError, match="no rollback request"):
        approve_rollback(cfg.registry_scope, cfg.promotion, "rollback-nope", "bob.checker")
    refused = [x for x in _audit(cfg) if x["action"] == "rollback.refused"]
    assert len(refused) == 9 and sum(1 for x in refused if x.get("request") == req["request"]) == 7


@pytest.mark.slow  # a real MLflow registry made and migrated per test: 5-17 s
def test_without_four_eyes_the_requester_may_approve_but_the_step_remains(tmp_path, capsys):
    from tasks.registry.versions import champion_version

    cfg = _cfg(tmp_path, require_approval=True)
    v1, _, v3 = _history(cfg, tmp_path.joinpath("h"))
    assert _cli(cfg, tmp_path, "--to-version", str(v1)) == 0 and champion_version(cfg.registry_scope) == v3
    [req] = [x for x in _audit(cfg) if x["action"] == "rollback.requested"]
    assert _cli(cfg, tmp_path, "--approve", req["request"]) == 0 and champion_version(cfg.registry_scope) == v1


@pytest.mark.slow  # a real MLflow registry made and migrated per test: 5-17 s
def test_a_request_is_stale_once_the_champion_moved(tmp_path):
    from tasks.governance.rollback import approve_rollback, request_rollback
    from tasks.registry.versions import champion_version

    cfg = _cfg(tmp_path, require_approval=True)
    v1, _, v3 = _history(cfg, tmp_path.joinpath("h"))
    req = request_rollback(cfg.registry_scope, cfg.promotion, v1, "x", requested_by="ann")
    v4 = _register(cfg, tmp_path, "d")
    _promote(cfg, v4, v3)
    with pytest.raises(PromotionError, match="champion"):
        approve_rollback(cfg.registry_scope, cfg.promotion, req["request"], "bob")
    assert champion_version(cfg) == v4


def test_the_rollback_command_has_no_flag_that_skips_approval():
    from flows.cli import build_parser

    sub = next(a for a in build_parser()._subparsers._group_actions[0].choices.items() if a[0] == "rollback")[1]
    flags = {o for a in sub._actions for o in a.option_strings}
    assert flags == {"-h", "--help", "--config", "--to-version", "--reason", "--approve"}


@pytest.mark.slow  # a real MLflow registry made and migrated per test: 5-17 s
def test_auto_rollback_under_require_approval_requests_instead_of_moving(tmp_path):
    from tasks.monitor.task import roll_back_if_worse
    from tasks.registry.versions import champion_version

    cfg = _cfg(tmp_path, require_approval=True, floors={"macro_f1": 0.6})
    cfg = cfg.model_copy(update={"monitor": cfg.monitor.model_copy(update={"auto_rollback": True})})
    v1, _, v3 = _history(cfg, tmp_path.joinpath("h"))
    assert roll_back_if_worse.fn(cfg, _report(0.1, 0.1), v3) is None
    assert champion_version(cfg.registry_scope) == v3
    [req] = [x for x in _audit(cfg) if x["action"] == "rollback.requested"]
    assert (req["version"], req["requested_by"], req["requested_by_source"]) == (v1, "monitor", "automation")
    assert any("below the promotion floor" in r for r in req["reasons"])


@pytest.mark.slow  # a real MLflow registry made and migrated per test: 5-17 s
def test_auto_rollback_never_goes_to_a_version_that_was_not_promoted(tmp_path):
    from tasks.audit import audit
    from tasks.monitor.task import roll_back_if_worse
    from tasks.registry.versions import champion_version, set_alias

    cfg = _cfg(tmp_path, floors={"macro_f1": 0.6})
    cfg = cfg.model_copy(update={"monitor": cfg.monitor.model_copy(update={"auto_rollback": True})})
    v1, v2, v3 = _history(cfg, tmp_path.joinpath("h"))
    set_alias(cfg.registry_scope, "champion", v2)  # v2 (rejected) was made champion by hand, then v3 replaced it
    audit(cfg, action="rollback", version=v2, previous_champion=v3, champion=v2, trigger="cli", reasons=[])
    _promote(cfg, v3, v2)
    assert roll_back_if_worse.fn(cfg, _report(0.1, 0.1), v3) is None
    assert champion_version(cfg.registry_scope) == v3
    assert _audit(cfg)[-1]["action"] == "rollback.refused" and _audit(cfg)[-1]["version"] == v2


@pytest.mark.slow  # a real MLflow registry made and migrated per test: 5-17 s
def test_a_rollback_request_added_to_the_audit_log_by_hand_is_not_approved(tmp_path):
    from tasks.governance.rollback import approve_rollback
    from tasks.registry.versions import champion_version

    cfg = _cfg(tmp_path, require_approval=True, four_eyes=True)
    v1, _, v3 = _history(cfg, tmp_path.joinpath("h"))
    forged = {"action": "rollback.requested", "model": cfg.model_name, "request": "rollback-forged", "version": v1,
              "champion": v3, "requested_by": "someone.else", "reasons": [], "expires": "2999-01-01T00:00:00+00:00"}
    with cfg.work_path("audit.jsonl").open("a") as fh:
        fh.write(json.dumps(forged) + "\n")
    with pytest.raises(PromotionError, match="does not verify"):
        approve_rollback(cfg.registry_scope, cfg.promotion, "rollback-forged", "mallory")
    assert champion_version(cfg) == v3
