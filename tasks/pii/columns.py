"""Which columns of a dataset are scrubbed, which are only scanned, and their evidence, column by column.

Every string column that reaches a dataset is personal data until declared otherwise: ``text``, a causal
LM's target (``label``, or a ``response`` column) and every kept extra column (``data.keep_columns``) are
scrubbed by the same engine, in the same window and with the same subject index as the text. Two kinds of
column are not rewritten but checked by the independent residual scan instead, and fail the residual gate
like text would: a classification ``label`` (a class name, checked against ``quality.labels``) and a column
declared in ``data.non_personal_columns``. The residual scan sees structured identifiers (e-mail, phone
numbers with a country code, postcodes, national ids, card numbers, IBANs, long digit runs, IP addresses),
not names: declaring a column non-personal is the operator's statement that it holds no names. The ``id``
column is the join key: neither rewritten nor scanned (use ids that are not personal data).
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Literal

import pyarrow as pa
from pydantic import BaseModel, ConfigDict

from tasks.config import DataConfig, QualityConfig, TrainConfig
from tasks.errors import ConfigError, PersonalDataInColumn
from tasks.pii.residual import KINDS, find

if TYPE_CHECKING:
    from tasks.pii.gate import ScrubVerdict
    from tasks.pii.stream import ScrubStats

TEXT = "text"
NOT_SCANNED = ("id",)  # the join key (see the module docstring)


def label_is_free_text(train: TrainConfig, quality: QualityConfig) -> bool:
    """The label is free text: a causal LM's target (``train.task``) with no declared class set
    (``quality.labels``). Then no per-label count, stratum or class metric is kept (they would be named by it)."""
    return train.task == "causal_lm" and not quality.labels


class ScrubColumns(BaseModel):
    """How a run treats the columns beside ``text``: ``label`` is a class name or free text (the causal-LM
    target), and which columns the config declares non-personal."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    label: Literal["class", "text"] = "class"
    non_personal: list[str] = []

    @classmethod
    def of(cls, train: TrainConfig, data: DataConfig) -> ScrubColumns:
        """The label is free text when ``train.task`` is ``causal_lm``; ``data.non_personal_columns``."""
        return cls(label="text" if train.task == "causal_lm" else "class", non_personal=list(data.non_personal_columns))

    def plan(self, schema: pa.Schema, label_is_text: bool = False) -> tuple[list[str], list[str]]:
        """(columns scrubbed, ``text`` first; columns residual-scanned only), from a dataset's string columns.

        ``label_is_text``: the dataset itself says its label is free text (``DatasetRef.label_is_text``); the
        label is then scrubbed whatever ``self.label`` says."""
        free_label = self.label == "text" or label_is_text
        always = {TEXT: "the document text"}
        if free_label:
            always |= {"label": "the causal-LM training target", "response": "the causal-LM training target"}
        for name in self.non_personal:
            if name in always:
                raise ConfigError(f"data.non_personal_columns: '{name}' is {always[name]}, which is always "
                                  "scrubbed; remove it from the list.")
        strings = [f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
                   or pa.types.is_null(f.type)]
        scrub, scan = [TEXT], []
        for name in strings:
            if name == TEXT or name in NOT_SCANNED:
                continue
            if name in self.non_personal or (name == "label" and not free_label):
                scan.append(name)
            else:
                scrub.append(name)
        return scrub, scan


def scan_values(stats: ScrubStats, ids: list[str], values: list, keep) -> None:
    """Residual-scan one window of a scan-only column into its stats; each distinct value is scanned once
    (a class label has a handful of values per window)."""
    seen: dict[str, list] = {}
    for doc_id, v in zip(ids, values):
        stats.docs += 1
        if not isinstance(v, str) or not v:
            continue
        hits = seen.get(v)
        if hits is None:
            hits = seen[v] = find(v, keep)
        for kind, a, b in hits:
            stats.residual[kind] += 1
            if len(stats.residual_at) < 100:
                stats.residual_at.append((doc_id, kind, a, b))


def add_scrubbed(stats: ScrubStats, doc_id: str, out, spans: list, ops: dict, keep,
                 touched: bool | None = None) -> None:
    """One scrubbed value into a column's stats (``touched``: the document's, when more than this value counts)."""
    stats.docs += 1
    stats.docs_touched += bool(spans) if touched is None else touched
    stats.by_entity.update(t for _, _, t in spans)
    stats.by_operator.update(ops)
    if out:
        for kind, a, b in find(out, keep):
            stats.residual[kind] += 1
            if len(stats.residual_at) < 100:
                stats.residual_at.append((doc_id, kind, a, b))


def more_columns(stats: ScrubStats, column: str, also: list[str], keep, more: list, r: int, doc_id: str,
                 spans: list, subjects: list, line: dict) -> tuple[bool, list]:
    """Row ``r`` of the scrubbed columns beside ``column`` (``more``: their engine results, in ``also``'s
    order) into their stats and the row's spans ``line``; (row touched, the row's subjects in all columns)."""
    stats.columns[column].docs_touched += bool(spans)
    touched, subs, cols = bool(spans), set(subjects), {}
    for c, part in zip(also, more):
        out, sp, ops, sub = part[r]
        add_scrubbed(stats.columns[c], doc_id, out, sp, ops, keep)
        touched |= bool(sp)
        subs.update(sub)
        cols[c] = [{"start": s, "end": e, "type": t} for s, e, t in sp]
    line["columns"] = cols
    return touched, sorted(subs)


def fold_columns(stats: ScrubStats, column: str, text_touched_counted: bool) -> None:
    """The text's own counts (the top level so far) become its column's; then the top level sums them all."""
    text = stats.columns[column]
    text.docs, text.by_entity, text.by_operator = stats.docs, Counter(stats.by_entity), Counter(stats.by_operator)
    text.residual, text.residual_at = Counter(stats.residual), list(stats.residual_at)
    if not text_touched_counted:
        text.docs_touched = stats.docs_touched
    for name, cs in stats.columns.items():
        if cs is text:
            continue
        stats.by_entity.update(cs.by_entity)
        stats.by_operator.update(cs.by_operator)
        stats.residual.update(cs.residual)
        stats.residual_at += [(d, k, a, b, name) for d, k, a, b in cs.residual_at]
    stats.residual_at = stats.residual_at[:100]


def gate_error(stats: ScrubStats, verdict: ScrubVerdict) -> Exception:
    """The residual gate's error (``tasks/pii/gate.py`` decided it): a named one when a scanned column (never
    rewritten: a class ``label`` or a column declared non-personal) holds identifiers, else PiiGateFailed's."""
    from tasks.errors import PiiGateFailed

    max_rate = verdict.max_residual_rate
    if verdict.check != "personal_column":
        return PiiGateFailed(stats.gate_message(max_rate))
    parts = []
    for name, cs in ((c, stats.columns[c]) for c in verdict.columns):
        kinds = ", ".join(f"{v} {KINDS.get(k, k)}" for k, v in sorted(cs.residual.items()))
        why = "a class label, not rewritten" if name == "label" else "declared in data.non_personal_columns"
        first = "; ".join(f"document {d!r}" for d, *_ in cs.residual_at[:3])
        parts.append(f"column '{name}' ({why}) holds {kinds} (first: {first})")
    return PersonalDataInColumn(
        f"{'; '.join(parts)}, over pii.residual_max_rate {max_rate}. A column that holds personal data is "
        "scrubbed unless declared non-personal: remove it from data.non_personal_columns (a label: fix the "
        "data, or train a causal LM whose target is scrubbed), or drop it from data.keep_columns; then rerun.")


def column_evidence(stats: ScrubStats, scan_only: list[str], estimates: dict[str, dict]) -> dict[str, dict]:
    """The per-column block of pii_evidence.json (counts and positions, no values)."""
    out = {}
    for name, cs in stats.columns.items():
        out[name] = {"treatment": "residual_scan" if name in scan_only else "scrubbed", "docs": cs.docs,
                     "docs_touched": cs.docs_touched, "counts_by_entity": dict(sorted(cs.by_entity.items())),
                     "counts_by_operator": dict(sorted(cs.by_operator.items())),
                     "residual_count": cs.residual_count, "residual_rate": round(cs.residual_rate, 6),
                     "residual_by_type": dict(sorted(cs.residual.items())),
                     "residual_at": [{"id": d, "kind": k, "start": a, "end": b} for d, k, a, b, *_ in cs.residual_at],
                     "estimated_recall": estimates.get(name, {})}
    return out


def pooled(estimates: dict[str, dict]) -> dict[str, dict]:
    """Per-column recall estimates pooled into one (inserted and caught summed per type)."""
    if len(estimates) <= 1:
        return next(iter(estimates.values()), {})
    inserted, caught = Counter(), Counter()
    for est in estimates.values():
        for e, m in est.items():
            inserted[e] += m["inserted"]
            caught[e] += m["caught"]
    return {e: {"inserted": n, "caught": caught[e], "recall": round(caught[e] / n, 4) if n else 0.0}
            for e, n in sorted(inserted.items())}
