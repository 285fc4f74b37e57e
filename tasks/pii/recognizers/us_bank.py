"""US bank routing (ABA) number and bank account number; two recognizers, one entity each.

Routing number: nine digits (sometimes written 4-4-1), the last a check digit with weights 3-7-1, and
the first two a Federal Reserve routing symbol (00–12, 21–32, 61–72, 80). One nine-digit number in ten
passes the checksum, so a routing cue ("routing", "ABA", "RTN") must come before it, within four words
("routing number for Chase is 021000021"); cue and checksum together score it to the top.

Account number: 8–17 digits and no checksum, so it is any number; it is reported only right after an
account cue ("account number", "account #", "acct", "a/c", "checking account", "savings account").
A plain "account 12345678" is left to the UK recognizer (eight digits and "account" is a UK account),
and eight digits after "acct"/"account number" score at the threshold, below the UK context score, so
they stay a UK account where both locales run; "checking"/"savings" are American, and 9–17 digits are
not a UK account, so those score above the generic reference-after-cue recognizer.
Both report the number only, not the cue.
"""

import re
from typing import ClassVar

from presidio_analyzer import Pattern
from stdnum.us import rtn

from tasks.pii.recognizers.cue_value import CueValueRecognizer

_FILLER = r"(?:[ \t]*(?::|-|is(?=[ \t])))?[ \t]*"
_NUMBER_WORD = r"(?:[ \t]*(?:number|num|no\.?|#))"

_ROUTING_CUE = r"(?<!\w)(?:routing|aba|rtn)(?!\w)(?:[^\w\n]+\w+){0,4}?[^\w\n]+"
_ROUTING = r"(?<![\w-])\d{4}-?\d{4}-?\d(?![\w-])"
_ROUTING_AT_END = re.compile(_ROUTING + r"\Z")
# Federal Reserve routing symbols: government, banks, thrifts, electronic, traveller's cheques.
_ROUTING_SYMBOLS = {f"{n:02d}" for n in [*range(0, 13), *range(21, 33), *range(61, 73), 80]}

_ACCOUNT_CUE_US = rf"(?<!\w)(?:checking|savings)[ \t]+(?:account|acct\.?){_NUMBER_WORD}?(?:(?<=[#.])|(?!\w))"
_ACCOUNT_CUE = rf"(?<!\w)(?:account{_NUMBER_WORD}|(?:acct\.?|a/c){_NUMBER_WORD}?)(?:(?<=[#.])|(?!\w))"
_ACCOUNT = r"(?<![\w-])\d{8,17}(?![\w-])"
_ACCOUNT_NOT_UK = r"(?<![\w-])\d{9,17}(?![\w-])"
_ACCOUNT_UK_SHAPED = r"(?<![\w-])\d{8}(?![\w-])"
_ACCOUNT_AT_END = re.compile(_ACCOUNT + r"\Z")


class TgUsBankRoutingRecognizer(CueValueRecognizer):
    LOCALE = "us"
    ENTITY = "US_BANK_ROUTING"
    PATTERNS: ClassVar[list[Pattern]] = [Pattern("routing_cue", _ROUTING_CUE + _ROUTING, 0.5)]
    # The cue is part of the pattern ("aba" as a context word would also match inside "database").
    CONTEXT: ClassVar[list[str]] = []
    VALUE_AT_END: ClassVar[re.Pattern] = _ROUTING_AT_END

    def validate_result(self, pattern_text: str) -> bool:
        digits = _ROUTING_AT_END.search(pattern_text).group().replace("-", "")
        return digits[:2] in _ROUTING_SYMBOLS and rtn.is_valid(digits)


class TgUsBankAccountRecognizer(CueValueRecognizer):
    LOCALE = "us"
    ENTITY = "US_BANK_ACCOUNT"
    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern("us_account_cue", _ACCOUNT_CUE_US + _FILLER + _ACCOUNT, 0.7),
        Pattern("account_cue", _ACCOUNT_CUE + _FILLER + _ACCOUNT_NOT_UK, 0.7),
        Pattern("account_cue_eight_digits", _ACCOUNT_CUE + _FILLER + _ACCOUNT_UK_SHAPED, 0.4),
    ]
    # The cue is part of the pattern; a context boost would lift every account above the UK one.
    CONTEXT: ClassVar[list[str]] = []
    VALUE_AT_END: ClassVar[re.Pattern] = _ACCOUNT_AT_END
