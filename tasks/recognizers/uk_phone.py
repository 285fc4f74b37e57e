"""UK phone numbers (mobile, geographic, non-geographic, +44) by regex, no phonenumbers library.

Presidio's PhoneRecognizer tries eight regions through `phonenumbers` per document and costs most of
the non-spaCy time; UK formats are few enough to write down.
"""

import re
from typing import ClassVar

from presidio_analyzer import Pattern, PatternRecognizer


class TgUkPhoneRecognizer(PatternRecognizer):
    ENTITY = "PHONE_NUMBER"
    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern(
            "uk_phone",
            r"(?<![\w+])(?:\+44[\s.-]?(?:\(0\)[\s.-]?)?|0044[\s.-]?|\(?0)\d{2,4}\)?(?:[\s.-]?\d){6,8}(?![\w-])",
            0.4,
        ),
    ]
    CONTEXT: ClassVar[list[str]] = ["phone", "tel", "telephone", "mobile", "call", "number", "contact", "ring", "rang"]

    def __init__(self) -> None:
        super().__init__(supported_entity=self.ENTITY, patterns=self.PATTERNS, context=self.CONTEXT)

    def validate_result(self, pattern_text: str) -> bool:
        digits = re.sub(r"\D", "", pattern_text)
        if digits.startswith("0044"):
            digits = "0" + digits[4:]
        elif digits.startswith("44"):
            digits = "0" + digits[2:]
        if digits.startswith("00"):
            digits = digits[1:]
        return len(digits) in (10, 11) and digits[0] == "0" and digits[1] in "123578"
