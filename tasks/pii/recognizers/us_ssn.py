"""US Social Security number: area-group-serial, 3-2-4 digits.

Written with dashes or spaces (one separator, used twice) it is distinctive enough to stand alone; a
bare run of nine digits is as likely an order or phone fragment, so it needs SSN context. The SSA never
issues area 000, 666 or 9xx (9xx are ITINs, see us_itin), group 00 or serial 0000, and some numbers
are known fakes that circulate in examples and adverts (the Woolworth wallet card 078-05-1120, the
LifeLock advert 457-55-5462, 219-09-9999, 123-45-6789): they are placeholders, not anybody's SSN.
"""

import re
from typing import ClassVar

from presidio_analyzer import Pattern, PatternRecognizer
from stdnum.us import ssn

# stdnum's blacklist holds the wallet/advert numbers; these are the placeholders people type.
_PLACEHOLDERS = {"123456789"}


class TgUsSsnRecognizer(PatternRecognizer):
    LOCALE = "us"
    ENTITY = "US_SSN"
    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern("ssn_delimited", r"(?<![\w-])\d{3}([- ])\d{2}\1\d{4}(?![\w-])", 0.5),
        Pattern("ssn_bare", r"(?<![\w-])\d{9}(?![\w-])", 0.1),
    ]
    CONTEXT: ClassVar[list[str]] = ["ssn", "social", "security"]

    def __init__(self) -> None:
        super().__init__(supported_entity=self.ENTITY, patterns=self.PATTERNS, context=self.CONTEXT)

    def validate_result(self, pattern_text: str) -> bool | None:
        # None keeps the pattern's score: a valid bare run still needs context to pass the threshold.
        digits = re.sub(r"\D", "", pattern_text)
        if digits in _PLACEHOLDERS or len(set(digits)) == 1 or not ssn.is_valid(digits):
            return False
        return None
