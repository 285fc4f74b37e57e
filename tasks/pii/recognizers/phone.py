"""Phone numbers: every international form, and the national forms of the enabled locales, validated.

A cheap pattern finds phone-shaped spans (optional ``+CC``/``00CC`` and ``(0)``, digit groups split by
space, dot, dash, slash or parentheses, optional extension ``x123``/``ext. 123``, which belongs to the
span; not glued to letters, digits or amounts); only spans of 7–15 digits are parsed by ``phonenumbers``.
Presidio's PhoneRecognizer instead runs ``PhoneNumberMatcher`` over the whole document once per region,
which made it slow (about 1 ms a short document against about 0.04 ms here).

* ``+CC`` / ``00CC``: parsed without a region; ``is_valid_number`` -> validated.
* National form: parsed at most once per region of the enabled locales (once for US and CA, which share
  +1) and validated if valid in any: uk -> GB; us -> US, CA; eu -> DE, FR, ES, IT, NL, IE, BE, AT, PT, PL,
  SE, DK, FI, GR, CZ. Regions whose trunk prefix is 0 (GB, DE, FR, NL, IE, BE, AT, SE, FI) are only tried
  on spans that start with 0, as national numbers are written there; a parenthesised area code without
  a 0 ("(415) 555-2671") is North American only, and a leading 1 is the North American trunk prefix only
  as a group of its own ("1-800-225-5324", not "12 345 678 901"). Under 8 digits is never valid nationally.
* Ofcom's drama ranges (07700 900xxx, 01632 960xxx) are reserved, so libphonenumber calls them invalid;
  they are what fixtures and synthetic notes use, and a text quoting one is still a phone number: valid.
* A plain run of digits (no separator, no parentheses) is an order, account or invoice number as often
  as a phone (``invoice 12345678901`` is a valid US number, ``12345678`` a UK account, ``021000021`` a
  US routing number): unless it starts with + or with 0 and has 10+ digits, it needs a cue, like the
  numbers that fail validation.
* A national-form span right after a word naming another kind of number ("invoice", "account", "ref",
  "NHS number", "SSN", "BSN", "card", "booking" ...) or inside an IBAN ("NL90 INGB 7169 8144 13") is not a phone.
* Cue: people write numbers no numbering plan accepts (``782 2652`` without area code, ``(555) 123-4567``,
  short codes with punctuation). Such a span with 7–15 digits is still reported, scored ``CUE_SCORE``
  (below validated ones, above the 0.4 threshold), when a cue sits right before it ("phone", "tel.",
  "mobile", "call", "ring", "text", "contact number", "number is", "reach me at", "office:", "ph." ...,
  optionally followed by "me/back/on/at/is/no.") or right after it ("(office)", "mobile", "fax", "home" ...).
  The cue is matched here, by word, on the few words beside the span, not by Presidio's context
  enhancer, which matches its words as substrings of six tokens around ("cell" in "cancelled", "ring" in
  "during", "tel" in "hotel") and cannot see "number is"; those results are marked as already enhanced.
  Validated spans keep Presidio's context boost (``CONTEXT``).
* Two numbers written side by side ("0161 496 0000 07700 900123") form one run of more than 15 digits;
  it is split before groups starting with 0 or "(" when every piece validates on its own.

Never a phone, whatever the plan says: dates (12/03/2024, 2024-03-12, 12.03.2024, also followed by a
time), times and year ranges, IPv4 addresses, dotted thousands (1.234.567), amounts next to a currency,
ZIP+4 (90210-1234), the SSN shape 123-45-6789, runs of more than 15 digits (cards, IBANs) that do not
split into phones, and 13–15-digit national runs that pass Luhn (card numbers).
"""

from __future__ import annotations

import re
from typing import ClassVar

import phonenumbers
from phonenumbers import NumberParseException
from presidio_analyzer import AnalysisExplanation, LocalRecognizer, RecognizerResult

from tasks.pii.recognizers.credit_card import card_number_valid

REGIONS: dict[str, tuple[str, ...]] = {
    "uk": ("GB",),
    "us": ("US", "CA"),
    "eu": ("DE", "FR", "ES", "IT", "NL", "IE", "BE", "AT", "PT", "PL", "SE", "DK", "FI", "GR", "CZ"),
}

_SP = r"[ \t\u00a0]"
_GROUP = r"(?:\(\d{1,5}\)|\d+)"
_SEP = rf"(?:{_SP}*[.\-\u2013]{_SP}*|/|{_SP}{{1,2}})"  # "0431/199794", but "393820 / 88413011" is two numbers
_EXT = rf"(?:{_SP}*,?{_SP}*(?:x|ext|extn|extension)\.?{_SP}*\d{{1,6}})"
# Not glued to a word, an amount or another number ("£1,234", "GB82 1234 ..." and "4111 1111" mid-run).
_CANDIDATE = re.compile(
    rf"(?<![\w+@£$€¥./\-\u2013])(?<!\d,)(?:(?=\+)|(?<!\d{_SP}))"  # "1,234,567" is an amount; ", 0161 …" a list
    rf"(?P<num>(?>\+{_SP}?)?(?>{_GROUP}(?:{_SEP}?{_GROUP})*))"
    rf"(?P<ext>{_EXT})?"
    rf"(?!\w|[.,/:\-\u2013]\d)",
    re.IGNORECASE,
)

_CUES_BEFORE = (
    r"phone|telephone|tel|tele|mobile|mob|cell|cellphone|fax|call|calls|called|ring|rang|text|texted|sms|"
    r"whatsapp|landline|dial|contact|contact number|number is|reach me at|reach (?:him|her|them|us) at|"
    r"answering at|office|ph|tlf|tfno|telefon|téléphone|portable|handy"
)
_FILLERS = r"me|him|her|them|us|back|on|at|is|no|nr|number|num|#"
_BEFORE = re.compile(
    rf"(?<![\w.])(?:{_CUES_BEFORE})\.?(?:[\s:#.,\-\u2013]*(?:{_FILLERS})(?!\w)\.?){{0,3}}[\s:#.,\-\u2013(]*$",
    re.IGNORECASE,
)
# Words that name another kind of number: a national-form span right after one is that number, not a phone.
_OTHER_NUMBERS = (
    r"invoice|inv|order|account|acct|a/c|ref|reference|policy|claim|nhs|card|iban|sort code|zip|zip code|postcode|"
    r"post code|isbn|passport|licence|license|serial|tracking|case|ticket|booking|transaction|txn|vin|reg|"
    r"registration|ssn|social security|itin|tin|tax|tax id|vat|nino|bsn|dni|nie|nir|insee|steuer-id|steuernummer|"
    r"idnr|codice fiscale|routing|aba|pin|otp|version|model|part|batch|lot"
)
_OTHER_BEFORE = re.compile(
    rf"(?<![\w.])(?:{_OTHER_NUMBERS})\.?(?:[\s:#.,\-\u2013]*(?:{_FILLERS})(?!\w)\.?){{0,3}}[\s:#.,\-\u2013(]*$",
    re.IGNORECASE,
)
# The tail of an IBAN written in groups ("NL90 INGB 7169 8144 13"): the digits after its bank code.
_IBAN_BEFORE = re.compile(r"(?<!\w)[A-Z]{2}\d{2}(?:[ \t]?[A-Z0-9]{4}){0,7}[ \t]?$", re.IGNORECASE)
_AFTER = re.compile(r"^[\s,\-\u2013]*[(\[]?\s*(?:office|work|mobile|mob|cell|fax|home|landline|tel)\b",
                    re.IGNORECASE)

_DATE = re.compile(r"(\d{1,2})([./\- ])(\d{1,2})\2(\d{2}|\d{4})|(\d{4})([./\- ])(\d{1,2})\6(\d{1,2})")
_DATED = re.compile(r"\d{1,2}([./\-])\d{1,2}\1(?:19|20)\d\d(?!\d)|(?<!\d)(?:19|20)\d\d([./\-])\d{1,2}\2\d{1,2}(?!\d)")
_YEARS = re.compile(r"(?:19|20)\d\d\s?[\-\u2013/]\s?(?:19|20)\d\d")
_IPV4 = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
_THOUSANDS = re.compile(r"\d{1,3}(?:[.,]\d{3}){2,}")
_ZIP4 = re.compile(r"\d{5}-\d{4}")
_SSN = re.compile(r"\d{3}-\d{2}-\d{4}")  # US social security number shape, never a phone grouping
_NANP_ONE = re.compile(r"1(?:[ .\-\u2013]|\(|$)")  # "1-800-...", "1 (202) ...", but not "12 345 678 901"
_TIMES = re.compile(r"\d{1,2}[.:]\d{2}\s?[\-\u2013]\s?\d{1,2}[.:]\d{2}")
_NANP_PAREN = re.compile(r"\((?!0)\d{3}\)")  # "(415) 555-2671": an area code without trunk 0 is North American
_CURRENCY_BEFORE = re.compile(r"(?:€|\$|£|eur|usd|gbp|chf|sek|dkk|pln|czk)\s?$", re.IGNORECASE)
_CURRENCY_AFTER = re.compile(r"^\s?(?:€|\$|£|eur|usd|gbp|chf|kr|sek|dkk|pln|zł|czk|kč)(?!\w)", re.IGNORECASE)
_DRAMA = re.compile(r"7700900\d{3}|1632960\d{3}")  # Ofcom's reserved drama ranges (see module docstring)


def _is_date(num: str) -> bool:
    m = _DATE.fullmatch(num)
    if not m:
        return False
    if m.group(1):
        day, month, year = int(m.group(1)), int(m.group(3)), m.group(4)
        return (1 <= day <= 31 and 1 <= month <= 12 or 1 <= month <= 31 and 1 <= day <= 12) and \
            (len(year) == 2 or year[:2] in ("19", "20"))
    return m.group(5)[:2] in ("19", "20") and 1 <= int(m.group(7)) <= 12 and 1 <= int(m.group(8)) <= 31


def _international(num: str, digits: str) -> str | None:
    """The span as ``+CC ...`` when it is in international form (``+CC`` or ``00CC``), else None."""
    if num.startswith("+"):
        return num
    if digits.startswith("00") and num.startswith("00"):
        return "+" + num[2:].lstrip(" \t\u00a0.-")
    return None


def _valid(number: phonenumbers.PhoneNumber, region: str | None = None) -> bool:
    """Valid in the plan (of ``region`` when given, else of its country code), or in a UK drama range."""
    if number.country_code == 44 and _DRAMA.fullmatch(str(number.national_number)):
        return True
    return phonenumbers.is_valid_number_for_region(number, region) if region else phonenumbers.is_valid_number(number)


class TgPhoneRecognizer(LocalRecognizer):
    ENTITY = "PHONE_NUMBER"
    TAKES_LOCALES = True
    # Validated by the numbering plan: full score, as Presidio gives a pattern whose checksum passes; a phone
    # holding a checksum-valid NHS number ("+44 (0)113 496 0999") then wins the overlap by length.
    SCORE = 1.0
    CUE_SCORE = 0.5   # phone-shaped, next to a cue, not (or not certainly) valid
    CONTEXT: ClassVar[list[str]] = ["phone", "telephone", "tel", "mobile", "cell", "fax", "call", "ring", "rang",
                                    "contact", "office", "landline"]

    def __init__(self, locales: tuple[str, ...] | list[str] = ("uk", "us", "eu")) -> None:
        self.regions = tuple(dict.fromkeys(r for loc in locales for r in REGIONS[loc]))
        self._trunk0 = {r: phonenumbers.PhoneMetadata.metadata_for_region(r).national_prefix == "0"
                        for r in self.regions}
        self._codes = {r: phonenumbers.country_code_for_region(r) for r in self.regions}
        self._lengths = {r: frozenset(phonenumbers.PhoneMetadata.metadata_for_region(r).general_desc.possible_length)
                         for r in self.regions}
        super().__init__(supported_entities=[self.ENTITY], name="TgPhoneRecognizer", context=self.CONTEXT)

    def load(self) -> None:
        pass

    def analyze(self, text, entities, nlp_artifacts=None, regex_flags=None):
        results = []
        for m in _CANDIDATE.finditer(text):
            num = m.group("num")
            digits = re.sub(r"\D", "", num)
            if len(digits) > 15:  # cards, IBAN bodies, or two numbers written side by side
                results += self._side_by_side(text, m)
                continue
            if len(digits) < 7 or self._never(num, digits, text, m.start(), m.end()):
                continue
            intl = _international(num, digits)
            if not num.startswith("+") and self._other_number(text, m.start()):
                continue
            validated = self._validated(num, digits, intl)
            if validated:
                results.append(self._result(m.start(), m.end(), self.SCORE, validated, cued=False))
            elif (self._cued(text, m.start(), m.end()) or num.startswith("+")) and self._plausible(intl):
                # a leading "+" is a cue in itself: "+1-743-438-6774" is a phone even where no plan lists it
                results.append(self._result(m.start(), m.end(), self.CUE_SCORE, "cue", cued=True))
        return results

    def _side_by_side(self, text: str, m: re.Match) -> list[RecognizerResult]:
        """"0161 496 0000 07700 900123": split the run before groups starting with 0 or "(", shortest valid
        piece of 9+ digits first; reported only when every piece validates and starts with 0, "(" or "+" (so a
        16-digit card never splits, nor does an IBAN body)."""
        base, num = m.start(), m.group("num")
        if num[0] not in "0(+" or self._other_number(text, base):
            return []
        cuts = [i for i in range(1, len(num)) if num[i] in "0(" and num[i - 1] in " \t\u00a0"] + [len(num)]
        out, cur = [], 0
        for cut in cuts:
            piece = num[cur:cut].rstrip(" \t\u00a0")
            digits = re.sub(r"\D", "", piece)
            if len(digits) > 15:
                return []
            if len(digits) < 9 or self._never(piece, digits, text, base + cur, base + cur + len(piece)):
                continue
            region = self._validated(piece, digits, _international(piece, digits))
            if region:
                end = m.end() if cut == len(num) else base + cur + len(piece)
                out.append(self._result(base + cur, end, self.SCORE, region, cued=False))
                cur = cut
        return out if cur == len(num) and len(out) > 1 else []

    @staticmethod
    def _other_number(text: str, start: int) -> bool:
        """Right after a word naming another kind of number, or inside an IBAN."""
        before = text[max(0, start - 40):start]
        return bool(_OTHER_BEFORE.search(before) or _IBAN_BEFORE.search(before))

    @staticmethod
    def _never(num: str, digits: str, text: str, start: int, end: int) -> bool:
        """Shapes that are not phone numbers in any plan."""
        national = not num.startswith("+")
        return bool(
            _is_date(num) or _DATED.search(num) or _YEARS.fullmatch(num) or _IPV4.fullmatch(num)
            or _THOUSANDS.fullmatch(num) or _ZIP4.fullmatch(num) or _SSN.fullmatch(num) or _TIMES.fullmatch(num)
            or _CURRENCY_AFTER.match(text[end:end + 5])
            or _CURRENCY_BEFORE.search(text[max(0, start - 4):start])
            or (national and len(digits) >= 13 and not digits.startswith("00") and card_number_valid(digits))
        )

    def _validated(self, num: str, digits: str, intl: str | None) -> str | None:
        """The region the span is valid in, or None (a plain run not starting with 0 counts as None)."""
        if intl:
            number = self._parse(intl, None)
            return f"+{number.country_code}" if number and _valid(number) else None
        if len(digits) < 8 or (digits == num and (digits[0] != "0" or len(digits) < 10)):
            return None  # a plain 8- or 9-digit run is an account or routing number as often as a phone
        starts0 = num.lstrip("(")[:1] == "0"
        nanp_paren = "(" in num and _NANP_PAREN.search(num)
        parsed: dict[int, phonenumbers.PhoneNumber | None] = {}  # one parse per country code (US and CA share +1)
        for region, code in self._codes.items():
            if (self._trunk0[region] and not starts0) or (nanp_paren and code != 1) or \
                    (code == 1 and digits[0] == "1" and not _NANP_ONE.match(num)):
                continue
            trunk = self._trunk0[region] or (code == 1 and digits[0] == "1")
            if len(digits) - trunk not in self._lengths[region]:  # cheap: no parse for an impossible length
                continue
            if code not in parsed:
                parsed[code] = self._parse(num, region)
            if parsed[code] and _valid(parsed[code], region):
                return region
        return None

    @staticmethod
    def _plausible(intl: str | None) -> bool:
        """An unvalidated international span must at least have a possible length for its country."""
        if intl:
            number = TgPhoneRecognizer._parse(intl, None)
            return bool(number) and phonenumbers.is_possible_number(number)
        return True

    @staticmethod
    def _parse(num: str, region: str | None) -> phonenumbers.PhoneNumber | None:
        try:
            return phonenumbers.parse(num, region)
        except NumberParseException:
            return None

    @staticmethod
    def _cued(text: str, start: int, end: int) -> bool:
        return bool(_BEFORE.search(text[max(0, start - 40):start]) or _AFTER.match(text[end:end + 16]))

    def _result(self, start: int, end: int, score: float, how: str, cued: bool) -> RecognizerResult:
        return RecognizerResult(
            self.ENTITY, start, end, score,
            analysis_explanation=AnalysisExplanation(
                recognizer=type(self).__name__, original_score=score,
                textual_explanation=f"phone number ({how})"),
            recognition_metadata={RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                                  RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
                                  RecognizerResult.IS_SCORE_ENHANCED_BY_CONTEXT_KEY: cued},
        )
