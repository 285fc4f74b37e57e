"""The subject index: which documents held a person's identifiers, found without keeping any raw value.

While scrubbing, every identifier found in a document is stored beside the scrubbed dataset as the keyed
hash of its normalised form (``subjects.parquet``: id, entity, hash; ``ops.subject_hash``). To find a
person, their values are hashed with the same key and looked up: a phone number matches in any format,
an e-mail in any case, a name with or without a title. The values come from a file (never the command
line, never a log), and only ids and counts come out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tasks.errors import ConfigError, InputError
from tasks.pii.ops import key_fingerprint, subject_hash

SUBJECT_INDEX = "subjects.parquet"  # beside scrubbed.parquet in a run folder


def read_values(path: Path, known: set[str]) -> list[tuple[str, str]]:
    """``ENTITY: value`` lines (``#`` comments and blank lines skipped). Errors name the line, never the value."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: value file not found; write one `ENTITY: value` line per identifier.")
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        entity, sep, value = line.partition(":")
        entity, value = entity.strip().upper(), value.strip()
        if not sep or not value:
            raise InputError(f"{path}:{n}: expected `ENTITY: value` (e.g. `PHONE_NUMBER: …`); fix the line.")
        if entity not in known:
            raise InputError(f"{path}:{n}: unknown identifier type (not quoted: it may be personal data); "
                             f"use one of {', '.join(sorted(known))}.")
        out.append((entity, value))
    if not out:
        raise InputError(f"{path}: holds no `ENTITY: value` line; add the subject's identifiers.")
    return out


def subject_hashes(values: list[tuple[str, str]], key: bytes) -> set[tuple[str, str]]:
    return {(entity, subject_hash(entity, value, key)) for entity, value in values}


@dataclass
class IndexHit:
    """Documents of one scrubbed dataset (one run folder) that hold at least one of the subject's values."""

    run_dir: Path
    ids: list[str]
    matched: dict[str, int] = field(default_factory=dict)  # entity type -> documents


def find_in_indexes(folders: list[Path], hashes: set[tuple[str, str]], key: bytes) -> list[IndexHit]:
    """Scan the subject indexes of these run folders for the hashes (made with ``key``)."""
    wanted, mine = sorted({h for _, h in hashes}), key_fingerprint(key)
    out = []
    for folder in folders:
        index = Path(folder) / SUBJECT_INDEX
        if not index.is_file():
            continue
        table = pq.read_table(index)
        written_with = (table.schema.metadata or {}).get(b"tunegate.key", b"").decode()
        if written_with != mine:
            raise ConfigError(f"{index}: this subject index was written with another pseudonymisation key; set the "
                              "key the pipeline used then (its environment variable or Secret block) and search again.")
        table = table.filter(pc.is_in(table["hash"], value_set=pa.array(wanted, table["hash"].type)))
        rows = [(i, e, h) for i, e, h in zip(*(table[c].to_pylist() for c in ("id", "entity", "hash")))
                if (e, h) in hashes]
        if rows:
            matched: dict[str, set[str]] = {}
            for doc_id, entity, _ in rows:
                matched.setdefault(entity, set()).add(doc_id)
            out.append(IndexHit(run_dir=Path(folder), ids=sorted({r[0] for r in rows}),
                                matched={e: len(ids) for e, ids in sorted(matched.items())}))
    return out
