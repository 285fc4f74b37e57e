"""Operators that replace detected spans, and the key that makes pseudonyms consistent.

placeholder ``<PERSON>``; pseudonym ``<PERSON_7f3a2c91d04be8a5>`` = the first 64 bits of
HMAC-SHA256(key, entity + normalised value): the same token for the same person across the corpus and
across runs with the same key, not reversible without the key, and long enough that two different values
share a token with negligible probability even among 10^8 distinct values (about 3 in 10^4 for the whole
set; 24-bit tokens collide once a corpus holds a few thousand names). mask ``*`` of the same length.
Presidio's ``hash`` operator is salted per call, so it cannot be used here.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Operator = Literal["placeholder", "pseudonym", "mask"]
log = logging.getLogger("tunegate.pii")
_NON_ALNUM = re.compile(r"[\W_]+")
_SURROGATE = re.compile("[\ud800-\udfff]")
_TITLES = re.compile(r"^(?:mr|mrs|ms|miss|dr)\.?\s+", re.IGNORECASE)


def normalise(entity: str, value: str) -> str:
    """The form a value is keyed on: names ignore case, titles and spacing; identifiers ignore separators."""
    if entity == "PERSON":
        return " ".join(_TITLES.sub("", value).split()).casefold()
    if entity == "EMAIL_ADDRESS":
        return value.strip().casefold()
    return _NON_ALNUM.sub("", value).upper()


PSEUDONYM_HEX = 16  # 64 bits


def subject_form(entity: str, value: str) -> str:
    """``normalise``, and a phone number in any format as its national significant number ("07700 900123",
    "+44 7700 900123" and "0044 7700 900123" are one subject; so are "(415) 555-2671" and "+1 415-555-2671")."""
    if entity == "PHONE_NUMBER":
        digits = "".join(c for c in value if c.isdigit())
        international = value.strip().startswith("+") or digits.startswith("00")
        if international:
            import phonenumbers

            try:
                return str(phonenumbers.parse("+" + digits.removeprefix("00"), None).national_number)
            except phonenumbers.NumberParseException:
                return digits
        digits = digits.lstrip("0")  # the trunk prefix of most of Europe
        return digits[1:] if len(digits) == 11 and digits.startswith("1") else digits  # NANP "1 415 …"
    return normalise(entity, value)


def subject_hash(entity: str, value: str, key: bytes) -> str:
    """The keyed hash (HMAC-SHA256, 128 bits) a subject index stores for a value: no raw value, and
    nothing anyone without the key can match."""
    msg = f"subject\x00{entity}\x00{subject_form(entity, value)}".encode()
    return hmac.new(key, msg, hashlib.sha256).hexdigest()[:32]


def key_fingerprint(key: bytes) -> str:
    """Which key wrote an index (not the key: a keyed hash of a fixed message)."""
    return hmac.new(key, b"tunegate key fingerprint", hashlib.sha256).hexdigest()[:16]


def pseudonym(entity: str, value: str, key: bytes) -> str:
    digest = hmac.new(key, f"{entity}\x00{normalise(entity, value)}".encode(), hashlib.sha256).hexdigest()
    return f"<{entity}_{digest[:PSEUDONYM_HEX]}>"


def replacement(operator: Operator, entity: str, value: str, key: bytes | None) -> str:
    if operator == "placeholder":
        return f"<{entity}>"
    if operator == "mask":
        return "*" * len(value)
    if key is None:
        raise ValueError("pseudonym operator needs a key; call resolve_pseudonym_key first")
    return pseudonym(entity, value, key)


def operator_for(operators: dict[str, str], entity: str) -> Operator:
    return operators.get(entity) or operators.get("default") or "placeholder"  # type: ignore[return-value]


def needs_key(operators: dict[str, str]) -> bool:
    return "pseudonym" in operators.values()


MIN_KEY_BYTES = 32


def _check_length(key: bytes, where: str) -> bytes:
    if len(key) < MIN_KEY_BYTES:
        from tasks.errors import PseudonymKeyTooShort

        raise PseudonymKeyTooShort(f"{where}: the pseudonymisation key is {len(key)} bytes, shorter than "
                                   f"{MIN_KEY_BYTES} bytes; set a random one, e.g. `openssl rand -hex 32`.")
    return key


def _development_key(path: Path, key_env: str) -> bytes:
    """The work folder's development key, created (0600) when missing; an empty file is no key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_file() and not path.read_bytes().strip():
        path.unlink(missing_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        pass
    else:
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    key = path.read_bytes().strip()
    log.warning(
        "pseudonym key: neither $%s nor a Secret block is set; using the development key %s (pii.allow_dev_key). "
        "Production must set $%s or pii.pseudonym_key_block.", key_env, path, key_env,
    )
    return _check_length(key, str(path))


def resolve_pseudonym_key(key_env: str, key_block: str | None, work_dir: Path, require: bool = False,
                          allow_dev: bool = False) -> bytes:
    """The HMAC key, at least 32 bytes: environment variable, else Prefect Secret block, else (with
    ``allow_dev`` and without ``require``) a local development key; otherwise PseudonymKeyMissing before
    anything is written. An empty variable, block or key file is no key.

    The key never comes from the config file or flow parameters (they are stored and displayed).
    """
    from tasks.runtime import configured_secret

    if value := configured_secret(key_env, key_block, "pii.pseudonym_key_block"):
        where = f"${key_env}" if os.environ.get(key_env) else f"pii.pseudonym_key_block '{key_block}'"
        return _check_length(value.encode(), where)
    if require or not allow_dev:
        from tasks.errors import PseudonymKeyMissing

        raise PseudonymKeyMissing(
            f"pseudonyms need a key and ${key_env} is not set"
            + (" (and no pii.pseudonym_key_block)" if not key_block else "")
            + f"; set ${key_env} or pii.pseudonym_key_block to the production key"
            + (" (pii.require_key: a development key is not used here)." if require else
               ". For a trial on synthetic data only, pii.allow_dev_key: true uses a development key "
               "in <work_dir>/secrets/pii.key."))
    return _development_key(Path(work_dir) / "secrets" / "pii.key", key_env)


def pseudonym_key(pii, work_dir: Path, index: bool = False) -> bytes | None:
    """The key ``pii``'s operators need (None when no operator pseudonymises and no subject index is
    kept), failing closed unless a key is configured or ``pii.allow_dev_key`` allows a development key
    where ``pii.require_key`` (when None: a deployment's run) does not demand a configured one."""
    from tasks.runtime import key_required

    if not (needs_key(pii.operators) or (index and pii.subject_index)):
        return None
    return resolve_pseudonym_key(pii.pseudonym_key_env, pii.pseudonym_key_block, Path(work_dir),
                                 key_required(pii.require_key), allow_dev=pii.allow_dev_key)


def cache_fingerprint(key: bytes) -> str:
    """What a cache key holds of the pseudonym key: a keyed hash of a fixed message, never a hash of the key."""
    return hmac.new(key, b"tunegate-cache-fingerprint", hashlib.sha256).hexdigest()[:16]


def keep_matchers(literals: list[str], patterns: list[str]) -> list[re.Pattern]:
    """Regexes of the keep-list: all literals in one (whole words, any case), then each pattern as given."""
    from tasks.errors import ConfigError

    out = []
    if literals:
        words = "|".join(re.escape(lit) for lit in sorted(literals, key=len, reverse=True))
        out.append(re.compile(rf"(?<!\w)(?:{words})(?!\w)", re.IGNORECASE))
    for i, p in enumerate(patterns):
        try:
            out.append(re.compile(p))
        except re.error as e:
            raise ConfigError(
                f"pii.keep.patterns[{i}]: not a valid regular expression ({e}); fix or remove it.") from None
    return out


# --- spans: what the engine found, and how it is replaced ------------------------------------------
@dataclass(frozen=True, slots=True)
class Span:
    """A detected entity in original-text coordinates (no value: spans may be logged and stored)."""

    start: int
    end: int
    entity: str
    score: float = 1.0


def drop_kept(spans: list[Span], keep: list[tuple[int, int]]) -> list[Span]:
    """Cut keep-list terms out of the spans: a name that is a keep term is dropped, an address block
    that runs into one keeps its other parts ("12 Elm Road … MTR-04")."""
    if not keep:
        return spans
    out = []
    for s in spans:
        pieces = [(s.start, s.end)]
        for b, e in keep:
            pieces = [p for a, z in pieces for p in ((a, min(z, b)), (max(a, e), z)) if p[1] - p[0] > 0] \
                if any(a < e and b < z for a, z in pieces) else pieces
        if pieces == [(s.start, s.end)]:
            out.append(s)
        elif s.entity != "PERSON":  # part of a name beside a product name is not a name
            out += [Span(a, z, s.entity, s.score) for a, z in pieces if z - a > 2]
    return out


# Types found by shape or cue alone: a specific, validated type over the same digits names them better
# ("social security number 536 22 8745" also parses as a Polish phone number).
GENERIC = frozenset({"PHONE_NUMBER", "REFERENCE_NUMBER"})
NOT_IDENTIFIERS = GENERIC | {"PERSON", "STREET_ADDRESS", "DATE_OF_BIRTH"}


def _rank(x: Span, other: Span) -> tuple:
    specific_over_generic = x.entity not in NOT_IDENTIFIERS and other.entity in GENERIC and \
        x.end - x.start >= other.end - other.start
    return specific_over_generic, x.score, x.end - x.start


def merge_overlaps(spans: list[Span]) -> list[Span]:
    """Union of overlapping spans, typed by the best member: a specific type that covers a generic one
    (phone, reference by cue), else the highest score, then the longest."""
    out: list[Span] = []
    for s in sorted(spans, key=lambda s: (s.start, -s.end)):
        if out and s.start < out[-1].end:
            last = out[-1]
            best = last if _rank(last, s) >= _rank(s, last) else s
            out[-1] = Span(last.start, max(last.end, s.end), best.entity, best.score)
        else:
            out.append(s)
    return out


def apply_operators(text: str, spans: list[Span], operators: dict[str, str], key: bytes | None) -> tuple[str, Counter]:
    """Replace each span by its entity's operator; returns the text and counts per operator."""
    pieces, pos, used = [], 0, Counter()
    for s in spans:
        op = operator_for(operators, s.entity)
        pieces += [text[pos:s.start], replacement(op, s.entity, text[s.start:s.end], key)]
        pos = s.end
        used[op] += 1
    pieces.append(text[pos:])
    return "".join(pieces), used


def settle(texts: list[str], spans: list[list[Span]], corpus) -> list[list[Span]]:
    """Final spans per text: the PERSON spans that the corpus (``pii_names.CorpusLabels`` of the texts read
    together) calls organisations are dropped, overlaps merged."""
    return [merge_overlaps(corpus.drop_organisations(t, s)) for t, s in zip(texts, spans)]


def clean_texts(texts: list[str]) -> list[str]:
    """Lone surrogates replaced by U+FFFD: they are not Unicode (spaCy cannot encode them); offsets are kept."""
    return [_SURROGATE.sub("\ufffd", t) for t in texts]
