"""Operators that replace detected spans, and the key that makes pseudonyms consistent.

placeholder ``<PERSON>``; pseudonym ``<PERSON_7f3a2c>`` = HMAC-SHA256(key, entity + normalised value),
the same token for the same person across the corpus and not reversible without the key; mask
``*`` of the same length. Presidio's ``hash`` operator is salted per call, so it cannot be used here.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets
from pathlib import Path
from typing import Literal

Operator = Literal["placeholder", "pseudonym", "mask"]
log = logging.getLogger("tunegate.pii")
_NON_ALNUM = re.compile(r"[\W_]+")
_TITLES = re.compile(r"^(?:mr|mrs|ms|miss|dr)\.?\s+", re.IGNORECASE)


def normalise(entity: str, value: str) -> str:
    """The form a value is keyed on: names ignore case, titles and spacing; identifiers ignore separators."""
    if entity == "PERSON":
        return " ".join(_TITLES.sub("", value).split()).casefold()
    if entity == "EMAIL_ADDRESS":
        return value.strip().casefold()
    return _NON_ALNUM.sub("", value).upper()


def pseudonym(entity: str, value: str, key: bytes) -> str:
    digest = hmac.new(key, f"{entity}\x00{normalise(entity, value)}".encode(), hashlib.sha256).hexdigest()
    return f"<{entity}_{digest[:6]}>"


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


def resolve_pseudonym_key(key_env: str, key_block: str | None, work_dir: Path) -> bytes:
    """The HMAC key: environment variable, else Prefect Secret block, else a local development key.

    The key never comes from the config file or flow parameters (they are stored and displayed).
    """
    if value := os.environ.get(key_env):
        return value.encode()
    if key_block:
        from prefect.blocks.system import Secret

        try:
            return str(Secret.load(key_block).get()).encode()
        except Exception as e:  # noqa: BLE001 - any failure means no key from the block
            from tasks.errors import ConfigError

            raise ConfigError(
                f"pii.pseudonym_key_block: Prefect Secret block '{key_block}' cannot be loaded "
                f"({type(e).__name__}); create it or set ${key_env}."
            ) from None
    path = Path(work_dir) / "secrets" / "pii.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    log.warning(
        "pseudonym key: neither $%s nor a Secret block is set; using the development key %s. "
        "Production must set $%s or pii.pseudonym_key_block.", key_env, path, key_env,
    )
    return path.read_text().strip().encode()


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
