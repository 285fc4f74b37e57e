"""Date of birth: a date in a common format, scored only when birth context is near.

A bare date (incident, letter sent) is not personal data in a claim note; only with "DOB", "born"
or "date of birth" in front does it pass the threshold.
"""

from typing import ClassVar

from presidio_analyzer import Pattern, PatternRecognizer

_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"


class TgDateOfBirthRecognizer(PatternRecognizer):
    ENTITY = "DATE_OF_BIRTH"
    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern("dmy_numeric", r"\b(?:0?[1-9]|[12]\d|3[01])[/.-](?:0?[1-9]|1[0-2])[/.-](?:19|20)?\d{2}\b", 0.2),
        Pattern("iso", r"\b(?:19|20)\d{2}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])\b", 0.2),
        Pattern("d_month_y", rf"\b(?:0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th)? (?:of )?{_MONTH},? (?:19|20)\d{{2}}\b", 0.2),
        Pattern("month_d_y", rf"\b{_MONTH} (?:0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th)?,? (?:19|20)\d{{2}}\b", 0.2),
    ]
    CONTEXT: ClassVar[list[str]] = ["dob", "d.o.b", "birth", "born", "birthday"]

    def __init__(self) -> None:
        super().__init__(supported_entity=self.ENTITY, patterns=self.PATTERNS, context=self.CONTEXT)
