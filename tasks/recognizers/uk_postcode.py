"""UK postcode (outward + inward code), scored high enough to pass a 0.4 threshold on its own."""

from typing import ClassVar

from presidio_analyzer import Pattern, PatternRecognizer


class TgUkPostcodeRecognizer(PatternRecognizer):
    LOCALE = "uk"
    ENTITY = "UK_POSTCODE"
    # Presidio's own scores 0.1, so below common thresholds every postcode survives.
    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern("postcode", r"\b(?:[A-Z]{1,2}\d[A-Z\d]?|GIR) ?\d[ABD-HJLNP-UW-Z]{2}\b", 0.6),
    ]
    CONTEXT: ClassVar[list[str]] = ["postcode", "post code", "address", "postal"]

    def __init__(self) -> None:
        super().__init__(supported_entity=self.ENTITY, patterns=self.PATTERNS, context=self.CONTEXT)
