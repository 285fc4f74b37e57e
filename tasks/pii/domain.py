"""Domain language the small NER model takes for people: eponyms, drug names, firms named like people.

``en_core_web_sm`` reads "Warthin's tumor", "Libman-Sacks endocarditis", "Ondansetron" and "Mr. Cooper"
(a mortgage servicer) as people. A claims note about "Crohn's disease" that loses the diagnosis is worse
training data, and a name in a medical term is not personal data. ``domain_terms`` finds the character
ranges of such terms in one document; the engine drops PERSON spans that overlap them (no other type).

What each ``pii.domain`` keeps:

- ``general`` (default): an eponym before a noun that only a medical term takes ("Crohn's disease",
  "Libman-Sacks endocarditis", "Kaposi's sarcoma", "Guillain-Barré syndrome").
- ``health``: also an eponym before a noun that a person's belongings can take too ("Murphy's sign",
  "Rai stage", "Apgar score", "Holter monitor"), unless the word is a given name ("Mary's test"); drug
  names by their international-nonproprietary-name stems ("Trastuzumab", "Imatinib", "Ondansetron");
  the possessive of a known eponym on its own ("Parkinson's has worsened"); and ``HEALTH_TERMS``.
- ``finance``: also ``FINANCE_TERMS`` (firms named like people, legal documents).

Never kept, in any domain: a term right after a title ("Mr Parkinson's car", "Mr Parkinson called") or
right after a capitalised given name ("Mary Addison's test"): those are people. The vocabularies below
are short lists written for this project (no external vocabulary: none with a licence that fits was
reachable offline); the patterns do the work, the lists only name what no pattern can see.
"""

from __future__ import annotations

import re
from typing import Literal

from tasks.pii.name_lists import name_lists

Domain = Literal["general", "health", "finance"]

# Nouns that after a capitalised name make an eponym, hardly ever a patient's own ("Crohn's disease";
# people write "her disease", not "Jones's disease").
STRONG_NOUNS = """
disease diseases syndrome syndromes sarcoma lymphoma carcinoma tumour tumours tumor tumors palsy phenomenon
oedema edema endocarditis thyroiditis encephalopathy encephalitis dystrophy ataxia chorea contracture anomaly
malformation neuroma neuralgia arteritis triad virus bacillus reflex manoeuvre maneuver fundoplication
""".split()
# Nouns a patient's own condition or belongings take too ("Jones's fracture", "Mary's test"): kept in the
# health domain only, never after a given name, and in the possessive only when the word is no known name.
WEAK_NOUNS = """
sign signs test tests score scale stage stages staging classification criteria procedure operation monitor
monitoring node nodes cell cells law effect method technique system grade index ultrasound ultrasonography
incision catheter tube stain staining probe fracture hernia ulcer aneurysm anaemia anemia dementia cyst
lesion disorder fasciotomy oesophagus esophagus
""".split()
# Capitalised words that no pattern sees as medical: device makers, hospitals, eponyms used bare.
HEALTH_TERMS = """
Doppler Raynaud Parkinson Alzheimer Crohn Hodgkin Spacelabs Holter Apgar Gleason Whipple Nissen Bankart
Sloan-Kettering Epstein-Barr Helicobacter Campylobacter Candida Leishmania Listeria Salmonella
Klebsiella Pseudomonas Staphylococcus Streptococcus FACSCalibur Adriamycin Tourette Asperger Wilms
Colles Lachman McMurray Kernig Brudzinski Babinski
""".split()
FINANCE_TERMS = [
    "Mr. Cooper", "Mr Cooper", "Bill of Sale", "Dodd Frank", "Dodd-Frank", "Pell Grant", "Best Buy",
    "Quick Silver", "Sallie Mae", "Fannie Mae", "Freddie Mac", "Ginnie Mae", "Wells Fargo", "Santander",
    "Ocwen", "Experian", "Equifax", "TransUnion", "Synchrony", "Lakeview", "Rushmore", "Navient",
]
# International nonproprietary name stems (WHO): a capitalised word ending so is a drug, not a name.
DRUG_STEMS = """
mab nib tinib ciclib pril sartan olol statin cycline mycin micin setron azole conazole vir navir previr
floxacin cillin cef dronate parin xaban gatran triptan tidine prazole oxetine pramine zepam zolam pine
dipine lukast semide thiazide gliptin glutide gliflozin profen fenac coxib caine sone olone terol tropium
platin rubicin taxel trexate mustine tecan relin sertib parib lisib rafenib zumab ximab
""".split()

_TITLES = frozenset("mr mrs ms mx miss dr prof sir dame lord lady rev".split())
_TITLE = re.compile(r"(?i)(?<![\w.])(?:mr|mrs|ms|mx|miss|dr|prof|sir|dame|lord|lady|rev)\.?[ \t]+$")
_NAME = r"[^\W\d_a-z][^\W\d_]*(?:['’](?!s\b)[^\W\d_]+)?"
_EPONYM = rf"{_NAME}(?:[-–]{_NAME})?"
_POSS = r"(?:['’]s|(?<=s)['’](?=\s))?"


def _noun_pattern(nouns: list[str]) -> re.Pattern:
    alt = "|".join(sorted(set(nouns), key=len, reverse=True))
    return re.compile(rf"(?<![\w'’-])(?P<term>{_EPONYM}(?:\s+{_EPONYM})?){_POSS}(?=\s+(?i:{alt})\b)")


_STRONG = _noun_pattern(STRONG_NOUNS)
_WEAK = _noun_pattern(WEAK_NOUNS)
_DRUG = re.compile(rf"(?<![\w'’-])[A-Z][a-z]{{3,}}(?:{'|'.join(sorted(DRUG_STEMS, key=len, reverse=True))})(?![\w'’])")
_WORDS_RE = re.compile(r"[^\W\d_]+")


def _vocabulary(terms: list[str], any_case: bool = False) -> re.Pattern:
    """The listed terms as whole words; ``any_case``: in any case and with a possessive "s", apostrophe or
    not (firms: "MR COOPER", "Mr. Coopers own payoff quote")."""
    alt = "|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True))
    if any_case:
        return re.compile(rf"(?i)(?<![\w'’-])(?:{alt})(?:['’]?s)?(?![\w-])")
    return re.compile(rf"(?<![\w'’-])(?:{alt})(?![\w-])")


_HEALTH = _vocabulary(HEALTH_TERMS)
_FINANCE = _vocabulary(FINANCE_TERMS, any_case=True)


def _given_name(word: str) -> bool:
    """A given name that is not also a very common word ("Mary", "John"; not "Will", "May"), or a title ("Mr")."""
    from tasks.pii.names import zipf

    f = word.casefold().rstrip(".")
    return f in _TITLES or (f in name_lists()[0] and zipf(f) < 5.5)


def person_before(text: str, start: int) -> bool:
    """A title or a capitalised given name right before ``start``: "Mr Parkinson", "Mary Addison"."""
    if _TITLE.search(text, max(0, start - 8), start):
        return True
    m = re.search(rf"({_NAME})[ \t]+$", text[max(0, start - 30):start])
    return bool(m) and _given_name(m.group(1))


def _first_names_person(term: str, weak: bool) -> bool:
    """The term starts with a title or a given name ("Mr Parkinson", "Mary Addison"; after a weak noun
    also alone: "Mary's test"): a person, not an eponym. "Addison's disease" alone is the eponym."""
    words = _WORDS_RE.findall(term)
    return bool(words) and (len(words) > 1 or weak) and _given_name(words[0])


def domain_terms(text: str, domain: Domain = "general") -> list[tuple[int, int]]:
    """Character ranges of domain terms in ``text`` that are not people (see the module docstring)."""
    out: list[tuple[int, int]] = []
    patterns = [_STRONG] + ([_WEAK] if domain == "health" else [])
    for pat in patterns:
        for m in pat.finditer(text):
            a, b = m.span("term")
            if person_before(text, a):
                continue
            if _first_names_person(m.group("term"), pat is _WEAK):
                continue  # "Mary Addison's disease": a person and her disease
            if pat is _WEAK and m.end() > b and not _HEALTH.fullmatch(m.group("term").split()[-1]):
                continue  # "Jones's fracture", "Kowalski's test": a patient's; "Colles' fracture" is listed
            out.append((a, b))
    if domain == "health":
        for m in _DRUG.finditer(text):
            if not person_before(text, m.start()) and not _known_name(m.group()):
                out.append(m.span())
        # A listed term alone ("duplex Doppler", "a Spacelabs monitor"); one that is also a known surname
        # only in the possessive ("Parkinson's has worsened"; "Parkinson called" may be a person).
        out += [m.span() for m in _HEALTH.finditer(text) if not person_before(text, m.start())
                and (not _known_name(m.group()) or re.match(r"['’]s?(?![\w])", text[m.end():m.end() + 2]))]
    if domain == "finance":
        out += [m.span() for m in _FINANCE.finditer(text)]
    return sorted(set(out))


def _known_name(word: str) -> bool:
    given, family = name_lists()
    return word.casefold() in given or word.casefold() in family


def drop_domain_people(spans: list, terms: list[tuple[int, int]]) -> list:
    """``spans`` (anything with start, end and entity) less the PERSON spans that overlap a domain term."""
    if not terms:
        return spans
    return [s for s in spans if s.entity != "PERSON" or not any(a < s.end and s.start < b for a, b in terms)]
