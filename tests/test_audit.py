"""The audit log is hash-chained: `tunegate audit verify` finds any edited, removed or reordered entry."""

import json
import multiprocessing as mp
from pathlib import Path

import pytest

from tasks.config import PipelineConfig
from tasks.registry.audit import audit, read_audit, verify_audit


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
    check = verify_audit(path)
    assert check.ok and check.entries == 5 and check.unchained == 0 and check.head


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
    ("edit the newest entry", _edit_newest, "newest entry (seq 5) differs from the one its head recorded"),
    ("remove a middle entry", lambda lines: lines.pop(2), "seq 4 where 3 was expected"),
    ("remove the newest entry", lambda lines: lines.pop(), "head records seq 5: the newest entries were removed"),
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
