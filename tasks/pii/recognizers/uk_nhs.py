"""NHS number: ten digits (3-3-4), mod-11 check digit.

Only the 3-3-4 grouping is accepted, and a phone number that contains one (``+44 (0)113 496 0123``)
is longer, so it wins the overlap (see tasks.pii.ops.merge_overlaps) and the span stays PHONE_NUMBER.
"""

import re
from typing import ClassVar

from presidio_analyzer import Pattern, PatternRecognizer

from tasks.checksums import nhs_check_digit


def nhs_valid(text: str) -> bool:
    digits = re.sub(r"\D", "", text)
    if len(digits) != 10:
        return False
    check = nhs_check_digit(digits[:9])
    return check is not None and check == int(digits[9])


class TgUkNhsRecognizer(PatternRecognizer):
    LOCALE = "uk"
    ENTITY = "UK_NHS"
    PATTERNS: ClassVar[list[Pattern]] = [Pattern("nhs", r"(?<![\d+-])\d{3}[ -]?\d{3}[ -]?\d{4}(?![\d-])", 0.3)]
    CONTEXT: ClassVar[list[str]] = ["nhs", "health", "patient", "gp", "hospital"]

    def __init__(self) -> None:
        super().__init__(supported_entity=self.ENTITY, patterns=self.PATTERNS, context=self.CONTEXT)

    def validate_result(self, pattern_text: str) -> bool:
        return nhs_valid(pattern_text)
