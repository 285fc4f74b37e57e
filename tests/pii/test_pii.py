"""Scrubber behaviour: operators, keys, keep-list, files in every format, the residual gate, bad input."""

import hashlib
import hmac
import json
import re
import stat
from pathlib import Path

import pandas as pd
import pytest
from pydantic import ValidationError

from flows.cli import main as cli
from tasks.config import KeepList, PiiConfig, load_config
from tasks.errors import ConfigError, InputError, PiiGateFailed
from tasks.ingest.sample_data import write_sample
from tasks.pii.engine import Scrubber
from tasks.pii.ops import Span, merge_overlaps, normalise, pseudonym, resolve_pseudonym_key
from tasks.pii.residual import scan
from tasks.pii.score import score
from tasks.pii.stream import scrub_file
from tasks.pii.task import scrub_pii

ROOT = Path(__file__).resolve().parents[2]
KEY = b"test-key"


@pytest.fixture(scope="module")
def pii() -> PiiConfig:
    return load_config(ROOT / "examples" / "claims.yaml").pii.model_copy(update={"workers": 1})


@pytest.fixture(scope="module")
def scrubber(pii) -> Scrubber:
    return Scrubber(pii, KEY)


def test_pseudonyms_are_consistent_keyed_and_not_the_value(scrubber):
    a, b, c = scrubber.scrub_texts([
        "Spoke to Mrs Jane Doherty about the leak.",
        "spoke to jane  doherty, she will send photos",
        "Spoke to Mrs Anna Kowalski about the leak.",
    ])
    (tok,) = re.findall(r"<PERSON_[0-9a-f]{16}>", a)  # 64 bits
    assert tok in b and tok not in c and re.search(r"<PERSON_[0-9a-f]{16}>", c)
    assert "doherty" not in (a + b).lower()
    assert pseudonym("PERSON", "Jane Doherty", b"other-key") != tok
    assert normalise("PERSON", "Mrs  JANE Doherty") == normalise("PERSON", "jane doherty")


def test_placeholder_and_mask_leave_nothing_of_the_value(pii):
    ops = {"default": "placeholder", "CREDIT_CARD": "mask"}
    s = Scrubber(pii.model_copy(update={"operators": ops}), None)
    (out,) = s.scrub_texts(["card 4111 1111 1111 1111 and email jo@example.com"])
    assert out == "card " + "*" * 19 + " and email <EMAIL_ADDRESS>"


def test_unknown_operator_entity_is_a_config_error(pii):
    with pytest.raises(ConfigError, match="PERSN"):
        Scrubber(pii.model_copy(update={"operators": {"PERSN": "mask"}}), None)


def test_key_comes_from_env_else_a_private_dev_key(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("TG_TEST_KEY", "from-env-" + "x" * 23)
    assert resolve_pseudonym_key("TG_TEST_KEY", None, tmp_path) == b"from-env-" + b"x" * 23
    monkeypatch.delenv("TG_TEST_KEY")
    with caplog.at_level("WARNING"):
        k1 = resolve_pseudonym_key("TG_TEST_KEY", None, tmp_path, allow_dev=True)
    key_file = tmp_path / "secrets" / "pii.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert resolve_pseudonym_key("TG_TEST_KEY", None, tmp_path, allow_dev=True) == k1 and len(k1) >= 32
    assert "Production must set $TG_TEST_KEY" in caplog.text
    with pytest.raises(ValidationError):  # the key can never be put in the config itself
        PiiConfig.model_validate({"pseudonym_key": "abc"})


def test_pseudonyms_do_not_collide_in_a_big_corpus_and_are_stable_across_runs():
    """200,000 distinct names: 64-bit tokens give none of the ~1,200 collisions 24-bit tokens would."""
    tokens = {pseudonym("PERSON", f"Person {i}", b"k") for i in range(200_000)}
    assert len(tokens) == 200_000
    assert pseudonym("PERSON", "Mrs Jane Doherty", b"k") == pseudonym("PERSON", "jane doherty", b"k") \
        == "<PERSON_" + hmac.new(b"k", b"PERSON\x00jane doherty", hashlib.sha256).hexdigest()[:16] + ">"


def test_a_required_key_fails_closed_and_writes_no_development_key(tmp_path, monkeypatch, prefect_harness):
    from tasks.errors import ConfigError, PseudonymKeyMissing
    from tasks.pii.ops import pseudonym_key
    from tasks.runtime import key_required

    monkeypatch.delenv("TG_TEST_KEY", raising=False)
    with pytest.raises(PseudonymKeyMissing, match=r"\$TG_TEST_KEY") as err:
        resolve_pseudonym_key("TG_TEST_KEY", None, tmp_path, require=True)
    assert isinstance(err.value, ConfigError) and not (tmp_path / "secrets").exists()
    strict = PiiConfig(operators={"PERSON": "pseudonym"}, pseudonym_key_env="TG_TEST_KEY", require_key=True)
    with pytest.raises(PseudonymKeyMissing):
        pseudonym_key(strict, tmp_path)
    assert pseudonym_key(strict.model_copy(update={"operators": {"default": "placeholder"}}), tmp_path) is None
    monkeypatch.setenv("TG_TEST_KEY", "prod-key-" + "p" * 23)
    assert pseudonym_key(strict, tmp_path) == b"prod-key-" + b"p" * 23
    # the default (None) requires a key in a deployment's runs only: not here, nor in a plain flow run
    assert key_required(None) is False and key_required(True) is True and key_required(False) is False

    from prefect import flow

    @flow
    def plain() -> bool:
        return key_required(None)

    assert plain() is False


def test_keep_list_terms_survive_but_pii_next_to_them_does_not(scrubber):
    text = ("Mini owned by Harry Jones, reg AB12 CDE, hit a Land Rover; cover DriveSafe Comprehensive, "
            "peril MTR-04, reserve £2,400.00. Kia Sportage next.")
    (out,) = scrubber.scrub_texts([text])
    for term in ("Mini", "Land Rover", "DriveSafe Comprehensive", "MTR-04", "£2,400.00", "Kia"):
        assert term in out
    assert "Harry" not in out and "AB12 CDE" not in out


@pytest.mark.parametrize("spans, merged", [
    ([Span(0, 5, "A", 0.5), Span(3, 9, "B", 0.9)], [Span(0, 9, "B", 0.9)]),
    ([Span(0, 5, "A", 0.9), Span(5, 9, "B", 0.9)], [Span(0, 5, "A", 0.9), Span(5, 9, "B", 0.9)]),
    ([Span(2, 4, "A", 1.0), Span(0, 10, "B", 1.0)], [Span(0, 10, "B", 1.0)]),
])
def test_overlapping_spans_are_merged_not_dropped(spans, merged):
    assert merge_overlaps(spans) == merged


@pytest.mark.parametrize("text, expected", [
    ("call 07700 900123", {"DIGIT_RUN": 1}),  # what it is, not a guess at its type
    ("call +44 7700 900123", {"PHONE_NUMBER": 1}),
    ("mail a.b@c.co.uk", {"EMAIL_ADDRESS": 1}),
    ("at LS1 4AB", {"UK_POSTCODE": 1}),
    ("card 4111 1111 1111 1111", {"CARD_NUMBER": 1}),
    ("card 4111 1111 1111 1112", {"DIGIT_RUN": 1}),  # fails Luhn, still an identifier-like run
    ("nhs 943 476 5919", {"DIGIT_RUN": 1}),
    ("ssn 078-05-1120", {"US_SSN": 1}),
    ("iban GB82 WEST 1234 5698 7654 32", {"IBAN_CODE": 1}),
    ("<PERSON_7f3a2c> paid £2,400 for EOW-12 under <POLICY_NUMBER> ****", {}),
    ("C57BL/6 mice and CD45RA+ cells; Q5 7BL is no postcode area", {}),  # lab codes are not postcodes
    ("12 34 56 78 90 12 34 56 78 90 11 22 33 44", {}),  # a row of a number table
    ("p = 0.0123456789012 and 3.14159265358979", {}),
    ("4111 1111 1111 1112, nhs 943 476 5918 and 12-34-56", {"DIGIT_RUN": 2}),
])
def test_residual_scan(text, expected):
    assert dict(scan(text)) == expected


def test_residual_scan_gives_offsets_and_honours_the_keep_list():
    from tasks.pii.ops import keep_matchers
    from tasks.pii.residual import find

    text = "marker CD4 5RA and sample 12345678901 then LS1 4AB"
    hits = find(text)
    assert [(k, text[a:b]) for k, a, b in hits] == [("DIGIT_RUN", "12345678901"), ("UK_POSTCODE", "LS1 4AB")]
    assert find(text, keep_matchers([], [r"\bsample \d+"])) == [hits[1]]


def test_score_counts_coverage_precision_and_lost_terms():
    gold = {"d1": {"pii": [{"start": 0, "end": 10, "type": "PERSON"}, {"start": 20, "end": 30, "type": "UK_NINO"}],
                   "keep": [{"start": 40, "end": 44, "type": "VEHICLE_MAKE"}]}}
    pred = {"d1": [(0, 10, "PERSON"), (20, 25, "UK_NINO"), (40, 44, "PERSON")]}
    metrics, lost = score(gold, pred)
    assert metrics["PERSON"] == {"recall": 1.0, "precision": 0.5, "f2": pytest.approx(0.8333, abs=1e-3), "support": 1,
                                 "detected": 2}
    assert metrics["UK_NINO"]["recall"] == 0.0  # half a NINO is not caught
    assert lost == 1.0


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_scrub_file_keeps_rows_order_and_other_columns(tmp_path, pii, suffix):
    src = write_sample(tmp_path / f"in{suffix}", rows=40, seed=3)
    out, spans = tmp_path / f"out{suffix}", tmp_path / "out.spans.jsonl"
    stats = scrub_file(src, out, "text", pii, KEY, spans)
    read = {".jsonl": lambda p: pd.read_json(p, lines=True, dtype=False), ".csv": lambda p: pd.read_csv(p, dtype=str),
            ".parquet": pd.read_parquet}[suffix]
    before, after = read(src), read(out)
    assert list(after.columns) == list(before.columns) and list(after["id"]) == list(before["id"])
    others = [c for c in before.columns if c != "text"]
    pd.testing.assert_frame_equal(before[others], after[others])
    assert stats.docs == 40 and stats.residual_count == 0
    gold = [json.loads(x) for x in Path(f"{src}.pii.jsonl").read_text().splitlines()]
    for g, text in zip(gold, after["text"]):
        original = before.loc[before["id"] == g["id"], "text"].item()
        for s in g["pii"]:
            assert original[s["start"]:s["end"]] not in text
    detected = [json.loads(x) for x in spans.read_text().splitlines()]
    assert [d["id"] for d in detected] == list(before["id"])
    assert all(set(s) == {"start", "end", "type"} for d in detected for s in d["spans"])


def test_residual_gate_fails_names_documents_and_writes_nothing(tmp_path, pii):
    src = tmp_path / "in.jsonl"
    # an 11-digit number with no cue: no detector claims it, the independent scan sees a digit run
    src.write_text("".join(json.dumps({"id": f"note-{i}", "text": f"meter reading 9876543210{i} noted"}) + "\n"
                           for i in range(5)))
    out = tmp_path / "out.jsonl"
    with pytest.raises(PiiGateFailed) as e:
        scrub_file(src, out, "text", pii, KEY, tmp_path / "out.spans.jsonl")
    msg = str(e.value)
    assert "5 identifier-like digit runs" in msg and "document 'note-0' at 14-25" in msg
    assert "98765432100" not in msg and "pii.keep" in msg
    assert not out.exists() and not (tmp_path / "out.spans.jsonl").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["in.jsonl"]
    # a domain term is allowed in one line of config: the scan honours the keep-list
    allowed = pii.model_copy(update={"keep": KeepList(patterns=[r"reading \d{11}"])})
    assert scrub_file(src, out, "text", allowed, KEY, tmp_path / "out.spans.jsonl").residual_count == 0


def test_bad_documents_do_not_crash_or_pass_silently(tmp_path, pii):
    long_doc = ("The kitchen ceiling came down after the leak. " * 2200) + "Email jane.doe@example.com now."
    docs = ["", None, long_doc, "Der Versicherte Herr Müller, Tel. 07700 900123, E-Mail hans@beispiel.de.",
            "客户 李伟 的电话 07700 900456 邮箱 li.wei@example.cn",
            "jane.doe@example.com 07700 900789 LS1 4AB AB123456C",
            "\x00\x01\ufffd\x7f\x1b[31m garbage \udcff 4111 1111 1111 1111 \x00 ok@example.org"]
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"id": str(i), "text": t}) + "\n" for i, t in enumerate(docs)))
    assert len(long_doc) > 100_000
    stats = scrub_file(src, tmp_path / "out.jsonl", "text", pii, KEY, tmp_path / "s.jsonl")
    out = [json.loads(x)["text"] for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert out[0] == "" and out[1] is None and stats.docs == 7 and stats.residual_count == 0
    for value in ("jane.doe@example.com", "07700 900123", "hans@beispiel.de", "07700 900456", "li.wei@example.cn",
                  "07700 900789", "LS1 4AB", "AB123456C", "4111 1111 1111 1111", "ok@example.org"):
        assert not any(value in (t or "") for t in out), value
    assert out[5].split() == ["<EMAIL_ADDRESS>", "<PHONE_NUMBER>", "<UK_POSTCODE>", "<UK_NINO>"]


@pytest.mark.parametrize("content, message", [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", "not UTF-8"),
    (b'{"id": 1, "text": "ok"}\n{not json}\n', ":2:"),
    (b'{"id": 1, "text": 42}\n', "holds int"),
])
def test_unreadable_input_is_a_named_error(tmp_path, pii, content, message):
    src = tmp_path / "in.jsonl"
    src.write_bytes(content)
    with pytest.raises(InputError, match=message):
        scrub_file(src, tmp_path / "out.jsonl", "text", pii, KEY, tmp_path / "s.jsonl")
    assert not (tmp_path / "out.jsonl").exists()


@pytest.mark.slow  # a real MLflow registry made and migrated per test: 5-17 s
def test_cli_scrub_and_eval(tmp_path, capsys):
    src = write_sample(tmp_path / "claims.csv", rows=30, seed=5)
    out = tmp_path / "scrubbed.csv"
    assert cli(["scrub", "--input", str(src), "--output", str(out),
                "--config", str(ROOT / "examples/claims.yaml")]) == 0
    assert cli(["pii-eval", "--gold", f"{src}.pii.jsonl", "--scrubbed", str(out)]) == 0
    table = capsys.readouterr().out
    assert "_structured" in table and "domain terms lost" in table
    assert cli(["scrub", "--input", str(tmp_path / "missing.csv"), "--output", str(out)]) == 2


def test_cli_scrub_exits_non_zero_when_the_gate_fails(tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": "1", "text": "meter reading 98765432101 noted"}) + "\n")
    cfg = tmp_path / "strict.yaml"
    cfg.write_text("pii:\n  workers: 1\n")
    out = tmp_path / "out.jsonl"
    assert cli(["scrub", "--input", str(src), "--output", str(out), "--config", str(cfg)]) == PiiGateFailed.exit_code
    err = capsys.readouterr().err
    assert err.startswith("PiiGateFailed:") and "98765432101" not in err and "document '1'" in err
    assert not out.exists()


def test_scrub_pii_task_writes_scrubbed_dataset_and_evidence(tmp_path, pii):
    src = write_sample(tmp_path / "claims.jsonl", rows=60, seed=9)
    df = pd.read_json(src, lines=True, dtype=False)
    df = df.rename(columns={"created_at": "timestamp"})[["id", "text", "label", "timestamp", "product"]]
    df["timestamp"] = pd.to_datetime(df["timestamp"], utc=True)
    (tmp_path / "runs" / "r1").mkdir(parents=True)
    df.to_parquet(tmp_path / "dataset.parquet", index=False)
    from tasks.pii.stream import describe_parquet

    ref, ev = scrub_pii.fn(describe_parquet(tmp_path / "dataset.parquet", False), pii, tmp_path / "runs" / "r1",
                           Path(f"{src}.pii.jsonl"))
    assert ref.scrubbed and ref.rows == 60 and ref.label_counts == df["label"].value_counts().to_dict()
    assert ev.passed and ev.docs == 60 and ev.metrics_by_entity["_structured"]["recall"] >= 0.99
    saved = json.loads((tmp_path / "runs" / "r1" / "pii_evidence.json").read_text())
    assert saved == ev.model_dump(mode="json")
    scrubbed = pd.read_parquet(ref.uri)
    assert (scrubbed["product"] == df["product"]).all() and (scrubbed["text"] != df["text"]).any()


@pytest.mark.slow  # scrubs the estimate's documents twice (9 s on an idle 2-core machine)
def test_recall_estimate_is_recorded_and_gates_the_run(tmp_path, pii):
    """The estimate is in the evidence (seeded by the data, so a rerun gives the same figure); a bar just
    above it stops the run and leaves no scrubbed dataset; production scrubs (estimate=False) skip it."""
    from tasks.pii.stream import describe_parquet

    src = write_sample(tmp_path / "claims.jsonl", rows=40, seed=3)
    df = pd.read_json(src, lines=True, dtype=False)[["id", "text", "label"]]
    df.to_parquet(tmp_path / "dataset.parquet", index=False)
    ref = describe_parquet(tmp_path / "dataset.parquet", False)
    probed = pii.model_copy(update={"estimate_docs": 30})
    _, ev = scrub_pii.fn(ref, probed, tmp_path / "runs" / "a")
    est = ev.estimated_recall["_overall"]
    assert est["inserted"] == 60 and 0.5 <= est["recall"] <= 1.0
    assert {e for e in ev.estimated_recall if not e.startswith("_")} >= {"PERSON", "UK_NINO", "US_SSN", "EU_VAT"}
    # A scrubber that only keeps near-certain detections misses many probes, and the gate says so.
    timid = probed.model_copy(update={"score_threshold": 0.95, "residual_max_rate": 1.0, "min_estimated_recall": 0.9})
    with pytest.raises(PiiGateFailed, match="estimated recall 0\\.[0-8]"):
        scrub_pii.fn(ref, timid, tmp_path / "runs" / "b")
    assert not (tmp_path / "runs" / "b" / "scrubbed.parquet").exists()
    failed = json.loads((tmp_path / "runs" / "b" / "pii_evidence.json").read_text())
    assert failed["passed"] is False and failed["estimated_recall"]["_overall"]["recall"] < 0.9
    _, again = scrub_pii.fn(ref, probed, tmp_path / "runs" / "c")
    assert again.estimated_recall == ev.estimated_recall
    _, prod = scrub_pii.fn(ref, probed, tmp_path / "runs" / "d", None, False)
    assert prod.estimated_recall == {}


@pytest.mark.slow
def test_worker_pool_gives_the_same_output_as_in_process(tmp_path, pii, monkeypatch):
    import tasks.pii.stream as stream

    monkeypatch.setattr(stream, "MIN_POOL_ROWS", 10)
    src = write_sample(tmp_path / "in.jsonl", rows=80, seed=4)
    scrub_file(src, tmp_path / "one.jsonl", "text", pii, KEY, tmp_path / "one.s.jsonl", workers=1)
    scrub_file(src, tmp_path / "two.jsonl", "text", pii, KEY, tmp_path / "two.s.jsonl", workers=2)
    assert (tmp_path / "one.jsonl").read_text() == (tmp_path / "two.jsonl").read_text()
    assert (tmp_path / "one.s.jsonl").read_text() == (tmp_path / "two.s.jsonl").read_text()


def test_invalid_keep_pattern_is_a_config_error(pii):
    with pytest.raises(ConfigError, match=r"pii.keep.patterns\[1\]"):
        Scrubber(pii.model_copy(update={"keep": KeepList(patterns=["ok", "(unclosed"])}), None)
