"""VAT identification numbers of every EU member state (and Northern Ireland, XI), with the country
prefix: "DE136695976", "FR40303265045", "NL004495445B01", "ATU13585627", "BE 0776.091.951".

The body has a different length, alphabet and checksum in each country; python-stdnum knows them all,
so the pattern only finds "prefix + digit groups" and ``stdnum.eu.vat`` decides. Without the prefix a
body is just a number (and the national recognizers handle the ones that are also personal IDs), so
the prefix is required. A capital prefix may be followed by a space ("DE 136 695 976"); a lower-case one
must be glued to the body ("de136695976"), or Spanish "es 12345678Z" ("is") would be a VAT number.
The pattern may run past the number into the next digit group ("DE136695976 2024"): the longest valid
prefix of the match is reported, trimming whole groups from the end.
"""

import re
from typing import ClassVar

from presidio_analyzer import Pattern, PatternRecognizer, RecognizerResult
from stdnum.eu import vat

_PREFIXES = "AT|BE|BG|CY|CZ|DE|DK|EE|EL|ES|FI|FR|GR|HR|HU|IE|IT|LT|LU|LV|MT|NL|PL|PT|RO|SE|SI|SK|XI"
# Later groups start with a digit or are a letter and digits (NL "B01"), so a following word never joins.
_BODY = r"[0-9A-Z]*\d[0-9A-Z]*(?:[ .-](?:\d[0-9A-Z]*|[A-Z]\d+))*"
_GROUP_ENDS = re.compile(r"[0-9A-Z](?=[ .-]|\Z)", re.IGNORECASE)


class TgEuVatRecognizer(PatternRecognizer):
    LOCALE = "eu"
    ENTITY = "EU_VAT"
    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern("vat", rf"(?<![\w-])(?:(?-i:(?:{_PREFIXES})[ -]?)|(?:{_PREFIXES})(?=[0-9a-z]))"
                       rf"(?:{_BODY})(?![\w-])", 0.5),
    ]
    CONTEXT: ClassVar[list[str]] = ["vat", "tva", "iva", "btw", "ust", "mwst", "moms", "alv"]

    def __init__(self) -> None:
        super().__init__(supported_entity=self.ENTITY, patterns=self.PATTERNS, context=self.CONTEXT)

    def analyze(self, text, entities, nlp_artifacts=None, regex_flags=None):
        """Presidio's analysis, plus the longest valid shorter span for a match that ran into the next group."""
        results = super().analyze(text, entities, nlp_artifacts, regex_flags)
        found = {(r.start, r.end) for r in results}
        for m in self._compiled().finditer(text):
            if any(s <= m.start() < e for s, e in found):
                continue
            match = m.group()
            ends = [g.end() for g in _GROUP_ENDS.finditer(match)][:-1]
            for end in reversed(ends):
                if end > 3 and self.validate_result(match[:end]):
                    results.append(self._result(m.start(), m.start() + end))
                    break
        return results

    def validate_result(self, pattern_text: str) -> bool:
        return vat.is_valid(pattern_text)

    def _compiled(self) -> re.Pattern:
        pattern = self.patterns[0]
        if pattern.compiled_regex is None:
            pattern.compiled_regex = re.compile(pattern.regex, self.global_regex_flags)
        return pattern.compiled_regex

    def _result(self, start: int, end: int) -> RecognizerResult:
        explanation = self.build_regex_explanation(
            self.name, self.patterns[0].name, self.patterns[0].regex, self.patterns[0].score, True,
            self.global_regex_flags)
        return RecognizerResult(
            self.ENTITY, start, end, 1.0, analysis_explanation=explanation,
            recognition_metadata={RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                                  RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id},
        )
