"""Where tunegate leans on Presidio's internals, these tests pin the behaviour, so an upgrade fails loudly.

The scrubber composes Presidio's public parts (a ``RecognizerRegistry`` and an ``NlpEngine`` handed to
``AnalyzerEngine``), with one exception: ``_ContextEnhancer`` replaces the private
``_extract_surrounding_words`` of Presidio's lemma context enhancer (a bisection instead of a scan over
tokens) and calls its private ``_add_n_words_*`` helpers. The context words it finds must be exactly
Presidio's own.
"""

from __future__ import annotations

import inspect

import pytest
from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer

from tasks.config import PiiConfig
from tasks.pii.engine import Scrubber, _ContextEnhancer

TEXTS = [
    "Policyholder Mrs Eilidh Davies called about claim CLM-2231-77, phone 07700 900123.",
    "Email sent to jo.bloggs@example.com; sort code 20-00-00, account 55779911.",
    "NHS number 943 476 5919 noted by the handler on Monday.",
    "x",
]


@pytest.fixture(scope="module")
def scrubber():
    return Scrubber(PiiConfig(), None)


def test_the_private_helpers_the_enhancer_uses_still_exist():
    for name in ("_extract_surrounding_words", "_add_n_words_backward", "_add_n_words_forward"):
        assert callable(getattr(LemmaContextAwareEnhancer, name, None)), f"Presidio no longer has {name}"
    params = list(inspect.signature(LemmaContextAwareEnhancer._extract_surrounding_words).parameters)
    assert params == ["self", "nlp_artifacts", "word", "start"]


def test_context_words_are_presidios_own(scrubber):
    ours = _ContextEnhancer(context_prefix_count=6, context_suffix_count=2)
    theirs = LemmaContextAwareEnhancer(context_prefix_count=6, context_suffix_count=2)
    compared = 0
    for text in TEXTS:
        doc = scrubber.nlp(text)
        art = scrubber._artifacts(doc, text)
        for token in doc:
            got = ours._extract_surrounding_words(art, token.text, token.idx)
            want = LemmaContextAwareEnhancer._extract_surrounding_words(theirs, art, token.text, token.idx)
            assert sorted(got) == sorted(want), (text, token.idx)
            compared += 1
    assert compared > 30


def test_the_scrubber_uses_the_registry_it_is_given():
    """Composition: a registry of one recognizer scrubs that one type and nothing else."""
    from presidio_analyzer import RecognizerRegistry

    from tasks.pii.recognizers.email import TgEmailRecognizer

    registry = RecognizerRegistry(supported_languages=["en"])
    registry.add_recognizer(TgEmailRecognizer())
    only_email = Scrubber(PiiConfig(), None, registry=registry)
    (out,) = only_email.scrub_texts(["Jane Smith wrote from jane.smith@example.com, phone 07700 900123."])
    assert "jane.smith@example.com" not in out and "<EMAIL_ADDRESS>" in out
    assert "Jane Smith" in out and "07700 900123" in out


def test_the_scrubber_uses_the_nlp_pipeline_it_is_given(scrubber):
    """Composition: the spaCy pipeline is an argument too (here the one already loaded: no second load)."""
    shared = Scrubber(PiiConfig(), None, nlp=scrubber.nlp)
    assert shared.nlp is scrubber.nlp and shared.engine.nlp["en"] is scrubber.nlp
    assert shared.scrub_texts(["Call Margaret Thornbury on 07700 900123."]) == \
        scrubber.scrub_texts(["Call Margaret Thornbury on 07700 900123."])
