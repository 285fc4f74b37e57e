"""The sample corpus: deterministic, labelled, and its PII/keep sidecar matches the text exactly."""

import collections
import ipaddress
import itertools
import json
import re
import statistics
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from tasks.checksums import iban_checksum_ok, luhn_valid, nhs_check_digit
from tasks.config import load_config
from tasks.ingest.sample_data import LABELS, generate, write_sample
from tasks.ingest.sample_text import NEW_PRODUCT

ROOT = Path(__file__).resolve().parents[2]
CFG = load_config(ROOT / "examples" / "claims.yaml")
REFS = {r.entity: re.compile(r.pattern) for r in CFG.pii.references}
KEEP_PATTERNS = [re.compile(p) for p in CFG.pii.keep.patterns]
LITERALS = set(CFG.pii.keep.literals)
NINO = re.compile(r"^(?!BG|GB|NK|KN|TN|NT|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]$")


def _phone_ok(s: str) -> bool:
    digits = re.sub(r"\D", "", s.replace("(0)", ""))
    digits = "0" + digits[2:] if s.startswith("+44") else digits
    return bool(re.fullmatch(r"[+\d() ]+", s)) and len(digits) == 11 and digits[0] == "0"


def _date_ok(s: str) -> bool:
    for fmt in ("%d/%m/%Y", "%d %B %Y", "%Y-%m-%d", "%d.%m.%Y"):
        try:
            return 1900 < datetime.strptime(s, fmt).year < 2010
        except ValueError:
            pass
    return False


def _nhs_ok(s: str) -> bool:
    d = re.sub(r"[ -]", "", s)
    return len(d) == 10 and d.isdigit() and nhs_check_digit(d[:9]) == int(d[9])


FORMATS = {
    "PERSON": lambda s: bool(re.fullmatch(r"[^\W\d_][\w' .-]*[^\W\d_]", s)) and not any(c.isdigit() for c in s),
    "EMAIL_ADDRESS": lambda s: bool(re.fullmatch(r"[\w.+-]+@[\w-]+(\.[\w-]+)+", s)),
    "PHONE_NUMBER": _phone_ok,
    "UK_POSTCODE": lambda s: bool(re.fullmatch(r"(?i)[A-Z]{1,2}\d[A-Z\d]? \d[A-Z]{2}", s)),
    "STREET_ADDRESS": lambda s: bool(re.fullmatch(r"(Flat \d+, )?\d+ [A-Z][\w' ]+", s)),
    "DATE_OF_BIRTH": _date_ok,
    "UK_NINO": lambda s: bool(NINO.match(s)),
    "UK_NHS": _nhs_ok,
    "IBAN_CODE": lambda s: bool(re.fullmatch(r"[A-Z]{2}\d{2}[A-Z\d ]{10,34}", s)) and iban_checksum_ok(s),
    "UK_SORT_CODE": lambda s: bool(re.fullmatch(r"\d{2}([- ]?)\d{2}\1\d{2}", s)),
    "UK_BANK_ACCOUNT": lambda s: bool(re.fullmatch(r"\d{8}", s)),
    "CREDIT_CARD": lambda s: len(re.sub(r"\D", "", s)) in (15, 16) and luhn_valid(s),
    "UK_PASSPORT": lambda s: bool(re.fullmatch(r"\d{9}", s)),
    "UK_DRIVING_LICENCE": lambda s: bool(re.fullmatch(r"[A-Z9]{5}\d{6}[A-Z9]{2}\d[A-Z]{2}", s)),
    "UK_VEHICLE_REGISTRATION": lambda s: bool(re.fullmatch(r"(?i)[A-Z]{2}\d{2} ?[A-Z]{3}", s)),
    "IP_ADDRESS": lambda s: bool(ipaddress.IPv4Address(s)),
    "POLICY_NUMBER": lambda s: bool(REFS["POLICY_NUMBER"].fullmatch(s)),
    "CLAIM_REFERENCE": lambda s: bool(REFS["CLAIM_REFERENCE"].fullmatch(s)),
    "CUSTOMER_REFERENCE": lambda s: bool(REFS["CUSTOMER_REFERENCE"].fullmatch(s)),
    "PRODUCT": lambda s: s in LITERALS or s in NEW_PRODUCT,
    "VEHICLE_MAKE": lambda s: s in LITERALS,
    "PERIL_CODE": lambda s: bool(KEEP_PATTERNS[0].fullmatch(s)),
    "AMOUNT": lambda s: bool(KEEP_PATTERNS[1].fullmatch(s)),
}


@pytest.fixture(scope="module")
def corpus():
    return generate(600, seed=3)


def test_same_seed_same_corpus_other_seed_other_corpus(corpus):
    again = generate(600, seed=3)
    assert again == corpus
    other, _ = generate(600, seed=4)
    assert [r["text"] for r in other] != [r["text"] for r in corpus[0]]


def test_records_have_the_contract_fields_and_valid_labels(corpus):
    records, gold = corpus
    assert [r["id"] for r in records] == [g["id"] for g in gold]
    assert len({r["id"] for r in records}) == len(records)
    counts = collections.Counter(r["label"] for r in records)
    assert set(counts) == set(LABELS)
    assert max(counts.values()) > 1.5 * min(counts.values())  # mildly imbalanced
    for r in records:
        assert set(r) == {"id", "text", "label", "created_at", "channel", "product"}
        datetime.strptime(r["created_at"], "%Y-%m-%dT%H:%M:%SZ")


def test_every_span_matches_its_type_format_and_none_overlap(corpus):
    records, gold = corpus
    seen = collections.Counter()
    for r, g in zip(records, gold):
        spans = sorted(g["pii"] + g["keep"], key=lambda s: s["start"])
        for a, b in itertools.pairwise(spans):
            assert a["end"] <= b["start"], (r["id"], a, b)
        for s in spans:
            value = r["text"][s["start"]:s["end"]]
            assert value == value.strip() and value, (r["id"], s)
            assert FORMATS[s["type"]](value), (r["id"], s["type"], value)
            seen[s["type"]] += 1
    assert set(seen) == set(FORMATS), f"types never generated: {set(FORMATS) - set(seen)}"


def test_variants_present(corpus):
    records, gold = corpus
    values = collections.defaultdict(set)
    for r, g in zip(records, gold):
        for s in g["pii"]:
            values[s["type"]].add(r["text"][s["start"]:s["end"]])
    assert any(v.islower() for v in values["PERSON"])
    assert any(v.startswith("+44") for v in values["PHONE_NUMBER"]) and any("(" in v for v in values["PHONE_NUMBER"])
    assert {v[:2] for v in values["IBAN_CODE"]} > {"GB"}
    assert any(v.islower() for v in values["UK_POSTCODE"])


def test_domain_terms_only_occur_inside_keep_spans(corpus):
    records, gold = corpus
    terms = [re.compile(rf"(?<![\w-]){re.escape(t)}(?![\w-])") for t in LITERALS] + KEEP_PATTERNS
    for r, g in zip(records, gold):
        inside = {(s["start"], s["end"]) for s in g["keep"]}
        for t in terms:
            for m in t.finditer(r["text"]):
                end = m.start() + len(m.group().rstrip(","))  # the shipped amount pattern eats a trailing comma
                assert any(a <= m.start() and end <= b for a, b in inside), (r["id"], m.group())


@pytest.mark.parametrize("kind", ["jsonl", "csv", "parquet"])
def test_write_sample_round_trips_every_format(tmp_path, kind):
    out = write_sample(tmp_path / f"c.{kind}", rows=50, seed=1)
    records, gold = generate(50, seed=1)
    df = {"jsonl": lambda p: pd.read_json(p, lines=True, dtype=False, convert_dates=False),
          "csv": lambda p: pd.read_csv(p, dtype=str, keep_default_na=False), "parquet": pd.read_parquet}[kind](out)
    assert df["text"].tolist() == [r["text"] for r in records]
    side = [json.loads(line) for line in Path(f"{out}.pii.jsonl").read_text().splitlines()]
    assert side == gold
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]


def test_drift_kinds_shift_the_expected_way():
    ref, _ = generate(800, seed=5)
    mix, _ = generate(800, seed=5, drift="mix")
    product, _ = generate(800, seed=5, drift="product")
    length, _ = generate(300, seed=5, drift="length")

    def share(rs, label):
        return sum(r["label"] == label for r in rs) / len(rs)

    assert share(mix, "storm") > 2 * share(ref, "storm")
    assert share(mix, "motor") < 0.5 * share(ref, "motor")
    new = [r for r in product if r["product"] in NEW_PRODUCT]
    assert 0.3 < len(new) / len(product) < 0.6 and not any(r["product"] in NEW_PRODUCT for r in ref)
    vocab = re.compile(r"vet |microchip|[Rr]ansomware|phishing|ICO|CyberShield|PetCare")
    assert sum(bool(vocab.search(r["text"])) for r in new) > 0.9 * len(new)
    assert not any(vocab.search(r["text"]) for r in ref)
    assert statistics.mean(len(r["text"]) for r in length) > 2.5 * statistics.mean(len(r["text"]) for r in ref)
    assert all(r["label"] in LABELS for r in mix + product + length)
    with pytest.raises(ValueError):
        generate(1, seed=1, drift="weird")


def test_sample_data_command(tmp_path, capsys):
    from flows.cli import main

    assert main(["sample-data", "--out", str(tmp_path / "s.jsonl"), "--rows", "20", "--seed", "3",
                 "--drift", "mix"]) == 0
    assert len((tmp_path / "s.jsonl").read_text().splitlines()) == 20
    assert len((tmp_path / "s.jsonl.pii.jsonl").read_text().splitlines()) == 20
    assert main(["sample-data", "--out", str(tmp_path / "s.xlsx"), "--rows", "5"]) == 2
    assert capsys.readouterr().err.startswith("InputError:")
    assert not list(tmp_path.glob("s.xlsx*"))
