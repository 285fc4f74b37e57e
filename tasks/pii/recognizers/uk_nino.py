"""UK National Insurance number: two prefix letters, six digits, suffix A–D."""

from typing import ClassVar

from presidio_analyzer import Pattern, PatternRecognizer

# HMRC never issues these prefixes (and D, F, I, Q, U, V never appear in either letter).
_INVALID_PREFIXES = {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"}


class TgUkNinoRecognizer(PatternRecognizer):
    LOCALE = "uk"
    ENTITY = "UK_NINO"
    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern("nino", r"\b[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b", 0.5),
    ]
    CONTEXT: ClassVar[list[str]] = ["national insurance", "ni number", "nino", "insurance number", "ni no"]

    def __init__(self) -> None:
        super().__init__(supported_entity=self.ENTITY, patterns=self.PATTERNS, context=self.CONTEXT)

    def validate_result(self, pattern_text: str) -> bool:
        return pattern_text[:2].upper() not in _INVALID_PREFIXES
