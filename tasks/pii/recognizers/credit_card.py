"""Payment card number, 13–19 digits in groups, validated with the Luhn checksum."""

from typing import ClassVar

from presidio_analyzer import Pattern, PatternRecognizer


def luhn_valid(text: str) -> bool:
    digits = [int(c) for c in text if c.isdigit()]
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


class TgCreditCardRecognizer(PatternRecognizer):
    ENTITY = "CREDIT_CARD"
    PATTERNS: ClassVar[list[Pattern]] = [Pattern("card", r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])", 0.3)]
    CONTEXT: ClassVar[list[str]] = ["card", "credit", "debit", "visa", "mastercard", "amex", "payment"]

    def __init__(self) -> None:
        super().__init__(supported_entity=self.ENTITY, patterns=self.PATTERNS, context=self.CONTEXT)

    def validate_result(self, pattern_text: str) -> bool:
        return luhn_valid(pattern_text)
