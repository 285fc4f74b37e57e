"""A synthetic UK insurance-claims corpus with the ground truth of every PII and keep span.

``generate(rows, seed, drift)`` returns records and gold; ``write_sample`` streams them to
.jsonl/.csv/.parquet plus the sidecar ``<out>.pii.jsonl``. One ``random.Random`` per call, so the
same seed gives the same corpus. Every personal datum comes from a slot, never from template text,
so the sidecar offsets are exact by construction. The words (vocabularies, note templates) are in
``sample_text`` and the slot values (identifiers with valid check digits) in ``sample_values``; this
module composes the notes and writes the files.
"""

from __future__ import annotations

import csv
import json
import os
import random
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from tasks.ingest.sample_text import (
    ABBR,
    ADMIN,
    CHANNELS,
    CLOSE,
    CROSS,
    DOMAINS,
    EXTRA,
    FILL,
    GENERIC,
    INCIDENT,
    MAKES,
    MONTHS,
    NEW_PRODUCT,
    OPEN,
    PERIL_PREFIX,
    PRODUCTS,
)
from tasks.ingest.sample_values import PII_SLOTS, _amount, _person

LABELS = ("motor", "escape_of_water", "fire", "theft", "travel", "liability", "storm", "personal_accident")
DRIFT_KINDS = ("none", "mix", "product", "length")
WEIGHTS = {"none": (22, 17, 8, 12, 12, 8, 12, 9), "mix": (6, 24, 6, 8, 4, 6, 38, 8)}
KEEP_SLOTS = {"product": "PRODUCT", "peril": "PERIL_CODE", "make": "VEHICLE_MAKE", "amount": "AMOUNT",
              "amount2": "AMOUNT"}
STICKY = {"channel", "name", "phone", "postcode", "policy", "claim", "cust", "reg", "product", "peril", "make", "email"}

_SLOT = re.compile(r"\{(\w+)\}")
_PARSED: dict[str, list[str]] = {}


def _parse(template: str) -> list[str]:
    """Alternating literal, slot, literal, ... (cached)."""
    if (p := _PARSED.get(template)) is None:
        p = _PARSED[template] = _SLOT.split(template)
    return p


def _typo(rng: random.Random, s: str) -> str:
    words = s.split(" ")
    i = rng.randrange(len(words))
    w = words[i]
    if len(w) > 4 and w.isalpha():
        j = rng.randrange(len(w) - 1)
        words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2:]
    return " ".join(words)


class _Doc:
    """Appends literals and slots, recording each span's offsets as it goes."""

    def __init__(self, rng: random.Random, style: str, channel: str, product: str, label: str):
        self.rng, self.style, self.parts, self.pii, self.keep, self.n = rng, style, [], [], [], 0
        self.lower = style == "call" and rng.random() < 0.4
        self.typos = rng.random() < 0.2
        self.values: dict[str, str] = {"channel": channel, "product": product}
        self.label = label

    def lit(self, s: str) -> None:
        if not s:
            return
        if self.style == "call":
            for a, b in ABBR:
                s = s.replace(a, b)
            if self.lower:
                s = s.lower()
        if self.typos and self.rng.random() < 0.3:
            s = _typo(self.rng, s)
        self.parts.append(s)
        self.n += len(s)

    def slot(self, name: str) -> None:
        value = self.values.get(name) if name in STICKY else None
        if value is None:
            value = self._value(name)
            if name in STICKY:
                self.values[name] = value
        kind = PII_SLOTS.get(name, (None,))[0] or ("EMAIL_ADDRESS" if name == "email" else None)
        span = {"start": self.n, "end": self.n + len(value)}
        if kind:
            self.pii.append({**span, "type": kind})
        elif name in KEEP_SLOTS:
            self.keep.append({**span, "type": KEEP_SLOTS[name]})
        self.parts.append(value)
        self.n += len(value)

    def _value(self, name: str) -> str:
        rng = self.rng
        if name in PII_SLOTS:
            return PII_SLOTS[name][1](rng)
        if name == "email":
            who = re.sub(r"[^a-z. ]", "", (self.values.get("name") or _person(rng)).lower()).split()
            local = rng.choice((".".join(who), who[0][0] + who[-1], who[-1] + str(rng.randint(1, 99))))
            return f"{local}@{rng.choice(DOMAINS)}"
        if name == "peril":
            return f"{PERIL_PREFIX[self.label]}-{rng.randint(1, 12):02d}"
        if name == "make":
            return rng.choice(MAKES)
        if name in ("amount", "amount2"):
            return _amount(rng)
        if name == "sent":
            return (f"{rng.randint(1, 28)} {MONTHS[rng.randrange(12)][:3]} 2025 "
                    f"{rng.randint(8, 18):02d}:{rng.randint(0, 59):02d}")
        return rng.choice(FILL[name])

    def add(self, template: str) -> None:
        for i, piece in enumerate(_parse(template)):
            if i % 2:
                self.slot(piece)
            else:
                self.lit(piece)

    def text(self) -> str:
        return "".join(self.parts)


def _compose(rng: random.Random, label: str, drift: str) -> tuple[str, str, str, str, list[dict], list[dict]]:
    """One note: returns label, text, channel, product, pii spans, keep spans."""
    style = rng.choices(("formal", "call", "email"), (45, 35, 20))[0]
    channel = {"call": "phone", "email": "email"}.get(style) or rng.choice(CHANNELS)
    product, new_line = rng.choice(PRODUCTS[label]), None
    if drift == "product" and rng.random() < 0.45:
        product = rng.choice(tuple(NEW_PRODUCT))
        label, new_line = rng.choice(NEW_PRODUCT[product])
    doc = _Doc(rng, "formal" if style == "email" else style, channel, product, label)
    long = drift == "length"
    lines = list(rng.sample(INCIDENT[label], rng.randint(4, 7) if long else rng.choices((1, 2, 3), (50, 35, 15))[0]))
    if new_line:
        lines[0] = new_line
    if rng.random() < 0.05 and not long:
        lines = [rng.choice(GENERIC)]  # a chase-up note: no class signal at all
    if rng.random() < 0.12:
        lines.insert(rng.randint(0, len(lines)), CROSS[label][0])
    admin = rng.sample(ADMIN, rng.randint(4, 9) if long else rng.choices((0, 1, 2, 3, 4), (15, 30, 30, 15, 10))[0])
    if label in EXTRA and rng.random() < 0.5:
        admin.append(rng.choice(EXTRA[label]))
    if rng.random() < 0.35:
        admin.append(rng.choice(("Peril code {peril}.", "{peril}", "Coded as {peril} on {product}.")))
    if rng.random() < 0.4:
        admin.append(rng.choice(("Policy type {product}.", "Cover: {product}.", "Estimate so far {amount}.")))
    body = lines + admin
    if long:
        body += rng.sample(GENERIC, 2) + list(rng.sample(INCIDENT[label], 3))
        rng.shuffle(body)
    sep = rng.choice((" ", " ", "\n", ". ")) if style == "call" else " "
    if style == "email":
        doc.add("Email pasted in below.\n\n" if rng.random() < 0.3 else "")
        doc.add("From: {name} <{email}>\nSent: {sent}\nSubject: Claim {claim}\n\nHi,\n\n")
    else:
        doc.add(rng.choice(OPEN[style]))
    for k, line in enumerate(body):
        if k:
            doc.lit("\n\n" if (long or len(body) > 4) and rng.random() < 0.3 else sep)
        doc.add(line.rstrip(".") if sep == ". " else line)
    doc.add("\n\nKind regards,\n{name}" if style == "email" else rng.choice(CLOSE[style]))
    return label, doc.text(), channel, product, doc.pii, doc.keep


def iter_sample(rows: int, seed: int, drift: str = "none") -> Iterator[tuple[dict, dict]]:
    """Yield (record, gold) pairs one at a time; the same (seed, drift) gives the same sequence."""
    if drift not in DRIFT_KINDS:
        raise ValueError(f"unknown drift kind {drift!r}; use one of {', '.join(DRIFT_KINDS)}")
    rng = random.Random(f"tunegate-sample:{seed}:{drift}")
    weights = WEIGHTS.get(drift, WEIGHTS["none"])
    start = datetime(2025, 7, 1, tzinfo=UTC) if drift != "none" else datetime(2024, 1, 1, tzinfo=UTC)
    t0, span_s = int(start.timestamp()), 365 * 24 * 3600 if drift == "none" else 150 * 24 * 3600
    for i in range(rows):
        label, text, channel, product, pii, keep = _compose(rng, rng.choices(LABELS, weights)[0], drift)
        ts = datetime.fromtimestamp(t0 + rng.randrange(span_s), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        doc_id = f"doc-{i + 1:06d}"
        yield ({"id": doc_id, "text": text, "label": label, "created_at": ts, "channel": channel, "product": product},
               {"id": doc_id, "pii": pii, "keep": keep})


def generate(rows: int, seed: int, drift: str = "none") -> tuple[list[dict], list[dict]]:
    """Records and their gold PII/keep spans, in memory (use ``write_sample`` for big corpora)."""
    records, gold = [], []
    for rec, g in iter_sample(rows, seed, drift):
        records.append(rec)
        gold.append(g)
    return records, gold


def sidecar_path(out: str | Path) -> Path:
    out = Path(out)
    return out.with_name(out.name + ".pii.jsonl")


def write_sample(out: Path, rows: int, seed: int, drift: str = "none") -> Path:
    """Stream a corpus to ``out`` (.jsonl, .csv or .parquet by suffix) and its sidecar; both atomically."""
    from tasks.refs import atomic_file

    out = Path(out)
    kind = out.suffix.lower().lstrip(".")
    if kind not in ("jsonl", "csv", "parquet"):
        from tasks.errors import InputError

        raise InputError(f"{out}: cannot tell the format from the suffix; name the output .jsonl, .csv or .parquet.")
    fields = ["id", "text", "label", "created_at", "channel", "product"]
    with atomic_file(out) as tmp, atomic_file(sidecar_path(out)) as tmp_gold, \
            open(tmp_gold, "w", encoding="utf-8") as gf:
        pq_writer, batch = None, []
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f) if kind == "csv" else None
            if writer:
                writer.writerow(fields)
            for rec, g in iter_sample(rows, seed, drift):
                gf.write(json.dumps(g, separators=(",", ":")) + "\n")
                if kind == "jsonl":
                    f.write(json.dumps(rec, ensure_ascii=False) + "\n")
                elif writer:
                    writer.writerow([rec[k] for k in fields])
                else:
                    batch.append(rec)
                    if len(batch) >= 50_000:
                        pq_writer = _write_parquet_batch(tmp, pq_writer, batch)
                        batch = []
        if kind == "parquet":
            pq_writer = _write_parquet_batch(tmp, pq_writer, batch)
            pq_writer.close()
        for p in (tmp, tmp_gold):  # temp files are created 0600; the corpus is synthetic, so plain file modes
            os.chmod(p, 0o666 & ~_umask())
    return out


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _write_parquet_batch(path: Path, writer, batch: list[dict]):
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([(k, pa.string()) for k in ("id", "text", "label", "created_at", "channel", "product")])
    if writer is None:
        writer = pq.ParquetWriter(path, schema)
    writer.write_table(pa.Table.from_pylist(batch, schema=schema))
    return writer
