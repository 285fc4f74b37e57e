"""Canary: known PII values go into a real flow run; none may come out anywhere but the scrubbed text's
replacements — not in logs (ours or Prefect's, read back from the server), results, artifacts,
evidence files, span files or error messages, on a passing run and on a failing one.
"""

import io
import json
import logging
import re
from pathlib import Path

import pandas as pd
import pytest

from tasks.config import load_config
from tasks.errors import PiiGateFailed

ROOT = Path(__file__).resolve().parents[2]
CANARIES = {
    "Zebedee Quarterfield": "Spoke to Zebedee Quarterfield about the leak.",
    "zebedee.q@canary-mail.com": "Email zebedee.q@canary-mail.com for updates.",
    "07700 900555": "Call back on 07700 900555 please.",
    "JG103758D": "NI number JG103758D given.",
    "4111 1111 1111 1111": "Card number 4111 1111 1111 1111 read out.",
    "ZE2 9QX": "Address on file: 14 Larkspur Road, Lerwick ZE2 9QX.",
    "14 Larkspur Road": "Correspondence to 14 Larkspur Road.",
    "GB82 WEST 1234 5698 7654 32": "IBAN GB82 WEST 1234 5698 7654 32 for the refund.",
    "POL-87654321": "Policy POL-87654321 renewed.",
    "ottoline brackenbury": "spoke to ottoline brackenbury, she will send photos",
}


def _variants(value: str) -> set[str]:
    return {value, value.lower(), re.sub(r"[\s-]", "", value)}


# An identifier no detector claims (no cue, no known format) but the independent residual scan sees.
UNCLAIMED = "98765432101"


def _dataset(tmp_path: Path, extra: list[str] = ()) -> "DatasetRef":  # noqa: F821
    from tasks.pii.stream import describe_parquet

    texts = list(CANARIES.values()) * 3 + list(extra)
    df = pd.DataFrame({"id": [f"c{i}" for i in range(len(texts))], "text": texts, "label": "motor",
                       "timestamp": pd.Timestamp("2025-01-01", tz="UTC")})
    name = f"dataset{len(extra)}.parquet"
    df.to_parquet(tmp_path / name, index=False)
    return describe_parquet(tmp_path / name, scrubbed=False)


def _server_text(flow_run_ids: list) -> str:
    """Everything the Prefect server holds about these runs: logs, states, parameters, artifacts."""
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=10)
    with get_client(sync_client=True) as client:
        logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=flow_run_ids)))
        runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=flow_run_ids)))
        tasks = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=flow_run_ids)))
        artifacts = client.read_artifacts()
    parts = [log.message for log in logs]
    parts += [r.model_dump_json() for r in runs] + [t.model_dump_json() for t in tasks]
    parts += [a.model_dump_json() for a in artifacts]
    assert logs and artifacts, "expected the runs to have logged and published evidence"
    return "\n".join(parts)


@pytest.mark.integration
def test_no_canary_value_escapes_the_scrub_stage(prefect_harness, tmp_path, caplog):
    from prefect import flow

    from tasks.pii.task import scrub_pii

    @flow(name="scrub")
    def scrub(dataset, pii, run_dir: str):
        """The scrub stage alone in a flow run, so that its logs, results and artifacts reach the server."""
        return scrub_pii(dataset, pii, Path(run_dir))[1]

    pii = load_config(ROOT / "examples" / "claims.yaml").pii.model_copy(update={"workers": 1})
    dataset = _dataset(tmp_path)
    caplog.set_level(logging.DEBUG)
    # worst case: Presidio's own logger inherits DEBUG (it logs the words around each match at DEBUG)
    presidio_log = logging.getLogger("presidio-analyzer")
    presidio_log.setLevel(logging.NOTSET)
    presidio_log.disabled = False  # logging config may have disabled it, depending on import order
    direct = io.StringIO()
    direct_handler = logging.StreamHandler(direct)
    direct_handler.setLevel(logging.DEBUG)
    presidio_log.addHandler(direct_handler)

    ok_state = scrub(dataset, pii, str(tmp_path / "runs" / "ok"), return_state=True)
    evidence = ok_state.result()
    assert evidence.passed and evidence.docs == len(CANARIES) * 3

    # Documents with an identifier only the residual scan sees fail the gate: the failure must not quote it.
    leaky = _dataset(tmp_path, [f"Meter reading {UNCLAIMED} noted."] * 3)
    bad_state = scrub(leaky, pii, str(tmp_path / "runs" / "bad"), return_state=True)
    assert bad_state.is_failed()
    with pytest.raises(PiiGateFailed) as err:
        bad_state.result()

    presidio_log.removeHandler(direct_handler)
    scrubbed = pd.read_parquet(tmp_path / "runs" / "ok" / "scrubbed.parquet")
    files = [p for p in (tmp_path / "runs").rglob("*") if p.is_file() and p.suffix in (".json", ".jsonl")]
    assert {p.name for p in files} >= {"pii_evidence.json", "scrubbed.spans.jsonl"}
    haystack = "\n".join([
        caplog.text, direct.getvalue(), str(err.value), str(bad_state.message), str(ok_state.message),
        json.dumps(evidence.model_dump(mode="json")), "\n".join(scrubbed["text"]),
        *(p.read_text() for p in files),
        _server_text([ok_state.state_details.flow_run_id, bad_state.state_details.flow_run_id]),
    ])
    assert "3 identifier-like digit runs" in str(err.value)
    for value in [*CANARIES, UNCLAIMED]:
        for v in _variants(value):
            assert v not in haystack, f"canary value leaked: {value[:3]}…"
    assert not (tmp_path / "runs" / "bad" / "scrubbed.parquet").exists()
    failed = json.loads((tmp_path / "runs" / "bad" / "pii_evidence.json").read_text())
    assert failed["passed"] is False and failed["residual_by_type"] == {"DIGIT_RUN": 3}
    assert [r["id"] for r in failed["residual_at"]] == ["c30", "c31", "c32"]  # where to look, not what


@pytest.mark.integration
def test_pseudonym_key_from_a_prefect_secret_block(prefect_harness, tmp_path, monkeypatch):
    from prefect.blocks.system import Secret

    from tasks.pii.ops import resolve_pseudonym_key

    Secret(value="block-key-value-" + "b" * 17).save("tg-test-pii-key", overwrite=True)
    monkeypatch.delenv("TG_UNSET_KEY", raising=False)
    assert resolve_pseudonym_key("TG_UNSET_KEY", "tg-test-pii-key", tmp_path) == b"block-key-value-" + b"b" * 17
    assert not (tmp_path / "secrets").exists()
