"""Recognizer tables: each entity with positives (incl. formats and case) and look-alikes that must not match.

Run through the real engine (Presidio + spaCy + context enhancement), without a keep-list, so scores,
context words and checksums all take part.
"""

from pathlib import Path

import pytest

from tasks.config import load_config
from tasks.pii.engine import Scrubber

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def scrubber() -> Scrubber:
    pii = load_config(ROOT / "examples" / "claims.yaml").pii
    return Scrubber(pii.model_copy(update={"keep": pii.keep.model_copy(update={"literals": [], "patterns": []})}), b"k")


def _types_over(scrubber: Scrubber, text: str, value: str) -> set[str]:
    start = text.index(value)
    end = start + len(value)
    (spans,) = scrubber.detect([text])
    return {s.entity for s in spans if s.start <= start and s.end >= end}


def _types_touching(scrubber: Scrubber, text: str, value: str) -> set[str]:
    start = text.index(value)
    end = start + len(value)
    (spans,) = scrubber.detect([text])
    return {s.entity for s in spans if s.start < end and start < s.end}


POSITIVE = [
    ("UK_NINO", "NI number AB123456C provided.", "AB123456C"),
    ("UK_NINO", "NI number JG 10 37 58 D given", "JG 10 37 58 D"),
    ("UK_POSTCODE", "postcode LS1 4AB.", "LS1 4AB"),
    ("UK_POSTCODE", "moved to sw1a 1aa last year", "sw1a 1aa"),
    ("UK_POSTCODE", "Croydon, EC1V 9HX.", "EC1V 9HX"),
    ("STREET_ADDRESS", "Address on file: 12 Elm Grove, Leeds.", "12 Elm Grove"),
    ("STREET_ADDRESS", "Correspondence address Flat 3, 151 Queen's Drive, York", "Flat 3, 151 Queen's Drive"),
    ("STREET_ADDRESS", "lives at 7 Kingsway, Derby", "7 Kingsway"),
    ("PHONE_NUMBER", "call back on 07700 900123 please", "07700 900123"),
    ("PHONE_NUMBER", "contact +44 7700 900456.", "+44 7700 900456"),
    ("PHONE_NUMBER", "landline (020) 7946 0123 after 6", "(020) 7946 0123"),
    ("PHONE_NUMBER", "number +44 (0)113 496 0999 is the office", "+44 (0)113 496 0999"),
    ("PHONE_NUMBER", "rang 0161 496 0000 twice", "0161 496 0000"),
    ("PHONE_NUMBER", "mobile 07700900123", "07700900123"),
    ("IBAN_CODE", "IBAN GB82 WEST 1234 5698 7654 32 for the refund", "GB82 WEST 1234 5698 7654 32"),
    ("IBAN_CODE", "pay DE89370400440532013000 today", "DE89370400440532013000"),
    ("IBAN_CODE", "IBAN FR14 2004 1010 0505 0001 3M02 606.", "FR14 2004 1010 0505 0001 3M02 606"),
    ("UK_SORT_CODE", "Settlement to sort code 20-00-00, account 12345678.", "20-00-00"),
    ("UK_SORT_CODE", "sort code 200000 account 12345678", "200000"),
    ("UK_BANK_ACCOUNT", "Settlement to sort code 20-00-00, account 12345678.", "12345678"),
    ("CREDIT_CARD", "card number 4111 1111 1111 1111 read out", "4111 1111 1111 1111"),
    ("CREDIT_CARD", "card 5500-0000-0000-0004 declined", "5500-0000-0000-0004"),
    ("CREDIT_CARD", "amex 378282246310005 on file", "378282246310005"),
    ("UK_NHS", "NHS number 943 476 5919 for the GP", "943 476 5919"),
    ("UK_NHS", "NHS number 9434765919", "9434765919"),
    ("UK_PASSPORT", "Passport number 123456789 noted", "123456789"),
    ("UK_DRIVING_LICENCE", "Driving licence MORGA753116SM9IJ checked", "MORGA753116SM9IJ"),
    ("UK_VEHICLE_REGISTRATION", "Vehicle reg AB12 CDE, a Ford.", "AB12 CDE"),
    ("UK_VEHICLE_REGISTRATION", "the car (ab12cde) was stolen", "ab12cde"),
    ("DATE_OF_BIRTH", "Caller verified, DOB 12/03/1985, postcode", "12/03/1985"),
    ("DATE_OF_BIRTH", "date of birth 3 March 1972.", "3 March 1972"),
    ("DATE_OF_BIRTH", "DOB 1984-01-23", "1984-01-23"),
    ("DATE_OF_BIRTH", "born on 7.4.1990 in Leeds", "7.4.1990"),
    ("IP_ADDRESS", "Web claim submitted from IP 81.2.69.160.", "81.2.69.160"),
    ("IP_ADDRESS", "login from 2001:db8:85a3::8a2e:370:7334 flagged", "2001:db8:85a3::8a2e:370:7334"),
    ("EMAIL_ADDRESS", "email jane.o'connor+claims@yahoo.co.uk today", "jane.o'connor+claims@yahoo.co.uk"),
    ("POLICY_NUMBER", "Policy POL-12345678 renewed", "POL-12345678"),
    ("POLICY_NUMBER", "policy pol/12345678", "pol/12345678"),
    ("CLAIM_REFERENCE", "claim ref CLM-2024-123456.", "CLM-2024-123456"),
    ("CLAIM_REFERENCE", "Claim CLM/2023/578244 logged", "CLM/2023/578244"),
    ("CUSTOMER_REFERENCE", "Cust ref CUS-1234567.", "CUS-1234567"),
    ("PERSON", "Spoke to Mrs Jane Doherty about the leak.", "Jane Doherty"),
    ("PERSON", "spoke to priya sharma, she will send photos", "priya sharma"),
    ("PERSON", "call w/ oluwaseun adeyemi - adv will call back", "oluwaseun adeyemi"),
    ("PERSON", "Third party is Zofia Wiśniewska, contact later.", "Zofia Wiśniewska"),
    ("PERSON", "Kind regards,\nnguyen thi hoa", "nguyen thi hoa"),
    ("PERSON", "Caller verified as Siobhan O'Connor, DOB", "Siobhan O'Connor"),
]


@pytest.mark.parametrize("entity, text, value", POSITIVE)
def test_recognizer_finds(scrubber, entity, text, value):
    assert entity in _types_over(scrubber, text, value)


NEGATIVE = [
    ("UK_NINO", "reference BG123456A is not issued", "BG123456A"),  # invalid prefix
    ("UK_NINO", "code AB123456E", "AB123456E"),  # suffix beyond D
    ("UK_POSTCODE", "on the A34 near junction 9", "A34"),
    ("STREET_ADDRESS", "2 cars on the road were damaged", "2 cars on the road"),
    ("PHONE_NUMBER", "invoice 12345678901 paid", "12345678901"),  # does not start with 0
    ("PHONE_NUMBER", "ref 0900 123", "0900 123"),  # too short
    ("IBAN_CODE", "IBAN GB82 WEST 1234 5698 7654 33 rejected", "GB82 WEST 1234 5698 7654 33"),  # mod-97 fails
    ("CREDIT_CARD", "card 4111 1111 1111 1112 declined", "4111 1111 1111 1112"),  # Luhn fails
    ("UK_NHS", "NHS number 943 476 5918", "943 476 5918"),  # mod-11 fails
    ("UK_SORT_CODE", "incident on 12/03/24 at 10", "12/03/24"),
    ("UK_BANK_ACCOUNT", "we received 12345678 complaints", "12345678"),  # no banking context
    ("UK_PASSPORT", "reading 123456789 on the meter", "123456789"),  # no passport context
    ("UK_VEHICLE_REGISTRATION", "peril code MTR-04 applies", "MTR-04"),
    ("DATE_OF_BIRTH", "Sent: 27 Feb 2025 13:39", "27 Feb 2025"),  # a date, but not of birth
    ("DATE_OF_BIRTH", "incident on 12/03/2024 at the junction", "12/03/2024"),
    ("IP_ADDRESS", "version 300.1.2.3 installed", "300.1.2.3"),  # octet out of range
    ("IP_ADDRESS", "call logged at 12:30:00 today", "12:30:00"),
    ("EMAIL_ADDRESS", "twitter handle @janesmith", "@janesmith"),
    ("POLICY_NUMBER", "POL-1234 is too short", "POL-1234"),
    ("PERSON", "Email pasted in below.", "Email"),
    ("PERSON", "cust called back about the excess", "back"),
    ("PERSON", "the neighbour's fence fell", "neighbour"),
]


@pytest.mark.parametrize("entity, text, value", NEGATIVE)
def test_recognizer_ignores_lookalike(scrubber, entity, text, value):
    assert entity not in _types_touching(scrubber, text, value)


def test_phone_is_not_reported_as_nhs(scrubber):
    # "113 496 0123" inside the phone is 3-3-4 digits; whatever it scores, the span is the phone's.
    text = "office +44 (0)113 496 0127 today"
    (spans,) = scrubber.detect([text])
    assert [s.entity for s in spans] == ["PHONE_NUMBER"]


@pytest.mark.parametrize("span, expected", [
    ("Oluwaseun Adeyemi", True),
    ("priya sharma", True),
    ("XXXX XXXX", False),          # an earlier redaction (CFPB narratives), not a name
    ("xxxx", False),
    ("XXXX Smith", True),          # a real surname beside a mask is still a name
    ("Email", False),              # a claim-note word spaCy sometimes tags
])
def test_plausible_name(span, expected):
    from tasks.pii.recognizers.person_cue import plausible_name

    assert plausible_name(span) is expected
