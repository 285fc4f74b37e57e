"""UK bank sort code: dashed form scores on its own, spaced or run-together forms need context."""

from typing import ClassVar

from presidio_analyzer import Pattern, PatternRecognizer


class TgUkSortCodeRecognizer(PatternRecognizer):
    LOCALE = "uk"
    ENTITY = "UK_SORT_CODE"
    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern("sort_dashed", r"(?<![\d/.-])\d{2}-\d{2}-\d{2}(?![\d/.-])", 0.4),
        Pattern("sort_plain", r"(?<![\d/.-])\d{2} ?\d{2} ?\d{2}(?![\d/.-])", 0.1),
    ]
    CONTEXT: ClassVar[list[str]] = ["sort", "bank", "refund", "settlement", "pay", "payment", "account"]

    def __init__(self) -> None:
        super().__init__(supported_entity=self.ENTITY, patterns=self.PATTERNS, context=self.CONTEXT)
