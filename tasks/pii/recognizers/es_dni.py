"""Spanish national identity numbers; two recognizers, one entity each.

DNI (documento nacional de identidad, also the NIF of a person): eight digits and a check letter, the
number mod 23 looked up in "TRWAGMYFPDXBNJZSQVHLCKE"; people write it run together, with a dash
("12345678-Z"), with a space before a capital letter, or with dotted thousands ("12.345.678-Z"), and
old numbers below ten million often without the leading zero (seven digits).
NIE (número de identidad de extranjero): X, Y or Z (standing for 0, 1, 2), seven digits and the same
check letter ("X1234567L", "Y-1234567-X").
A wrong letter fails 22 times in 23, so the format stands alone without a context word. A lone space
before a lower-case letter is not accepted: "we paid 12345678 a year" is not a DNI.
"""

import re
from typing import ClassVar

from presidio_analyzer import Pattern, PatternRecognizer
from stdnum.es import dni, nie

_LETTER = r"(?:-?[A-Z]|(?-i: [A-Z]))(?![\w-])"


class TgEsDniRecognizer(PatternRecognizer):
    LOCALE = "eu"
    ENTITY = "ES_DNI"
    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern("dni", rf"(?<![\w.-])(?:\d{{7,8}}|\d{{1,2}}\.\d{{3}}\.\d{{3}}){_LETTER}", 0.5),
    ]
    CONTEXT: ClassVar[list[str]] = ["dni", "nif", "documento", "identidad"]

    def __init__(self) -> None:
        super().__init__(supported_entity=self.ENTITY, patterns=self.PATTERNS, context=self.CONTEXT)

    def validate_result(self, pattern_text: str) -> bool:
        return dni.is_valid(re.sub(r"[\s.-]", "", pattern_text).zfill(9))


class TgEsNieRecognizer(PatternRecognizer):
    LOCALE = "eu"
    ENTITY = "ES_NIE"
    PATTERNS: ClassVar[list[Pattern]] = [Pattern("nie", rf"(?<![\w-])[XYZ]-?\d{{7}}{_LETTER}", 0.5)]
    CONTEXT: ClassVar[list[str]] = ["nie", "extranjero", "residencia"]

    def __init__(self) -> None:
        super().__init__(supported_entity=self.ENTITY, patterns=self.PATTERNS, context=self.CONTEXT)

    def validate_result(self, pattern_text: str) -> bool:
        return nie.is_valid(re.sub(r"[\s-]", "", pattern_text))
