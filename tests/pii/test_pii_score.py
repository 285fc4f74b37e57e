"""The output-text scoring rule (tasks/pii/score.py): significant parts, survival, per-type recall, replacements."""

import pytest

from tasks.pii.score import (
    GENERIC_ADDRESS_WORDS,
    count_replacements,
    score_outputs,
    significant_parts,
    survives,
    surviving_parts,
)


def W(*words):
    return [("word", w) for w in words]


def D(*runs):
    return [("digits", d) for d in runs]


@pytest.mark.parametrize("entity, value, parts", [
    ("PERSON", "Judy", W("Judy")),
    ("PERSON", "Donald van der Voet", W("Donald", "van", "der", "Voet")),
    ("PERSON", "José Ñúñez-Ortiz", W("José", "Ñúñez", "Ortiz")),
    ("PERSON", "Ζωή Παπαδοπούλου", W("Ζωή", "Παπαδοπούλου")),
    ("PERSON", "Anna anna", W("Anna")),  # one part per word, case-insensitively
    ("PERSON", "Mr.", []),  # nothing identifying: unscored
    ("PERSON", "Li Wu", []),
    ("ADDRESS", "4589 40th Street Suite 603 Calgary AB", W("Calgary") + D("4589", "40", "603")),
    ("ADDRESS", "11 via goffredo mameli 149\n suite 268", W("goffredo", "mameli") + D("11", "149", "268")),
    ("STREET_ADDRESS", "12 Rue de la Paix", W("Paix") + D("12")),
    ("STREET_ADDRESS", "Flat 3, 7 Bridge Road", W("Bridge")),  # single digits are not significant
    ("ADDRESS", "Hauptstraße 5, Straße 9", W("Hauptstraße")),
    ("ADDRESS", "Calle 7", []),
    ("ADDRESS", "66298", D("66298")),
    ("EMAIL_ADDRESS", "PeterFriedman@cuvox.de", W("PeterFriedman")),
    ("EMAIL_ADDRESS", "jon.heidur_77@cuvox.de", W("jon.heidur_77")),
    ("PHONE_NUMBER", "(978)645-9740x11144", D("978", "645", "9740", "11144")),
    ("PHONE_NUMBER", "(88) 684-334", D("684", "334")),
    ("PHONE_NUMBER", "12-34", D("12", "34")),  # no run of 3: every run
    ("US_SSN", "308-63-0237", D("308", "0237")),
    ("CREDIT_CARD", "4716 4245 2151 1864", D("4716", "4245", "2151", "1864")),
    ("IBAN_CODE", "GB69PMNJ18913943430745", D("18913943430745")),
    ("US_DRIVER_LICENSE", "A56319335", D("56319335")),
    ("IP_ADDRESS", "86.231.85.193", D("231", "193")),
    ("IP_ADDRESS", "d80:e4b5:79da::c319", W("d80", "e4b5", "79da", "c319")),
    ("UK_POSTCODE", "SW1A 1AA", D("1")),  # no run of 3: every run, each once
    ("LOCATION", "bauru", W("bauru")),
    ("ORGANIZATION", "Smith Ltd.", W("Smith", "Ltd")),
    ("DOMAIN_NAME", "http://www.visualtrips.hu/", W("visualtrips")),
    ("DATE_TIME", "3/23/1940", D("1940")),
    ("DATE_TIME", "yesterday", W("yesterday")),  # a value with no digit: its words
])
def test_significant_parts(entity, value, parts):
    assert significant_parts(entity, value) == parts


def test_generic_address_words_cover_the_briefed_list():
    for w in ("street", "st", "rd", "avenue", "suite", "apt", "po", "p.o", "rue", "via", "rua", "calle",
              "strasse", "straße", "ul", "avenida", "estrada"):
        assert w in GENERIC_ADDRESS_WORDS
    assert "calgary" not in GENERIC_ADDRESS_WORDS


def test_the_words_of_a_described_location_are_not_significant_its_street_names_are():
    assert significant_parts("ADDRESS", "the corner of Koepoortwal 115 and Hansen Street") == [
        ("word", "Koepoortwal"), ("word", "Hansen"), ("digits", "115")]


ORIG = "Smith said Judy Smith called from 684-334 on 684-9000."
GOLD = [(11, 21, "PERSON"), (34, 41, "PHONE_NUMBER")]


@pytest.mark.parametrize("part, output, expected", [
    (("word", "Judy"), "Smith said <PERSON> called from <PHONE_NUMBER> on 684-9000.", False),
    (("word", "Judy"), "Smith said JUDY <PERSON> called", True),  # case-insensitive
    (("word", "Judy"), "Smith said Judyth called", False),  # inside a longer word: not the word
    (("word", "Judy"), "Smith said 2Judy called", True),  # a letter run ends at a digit
    # "Smith" occurs once outside the gold spans (the template's own word): once in the output is allowed
    (("word", "Smith"), "Smith said <PERSON> called", False),
    (("word", "Smith"), "Smith said <PERSON> Smith called", True),
    (("word", "Smith"), "Smith said SMITH", True),
    # "684" occurs once outside the spans (684-9000): one survivor is the template's, two are a leak
    (("digits", "684"), "from <PHONE_NUMBER> on 684-9000.", False),
    (("digits", "684"), "from 684-<PHONE_NUMBER> on 684-9000.", True),
    (("digits", "334"), "from <PHONE_NUMBER>-334 on 684-9000.", True),
    (("digits", "334"), "from <PHONE_NUMBER>-1334 on 684-9000.", False),  # inside a longer run
    (("digits", "334"), "", False),
    (("word", "PeterFriedman"), "mail PeterFriedman@<DOMAIN_NAME>", True),
    (("word", "PeterFriedman"), "mail PeterFriedmann@x.de", False),
])
def test_survives(part, output, expected):
    assert survives(part, ORIG, output, GOLD) is expected


def test_survives_counts_only_occurrences_outside_every_gold_span():
    # both "Judy"s are labelled: no occurrence is the template's, so any Judy in the output survives
    orig = "Judy wrote to Judy."
    gold = [(0, 4, "PERSON"), (14, 18, "PERSON")]
    assert survives(("word", "Judy"), orig, "<PERSON> wrote to Judy.", gold)
    assert not survives(("word", "Judy"), orig, "<PERSON> wrote to <PERSON>.", gold)
    # unlabelled, the same text may keep both
    assert not survives(("word", "Judy"), orig, orig, [])


def _rec(text: str, *labels: tuple[str, str]) -> tuple[str, list]:
    spans = []
    for entity, value in labels:
        start = text.index(value)
        spans.append((start, start + len(value), entity, value))
    return text, spans


# (record, output, entity, caught)
CASES = [
    (_rec("Please call Judy Smith at home.", ("PERSON", "Judy Smith")),
     "Please call <PERSON> at home.", "PERSON", True),
    (_rec("Please call Judy Smith at home.", ("PERSON", "Judy Smith")),  # half-caught name
     "Please call <PERSON> Smith at home.", "PERSON", False),
    (_rec("Smith & Sons asked Anna Smith to call.", ("PERSON", "Anna Smith")),  # template word
     "Smith & Sons asked <PERSON> to call.", "PERSON", True),
    (_rec("Smith & Sons asked Anna Smith to call.", ("PERSON", "Anna Smith")),
     "Smith & Sons asked Anna <PERSON> to call.", "PERSON", False),
    (_rec("Phone (88) 684-334 now", ("PHONE_NUMBER", "(88) 684-334")),  # the last group survives
     "Phone <PHONE_NUMBER>-334 now", "PHONE_NUMBER", False),
    (_rec("Phone (88) 684-334 now", ("PHONE_NUMBER", "(88) 684-334")),  # "(88)" is not significant
     "Phone (88) <PHONE_NUMBER> now", "PHONE_NUMBER", True),
    (_rec("Mail PeterFriedman@cuvox.de today", ("EMAIL_ADDRESS", "PeterFriedman@cuvox.de")),
     "Mail <EMAIL_ADDRESS> today", "EMAIL_ADDRESS", True),
    (_rec("Mail PeterFriedman@cuvox.de today", ("EMAIL_ADDRESS", "PeterFriedman@cuvox.de")),
     "Mail PeterFriedman@<DOMAIN_NAME> today", "EMAIL_ADDRESS", False),
    (_rec("Lives at 12 Baker Street, London.", ("ADDRESS", "12 Baker Street")),  # generic word left
     "Lives at <ADDRESS> Street, London.", "ADDRESS", True),
    (_rec("Lives at 12 Baker Street, London.", ("ADDRESS", "12 Baker Street")),  # house number left
     "Lives at 12 <ADDRESS>, London.", "ADDRESS", False),
    (_rec("SSN 308-63-0237.", ("US_SSN", "308-63-0237")), "SSN <US_SSN>.", "US_SSN", True),
    (_rec("SSN 308-63-0237.", ("US_SSN", "308-63-0237")), "SSN XXX-63-0237.", "US_SSN", False),
    (_rec("IP d80:e4b5::c319 seen", ("IP_ADDRESS", "d80:e4b5::c319")), "IP <IP_ADDRESS>::C319 seen",
     "IP_ADDRESS", False),
]


@pytest.mark.parametrize("record, output, entity, caught", CASES)
def test_score_outputs_one_value(record, output, entity, caught):
    got = score_outputs([record], [output], [entity])
    assert got[entity] == {"support": 1, "caught": int(caught), "recall": float(caught), "unscored": 0}
    assert got["_overall"] == got[entity]


def test_score_outputs_per_type_and_overall():
    records = [c[0] for c in CASES]
    outputs = [c[1] for c in CASES]
    records.append(_rec("Dear Mr. Jones, from Paris", ("PERSON", "Mr."), ("LOCATION", "Paris")))
    outputs.append("Dear Mr. <PERSON>, from <LOCATION>")
    got = score_outputs(records, outputs, ["PERSON", "PHONE_NUMBER", "US_DRIVER_LICENSE"])
    assert got["PERSON"] == {"support": 4, "caught": 2, "recall": 0.5, "unscored": 1}
    assert got["PHONE_NUMBER"] == {"support": 2, "caught": 1, "recall": 0.5, "unscored": 0}
    assert got["US_DRIVER_LICENSE"] == {"support": 0, "caught": 0, "recall": None, "unscored": 0}
    assert got["_overall"] == {"support": 6, "caught": 3, "recall": 0.5, "unscored": 1}
    assert set(got) == {"PERSON", "PHONE_NUMBER", "US_DRIVER_LICENSE", "_overall"}
    # context: the location was destroyed (caught = lost)
    assert score_outputs(records, outputs, ["LOCATION"])["LOCATION"]["caught"] == 1


def test_score_outputs_missing_output_is_empty_and_lengths_must_match():
    rec = _rec("Call Judy", ("PERSON", "Judy"))
    assert score_outputs([rec], [None], ["PERSON"])["PERSON"]["caught"] == 1
    with pytest.raises(ValueError):
        score_outputs([rec], [], ["PERSON"])


def test_surviving_parts_names_what_is_left():
    text, spans = _rec("Lives at 12 Baker Street, London.", ("ADDRESS", "12 Baker Street"))
    left = surviving_parts("ADDRESS", "12 Baker Street", text, "Lives at 12 <PERSON> Street, London.", spans)
    assert left == D("12")


@pytest.mark.parametrize("docs, expected", [
    ([[(0, 4, "PERSON"), (5, 9, "PERSON")], [(0, 3, "LOCATION")], []],
     {"PERSON": {"count": 2, "per_10_docs": 6.6667}, "LOCATION": {"count": 1, "per_10_docs": 3.3333},
      "_total": {"count": 3, "per_10_docs": 10.0}}),
    ([[]] * 20 + [[(1, 2, "UK_POSTCODE")]] * 2,
     {"UK_POSTCODE": {"count": 2, "per_10_docs": 0.9091}, "_total": {"count": 2, "per_10_docs": 0.9091}}),
    ([], {"_total": {"count": 0, "per_10_docs": 0.0}}),
])
def test_count_replacements(docs, expected):
    got = count_replacements(docs)
    assert got == expected
    assert list(got) == list(expected)  # most frequent first, total last
