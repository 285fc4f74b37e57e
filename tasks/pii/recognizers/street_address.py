"""Postal addresses in UK, US and continental forms, found as blocks rather than as one street pattern.

An address is a run of parts: a street line (house number and a street name that holds a street-type
word in any of the shipped languages, or a continental "Name 12" after an address cue), a flat,
apartment, suite or unit, a PO box, a town or region line, and a postcode or ZIP line. Each part found
on its own is an anchor; neighbouring parts (same line after a comma, or the next line or two) and
short capitalised town/country lines between or after them join the block, and the whole block is
replaced, so no town, country or postcode of an address survives beside a replaced street.
Street-type words that are also everyday words (Way, Park, Green, Close…) count only in Title Case.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import ClassVar

from presidio_analyzer import Pattern, PatternRecognizer, RecognizerResult

# Street-type words, any case: unambiguous in running text.
_STREET_ANY = (
    r"street|st|road|rd|avenue|ave|av|lane|ln|drive|dr|boulevard|blvd|highway|hwy|parkway|pkwy|crescent|cres|"
    r"terrace|gardens|gdns|mews|grove|circle|cir|ct|trail|trl|alley|route|rte|"
    r"rue|allée|allee|chemin|impasse|quai|via|viale|piazza|corso|vicolo|calle|avenida|avda|paseo|carrera|camino|"
    r"rua|travessa|estrada|praça|praca|largo|ul|ulica|ulice|utca|straße|strasse|str|gasse|platz|weg|"
    r"straat|laan|plein|gracht|kade|vej|gade|gatan|vägen|vagen|gata|veien|katu|tie"
)
# Everyday words that name streets only in Title Case ("Manor Way", not "on the way").
_STREET_TITLE = (r"u(?=\.\s?\d)|Court|Plaza|Close|Way|Place|Pl|Hill|Park|Row|Square|Sq|Walk|Rise|View|Green|Parade|"
                 r"Vale|Meadow|Fields|Broadway|Kingsway")
# Compound street names end in the type: Hauptstraße, Genterstrasse, Kaarikatu, Dorpsstraat, Salontie.
_SUFFIX = (r"[^\W\d_]{2,}(?:straße|strasse|str\.|weg|gasse|platz|allee|straat|laan|plein|gracht|vej|gade|gatan|vägen|"
           r"katu|tie|utca)(?![\w'’-])")
# Sentence words never sit inside a street name ("2 cars on the road" is not an address).
_STOP = (r"the|a|an|and|or|but|if|to|of|in|on|at|for|with|from|by|is|was|are|were|be|been|have|has|had|"
         r"i|you|he|she|we|they|it|this|that|my|your|his|her|our|their|me|him|them|not|no|was|were|will|"
         r"would|can|could|should|did|do|does|then|than|so|very|all|some|any|into|onto|over|under|down|up|"
         r"miles?|km|yards?|metres?|meters?|feet|ft|mph|times|days?|weeks?|months?|years?|hours?|mins?|minutes?|"
         r"dollars?|pounds?|euros?|percent|cars?|vehicles?|people|items?|"
         # legal citations: "15 U.S.C. 1681 section 604", "12 C.F.R. 226", "page 1761 - 1782"
         r"u\.s\.c\.?|usc|c\.f\.r\.?|cfr|u\.s\.|code|section|sections|sec|page|pages|chapter")
_NAME = rf"(?!(?i:{_STOP})(?![\w'’-]))[^\W\d_][^\W\d_'’.-]*(?:['’.-][^\W\d_]+)*\.?"
_NUM = r"\d{1,5}[A-Za-z]?(?:[-/]\d{1,4}[A-Za-z]?)?"
_UNIT = r"(?i:flat|apartment|apt|suite|ste|unit|room|floor|fl|building|bldg|block)\.?\s?#?\s?\d{1,5}[A-Za-z]?\b"
_POBOX = r"(?i:p\.?\s?o\.?\s?box|post office box|postfach|apartado|boîte postale|bp)\s?\d{1,6}\b"
_LEAD = r"[ \t>?*•|-]*"  # quoted e-mail lines, bullets, mangled characters at the start of a line
_WORDS = rf"{_NAME}(?:\s{_NAME}){{0,5}}"

_STREET = (
    rf"(?<![\w-])(?:{_NUM},?\s(?:{_NUM}\s)?"
    rf"(?:(?:(?:{_NAME}|\d{{1,3}}(?:st|nd|rd|th))\s){{0,4}}(?:(?i:{_STREET_ANY})|{_STREET_TITLE})"
    rf"\.?(?![\w'’-])(?<!\.)(?:\s{_NAME}){{0,4}}"  # 12 Elm Road, 95 Avenue des X
    rf"|{_SUFFIX}|(?:{_NAME}\s){{0,3}}{_SUFFIX})"  # 9 Hauptstraße
    rf"(?:\s{_NUM}(?![\w-]))?"  # continental house number after the name
    rf"|(?:(?i:{_STREET_ANY})\.?\s(?:{_NAME}\s){{0,4}}{_NAME}|{_SUFFIX}|(?:{_NAME}\s){{0,3}}{_SUFFIX})\s{_NUM}(?![\w-]))"
)
STREET = re.compile(_STREET)
# The same streets, found faster: the number-first form as a pattern of its own, the name-first form
# ("Via Roma 12") from its house number backwards, and the compound-word alternatives (every word tried
# against every suffix) only in a text that has a word ending in a street suffix.
_NO_SUFFIX = "(?!)"  # never matches
_A, _B = _STREET.split("|(?:(?i:", 1)
STREET_NUMBER_FIRST = re.compile(_A + ")")
STREET_NUMBER_FIRST_NO_SUFFIX = re.compile((_A + ")").replace(_SUFFIX, _NO_SUFFIX))
_B = "(?:(?i:" + _B[:-1]  # drop the closing of the outer group
_B_TAIL = rf"\s{_NUM}(?![\w-])"
assert _B.endswith(_B_TAIL)
STREET_NAME_FIRST = re.compile(r"(?<![\w-])" + _B[: -len(_B_TAIL)] + r"\s\Z")
STREET_NAME_FIRST_NO_SUFFIX = re.compile(r"(?<![\w-])" + _B[: -len(_B_TAIL)].replace(_SUFFIX, _NO_SUFFIX) + r"\s\Z")
_HOUSE_NUMBER = re.compile(rf"(?<=\s){_NUM}(?![\w-])")
_LETTERS = re.compile(r"[^\W\d_]+")
_STREET_WORDS = frozenset(_STREET_ANY.split("|"))
HAS_SUFFIX = re.compile(_SUFFIX)


def _streets(text: str) -> list[tuple[int, int]]:
    """STREET's matches, left to right without overlaps, as ``STREET.finditer`` would give them."""
    suffix = HAS_SUFFIX.search(text) is not None
    first = STREET_NUMBER_FIRST if suffix else STREET_NUMBER_FIRST_NO_SUFFIX
    found = [(m.start(), m.end()) for m in first.finditer(text)]
    numbers = list(_HOUSE_NUMBER.finditer(text))
    if suffix:
        for m in numbers:
            if w := STREET_NAME_FIRST.search(text, max(0, m.start() - 160), m.start()):
                found.append((w.start(), m.end()))
    elif numbers:
        # without compound words the name-first form starts at a street-type word: try only those
        starts = [w.start() for w in _LETTERS.finditer(text) if w.group().casefold() in _STREET_WORDS]
        for m in numbers:
            for p in starts:
                if m.start() - 160 <= p < m.start() and (w := STREET_NAME_FIRST_NO_SUFFIX.match(text, p, m.start())):
                    found.append((w.start(), m.end()))
                    break
    out, last = [], -1
    for a, b in sorted(found, key=lambda x: (x[0], -x[1])):
        if a >= last:
            out.append((a, b))
            last = b
    return out
UNIT = re.compile(rf"(?<![\w-]){_UNIT}")
POBOX = re.compile(rf"(?<![\w-]){_POBOX}")
# Town or country and a postcode or ZIP: "Dallas TX 48486", "Kiel 24103", "75008 Paris", "Mexico 33716".
POSTAL = re.compile(
    rf"(?<![\w-])(?:{_WORDS},?\s(?:[A-Z]{{2}}\s)?\d{{4,5}}(?:-\d{{4}})?|\d{{4,5}}\s(?:[A-Z]{{2}}\s)?{_WORDS}"
    rf"|\d{{4}}\s?[A-Z]{{2}}\s{_WORDS})(?![\w-])"
)
# The words-first form is found from its number backwards (trying six words at every word start is the
# slow part); the number-first forms start with a digit and are cheap as they are.
_POSTAL_NUMBER = re.compile(r"(?<=\s)(?:[A-Z]{2}\s)?\d{4,5}(?:-\d{4})?(?![\w-])")
_POSTAL_WORDS = re.compile(rf"(?<![\w-]){_WORDS},?\s\Z")
POSTAL_NUMBER_FIRST = re.compile(
    rf"(?<![\w-])(?:\d{{4,5}}\s(?:[A-Z]{{2}}\s)?{_WORDS}|\d{{4}}\s?[A-Z]{{2}}\s{_WORDS})(?![\w-])")
# US military post: "FPO AE 09499", "APO AP 96205"; the line above names the unit or ship. Any case: chat and
# form text writes it in lower case ("fpo aa 18532") as often as mail does in capitals.
MILITARY = re.compile(r"(?<![\w-])(?i:APO|FPO|DPO)\s(?i:AA|AE|AP)\s\d{5}(?:-\d{4})?(?!\d)")
# The USPS unit or ship line above it: "USNS Brown", "PSC 1234, Box 5678", "Unit 2050 Box 4190", any case.
MILITARY_UNIT_LINE = re.compile(r"(?i)[ \t]*(?:USNS|USNV|USS|USCGC|PSC|CMR|UNIT)\s[^\n]{1,48}")
# "the corner of 69 Spencer Street and Vokatý Street": two streets, numbers optional.
CORNER = re.compile(rf"(?i:corner\sof|junction\sof|intersection\sof)\s(?:{_NUM}\s)?{_WORDS}(?:\s{_NUM})?\s(?:and|&)\s"
                    rf"(?:{_NUM}\s)?{_WORDS}(?:\s{_NUM})?")
# "07 Celso Emilio Ferreiro 23": the continental street form anywhere; weak, like a country at the end.
NUMBERED_NAME = re.compile(rf"(?<![\w-]){_NUM}\s{_NAME}(?:\s{_NAME}){{0,3}}\s{_NUM}(?![\w-])")
# A line that starts with a number and names something ("52 58 Machiton Scholis"): a street only when a
# postcode or unit line follows (weak part).
NUMBERED_LINE = re.compile(rf"(?m)^{_LEAD}{_NUM}(?:\s{_NUM})?\s{_NAME}(?:\s{_NAME}){{0,4}}(?:\s{_NUM})?[ \t]*$")
# After an address cue, a continental street line without a street-type word ("Školní 645", "Purje 57").
CUE = re.compile(r"(?i)(?:address(?:\sis|\sto)?|lives\sat|living\sat|resides\sat|moved\sto|located\sat|"
                 r"deliver(?:ed)?\sto|send\s(?:it\s)?to|ship\sto|mail\sto)\s*[:,-]?\s*(?:is\s)?")
CONTINENTAL = re.compile(rf"(?:{_NUM}\s)?{_NAME}(?:\s{_NAME}){{0,3}}\s{_NUM}(?![\w-])"
                         rf"|{_NUM}\s{_NAME}(?:\s{_NAME}){{0,4}}")
# A town, region or country line inside a block: up to five words, no sentence in it.
_JOIN = (r"(?:[ \t]+(?:(?i:of the|of|and|&|de|da|do|dos|das|del|della|di|du|des|la|le|les|van|von|der|den|u|nad|pod|"
         r"am|an|im|sur|en)[ \t]+)?)")
PLACE_LINE = re.compile(rf"{_LEAD}{_NAME}(?:{_JOIN}{_NAME}){{0,5}}[ \t]*(?:\d{{1,6}}(?:-\d{{4}})?)?[ \t]*")
LOWER_WORDS = frozenset("the a an and or but if to of in on at for with from by is was are were be been have has had "
                        "i you he she we they it this that my your his her our their me him them not no".split())


def _parts(text: str) -> list[tuple[int, int, bool]]:
    """Address parts as (start, end, strong). Strong parts stand on their own; weak ones need a neighbour."""
    out = [(a, b, True) for a, b in _streets(text)]
    out += [(m.start(), m.end(), True) for rx in (UNIT, POBOX, MILITARY, CORNER) for m in rx.finditer(text)]
    out += [(a, b, False) for a, b in _postal(text) if not _has_sentence_words(text[a:b])]
    out += [(m.start() + len(m.group()) - len(m.group().lstrip(" \t>?*•|-")), m.end(), False)
            for m in NUMBERED_LINE.finditer(text)]
    out += [(m.start(), m.end(), False) for m in NUMBERED_NAME.finditer(text)]
    out += [(m.start(1), m.end(1), False) for m in _SEGMENT.finditer(text) if _is_country(m.group(1))]
    for c in CUE.finditer(text):
        m = CONTINENTAL.match(text, c.end())
        if m and not _has_sentence_words(m.group()):
            out.append((m.start(), m.end(), True))
    return sorted(p for p in out if not _after_date(text, p[0]))


def _after_date(text: str, start: int) -> bool:
    """A number right after a slash is a date's year or day ("XX/XX/2020 XXXX XXXX"), not a house number."""
    return start > 0 and text[start - 1] == "/" and text[start:start + 1].isdigit()


_SEGMENT = re.compile(r"(?:^|[,\n])[ \t>?*•|-]*([^\W\d_][^,\n.?!]{2,40}?)[ \t]*(?=$|[,\n.?!])")


def _is_country(s: str) -> bool:
    from tasks.pii.names import is_country

    return is_country(s)


def _postal(text: str) -> list[tuple[int, int]]:
    """POSTAL's matches, scanning left to right without overlaps as ``POSTAL.finditer`` would."""
    found = [(m.start(), m.end()) for m in POSTAL_NUMBER_FIRST.finditer(text)]
    for m in _POSTAL_NUMBER.finditer(text):
        if w := _POSTAL_WORDS.search(text, max(0, m.start() - 120), m.start()):
            found.append((w.start(), m.end()))
    out, last = [], -1
    for a, b in sorted(found, key=lambda x: (x[0], -x[1])):
        if a >= last:
            out.append((a, b))
            last = b
    return out


def _has_sentence_words(s: str) -> bool:
    return any(w in LOWER_WORDS for w in re.findall(r"[^\W\d_]+", s))


def _glue(text: str, a: int, b: int) -> bool:
    """Text between two parts that may sit inside one address: separators, or up to two short place lines."""
    gap = text[a:b]
    if not gap.strip(" \t,>|-"):
        return True
    if gap.count("\n") > 3 or len(gap) > 80:
        return False
    pieces = [p for p in re.split(r"[,\n]", gap) if p.strip(" \t>?*•|-")]
    return len(pieces) <= 2 and all(PLACE_LINE.fullmatch(p) and not _has_sentence_words(p) for p in pieces)


# A full stop after a street word of four or more letters ends the sentence; after "St", "Rd", "Ave" it
# abbreviates.
_SENTENCE_END = re.compile(r"[^\W\d_]{4,}\.\Z")
_SEGMENT_TEXT = re.compile(r"(?:[^,\n.]|\.(?=\S))*")  # up to a comma, a line end or a full stop
_SEP = re.compile(r"(?:[ \t]*(?:,|\r?\n)[ \t>?*•|-]*){1,3}")
_SAME_LINE = re.compile(rf"[ \t]+(?:{_NUM}[ \t]+)?(?=[^\W\d_a-z])(?:{_NAME}(?:{_JOIN}{_NAME}){{0,5}})"
                        rf"(?:[ \t]+\d{{1,6}}(?:-\d{{4}})?)?(?![\w-])")
_SAME_LINE_ANY_CASE = re.compile(_SAME_LINE.pattern.replace("(?=[^\\W\\d_a-z])", ""))


def _tail(text: str, end: int) -> int:
    """Extend a block over following town/country/postcode lines (at most three), and over capitalised
    town and country words that follow on the same line ("Apt. 195 Santa Marta Malaysia")."""
    if _SENTENCE_END.search(text, 0, end):  # "34 Station Street. Peril code …": the sentence is over
        return end - 1, 0
    same = _SAME_LINE_ANY_CASE if not any(c.isupper() for c in text) else _SAME_LINE  # an all lower-case text
    if (m := same.match(text, end)) and not _has_sentence_words(m.group()):
        end = m.end()
    lines = 0
    for _ in range(3):
        m = _SEP.match(text, end)
        if not m or m.group().count("\n") > 2:
            break
        line = _SEGMENT_TEXT.match(text, m.end())
        piece = _place_prefix(line.group().rstrip(" \t."))
        if not piece:
            break
        end = m.end() + len(piece)
        # only a capitalised town or country, or a postcode, counts towards making a weak part an address
        lines += bool(re.match(r"[ \t>?*•|-]*(?:[^\W\d_a-z]|\d{4,6}\b)", piece))
        if len(piece) < len(line.group().rstrip(" \t.")):
            break  # the sentence goes on after the place ("… Laos in case of an issue")
    return end, lines


def _place_line(piece: str) -> bool:
    """A town, region or country line, optionally with a postcode; or a bare postcode, ZIP or state line."""
    if _is_country(re.sub(r"[\s\d-]+$", "", piece).strip(" \t>?*•|-")):  # "Trinidad and Tobago 79370"
        return True
    if piece and PLACE_LINE.fullmatch(piece) and not _has_sentence_words(piece) and len(piece) <= 60:
        return True
    return bool(re.fullmatch(r"[ \t>]*(?:\d{4,6}(?:-\d{4})?|[A-Z]{2})", piece))


def _place_prefix(piece: str) -> str:
    """The longest start of ``piece`` that is a place line ("Laos" of "Laos in case of an issue"), or ""."""
    cuts = [len(piece)] + [m.start() for m in re.finditer(r"\s+", piece)][::-1]
    for cut in cuts:
        if cut and _place_line(piece[:cut]):
            return piece[:cut]
    return ""


_HEAD_SAME_LINE = re.compile(rf"(?:{_NUM}\s+)?(?:{_NAME}\s+){{0,4}}{_NUM}\s*,?\s*$|{_NUM}\s*,?\s*$")
_HEAD_LINE = re.compile(rf"(?:{_NUM}\s)?{_NAME}(?:\s{_NAME}){{0,3}}\s{_NUM}[ \t,.]*$"
                        rf"|{_NUM}\s{_NAME}(?:\s{_NAME}){{0,4}}[ \t,.]*$")


def _head(text: str, start: int) -> int:
    """Extend a block back over a continental street line ("55 Školní 645") right before it."""
    line_start = text.rfind("\n", 0, start) + 1
    if (m := _HEAD_SAME_LINE.search(text, line_start, start)) and not _after_date(text, m.start()):
        return m.start()
    if text[line_start:start].strip(" \t>"):
        return start
    prev_end = line_start - 1
    while prev_end > 0 and text[prev_end - 1] in "\r\n":
        prev_end -= 1
    if prev_end <= 0 or line_start - prev_end > 3:
        return start
    prev_start = text.rfind("\n", 0, prev_end) + 1
    line = text[prev_start:prev_end]
    military = MILITARY.match(text, start) is not None  # the ship or unit is named on the line above
    if military and (PLACE_LINE.fullmatch(line) or MILITARY_UNIT_LINE.fullmatch(line)):
        return prev_start + len(line) - len(line.lstrip(" \t>?*•|-"))
    if (m := _HEAD_LINE.search(line)) and not _has_sentence_words(m.group()):
        return prev_start + m.start()
    return start


@lru_cache(maxsize=64)  # the person recognizer asks again for the same text (the addressee above a block)
def find_addresses(text: str) -> list[tuple[int, int]]:
    """Address blocks in ``text``: joined parts, with at least one strong part or two weak ones."""
    blocks: list[list] = []
    for s, e, strong in _parts(text):
        w = 2 if strong else 1
        if blocks and s < blocks[-1][1]:  # two readings of the same words are one part ("3 March 1972")
            blocks[-1][1] = max(blocks[-1][1], e)
            blocks[-1][2] = max(blocks[-1][2], w)
        elif blocks and _glue(text, blocks[-1][1], s):
            blocks[-1][1] = max(blocks[-1][1], e)
            blocks[-1][2] += w
        else:
            blocks.append([s, e, w])
    out = []
    for s, e, weight in blocks:
        end, lines = _tail(text, e)
        # a numbered line followed by two or more town/region/postcode lines is an address on its own
        if weight >= 2 or (weight == 1 and lines >= 2):
            out.append((_head(text, s), end))
    return out


class TgStreetAddressRecognizer(PatternRecognizer):
    ENTITY = "STREET_ADDRESS"
    PATTERNS: ClassVar[list[Pattern]] = [Pattern("street", STREET.pattern, 0.6)]
    CONTEXT: ClassVar[list[str]] = []  # blocks are scored on their structure; cues are in CUE

    def __init__(self) -> None:
        super().__init__(supported_entity=self.ENTITY, patterns=self.PATTERNS, context=self.CONTEXT,
                         global_regex_flags=0)

    def analyze(self, text, entities, nlp_artifacts=None, regex_flags=None):
        # 0.9: an address block wins the type of a merged span over a name inside it (the union is replaced).
        return [RecognizerResult(self.ENTITY, s, e, 0.9, recognition_metadata={
            RecognizerResult.RECOGNIZER_NAME_KEY: self.name, RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id})
            for s, e in find_addresses(text)]
