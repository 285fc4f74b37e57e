"""Italian fiscal code (codice fiscale) of a person: 16 characters, surname and name consonants, birth
year, month letter, day (+40 for women), municipality code and a check letter.

Where two people would share a code, digits are replaced by letters (omocodia: L M N P Q R S T U V for
0–9), so the digit positions accept those letters too. The check letter fails 25 times in 26 and the
date must exist, so the format stands alone without a context word; people also write it in lower case.
"""

from typing import ClassVar

from presidio_analyzer import Pattern, PatternRecognizer
from stdnum.it import codicefiscale

_D = r"[\dLMNP-V]"  # a digit or its omocodia letter


class TgItFiscalCodeRecognizer(PatternRecognizer):
    LOCALE = "eu"
    ENTITY = "IT_FISCAL_CODE"
    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern("codice_fiscale",
                rf"(?<![\w-])[A-Z]{{6}}{_D}{{2}}[A-EHLMPR-T]{_D}{{2}}[A-Z]{_D}{{3}}[A-Z](?![\w-])", 0.5),
    ]
    CONTEXT: ClassVar[list[str]] = ["codice", "fiscale", "fiscal"]

    def __init__(self) -> None:
        super().__init__(supported_entity=self.ENTITY, patterns=self.PATTERNS, context=self.CONTEXT)

    def validate_result(self, pattern_text: str) -> bool:
        # stdnum also takes 11-digit company codes; the pattern only ever hands it the 16-character personal one.
        return codicefiscale.is_valid(pattern_text.upper())
