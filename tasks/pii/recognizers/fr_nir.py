"""French social security number (NIR, numéro de sécurité sociale, "numéro INSEE"): 13 characters and a
two-digit key, 97 minus the number mod 97.

Sex (1/2, 3 or 7/8 for provisional numbers), year, month, département (2A/2B for Corsica, the key then
computed with 19/18 in their place), commune and birth order; usually printed in groups
("2 84 12 76 451 089 46"), also run together. A one-in-97 key makes a random 15-digit run fail, so
the number stands alone without a context word.
"""

from typing import ClassVar

from presidio_analyzer import Pattern, PatternRecognizer
from stdnum.fr import nir


class TgFrNirRecognizer(PatternRecognizer):
    LOCALE = "eu"
    ENTITY = "FR_NIR"
    PATTERNS: ClassVar[list[Pattern]] = [
        # Month 01–12, or 20 / 30–42 / 50–99 where the birth month was unknown at registration. Overseas
        # départements have three digits and communes two, so the last eight are grouped freely.
        Pattern(
            "nir",
            r"(?<![\w-])[1-478][ .]?\d{2}[ .]?(?:0[1-9]|1[0-2]|20|3\d|4[0-2]|[5-9]\d)[ .]?(?:\d{2}|2[AB])"
            r"(?:[ .]?\d){6}[ .]?\d{2}(?![\w-])",
            0.5,
        ),
    ]
    CONTEXT: ClassVar[list[str]] = ["sécurité", "securite", "nir", "insee", "sociale"]

    def __init__(self) -> None:
        super().__init__(supported_entity=self.ENTITY, patterns=self.PATTERNS, context=self.CONTEXT)

    def validate_result(self, pattern_text: str) -> bool:
        return nir.is_valid(pattern_text)
