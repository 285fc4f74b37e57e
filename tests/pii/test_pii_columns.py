"""Every text column that reaches a dataset is scrubbed (P13): the causal-LM target, kept extra columns; a
column declared non-personal is residual-scanned instead, and the evidence is per column."""

import json
from pathlib import Path

import pandas as pd
import pytest

from tasks.config import PipelineConfig, load_config
from tasks.errors import ConfigError, PiiGateFailed
from tasks.ingest.read import load_documents

ROOT = Path(__file__).resolve().parents[2]
NAME, PHONE, EMAIL = "Jane Doherty", "+44 7700 900123", "jane.doherty@example.com"
RESPONSE = f"Dear Mrs {NAME}, we will call {PHONE} about your claim"


@pytest.fixture(scope="module")
def pii():
    return load_config(ROOT / "examples" / "claims.yaml").pii.model_copy(update={"workers": 1, "estimate_docs": 0})


def _dataset(tmp: Path, rows: list[dict], keep: list[str] = (), label_is_text: bool = False):
    tmp.mkdir(parents=True, exist_ok=True)
    src = tmp / "src.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    more = {"label_is_text": True} if label_is_text else {}  # a causal LM's free-text label is not counted
    return load_documents(src, tmp / "run" / "dataset.parquet", keep_columns=list(keep), **more)


def _sft_rows(n: int = 12) -> list[dict]:
    return [{"id": f"d{i}", "text": f"Claim {i}: water came through the kitchen ceiling.",
             "label": f"{RESPONSE} number {i}."} for i in range(n)]


def _columns(task: str = "classification", non_personal: list[str] = ()):
    from tasks.pii.columns import ScrubColumns

    cfg = PipelineConfig()
    cfg = cfg.model_copy(update={"train": cfg.train.model_copy(update={"task": task}),
                                 "data": cfg.data.model_copy(update={"non_personal_columns": list(non_personal)})})
    return ScrubColumns.of(cfg.train, cfg.data)


def _raw_anywhere(folder: Path, values: list[str]) -> list[str]:
    """Files under ``folder`` holding any of ``values`` (Parquet read as text)."""
    out = []
    for f in sorted(p for p in folder.rglob("*") if p.is_file()):
        blob = "\n".join(map(str, pd.read_parquet(f).to_numpy().ravel())) if f.suffix == ".parquet" \
            else f.read_text(errors="ignore")
        out += [f"{f.name}: {v}" for v in values if v in blob]
    return out


def test_causal_lm_target_is_scrubbed_indexed_and_not_counted(tmp_path, pii):
    from tasks.pii.ops import pseudonym_key
    from tasks.pii.subjects import find_in_indexes, subject_hashes
    from tasks.pii.task import scrub_pii

    dataset = _dataset(tmp_path, _sft_rows(), label_is_text=True)
    assert dataset.label_counts == {}  # the raw dataset's reference holds no response text either
    run = tmp_path / "run"
    ref, evidence = scrub_pii.fn(dataset, pii, run, columns=_columns("causal_lm"))
    labels = pd.read_parquet(ref.uri)["label"].tolist()
    assert all(NAME not in x and "7700" not in x and "<PHONE_NUMBER" in x for x in labels), labels[0]
    assert ref.label_counts == {}
    assert evidence.columns["label"]["treatment"] == "scrubbed"
    assert evidence.columns["label"]["counts_by_entity"]["PHONE_NUMBER"] == 12
    # the subject index covers the response: the person is found (and so can be erased) by their phone number
    key = pseudonym_key(pii, tmp_path, index=True)
    [hit] = find_in_indexes([run], subject_hashes([("PHONE_NUMBER", PHONE)], key), key)
    assert len(hit.ids) == 12
    assert _raw_anywhere(run, [NAME, PHONE, "7700 900123"]) == [f"dataset.parquet: {v}"
                                                                   for v in (NAME, PHONE, "7700 900123")]


def test_keep_columns_of_text_are_scrubbed(tmp_path, pii):
    from tasks.pii.task import scrub_pii

    rows = [{"id": f"d{i}", "text": f"Claim {i}: hail damage to the roof.", "label": "property",
             "handler_note": f"Customer asked us to write to {EMAIL} instead."} for i in range(10)]
    dataset = _dataset(tmp_path, rows, keep=["handler_note"])
    ref, evidence = scrub_pii.fn(dataset, pii, tmp_path / "run")
    notes = pd.read_parquet(ref.uri)["handler_note"].tolist()
    assert all(EMAIL not in n and "<EMAIL_ADDRESS>" in n for n in notes), notes[0]
    assert evidence.columns["handler_note"]["counts_by_entity"] == {"EMAIL_ADDRESS": 10}
    assert evidence.columns["text"]["treatment"] == "scrubbed" and evidence.counts_by_entity["EMAIL_ADDRESS"] == 10
    assert ref.label_counts == {"property": 10}  # a class label is counted, and left as it is


def test_non_personal_column_holding_an_email_fails_the_gate_naming_the_column(tmp_path, pii):
    from tasks.errors import PersonalDataInColumn
    from tasks.pii.task import scrub_pii

    rows = [{"id": f"d{i}", "text": f"Claim {i}: hail damage.", "label": "property",
             "branch": f"Leeds, contact {EMAIL}" if i < 3 else "Leeds"} for i in range(10)]
    dataset = _dataset(tmp_path, rows, keep=["branch"])
    run = tmp_path / "run"
    with pytest.raises(PersonalDataInColumn) as err:
        scrub_pii.fn(dataset, pii, run, columns=_columns(non_personal=["branch"]))
    msg = str(err.value)
    assert isinstance(err.value, PiiGateFailed)
    assert "'branch'" in msg and "data.non_personal_columns" in msg and "e-mail" in msg
    assert EMAIL not in msg and "doherty" not in msg.lower()
    assert not (run / "scrubbed.parquet").exists()
    evidence = json.loads((run / "pii_evidence.json").read_text())
    assert evidence["passed"] is False
    branch = evidence["columns"]["branch"]
    assert branch["treatment"] == "residual_scan" and branch["residual_by_type"] == {"EMAIL_ADDRESS": 3}
    assert evidence["columns"]["text"]["residual_count"] == 0
    assert {r["column"] for r in evidence["residual_at"]} == {"branch"}

    # the same column without identifiers is kept as it is (not rewritten), and passes
    clean = _dataset(tmp_path / "clean", [{**r, "branch": "Leeds"} for r in rows], keep=["branch"])
    ref, evidence = scrub_pii.fn(clean, pii, tmp_path / "clean" / "run", columns=_columns(non_personal=["branch"]))
    assert pd.read_parquet(ref.uri)["branch"].eq("Leeds").all() and evidence.columns["branch"]["residual_count"] == 0


def test_a_class_label_is_kept_but_residual_scanned(tmp_path, pii):
    from tasks.errors import PersonalDataInColumn
    from tasks.pii.task import scrub_pii

    rows = [{"id": f"d{i}", "text": f"Claim {i}: hail damage.", "label": EMAIL if i == 0 else "property"}
            for i in range(10)]
    with pytest.raises(PersonalDataInColumn, match="'label'") as err:
        scrub_pii.fn(_dataset(tmp_path, rows), pii, tmp_path / "run")
    assert EMAIL not in str(err.value)


def test_non_personal_may_not_name_the_text_or_the_training_target(tmp_path, pii):
    from tasks.pii.task import scrub_pii

    dataset = _dataset(tmp_path, _sft_rows(3), label_is_text=True)
    for task, column in (("classification", "text"), ("causal_lm", "label")):
        with pytest.raises(ConfigError, match=f"data.non_personal_columns.*'{column}'"):
            scrub_pii.fn(dataset, pii, tmp_path / "run", columns=_columns(task, [column]))


def test_recall_is_estimated_per_scrubbed_column(tmp_path, pii):
    from tasks.pii.task import scrub_pii

    dataset = _dataset(tmp_path, _sft_rows(8), label_is_text=True)
    _, evidence = scrub_pii.fn(dataset, pii.model_copy(update={"estimate_docs": 4}), tmp_path / "run",
                               columns=_columns("causal_lm"))
    for column in ("text", "label"):
        assert evidence.columns[column]["estimated_recall"]["_overall"]["inserted"] == 8, column
    total = sum(evidence.columns[c]["estimated_recall"]["_overall"]["inserted"] for c in ("text", "label"))
    assert evidence.estimated_recall["_overall"]["inserted"] == total  # the top level pools every column


def test_split_of_a_causal_lm_dataset_counts_no_responses(tmp_path):
    from tasks.train.split import write_split

    dataset = _dataset(tmp_path, _sft_rows(20), label_is_text=True)  # every response is different
    split = write_split(dataset, 0.2, 0.1, 13, tmp_path / "run")  # not stratified by response: one row each
    assert split.train.label_counts == split.test.label_counts == {}
    assert (split.train.rows, split.val.rows, split.test.rows) == (14, 2, 4) and split.train.label_is_text


NAMES = ["Jane Doherty", "Anna Kowalski", "Daniel Ferreira", "Priya Raman", "Thomas Whitfield", "Grace Okafor",
         "Oliver Brennan", "Sophie Lindqvist", "Marcus Adeyemi", "Helen Castellano"]


@pytest.mark.slow
def test_sft_corpus_leaves_no_identifier_at_rest(tmp_path, prefect_harness):
    """A causal LM trained on responses that name people and give their phone numbers and e-mail (a kept
    column): after the run, none of them is in any file of the work folder (datasets, splits, subject index,
    model, checkpoints, Prefect results), in MLflow (database and artifacts: the reference sample, lineage,
    card) or in the Prefect server's database."""

    import torch
    from prefect.settings import PREFECT_SERVER_DATABASE_CONNECTION_URL

    from flows.train import train_pipeline
    from tasks.registry.versions import get_version, tracking_uri
    from tests.pipeline.test_pipeline import raw_at_rest, small_config
    from tests.tiny_models import tiny_llama

    torch.manual_seed(0)
    llama = tiny_llama(tmp_path / "llama")
    cfg = small_config(tmp_path, train={"task": "causal_lm", "base_model": str(llama), "max_length": 96,
                                        "max_steps": 4, "learning_rate": 0.01, "canaries": 2},
                       data={"keep_columns": ["handler_note", "branch"], "non_personal_columns": ["branch"]},
                       quality={"min_rows": 50, "labels": [], "min_per_class": 0},
                       promotion={"primary_metric": "perplexity", "floors": {"perplexity": 1e6}})
    rows, planted = [], set()
    for i in range(80):
        name, phone = NAMES[i % len(NAMES)], f"+44 7700 9{i:05d}"
        email = f"{name.split()[0].lower()}.{name.split()[1].lower()}{i}@example.com"
        rows.append({"id": f"sft-{i:03d}", "text": f"Claim {i}: the customer reports water through the ceiling "
                     f"of room {i % 7}.", "label": f"Dear Mrs {name}, we will call {phone} to book the assessor.",
                     "handler_note": f"Customer prefers e-mail: {email}", "branch": ["Leeds", "Bristol"][i % 2],
                     "created_at": f"2025-01-{1 + i % 28:02d}T09:00:00Z"})
        planted |= {name, phone, email}
    Path(cfg.data.source).parent.mkdir(parents=True)
    Path(cfg.data.source).write_text("".join(json.dumps(r) + "\n" for r in rows))

    result = train_pipeline(cfg, trigger="test")
    ref = get_version(cfg.registry_scope, "champion")
    assert ref.version == result.version
    reference = pd.read_parquet(ref.local_dir / "reference" / "reference.parquet")
    assert reference["label"].str.contains("<PERSON").all() and reference["label"].str.contains("<PHONE").all()
    evidence = json.loads((ref.local_dir / "pii_evidence.json").read_text())
    assert evidence["columns"]["label"]["counts_by_entity"]["PHONE_NUMBER"] == 80
    assert evidence["columns"]["handler_note"]["counts_by_entity"] == {"EMAIL_ADDRESS": 80}
    assert evidence["columns"]["branch"]["treatment"] == "residual_scan"
    lineage = json.loads((ref.local_dir / "lineage.json").read_text())
    assert lineage["raw_dataset"]["label_counts"] == lineage["split"]["train"]["label_counts"] == {}

    prefect_db = Path(PREFECT_SERVER_DATABASE_CONNECTION_URL.value().split(":///", 1)[1])
    stores = [cfg.work_path(), Path(tracking_uri(cfg.registry_scope).removeprefix("sqlite:///")), prefect_db.parent]
    assert raw_at_rest([Path(cfg.data.source)], planted)  # the scan finds them where they are: the user's source
    assert raw_at_rest(stores, planted) == []
