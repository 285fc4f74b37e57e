"""Tables for the rule layers: address blocks, references by cue, which spaCy entities are people, the
per-run recall estimate. Run through the real engine (Presidio + spaCy) with default settings, as a new
user has them, so context words, checksums and merging all take part.
"""

import json
from pathlib import Path

import pytest

from tasks.config import PiiConfig, load_config
from tasks.pii.engine import Scrubber
from tasks.pii.recognizers.reference_cue import is_reference
from tasks.pii.recognizers.street_address import find_addresses

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def scrubber() -> Scrubber:
    return Scrubber(PiiConfig(), None)


def _covered(scrubber, text: str, value: str) -> bool:
    a = text.index(value)
    b = a + len(value)
    (spans,) = scrubber.detect([text])
    return sum(max(0, min(b, s.end) - max(a, s.start)) for s in spans) == b - a


ADDRESSES = [
    ("Address on file: 12 Elm Grove, Leeds.", "12 Elm Grove, Leeds"),
    ("Correspondence address Flat 3, 151 Queen's Drive, York", "Flat 3, 151 Queen's Drive, York"),
    ("Ship to 1600 Pennsylvania Avenue NW, Washington, DC 20500 today",
     "1600 Pennsylvania Avenue NW, Washington, DC 20500"),
    ("Mail: 221B Baker Street\nLondon\nNW1 6XE\nThanks", "221B Baker Street\nLondon\nNW1 6XE"),
    ("Lieferung an Hauptstraße 5, 10115 Berlin bitte", "Hauptstraße 5, 10115 Berlin"),
    ("She moved to 8 rue de la Paix, 75002 Paris last May", "8 rue de la Paix, 75002 Paris"),
    ("Send it to Via Roma 12, Bologna.", "Via Roma 12, Bologna"),
    ("lives at 7 kingsway, derby", "7 kingsway"),
    ("PO Box 4411, Springfield, IL 62704", "PO Box 4411, Springfield, IL 62704"),
    ("Tenant at Apt 4B, 350 5th Avenue, New York", "Apt 4B, 350 5th Avenue, New York"),
    ("USS Sörös\nFPO AE 18956", "USS Sörös\nFPO AE 18956"),
    ("billing address: usnv kerr\nfpo aa 30113 for this card", "usnv kerr\nfpo aa 30113"),  # any case
    ("PSC 4115, Box 7815\nAPO AP 96523", "PSC 4115, Box 7815\nAPO AP 96523"),
    ("new address is Školní 645\nKámen u Pacova\nCzech Republic 39470",
     "Školní 645\nKámen u Pacova\nCzech Republic 39470"),
    ("damage at the corner of 69 Spencer Street and Mill Lane", "69 Spencer Street and Mill Lane"),
]


@pytest.mark.parametrize("text, address", ADDRESSES)
def test_address_blocks_are_found_whole(scrubber, text, address):
    assert _covered(scrubber, text, address)


@pytest.mark.parametrize("text", [
    "2 cars on the road were damaged",
    "we drove 3 miles down the lane to the shop",
    "date of birth 3 March 1972.",
    "The court costs 2 thousand dollars",
    "Section 602 15 U.S.C. 1681 applies",
    "ask for extension # 2 of the form",
    "I paid 300 dollars on the way home",
    "There were 2 entities involved",
    "they violated 15 U.S.C 1681 section 604 section 2 of the act",  # legal citations, any spelling
    "under 15 USC 1681 n, 15 USC 1681 and 12 C.F.R 226",
    "recorded in Book 2494 page 1761 - 1782 dated",
])
def test_address_lookalikes(text):
    assert find_addresses(text) == []


REFERENCES = [
    ("claim ref HX/49/22341 logged", "HX/49/22341"),
    ("crime ref 46/12345/23 given by police", "46/12345/23"),
    ("Member #CL0087123A called", "CL0087123A"),
    ("case 2023-000123 opened", "2023-000123"),
    ("Policy no: 7781-22-19034 renewed", "7781-22-19034"),
    ("customer number is 0098812", "0098812"),
]


@pytest.mark.parametrize("text, ref", REFERENCES)
def test_reference_after_a_cue_is_replaced_without_a_configured_pattern(scrubber, text, ref):
    assert _covered(scrubber, text, ref)
    (out,) = scrubber.scrub_texts([text])
    assert ref not in out


@pytest.mark.parametrize("text, kept", [
    ("claim dated 12/03/2024 was late", "12/03/2024"),
    ("account balance 1,234.56 due", "1,234.56"),
    ("peril code MTR-04 applies", "MTR-04"),
    ("policy 2024 renewal", "2024"),
    ("the claim of 12345 people", "12345"),  # a cue word, but not followed by the identifier itself
])
def test_cue_lookalikes_survive(scrubber, text, kept):
    (out,) = scrubber.scrub_texts([text])
    assert kept in out


@pytest.mark.parametrize("token, expected", [
    ("CLM12345", True), ("46/12345/23", True), ("1234", False), ("12/03/2024", False), ("1.234,56", False),
    ("AB-12", False),
])
def test_is_reference(token, expected):
    assert is_reference(token) is expected


PEOPLE = [
    ("I want to add Colton Svenningsen as a beneficiary to my account", "Colton Svenningsen"),  # spaCy: FAC
    ("They had 6: Daisy, Christina, Johnathan, Sarah, Alexander and Deborah.", "Christina"),  # GPE in a list
    ("They had 6: Daisy, Christina, Johnathan, Sarah, Alexander and Deborah.", "Johnathan"),
    ("My name is Tamerlan", "Tamerlan"),
    ("Dear Ingrid, thank you for the photos", "Ingrid"),
    ("The plumber, Dave Kowalczyk, attended on Monday", "Dave Kowalczyk"),
    ("Spoke to Mrs Jane Doherty about the leak.", "Jane Doherty"),
    ("Herr Müller rief an", "Müller"),
    ('Szebasztián: "Who are you?"', "Szebasztián"),  # a speaker label
    ("Mimount, can you put me through?", "Mimount"),  # a request to someone
    ("Don't go to town, Judy!", "Judy"),
    ("I'm Kenneth's daughter", "Kenneth"),
    ("Tina Alexandrov\n18 Millicent Drive\nSuite 459\nLeeds LS1 4AB", "Tina Alexandrov"),  # the addressee
    ("we need to add Curtis Afanasyev as guardian", "Curtis Afanasyev"),
    ("She named him Jake", "Jake"),
    ("It's under my partner's name Donald van der Voet", "Donald van der Voet"),
    ("Name:    Diana Fuchs", "Diana Fuchs"),
    # given names the model does not label, with no cue: found by the name lists
    ("Leah is a very sympathetic person.", "Leah"),
    ("Sandra is very reliable. You can always depend on her.", "Sandra"),
    ("They had 6: Layla, Harry, Michele, James, Erika and Shelly.", "Layla"),
    ("Maybe it's under Shannon Linden", "Shannon Linden"),
    ("bot: what's the name on the account? user: heather pustivsek", "heather"),  # an all-lower-case chat
    ("they had 6: natalina, thomas, crystal, omar, zachary and brandy.", "natalina"),  # a list of names
]


@pytest.mark.parametrize("text, name", PEOPLE)
def test_people_the_small_model_mislabels_are_found(scrubber, text, name):
    assert _covered(scrubber, text, name)


NOT_PEOPLE = [
    ("Escape of water from the bathroom", "Escape"),  # a lone common word that opens the sentence
    ("XXXX XXXX Balance: {$2300.00}", "Balance"),  # a form's field name beside redactions
    ("I called BofA to see what was going on", "BofA"),  # a brand spelling
    ("Complaint sent to PHEAA last week", "PHEAA"),  # an acronym
    ("I called several times about the lien", "several"),
    ("Santander Consumer USA charged me. Santander never answered.", "Santander"),  # an ORG in this document
    ("The Landmark Financial office was closed", "Landmark"),
    ("Mr. Cooper Group serviced the loan", "Cooper"),
    ("However, I called them twice", "However"),  # not a request: a sentence adverb
    ("Date: 2020-01-04\nSubject: roof", "Subject"),
    ("I called CFPB and the Attorney General", "General"),
    ("I called several times about the lien", "times"),
    # common words with no given name or surname among them, which the model labels PERSON
    ("I asked for Verifiable Proof of the debt", "Verifiable"),
    ("Additionally, the Supervisor refused to help", "Supervisor"),
    ("the representative informed me it was accurate", "accurate"),
    # given names that are also common words, months, places, or part of an organisation
    ("Will you call me back in June?", "Will"),
    ("Grace period ended last week.", "Grace"),
    ("I moved to North Carolina in 2019", "Carolina"),
    ("Selene Finance never answered my letters", "Selene"),
    ("the colours were red, white and blue", "white"),
    ("High winds during Storm Eunice dislodged roof tiles", "Eunice"),  # a named storm
    ("Sent: 4 Mar 2025 12:56", "Mar"),  # a month's abbreviation
    ("Skiing fall in Crete, broken wrist treated", "Crete"),  # a place after a locative preposition
    ("Caller verified as Oliver Stewart, DOB 1950-04-20", "DOB"),  # an acronym beside a name is no list
    # beside a redaction mark only a known name is a name; the model takes a form's field for one
    ("On record until XX/XX/XXXX XXXX XXXX XXXX Inquired on XX/XX/XXXX", "Inquired"),
    ("Acct # XXXX XXXX Acct XXXX opened", "opened"),
    # organisation words and firms: a given name or surname inside one is not a person
    ("In 2018 Fay Servicing contacted me about the escrow", "Fay"),
    ("I am filing a complaint against Rubin & Rothman, LLC", "Rothman"),
    ("Their agency Nelson & Kennard kept calling", "Kennard"),
    # a name begun in capitals after a cue does not go on in lower case
    ("I immediately called Mr. Cooper stated they would call back", "stated"),
    ("We asked for the Forbearance plan", "Forbearance"),  # an English noun ending, not a name
]


@pytest.mark.parametrize("text, word", NOT_PEOPLE)
def test_organisations_and_form_words_are_not_people(scrubber, text, word):
    (out,) = scrubber.scrub_texts([text])
    assert word in out


@pytest.mark.slow  # 10 s on an idle 2-core machine
def test_bad_input_mixed_scripts_tables_long_and_only_identifiers(scrubber):
    table = " ".join(f"{i:03d} {i * 7 % 1000:03d} {i * 13 % 100:02d}.{i % 10}" for i in range(3000))
    only_ids = "jo@example.com +44 7700 900123 LS1 4AB AB123456C 4111 1111 1111 1111 536-22-8726"
    texts = ["Der Versicherte Herr Müller, Tel. +49 30 1234567, E-Mail hans@beispiel.de.",
             "客户 李伟 的电话 +44 7700 900456 邮箱 li.wei@example.cn",
             "Заявитель Иван Петров, тел. +7 912 345-67-89",
             table, "word " * 25_000 + " jane.doe@example.com", only_ids]
    outs = scrubber.scrub_texts(texts)
    assert "hans@beispiel.de" not in outs[0] and "1234567" not in outs[0]
    assert "li.wei@example.cn" not in outs[1] and "900456" not in outs[1]
    assert "345-67-89" not in outs[2]
    assert outs[3].count("<") < 30  # a number table is data, not thousands of identifiers
    assert "jane.doe@example.com" not in outs[4] and len(outs[4]) > 100_000
    for value in ("jo@example.com", "900123", "LS1 4AB", "AB123456C", "4111", "536-22-8726"):
        assert value not in outs[5]
    from tasks.pii.residual import scan

    assert sum(scan(outs[3]).values()) == 0 and sum(scan(outs[5]).values()) == 0


# --- per-run recall estimate ---------------------------------------------------------------------------
@pytest.mark.slow
def test_estimate_agrees_with_true_recall_on_the_sample_corpus(tmp_path):
    """The estimate, weighted to the sample corpus's own mix of types, is within 2 points of the recall
    measured against its ground truth."""
    from tasks.ingest.sample_data import write_sample
    from tasks.pii.estimate import estimate_recall
    from tasks.pii.score import score

    src = write_sample(tmp_path / "claims.jsonl", rows=400, seed=31)
    records = [json.loads(x) for x in src.read_text().splitlines()]
    gold = {g["id"]: g for g in map(json.loads, Path(f"{src}.pii.jsonl").read_text().splitlines())}
    pii = load_config(ROOT / "examples" / "claims.yaml").pii
    scrubber = Scrubber(pii, b"k")
    texts = [r["text"] for r in records]
    spans = scrubber.detect(texts)
    truth, _ = score(gold, {r["id"]: [(s.start, s.end, s.entity) for s in sp] for r, sp in zip(records, spans)})
    support = {e: m["support"] for e, m in truth.items() if not e.startswith("_") and m["support"]}
    true_recall = sum(truth[e]["recall"] * n for e, n in support.items()) / sum(support.values())
    est = estimate_recall(texts[:200], scrubber.detect, pii.locales, seed=3)
    # the corpus's types that the probes cover; policy/claim/customer refs are probed through the cue rule
    probe_of = {e: e for e in est} | {"POLICY_NUMBER": "REFERENCE_NUMBER", "CLAIM_REFERENCE": "REFERENCE_NUMBER",
                                      "CUSTOMER_REFERENCE": "REFERENCE_NUMBER"}
    covered = {e: n for e, n in support.items() if probe_of.get(e) in est}
    assert sum(covered.values()) > 0.8 * sum(support.values())
    estimate = sum(est[probe_of[e]]["recall"] * n for e, n in covered.items()) / sum(covered.values())
    assert abs(estimate - true_recall) <= 0.02, (estimate, true_recall)


def test_probes_are_placed_where_they_say_and_the_copies_differ_only_by_them():
    from tasks.pii.estimate import PROBES, insert_probes

    texts = ["Leak in the kitchen. Ceiling came down.", "Storm damage to the roof", ""]
    copies, where = insert_probes(texts, ["uk", "us", "eu"], seed=4, per_doc=3)
    assert len(where) == 9 and {e for _, e, _, _ in where} <= set(PROBES)
    for doc, entity, a, b in where:
        assert copies[doc][a:b].strip() == copies[doc][a:b] and len(copies[doc][a:b]) > 3
    assert insert_probes(texts, ["uk"], seed=4, per_doc=3) == insert_probes(texts, ["uk"], seed=4, per_doc=3)
    uk_only = {e for _, e, _, _ in insert_probes(texts * 20, ["uk"], seed=4)[1]}
    assert not any(e.startswith(("US_", "DE_", "ES_", "NL_", "EU_")) for e in uk_only)


@pytest.mark.parametrize("text, expected", [
    ("Leah is a very sympathetic person.", ["Leah"]),
    ("Maybe it's under Shannon Linden", ["Shannon Linden"]),  # the surname joins the given name
    ("Will you call me back in June?", []),  # a common word, a month
    ("I moved to North Carolina in 2019", []),  # part of a place name
    ("Selene Finance never answered", []),  # part of an organisation
    ("Guerra said so", []),  # a surname alone is not taken without a list or a cue
    ("Turgeon, Guerra and Ewing founded it", ["Turgeon", "Guerra", "Ewing"]),  # most are known names
    ("Equifax, Experian and TransUnion all reported it", []),  # none is
    ("I spoke to omar yesterday", []),  # lower case in a document that has capitals: not on a list alone
    ("i spoke to omar yesterday", ["omar"]),  # an all-lower-case document
    ("In 2018 Fay Servicing contacted me", []),  # an organisation word right after the given name
])
def test_gazetteer_people(text, expected):
    from tasks.pii.name_lists import gazetteer_people

    assert [text[a:b] for a, b in gazetteer_people(text, [])] == expected


def test_name_lists_cover_many_locales_and_drop_months():
    from tasks.pii.name_lists import name_lists

    given, family = name_lists()
    assert len(given) > 10_000 and len(family) > 10_000
    assert {"leah", "ingþór", "kornelia", "yusuf"} <= given
    assert "june" not in given and "may" not in given



def _doc(nlp, text: str, surface: str, label: str):
    """A spaCy Doc of ``text`` whose one entity is ``surface`` with ``label``: a label a model might give,
    so the corpus rule is tested on what it reads, not on what one model says today."""
    doc = nlp.make_doc(text)
    a = text.index(surface)
    doc.ents = [doc.char_span(a, a + len(surface), label=label)]
    return doc


@pytest.mark.parametrize("corpus, probe, name, person", [
    # the corpus calls it an organisation or a nationality three times: not a person
    ([("I wrote to Experian", "ORG"), ("The Experian file", "NORP"), ("Experian agreed", "ORG")],
     "I called Experian again", "Experian", False),
    # twice is not enough evidence
    ([("I wrote to Experian", "ORG"), ("Experian agreed", "ORG")], "I called Experian again", "Experian", True),
    # called a person more than half as often as anything else: the name stays a name
    ([("To Ocwen", "ORG"), ("Ocwen said", "ORG"), ("The Ocwen file", "ORG"), ("Ocwen wrote", "PERSON"),
      ("Ocwen again", "PERSON")], "I called Ocwen again", "Ocwen", True),
    # three times before an organisation word outweighs any number of PERSON labels
    ([("Ocwen Loan Servicing wrote", "PERSON"), ("Ocwen Loan Servicing said", "PERSON"),
      ("Ocwen Loan Servicing again", "PERSON"), ("Ocwen called", "PERSON")], "I called Ocwen again", "Ocwen", False),
    # a title keeps the person
    ([("Santander agreed", "ORG"), ("Santander paid", "ORG"), ("Santander wrote", "ORG")],
     "I met Mr Santander today", "Santander", True),
    ([("Santander agreed", "ORG"), ("Santander paid", "ORG"), ("Santander wrote", "ORG")],
     "I met Santander today", "Santander", False),
    # a given name that is not a common word keeps the person while the corpus reads it as a person at
    # least as often as anything else ...
    ([("Amanda paid", "ORG"), ("Amanda wrote", "ORG"), ("Amanda said", "ORG"), ("Amanda rang", "PERSON"),
      ("Amanda left", "PERSON"), ("Amanda came", "PERSON")], "I spoke to Amanda today", "Amanda", True),
    # ... and is the firm's where the corpus uses it for a firm more often ("Ally Financial", "Macy's")
    ([("Amanda paid", "ORG"), ("Amanda wrote", "ORG"), ("Amanda said", "ORG"), ("Amanda rang", "PERSON")],
     "I spoke to Amanda today", "Amanda", False),
    ([("Ally Financial wrote", "ORG"), ("Ally Bank said", "ORG"), ("Ally Financial again", "PERSON")],
     "I called Ally again", "Ally", False),
    # forms of several words count as a whole; a given name with a surname is never overruled
    ([("Wells Fargo paid", "ORG"), ("Wells Fargo wrote", "ORG"), ("Wells Fargo said", "ORG")],
     "I called Wells Fargo today", "Wells Fargo", False),
    ([("Christina Pena paid", "ORG"), ("Christina Pena wrote", "ORG"), ("Christina Pena said", "ORG")],
     "I spoke to Christina Pena today", "Christina Pena", True),
])
def test_corpus_labels_one_sense_per_corpus(corpus, probe, name, person):
    from tasks.pii.corpus import CorpusLabels
    from tasks.pii.engine import load_spacy

    nlp = load_spacy(PiiConfig().spacy_model)
    labels = CorpusLabels()
    for text, label in corpus:
        surface = name if name in text else next(w for w in text.split() if w in name)
        labels.observe(_doc(nlp, text, surface, label), text)
    a = probe.index(name)
    assert labels.organisation(probe, a, a + len(name)) is not person


def test_corpus_labels_overrule_the_model_in_the_scrubber():
    """The same rule inside the engine: after documents that name Experian as an organisation, a bare
    "called Experian" keeps the word; a person's full name in the same batch is still replaced."""
    scrubber = Scrubber(PiiConfig(), None)
    docs = ["Experian Group sent me a letter.", "Experian Credit Bureau ignored it.",
            "My dispute with Experian Bureau went nowhere.",
            "I called Experian and then spoke to Margaret Thornbury about it."]
    out = scrubber.scrub_texts(docs)
    assert "Experian" in out[3]
    assert "Thornbury" not in out[3] and "Margaret" not in out[3]


def test_names_organisation_and_english_words():
    from tasks.pii.names import english_word, names_organisation, only_common_words

    assert names_organisation("Rubin & Rothman") and names_organisation("Fay Servicing")
    assert not names_organisation("Mr & Mrs Smith") and not names_organisation("Oliver Stewart")
    assert english_word("Verifiable") and english_word("Forbearance") and not english_word("Thornbury")
    assert only_common_words(["Verifiable", "Proof"])
    assert not only_common_words(["Constance"])  # a listed given name with a noun ending


def test_corpus_counts_do_not_carry_from_one_call_to_the_next():
    """A text's output depends on the batch it is scrubbed with, not on what the process read before:
    the same batch gives the same output however a pool's chunks fall."""
    scrubber = Scrubber(PiiConfig(), None)
    alone = ["I called Experian about it."]
    first = scrubber.scrub_texts(alone)
    scrubber.scrub_texts(["Experian Group sent me a letter.", "Experian Credit Bureau ignored it.",
                          "My dispute with Experian Bureau went nowhere."])
    assert scrubber.scrub_texts(alone) == first
