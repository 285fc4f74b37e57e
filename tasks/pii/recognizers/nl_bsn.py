"""Dutch citizen service number (burgerservicenummer, BSN; formerly sofinummer): nine digits that pass
the "11-proef" (weights 9..2 and -1, sum divisible by 11).

Any nine-digit number passes the 11-proef one time in eleven, and nine digits is also a passport, SSN,
routing or order number, so a bare run (or one grouped 3-3-3, like any large number) scores below the
threshold and needs context: "BSN", "burgerservicenummer", "sofinummer", "citizen service number".
The 4.2.3 dotted grouping the Dutch government prints ("1234.56.782") is specific to the BSN, and with
a valid check it stands alone.
"""

import re
from typing import ClassVar

from presidio_analyzer import Pattern, PatternRecognizer
from stdnum.nl import bsn

_DOTTED = re.compile(r"\d{4}\.\d{2}\.\d{3}")


class TgNlBsnRecognizer(PatternRecognizer):
    LOCALE = "eu"
    ENTITY = "NL_BSN"
    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern("bsn_dotted", r"(?<![\w.-])\d{4}\.\d{2}\.\d{3}(?![\w-]|\.\d)", 0.3),
        Pattern("bsn_grouped", r"(?<![\w.-])\d{3}([ .])\d{3}\1\d{3}(?![\w-]|[ .]\d)", 0.2),
        Pattern("bsn_bare", r"(?<![\w.-])\d{9}(?![\w-]|\.\d)", 0.2),
    ]
    # Presidio matches context words as substrings of one token: "citizen" stands for the English phrase.
    CONTEXT: ClassVar[list[str]] = ["bsn", "burgerservicenummer", "sofinummer", "sofi", "citizen"]

    def __init__(self) -> None:
        super().__init__(supported_entity=self.ENTITY, patterns=self.PATTERNS, context=self.CONTEXT)

    def validate_result(self, pattern_text: str) -> bool | None:
        digits = re.sub(r"\D", "", pattern_text)
        if len(digits) != 9 or not bsn.is_valid(digits):
            return False
        # True scores the dotted form to the top; None leaves other forms at their score, for context to lift.
        return True if _DOTTED.fullmatch(pattern_text) else None
