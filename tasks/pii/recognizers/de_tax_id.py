"""German tax identification number (Steuerliche Identifikationsnummer, Steuer-IdNr): 11 digits, no
leading zero, exactly one digit repeated (twice or three times) in the first ten, and an ISO 7064
mod 11,10 check digit.

An 11-digit run passes the checksum about one time in ten, and 11-digit order, invoice and phone
numbers are common, so a bare run scores below the threshold and needs context ("Steuer-ID", "IdNr",
"Identifikationsnummer", "tax"). The grouping on letters from the Bundeszentralamt ("12 345 678 901")
is distinctive, and with a valid checksum it stands alone.
"""

import re
from typing import ClassVar

from presidio_analyzer import Pattern, PatternRecognizer
from stdnum.de import idnr

_GROUPED = re.compile(r"\d{2} \d{3} \d{3} \d{3}")


class TgDeTaxIdRecognizer(PatternRecognizer):
    LOCALE = "eu"
    ENTITY = "DE_TAX_ID"
    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern("idnr_grouped", r"(?<![\w-])(?<!\d )\d{2} \d{3} \d{3} \d{3}(?! ?\d)(?![\w-])", 0.3),
        Pattern("idnr_bare", r"(?<![\w-])\d{11}(?![\w-])", 0.2),
    ]
    CONTEXT: ClassVar[list[str]] = ["steuer", "idnr", "identifikationsnummer", "tax"]

    def __init__(self) -> None:
        super().__init__(supported_entity=self.ENTITY, patterns=self.PATTERNS, context=self.CONTEXT)

    def validate_result(self, pattern_text: str) -> bool | None:
        if not idnr.is_valid(pattern_text.replace(" ", "")):
            return False
        # True scores the grouped form to the top; None leaves a bare run at its score, for context to lift.
        return True if _GROUPED.fullmatch(pattern_text) else None
