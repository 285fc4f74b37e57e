"""The erasure certificate (tasks/subjects/certificate.py): counts only, signed, and any changed byte is caught.
The certificate of a real erasure: tests/pipeline/test_pipeline.py (_certificate)."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime

import pytest

from tasks.config import PipelineConfig
from tasks.errors import InputError
from tasks.keys import EVIDENCE_ENV, public_hex_of_seed
from tasks.subjects.certificate import (
    TAMPERED,
    UNTRUSTED,
    VERIFIED,
    certificate_of,
    verify_certificate,
    verify_command,
    write_certificate,
)
from tasks.subjects.erase import ErasureReport

REQUESTED = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
REPORT = ErasureReport(request="erasure-3", outcome="erased", documents=2,
                       files={"run-1-ab12/scrubbed.parquet": 2, "run-1-ab12/train.parquet": 1},
                       versions={4: 1, 5: 0}, champion={"previous": 5, "now": 3, "withdrawn_at": "2026-12-01T09:01:00"},
                       stores={"mlflow artifacts": [], "checkpoints": ["train-work/x"]},
                       successor={"measured": True, "version": 3, "auc": 0.5, "auc_95": [0.1, 0.9], "erased_rows": 2,
                                  "unseen_rows": 240})


@pytest.mark.parametrize("now, complete, met", [
    (datetime(2026, 12, 2, tzinfo=UTC), False, False),  # something still holds the subject
])
def test_the_certificate_holds_counts_and_states_not_identifiers(now, complete, met):
    c = certificate_of(REPORT, "claims", "DSR-42", REQUESTED, now)
    assert (c["request"], c["reason"], c["documents_removed"], c["rows_removed_total"]) == ("erasure-3", "DSR-42", 2, 3)
    assert c["stores_searched"] == {"checkpoints": {"still_holding": 1}, "mlflow artifacts": {"still_holding": 0}}
    assert list(c["versions_affected"]) == ["4", "5"] and "erasure pending" in c["versions_affected"]["4"]["state"]
    assert (c["champion"]["previous"], c["champion"]["now"]) == (5, 3)
    assert (c["complete"], c["deadline_met"], c["deadline"]) == (complete, met, "2026-12-31T09:00:00+00:00")
    assert c["successor_membership_test"] == REPORT.successor  # the champion now serving, on the erased rows
    bare = certificate_of(ErasureReport(request="erasure-4", outcome="erased"), "claims", "DSR-43", REQUESTED, now)
    assert bare["successor_membership_test"] == {"measured": False, "why": "not recorded"}  # never silently absent


def test_a_complete_erasure_within_the_month_meets_its_deadline():
    done = ErasureReport(request="erasure-1", outcome="erased", documents=1, files={"r/x.parquet": 1},
                         stores={"mlflow artifacts": []})
    assert certificate_of(done, "m", "DSR-1", REQUESTED, datetime(2026, 12, 5, tzinfo=UTC))["deadline_met"]
    assert not certificate_of(done, "m", "DSR-1", REQUESTED, datetime(2027, 1, 5, tzinfo=UTC))["deadline_met"]


def test_a_signed_certificate_verifies_and_a_changed_byte_anywhere_is_caught(tmp_path):
    reg = PipelineConfig(name="t-cert", work_dir=str(tmp_path / "work")).registry_scope
    path = write_certificate(reg, certificate_of(REPORT, "t-cert", "DSR-42", REQUESTED, REQUESTED))
    key = public_hex_of_seed(os.environ[EVIDENCE_ENV], "test")
    assert path.relative_to(tmp_path).as_posix() == "work/erasures/certificates/erasure-3.json"
    assert verify_certificate(path, {key})[1] == VERIFIED
    assert verify_certificate(path, {"ab" * 32})[1] == UNTRUSTED
    data = path.read_bytes()
    for i in sorted(set(range(0, len(data), 3)) | set(range(len(data) - 300, len(data)))):  # the signature: all
        path.write_bytes(data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1:])
        assert verify_certificate(path, {key})[1] == TAMPERED, i
    path.write_bytes(data[:-1])  # even a byte taken away
    assert verify_certificate(path, {key})[1] == TAMPERED
    body = json.loads(data)
    body["certificate"]["rows_removed_total"] = 0  # an edit, well-formed, without the signer's key
    from tasks.subjects.certificate import canonical

    path.write_bytes(canonical(body))
    lines, code = verify_certificate(path, {key})
    assert code == TAMPERED and "signature does not match" in lines[0]


def test_the_command_needs_a_trusted_key_and_its_usage(tmp_path):
    cfg = PipelineConfig(name="t-cert", work_dir=str(tmp_path / "work")).registry
    with pytest.raises(InputError, match="public key to trust"):
        verify_command("certificate", ["verify", "x.json"], cfg, [])
    with pytest.raises(InputError, match="usage"):
        verify_command("certificate", ["x.json"], cfg, ["ab" * 32])
    with pytest.raises(InputError, match="needs --value-file"):
        verify_command("erase", [], cfg, [])
