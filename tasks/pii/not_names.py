"""Capitalised words that are not people's names, told by their shape and where they stand.

The small model labels them PERSON, and a given-name list can hold them too ("Cal", "Oscar"):
- a name said twice is a firm ("Harris and Harris", "Solomon & Solomon", "Hayt Hayt and Landau"):
  people are not named so, law firms and debt collectors often are; so are partners an organisation
  word follows ("Ashton and Weinburg Inc"), and names joined by "&" ("Patenaude & Felix"; not
  "Mr & Mrs Smith");
- two English words run together are a brand or a term ("Loancare", "Pennymac", "Noteholder"),
  unless the word is a known given name or surname, is built like an English surname ("Cooperman",
  "Whitfield") or follows a title ("Mr Moneyline");
- the abbreviations of a court citation ("C.D.Cal.", "S.D. Tex. 2018", "Cal. Civ. Code");
- a word glued to a one- to three-letter lower-case prefix ("e-Oscar", "i-Grace"), unless the prefix
  is a surname particle ("al-Hassan", "el-Sayed").
"""

from __future__ import annotations

import re
from functools import lru_cache

_CAP = r"[^\W\d_a-z][^\W\d_]+"
# A name twice, side by side or joined by "and"/"&", and a partner named after it ("Hayt Hayt and Landau").
_TWICE = re.compile(rf"(?<![\w'’-])({_CAP})(?:[ \t]+(?:and|&)[ \t]+|[ \t]+)\1(?:,?[ \t]+(?:(?:and|&)[ \t]+)?{_CAP})?"
                    rf"(?![\w'’-])")
# Two or three initials before the word ("S.D. Tex.", "C.D.Cal."): a court district, not a middle initial.
_DISTRICT = re.compile(r"(?<![\w.])(?:[A-Z]\.){2,3}[ \t]?\Z")
# After the word's own full stop: another short abbreviation ("Cal. Civ.", "Cal.Nov.") that is no title.
_ABBREVIATION_AFTER = re.compile(r"\.[ \t]?(?!(?:Mr|Mrs|Ms|Mx|Dr|Prof|Sr|Jr|St|Rev)\.)[A-Z][a-z]{1,4}\.")
_INITIALS_AND_WORD = re.compile(r"((?:[A-Z]\.){2,3}[ \t]?)?([^\W\d_]+)")
_YEAR_OR_CLOSE = re.compile(r"\.[ \t]*(?:\d|\)|,)")
_PREFIX = re.compile(r"(?<![\w'’-])([a-z]{1,3})-\Z")
_COMPOUND_PART_ZIPF = 3.5
_SHORT_PART_ZIPF = 4.0
# English surnames are built so from words too ("Cooperman", "Whitfield", "Blackwood"): never a compound.
_SURNAME_ENDINGS = ("man", "men", "son", "ton", "ley", "ford", "field", "wood", "worth", "well", "by")
_EVERYDAY_ZIPF = 5.0  # a word this common said twice is a slip ("on Elm Street Street"), not a firm


@lru_cache(maxsize=1)
def _partners() -> re.Pattern:
    from tasks.pii.names import FIRM, ORG_WORDS

    words = "|".join(sorted(ORG_WORDS))
    return re.compile(rf"(?<![\w'’-]){_CAP}(?:,?[ \t]+{_CAP})*,?[ \t]+(?:and|&)[ \t]+{_CAP}[ \t]+(?i:{words})(?![\w-])"
                      rf"|{FIRM.pattern}[^\W\d_]*")


def repeated_firms(text: str) -> list[tuple[int, int]]:
    """Spans of firms: a name said twice ("Harris and Harris", "Hayt Hayt and Landau"), or partners that an
    organisation word follows ("Ashton and Weinburg Inc"), or two joined by "&" ("Patenaude & Felix")."""
    from tasks.pii.names import zipf

    twice = [m for m in _TWICE.finditer(text) if zipf(m.group(1).casefold()) < _EVERYDAY_ZIPF]  # "Street Street"
    return [(m.start(), m.end()) for m in [*twice, *_partners().finditer(text)]]


def compound(word: str) -> bool:
    """Two English words run together ("Loancare", "Noteholder", "Pennymac"), of eight letters or more and
    not built like an English surname."""
    from tasks.pii.names import zipf

    f = word.casefold()
    if len(f) < 8 or not (f.isascii() and f.isalpha()) or f.endswith(_SURNAME_ENDINGS):
        return False
    def part(w: str) -> bool:  # a three-letter part only when very common ("Pennymac", "Cashcall")
        return zipf(w) >= (_COMPOUND_PART_ZIPF if len(w) > 3 else _SHORT_PART_ZIPF)

    return any(part(f[:i]) and part(f[i:]) for i in range(3, len(f) - 2))


def citation_abbreviation(text: str, start: int, end: int) -> bool:
    """The one word text[start:end] is an abbreviation in a court citation: its full stop follows it, and
    a district's initials stand before it ("S.D. Tex. 2018") or another abbreviation after it ("Cal. Civ.
    Code", "C.D.Cal.Nov. 14")."""
    end -= text[end - 1:end] == "."  # the model may take the full stop in ("S.D. Tex.")
    m = _INITIALS_AND_WORD.fullmatch(text, start, end)  # and the initials ("S.D. Tex")
    if text[end:end + 1] != "." or m is None:
        return False
    if _ABBREVIATION_AFTER.match(text, end):
        return True
    word = m.start(2)
    return bool(_DISTRICT.search(text, max(0, word - 8), word)) and bool(_YEAR_OR_CLOSE.match(text, end))


def prefixed(text: str, start: int) -> bool:
    """The word at ``start`` is glued to a short lower-case prefix ("e-Oscar"), not a surname particle."""
    from tasks.pii.recognizers.person_cue import PARTICLES

    m = _PREFIX.search(text, max(0, start - 5), start)
    return m is not None and m.group(1) not in PARTICLES


def not_a_name(text: str, start: int, end: int, firms: list[tuple[int, int]]) -> bool:
    """A PERSON span that is, by its shape or place, a firm, an abbreviation or a compound word."""
    from tasks.pii.name_lists import known_names
    from tasks.pii.names import TITLES

    before = re.search(r"([^\W\d_]+)\.?[ \t]+\Z", text[max(0, start - 8):start])
    titled = before is not None and before.group(1).casefold() in TITLES
    word = text[start:end]
    return any(a < end and start < b for a, b in firms) or citation_abbreviation(text, start, end) \
        or prefixed(text, start) or (not titled and compound(word) and word.casefold() not in known_names())
