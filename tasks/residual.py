"""Independent residual scan of scrubbed text for structured identifiers.

Deliberately not the recognizers' code path: separate regexes and checksums, no NLP, no context
words, so a bug in one does not hide itself in the other. Counts only; values are never returned.
"""

from __future__ import annotations

import re
from collections import Counter

# Placeholders and pseudonyms (<PERSON_7f3a2c>) are removed before scanning.
_TOKEN = re.compile(r"<[A-Z_]+(?:_[0-9a-f]{6})?>")

_EMAIL = re.compile(r"[\w.%+'-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"(?:\+|\b)(?:44|0)[\d ()-]{8,16}\d")
_POSTCODE = re.compile(r"\b[A-Za-z]{1,2}\d[A-Za-z\d]? ?\d[A-Za-z]{2}\b")
_NINO = re.compile(r"\b[A-Za-z]{2} ?\d{2} ?\d{2} ?\d{2} ?[A-Da-d]\b")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}")
_DIGITS = re.compile(r"(?<![\d])\d(?:[ -]?\d){9,18}(?![\d])")
_SORT_CODE = re.compile(r"(?<![\d-])\d{2}-\d{2}-\d{2}(?![\d-])")
_IPV4 = re.compile(r"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)(?![\d.])")


def _luhn(d: str) -> bool:
    s = 0
    for i, c in enumerate(reversed(d)):
        n = int(c) * (2 if i % 2 else 1)
        s += n - 9 if n > 9 else n
    return s % 10 == 0


def _mod11(d: str) -> bool:
    c = 11 - sum(int(x) * (10 - i) for i, x in enumerate(d[:9])) % 11
    return (0 if c == 11 else c) == int(d[9]) and c != 10


def _mod97(s: str) -> bool:
    s = s.replace(" ", "")
    # the greedy match may run into a following word; try every prefix of a plausible length
    for n in range(min(len(s), 34), 14, -1):
        t = s[4:n] + s[:4]
        if t.isalnum() and int("".join(str(int(c, 36)) for c in t)) % 97 == 1:
            return True
    return False


def _number_runs(groups: list[str]) -> Counter:
    """Card (Luhn) and NHS (mod-11) numbers among consecutive digit groups of one run."""
    out: Counter = Counter()
    i = 0
    while i < len(groups):
        for j in range(len(groups), i, -1):
            d = "".join(groups[i:j])
            if 13 <= len(d) <= 19 and _luhn(d):
                out["CREDIT_CARD"] += 1
                break
            if len(d) == 10 and d[0] != "0" and _mod11(d):
                out["UK_NHS"] += 1
                break
        else:
            j = i + 1
        i = j
    return out


def scan(text: str) -> Counter:
    """Counts of surviving identifiers by type in one scrubbed text."""
    text = _TOKEN.sub(" ", text)
    found: Counter = Counter()
    found["EMAIL_ADDRESS"] += len(_EMAIL.findall(text))
    for m in _PHONE.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        digits = "0" + digits[2:] if digits.startswith("44") else digits
        digits = digits[1:] if digits.startswith("00") else digits
        if len(digits) in (10, 11) and digits[1] in "123578":
            found["PHONE_NUMBER"] += 1
    found["UK_POSTCODE"] += len(_POSTCODE.findall(text))
    found["UK_NINO"] += len(_NINO.findall(text))
    found["IBAN_CODE"] += sum(_mod97(m.group()) for m in _IBAN.finditer(text))
    for m in _DIGITS.finditer(text):
        found.update(_number_runs(re.split(r"[ -]", m.group())))
    found["UK_SORT_CODE"] += len(_SORT_CODE.findall(text))
    found["IP_ADDRESS"] += len(_IPV4.findall(text))
    return +found
