"""Scoring a scrub against ground truth, and the evidence record of a scrub.

A gold span counts as caught when detected spans (of any type: what matters is that the value is gone)
cover at least 80% of its characters. A detected span is correct when it overlaps any gold PII span;
its type is the one it is reported under. A keep-list term is lost when any detected span touches it.
"""

from __future__ import annotations

import json
from collections import defaultdict
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
                    raise InputError(f"{path}:{n}: not a {what} line (JSON object with an 'id'); fix or remove it.") from None
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
