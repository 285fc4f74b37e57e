"""`tunegate subject erase` on a real scrub: every store rewritten without the subject, all or nothing,
bad requests change nothing, a crash is completed by the next request, training drops erased subjects."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from tasks.config import PiiConfig, PipelineConfig
from tasks.errors import ConfigError, ErasureError, InputError
from tasks.pii.subjects import SUBJECT_INDEX
from tests.subjects.test_subjects import DOCS, KNOWN  # (the same four notes the subject index is tested on)

JANE = "PERSON: Jane Doherty\nPHONE_NUMBER: 07700 900123\n"


def _scrub(cfg: PipelineConfig, tmp: Path, run_dir: Path):
    from tasks.pii.stream import describe_parquet
    from tasks.pii.task import scrub_pii

    pd.DataFrame({"id": [d for d, _ in DOCS], "text": [t for _, t in DOCS], "label": ["x"] * len(DOCS)}) \
        .to_parquet(tmp / "dataset.parquet")
    ref, _ = scrub_pii.fn(describe_parquet(tmp / "dataset.parquet", False), cfg.pii, run_dir)
    return ref


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """A work folder as the pipeline leaves it: a scrubbed run (dataset, spans, index, a split part) and a
    prediction-store day holding two of its documents."""
    tmp = tmp_path_factory.mktemp("erasure")
    pii = PiiConfig(workers=1, estimate_docs=0, operators={"default": "placeholder", "PERSON": "pseudonym",
                                                           "PHONE_NUMBER": "pseudonym"})
    cfg = PipelineConfig(name="t-erase", work_dir=str(tmp / "work"), pii=pii)
    run_dir = cfg.work_path("runs", "r1")
    _scrub(cfg, tmp, run_dir)
    (run_dir / "split").mkdir()
    pd.read_parquet(run_dir / "scrubbed.parquet").iloc[:3].to_parquet(run_dir / "split" / "train.parquet")
    shutil.copytree(run_dir, cfg.work_path("predictions", "p1"))
    day = cfg.work_path("predictions", "date=2026-11-30")
    day.mkdir(parents=True)
    pd.read_parquet(run_dir / "scrubbed.parquet").iloc[[1, 3]].assign(prediction="x").to_parquet(day / "p1.parquet")
    return cfg


@pytest.fixture
def work(pristine, tmp_path):
    """A fresh copy of the pristine work folder for one test."""
    cfg = pristine.model_copy(update={"work_dir": str(tmp_path / "work"), "name": f"t-erase-{tmp_path.name[-8:]}"})
    shutil.copytree(pristine.work_path(), cfg.work_path())
    return cfg


def _values(tmp: Path, text: str) -> Path:
    (tmp / "values.txt").write_text(text)
    return tmp / "values.txt"


def _snapshot(cfg) -> dict[str, str]:
    return {str(p.relative_to(cfg.work_path())): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(cfg.work_path().rglob("*")) if p.is_file() and p.suffix != ".lock"
            and p.name not in ("audit.jsonl", "audit.head")}


def _ids(path: Path) -> set[str]:
    return set(pd.read_parquet(path, columns=["id"])["id"])


def _tokens(cfg, ids: set[str]) -> set[str]:
    """Pseudonym tokens in these documents' scrubbed text and in no other document."""
    df = pd.read_parquet(cfg.work_path("runs", "r1", "scrubbed.parquet"))
    found = lambda rows: {t for x in rows["text"] for t in re.findall(r"<[A-Z_]+_[0-9a-f]{8,}>", x)}  # noqa: E731
    return found(df[df["id"].isin(ids)]) - found(df[~df["id"].isin(ids)])


def test_erase_removes_the_subject_from_every_store_and_twice_changes_nothing(work, tmp_path):
    from tasks.audit import read_audit
    from tasks.subjects.erase import erase_subject
    from tasks.subjects.erased import read_erased
    from tasks.subjects.find import find_subject

    tokens = _tokens(work, {"d1", "d2"})
    assert tokens  # Jane's pseudonyms, to look for after the erasure
    report = erase_subject(work.registry_scope, work.pii, _values(tmp_path, JANE), "ticket DSR-1", KNOWN)
    assert report.outcome == "erased" and report.request == "erasure-1"
    assert report.documents == 4  # two documents in each of two datasets (a training run and a predict run)
    r1, p1 = work.work_path("runs", "r1"), work.work_path("predictions", "p1")
    for folder in (r1, p1):
        assert _ids(folder / "scrubbed.parquet") == {"d3", "d4"} and _ids(folder / SUBJECT_INDEX) == {"d3"}
        assert {json.loads(x)["id"] for x in (folder / "scrubbed.spans.jsonl").read_text().splitlines()} == {"d3", "d4"}
    assert _ids(r1 / "split" / "train.parquet") == {"d3"}
    assert _ids(work.work_path("predictions", "date=2026-11-30", "p1.parquet")) == {"d4"}
    assert report.files["r1/scrubbed.parquet"] == 2 and report.files["predictions/date=2026-11-30/p1.parquet"] == 1
    # the subject index keeps the schema metadata that names its key
    assert pd.read_parquet(r1 / SUBJECT_INDEX).shape[0] > 0
    # no pseudonym of the subject is left in any file but the erasure list (which holds hashes, no token)
    for f in work.work_path().rglob("*.parquet"):
        text = "\n".join(str(v) for v in pd.read_parquet(f).to_numpy().ravel())
        assert not any(t in text for t in tokens), f
    out = "\n".join(report.lines("m"))
    assert "erasure-1: removed 4 document(s)" in out and "Doherty" not in out and "7700" not in out
    assert "not needed" in report.retrain  # no model version was trained on them
    journal = json.loads(work.work_path("erasures", "erasure-1.json").read_text())
    assert journal["status"] == "done" and journal["reason"] == "ticket DSR-1"
    from tasks.datasets import parquet_sha256

    assert journal["digests_after"]["r1/scrubbed.parquet"] == parquet_sha256(r1 / "scrubbed.parquet")
    assert parquet_sha256(r1 / "scrubbed.parquet") not in journal["datasets"]  # the digest before is recorded too
    [entry] = [e for e in read_audit(work) if e["action"] == "erasure.request"]
    assert (entry["outcome"], entry["documents"], entry["identifiers"]) == ("erased", 4, 2)
    audit_text = work.work_path("audit.jsonl").read_text() + json.dumps(journal)
    assert "Doherty" not in audit_text and "900123" not in audit_text

    after = find_subject(work.registry_scope, work.pii, _values(tmp_path, JANE), KNOWN)
    assert (after.datasets, after.erased_by, after.pending) == ([], "erasure-1", [])
    before = _snapshot(work)
    again = erase_subject(work.registry_scope, work.pii, _values(tmp_path, JANE), "ticket DSR-1 again", KNOWN)
    assert again.outcome == "already_erased" and again.request == "erasure-1" and _snapshot(work) == before
    from tasks.pii.ops import pseudonym_key

    key = pseudonym_key(work.pii, work.work_path(), index=True)
    assert read_erased(work.work_path(), key).requests == ["erasure-1"]


@pytest.mark.parametrize("content, error, message", [
    ("EMAIL_ADDRESS: nobody@example.com\n", None, "in no stored dataset"),
    ("", InputError, "holds no `ENTITY: value` line"),
    ("SHOE_SIZE: 11\n", InputError, "unknown identifier type"),
])
def test_a_request_that_cannot_be_carried_out_changes_nothing(work, tmp_path, content, error, message):
    from tasks.subjects.erase import erase_subject

    before = _snapshot(work)
    if error is None:
        report = erase_subject(work.registry_scope, work.pii, _values(tmp_path, content), "r", KNOWN)
        assert report.outcome == "not_found" and message in "\n".join(report.lines("m"))
    else:
        with pytest.raises(error, match=message):
            erase_subject(work.registry_scope, work.pii, _values(tmp_path, content), "r", KNOWN)
    assert _snapshot(work) == before


def test_wrong_key_missing_reason_or_a_running_retrain_is_a_named_error_before_anything_changes(
        work, tmp_path, monkeypatch):
    from filelock import FileLock

    from tasks.subjects.erase import erase_subject

    before = _snapshot(work)
    with pytest.raises(ErasureError, match="--reason"):
        erase_subject(work.registry_scope, work.pii, _values(tmp_path, JANE), " ", KNOWN)
    with FileLock(str(work.work_path("retrain.lock"))):
        with pytest.raises(ErasureError, match="retrain of this model is running"):
            erase_subject(work.registry_scope, work.pii, _values(tmp_path, JANE), "r", KNOWN)
    monkeypatch.setenv(work.pii.pseudonym_key_env, "another-key-" + "a" * 20)
    with pytest.raises(ConfigError, match="another pseudonymisation key") as err:
        erase_subject(work.registry_scope, work.pii, _values(tmp_path, JANE), "r", KNOWN)
    assert "Doherty" not in str(err.value)
    assert _snapshot(work) == before


def test_a_folder_is_rewritten_all_or_nothing_and_a_crash_is_completed_by_the_next_request(
        work, tmp_path, monkeypatch):
    import tasks.subjects.erased as erased
    from tasks.subjects.erase import erase_subject

    r1 = work.work_path("runs", "r1")
    real, calls = erased._without, []

    def dies_on_the_third_file(path, ids):
        calls.append(path)
        if len(calls) == 3:
            raise OSError("disk full")
        return real(path, ids)

    monkeypatch.setattr(erased, "_without", dies_on_the_third_file)
    before = _snapshot(work)
    with pytest.raises(OSError, match="disk full"):
        erase_subject(work.registry_scope, work.pii, _values(tmp_path, JANE), "r", KNOWN)
    # the first folder was staged, not replaced: every file as it was, no temporary file left
    changed = {k for k, v in _snapshot(work).items() if before.get(k) != v}
    assert changed == {"erasures/erased.parquet", "erasures/erasure-1.json"}, changed
    assert not list(work.work_path().rglob(".*.erasing"))
    assert json.loads(work.work_path("erasures", "erasure-1.json").read_text())["status"] == "planned"
    assert _ids(r1 / "scrubbed.parquet") == {"d1", "d2", "d3", "d4"}

    monkeypatch.setattr(erased, "_without", real)
    someone_else = _values(tmp_path, "UK_NINO: AB123456C\n")
    report = erase_subject(work.registry_scope, work.pii, someone_else, "r2", KNOWN)
    assert report.resumed == ["erasure-1"] and report.request == "erasure-2"
    assert _ids(r1 / "scrubbed.parquet") == {"d4"} and _ids(r1 / SUBJECT_INDEX) == set()
    assert json.loads(work.work_path("erasures", "erasure-1.json").read_text())["status"] == "done"


def test_training_drops_the_documents_of_erased_subjects(work, tmp_path):
    from tasks.pii.ops import pseudonym_key
    from tasks.subjects.erase import erase_subject
    from tasks.subjects.erased import drop_erased

    key = pseudonym_key(work.pii, work.work_path(), index=True)
    fresh = _scrub(work, tmp_path, work.work_path("runs", "r2"))  # the source still holds Jane
    assert drop_erased(fresh, work.work_path(), key) == fresh  # nothing erased yet: unchanged
    erase_subject(work.registry_scope, work.pii, _values(tmp_path, JANE), "r", KNOWN)
    fresh = _scrub(work, tmp_path, work.work_path("runs", "r3"))
    kept = drop_erased(fresh, work.work_path(), key)
    assert (kept.rows, kept.erasures) == (2, 1) and kept.sha256 != fresh.sha256
    assert _ids(Path(kept.uri)) == {"d3", "d4"} and _ids(Path(kept.uri).parent / SUBJECT_INDEX) == {"d3"}

    (Path(kept.uri).parent / SUBJECT_INDEX).unlink()
    with pytest.raises(ConfigError, match="no subject index"):
        drop_erased(kept, work.work_path(), key)


@pytest.mark.integration
@pytest.mark.timeout(300)
def test_an_erasure_on_one_machine_keeps_the_subject_out_of_training_on_another(work, tmp_path):
    """registry.shared_dir: the erasure list every worker reads (the locks then on the Prefect server)."""
    from tasks.audit import read_audit
    from tasks.locks import shared_path
    from tasks.pii.ops import pseudonym_key
    from tasks.subjects.erase import erase_subject
    from tasks.subjects.erased import drop_erased
    from tests.server import local_server

    a = work.model_copy(update={"registry": work.registry.model_copy(update={"shared_dir": str(tmp_path / "nfs")})})
    b = a.model_copy(update={"work_dir": str(tmp_path / "b")})  # another machine: a work folder of its own
    with local_server(tmp_path) as srv, srv.settings():
        erase_subject(a.registry_scope, a.pii, _values(tmp_path, JANE), "r", KNOWN)
    assert not a.work_path("erasures", "erased.parquet").exists()  # not in a folder only one machine sees
    key = pseudonym_key(b.pii, b.work_path(), index=True)
    fresh = _scrub(b, tmp_path, b.work_path("runs", "r1"))  # b's source still holds Jane
    kept = drop_erased(fresh, shared_path(b.registry_scope), key)  # what b's drop_erased task reads
    assert (kept.rows, kept.erasures) == (2, 1) and _ids(Path(kept.uri)) == {"d3", "d4"}
    assert [e["outcome"] for e in read_audit(b.registry_scope) if e["action"] == "erasure.request"] == ["erased"]


def test_a_version_trained_while_a_request_erased_its_documents_is_registered_pending(work, tmp_path):
    """A run that read its dataset before an erasure rewrote it must not pass for clean when it registers."""
    from tasks.pii.stream import describe_parquet
    from tasks.subjects.erase import erase_subject, erasure_tags

    before = describe_parquet(work.work_path("runs", "r1", "scrubbed.parquet"), scrubbed=True)
    erase_subject(work.registry_scope, work.pii, _values(tmp_path, JANE), "r", KNOWN)
    assert erasure_tags(work.work_path(), before) == {"erasures_applied": "0", "erasure_pending": "erasure-1"}
    after = describe_parquet(work.work_path("runs", "r1", "scrubbed.parquet"), scrubbed=True)
    assert erasure_tags(work.work_path(), after.model_copy(update={"erasures": 1})) == {"erasures_applied": "1"}


def test_a_crash_before_the_erasure_list_is_written_is_completed_too(work, tmp_path, monkeypatch):
    import tasks.subjects.erase as erase
    from tasks.pii.ops import pseudonym_key
    from tasks.subjects.erased import read_erased

    def dies(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(erase, "add_erased", dies)
    with pytest.raises(KeyboardInterrupt):
        erase.erase_subject(work.registry_scope, work.pii, _values(tmp_path, JANE), "r", KNOWN)
    key = pseudonym_key(work.pii, work.work_path(), index=True)
    assert read_erased(work.work_path(), key).requests == []
    monkeypatch.undo()
    report = erase.erase_subject(work.registry_scope, work.pii, _values(tmp_path, "UK_NINO: AB123456C\n"), "r2", KNOWN)
    assert report.resumed == ["erasure-1"] and report.request == "erasure-2"
    assert read_erased(work.work_path(), key).requests == ["erasure-1", "erasure-2"]
    assert _ids(work.work_path("runs", "r1", "scrubbed.parquet")) == {"d4"}


def test_without_a_server_the_retrain_is_not_claimed_as_requested(work, monkeypatch):
    import tasks.monitor.events as events
    from tasks.subjects.erase import request_retrain

    monkeypatch.setattr(events, "api_target", lambda: "ephemeral (no PREFECT_API_URL: nothing will react to it)")
    said = request_retrain(work.model_name, "erasure-1", [1, 2])
    assert said.startswith("not requested: no Prefect server") and "tunegate run CONFIG" in said
    assert request_retrain(work.model_name, "erasure-1", []).startswith("not needed")
