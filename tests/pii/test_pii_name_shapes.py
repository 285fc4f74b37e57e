"""P17 second pass: names told by where they stand, and capitalised words that are not names by their shape.

Every sentence here was written for these tests; none is taken from a benchmark set.
"""

import pytest

from tasks.config import PiiConfig
from tasks.pii.engine import Scrubber
from tasks.pii.not_names import citation_abbreviation, compound, prefixed, repeated_firms
from tasks.pii.recognizers.street_address import find_addresses


@pytest.fixture(scope="module")
def scrubber() -> Scrubber:
    return Scrubber(PiiConfig(), None)


def _people(scrubber, text: str) -> list[str]:
    (spans,) = scrubber.detect([text])
    return [text[s.start:s.end] for s in spans if s.entity == "PERSON"]


def _covered(scrubber, text: str, value: str) -> bool:
    a = text.index(value)
    (spans,) = scrubber.detect([text])
    return any(s.start <= a and a + len(value) <= s.end for s in spans)


FOUND = [
    # a frequent given name the model labels a person, as the subject of a verb at a sentence's start
    ("Robert was driving the van at the time.", "Robert"),
    ("The roof leaked. Michael has sent the photos.", "Michael"),
    # a possessive before contact details
    ("Please post the forms to Tomasz's address in Leeds.", "Tomasz"),
    ("Can you check Oluwaseun's phone number for me?", "Oluwaseun"),
    # lists and pairs with a person in them: a very common member no longer hides the rest
    ("The witnesses were Okonkwo, Mark, Ffion and Jennifer.", "Okonkwo"),
    ("Hargreaves and Sarah Jones saw the collision.", "Hargreaves"),
    # a name goes on over surname particles and post-nominal letters
    ("The claim was signed by Marieke van den Berg yesterday.", "Marieke van den Berg"),
    ("Report prepared by Alan Whitcombe PhD on site.", "Alan Whitcombe PhD"),
    ("Report prepared by Alan Whitcombe, Jr. on site.", "Alan Whitcombe, Jr."),
    # real people that look like the firms and terms below
    ("The letter came from Ahmed al-Hassan yesterday.", "Hassan"),  # a particle, not a prefix
    ("I spoke to J.R. Hartley about the claim.", "Hartley"),  # initials, not a court district
    ("I met Kevin Goodman and Laura Blackburn.", "Goodman"),  # a known surname made of two words
    ("Mr & Mrs Whitfield called about the claim.", "Whitfield"),  # a couple, not a firm
    ("Mr Moneyline called about the claim.", "Moneyline"),  # a compound after a title
]


@pytest.mark.parametrize("text, name", FOUND)
def test_names_found_by_where_they_stand(scrubber, text, name):
    assert _covered(scrubber, text, name)


KEPT = [
    ("Escape is the most common peril we see.", "Escape"),  # a common word, no given name, opens the sentence
    ("The firm Dawson and Dawson sent a letter.", "Dawson"),  # a name said twice is a firm
    ("I owe money to Pritchard Pritchard and Keane.", "Keane"),  # and its partner
    ("Their agency Moreton and Pike Ltd kept calling.", "Moreton"),  # partners an organisation word follows
    ("Collections by Ainsworth & Barnaby never stopped.", "Barnaby"),  # names joined by "&"
    ("I asked Moneyline for the statement.", "Moneyline"),  # two English words run together
    ("Chase was not the Noteholder at the time.", "Noteholder"),
    ("See Doe v. Roe ( C.D.Cal.Jan. 5, 2001 ) on notice.", "Cal"),  # a court citation's abbreviations
    ("Under Cal. Civ. Code 1788 they must stop.", "Cal"),
    ("As held in ( S.D. Tex. 2018 ), the notice was void.", "Tex"),
    ("I never agreed to e-Oscar disputes.", "Oscar"),  # a word glued to a short prefix
]


@pytest.mark.parametrize("text, word", KEPT)
def test_firms_terms_and_citations_are_not_people(scrubber, text, word):
    (out,) = scrubber.scrub_texts([text])
    assert word in out


@pytest.mark.parametrize("word, expected", [
    ("Noteholder", True), ("Loancare", True), ("Pennymac", True), ("Cashcall", True),
    ("Svenningsen", False), ("Whitcombe", False), ("Lindström", False), ("Okonkwo", False), ("Homes", False),
    ("Cooperman", False), ("Whitfield", False), ("Blackwood", False),  # built like English surnames
])
def test_compound(word, expected):
    assert compound(word) is expected


@pytest.mark.parametrize("text, firm", [
    ("paid Harris and Harris last year", "Harris and Harris"),
    ("wrote to Hayt Hayt and Landau twice", "Hayt Hayt and Landau"),
    ("wrote to Hayt Hayt Landau twice", "Hayt Hayt Landau"),
    ("called Ashton and Weinburg Inc again", "Ashton and Weinburg Inc"),
    ("Mr & Mrs Smith", None), ("Sarah and John", None), ("on Elm Street Street", None),
])
def test_repeated_firms(text, firm):
    found = [text[a:b] for a, b in repeated_firms(text)]
    assert found == ([firm] if firm else [])


@pytest.mark.parametrize("text, word, expected", [
    ("( S.D. Tex. 2018 )", "Tex", True), ("C.D.Cal.Nov. 14", "Cal", True), ("Cal. Civ. Code", "Cal", True),
    ("I spoke to Cal. Dr. Smith said no.", "Cal", False), ("to J.R. Smith about it", "Smith", False),
    ("to J.R. Smith.", "Smith", False), ("Paul. 3 days later", "Paul", False),
])
def test_citation_abbreviation(text, word, expected):
    a = text.index(word)
    assert citation_abbreviation(text, a, a + len(word)) is expected


@pytest.mark.parametrize("text, word, expected", [
    ("the e-Oscar system", "Oscar", True), ("Ahmed al-Hassan", "Hassan", False),
    ("Amy-Leigh called", "Leigh", False), ("ex-Zombie", "Zombie", True),
])
def test_prefixed(text, word, expected):
    assert prefixed(text, text.index(word)) is expected


@pytest.mark.parametrize("text, address", [
    ("Opened XX/XX/2019 XXXX XXXX XXXX, XXXX, TX XXXX and closed later", None),  # a date's year
    ("On XX/XX/2021 via certified mail I sent the letter", None),
    ("Send it to 12/3 Elm Street, Leeds.", "12/3 Elm Street, Leeds"),  # a flat number stays
    ("He lives at 12 Elm Street, Leeds.", "12 Elm Street, Leeds"),
])
def test_a_dates_year_is_no_house_number(text, address):
    found = [text[a:b] for a, b in find_addresses(text)]
    assert found == ([address] if address else [])


def test_finance_keeps_a_titled_firm_in_any_case_and_possessive():
    finance = Scrubber(PiiConfig(domain="finance"), None)
    for text in ["MR COOPER IS THE SERVICER NOW.", "as shown by Mr. Coopers own payoff quote"]:
        (out,) = finance.scrub_texts([text])
        assert "<PERSON>" not in out, text
    (out,) = finance.scrub_texts(["Mr Cooperman called twice."])  # another name, not the firm
    assert "Cooperman" not in out
