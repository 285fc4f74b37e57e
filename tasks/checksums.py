"""Check digits, one implementation each: Luhn (payment cards), ISO 7064 mod-97 (IBANs) and the NHS number's
mod-11. In the common layer because two stages use them: ingest's sample corpus writes valid numbers and the PII
recognizers and residual scan check them."""

from __future__ import annotations


def luhn_valid(number: str) -> bool:
    """The Luhn checksum over the digits of ``number`` (spaces, dashes and other characters are skipped)."""
    digits = [int(c) for c in number if c.isdigit()][::-1]
    return sum(d if i % 2 == 0 else (d * 2 - 9 if d > 4 else d * 2) for i, d in enumerate(digits)) % 10 == 0


def mod97(text: str) -> int:
    """ISO 7064 mod-97-10 of an alphanumeric string, letters counting 10 to 35 (ValueError on anything else)."""
    return int("".join(str(int(c, 36)) for c in text)) % 97


def iban_checksum_ok(iban: str) -> bool:
    """An IBAN's own check (spaces ignored): its first four characters moved to the end, mod 97 is 1."""
    s = iban.replace(" ", "")
    return mod97(s[4:] + s[:4]) == 1


def iban_check_digits(country: str, bban: str) -> str:
    """The two check digits that make ``country`` + digits + ``bban`` a valid IBAN."""
    return f"{98 - mod97(bban + country + '00'):02d}"


def nhs_check_digit(nine: str) -> int | None:
    """The NHS number's mod-11 check digit for its first nine digits (weights 10 to 2); None where it would be
    10, a number that is never issued."""
    c = 11 - sum(int(x) * w for x, w in zip(nine, range(10, 1, -1))) % 11
    return {11: 0, 10: None}.get(c, c)
