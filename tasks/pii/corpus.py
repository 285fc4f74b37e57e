"""One sense per corpus: a short name the documents mostly call something else is not a person.

``CorpusLabels`` counts, over the documents read together, how often the model labels each short
capitalised form a person, something else (an organisation, place, product...) or puts it before an
organisation word, and drops the PERSON spans the corpus calls organisations. Per-document decisions
are in ``tasks.pii.names``; this is the judgement across documents that follows them.
"""

from __future__ import annotations

import re

from tasks.pii.domain import person_before
from tasks.pii.name_lists import COMMON_NAME_ZIPF, name_lists
from tasks.pii.names import _WORD, ORG_WORDS, name_shaped, zipf

# Labels for things that are not people: a word the model mostly gives these is not a name.
OTHER_LABELS = frozenset({"ORG", "NORP", "PRODUCT", "GPE", "FAC", "LOC", "WORK_OF_ART", "LAW", "EVENT"})
_ORG_AFTER = re.compile(rf"(?<![\w'’-])([^\W\d_a-z][^\W\d_]+)[ \t]+(?:&[ \t]*)?"
                        rf"(?i:{'|'.join(sorted(ORG_WORDS))})(?![\w-])")
_TITLE_BEFORE = re.compile(r"(?i)(?<![\w.])(?:mr|mrs|ms|mx|miss|dr)\.?[ \t]*$")


class CorpusLabels:
    """One sense per corpus: what the model called each short name in the documents read together.

    A small NER model reads the same word differently from sentence to sentence. Over a corpus of
    complaints it labels "Experian" a nationality, place or organisation 285 times and a person 10
    times, "Equifax" an organisation 310 times and a person 25, "Wells Fargo" an organisation 177 times
    and a person 10. A PERSON label (from the model or a cue) on a form of one to three capitalised words
    that the documents call something else at least 3 times and at least twice as often as a person,
    or put before an organisation word at least 3 times ("Ocwen Loan Servicing", "Quicken Loans": the
    model calls "Ocwen" a person 25 times in the same corpus), is taken as that thing.

    The documents read together are one call of ``Scrubber.detect``, or one window of a file
    (``READ_ROWS``) whose chunks were scrubbed in several processes: their counts are merged
    (``merge``) before any PERSON span is judged (``drop_organisations``), so a file gives the same
    output whatever the number of workers.

    Never overruled: a title before the form ("Mr Wells"); a given name that is not a common English
    word ("Amanda") unless the documents use it for something else more often than for a person
    ("Ally Financial", "Macy's"); two or three words that end in a known surname ("Eilidh Davies") or
    are a given name with a surname ("Christina Pena"): a corpus that names the same person often (a
    claims handler) may have the model misread that name often too.

    Memory is bounded: past ``limit`` distinct forms the counts start again.
    """

    def __init__(self, limit: int = 200_000):
        from collections import Counter

        self.limit = limit
        self.person: Counter[str] = Counter()
        self.other: Counter[str] = Counter()
        self.named_org: Counter[str] = Counter()  # times the word stood before an organisation word
        self.eponym: Counter[str] = Counter()  # times the word was the name in a domain term ("Crohn's disease")

    @staticmethod
    def _form(text: str) -> str | None:
        words = _WORD.findall(text)
        if 1 <= len(words) <= 3 and " ".join(words) == text and all(w[:1].isupper() for w in words):
            return text.casefold()
        return None

    def observe(self, doc, text: str, terms: list[tuple[int, int]] = ()) -> None:
        """Count one document's entities; ``terms``: its domain terms (``tasks.pii.domain.domain_terms``)."""
        if len(self.person) + len(self.other) + len(self.named_org) + len(self.eponym) > self.limit:
            for c in (self.person, self.other, self.named_org, self.eponym):
                c.clear()
        for a, b in terms:
            self.eponym[text[a:b].split()[-1].casefold()] += 1
        for e in doc.ents:
            form = self._form(e.text)
            if form is None:
                continue
            if e.label_ in ("PERSON", "PER"):
                self.person[form] += 1
            elif e.label_ in OTHER_LABELS:
                self.other[form] += 1
        for m in _ORG_AFTER.finditer(text):
            self.named_org[m.group(1).casefold()] += 1

    def organisation(self, text: str, start: int, end: int) -> bool:
        """The PERSON span text[start:end] is, by the corpus, not a person."""
        span = text[start:end]
        form = self._form(span)
        if form is None:
            return False
        other, person, named = self.other[form], self.person[form], self.named_org[form]
        if named < 3 and (other < 3 or other < 2 * person):
            return False
        words = form.split()
        given, family = name_lists()
        if (len(words) == 1 and words[0] in given and zipf(words[0]) < COMMON_NAME_ZIPF and other + named <= person) \
                or (len(words) > 1 and all(part in family for part in words[-1].split("-"))) \
                or name_shaped(_WORD.findall(span)):
            # "Amanda", read as a person at least as often as anything else; "Eilidh Davies", "Olivia
            # Hall-Jones": a name ending in known surnames. A given name the corpus uses for a firm more
            # often than for a person is the firm's ("Ally Financial", "Macy's").
            return False
        return not _TITLE_BEFORE.search(text, max(0, start - 8), start)

    def merge(self, other: "CorpusLabels") -> "CorpusLabels":
        """Add another part's counts (the chunks of one window, scrubbed in different processes)."""
        self.person.update(other.person)
        self.other.update(other.other)
        self.named_org.update(other.named_org)
        self.eponym.update(other.eponym)
        return self

    def eponym_alone(self, text: str, start: int, end: int) -> bool:
        """One sense per corpus for eponyms: a lone possessive ("Parkinson's has worsened") of a word the
        documents use at least twice in a domain term ("Parkinson's disease"), with no title or given name
        before it ("Mr Parkinson's car" stays a person). Only the possessive: "Parkinson called" may be one."""
        word = text[start:end]
        return " " not in word and self.eponym[word.casefold()] >= 2 \
            and re.match(r"['’]s?(?!\w)", text[end:end + 3]) is not None and not person_before(text, start)

    def drop_organisations(self, text: str, spans: list) -> list:
        """``spans`` (anything with start, end and entity) less the PERSON spans the corpus calls organisations
        or eponyms."""
        return [s for s in spans if s.entity != "PERSON" or not (
            self.organisation(text, s.start, s.end) or self.eponym_alone(text, s.start, s.end))]
