"""Street address: optional flat, house number, street name with a street-type word.

Street words are matched case-sensitively (Title Case) so that "2 cars on the road" is not an address.
"""

from typing import ClassVar

from presidio_analyzer import Pattern, PatternRecognizer

_TYPES = (
    "Road|Rd|Street|St|Lane|Ln|Avenue|Ave|Close|Drive|Dr|Way|Crescent|Cres|Gardens|Gdns|Place|Pl|Court|Ct|"
    "Terrace|Grove|Hill|Park|Row|Square|Sq|Walk|Mews|Rise|View|Green|Parade|Boulevard|Vale|Meadow|Fields"
)
_FLAT = r"(?:(?:Flat|Apartment|Apt|Unit) \d{1,4}[A-Z]?,? )?"


class TgStreetAddressRecognizer(PatternRecognizer):
    ENTITY = "STREET_ADDRESS"
    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern(
            "street",
            rf"{_FLAT}\b\d{{1,4}}[A-Za-z]?,? (?:[A-Z][a-z'’-]+ ){{1,3}}(?:{_TYPES})\b",
            0.6,
        ),
        Pattern("named_way", rf"{_FLAT}\b\d{{1,4}}[A-Za-z]?,? (?:[A-Z][a-z'’-]+ ){{0,2}}(?:Kingsway|Broadway)\b", 0.6),
    ]
    CONTEXT: ClassVar[list[str]] = ["address", "lives", "living", "resides", "property"]

    def __init__(self) -> None:
        super().__init__(
            supported_entity=self.ENTITY, patterns=self.PATTERNS, context=self.CONTEXT, global_regex_flags=0
        )
