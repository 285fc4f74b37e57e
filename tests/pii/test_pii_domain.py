"""Domain language kept by design (tasks/pii/domain.py) and lab codes that are not vehicle registrations."""

import pytest

from tasks.pii.domain import domain_terms
from tasks.pii.recognizers.vehicle_registration import TgVehicleRegistrationRecognizer


def _kept(text: str, domain: str) -> list[str]:
    return [text[a:b] for a, b in domain_terms(text, domain)]


@pytest.mark.parametrize("text, domain, term", [
    # eponym + a noun only a medical term takes: every domain
    ("The claimant has Crohn's disease.", "general", "Crohn"),
    ("Libman-Sacks endocarditis was found.", "general", "Libman-Sacks"),
    ("Shwachman-Diamond syndrome is rare.", "general", "Shwachman-Diamond"),
    ("Graves' disease was treated.", "general", "Graves"),
    ("Raynaud’s phenomenon was present.", "general", "Raynaud"),
    ("Reinke's oedema of the vocal folds", "general", "Reinke"),
    ("history of Hodgkin's lymphoma", "general", "Hodgkin"),
    ("Guillain-Barré syndrome followed", "general", "Guillain-Barré"),
    # health: weak nouns, drug stems, the listed terms
    ("classified by Rai stage III", "health", "Rai"),
    ("The Apgar score was 9", "health", "Apgar"),
    ("A Holter monitor showed", "health", "Holter"),
    ("The Bankart lesion was repaired", "health", "Bankart"),
    ("Colles' fracture of the radius", "health", "Colles"),
    ("Trastuzumab improves survival", "health", "Trastuzumab"),
    ("Imatinib induced responses", "health", "Imatinib"),
    ("Ondansetron 8 mg was given", "health", "Ondansetron"),
    ("Ramipril was started", "health", "Ramipril"),
    ("Bisoprolol was titrated", "health", "Bisoprolol"),
    ("Aciclovir was given", "health", "Aciclovir"),
    ("Adriamycin-based regimens", "health", "Adriamycin"),
    ("Duplex Doppler ultrasonography", "health", "Duplex Doppler"),
    ("The policyholder reports worsening Parkinson's and stopped driving.", "health", "Parkinson"),
    ("recruited at Memorial Sloan-Kettering Cancer Center", "health", "Sloan-Kettering"),
    # finance: firms named like people, legal documents
    ("When I called Mr. Cooper to ask", "finance", "Mr. Cooper"),
    ("only my Bill of Sale showed it", "finance", "Bill of Sale"),
])
def test_domain_term_is_kept(text, domain, term):
    assert term in _kept(text, domain)


@pytest.mark.parametrize("text, domain", [
    # real people that look like eponyms: a title, a given name before the term
    ("Mr Parkinson called about the claim.", "health"),
    ("Mr Parkinson's disease has progressed.", "general"),
    ("Dr. Crohn's disease clinic", "general"),
    ("Mary Addison's disease was diagnosed.", "general"),
    ("Mary's test came back fine.", "health"),
    ("Parkinson called about the claim.", "health"),   # a listed eponym that is a surname: possessive only
    ("Jones's fracture is healing.", "health"),         # a patient's, not an eponym
    ("Kowalski's test results arrived.", "health"),
    # the weaker rules belong to their domain
    ("classified by Rai stage III", "general"),
    ("Trastuzumab improves survival", "general"),
    ("When I called Mr. Cooper to ask", "health"),
    ("Mr. Cooper called about his claim", "general"),
    # words that end like a drug but are names or common words
    ("Justin Bieber wrote", "health"),
    ("Caroline phoned", "health"),
    ("Mr Jacobson's test results", "health"),
])
def test_person_is_not_a_domain_term(text, domain):
    assert domain_terms(text, domain) == []


def _vehicle_scores(text: str) -> list[float]:
    r = TgVehicleRegistrationRecognizer()
    return [x.score for x in r.analyze(text, ["UK_VEHICLE_REGISTRATION"], None)]


@pytest.mark.parametrize("text, strong", [
    ("reg AB12 CDE", True),
    ("plate BD51 SMR", True),
    ("the car (ab12cde)", True),         # all in lower case, as typed in a hurry: strong without the vehicle word
    ("eVhicle xh76 uvw written off", True),  # the sample corpus's typo'd context word: no context needed
    ("the car (Ab12cde)", False),        # mixed case: found only with its context word (engine table)
])
def test_vehicle_registration_shape(text, strong):
    scores = _vehicle_scores(text)
    assert scores and (max(scores) >= 0.5) == strong


@pytest.mark.parametrize("text", [
    "the blasts were CD45 dim and CD34 positive",   # 45: no such age identifier
    "Expression of PD35 was reduced",               # 35: not issued
    "Cells were stained for CD3, CD4, CD8 and CD19 and analysed",
    "the gp63 surface protease",
    "Loss of heterozygosity at 18q",
])
def test_lab_code_is_not_a_vehicle_registration(text):
    assert all(s < 0.4 for s in _vehicle_scores(text))


@pytest.mark.parametrize("field, value", [("domain", "health"), ("domain", "general")])
def test_a_run_cannot_change_the_pinned_domain(field, value):
    # Keeping more domain terms loosens scrubbing (and another domain keeps other terms): a deployment's run
    # must use the pinned value, whichever way it differs.
    from tasks.config import PipelineConfig
    from tasks.governance.pinning import loosened

    pinned = PipelineConfig.model_validate({"pii": {"domain": "finance"}})
    run = pinned.model_copy(update={"pii": pinned.pii.model_copy(update={field: value})})
    assert "pii.domain: changed" in loosened(pinned, run)



class _Doc:
    ents: tuple = ()


@pytest.mark.parametrize("text, seen, kept", [
    ("The policyholder's Parkinson's has worsened.", 2, True),   # the corpus calls it a disease
    ("The policyholder's Parkinson's has worsened.", 1, False),  # once is not the corpus's sense
    ("Mr Parkinson's car was hit.", 2, False),                   # a title: a person
    ("James Parkinson's car was hit.", 2, False),                # a given name: a person
    ("Parkinson called about the claim.", 2, False),             # not possessive: may be a person
])
def test_one_sense_per_corpus_for_eponyms(text, seen, kept):
    from tasks.pii.corpus import CorpusLabels
    from tasks.pii.ops import Span

    corpus = CorpusLabels()
    for _ in range(seen):
        note = "Parkinson's disease was diagnosed in 2019."
        corpus.observe(_Doc(), note, domain_terms(note, "general"))
    start = text.index("Parkinson")
    span = Span(start, start + len("Parkinson"), "PERSON", 0.85)
    assert (corpus.drop_organisations(text, [span]) == []) == kept
