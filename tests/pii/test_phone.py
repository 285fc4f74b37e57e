"""Phone numbers (tasks.pii.recognizers.phone) through the real engine: validated national and international
forms per locale, cue-only numbers, look-alikes that must not be phones, locale switches, and a comparison
with Presidio's own PhoneRecognizer on the same tables."""

import pytest

from tasks.config import PiiConfig
from tasks.pii.engine import Scrubber
from tasks.pii.recognizers.phone import TgPhoneRecognizer


@pytest.fixture(scope="module")
def scrubber() -> Scrubber:
    return Scrubber(PiiConfig(), b"k")


def _phone_spans(scrubber: Scrubber, text: str, value: str) -> list:
    """PHONE_NUMBER spans (after the engine's merge) touching ``value``."""
    start = text.index(value)
    end = start + len(value)
    (spans,) = scrubber.detect([text])
    return [s for s in spans if s.entity == "PHONE_NUMBER" and s.start < end and start < s.end]


def _covers(spans: list, text: str, value: str) -> bool:
    start = text.index(value)
    return len(spans) == 1 and spans[0].start <= start and spans[0].end >= start + len(value)


def _own(text: str) -> list[str]:
    """What the recognizer alone reports (exact spans: the engine may merge a phone with a neighbour)."""
    return [text[r.start:r.end] for r in TgPhoneRecognizer().analyze(text, ["PHONE_NUMBER"])]


# Valid in their numbering plan: found without any cue word (most rows have none).
VALID = [
    # UK (Ofcom drama ranges included: libphonenumber calls 07700 900xxx invalid)
    ("call back on 07700 900123 please", "07700 900123"),
    ("details: +44 7700 900456.", "+44 7700 900456"),
    ("landline (020) 7946 0123 after 6", "(020) 7946 0123"),
    ("the +44 (0)113 496 0999 line is the office", "+44 (0)113 496 0999"),
    ("Manchester 0161 496 0000 twice", "0161 496 0000"),
    ("from abroad 0044 161 496 0000 works", "0044 161 496 0000"),
    ("Leeds desk 0113 496 0123 ext. 204 weekdays", "0113 496 0123 ext. 204"),
    ("Belfast 028 9649 6123.", "028 9649 6123"),
    ("written 07700900789 in the form", "07700900789"),
    # US / Canada
    ("her cell is 415-867-5309", "415-867-5309"),
    ("switchboard +1 202 456 1111 today", "+1 202 456 1111"),
    ("desk 202.456.1111 x204 weekdays", "202.456.1111 x204"),
    ("Toronto branch (416) 979-2671, ask for claims", "(416) 979-2671"),
    ("NY +1 (212) 736-3100.", "+1 (212) 736-3100"),
    ("toll free 1-800-225-5324 for the helpline", "1-800-225-5324"),
    # Germany
    ("Büro 030 12345678 ab 9 Uhr", "030 12345678"),
    ("Zentrale +49 30 1234567", "+49 30 1234567"),
    ("Kiel 0431 19 97 94", "0431 19 97 94"),
    ("Handy 0151 23456789 abends", "0151 23456789"),
    ("Kiel 0431/199794 bitte", "0431/199794"),
    # France
    ("bureau 01 23 45 67 89", "01 23 45 67 89"),
    ("portable +33 6 12 34 56 78", "+33 6 12 34 56 78"),
    ("joignable au 06.12.34.56.78 le soir", "06.12.34.56.78"),
    # Spain, Italy, Netherlands, Ireland
    ("Madrid 912 345 678", "912 345 678"),
    ("móvil 612 34 56 78", "612 34 56 78"),
    ("Roma 06 1234 5678", "06 1234 5678"),
    ("cellulare 347 123 4567", "347 123 4567"),
    ("Milano +39 02 1234 5678", "+39 02 1234 5678"),
    ("Amsterdam 06-12345678", "06-12345678"),
    ("kantoor +31 20 123 4567", "+31 20 123 4567"),
    ("Dublin 01 234 5678", "01 234 5678"),
    ("her mobile 087 123 4567", "087 123 4567"),
    ("from abroad 00 353 1 234 5678", "00 353 1 234 5678"),
    # the rest of the EU list
    ("Wien 0664 1234567", "0664 1234567"),
    ("Lisboa 212 345 678", "212 345 678"),
    ("Warszawa +48 22 123 45 67", "+48 22 123 45 67"),
    ("Stockholm 08-123 456 78", "08-123 456 78"),
    ("København +45 33 12 34 56", "+45 33 12 34 56"),
    ("Helsinki 09 1234 5678", "09 1234 5678"),
    ("Athens 210 123 4567", "210 123 4567"),
    ("Praha 224 123 456", "224 123 456"),
    # international forms outside the enabled locales
    ("Sydney office +61 2 9876 5432", "+61 2 9876 5432"),
    ("Mumbai +91 98765 43210", "+91 98765 43210"),
    ("tel:+441134960000", "+441134960000"),
]

# Not valid in any plan (or a plain run of digits), reported only because a cue sits right beside them.
CUED = [
    ("call (555) 123-4567 tonight", "(555) 123-4567"),
    ("reach me at 555-0199 or by email", "555-0199"),
    ("ring 782 2652 tonight", "782 2652"),
    ("her number is 782 2652", "782 2652"),
    ("782 2652 (office)", "782 2652"),
    ("Ph. 555 0147 any time", "555 0147"),
    ("fax 1234 5678 for the forms", "1234 5678"),
    ("answering at 4158675309 all week", "4158675309"),
    ("contact number 12-34-567", "12-34-567"),
    ("text 0900 123 with the code", "0900 123"),
    ("office: 88 12 34 5", "88 12 34 5"),
    ("Tel. 12345678901", "12345678901"),
    ("mob +44 7700 12345 (short)", "+44 7700 12345"),
]

# Look-alikes: never PHONE_NUMBER (some carry a phone cue on purpose).
NEGATIVE = [
    ("incident on 12/03/2024 at the junction", "12/03/2024"),
    ("logged 2024-03-12 by the team", "2024-03-12"),
    ("Unfall am 12.03.2024 gemeldet", "12.03.2024"),
    ("phone call on 12/03/2024 re the claim", "12/03/2024"),
    ("call logged at 12:30:00 today", "12:30:00"),
    ("open 20.30-21.45 daily", "20.30-21.45"),
    ("paid £1,234.56 on Monday", "1,234.56"),
    ("excess of $12,000 applies", "12,000"),
    ("Betrag 1.234.567,89 EUR überwiesen", "1.234.567,89"),
    ("total EUR 23 456 789 paid", "23 456 789"),
    ("from IP 81.2.69.160 flagged", "81.2.69.160"),
    ("server 192.168.100.200 down", "192.168.100.200"),
    ("card number 4111 1111 1111 1111 read out", "4111 1111 1111 1111"),
    ("call re card 5500-0000-0000-0004 declined", "5500-0000-0000-0004"),
    ("IBAN GB82 WEST 1234 5698 7654 32 for the refund", "1234 5698 7654 32"),
    ("IBAN DE89 3704 0044 0532 0130 00 bitte", "3704 0044 0532 0130 00"),
    ("sort code 20-00-00, account 12345678.", "20-00-00"),
    ("sort code 20-00-00, account 12345678.", "12345678"),
    ("account 12345678 closed", "12345678"),
    ("a/c 23 45 67 89 credited", "23 45 67 89"),
    ("NHS number 943 476 5919 for the GP", "943 476 5919"),
    ("between 2019-2024 we had no claims", "2019-2024"),
    ("built in 1998 and 2004", "1998"),
    ("invoice 12345678901 paid", "12345678901"),
    ("order 4158675309 shipped", "4158675309"),
    ("booking 2345 6789 cancelled", "2345 6789"),
    ("ZIP 90210-1234 on the form", "90210-1234"),
    ("Beverly Hills, CA 90210", "90210"),
    ("ref 0900 123", "0900 123"),
    ("call ref 2024/0012 closed", "2024/0012"),
    ("ISBN 978-0-306-40615-7 cited", "978-0-306-40615-7"),
    ("claim ref CLM-2024-123456.", "2024-123456"),
    ("Policy POL-12345678 renewed", "12345678"),
    ("Sent: 27/02/2025 13:39", "27/02/2025 13:39"),
    ("IBAN NL90 INGB 7169 8144 13 for the refund", "7169 8144 13"),
    ("IBAN GB88 JUYG 0035 8468 1620 83.", "0035 8468 1620 83"),
    ("refund to 393820 / 88413011 please", "88413011"),
    ("paid 05098747 into the account", "05098747"),
    ("paid with 5126 0493 0345 9635 yesterday", "5126 0493 0345 9635"),  # no split into two "phones"
    ("his 234-56-7890 was given", "234-56-7890"),          # SSN shape (valid as a Portuguese number)
    ("BSN 1234 56 782 checked", "1234 56 782"),
    ("Steuer-ID 12 345 678 901 liegt vor", "12 345 678 901"),
    ("routing 021000021 on the cheque", "021000021"),
]


@pytest.mark.parametrize("text, value", VALID)
def test_finds_valid_number(scrubber, text, value):
    spans = _phone_spans(scrubber, text, value)
    assert _covers(spans, text, value) and spans[0].score >= TgPhoneRecognizer.SCORE
    assert _own(text) == [value]


@pytest.mark.parametrize("text, value", CUED)
def test_finds_cued_number(scrubber, text, value):
    spans = _phone_spans(scrubber, text, value)
    assert _covers(spans, text, value) and 0.4 < spans[0].score < TgPhoneRecognizer.SCORE
    assert _own(text) == [value]


@pytest.mark.parametrize("text, value", [
    ("seen 782 2652 on the van", "782 2652"),             # no cue: an unvalidated number stays unreported
    ("the 4158675309 line", "4158675309"),                # plain run not starting with 0
    ("cancelled, 2345 678 quoted", "2345 678"),           # "cancelled" holds "cell": not a cue word
    ("hotel 555 0147 booked", "555 0147"),                # "hotel" holds "tel"
    ("during 782 2652 hours", "782 2652"),                # "during" holds "ring"
])
def test_unvalidated_number_needs_a_cue_word(scrubber, text, value):
    assert _phone_spans(scrubber, text, value) == [] and _own(text) == []


@pytest.mark.parametrize("text, value", NEGATIVE)
def test_ignores_lookalike(scrubber, text, value):
    assert _phone_spans(scrubber, text, value) == []
    assert _own(text) == []


def test_nhs_number_stays_nhs(scrubber):
    text = "NHS number 943 476 5919 for the GP"
    (spans,) = scrubber.detect([text])
    assert [(text[s.start:s.end], s.entity) for s in spans] == [("943 476 5919", "UK_NHS")]


@pytest.mark.parametrize("text, values", [
    ("call 0161 496 0000 x123 or 07700 900123 ext 45", ["0161 496 0000 x123", "07700 900123 ext 45"]),
    ("Tel: 0161 496 0000 07700 900123 ext 12", ["0161 496 0000", "07700 900123 ext 12"]),  # side by side
    ("numbers +44 161 496 0000 +44 7700 900123", ["+44 161 496 0000", "+44 7700 900123"]),
    ("home 01 23 45 67 89, mobile 06.12.34.56.78", ["01 23 45 67 89", "06.12.34.56.78"]),
])
def test_extension_belongs_to_the_span_and_two_numbers_stay_two(scrubber, text, values):
    (spans,) = scrubber.detect([text])
    assert [text[s.start:s.end] for s in spans] == values
    assert _own(text) == values


# Disabling a locale drops its national forms; its +CC form is still a phone.
LOCALE_ROWS = [
    # (locales kept, national form of the dropped locale, the same number in international form)
    (["us"], "Manchester 0161 496 0000", "0161 496 0000", "Manchester +44 161 496 0000", "+44 161 496 0000"),
    (["uk"], "her line 415-867-5309 today", "415-867-5309", "her line +1 415-867-5309 today", "+1 415-867-5309"),
    (["uk"], "Kiel 0431 19 97 94 bitte", "0431 19 97 94", "Kiel +49 431 19 97 94 bitte", "+49 431 19 97 94"),
    (["uk", "us"], "Paris 06 12 34 56 78", "06 12 34 56 78", "Paris +33 6 12 34 56 78", "+33 6 12 34 56 78"),
]


@pytest.fixture(scope="module")
def by_locales():
    cache: dict[tuple[str, ...], Scrubber] = {}

    def get(locales: list[str]) -> Scrubber:
        key = tuple(locales)
        if key not in cache:
            cache[key] = Scrubber(PiiConfig(locales=locales), b"k")
        return cache[key]
    return get


@pytest.mark.parametrize("locales, national, nat_value, intl, intl_value", LOCALE_ROWS)
def test_disabled_locale_drops_national_form_only(scrubber, by_locales, locales, national, nat_value, intl, intl_value):
    assert _phone_spans(scrubber, national, nat_value), "found with every locale"
    only = by_locales(locales)
    assert _phone_spans(only, national, nat_value) == []
    assert _covers(_phone_spans(only, intl, intl_value), intl, intl_value)


def test_regions_follow_locales():
    assert TgPhoneRecognizer(locales=("uk",)).regions == ("GB",)
    assert TgPhoneRecognizer(locales=("us", "uk")).regions == ("US", "CA", "GB")
    assert {"DE", "FR", "ES", "IT", "NL", "IE"} <= set(TgPhoneRecognizer(locales=("eu",)).regions)


def test_at_least_as_good_as_presidio_phone_recognizer(scrubber):
    """Presidio's PhoneRecognizer (its default regions, score 0.4 = the threshold) on the same tables:
    ours finds at least as many positives and no more look-alikes."""
    from presidio_analyzer.predefined_recognizers import PhoneRecognizer

    theirs = PhoneRecognizer()

    def presidio_finds(text: str, value: str) -> bool:
        start = text.index(value)
        end = start + len(value)
        return any(r.start < end and start < r.end for r in theirs.analyze(text, ["PHONE_NUMBER"], None))

    positives = VALID + CUED
    ours_pos = sum(bool(_phone_spans(scrubber, t, v)) for t, v in positives)
    theirs_pos = sum(presidio_finds(t, v) for t, v in positives)
    ours_neg = sum(bool(_phone_spans(scrubber, t, v)) for t, v in NEGATIVE)
    theirs_neg = sum(presidio_finds(t, v) for t, v in NEGATIVE)
    assert ours_pos >= theirs_pos and ours_neg <= theirs_neg, (ours_pos, theirs_pos, ours_neg, theirs_neg)
    assert (ours_pos, ours_neg) == (len(positives), 0)
