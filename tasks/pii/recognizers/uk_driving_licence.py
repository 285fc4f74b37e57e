"""UK (DVLA) driving licence number: surname, birth date with gender-coded month, initials, check."""

from typing import ClassVar

from presidio_analyzer import Pattern, PatternRecognizer


class TgUkDrivingLicenceRecognizer(PatternRecognizer):
    LOCALE = "uk"
    ENTITY = "UK_DRIVING_LICENCE"
    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern("dvla", r"\b[A-Z9]{5}\d[0156]\d[0-3]\d\d[A-Z9]{2}\d[A-Z]{2}(?: ?\d{2})?\b", 0.6),
    ]
    CONTEXT: ClassVar[list[str]] = ["licence", "license", "dvla", "driving"]

    def __init__(self) -> None:
        super().__init__(supported_entity=self.ENTITY, patterns=self.PATTERNS, context=self.CONTEXT)
