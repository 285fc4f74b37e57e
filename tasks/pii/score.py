"""Scoring a scrub against ground truth, and the evidence record of a scrub.

A gold span counts as caught when detected spans (of any type: what matters is that the value is gone)
cover at least 80% of its characters. A detected span is correct when it overlaps any gold PII span;
its type is the one it is reported under. A keep-list term is lost when any detected span touches it.

``score_outputs`` scores the output text instead, for any tool: a value is caught only when none of its
significant parts (``significant_parts``) survives in what the scrubber wrote.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from tasks.errors import InputError

COVER = 0.8
STRUCTURED_EXCLUDE = {"PERSON", "STREET_ADDRESS"}


class PiiEvidence(BaseModel):
    """What a scrub did, in counts only: no raw values."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    docs: int
    docs_touched: int
    counts_by_entity: dict[str, int]
    counts_by_operator: dict[str, int]
    residual_count: int
    residual_rate: float
    residual_by_type: dict[str, int]
    metrics_by_entity: dict[str, dict[str, float]] = {}
    domain_terms_lost: float | None = None  # share of gold keep-list spans touched; None without gold
    # Where the residual scan found identifiers: document id, kind, offsets in the scrubbed text (no values).
    residual_at: list[dict] = []
    # Recall estimated on this run's own documents with inserted synthetic identifiers (tasks/pii/estimate.py).
    estimated_recall: dict[str, dict] = {}
    # Per column (tasks/pii/columns.py): treatment ("scrubbed" or "residual_scan"), counts, residual scan and
    # recall estimate of each. The fields above are over every column (estimated_recall pooled), except
    # metrics_by_entity and domain_terms_lost, which score the text against its ground truth.
    columns: dict[str, dict] = {}
    # Forms replaced in at least pii.review_min_docs documents: type, document count and keyed hash, never the
    # form (tasks/pii/review.py; `tunegate scrub --review` shows the forms to the operator).
    review: list[dict] = []
    passed: bool


def _covered(gs: int, ge: int, pred: list[tuple[int, int, str]]) -> float:
    hit = sum(max(0, min(ge, e) - max(gs, s)) for s, e, _ in pred)
    return hit / max(1, ge - gs)


def f2(precision: float, recall: float) -> float:
    return 0.0 if precision + recall == 0 else 5 * precision * recall / (4 * precision + recall)


def score(gold: dict[str, dict], pred: dict[str, list[tuple[int, int, str]]]) -> tuple[dict, float | None]:
    """Per-entity {recall, precision, f2, support} plus summary rows, and the domain-terms-lost share.

    Only documents present in both are scored. Detected spans do not overlap each other (merged).
    """
    found, support, tp, npred = (defaultdict(int) for _ in range(4))
    keep_total = keep_lost = 0
    for doc_id, g in gold.items():
        if doc_id not in pred:
            continue
        p = pred[doc_id]
        for span in g.get("pii", []):
            support[span["type"]] += 1
            if _covered(span["start"], span["end"], p) >= COVER:
                found[span["type"]] += 1
        for s, e, t in p:
            npred[t] += 1
            if any(s < x["end"] and x["start"] < e for x in g.get("pii", [])):
                tp[t] += 1
        for k in g.get("keep", []):
            keep_total += 1
            keep_lost += any(s < k["end"] and k["start"] < e for s, e, _ in p)
    metrics = {}
    for t in sorted(set(support) | set(npred)):
        r = found[t] / support[t] if support[t] else 0.0
        pr = tp[t] / npred[t] if npred[t] else 0.0
        metrics[t] = {"recall": round(r, 4), "precision": round(pr, 4), "f2": round(f2(pr, r), 4),
                      "support": support[t], "detected": npred[t]}
    for name, members in (("_structured", [t for t in support if t not in STRUCTURED_EXCLUDE]),
                          ("_names_addresses", [t for t in support if t in STRUCTURED_EXCLUDE])):
        sup = sum(support[t] for t in members)
        if sup:
            r = sum(found[t] for t in members) / sup
            npr = sum(npred[t] for t in members)
            pr = sum(tp[t] for t in members) / npr if npr else 0.0
            metrics[name] = {"recall": round(r, 4), "precision": round(pr, 4), "f2": round(f2(pr, r), 4),
                             "support": sup, "detected": npr}
    return metrics, (keep_lost / keep_total if keep_total else None)


def read_jsonl_by_id(path: Path, what: str) -> dict[str, dict]:
    """A JSON-lines file keyed by its ``id`` field; InputError names the line that is wrong."""
    out = {}
    try:
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                    out[str(rec["id"])] = rec
                except (json.JSONDecodeError, KeyError, TypeError):
                    raise InputError(f"{path}:{n}: not a {what} line (JSON object with an 'id'); "
                                     "fix or remove it.") from None
    except (FileNotFoundError, IsADirectoryError):
        raise InputError(f"{path}: {what} file not found; check the path.") from None
    return out


def spans_from_file(path: Path) -> dict[str, list[tuple[int, int, str]]]:
    """Detected spans written by ``tunegate scrub`` (``OUT.spans.jsonl``)."""
    return {k: [(s["start"], s["end"], s["type"]) for s in v.get("spans", [])]
            for k, v in read_jsonl_by_id(path, "detected-spans").items()}


def format_table(metrics: dict[str, dict[str, float]], keep_lost: float | None) -> str:
    """Recall is blank for types with no gold spans, precision for types never detected."""
    rows = [f"{'entity':<26}{'recall':>8}{'precision':>11}{'F2':>8}{'support':>9}{'detected':>10}"]
    for t, m in metrics.items():
        r = f"{m['recall']:>8.3f}" if m["support"] else f"{'-':>8}"
        p = f"{m['precision']:>11.3f}" if m["detected"] else f"{'-':>11}"
        f = f"{m['f2']:>8.3f}" if m["support"] and m["detected"] else f"{'-':>8}"
        rows.append(f"{t:<26}{r}{p}{f}{m['support']:>9}{m['detected']:>10}")
    if keep_lost is not None:
        rows.append(f"domain terms lost: {keep_lost:.2%}")
    return "\n".join(rows)


# --- Scoring by what survives in the output text -------------------------------------------------------
# A value counts as caught only when none of its significant parts survives in the output: each word of
# 3+ letters of a name or address (generic street words aside), the digit run of a number. Unlike
# ``score`` this needs no detected spans, only the text each scrubber wrote, so any tool can be scored
# the same way (and a detection that leaves part of a value behind does not count as a catch).

Part = tuple[str, str]  # ("word", text) or ("digits", text)

# Generic address words: a street word left in the output identifies nobody, so it is not a significant
# part of an address. English street types and unit words (and their abbreviations), then the non-English
# street words of the external benchmark's addresses. One list; compared case-insensitively (casefold).
GENERIC_ADDRESS_WORDS = frozenset({
    "street", "st", "road", "rd", "avenue", "ave", "lane", "ln", "drive", "dr", "court", "ct",
    "boulevard", "blvd", "way", "place", "pl", "suite", "ste", "apt", "apartment", "unit", "flat",
    "floor", "box", "p.o", "po",
    "rue", "via", "rua", "calle", "strasse", "straße", "ul", "avenida", "estrada",
    # the words that join a described location ("the corner of A and B Street"): they name no place
    "the", "and", "corner", "junction", "intersection",
})
# URL furniture: not what identifies a domain.
GENERIC_URL_WORDS = frozenset({"http", "https", "www", "com", "org", "net"})

ADDRESS_TYPES = frozenset({"ADDRESS", "STREET_ADDRESS"})
# Values made of words: names, and the context types a scrubber should leave alone.
WORD_TYPES = frozenset({"PERSON", "LOCATION", "ORGANIZATION", "TITLE", "PREFIX", "NRP", "GPE"})
URL_TYPES = frozenset({"DOMAIN_NAME", "URL"})

_WORD = re.compile(r"[^\W\d_]{3,}")
_DIGIT_RUN = re.compile(r"\d+")
_HEX_GROUP = re.compile(r"[0-9A-Fa-f]+")


def _unique(parts: list[Part]) -> list[Part]:
    seen, out = set(), []
    for kind, text in parts:
        k = (kind, text.casefold())
        if k not in seen:
            seen.add(k)
            out.append((kind, text))
    return out


def significant_parts(entity: str, value: str) -> list[Part]:
    """The parts of a value that must all be gone from the output for the value to count as caught.

    PERSON and other word-valued types: each run of 3+ letters (any script). ADDRESS / STREET_ADDRESS: the
    same minus ``GENERIC_ADDRESS_WORDS``, plus each run of 2+ digits. EMAIL_ADDRESS: the local part as one
    word. IPv6 addresses: their hex groups. Every other type (numbers): each digit run of 3+ digits, or
    all digit runs when none has 3; a value with no digit at all falls back to its 3+ letter words.
    An empty list means the value has nothing identifying in it (a PERSON labelled on "Mr."): not scored.
    """
    if entity in ADDRESS_TYPES:
        words = [("word", w) for w in _WORD.findall(value) if w.casefold() not in GENERIC_ADDRESS_WORDS]
        return _unique(words + [("digits", d) for d in _DIGIT_RUN.findall(value) if len(d) >= 2])
    if entity in WORD_TYPES:
        return _unique([("word", w) for w in _WORD.findall(value)])
    if entity in URL_TYPES:
        return _unique([("word", w) for w in _WORD.findall(value) if w.casefold() not in GENERIC_URL_WORDS])
    if entity == "EMAIL_ADDRESS":
        local = value.split("@", 1)[0].strip() if "@" in value else value.strip()
        return [("word", local)] if local else []
    if entity == "IP_ADDRESS" and ":" in value:
        return _unique([("word", g) for g in _HEX_GROUP.findall(value)])
    runs = _DIGIT_RUN.findall(value)
    if not runs:
        return _unique([("word", w) for w in _WORD.findall(value)])
    long = [d for d in runs if len(d) >= 3]
    return _unique([("digits", d) for d in (long or runs)])


def _part_pattern(part: Part) -> re.Pattern:
    """Whole occurrences only: a digit run not inside a longer run, a word not inside a longer word."""
    kind, text = part
    if kind == "digits":
        edge, flags = r"\d", 0
    elif all(c.isalpha() for c in text):
        edge, flags = r"[^\W\d_]", re.IGNORECASE
    else:  # email local parts, hex groups: bounded by letters and digits
        edge, flags = r"[^\W_]", re.IGNORECASE
    return re.compile(rf"(?<!{edge}){re.escape(text)}(?!{edge})", flags)


def survives(part: Part, original_text: str, output_text: str, gold_spans) -> bool:
    """True when ``part`` occurs in the output more often than in the original outside every gold span.

    ``gold_spans``: (start, end, ...) of all labelled values of the original. A word the template itself
    uses outside the spans (the name "Judy" in "Judy's account" that is not labelled) may stay as often
    as it occurs there.
    """
    pat = _part_pattern(part)
    in_output = sum(1 for _ in pat.finditer(output_text or ""))
    if not in_output:
        return False
    outside = sum(1 for m in pat.finditer(original_text)
                  if not any(m.start() < g[1] and g[0] < m.end() for g in gold_spans))
    return in_output > outside


def surviving_parts(entity: str, value: str, original_text: str, output_text: str, gold_spans) -> list[Part]:
    """The significant parts of ``value`` that survive in ``output_text`` (empty: caught)."""
    return [p for p in significant_parts(entity, value) if survives(p, original_text, output_text, gold_spans)]


GoldRecord = tuple[str, list[tuple[int, int, str, str]]]  # (original text, [(start, end, entity, value)])


def score_outputs(records: list[GoldRecord], outputs: list[str | None], types) -> dict[str, dict]:
    """Per entity type in ``types``: support (values with a significant part), caught (none survives),
    recall, unscored (values with no significant part); and an "_overall" row over ``types``.

    For a direct identifier, caught is what the scrubber should achieve; for a context type (a city, an
    organisation) caught means destroyed: over-scrubbing.
    """
    if len(records) != len(outputs):
        raise ValueError(f"{len(records)} records but {len(outputs)} outputs")
    types = list(dict.fromkeys(types))
    support, caught, unscored = Counter(), Counter(), Counter()
    for (text, spans), out in zip(records, outputs):
        for _s, _e, entity, value in spans:
            if entity not in types:
                continue
            parts = significant_parts(entity, value)
            if not parts:
                unscored[entity] += 1
                continue
            support[entity] += 1
            caught[entity] += not any(survives(p, text, out or "", spans) for p in parts)

    def row(sup: int, got: int, uns: int) -> dict:
        return {"support": sup, "caught": got, "recall": round(got / sup, 4) if sup else None, "unscored": uns}

    result = {t: row(support[t], caught[t], unscored[t]) for t in types}
    result["_overall"] = row(sum(support.values()), sum(caught.values()), sum(unscored.values()))
    return result


def count_replacements(doc_spans: list[list[tuple]]) -> dict[str, dict]:
    """Replacements per entity type over documents (one list of (start, end, type, ...) spans each):
    {type: {count, per_10_docs}} most frequent first, plus "_total"."""
    n = len(doc_spans)
    counts = Counter(s[2] for spans in doc_spans for s in spans)

    def row(c: int) -> dict:
        return {"count": c, "per_10_docs": round(10 * c / n, 4) if n else 0.0}

    out = {t: row(c) for t, c in counts.most_common()}
    out["_total"] = row(sum(counts.values()))
    return out
