"""Erasure reaches serving: the champion trained on an erased subject stops serving at once, and every store
that could serve or restore a model trained on them (checkpoints, soft-deleted or unregistered MLflow runs,
run folders' model copies, the monitor cache, ``.tmp-*`` leftovers) is searched, emptied of what holds
the subject, reported, and purged after its maximum age."""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path

import pandas as pd
import pytest

from tasks.errors import ChampionWithdrawn, NoChampion, PromotionError
from tasks.subjects.successor import NO_SUCCESSOR
from tests.subjects.test_erasure import JANE, _values, pristine  # noqa: F401  (the scrubbed run r1 holding Jane in d1, d2)
from tests.subjects.test_subjects import KNOWN

DAY = 86400


@pytest.fixture
def work(pristine, tmp_path):  # noqa: F811
    """A fresh copy of the pristine work folder, with a model name of its own in the shared MLflow store."""
    import shutil

    cfg = pristine.model_copy(update={"work_dir": str(tmp_path / "work"), "name": f"t-srv-{uuid.uuid4().hex[:8]}"})
    shutil.copytree(pristine.work_path(), cfg.work_path())
    return cfg


def _digest(cfg) -> str:
    from tasks.datasets import parquet_sha256

    return parquet_sha256(cfg.work_path("runs", "r1", "scrubbed.parquet"))


def _layout(folder: Path, ids: list[str]) -> Path:
    """A version's artifact layout: placeholder weights and a real reference sample of ``ids``."""
    (folder / "model").mkdir(parents=True)
    (folder / "model" / "adapter.safetensors").write_bytes(os.urandom(64))
    (folder / "eval").mkdir()
    (folder / "eval" / "eval.json").write_text("{}")
    (folder / "reference").mkdir()
    pd.DataFrame({"id": ids, "text": ["x"] * len(ids)}).to_parquet(folder / "reference" / "reference.parquet")
    return folder


def _register(cfg, tmp_path: Path, dataset: str, run_id: str, ids: list[str], **tags) -> tuple[int, str]:
    from tasks.registry.versions import register_version

    return register_version(cfg.registry_scope, _layout(tmp_path / uuid.uuid4().hex[:8], ids), {}, {"macro_f1": 0.9},
                            {"dataset_sha256": dataset, "tunegate_run_id": run_id, **tags})


def _champion(cfg, version: int) -> None:
    """Make ``version`` champion the way a promotion does: alias moved, audited, tagged ``promoted_at``."""
    from tasks.audit import audit
    from tasks.registry.versions import client_for, set_alias

    set_alias(cfg.registry_scope, "champion", version)
    client_for(cfg.registry_scope).set_model_version_tag(cfg.model_name, str(version), "promoted_at",
                                                         "2026-11-01T00:00:00+00:00")
    audit(cfg, action="promote", version=version, previous_champion=None, champion=version, trigger="test")


def test_the_champion_trained_on_the_subject_leaves_at_once_for_the_newest_approved_clean_version(work, tmp_path):
    from tasks.audit import audit, read_audit
    from tasks.registry.task import resolve_version
    from tasks.registry.versions import champion_version, client_for
    from tasks.subjects.erase import erase_subject

    clean = "0" * 64  # a dataset without the subject
    v1, _ = _register(work, tmp_path, clean, "r0", ["d3"])  # approved long ago, recorded in the audit log only
    audit(work, action="promote", version=v1, previous_champion=None, champion=v1, trigger="test")
    v2, _ = _register(work, tmp_path, clean, "r0", ["d3"])  # never approved: rejected by the gate
    v3, _ = _register(work, tmp_path, _digest(work), "r1", ["d1", "d3"])
    _champion(work, v3)
    assert resolve_version.fn(work, "champion").version == v3

    report = erase_subject(work.registry_scope, work.pii, _values(tmp_path, JANE), "DSR-7", KNOWN)
    assert champion_version(work.registry_scope) == v1  # the newest approved version trained without the subject
    assert resolve_version.fn(work, "champion").version == v1
    mv = client_for(work.registry_scope).get_model_version(work.model_name, str(v3))
    assert mv.tags["erasure_pending"] == "erasure-1" and not mv.aliases
    assert report.champion["previous"] == v3 and report.champion["now"] == v1 and report.champion["withdrawn_at"]
    [entry] = [e for e in read_audit(work) if e["action"] == "erasure.champion_withdrawn"]
    assert (entry["previous_champion"], entry["champion"], entry["request"]) == (v3, v1, "erasure-1")
    with pytest.raises(PromotionError, match="erasure-1"):  # nor served by its number
        resolve_version.fn(work, str(v3))
    out = "\n".join(report.lines(work.model_name))
    assert f"champion v{v3} withdrawn" in out and f"now v{v1}" in out
    assert v2 != champion_version(work.registry_scope)
    # v1's placeholder weights cannot be scored: the certificate says so, and the erasure went ahead regardless
    assert report.successor == {"measured": False, "version": v1, "why": "could not be run: InputError"}


@pytest.mark.slow  # trains a tiny classifier in this process (a few seconds) and registers it
def test_the_certificate_holds_the_membership_test_of_the_champion_that_serves_after_the_erasure(work, tmp_path):
    """The champion that serves once the subject's versions are withdrawn scores the erased rows (read before
    they are deleted) against its own test rows: the AUC, its interval and the rows it rests on reach the signed
    certificate and the report, and no text or id of the erased documents does."""
    import shutil

    from tasks.audit import audit
    from tasks.datasets import parquet_sha256
    from tasks.registry.versions import register_version
    from tasks.subjects.erase import erase_subject
    from tests.tiny_models import LABELS, tiny_bert, toy_split
    from tests.train.test_recipe import _run

    docs = pd.read_parquet(work.work_path("runs", "r1", "scrubbed.parquet"))
    docs["label"] = [LABELS[i % len(LABELS)] for i in range(len(docs))]  # labels the model knows
    for copy in ("runs/r1", "predictions/p1"):  # the run and the copy the fixture keeps of it
        docs.to_parquet(work.work_path(copy, "scrubbed.parquet"))
    split = toy_split(tmp_path)
    (tmp_path / "m").mkdir()
    model = _run(tmp_path / "m", split, base_model=str(tiny_bert(tmp_path / "bert")), max_steps=2,
                 checkpoint_every=100)
    test = work.work_path("runs", "r0", "split", "test.parquet")  # the clean version's run folder, as a run leaves it
    test.parent.mkdir(parents=True)
    shutil.copyfile(split.test.uri, test)
    layout = _layout(tmp_path / "clean", ["d3"])
    shutil.rmtree(layout / "model")
    shutil.copytree(model, layout / "model")
    (layout / "lineage.json").write_text(json.dumps({"split": {"test": {"uri": str(test),
                                                                        "sha256": parquet_sha256(test)}}}))
    v1, _ = register_version(work.registry_scope, layout, {}, {"macro_f1": 0.5},
                             {"dataset_sha256": "0" * 64, "tunegate_run_id": "r0"})
    audit(work, action="promote", version=v1, previous_champion=None, champion=v1, trigger="test")
    v2, _ = _register(work, tmp_path, _digest(work), "r1", ["d1", "d3"])
    _champion(work, v2)

    report = erase_subject(work.registry_scope, work.pii, _values(tmp_path, JANE), "DSR-9", KNOWN)
    s = report.successor
    assert s["measured"] and s["version"] == v1 and report.champion["now"] == v1, s
    assert s["erased_rows"] == 2 and s["unseen_rows"] == len(pd.read_parquet(test)), s  # Jane's d1 and d2
    assert 0 <= s["auc_95"][0] <= s["auc"] <= s["auc_95"][1] <= 1 and s["mean_loss_erased"] > 0
    cert = Path(report.certificate).read_text()
    assert json.loads(cert)["certificate"]["successor_membership_test"] == s
    assert not [t for t in docs["text"] if t in cert] and '"d1"' not in cert and '"d2"' not in cert
    lines = "\n".join(report.lines(work.model_name))
    assert f"champion v{v1} on the 2 erased row(s): membership AUC {s['auc']}" in lines


@pytest.mark.slow  # a real MLflow registry made and migrated per test: 5-17 s
def test_with_no_approved_clean_version_predict_fails_with_a_named_error_saying_why(work, tmp_path):
    from flows.cli import main as cli_main
    from tasks.registry.task import resolve_version
    from tasks.subjects.erase import erase_subject

    v1, _ = _register(work, tmp_path, _digest(work), "r1", ["d1"])
    _champion(work, v1)
    report = erase_subject(work.registry_scope, work.pii, _values(tmp_path, JANE), "DSR-8", KNOWN)
    with pytest.raises(ChampionWithdrawn, match="erasure-1") as err:
        resolve_version.fn(work, "champion")
    assert report.champion["now"] is None
    assert report.successor == {"measured": False, "why": NO_SUCCESSOR}  # nothing serves: nothing to test
    assert isinstance(err.value, NoChampion) and "retrain or approve a version trained without" in str(err.value)
    # the CLI says it too, with NoChampion's exit code
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text(json.dumps(work.model_dump(mode="json")))
    (tmp_path / "in.csv").write_text("id,text\na,hello\n")
    assert cli_main(["predict", "--config", str(cfg_file), "--input", str(tmp_path / "in.csv"),
                     "--output", str(tmp_path / "out.csv")]) == NoChampion.exit_code


def _checkpoint(root: Path, dataset: str, train_file: Path) -> Path:
    """A fine-tune's resume folder as ``tasks.train.launch`` leaves it when training fails."""
    root.mkdir(parents=True)
    (root / "run.json").write_text(json.dumps({"dataset_sha256": dataset, "train_file": str(train_file)}))
    step = root / "checkpoints" / "step-0000002"
    step.mkdir(parents=True)
    (step / "model.safetensors").write_bytes(os.urandom(64))
    (root / "checkpoints" / ".tmp-step-0000003").mkdir()
    return root


def test_erasure_removes_every_restorable_copy_and_reports_each_store(work, tmp_path):
    from tasks.registry.versions import client_for, unregister
    from tasks.subjects.erase import erase_subject

    digest, r1 = _digest(work), work.work_path("runs", "r1")
    failed = _checkpoint(work.work_path("train-work", "a" * 20), digest, r1 / "split" / "train.parquet")
    other = _checkpoint(work.work_path("train-work", "b" * 20), "1" * 64, tmp_path / "elsewhere.parquet")
    (r1 / "model").mkdir()
    (r1 / "model" / "adapter.safetensors").write_bytes(os.urandom(64))  # the run's own copy of its weights
    v1, run1 = _register(work, tmp_path, digest, "r1", ["d1"])
    # a later step failed: the version went, its MLflow run is only soft-deleted
    unregister(work.registry_scope, v1, run1)
    client = client_for(work.registry_scope)
    assert client.get_run(run1).info.lifecycle_stage == "deleted"
    assert {a.path for a in client.list_artifacts(run1)} >= {"model", "reference"}
    v2, run2 = _register(work, tmp_path, digest, "r1", ["d2"])
    _champion(work, v2)
    cache = work.work_path("monitor_cache", work.model_name, f"v{v2}")
    cache.mkdir(parents=True)
    (cache / "profile.parquet").write_bytes(b"reference texts")
    torn = work.work_path("registry_cache", work.model_name, f".v{v2}-abc.tmp-123")
    torn.mkdir(parents=True)
    (torn / "weights").write_bytes(b"w")
    old = time.time() - 2 * DAY
    os.utime(torn / "weights", (old, old))
    os.utime(torn, (old, old))

    report = erase_subject(work.registry_scope, work.pii, _values(tmp_path, JANE), "DSR-9", KNOWN)
    assert not failed.exists() and other.exists()  # only the checkpoint trained on the subject's documents
    assert not (r1 / "model").exists()
    assert not {"model", "reference"} & {a.path for a in client.list_artifacts(run1)}
    assert not cache.exists() and not torn.exists()
    assert set(report.stores) >= {"train-work", "mlflow deleted runs", "mlflow unregistered runs", "run folders",
                                  "monitor_cache", "registry", "leftovers"}
    # v2's weights stay in the registry until a version trained without the subject is champion: incomplete
    assert not report.complete and report.stores["registry"] == [f"v{v2} (erasure pending)"]
    assert all(not left for store, left in report.stores.items() if store != "registry"), \
        {k: v for k, v in report.stores.items() if v}
    out = "\n".join(report.lines(work.model_name))
    assert "INCOMPLETE" in out and "Doherty" not in out


def test_the_cli_exits_non_zero_while_the_erasure_is_incomplete(work, tmp_path):
    from flows.cli import main as cli_main
    from tasks.errors import ErasureIncomplete

    _register(work, tmp_path, _digest(work), "r1", ["d1"])
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text(json.dumps(work.model_dump(mode="json")))
    args = ["subject", "erase", "--config", str(cfg_file), "--value-file", str(_values(tmp_path, JANE))]
    assert cli_main([*args, "--reason", "DSR-10"]) == ErasureIncomplete.exit_code


def test_purge_deletes_each_restorable_store_past_its_maximum_age(work, tmp_path):
    from tasks.registry.versions import client_for, unregister
    from tasks.subjects.stores import purge_stores

    now = time.time()
    young = _checkpoint(work.work_path("train-work", "c" * 20), "2" * 64, tmp_path / "x.parquet")
    aged = _checkpoint(work.work_path("train-work", "d" * 20), "3" * 64, tmp_path / "y.parquet")
    cache = work.work_path("monitor_cache", work.model_name, "v9")
    cache.mkdir(parents=True)
    (cache / "p.parquet").write_bytes(b"x")
    leftover = work.work_path("runs", "r1", ".scrubbed.parquet.tmp-abc")
    leftover.write_bytes(b"x")
    for p in [*aged.rglob("*"), aged, *cache.rglob("*"), cache, leftover]:
        os.utime(p, (now - 40 * DAY, now - 40 * DAY))
    v, run_id = _register(work, tmp_path, "4" * 64, "r9", ["d9"])
    unregister(work.registry_scope, v, run_id)
    client = client_for(work.registry_scope)

    r = work.retention
    assert r.checkpoints_days and r.deleted_runs_days and r.monitor_cache_days and r.leftovers_hours
    # the run was deleted just now: younger than deleted_runs_days
    out = purge_stores(work.registry_scope, work.retention, now=now)
    assert not aged.exists() and young.exists() and not cache.exists() and not leftover.exists()
    assert out["checkpoints_deleted"] == 1 and out["monitor_cache_deleted"] == 1 and out["leftovers_deleted"] >= 1
    assert "model" in {a.path for a in client.list_artifacts(run_id)}
    out = purge_stores(work.registry_scope, work.retention, now=now + (r.deleted_runs_days + 1) * DAY)
    assert out["mlflow_runs_emptied"] == 1 and not client.list_artifacts(run_id)
