"""Payment card number, 13–19 digits in groups, validated with the Luhn checksum.

Two patterns: any grouping with single spaces or hyphens, not touching other digits or hyphens; and
Presidio's own (CreditCardRecognizer's, copied: 4 digits, then groups of 3-4, 3-4 and 3-5, with word
boundaries), so that every number Presidio accepts is found here too: one after "ref 12 ", one with a
hyphen before it ("card-4111-…").
"""

from typing import ClassVar

from presidio_analyzer import Pattern, PatternRecognizer

from tasks.checksums import luhn_valid


def card_number_valid(text: str) -> bool:
    """13 to 19 digits (other characters skipped) with a valid Luhn checksum."""
    return 13 <= sum(c.isdigit() for c in text) <= 19 and luhn_valid(text)


class TgCreditCardRecognizer(PatternRecognizer):
    ENTITY = "CREDIT_CARD"
    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern("card", r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])", 0.3),
        Pattern("presidio_groups", r"\b(?!1\d{12}(?!\d))((4\d{3})|(5[0-5]\d{2})|(6\d{3})|(1\d{3})|(3\d{3}))[- ]?"
                r"(\d{3,4})[- ]?(\d{3,4})[- ]?(\d{3,5})\b", 0.3),
    ]
    CONTEXT: ClassVar[list[str]] = ["card", "credit", "debit", "visa", "mastercard", "amex", "payment"]

    def __init__(self) -> None:
        super().__init__(supported_entity=self.ENTITY, patterns=self.PATTERNS, context=self.CONTEXT)

    def validate_result(self, pattern_text: str) -> bool:
        return card_number_valid(pattern_text)
