"""US driver's license number, only right after a licence cue.

Each state has its own format (California A1234567, New York 123 456 789, Florida S123-456-78-901-0,
Texas 12345678, New Hampshire 12ABC12345, ...): together they cover nearly every short alphanumeric
token, so the format alone says nothing. The cue ("driver's license", "drivers licence", "driving
license", "DL", "DL#", "license number", "licence no", "lic #") must come right before the number,
with at most a "number"/"no."/"#"/":"/"is" between, and the reported span is the number only. The
number is a token of 6–16 letters and digits, dashes allowed inside, digit groups may be spaced, and it
must hold at least five digits, so "DL suspended" or "licence expired" never match. The score is above
the generic reference-after-cue recognizer's and below the UK licence's (whose DVLA format also passes
here).
"""

import re
from typing import ClassVar

from presidio_analyzer import Pattern

from tasks.pii.recognizers.cue_value import CueValueRecognizer

_NUMBER_WORD = r"(?:[ \t]*(?:number|num|no\.?|#))"
# "license"/"lic" alone is a cue only with a number word after it: "license 12345678" is as often a
# software or trade licence, and "license plate" is a car.
_CUE = (
    rf"(?<!\w)(?:(?:driver['’]?s?|drivers['’]|driving)[ \t]+licen[cs]e{_NUMBER_WORD}?"
    rf"|dl{_NUMBER_WORD}?|(?:licen[cs]e|lic\.?){_NUMBER_WORD})"
    r"(?:(?<=[#.])|(?!\w))"
)
_FILLER = r"(?:[ \t]*(?::|-|is(?=[ \t])))?[ \t]*"
_NUM = r"(?<![A-Za-z0-9])(?:[A-Za-z]{0,2}\d{1,4}(?:[ ]\d{2,4}){1,4}|[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*)(?![\w-])"
_NUMBER_AT_END = re.compile(_NUM + r"\Z", re.IGNORECASE)


class TgUsDriverLicenseRecognizer(CueValueRecognizer):
    LOCALE = "us"
    ENTITY = "US_DRIVER_LICENSE"
    PATTERNS: ClassVar[list[Pattern]] = [Pattern("cue_number", _CUE + _FILLER + _NUM, 0.7)]
    # The cue is part of the pattern; a context boost would only lift these above the UK recognizers.
    CONTEXT: ClassVar[list[str]] = []
    VALUE_AT_END: ClassVar[re.Pattern] = _NUMBER_AT_END

    def validate_result(self, pattern_text: str) -> bool | None:
        number = re.sub(r"[\s-]", "", _NUMBER_AT_END.search(pattern_text).group())
        digits = sum(c.isdigit() for c in number)
        return None if 6 <= len(number) <= 16 and digits >= 5 else False
