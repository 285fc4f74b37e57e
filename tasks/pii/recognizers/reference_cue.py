"""References by cue: an identifier-like token right after a cue word, whatever its format.

Firms number claims, policies, cases and crimes in formats no config lists ("HX/49/22341",
"46/12345/23", "CL0087123A"). A token of letters and digits with at least five digits (separators
allowed) that follows a cue ("claim", "policy no.", "crime ref", "member #") is replaced even when
``pii.references`` lists no pattern for it; ``pii.references`` stays for exact formats and names.
Dates and money after a cue ("claim dated 12/03/2024", "account balance 1234.56") are not references.
"""

from __future__ import annotations

import re
from typing import ClassVar

from presidio_analyzer import Pattern, PatternRecognizer, RecognizerResult

CUES = (
    r"claim|policy|pol|ref|reference|account|acct|a/c|customer|cust|case|member|membership|incident|"
    r"crime(?:\s(?:ref|reference|number|no))?|complaint|ticket|loan|mortgage|contract|agreement|application|"
    r"file|matter|patient|hospital\snumber|mrn|booking|certificate|cert|licence|license|permit|"
    r"registration|enrolment|enrollment|subscriber|tenancy|student|employee|staff|payroll|badge"
)
_TOKEN = r"(?=[A-Za-z0-9/.-]*\d)[A-Za-z0-9](?:[A-Za-z0-9]|[/.-](?=[A-Za-z0-9])){3,29}"
CUE_TOKEN = re.compile(
    rf"(?i)(?<![\w-])(?:{CUES})(?:\s?(?:no\.?|nos\.?|number|num|ref\.?|reference|id|#|code))?"
    rf"\s?(?:is|was|:|#|-|=)?\s?(?P<ref>{_TOKEN})(?![\w/-])"
)
_DATE = re.compile(r"\d{1,4}[/.-]\d{1,2}[/.-]\d{1,4}")
_MONEY = re.compile(r"\d{1,3}(?:[.,]\d{3})*[.,]\d{2}")


def is_reference(token: str) -> bool:
    """At least five digits, and not a date or an amount."""
    return sum(c.isdigit() for c in token) >= 5 and not _DATE.fullmatch(token) and not _MONEY.fullmatch(token)


class TgReferenceCueRecognizer(PatternRecognizer):
    ENTITY = "REFERENCE_NUMBER"
    PATTERNS: ClassVar[list[Pattern]] = [Pattern("cue_reference", CUE_TOKEN.pattern, 0.42)]
    # Just above the 0.4 threshold: a specific, validated type (bank account, NINO) wins the label of a merged span.
    CONTEXT: ClassVar[list[str]] = []  # the cue is part of the pattern

    def __init__(self) -> None:
        super().__init__(supported_entity=self.ENTITY, patterns=self.PATTERNS, context=self.CONTEXT)

    def analyze(self, text, entities, nlp_artifacts=None, regex_flags=None):
        """Report only the token after the cue."""
        return [RecognizerResult(self.ENTITY, m.start("ref"), m.end("ref"), 0.42, recognition_metadata={
            RecognizerResult.RECOGNIZER_NAME_KEY: self.name, RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id})
            for m in CUE_TOKEN.finditer(text) if is_reference(m.group("ref"))]
