"""Where tunegate's two keys come from, and the development keys used where none is configured.

- The evidence key signs evidence packs and each version's registration manifest: a 32-byte Ed25519 seed, hex,
  from ``$TUNEGATE_EVIDENCE_KEY`` or the Prefect Secret block ``registry.evidence_key_block``.
- The audit key chains ``audit.jsonl`` (HMAC-SHA256): at least 32 bytes, from ``$TUNEGATE_AUDIT_KEY`` or the
  Prefect Secret block ``registry.audit_key_block``.

Neither key ever lives in the work folder or the config file. In a deployment's run (a schedule, a trigger,
the UI: production) a missing key is ``SigningKeyMissing``: the same rule as ``pii.require_key`` left unset,
with no setting that turns it off. Elsewhere (the CLI, scripts) a development key is made once under
``$XDG_CONFIG_HOME/tunegate/`` (else ``~/.config/tunegate/``), never inside a work folder, and what it signs
says so inside the signed bytes: the pack's manifest (``dev_key: true``) and each audit entry.

``signing_key`` turns the evidence seed into the Ed25519 key that signs (registration, packs); ``preflight``
checks, before any data work in a deployment's run, that both keys are there.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from tasks.config import RegistryScope
from tasks.errors import ConfigError, InputError, SigningKeyMissing

EVIDENCE_ENV, AUDIT_ENV = "TUNEGATE_EVIDENCE_KEY", "TUNEGATE_AUDIT_KEY"
EVIDENCE_DEV, AUDIT_DEV = "evidence-dev.key", "audit-dev.key"
MIN_AUDIT_KEY = 32


@dataclass(frozen=True)
class Key:
    secret: bytes
    source: str  # "environment", "prefect-secret:<block>" or "development key <path>"
    dev: bool

    @property
    def kid(self) -> str:
        """A short id of the key (an HMAC of a constant: reveals nothing about the key)."""
        return hmac.new(self.secret, b"tunegate-key-id", hashlib.sha256).hexdigest()[:16]


def dev_key_dir() -> Path:
    """Where development keys live: the user's config folder, outside every work folder."""
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "tunegate"


def _configured(env: str, block: str | None, setting: str) -> tuple[str, str] | None:
    from tasks.runtime import configured_secret

    value = configured_secret(env, block, setting)
    if not value:
        return None
    return value, ("environment" if os.environ.get(env) else f"prefect-secret:{block}")


def _dev_key(reg: RegistryScope | None, name: str, env: str, setting: str) -> tuple[str, Path]:
    """The development key ``name`` (made once, 0600); refused in a deployment's run and inside a work folder."""
    from tasks.runtime import key_required

    if key_required(None):
        raise SigningKeyMissing(f"a deployment's run needs ${env} or {setting} (a Prefect Secret block); "
                                "no development key is made in production.")
    path = dev_key_dir() / name
    if reg is not None and path.resolve().is_relative_to(Path(reg.work_dir).resolve()):
        raise ConfigError(f"XDG_CONFIG_HOME: development keys must live outside the work folder ({reg.work_dir}); "
                          f"point it elsewhere or set ${env}.")
    if not path.exists():
        try:
            write_secret(path, secrets.token_bytes(32).hex())
        except InputError:
            pass  # made by another process meanwhile
    return path.read_text().strip(), path


def write_secret(path: Path, text: str) -> None:
    """Write ``text`` to a new file at ``path``, mode 0600; never overwrites."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise InputError(f"{path} exists; a key is never overwritten: choose another path.") from None
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")


def audit_key(reg: RegistryScope | None) -> Key:
    """The audit log's HMAC key (see the module docstring)."""
    block = reg.registry.audit_key_block if reg is not None else None
    found = _configured(AUDIT_ENV, block, "registry.audit_key_block")
    if found is None:
        text, path = _dev_key(reg, AUDIT_DEV, AUDIT_ENV, "registry.audit_key_block")
        return Key(text.encode(), f"development key {path}", True)
    value, source = found
    secret = value.strip().encode()
    if len(secret) < MIN_AUDIT_KEY:
        where = f"${AUDIT_ENV}" if source == "environment" else "registry.audit_key_block"
        raise ConfigError(f"{where}: the audit key needs at least {MIN_AUDIT_KEY} bytes (e.g. "
                          "`python -c 'import secrets; print(secrets.token_hex(32))'`).")
    return Key(secret, source, False)


def evidence_seed(reg: RegistryScope | None) -> tuple[str, str, bool]:
    """(hex seed, where it came from, is a development key) of the evidence signing key."""
    block = reg.registry.evidence_key_block if reg is not None else None
    found = _configured(EVIDENCE_ENV, block, "registry.evidence_key_block")
    if found is None:
        text, path = _dev_key(reg, EVIDENCE_DEV, EVIDENCE_ENV, "registry.evidence_key_block")
        return text, f"development key {path}", True
    value, source = found
    return value, source, False


def dev_evidence_public_keys(reg: RegistryScope | None) -> set[str]:
    """Public keys (hex) of the development evidence keys this machine knows: the one under ``dev_key_dir()``
    and the one older tunegate made under ``<work_dir>/secrets/evidence.key``."""
    paths = [dev_key_dir() / EVIDENCE_DEV] + ([Path(reg.work_dir) / "secrets" / "evidence.key"] if reg else [])
    out = set()
    for p in paths:
        try:
            out.add(public_hex_of_seed(p.read_text(), str(p)))
        except (OSError, ConfigError):
            continue
    return out


def preflight(reg: RegistryScope) -> None:
    """In a deployment's run, ``SigningKeyMissing`` before any data work when a key it will need is missing
    (elsewhere nothing: a development key is made when first used)."""
    from tasks.runtime import key_required

    if key_required(None):
        audit_key(reg)
        evidence_seed(reg)


def _key_from_text(text: str, where: str):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        seed = bytes.fromhex(text.strip())
        if len(seed) != 32:
            raise ValueError
    except ValueError:
        raise ConfigError(f"{where}: an evidence signing key is 64 hex characters (a 32-byte Ed25519 seed); "
                          "make one with `tunegate evidence keygen PATH`.") from None
    return Ed25519PrivateKey.from_private_bytes(seed)


def public_hex_of_seed(text: str, where: str) -> str:
    """The public key (hex) of the evidence seed ``text``; ``ConfigError`` naming ``where`` for a malformed one."""
    return public_hex(_key_from_text(text, where))


def signing_key(reg: RegistryScope | None):
    """(Ed25519 private key, where it came from, is a development key): see the module docstring."""
    text, source, dev = evidence_seed(reg)
    where = {"environment": f"${EVIDENCE_ENV}"}.get(source,
                                                     source.replace("prefect-secret:", "Prefect Secret block "))
    return _key_from_text(text, where), source, dev


def public_hex(key) -> str:
    """The Ed25519 public key of a private ``key``, hex."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
