"""UK postcode: outward code of a real postcode area, inward code of a digit and two allowed letters.

Shape alone reads lab codes as postcodes (a mouse strain "C57BL/6" has the shape "C5 7BL", a cell
marker "CD45RA" the shape "CD4 5RA"), so the outward code must start with one of the 121 postcode
areas, and a lower-case postcode counts only with postcode context. Scored high enough to pass a 0.4
threshold on its own when upper case (Presidio's own scores 0.1, so every postcode survives it).
"""

import re
from typing import ClassVar

from presidio_analyzer import Pattern, PatternRecognizer

from tasks.pii.formats import postcode_valid


class TgUkPostcodeRecognizer(PatternRecognizer):
    LOCALE = "uk"
    ENTITY = "UK_POSTCODE"
    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern("postcode", r"\b(?:[A-Z]{1,2}\d[A-Z\d]?|GIR) ?\d[ABD-HJLNP-UW-Z]{2}\b", 0.6),
        Pattern("postcode_lower", r"\b[a-z]{1,2}\d[a-z\d]? ?\d[abd-hjlnp-uw-z]{2}\b", 0.1),  # needs context
    ]
    CONTEXT: ClassVar[list[str]] = ["postcode", "post code", "address", "postal", "moved", "lives", "living"]

    def __init__(self) -> None:
        super().__init__(supported_entity=self.ENTITY, patterns=self.PATTERNS, context=self.CONTEXT,
                         global_regex_flags=re.DOTALL | re.MULTILINE)

    def validate_result(self, pattern_text: str) -> bool:
        return postcode_valid(pattern_text)
