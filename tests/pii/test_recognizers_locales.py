"""US and EU locale recognizers: tables of positives (formats, case, separators), look-alikes and
checksum failures, run through the real engine (Presidio + spaCy + context enhancement, every locale on).

Where Presidio has a predefined recognizer for the same thing, the same rows go through it as well, and
ours must find at least as many positives and no more look-alikes.
"""

import re

import pytest
from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
from presidio_analyzer.predefined_recognizers import (
    AbaRoutingRecognizer,
    DeTaxIdRecognizer,
    DeVatIdRecognizer,
    EsNieRecognizer,
    EsNifRecognizer,
    ItFiscalCodeRecognizer,
    UsBankRecognizer,
    UsItinRecognizer,
    UsLicenseRecognizer,
    UsPassportRecognizer,
    UsSsnRecognizer,
)
from stdnum.de import idnr
from stdnum.es import dni, nie
from stdnum.eu import vat
from stdnum.fr import nir
from stdnum.it import codicefiscale
from stdnum.nl import bsn
from stdnum.us import rtn

from tasks.config import PiiConfig
from tasks.pii.engine import Scrubber
from tasks.pii.recognizers import PATTERN_RECOGNIZERS


@pytest.fixture(scope="module")
def scrubber() -> Scrubber:
    return Scrubber(PiiConfig(), b"k")


def _bounds(text: str, value: str) -> tuple[int, int]:
    start = text.index(value)
    return start, start + len(value)


def _types_over(scrubber: Scrubber, text: str, value: str) -> set[str]:
    start, end = _bounds(text, value)
    (spans,) = scrubber.detect([text])
    return {s.entity for s in spans if s.start <= start and s.end >= end}


def _types_touching(scrubber: Scrubber, text: str, value: str) -> set[str]:
    start, end = _bounds(text, value)
    (spans,) = scrubber.detect([text])
    return {s.entity for s in spans if s.start < end and start < s.end}


def _digit_changed(value: str, nth: int = -1) -> str:
    """The value with one digit changed (by default the last: the check digit, or a digit it covers)."""
    i = [i for i, c in enumerate(value) if c.isdigit()][nth]
    return value[:i] + str((int(value[i]) + 1) % 10) + value[i + 1:]


POSITIVE = [
    ("US_SSN", "SSN 536-22-8745 on file", "536-22-8745"),
    ("US_SSN", "social security number 536 22 8745.", "536 22 8745"),
    ("US_SSN", "ssn: 536228745", "536228745"),
    ("US_SSN", "Her Social Security no. is 401-93-2216", "401-93-2216"),
    ("US_ITIN", "ITIN 912-70-1234 issued", "912-70-1234"),
    ("US_ITIN", "itin 955 88 4321", "955 88 4321"),
    ("US_ITIN", "taxpayer ITIN: 999941234", "999941234"),
    ("US_DRIVER_LICENSE", "Driver's license: D1234567, exp 2027", "D1234567"),
    ("US_DRIVER_LICENSE", "drivers licence no. 384920175", "384920175"),
    ("US_DRIVER_LICENSE", "DL# S530-460-78-123-0 on file", "S530-460-78-123-0"),
    ("US_DRIVER_LICENSE", "dl 48291057 checked", "48291057"),
    ("US_DRIVER_LICENSE", "license number 12ABC12345.", "12ABC12345"),
    ("US_DRIVER_LICENSE", "driving license is wa1234567890", "wa1234567890"),
    ("US_DRIVER_LICENSE", "DL 123 456 789 expires", "123 456 789"),
    ("US_DRIVER_LICENSE", "driver’s license a1234567", "a1234567"),
    ("US_PASSPORT", "U.S. passport number 483920175", "483920175"),
    ("US_PASSPORT", "passport: C03005988", "C03005988"),
    ("US_PASSPORT", "passport card c12345678 shown", "c12345678"),
    ("US_PASSPORT", "American passport is A12345678", "A12345678"),
    ("US_PASSPORT", "US passport no. 912345678", "912345678"),
    ("US_ZIP_CODE", "lives in Austin, TX 78701 now", "78701"),
    ("US_ZIP_CODE", "Houston, texas 77002-1234", "77002-1234"),
    ("US_ZIP_CODE", "zip code 10001", "10001"),
    ("US_ZIP_CODE", "ZIP: 94105-1234.", "94105-1234"),
    ("US_ZIP_CODE", "zipcode is 60601", "60601"),
    ("US_ZIP_CODE", "postal code 02139", "02139"),
    ("US_ZIP_CODE", "Springfield, IL 62701", "62701"),
    ("US_BANK_ROUTING", "routing number 021000021", "021000021"),
    ("US_BANK_ROUTING", "ABA 011000015 for wires", "011000015"),
    ("US_BANK_ROUTING", "RTN: 0260-0959-3", "0260-0959-3"),
    ("US_BANK_ROUTING", "the routing number for Chase is 322271627", "322271627"),
    ("US_BANK_ROUTING", "aba routing 121000358", "121000358"),
    ("US_BANK_ACCOUNT", "account number 4829105736 at Chase", "4829105736"),
    ("US_BANK_ACCOUNT", "checking account 12345678", "12345678"),
    ("US_BANK_ACCOUNT", "savings account: 98765432101", "98765432101"),
    ("US_BANK_ACCOUNT", "acct# 000123456789", "000123456789"),
    ("US_BANK_ACCOUNT", "A/C 123456789012 closed", "123456789012"),
    ("US_BANK_ACCOUNT", "Account # 7390154826", "7390154826"),
    ("DE_TAX_ID", "Steuer-ID 86095742719", "86095742719"),
    ("DE_TAX_ID", "steuerliche Identifikationsnummer: 36574261809", "36574261809"),
    ("DE_TAX_ID", "IdNr. 65929970489", "65929970489"),
    ("DE_TAX_ID", "tax id 65 929 970 489", "65 929 970 489"),
    ("DE_TAX_ID", "Bescheid für 86 095 742 719 liegt vor", "86 095 742 719"),  # grouping + checksum, no context
    ("FR_NIR", "NIR 2 84 12 76 451 089 93", "2 84 12 76 451 089 93"),
    ("FR_NIR", "numéro de sécurité sociale 284127645108993", "284127645108993"),
    ("FR_NIR", "né en Corse: 1 85 05 2A 004 123 56", "1 85 05 2A 004 123 56"),
    ("FR_NIR", "carte vitale 185052a00412356", "185052a00412356"),
    ("FR_NIR", "1.79.03.99.123.456.75 sur la carte", "1.79.03.99.123.456.75"),
    ("ES_DNI", "DNI 12345678Z", "12345678Z"),
    ("ES_DNI", "dni 45128736-e", "45128736-e"),
    ("ES_DNI", "NIF 12.345.678-Z", "12.345.678-Z"),
    ("ES_DNI", "DNI 1234567L (antiguo)", "1234567L"),
    ("ES_DNI", "documento 04127365 S", "04127365 S"),
    ("ES_NIE", "NIE X1234567L", "X1234567L"),
    ("ES_NIE", "nie y-7654321-g", "y-7654321-g"),
    ("ES_NIE", "tarjeta Z0123456C caducada", "Z0123456C"),
    ("IT_FISCAL_CODE", "codice fiscale RSSMRA85T10A562S", "RSSMRA85T10A562S"),
    ("IT_FISCAL_CODE", "cf: bncgvn80a01f205m", "bncgvn80a01f205m"),
    ("IT_FISCAL_CODE", "VRDLCU92S41H501Z nata a Roma", "VRDLCU92S41H501Z"),
    ("IT_FISCAL_CODE", "omocodia RSSMRA85T10A56NH", "RSSMRA85T10A56NH"),
    ("NL_BSN", "BSN 111222333", "111222333"),
    ("NL_BSN", "burgerservicenummer: 123456782", "123456782"),
    ("NL_BSN", "BSN 1112.22.333", "1112.22.333"),
    ("NL_BSN", "zie 1234.56.782 hieronder", "1234.56.782"),  # the BSN's own grouping + 11-proef, no context
    ("NL_BSN", "sofinummer 123 456 782", "123 456 782"),
    ("NL_BSN", "citizen service number 111222333", "111222333"),
    ("EU_VAT", "VAT DE136695976", "DE136695976"),
    ("EU_VAT", "TVA FR40303265045", "FR40303265045"),
    ("EU_VAT", "btw NL004495445B01", "NL004495445B01"),
    ("EU_VAT", "NIF-IVA ESX1234567L", "ESX1234567L"),
    ("EU_VAT", "supplier ATU13585627", "ATU13585627"),
    ("EU_VAT", "BE 0776.091.951 on the invoice", "BE 0776.091.951"),
    ("EU_VAT", "vat no de136695976", "de136695976"),
    ("EU_VAT", "P.IVA IT00743110157", "IT00743110157"),
    ("EU_VAT", "USt-IdNr DE 136 695 976 2024", "DE 136 695 976"),
    ("EU_VAT", "ΑΦΜ EL094259216", "EL094259216"),
]

# Checksum failures: a positive with one digit changed.
CHECKSUM = [
    ("US_BANK_ROUTING", "routing number {}", "021000021"),
    ("US_BANK_ROUTING", "ABA {} for wires", "011000015"),
    ("DE_TAX_ID", "Steuer-ID {}", "86095742719"),
    ("DE_TAX_ID", "Bescheid für {} liegt vor", "86 095 742 719"),
    ("FR_NIR", "NIR {}", "2 84 12 76 451 089 93"),
    ("FR_NIR", "numéro de sécurité sociale {}", "284127645108993"),
    ("ES_DNI", "DNI {}", "12345678Z"),  # a digit changed: the letter no longer fits
    ("ES_DNI", "NIF {}", "12.345.678-Z"),
    ("ES_NIE", "NIE {}", "X1234567L"),
    ("IT_FISCAL_CODE", "codice fiscale {}", "RSSMRA85T10A562S"),
    ("IT_FISCAL_CODE", "CF: {}", "VRDLCU92S41H501Z"),
    ("NL_BSN", "BSN {}", "111222333"),
    ("NL_BSN", "BSN {}", "1112.22.333"),
    ("EU_VAT", "VAT {}", "DE136695976"),
    ("EU_VAT", "btw {}", "NL004495445B01", -3),  # the B01 suffix carries no check
    ("EU_VAT", "TVA {}", "FR40303265045"),
]
CHECKSUM_ROWS = [(e, t.format(_digit_changed(v, *nth)), _digit_changed(v, *nth)) for e, t, v, *nth in CHECKSUM]

NEGATIVE = [
    ("US_SSN", "SSN 078-05-1120 (the wallet card)", "078-05-1120"),  # published fakes
    ("US_SSN", "SSN 123-45-6789", "123-45-6789"),
    ("US_SSN", "SSN 219-09-9999", "219-09-9999"),
    ("US_SSN", "SSN 000-12-3456", "000-12-3456"),  # never-issued area, group, serial
    ("US_SSN", "SSN 666-12-3456", "666-12-3456"),
    ("US_SSN", "SSN 536-00-8745", "536-00-8745"),
    ("US_SSN", "SSN 536-22-0000", "536-22-0000"),
    ("US_SSN", "SSN 912-34-5678", "912-34-5678"),  # 9xx: ITIN range, not an SSN
    ("US_SSN", "order 536228745 shipped", "536228745"),  # nine digits, no SSN cue
    ("US_SSN", "SSN 536-22 8745", "536-22 8745"),  # mixed separators
    ("US_SSN", "call 555-123-4567 after 5", "555-123-4567"),
    ("US_SSN", "logged on 2024-01-15", "2024-01-15"),
    ("US_ITIN", "ITIN 912-89-1234", "912-89-1234"),  # groups 89 and 93 are not issued
    ("US_ITIN", "ITIN 912-93-1234", "912-93-1234"),
    ("US_ITIN", "ITIN 912-40-1234", "912-40-1234"),
    ("US_ITIN", "ITIN 812-70-1234", "812-70-1234"),
    ("US_ITIN", "order 912701234 shipped", "912701234"),  # nine digits, no ITIN cue
    ("US_ITIN", "meeting ref 912701234", "912701234"),  # "tin" inside "meeting" is no cue
    ("US_DRIVER_LICENSE", "license plate 7ABC123", "7ABC123"),
    ("US_DRIVER_LICENSE", "DL suspended until 2025", "2025"),
    ("US_DRIVER_LICENSE", "licence 12345678 renewed", "12345678"),  # software licence: no number word
    ("US_DRIVER_LICENSE", "order A1234567 shipped", "A1234567"),  # no cue
    ("US_DRIVER_LICENSE", "DL 1234 only", "1234"),
    ("US_DRIVER_LICENSE", "DL ABCDEFGH", "ABCDEFGH"),
    ("US_DRIVER_LICENSE", "driver's license expired 12/03/2024", "12/03/2024"),
    ("US_PASSPORT", "passport photo 483920175", "483920175"),
    ("US_PASSPORT", "reading 483920175 on the meter", "483920175"),
    ("US_PASSPORT", "passport number 12345678 given", "12345678"),  # eight digits
    ("US_PASSPORT", "passport no. AB1234567", "AB1234567"),
    ("US_PASSPORT", "passport expires 2030-01-01", "2030-01-01"),
    ("US_ZIP_CODE", "ordered 12345 units", "12345"),  # a bare 5-digit number
    ("US_ZIP_CODE", "paid $78701 in fees", "78701"),
    ("US_ZIP_CODE", "seen in 46204 cases", "46204"),  # "in" is not "IN"
    ("US_ZIP_CODE", "Austin, TX 7870 wait", "7870"),
    ("US_ZIP_CODE", "Austin, TX 787012", "787012"),
    ("US_ZIP_CODE", "order no. 78701", "78701"),
    ("US_BANK_ROUTING", "order 021000021 shipped", "021000021"),  # valid checksum, no cue
    ("US_BANK_ROUTING", "routing 991000012 test", "991000012"),  # checksum fine, no Federal Reserve symbol 99
    ("US_BANK_ROUTING", "routing 12345 done", "12345"),
    ("US_BANK_ACCOUNT", "account 12345678", "12345678"),  # UK form, left to the UK recognizer
    ("US_BANK_ACCOUNT", "account number 1234567", "1234567"),  # seven digits
    ("US_BANK_ACCOUNT", "acct 2024-01-15", "2024-01-15"),
    ("US_BANK_ACCOUNT", "order 123456789012 shipped", "123456789012"),
    ("US_BANK_ACCOUNT", "account number 123456789012345678", "123456789012345678"),  # eighteen digits
    ("DE_TAX_ID", "invoice 86095742719 paid", "86095742719"),  # valid, but a bare run without context
    ("DE_TAX_ID", "tax id 12345678901", "12345678901"),  # no repeated digit
    ("DE_TAX_ID", "Steuer-ID 11111111111", "11111111111"),
    ("DE_TAX_ID", "Tel. 030 12345678", "030 12345678"),
    ("FR_NIR", "2 84 12 2C 451 089 93 on file", "2 84 12 2C 451 089 93"),  # no département 2C
    ("FR_NIR", "tel 01 23 45 67 89", "01 23 45 67 89"),
    ("FR_NIR", "commande 284127645108900", "284127645108900"),
    ("ES_DNI", "we paid 12345690 a month", "12345690 a"),  # the letter would fit, but a word is not a DNI letter
    ("ES_DNI", "total 12345678 EUR", "12345678"),
    ("ES_DNI", "DNI 12345678A", "12345678A"),  # wrong letter
    ("ES_NIE", "NIE X1234567A", "X1234567A"),
    ("ES_NIE", "model X1234567 ready", "X1234567"),
    ("IT_FISCAL_CODE", "codice fiscale RSSMRA85T10A562", "RSSMRA85T10A562"),  # 15 characters
    ("IT_FISCAL_CODE", "ref ABCDEF12G34H567I", "ABCDEF12G34H567I"),
    ("IT_FISCAL_CODE", "codice fiscale RSSMRA85T10A562T", "RSSMRA85T10A562T"),  # wrong check letter
    ("NL_BSN", "order 123456782 shipped", "123456782"),  # passes the 11-proef, no context
    ("NL_BSN", "BSN 123456781", "123456781"),
    ("NL_BSN", "EUR 123.456.782 total", "123.456.782"),
    ("NL_BSN", "tel 0612345678", "0612345678"),
    ("EU_VAT", "VAT 136695976", "136695976"),  # no prefix
    ("EU_VAT", "mi DNI es 12345678Z", "es 12345678Z"),
    ("EU_VAT", "GB123456789 is not EU", "GB123456789"),
    ("EU_VAT", "FR 2024 report", "FR 2024"),
    ("EU_VAT", "see DE 12 now", "DE 12"),
]


# Nine-digit numbers with separators are also valid phone numbers somewhere in the EU (PL, ES, DE, IT); the
# engine's merge gives the span to the specific type when it covers the phone's digits (rows such as
# "social security number 536 22 8745." and "sofinummer 123 456 782" check that).
@pytest.mark.parametrize("entity, text, value", POSITIVE)
def test_locale_recognizer_finds(scrubber, entity, text, value):
    assert entity in _types_over(scrubber, text, value)


@pytest.mark.parametrize("entity, text, value", NEGATIVE + CHECKSUM_ROWS)
def test_locale_recognizer_ignores_lookalike(scrubber, entity, text, value):
    assert entity not in _types_touching(scrubber, text, value)


CUE_ONLY = {"US_DRIVER_LICENSE", "US_PASSPORT", "US_ZIP_CODE", "US_BANK_ROUTING", "US_BANK_ACCOUNT"}


@pytest.mark.parametrize("entity, text, value", [row for row in POSITIVE if row[0] in CUE_ONLY])
def test_cue_recognizers_report_the_number_only(entity, text, value):
    (cls,) = [c for c in PATTERN_RECOGNIZERS if c.ENTITY == entity]
    spans = [(r.start, r.end) for r in cls().analyze(text, [entity])]
    assert spans == [_bounds(text, value)]


def test_unqualified_nine_digit_passport_is_a_us_passport_alone():
    # With every locale on, a plain "passport 123456789" stays UK_PASSPORT (the higher score); the US
    # recognizer still reports it, at the threshold, where only the US locale runs.
    (cls,) = [c for c in PATTERN_RECOGNIZERS if c.ENTITY == "US_PASSPORT"]
    (result,) = cls().analyze("passport number 483920175", ["US_PASSPORT"])
    assert result.score >= 0.4


_VALIDATORS = {
    "US_BANK_ROUTING": lambda v: rtn.is_valid(v.replace("-", "")),
    "DE_TAX_ID": lambda v: idnr.is_valid(v.replace(" ", "")),
    "FR_NIR": nir.is_valid,
    "ES_DNI": lambda v: dni.is_valid(re.sub(r"[ .-]", "", v).zfill(9)),
    "ES_NIE": nie.is_valid,
    "IT_FISCAL_CODE": codicefiscale.is_valid,
    "NL_BSN": bsn.is_valid,
    "EU_VAT": lambda v: vat.is_valid(v.replace(" ", "")),
}


def test_table_values_are_what_they_claim():
    """Positives of checksummed types pass stdnum's check; their one-digit typos fail it."""
    for entity, _, value in POSITIVE:
        if entity in _VALIDATORS:
            assert _VALIDATORS[entity](value), value
    for entity, _, value in CHECKSUM_ROWS:
        assert not _VALIDATORS[entity](value), value


# Presidio's predefined counterpart of each of ours: (factory, its entity name).
PREDEFINED = {
    "US_SSN": (UsSsnRecognizer, "US_SSN"),
    "US_ITIN": (UsItinRecognizer, "US_ITIN"),
    "US_DRIVER_LICENSE": (UsLicenseRecognizer, "US_DRIVER_LICENSE"),
    "US_PASSPORT": (UsPassportRecognizer, "US_PASSPORT"),
    "US_BANK_ROUTING": (AbaRoutingRecognizer, "ABA_ROUTING_NUMBER"),
    "US_BANK_ACCOUNT": (UsBankRecognizer, "US_BANK_NUMBER"),
    "DE_TAX_ID": (lambda: DeTaxIdRecognizer(supported_language="en"), "DE_TAX_ID"),
    "ES_DNI": (lambda: EsNifRecognizer(supported_language="en"), "ES_NIF"),
    "ES_NIE": (lambda: EsNieRecognizer(supported_language="en"), "ES_NIE"),
    "IT_FISCAL_CODE": (lambda: ItFiscalCodeRecognizer(supported_language="en"), "IT_FISCAL_CODE"),
    "EU_VAT": (lambda: DeVatIdRecognizer(supported_language="en"), "DE_VAT_ID"),  # Germany only
}


def _hits(scrubber: Scrubber, recognizer, entity: str, text: str, value: str, *, over: bool) -> bool:
    """Whether ``recognizer`` reports ``value`` at 0.4 or more, alone (no context) or in an engine of its
    own with the same context window and artifacts as the scrubber's (with context)."""
    start, end = _bounds(text, value)
    registry = RecognizerRegistry(supported_languages=["en"])
    registry.add_recognizer(recognizer)
    engine = AnalyzerEngine(registry=registry, nlp_engine=scrubber.engine, supported_languages=["en"],
                            context_aware_enhancer=scrubber.analyzer.context_aware_enhancer)
    results = recognizer.analyze(text, entities=[entity], nlp_artifacts=None) + engine.analyze(
        text, language="en", entities=[entity], nlp_artifacts=scrubber._artifacts(scrubber.nlp(text), text),
        score_threshold=0.4)
    if over:
        return any(r.score >= 0.4 and r.start <= start and r.end >= end for r in results)
    return any(r.score >= 0.4 and r.start < end and start < r.end for r in results)


@pytest.mark.parametrize("entity", sorted(PREDEFINED))
def test_ours_matches_or_beats_predefined(scrubber, entity):
    """Recognizer against recognizer, each alone, on the same rows (the engine-level tables above also
    show what other recognizers do to ours)."""
    factory, their_entity = PREDEFINED[entity]
    theirs = factory()
    (ours,) = [cls() for cls in PATTERN_RECOGNIZERS if cls.ENTITY == entity]
    positives = [(t, v) for e, t, v in POSITIVE if e == entity]
    negatives = [(t, v) for e, t, v in NEGATIVE + CHECKSUM_ROWS if e == entity]
    ours_found = sum(_hits(scrubber, ours, entity, t, v, over=True) for t, v in positives)
    theirs_found = sum(_hits(scrubber, theirs, their_entity, t, v, over=True) for t, v in positives)
    ours_wrong = sum(_hits(scrubber, ours, entity, t, v, over=False) for t, v in negatives)
    theirs_wrong = sum(_hits(scrubber, theirs, their_entity, t, v, over=False) for t, v in negatives)
    assert ours_found >= theirs_found and ours_wrong <= theirs_wrong, (
        f"ours {ours_found}/{len(positives)} found, {ours_wrong}/{len(negatives)} wrong; "
        f"predefined {theirs_found}/{len(positives)} found, {theirs_wrong}/{len(negatives)} wrong")
