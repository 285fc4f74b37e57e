"""UK vehicle registration mark: current (AB12 CDE), prefix (A123 BCD) and suffix (ABC 123D) styles."""

from typing import ClassVar

from presidio_analyzer import Pattern, PatternRecognizer


class TgVehicleRegistrationRecognizer(PatternRecognizer):
    LOCALE = "uk"
    ENTITY = "UK_VEHICLE_REGISTRATION"
    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern("current", r"\b[A-Z]{2}\d{2} ?[A-Z]{3}\b", 0.5),
        Pattern("prefix", r"\b[A-Z]\d{1,3} ?[A-Z]{3}\b", 0.2),
        Pattern("suffix", r"\b[A-Z]{3} ?\d{1,3}[A-Z]\b", 0.2),
    ]
    CONTEXT: ClassVar[list[str]] = ["reg", "registration", "vrm", "vehicle", "car", "plate", "number plate"]

    def __init__(self) -> None:
        super().__init__(supported_entity=self.ENTITY, patterns=self.PATTERNS, context=self.CONTEXT)
