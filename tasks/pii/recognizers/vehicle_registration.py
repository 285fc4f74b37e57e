"""UK vehicle registration mark: current (AB12 CDE), prefix (A123 BCD) and suffix (ABC 123D) styles.

In capitals, all in lower case, or in mixed case next to a vehicle word ("the car (Ab12cde)"); a
current-style mark only with an age identifier the DVLA has issued or soon will (02-29 for March, 51-79
for September). Presidio matches case-insensitively, and lab, gene and cell codes have the same shape in
mixed case or with an unissued number ("CD45 dim", "PD35 was", "CD19 and").
"""

from typing import ClassVar

from presidio_analyzer import Pattern, PatternRecognizer


def age_identifier_valid(mark: str) -> bool:
    """A current-style mark's two digits are an issued (or soon issued) age identifier."""
    digits = "".join(c for c in mark if c.isdigit())
    if len(digits) != 2 or not mark[:2].isalpha():
        return True  # prefix and suffix styles carry no age identifier
    n = int(digits)
    return 2 <= n <= 29 or 51 <= n <= 79


class TgVehicleRegistrationRecognizer(PatternRecognizer):
    LOCALE = "uk"
    ENTITY = "UK_VEHICLE_REGISTRATION"
    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern("current", r"(?-i:\b[A-Z]{2}\d{2} ?[A-Z]{3}\b)", 0.5),
        # all in lower case, as typed in a hurry ("xh76 uvw"): a lab code keeps its capitals ("CD19 and")
        Pattern("current_lower", r"(?-i:\b[a-z]{2}\d{2} ?[a-z]{3}\b)", 0.5),
        Pattern("current_any_case", r"\b[A-Z]{2}\d{2} ?[A-Z]{3}\b", 0.2),  # needs a vehicle word nearby
        Pattern("prefix", r"(?-i:\b[A-Z]\d{1,3} ?[A-Z]{3}\b)", 0.2),
        Pattern("suffix", r"(?-i:\b[A-Z]{3} ?\d{1,3}[A-Z]\b)", 0.2),
    ]
    CONTEXT: ClassVar[list[str]] = ["reg", "registration", "vrm", "vehicle", "car", "plate", "number plate"]

    def __init__(self) -> None:
        super().__init__(supported_entity=self.ENTITY, patterns=self.PATTERNS, context=self.CONTEXT)

    def validate_result(self, pattern_text: str) -> bool | None:
        # None keeps the pattern's score (True would raise it to 1.0, context or not); False drops the match.
        return None if age_identifier_valid(pattern_text) else False
