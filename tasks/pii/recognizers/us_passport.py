"""US passport number: nine digits (older books) or one letter and eight digits (next-generation books
and passport cards), only right after a passport cue.

Nine digits is also the UK passport format, and every order or invoice number: without the word
"passport" right before it the number is not reported. After a plain cue ("passport no. 123456789")
nine digits score at the threshold, below the UK recognizer's context score, so where both locales run
the number stays a UK passport; a US qualifier ("U.S. passport", "American passport") or the
letter-first form, which the UK never issued, makes it a US passport, scored above the generic
reference-after-cue recognizer. The span is the number only.
"""

import re
from typing import ClassVar

from presidio_analyzer import Pattern

from tasks.pii.recognizers.cue_value import CueValueRecognizer

_CUE = r"(?<!\w)passport(?:[ \t]+card)?(?:[ \t]*(?:number|num|no\.?|#))?(?:(?<=[#.])|(?!\w))"
_US = r"(?<!\w)(?:(?-i:USA?)|u\.s\.(?:a\.)?|american|united[ \t]+states)[ \t]+"
_FILLER = r"(?:[ \t]*(?::|-|is(?=[ \t])))?[ \t]*"
_LETTER_FIRST = r"(?<![A-Za-z0-9])[A-Za-z]\d{8}(?![\w-])"
_DIGITS = r"(?<![A-Za-z0-9])\d{9}(?![\w-])"
_NUM = rf"(?:{_LETTER_FIRST}|{_DIGITS})"
_NUMBER_AT_END = re.compile(_NUM + r"\Z", re.IGNORECASE)


class TgUsPassportRecognizer(CueValueRecognizer):
    LOCALE = "us"
    ENTITY = "US_PASSPORT"
    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern("us_passport_cue", _US + _CUE + _FILLER + _NUM, 0.7),
        Pattern("passport_cue_letter_first", _CUE + _FILLER + _LETTER_FIRST, 0.7),
        Pattern("passport_cue_nine_digits", _CUE + _FILLER + _DIGITS, 0.4),
    ]
    # The cue is part of the pattern; a context boost would lift every nine-digit passport above the UK one.
    CONTEXT: ClassVar[list[str]] = []
    VALUE_AT_END: ClassVar[re.Pattern] = _NUMBER_AT_END
