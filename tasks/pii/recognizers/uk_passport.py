"""UK passport number: nine digits, only near the word passport."""

from typing import ClassVar

from presidio_analyzer import Pattern, PatternRecognizer


class TgUkPassportRecognizer(PatternRecognizer):
    LOCALE = "uk"
    ENTITY = "UK_PASSPORT"
    PATTERNS: ClassVar[list[Pattern]] = [Pattern("passport", r"(?<![\d-])\d{9}(?![\d-])", 0.1)]
    CONTEXT: ClassVar[list[str]] = ["passport", "travel document"]

    def __init__(self) -> None:
        super().__init__(supported_entity=self.ENTITY, patterns=self.PATTERNS, context=self.CONTEXT)
