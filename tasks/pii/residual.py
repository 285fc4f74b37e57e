"""Independent residual scan of scrubbed text for structured identifiers.

Deliberately not the recognizers' code path: separate regexes, no NLP, no context words, so a bug in
one does not hide itself in the other. It reports what it actually sees, not a guess at the type: a
ten-digit run that happens to pass the NHS checksum is an "identifier-like digit run", not an NHS
number. Its validation is never looser than the detectors' (a postcode needs a real area and a
well-formed inward code). Matches that touch a keep-list term are not counted, so a domain term
("CD45RA", a product code) is allowed in one line of config. A number table (a long run of digit
groups) is data, not thousands of identifiers. Locations are (kind, start, end): never the value.
"""

from __future__ import annotations

import re
from collections import Counter

from tasks.checksums import iban_checksum_ok, luhn_valid
from tasks.pii.formats import postcode_valid

# Placeholders and pseudonyms (<PERSON_7f3a2c…>) are removed before scanning.
_TOKEN = re.compile(r"<[A-Z_]+(?:_[0-9a-f]{6,16})?>")

KINDS = {
    "EMAIL_ADDRESS": "e-mail addresses",
    "PHONE_NUMBER": "phone numbers with a country code",
    "UK_POSTCODE": "UK postcodes",
    "UK_NINO": "National Insurance numbers",
    "US_SSN": "dashed US social security numbers",
    "IBAN_CODE": "IBANs (mod-97 valid)",
    "CARD_NUMBER": "card numbers (Luhn valid)",
    "DIGIT_RUN": "identifier-like digit runs (10-19 digits)",
    "IP_ADDRESS": "IPv4 addresses",
}

_EMAIL = re.compile(r"[\w.%+'-]+@[\w-]+(?:\.[\w-]+)+")
_INTL_PHONE = re.compile(r"(?<![\w+])(?:\+|00)[1-9]\d{0,2}[ .-]?(?:\(0\)[ .-]?)?\d(?:[ .()-]?\d){6,12}(?![\w-])")
_POSTCODE = re.compile(r"\b(?:[A-Z]{1,2}\d[A-Z\d]?|GIR) ?\d[A-Z]{2}\b")
_NINO = re.compile(r"\b[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b")
_SSN = re.compile(r"(?<![\d-])\d{3}-\d{2}-\d{4}(?![\d-])")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}")
# A maximal run of digit groups joined by single spaces or dashes.
_DIGIT_GROUPS = re.compile(r"(?<![\d.,])\d+(?:[ -]\d+)*(?![\d.,]\d)")
_IPV4 = re.compile(r"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)(?![\d.])")
TABLE_GROUPS = 6  # more groups than a card or phone has: a row of a number table
# Dates and times ("1993-01-04 14:56:41", "04/01/1993 14:56") are not identifiers: blanked before the digit scan.
_DATETIME = re.compile(r"(?<!\d)(?:\d{4}-\d{1,2}-\d{1,2}|\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4})"
                       r"(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?(?!\d)"
                       r"|(?<!\d)\d{1,2}:\d{2}(?::\d{2})?(?!\d)")


def _mod97(s: str) -> int:
    """Length of the longest IBAN-valid prefix (the greedy match may run into a following word), or 0."""
    s = s.replace(" ", "")
    for n in range(min(len(s), 34), 14, -1):
        if s[:n].isalnum() and iban_checksum_ok(s[:n]):
            return n
    return 0


def _in_table(text: str, a: int, b: int) -> bool:
    """The match sits in a longer run of digit groups (a row of a number table)."""
    while a > 0 and (text[a - 1].isdigit() or text[a - 1] in " .-/()+"):
        a -= 1
    while b < len(text) and (text[b].isdigit() or text[b] in " .-/()"):
        b += 1
    return len(re.findall(r"\d+", text[a:b])) > TABLE_GROUPS


def _numbers(text: str) -> list[tuple[str, int, int]]:
    out = []
    for m in _DIGIT_GROUPS.finditer(text):
        groups = re.split(r"[ -]", m.group())
        digits = "".join(groups)
        if len(groups) > TABLE_GROUPS or not 10 <= len(digits) <= 19:
            continue
        out.append(("CARD_NUMBER" if len(digits) >= 13 and luhn_valid(digits) else "DIGIT_RUN", m.start(), m.end()))
    return out


def find(text: str, keep: list[re.Pattern] = ()) -> list[tuple[str, int, int]]:
    """(kind, start, end) of every identifier that survived in one scrubbed text, keep-list terms aside."""
    text = _TOKEN.sub(lambda m: " " * len(m.group()), text)  # same length: offsets stay those of the output
    hits = [("EMAIL_ADDRESS", m.start(), m.end()) for m in _EMAIL.finditer(text)]
    hits += [("PHONE_NUMBER", m.start(), m.end()) for m in _INTL_PHONE.finditer(text)
             if not _in_table(text, m.start(), m.end())]
    hits += [("UK_POSTCODE", m.start(), m.end()) for m in _POSTCODE.finditer(text) if postcode_valid(m.group())]
    hits += [("UK_NINO", m.start(), m.end()) for m in _NINO.finditer(text)]
    hits += [("US_SSN", m.start(), m.end()) for m in _SSN.finditer(text)]
    hits += [("IBAN_CODE", m.start(), m.start() + n) for m in _IBAN.finditer(text) if (n := _mod97(m.group()))]
    hits += _numbers(_DATETIME.sub(lambda m: " " * len(m.group()), text))
    hits += [("IP_ADDRESS", m.start(), m.end()) for m in _IPV4.finditer(text)]
    # One identifier, one count: a phone number's digits are not also a digit run.
    hits.sort(key=lambda h: (h[1], -h[2]))
    out: list[tuple[str, int, int]] = []
    for h in hits:
        if out and h[1] < out[-1][2]:
            continue
        out.append(h)
    if keep:
        spans = [m.span() for k in keep for m in k.finditer(text)]
        out = [h for h in out if not any(h[1] < e and s < h[2] for s, e in spans)]
    return out


def scan(text: str, keep: list[re.Pattern] = ()) -> Counter:
    """Counts of surviving identifiers by kind in one scrubbed text."""
    return Counter(kind for kind, _, _ in find(text, keep))
