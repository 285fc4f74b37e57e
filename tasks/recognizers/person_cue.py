"""Names after a cue ("spoke to", "Mrs", "regards,"), in any case.

spaCy's small model finds Title Case names but misses lower-case ones ("spoke to priya sharma") and
some non-English names. A name is the run of one to three word tokens after a cue, stopped by
punctuation, a line break, a digit or a common word. No gazetteer: the cue does the work.
"""

import re
from typing import ClassVar

from presidio_analyzer import Pattern, PatternRecognizer

_CUES = (
    r"spoke (?:to|with)|speaking (?:to|with)|call (?:w/|with|from)|called|caller(?: verified as| is)?|"
    r"verified as|third party is|tp is|(?:the )?insured is|named|name is|my name is|maiden name is|"
    r"mr\.?|mrs\.?|ms\.?|mx\.?|miss|dr\.?|prof\.?|handler:|from:|regards,|thanks,|sincerely,|"
    r"herr|frau|mme\.?|mlle\.?|sr\.?|sra\.?|srta\.?|sig\.?|sig\.ra|dhr\.?|mevr\.?"
)
# Softer cues: the words after them are a name only when capitalised and not common words ("Hi there",
# "the plumber attended"): greetings, "call me", and the people a claim or complaint talks about.
_SOFT_CUES = (
    r"dear|hi|hello|hey|attn:?|attention:?|call(?:s|ed)? me|known as|signed|"
    r"plumber|roofer|electrician|builder|joiner|glazier|locksmith|engineer|technician|contractor|"
    r"surveyor|assessor|adjuster|loss adjuster|investigator|solicitor|lawyer|attorney|agent|rep|"
    r"representative|manager|supervisor|officer|pc|dc|sgt|nurse|doctor|witness|landlord|tenant|"
    r"neighbou?r|son|daughter|husband|wife|partner|brother|sister|mother|father|mum|dad|"
    r"beneficiary|account holder|policyholder|claimant|driver"
)
_CAP_WORD = r"[^\W\d_a-z](?:[^\W\d_]|['’-](?=[^\W\d_]))+"
# A word: letters (any script), inner apostrophes or hyphens.
_WORD = r"[^\W\d_](?:[^\W\d_]|['’-](?=[^\W\d_]))*"
NOT_NAMES = frozenset(
    ["a", "an", "the", "and", "or", "but", "to", "from", "with", "for", "of", "on", "in", "at", "by", "as", "is", "was", "be", "been", "it", "its", "this", "that", "these", "those", "he", "she", "they", "we", "you", "i", "me", "him", "her", "them", "my", "his", "their", "our", "your", "who", "which", "what", "when", "where", "how", "why", "not", "no", "yes", "back", "about", "again", "also", "still", "now", "then", "today", "yesterday", "tomorrow", "morning", "evening", "afternoon", "tonight", "night", "cust", "customer", "ph", "policyholder", "tp", "third", "party", "insured", "claimant", "caller", "handler", "driver", "owner", "team", "office", "adv", "advised", "will", "would", "could", "should", "can", "may", "might", "must", "has", "have", "had", "do", "did", "does", "re", "said", "says", "told", "asked", "please", "pls", "thanks", "thank", "regards", "kind", "dear", "sir", "madam", "all", "there", "here", "up", "out", "over", "into", "after", "before", "verified", "regarding", "confirmed", "confirm", "wants", "wanted", "reported", "reports", "called", "calling", "rang", "about", "via", "claim", "claims", "policy", "cover", "note", "notes", "email", "phone", "number", "contact", "address", "ref", "reference", "peril", "code", "keys", "passport", "licence", "card", "bank", "account", "storm", "flash", "fire", "flood", "burns", "candle", "chase", "docs", "doc", "documents", "pls", "tbc", "adv", "cafe", "café", "hotel", "garage", "police", "brigade", "vet", "neighbour"]
)


class TgPersonCueRecognizer(PatternRecognizer):
    ENTITY = "PERSON"
    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern("cue_name", rf"(?:(?<=\W)|^)(?:{_CUES})(?!\w)[ \t]*\n?[ \t]*(?P<name>{_WORD}(?:[ \t]+{_WORD}){{0,2}})", 0.5),
        Pattern("soft_cue_name", rf"(?:(?<=\W)|^)(?i:{_SOFT_CUES})(?!\w),?[ \t]*(?P<name>{_CAP_WORD}(?:[ \t]+{_CAP_WORD}){{0,2}})", 0.5),
    ]
    CONTEXT: ClassVar[list[str]] = []

    def __init__(self) -> None:
        super().__init__(supported_entity=self.ENTITY, name="TgPersonCueRecognizer", patterns=self.PATTERNS)
        self._cue = re.compile(self.PATTERNS[0].regex, re.IGNORECASE)
        self._soft = re.compile(self.PATTERNS[1].regex)  # case matters for the name, not for the cue
        self._word = re.compile(_WORD)

    def analyze(self, text, entities, nlp_artifacts=None, regex_flags=None):
        """Report only the name after the cue, trimmed at the first common word."""
        results = []
        for soft, m in [(False, m) for m in self._cue.finditer(text)] + [(True, m) for m in self._soft.finditer(text)]:
            start = m.start("name")
            end = start
            # after "called", lower-case common words are the sentence going on ("called several times")
            calls = text[m.start():start].lstrip().lower().startswith("call")
            for w in self._word.finditer(m.group("name")):
                word = w.group()
                if word.lower() in NOT_NAMES or ((soft or (calls and word.islower())) and _common(word)) \
                        or _brand(word):
                    break
                end = start + w.end()
            if end > start and not _organisation(m.group("name")):
                results.append(self._result(start, end))
        return results

    def _result(self, start: int, end: int):
        from presidio_analyzer import RecognizerResult

        return RecognizerResult(
            self.ENTITY, start, end, self.PATTERNS[0].score,
            recognition_metadata={RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                                  RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id},
        )


def _brand(word: str) -> bool:
    """"BofA", "PayPal": a brand spelling, not a name."""
    from tasks.pii_names import _BRAND

    return bool(_BRAND.match(word))


def _organisation(words: str) -> bool:
    """"Mr. Cooper Group", "Dr Martens Ltd": the words after the cue name an organisation."""
    from tasks.pii_names import ORG_WORDS

    return any(w.casefold() in ORG_WORDS for w in re.findall(_WORD, words))


def _common(word: str) -> bool:
    from tasks.pii_names import COMMON_ZIPF, zipf

    return zipf(word.casefold()) >= COMMON_ZIPF


_REDACTED = re.compile(r"x{2,}")  # words are letters only; lower-cased above


def plausible_name(text: str) -> bool:
    """False when every word of a PERSON span is a common claim-note word ("Email", "Peril", "Caller")
    or an earlier redaction ("XXXX XXXX", as in CFPB narratives): those are not names to replace."""
    words = [w.lower() for w in re.findall(_WORD, text)]
    return any(w not in NOT_NAMES and not _REDACTED.fullmatch(w) for w in words)
