"""Base for recognizers whose pattern is a cue followed by the value ("routing number 021000021").

The cue is part of the pattern, so nothing fires without it and context words have nothing to add;
the reported span is trimmed to the value, which ``VALUE_AT_END`` finds at the end of the match.
"""

import re
from typing import ClassVar

from presidio_analyzer import Pattern, PatternRecognizer


class CueValueRecognizer(PatternRecognizer):
    ENTITY: ClassVar[str]
    PATTERNS: ClassVar[list[Pattern]]
    CONTEXT: ClassVar[list[str]] = []
    VALUE_AT_END: ClassVar[re.Pattern]

    def __init__(self) -> None:
        super().__init__(supported_entity=self.ENTITY, patterns=self.PATTERNS, context=self.CONTEXT)

    def analyze(self, text, entities, nlp_artifacts=None, regex_flags=None):
        """Report only the value after the cue."""
        results = super().analyze(text, entities, nlp_artifacts, regex_flags)
        for r in results:
            r.start = self.VALUE_AT_END.search(text, r.start, r.end).start()
        return results
