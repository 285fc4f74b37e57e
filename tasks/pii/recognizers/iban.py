"""IBAN for every country: country code, check digits, BBAN; validated with ISO 7064 mod-97."""

from typing import ClassVar

from presidio_analyzer import Pattern, PatternRecognizer

from tasks.checksums import iban_checksum_ok


def iban_valid(text: str) -> bool:
    s = "".join(text.split()).upper()
    if not 15 <= len(s) <= 34 or not s[:2].isalpha() or not s[2:4].isdigit():
        return False
    try:
        return iban_checksum_ok(s)
    except ValueError:
        return False


class TgIbanRecognizer(PatternRecognizer):
    ENTITY = "IBAN_CODE"
    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern("iban_grouped", r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b", 0.5),
        # typed in lower case ("my iban is gb12spfc…"): the mod-97 check keeps words out
        Pattern("iban_lower", r"\b[a-z]{2}\d{2}(?: ?[a-z0-9]{4}){2,7}(?: ?[a-z0-9]{1,3})?\b", 0.5),
    ]
    CONTEXT: ClassVar[list[str]] = ["iban", "bank", "transfer", "account"]

    def __init__(self) -> None:
        # Case-sensitive: IBANs are written in capitals and lower-case words must not extend a match.
        super().__init__(
            supported_entity=self.ENTITY, patterns=self.PATTERNS, context=self.CONTEXT, global_regex_flags=0
        )

    def validate_result(self, pattern_text: str) -> bool:
        return iban_valid(pattern_text)
