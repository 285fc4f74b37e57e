"""US Individual Taxpayer Identification Number: 9xx-GG-xxxx, group 50–65, 70–88, 90–92 or 94–99.

Laid out like an SSN (whose area never starts with 9), so the same rule applies: dashed or spaced
stands alone, a bare run of nine digits needs ITIN context. The group ranges are the IRS's; they
exclude 89 and 93 and everything below 50, which makes a random 9xx number fail two times in three.
"""

import re
from typing import ClassVar

from presidio_analyzer import Pattern, PatternRecognizer
from stdnum.us import itin

_GROUP = r"(?:5\d|6[0-5]|7\d|8[0-8]|9[0-24-9])"


class TgUsItinRecognizer(PatternRecognizer):
    LOCALE = "us"
    ENTITY = "US_ITIN"
    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern("itin_delimited", rf"(?<![\w-])9\d{{2}}([- ]){_GROUP}\1\d{{4}}(?![\w-])", 0.5),
        Pattern("itin_bare", rf"(?<![\w-])9\d{{2}}{_GROUP}\d{{4}}(?![\w-])", 0.1),
    ]
    # Not "tin": Presidio matches context words as substrings ("tin" is in "meeting", "getting").
    CONTEXT: ClassVar[list[str]] = ["itin", "taxpayer"]

    def __init__(self) -> None:
        super().__init__(supported_entity=self.ENTITY, patterns=self.PATTERNS, context=self.CONTEXT)

    def validate_result(self, pattern_text: str) -> bool | None:
        return None if itin.is_valid(re.sub(r"\D", "", pattern_text)) else False
