"""The technical file (tasks/governance/clauses.py, coverage.py): each clause answered by a file of the pack, by the
declared governance:, or missing; `evidence verify` counts it per block and --require-coverage refuses gaps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tasks.config import load_config
from tasks.governance import clauses
from tasks.governance.coverage import (
    DECLARED,
    EVIDENCE,
    MISSING,
    TECHNICAL_JSON,
    TECHNICAL_MD,
    assess_coverage,
    governance_of,
    technical_file_of,
)

ROOT = Path(__file__).resolve().parents[2]
FIRM = {"harmonised_standards": ["ISO/IEC 42001:2023"], "declaration_of_conformity": "DMS ref DoC-2026-014"}


REVALIDATED = {"revalidations/v1-2026-12-07T150000+0000.json": True}  # tunegate revalidate's record, passed


def _records(governance: dict | None = "example", task: str = "classification", memo: dict | None = None,
             drop: tuple[str, ...] = (), revalidations: dict[str, bool] = REVALIDATED) -> dict[str, bytes]:
    """Every file a pack of a governed version holds, as the pipeline writes them (contents where a check reads)."""
    config = load_config(ROOT / "examples" / "claims.yaml").model_dump(mode="json")
    if governance != "example":
        config["governance"] = governance
    config["train"]["task"] = task
    json_files = {clauses.CONFIG: config, clauses.PII: {"docs": 300, "residual_rate": 0.0},
                  clauses.MEMO: memo or {"measured": True, "auc": 0.55, "auc_95": [0.5, 0.6]},
                  clauses.AUDIT: {"entries": [], "chain": {"intact": True}}}
    files = {p: json.dumps(v).encode() for p, v in json_files.items()}
    for p in (clauses.CARD, clauses.LINEAGE, clauses.QUALITY, clauses.EVAL, clauses.BASELINE, clauses.ENVELOPE,
              clauses.TRAIN_CONFIG, clauses.METRICS, clauses.COMPUTE, clauses.REGISTRY, clauses.MONITORING):
        files[p] = b"{}"
    files |= {p: json.dumps({"passed": ok}).encode() for p, ok in revalidations.items()}
    return {p: b for p, b in files.items() if p not in drop}


def _governance(**changes) -> dict:
    g = load_config(ROOT / "examples" / "claims.yaml").governance.model_dump(mode="json")
    return g | FIRM | changes


def _status(rows) -> dict[str, str]:
    return {r.id: r.status for r in rows}


def test_the_governed_example_answers_every_annex_iv_and_art_10_clause():
    records = _records(_governance())
    rows = assess_coverage(records, governance_of(records))
    assert len(rows) == len(clauses.CLAUSES) == len({r.id for r in rows})
    for r in rows:
        if r.block in ("annex4", "art10"):
            assert r.status in (EVIDENCE, DECLARED), (r.id, r.missing)
    assert all(r.status != MISSING for r in rows), [(r.id, r.missing) for r in rows if r.status == MISSING]
    annex1 = next(r for r in rows if r.id == "annex4-1")
    assert annex1.evidence == {p: __import__("hashlib").sha256(records[p]).hexdigest()
                               for p in (clauses.CARD, clauses.CONFIG)}
    assert _status(rows)["art10-2d"] == DECLARED and "intended_purpose" in annex1.declared


def test_standards_and_the_declaration_stay_the_firms_to_fill():
    records = _records()  # the example as shipped: the firm has not said where its answers are
    rows = {r.id: r for r in assess_coverage(records, governance_of(records))}
    for cid in ("annex4-7", "annex4-8"):
        assert rows[cid].status == MISSING and rows[cid].firm and rows[cid].missing[0].startswith("the firm to fill")
    assert [r.id for r in rows.values() if r.status == MISSING and r.block in ("annex4", "art10")] == [
        "annex4-7", "annex4-8"]


@pytest.mark.parametrize("records, missing", [
    (_records(_governance(data_assumptions=None)), {"art10-2d"}),
    (_records(_governance(risk_tier=None)), {"annex4-5", "ss1-23-1"}),
    (_records(_governance(change_envelope=None)), {"annex4-6", "ss1-23-5"}),
    (_records(_governance(accountable_person=None)), {"annex4-3", "ss1-23-2"}),
    (_records(_governance(data_sources=[{"name": "notes", "origin": "claims system"}])), {"art10-2b"}),
    (_records(_governance(review_interval_days=None)), {"annex4-9", "ss1-23-4"}),
    (_records(_governance(), revalidations={}), {"ss1-23-4"}),  # never re-validated
    (_records(_governance(), revalidations={"revalidations/v1-a.json": False}), {"ss1-23-4"}),  # it failed
    (_records(_governance(), revalidations={"revalidations/v1-a.json": False, "revalidations/v1-b.json": True}),
     set()),  # a later one passed
    (_records(_governance(), drop=(clauses.ENVELOPE,)), {"annex4-6"}),
    (_records(_governance(), memo={"measured": True, "auc": 0.7, "auc_95": [0.6, 0.8]}),
     {"art15-5", "edpb-membership"}),
    (_records(_governance(), memo={"measured": False, "why": "too few rows"}), {"art15-5", "edpb-membership"}),
    (_records(_governance(), task="causal_lm", memo={"measured": True, "method": "canary_exposure",
                                                     "mean_exposure_bits": 3.0, "extracted": 1}),
     {"art15-5", "edpb-membership", "edpb-extraction"}),
])
def test_a_gap_turns_exactly_its_clauses_missing_and_says_what_fills_them(records, missing):
    rows = assess_coverage(records, governance_of(records))
    assert {r.id for r in rows if r.status == MISSING} == missing
    assert all(r.missing for r in rows if r.status == MISSING)


def test_without_governance_every_declared_clause_is_missing():
    records = _records(None)
    rows = assess_coverage(records, governance_of(records))
    assert governance_of(records) is None
    assert {r.id for r in rows if r.status == MISSING} == {r.id for r in rows if clauses.CLAUSES[
        [c.id for c in clauses.CLAUSES].index(r.id)].declared}


def test_the_technical_file_is_markdown_and_json_of_the_same_rows():
    out = technical_file_of(_records(), "claims-classifier", 3, "2026-12-07T10:00:00+00:00")
    doc, md = json.loads(out[TECHNICAL_JSON]), out[TECHNICAL_MD].decode()
    assert doc["version"] == 3 and len(doc["clauses"]) == len(clauses.CLAUSES)
    assert doc["keep_until"] == "2036-12-07" and "Keep until 2036-12-07 (retention.technical_file_years: 10)" in md
    assert doc["coverage"]["annex4"] == {EVIDENCE: 7, DECLARED: 0, MISSING: 2}
    assert "| annex4-8: EU declaration of conformity (Art. 47) | missing (the firm's to fill) |" in md
    assert md.count("\n## ") == len(clauses.BLOCKS)


# ---- a signed pack: evidence verify counts the coverage and --require-coverage refuses a gap ------------------
SEED = "11" * 32


def _pack(tmp_path: Path, records: dict[str, bytes], name: str = "pack") -> Path:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from tasks.governance import evidence as ev
    from tasks.keys import public_hex
    from tasks.registry.signing import sha256_hex

    files = records | technical_file_of(records, "m", 1, "2026-12-07T10:00:00+00:00")
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(SEED))
    manifest = {"format": 1, "model": "m", "version": 1, "files": {p: sha256_hex(b) for p, b in files.items()},
                "absent": {}, "signature": {"algorithm": "Ed25519", "public_key": public_hex(key), "dev_key": False}}
    body = ev._json(manifest)
    files |= {ev.MANIFEST: body, ev.SIGNATURE: key.sign(body).hex().encode(), ev.PUBLIC_KEY: public_hex(key).encode()}
    for rel, data in files.items():
        (tmp_path / name / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name / rel).write_bytes(data)
    return tmp_path / name


def _verify(pack: Path, *extra: str) -> int:
    from flows.cli import main
    from tasks.keys import public_hex_of_seed

    return main(["evidence", "verify", str(pack), "--public-key", public_hex_of_seed(SEED, "test"), *extra])


def test_verify_prints_coverage_and_require_coverage_refuses_a_removed_field(tmp_path, capsys):
    full = _pack(tmp_path, _records(_governance()), "full")
    assert _verify(full, "--require-coverage", "annex4,art10") == 0
    out = capsys.readouterr().out
    assert "coverage annex4: 7 evidence, 2 declared, 0 missing" in out and "pack verified" in out
    gap = _pack(tmp_path, _records(_governance(data_assumptions=None)), "gap")
    assert _verify(gap) == 0  # shown, not required
    assert "coverage art10: 7 evidence, 0 declared, 1 missing" in capsys.readouterr().out
    assert _verify(gap, "--require-coverage", "annex4,art10") == 23
    out = capsys.readouterr().out
    assert "art10-2d" in out and "governance.data_assumptions" in out and "pack NOT verified" in out
    assert _verify(gap, "--require-coverage", "annex4,art12") == 0  # the gap is not in these blocks
    capsys.readouterr()
    assert _verify(_pack(tmp_path, _records(), "shipped"), "--require-coverage", "all") == 23  # the firm's two


def test_require_coverage_names_unknown_blocks_and_packs_without_a_technical_file(tmp_path, capsys):
    from tasks.governance import evidence as ev

    pack = _pack(tmp_path, _records(_governance()))
    assert _verify(pack, "--require-coverage", "annex4,annex99") == 2
    assert "annex99" in capsys.readouterr().err
    for name in (TECHNICAL_JSON, TECHNICAL_MD):  # an older pack, re-signed without them
        (pack / name).unlink()
    manifest = json.loads((pack / ev.MANIFEST).read_text())
    manifest["files"] = {p: d for p, d in manifest["files"].items() if p not in (TECHNICAL_JSON, TECHNICAL_MD)}
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    body = ev._json(manifest)
    (pack / ev.MANIFEST).write_bytes(body)
    (pack / ev.SIGNATURE).write_text(Ed25519PrivateKey.from_private_bytes(bytes.fromhex(SEED)).sign(body).hex())
    assert _verify(pack) == 0
    assert _verify(pack, "--require-coverage", "edpb") == 23
    assert "technical_file.json is not in the pack" in capsys.readouterr().out
