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
    r"verified as|third party is|tp is|(?:the )?insured is|named(?: (?:him|her|them))?|name is|my name is|"
    r"maiden name is|"
    r"(?:full |customer |patient |insured |account )?names?:|"
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
    r"beneficiary|account holder|policyholder|claimant|driver|name|guardian|"
    r"(?:signed|written|reported|approved|witnessed|inspected|prepared|authori[sz]ed|referred|attended) by|"
    r"shouted at|yelled at|said to|talked to|married|kissed|hugged"
)
# Surname particles: lower case inside a name ("Donald van der Voet", "Teresa de Vaan").
PARTICLES = frozenset("van von der den de da das dos del della di du la le bin al el ter ten".split())
_PART = r"(?:van|von|der|den|de|da|das|dos|del|della|di|du|la|le|bin|al|el|ter|ten)"
_CAP_WORD = r"[^\W\d_a-z](?:[^\W\d_]|['’-](?=[^\W\d_]))+"
_CAP_NAME = rf"{_CAP_WORD}(?:(?:[ \t]+{_PART}){{0,2}}[ \t]+{_CAP_WORD}){{0,2}}"
# A word: letters (any script), inner apostrophes or hyphens.
_WORD = r"[^\W\d_](?:[^\W\d_]|['’-](?=[^\W\d_]))*"
NOT_NAMES = frozenset("""
a an the and or but to from with for of on in at by as is was be been it its this that these those
he she they we you i me him her them my his their our your who which what when where how why not no
yes back about again also still now then today yesterday tomorrow morning evening afternoon tonight
night cust customer ph policyholder tp third party insured claimant caller handler driver owner team
office adv advised will would could should can may might must has have had do did does re said says
told asked please pls thanks thank regards kind dear sir madam all there here up out over into after
before verified regarding confirmed confirm wants wanted reported reports called calling rang via
claim claims policy cover note notes email phone number contact address ref reference peril code
keys passport licence card bank account storm flash fire flood burns candle chase docs doc documents
tbc cafe café hotel garage police brigade vet neighbour
""".split())


class TgPersonCueRecognizer(PatternRecognizer):
    ENTITY = "PERSON"
    PATTERNS: ClassVar[list[Pattern]] = [
        Pattern("cue_name",
                rf"(?:(?<=\W)|^)(?:{_CUES})(?!\w)[ \t]*\n?[ \t]*(?P<name>{_WORD}(?:[ \t]+{_WORD}){{0,2}})", 0.5),
        Pattern("soft_cue_name", rf"(?:(?<=\W)|^)(?i:{_SOFT_CUES})(?!\w),?[ \t]*(?P<name>{_CAP_NAME})", 0.5),
    ]
    # Where a name stands, with no cue word: a speaker label before a quote (transcripts, chats), a
    # vocative ("Lucas, can I …", "…, Judy!"), a possessive before a kinship word or contact details
    # ("Kenneth's daughter", "here's Kian's address").
    POSITIONS: ClassVar[list[str]] = [
        rf"(?m)^[ \t>]*(?P<name>{_WORD}(?:[ \t]+{_WORD}){{0,2}})[ \t]*:[ \t]*\\?[\"“]",
        rf"(?:^|(?<=[.!?\n]\s)|(?<=[.!?\n]))[ \t]*(?P<name>{_CAP_NAME}),[ \t]+"
        rf"(?=(?i:(?:can|could|would|will|do|did|are|"
        rf"have|may)[ \t]+(?:you|i)|please|thank you|thanks)\b)",  # a request to someone, not "However, I …"
        rf",[ \t]+(?P<name>{_CAP_NAME})[ \t]*[!?](?:[\"”]|\s|$)",
        rf"(?P<name>{_CAP_NAME})['’]s[ \t]+(?=(?i:daughter|son|wife|husband|partner|mother|father|mum|mom|dad|"
        rf"brother|sister|child|children|kids|baby|boss|friend|girlfriend|boyfriend|fianc[ée]e?|birthday|funeral|"
        rf"address|phone|mobile|e-?mail|date of birth|contact details)\b)",  # and a person's contact details
        rf"(?P<name>{_CAP_NAME})[ \t]+as[ \t]+(?:a[ \t]+|the[ \t]+|my[ \t]+|our[ \t]+)?"
        rf"(?=(?i:guardian|beneficiary|executor|"
        rf"executrix|trustee|attorney|next of kin|authori[sz]ed user|joint (?:holder|owner|policyholder)|named driver|"
        rf"co-?signer|cosigner|dependant|dependent)\b)",  # the roles a bank or insurer adds people in
    ]
    HEADERS: ClassVar[frozenset[str]] = frozenset(
        "date time when where name address phone email subject re note notes from to cc bcc q a question answer "
        "user bot agent customer system assistant reply comment summary status ref tel mobile fax office website "
        "company title position department dob message quote update general generals department services support "
        "center centre desk team group unit another someone somebody anyone everyone nobody rep reps agent agents "
        "supervisor manager representative person lady gentleman guy woman man".split())
    CONTEXT: ClassVar[list[str]] = []

    def __init__(self) -> None:
        super().__init__(supported_entity=self.ENTITY, name="TgPersonCueRecognizer", patterns=self.PATTERNS)
        self._cue = re.compile(self.PATTERNS[0].regex, re.IGNORECASE)
        self._soft = re.compile(self.PATTERNS[1].regex)  # case matters for the name, not for the cue
        self._positions = [re.compile(p) for p in self.POSITIONS]
        self._word = re.compile(_WORD)

    def analyze(self, text, entities, nlp_artifacts=None, regex_flags=None):
        """Report only the name after the cue, trimmed at the first common word."""
        results = []
        for soft, m in [(False, m) for m in self._cue.finditer(text)] + [(True, m) for m in self._soft.finditer(text)]:
            start = m.start("name")
            end = start
            # after "called", lower-case common words are the sentence going on ("called several times")
            calls = text[m.start():start].strip().lower() == "called"
            first = ""
            for i, w in enumerate(self._word.finditer(m.group("name"))):
                word = w.group()
                if i and word in PARTICLES:
                    continue  # part of the name only if a name word follows
                # A soft cue already asks for capitals; common words still end the name after "called"
                # ("called several times"), and lower-case ones after any cue.
                if word.lower() in NOT_NAMES or word.lower() in self.HEADERS or _brand(word) \
                        or ((calls or soft) and (word.isupper() and len(word) > 1 or word.islower() and _common(word))):
                    break
                if first and word.islower() and not first.islower():
                    break  # a name begun in capitals does not go on in lower case ("Mr. Cooper stated")
                first = first or word
                end = start + w.end()
            if end > start and not _organisation(m.group("name")):
                results.append(self._result(start, end))
        for rx in self._positions:
            for m in rx.finditer(text):
                name = m.group("name")
                words = [w.lower() for w in re.findall(_WORD, name)]
                if words and not any(w in NOT_NAMES or w in self.HEADERS for w in words) \
                        and not _organisation(name) and not any(_brand(w) for w in words):
                    results.append(self._result(m.start("name"), m.end("name")))
        results += [self._result(a, b) for a, b in addressees(text)]
        return results

    def _result(self, start: int, end: int):
        from presidio_analyzer import RecognizerResult

        return RecognizerResult(
            self.ENTITY, start, end, self.PATTERNS[0].score,
            recognition_metadata={RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                                  RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id},
        )


_NAME_LINE = re.compile(rf"[ \t>?*•|-]*(?P<name>{_CAP_NAME})[ \t]*(?:,?[ \t]*(?i:phd|md|esq|jr|sr)\.?)?[ \t]*")


def addressees(text: str) -> list[tuple[int, int]]:
    """The name on the line above an address block (a letter's or form's addressee), skipping one line
    that names an organisation ("Laura Gorski\nMinistry Of Agriculture\n07 57 avenue Jules Ferry")."""
    from tasks.pii.recognizers.street_address import find_addresses

    out = []
    for start, _ in find_addresses(text):
        line_start = text.rfind("\n", 0, start) + 1
        if text[line_start:start].strip(" \t>?*•|-"):
            continue  # the address does not start its line
        for _ in range(2):
            if line_start == 0:
                break
            prev = text.rfind("\n", 0, line_start - 1) + 1
            line = text[prev:line_start - 1]
            m = _NAME_LINE.fullmatch(line)
            if m and not _organisation(line) and not any(w.lower() in NOT_NAMES for w in re.findall(_WORD, line)):
                out.append((prev + m.start("name"), prev + m.end("name")))
                break
            if not (line.strip() and _organisation(line)):
                break
            line_start = prev
    return out


def _brand(word: str) -> bool:
    """"BofA", "PayPal": a brand spelling, not a name."""
    from tasks.pii.names import BRAND

    return bool(BRAND.match(word))


def _organisation(words: str) -> bool:
    """"Mr. Cooper Group", "Dr Martens Ltd": the words after the cue name an organisation."""
    from tasks.pii.names import ORG_WORDS

    return any(w.casefold() in ORG_WORDS for w in re.findall(_WORD, words))


def _common(word: str) -> bool:
    from tasks.pii.names import COMMON_ZIPF, zipf

    return zipf(word.casefold()) >= COMMON_ZIPF


_REDACTED = re.compile(r"x{2,}")  # words are letters only; lower-cased above


def plausible_name(text: str) -> bool:
    """False when every word of a PERSON span is a common claim-note word ("Email", "Peril", "Caller"),
    a title or an earlier redaction ("XXXX XXXX", as in CFPB narratives), or when none of its words is a
    known given name or surname and all are common English words ("several representatives",
    "accurate"): those are not names to replace."""
    from tasks.pii.names import TITLES, only_common_words

    words = [w for w in re.findall(_WORD, text)
             if w.lower() not in NOT_NAMES and w.lower().strip(".") not in TITLES
             and not _REDACTED.fullmatch(w.lower())]
    return bool(words) and not only_common_words(words)
