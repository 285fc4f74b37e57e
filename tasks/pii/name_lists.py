"""Names the small spaCy model misses: given names it has not learnt, alone or in a list.

``en_core_web_sm`` finds "Michael Smith" but not "Leah is very reliable", "They had 6: Layla, Harry,
Michele …" or a lower-case chat ("user: heather pustivšek"). Where no cue word helps, the only general
evidence is that the word is a given name. The lists are Faker's person providers (MIT, ~31,000 given
names and ~29,000 surnames over 80 locales, from census and registry sources), read once per process.

A given name is taken on its own only when it is capitalised (or the whole document is lower case), is
not a common English word (``COMMON_NAME_ZIPF``: "Will", "Grace", "Chase", "Bill" are not names on their
own), not a month, day, title or a known place, and not part of an organisation ("Selene Finance").
Capitalised surnames or unknown words right after it join the name. A list of three or more single
words ("natalina, thomas, crystal and omar") is a list of people when most members are known names.
"""

from __future__ import annotations

import re
from functools import lru_cache

# A given name is also a common word (and needs a surname or a cue) at or above this Zipf frequency:
# "Leah" 3.5, "Jennifer" 4.2 count alone; "Oscar" 4.3, "Grace" 4.6, "Chase" 4.4, "Will" 6.5 do not.
COMMON_NAME_ZIPF = 4.3
# In a document with no capitals at all, a lower-case given name counts alone only below this.
LOWER_NAME_ZIPF = 4.0
_WORD = re.compile(r"[^\W\d_](?:[^\W\d_]|['’](?=[^\W\d_]))*")
_NOT_NAMES = frozenset("""
january february march april may june july august september october november december
jan feb mar apr jun jul aug sep sept oct nov dec mon tue tues wed thu thur thurs fri sat sun
monday tuesday wednesday thursday friday saturday sunday christmas easter god lord jesus allah
""".split())
# Named storms and hurricanes carry given names ("Storm Eunice", "Hurricane Ian"): not people.
STORM = re.compile(r"(?i)(?:storm|strom|hurricane|typhoon|cyclone|tropical\s+storm)\s+$")
STORM_NAME = re.compile(r"(?i)(?:storm|strom|hurricane|typhoon|cyclone)\s+\S")
# A place word after a locative preposition, labelled a place by the model: "fall in Crete".
LOCATIVE = re.compile(r"(?i)\b(?:in|at|to|from|near|via|around|across|through)\s+$")


@lru_cache(maxsize=1)
def _stop_words() -> frozenset[str]:
    from tasks.pii.recognizers.person_cue import NOT_NAMES, TgPersonCueRecognizer

    return NOT_NAMES | TgPersonCueRecognizer.HEADERS


@lru_cache(maxsize=1)
def known_names() -> frozenset[str]:
    given, family = name_lists()
    return given | family


@lru_cache(maxsize=1)
def name_lists() -> tuple[frozenset[str], frozenset[str]]:
    """(given names, surnames), case-folded, three letters or more, from every Faker person provider."""
    import importlib
    import pkgutil

    from faker.providers import person

    given: set[str] = set()
    family: set[str] = set()
    for mod in pkgutil.iter_modules(person.__path__):
        try:
            provider = importlib.import_module(f"{person.__name__}.{mod.name}").Provider
        except (ImportError, AttributeError):
            continue
        for attr, into in (("first_names", given), ("first_names_male", given), ("first_names_female", given),
                           ("first_names_nonbinary", given), ("last_names", family)):
            value = next((k.__dict__[attr] for k in provider.__mro__ if attr in k.__dict__), None)
            if isinstance(value, (list, tuple, set, frozenset, dict)):
                into.update(str(v).casefold() for v in value)
    def keep(names: set[str]) -> frozenset[str]:
        return frozenset(n for n in names if len(n) >= 3 and n not in _NOT_NAMES and _WORD.fullmatch(n))

    return keep(given), keep(family)


def _title_case(w: str) -> bool:
    return w[:1].isupper() and (len(w) == 1 or not any(c.isupper() for c in w[1:]))


def gazetteer_people(text: str, blocked: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Spans of given names (with the surname after them) and of lists of names, outside ``blocked``
    (organisations the model found, spans already taken)."""
    from tasks.pii.names import ORG_WORDS, is_place, zipf

    given, family = name_lists()
    stop = _stop_words()
    words = list(_WORD.finditer(text))
    lower_doc = not any(c.isupper() for c in text)
    out: list[tuple[int, int]] = []

    def free(a: int, b: int) -> bool:
        return not any(x < b and a < y for x, y in blocked)

    def unsafe(w: str) -> bool:
        f = w.casefold()
        return f in stop or f in ORG_WORDS or is_place(w)

    i = 0
    while i < len(words):
        m = words[i]
        w = m.group()
        f = w.casefold()
        if f in given and not unsafe(w) and free(m.start(), m.end()) and not _in_place(text, words, i) \
                and not STORM.search(text, max(0, m.start() - 20), m.start()) and (
                (_title_case(w) and not w.isupper()) or (lower_doc and zipf(f) < LOWER_NAME_ZIPF)):
            j = i
            while j + 1 < len(words) and j - i < 2 and text[words[j].end():words[j + 1].start()] == " ":
                nxt = words[j + 1].group()
                if nxt.casefold() in ORG_WORDS:
                    break  # the organisation test below sees it: "Fay Servicing"
                if not (_title_case(nxt) if not lower_doc else nxt.islower()) or nxt.casefold() in stop:
                    break
                if nxt.casefold() not in family and nxt.casefold() not in given and zipf(nxt.casefold()) >= 3.5:
                    break
                j += 1
            after = text[words[j].end():words[j].end() + 40]
            org_next = re.match(r"[ \t]+([^\W\d_]+)", after)
            if org_next and org_next.group(1).casefold() in ORG_WORDS:
                i = j + 1
                continue  # "Selene Finance", "Ally Bank", "Fay Servicing"
            if j > i or zipf(f) < COMMON_NAME_ZIPF:
                out.append((m.start(), words[j].end()))
            i = j + 1
            continue
        i += 1
    out += _name_lists(text, free)
    return out


def _in_place(text: str, words: list, i: int) -> bool:
    """The word is part of a two-word place name: "North Carolina", "Santa Monica", "Charlotte Amalie"."""
    from tasks.pii.names import is_place

    for a, b in ((i - 1, i), (i, i + 1)):
        if a >= 0 and b < len(words) and text[words[a].end():words[b].start()] == " " \
                and is_place(f"{words[a].group()} {words[b].group()}"):
            return True
    return False


_MEMBER = r"[^\W\d_](?:[^\W\d_]|['’](?=[^\W\d_]))+"
_LIST = re.compile(rf"(?<![\w'’-]){_MEMBER}(?:\s*,\s*{_MEMBER}){{1,}},?\s+(?:and|or|&)\s+{_MEMBER}(?![\w'’-])")


def _name_lists(text: str, free) -> list[tuple[int, int]]:
    """Every member of a list of three or more single words ("A, B and C"), two thirds of them known
    given names or surnames, none a very common word ("red, white and blue")."""
    from tasks.pii.names import zipf

    known = known_names()
    out = []
    for m in _LIST.finditer(text):
        members = [x for x in re.finditer(_MEMBER, m.group()) if x.group() not in ("and", "or")]
        words = [x.group() for x in members]
        if not (all(w[:1].isupper() for w in words) or all(w.islower() for w in words)):
            continue
        if sum(w.casefold() in known for w in words) * 3 >= len(words) * 2 \
                and not any(zipf(w.casefold()) >= 5 for w in words):
            out += [(m.start() + x.start(), m.start() + x.end()) for x in members
                    if free(m.start() + x.start(), m.start() + x.end())]
    return out
