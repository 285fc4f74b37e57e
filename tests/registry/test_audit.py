"""The audit log is HMAC-chained: `tunegate audit verify` finds any edited, removed or reordered entry, and a log
that was deleted, replaced or cut together with its head (the registry's head and a pack's head pin it)."""

import json
import multiprocessing as mp
from pathlib import Path

import pytest

from tasks.audit import audit, read_audit, verify_audit
from tasks.config import PipelineConfig
from tasks.errors import AuditLogDamaged, ConfigError
from tasks.keys import AUDIT_ENV, Key, audit_key


def _cfg(tmp_path: Path) -> PipelineConfig:
    return PipelineConfig(name="t-audit", work_dir=str(tmp_path / "work"))


def _log(tmp_path: Path, n: int = 5) -> Path:
    cfg = _cfg(tmp_path)
    for i in range(n):
        audit(cfg, action="promote" if i % 2 else "reject", version=i + 1, why=f"entry {i + 1}")
    return cfg.work_path("audit.jsonl")


def test_entries_are_chained_and_an_untouched_log_verifies(tmp_path):
    path = _log(tmp_path)
    entries = read_audit(_cfg(tmp_path))
    assert [e["seq"] for e in entries] == [1, 2, 3, 4, 5] and entries[0]["prev"] == "0" * 64
    assert all(len(e["prev"]) == 64 for e in entries) and len({e["prev"] for e in entries}) == 5
    assert {e["kid"] for e in entries} == {audit_key(None).kid} and not any("dev_key" in e for e in entries)
    check = verify_audit(path)
    assert check.ok and check.entries == 5 and check.unchained == 0 and check.head.startswith("5:")
    # the links are keyed: the same log checked with another key breaks at every entry
    other = Key(b"another-audit-key-of-at-least-32-bytes", "environment", False)
    assert not verify_audit(path, other).ok


def _edit_middle(lines):
    e = json.loads(lines[2])
    e["why"] = "entry 3, softened"
    lines[2] = json.dumps(e)


def _edit_newest(lines):
    lines[-1] = lines[-1].replace('"reject"', '"promote"')
    assert '"promote"' in lines[-1]


def _swap(lines):
    lines[1], lines[2] = lines[2], lines[1]


def _renumber_after_removal(lines):
    """Remove entry 3 and renumber the rest: seq is consistent again, the hashes are not."""
    del lines[2]
    for i in range(2, len(lines)):
        e = json.loads(lines[i])
        e["seq"] = i + 1
        lines[i] = json.dumps(e)


TAMPERING = [
    ("edit a middle entry", _edit_middle, "line 4 (seq 4) does not follow line 3"),
    ("edit the newest entry", _edit_newest, "entry seq 5 differs from the one audit.head recorded"),
    ("remove a middle entry", lambda lines: lines.pop(2), "seq 4 where 3 was expected"),
    ("remove the newest entry", lambda lines: lines.pop(), "audit.head records seq 5: entries were removed"),
    ("remove the first entry", lambda lines: lines.pop(0), "the first entries were removed"),
    ("reorder two entries", _swap, "seq 3 where 2 was expected"),
    ("duplicate an entry", lambda lines: lines.insert(3, lines[2]), "reordered or duplicated"),
    ("add a line by hand", lambda lines: lines.append('{"action": "promote", "version": 9}'),
     "added or edited by hand"),
    ("remove and renumber", _renumber_after_removal, "line 3 (seq 3) does not follow line 2"),
    ("truncate the last line", None, "incomplete"),
]


@pytest.mark.parametrize("name,change,expected", TAMPERING, ids=[t[0] for t in TAMPERING])
def test_verify_finds_each_kind_of_tampering(tmp_path, capsys, name, change, expected):
    from flows.cli import main

    path = _log(tmp_path)
    cfg_file = tmp_path / "cfg.yaml"
    cfg_file.write_text(json.dumps({"name": "t-audit", "work_dir": str(tmp_path / "work")}))
    assert main(["audit", "verify", "--config", str(cfg_file)]) == 0
    assert "audit log intact: 5 entries" in capsys.readouterr().out
    if change is None:
        path.write_bytes(path.read_bytes()[:-20])
    else:
        lines = path.read_text().splitlines()
        change(lines)
        path.write_text("\n".join(lines) + "\n")
    check = verify_audit(path)
    assert not check.ok and any(expected in p for p in check.problems), check.problems
    assert main(["audit", "verify", "--config", str(cfg_file)]) == 1
    out = capsys.readouterr().out
    assert "BROKEN:" in out and "NOT intact" in out


def test_a_tampered_log_still_takes_entries_and_stays_broken(tmp_path):
    path = _log(tmp_path)
    lines = path.read_text().splitlines()
    lines[-1] = lines[-1][:-5]  # the newest line is no longer JSON
    path.write_text("\n".join(lines) + "\n")
    entry = audit(_cfg(tmp_path), action="rollback", version=2)  # a promotion is not blocked by it
    assert entry["seq"] == 6
    check = verify_audit(path)
    assert not check.ok and any("line 5 is not a JSON entry" in p for p in check.problems)


def test_entries_written_before_the_chain_are_counted_not_covered(tmp_path):
    cfg = _cfg(tmp_path)
    path = cfg.work_path("audit.jsonl")
    path.parent.mkdir(parents=True)
    path.write_text('{"ts": "2026-01-01T00:00:00+00:00", "action": "promote", "version": 1}\n')
    audit(cfg, action="promote", version=2)
    audit(cfg, action="rollback", version=1)
    check = verify_audit(path)
    assert check.ok and check.entries == 3 and check.unchained == 1
    assert read_audit(cfg)[1]["prev"] != "0" * 64  # the first chained entry covers the line before it


def _writer(work: str, who: int, n: int) -> None:
    cfg = PipelineConfig(name="t-audit", work_dir=work)
    for i in range(n):
        audit(cfg, action="promote", writer=who, i=i)


def test_concurrent_writer_processes_never_break_the_chain(tmp_path):
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path / "work"), w, 25)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    entries = read_audit(_cfg(tmp_path))
    assert [e["seq"] for e in entries] == list(range(1, 101))
    assert sorted((e["writer"], e["i"]) for e in entries) == [(w, i) for w in range(4) for i in range(25)]
    check = verify_audit(_cfg(tmp_path).work_path("audit.jsonl"))
    assert check.ok and check.entries == 100, check.problems


def test_a_sha_chained_log_from_older_tunegate_predates_the_hmac_chain(tmp_path):
    import hashlib

    cfg = _cfg(tmp_path)
    path = cfg.work_path("audit.jsonl")
    path.parent.mkdir(parents=True)
    first = json.dumps({"seq": 1, "prev": "0" * 64, "action": "promote", "version": 1}).encode()
    second = json.dumps({"seq": 2, "prev": hashlib.sha256(first).hexdigest(), "action": "rollback"}).encode()
    path.write_bytes(first + b"\n" + second + b"\n")
    path.with_name("audit.head").write_text(json.dumps({"seq": 2, "sha256": hashlib.sha256(second).hexdigest()}))
    assert verify_audit(path).ok  # an older log with its older head still verifies
    audit(cfg, action="promote", version=2)
    check = verify_audit(path)
    assert check.ok and check.entries == 3 and check.unchained == 2, check.problems
    assert "predate the HMAC chain" in check.lines(path)[-1]
    path.write_bytes(path.read_bytes().replace(b'"rollback"', b'"promote!"'))  # the older part is still covered
    assert not verify_audit(path).ok


def _cli_verify(cfg_file, capsys, *extra) -> tuple[int, str]:
    from flows.cli import main

    code = main(["audit", "verify", "--config", str(cfg_file), *extra])
    return code, capsys.readouterr().out


def test_a_deleted_log_with_its_head_kept_is_not_intact(tmp_path, capsys):
    path = _log(tmp_path)
    cfg_file = tmp_path / "cfg.yaml"
    cfg_file.write_text(json.dumps({"name": "t-audit", "work_dir": str(tmp_path / "work")}))
    path.unlink()
    code, out = _cli_verify(cfg_file, capsys)
    assert code == 1 and "audit.head records seq 5" in out and "NOT intact" in out


def test_a_recomputed_head_without_the_key_is_detected(tmp_path):
    import hashlib

    path = _log(tmp_path)
    lines = path.read_bytes().splitlines()
    removed = json.loads(lines.pop())
    path.write_bytes(b"\n".join(lines) + b"\n")
    head = path.with_name("audit.head")
    head.write_text(json.dumps({"seq": 4, "sha256": hashlib.sha256(lines[-1]).hexdigest()}))  # the old recipe
    assert any("holds no MAC" in p for p in verify_audit(path).problems)
    head.write_text(json.dumps({"seq": 4, "mac": removed["prev"]}))  # the entry's MAC, read from the removed line
    assert any("entry seq 4 differs from the one audit.head recorded" in p for p in verify_audit(path).problems)


def test_a_removed_tail_or_a_fresh_log_is_detected_through_the_registry_and_a_pack(tmp_path, capsys):
    import shutil

    from tasks.governance.evidence import build_pack
    from tasks.registry.lock import HEAD_TAG
    from tasks.registry.versions import client_for
    from tests.governance.test_evidence import _registered

    cfg, cfg_file, v = _registered(tmp_path)  # 2 promotions, 2 rollbacks: the registry holds the head
    for i in range(3):
        audit(cfg, action="retrain.skipped", why=f"cooldown {i}")
    tag = lambda: client_for(cfg.registry_scope).get_registered_model(cfg.model_name).tags[HEAD_TAG]  # noqa: E731
    assert tag().startswith("4:")  # written at the last alias move (and registration), not on every entry
    code, out = _cli_verify(cfg_file, capsys)
    assert code == 0 and "the registry's audit_head tag (seq 4) matches the log" in out, out
    pack = tmp_path / "pack"
    build_pack(cfg.registry_scope, v, pack)  # records the head, and writes it to the registry
    assert json.loads((pack / "manifest.json").read_text())["audit_head"].startswith("7:") and tag().startswith("7:")
    registry_head = tag()
    path, head = cfg.work_path("audit.jsonl"), cfg.work_path("audit.head")
    original = path.read_bytes()
    # the tail removed and the head deleted: the pack (seq 7) and the registry (seq 4) still pin it
    path.write_bytes(b"".join(original.splitlines(keepends=True)[:1]))
    head.unlink()
    code, out = _cli_verify(cfg_file, capsys, "--pack", str(pack))
    assert code == 1 and "the registry's audit_head tag records seq 7" in out and "evidence pack records seq 7" in out
    # a fresh log: deleted with its head, then tunegate writes on as if it were new
    path.unlink()
    for i in range(8):
        audit(cfg, action="retrain.skipped", why=f"fresh {i}")
    code, out = _cli_verify(cfg_file, capsys, "--pack", str(pack))
    assert code == 1 and "entry seq 7 differs from the one the registry's audit_head tag recorded" in out, out
    assert "entry seq 7 differs from the one the evidence pack recorded" in out
    # and the next alias move does not advance the registry's head over the replaced log
    from tasks.governance.rollback import move_back

    move_back(cfg.registry_scope, cfg.promotion, v, reason="again")
    assert client_for(cfg).get_registered_model(cfg.model_name).tags[HEAD_TAG] == registry_head
    shutil.rmtree(pack)


def test_a_cut_off_last_line_is_a_named_error_and_the_gates_read_on(tmp_path):
    import logging
    from datetime import UTC, datetime

    from tasks.audit import COMPLETED
    from tasks.monitor.task import check_retrain_gate

    cfg = _cfg(tmp_path)
    audit(cfg, action=COMPLETED, trigger="drift", version=1)
    audit(cfg, action="promote", version=2)
    path = cfg.work_path("audit.jsonl")
    path.write_bytes(path.read_bytes()[:-20])  # the newest write cut off
    with pytest.raises(AuditLogDamaged, match="line"):
        read_audit(cfg)
    seen: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())
    logging.getLogger("tunegate.audit").addHandler(handler)
    try:
        gate = check_retrain_gate.fn(cfg, "drift", datetime.now(UTC))  # the cooldown gate: no traceback
    finally:
        logging.getLogger("tunegate.audit").removeHandler(handler)
    assert gate.go is False  # the intact entry (a retrain just completed) still counts
    assert any("line(s) 2 cannot be read" in m for m in seen), seen
    entry = audit(cfg, action="rollback", version=1)  # the next write starts on a line of its own
    assert read_audit(cfg, skip_damaged=True)[-1] == entry
    assert any("line 2 is not a JSON entry" in p for p in verify_audit(path).problems)


def test_the_audit_key_fails_closed_in_a_deployments_run_and_dev_keys_stay_outside(tmp_path, monkeypatch,
                                                                                 prefect_harness):
    from prefect import flow

    from tasks.errors import SigningKeyMissing
    from tests.governance.test_evidence import _governed

    monkeypatch.delenv(AUDIT_ENV)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))

    @flow(name="t-governed-audit")
    def governed(work: str) -> str:
        try:
            audit(PipelineConfig(name="t-audit", work_dir=work), action="promote", version=1)
        except SigningKeyMissing as e:
            return f"SigningKeyMissing: {e}"
        return "written"

    out = _governed(governed, work=str(tmp_path / "work"))
    assert out.startswith("SigningKeyMissing") and AUDIT_ENV in out
    assert not (tmp_path / "work" / "audit.jsonl").exists() and not (tmp_path / "config").exists()
    # outside a deployment: a development key under the user's config folder, and every entry says so
    entry = audit(_cfg(tmp_path), action="promote", version=1)
    assert entry["dev_key"] is True and (tmp_path / "config" / "tunegate" / "audit-dev.key").is_file()
    assert "development key" in "\n".join(verify_audit(_cfg(tmp_path).work_path("audit.jsonl")).lines(tmp_path))
    monkeypatch.setenv(AUDIT_ENV, "too-short")
    with pytest.raises(ConfigError, match="at least 32 bytes") as e:
        audit(_cfg(tmp_path), action="promote", version=2)
    assert "too-short" not in str(e.value)
