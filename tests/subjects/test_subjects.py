"""The subject index and `tunegate subject find`: a person found by keyed hashes, never by a stored value."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tasks.config import PiiConfig, PipelineConfig
from tasks.errors import ConfigError, InputError
from tasks.pii.ops import subject_form, subject_hash
from tasks.pii.subjects import SUBJECT_INDEX, read_values

KNOWN = {"PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER", "UK_NINO"}
DOCS = [
    ("d1", "Spoke to Mrs Jane Doherty on 07700 900123 about the leak; email jane.doherty@example.com."),
    ("d2", "Jane Doherty called back from +44 7700 900123."),
    ("d3", "Policyholder Anna Kowalski reported a burst pipe, NI number AB123456C."),
    ("d4", "Roof tiles lifted in the storm; no contact details given."),
]


@pytest.mark.parametrize("entity, a, b", [
    ("PHONE_NUMBER", "07700 900123", "+44 7700 900123"),
    ("PHONE_NUMBER", "(415) 555-2671", "+1 415-555-2671"),
    ("EMAIL_ADDRESS", "Jane.Doherty@Example.com ", "jane.doherty@example.com"),
    ("PERSON", "Mrs Jane  Doherty", "jane doherty"),
    ("UK_NINO", "AB 12 34 56 C", "ab123456c"),
])
def test_one_identifier_in_any_format_is_one_subject(entity, a, b):
    assert subject_form(entity, a) == subject_form(entity, b)
    assert subject_hash(entity, a, b"k") == subject_hash(entity, b, b"k") != subject_hash(entity, b, b"other")
    assert subject_hash(entity, a, b"k") != subject_hash(entity, "someone else entirely", b"k")


@pytest.mark.parametrize("content, message", [
    ("", "holds no `ENTITY: value` line"),
    ("# only a comment\n\n", "holds no `ENTITY: value` line"),
    ("Jane Doherty\n", ":1: expected `ENTITY: value`"),
    ("PERSON:\n", ":1: expected `ENTITY: value`"),
    ("PERSON: Jane Doherty\nDoherty: Jane\n", ":2: unknown identifier type"),
])
def test_a_bad_value_file_is_a_named_error_that_quotes_no_value(tmp_path, content, message):
    f = tmp_path / "values.txt"
    f.write_text(content)
    with pytest.raises(InputError, match=message) as err:
        read_values(f, KNOWN)
    assert "Jane" not in str(err.value) and "Doherty" not in str(err.value)
    with pytest.raises(InputError, match="not found"):
        read_values(tmp_path / "missing.txt", KNOWN)


@pytest.fixture(scope="module")
def scrubbed_run(tmp_path_factory):
    """A real scrub (the pipeline's task body) of four documents into ``work/runs/r1``."""
    from tasks.pii.stream import describe_parquet
    from tasks.pii.task import scrub_pii

    tmp = tmp_path_factory.mktemp("subjects")
    pd.DataFrame({"id": [d for d, _ in DOCS], "text": [t for _, t in DOCS], "label": ["x"] * len(DOCS)}) \
        .to_parquet(tmp / "dataset.parquet")
    cfg = PipelineConfig(work_dir=str(tmp / "work"), pii=PiiConfig(workers=1, estimate_docs=0))
    run_dir = cfg.work_path("runs", "r1")
    scrub_pii.fn(describe_parquet(tmp / "dataset.parquet", False), cfg.pii, run_dir)
    return cfg, run_dir


def test_the_index_holds_keyed_hashes_and_no_value(scrubbed_run):
    _, run_dir = scrubbed_run
    index = pd.read_parquet(run_dir / SUBJECT_INDEX)
    assert list(index.columns) == ["id", "entity", "hash"] and set(index["id"]) == {"d1", "d2", "d3"}
    assert set(index["entity"]) >= {"PERSON", "PHONE_NUMBER", "EMAIL_ADDRESS", "UK_NINO"}
    blob = (run_dir / SUBJECT_INDEX).read_bytes()
    for value in ("Doherty", "900123", "jane.doherty", "Kowalski", "AB123456C"):
        assert value.encode() not in blob and value.lower().encode() not in blob.lower()


def test_find_follows_a_person_in_any_format_and_no_one_else(scrubbed_run, tmp_path, monkeypatch):
    from tasks.subjects.find import find_subject

    cfg, _ = scrubbed_run
    values = tmp_path / "values.txt"
    values.write_text("PERSON: jane doherty\nPHONE_NUMBER: +447700900123\n")
    report = find_subject(cfg.registry_scope, cfg.pii, values, KNOWN)
    [(hit, digest)] = report.datasets
    assert hit.ids == ["d1", "d2"] and hit.matched == {"PERSON": 2, "PHONE_NUMBER": 2} and digest
    assert report.versions == {} and report.store_rows == {}  # no model trained on it yet, nothing stored
    out = "\n".join(report.lines("m"))
    assert "d1, d2" in out and "doherty" not in out.lower() and "7700" not in out

    values.write_text("EMAIL_ADDRESS: nobody@example.com\n")
    assert find_subject(cfg.registry_scope, cfg.pii, values, KNOWN).datasets == []

    monkeypatch.setenv(cfg.pii.pseudonym_key_env, "a-different-key-" + "d" * 16)
    values.write_text("PERSON: Jane Doherty\n")
    with pytest.raises(ConfigError, match="another pseudonymisation key"):
        find_subject(cfg.registry_scope, cfg.pii, values, KNOWN)


def test_the_subject_command_prints_ids_and_counts(scrubbed_run, tmp_path, capsys):
    from flows.cli import main

    cfg, _ = scrubbed_run
    cfg_file = tmp_path / "cfg.yaml"
    cfg_file.write_text(json.dumps(cfg.model_dump(mode="json")))
    values = tmp_path / "v.txt"
    values.write_text("UK_NINO: ab 12 34 56 c\n")
    assert main(["subject", "find", "--config", str(cfg_file), "--value-file", str(values)]) == 0
    out = capsys.readouterr().out
    assert "found in 1 document(s) of 1 dataset(s)" in out and "ids d3" in out and "AB" not in out
    assert main(["subject", "find", "--config", str(cfg_file), "--value-file", str(Path(tmp_path, "none"))]) == 2
