"""``tunegate evidence verify``: a pack is evidence only when a key the verifier trusts signed it.

The trusted keys are given, never read from the pack: ``--public-key HEX`` (repeatable), ``--trust-file PATH``
(one hex key a line, ``#`` comments) or ``registry.evidence_public_keys`` (with ``--config``); without any,
``TrustedKeyMissing``. Each kind of failure has its own exit code, in this order of precedence:

- 20 (``UNTRUSTED``): the pack, or its registration manifest, was signed by a key not trusted;
- 1 (``TAMPERED``): a file, the manifest or the signature differs from what was signed;
- 22 (``NOT_AS_REGISTERED``): the version's evidence files differ from what was signed at registration, or
  (with ``--config``) the registry holds another registration digest for the version;
- 21 (``DEV_KEY``): signed with a development key (the signed manifest says so, or the signer is a development
  key this machine knows), unless ``--allow-dev-key``; that flag also trusts this machine's own development key;
- 23 (``COVERAGE_MISSING``): ``--require-coverage annex4,art10`` (blocks of ``clauses.BLOCKS``, or ``all``) and
  the pack's technical file has a ``missing`` clause in one of them (or no technical file).

The technical file's counts per block (evidence / declared / missing) are printed for every pack that has one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from tasks.config import RegistryConfig, RegistryScope
from tasks.errors import ConfigError, InputError, TrustedKeyMissing
from tasks.governance.clauses import BLOCKS
from tasks.governance.coverage import DECLARED, EVIDENCE, MISSING, TECHNICAL_JSON, counts
from tasks.governance.evidence import MANIFEST, PUBLIC_KEY, SIGNATURE, read_pack
from tasks.keys import dev_evidence_public_keys
from tasks.registry.signing import TAG_SHA

TAMPERED, UNTRUSTED, DEV_KEY, NOT_AS_REGISTERED, COVERAGE_MISSING = 1, 20, 21, 22, 23
PRECEDENCE = (UNTRUSTED, TAMPERED, NOT_AS_REGISTERED, DEV_KEY, COVERAGE_MISSING)


def coverage_blocks(text: str | None) -> list[str]:
    """``annex4,art10`` -> the blocks; ``all`` -> every block; unknown names: InputError naming the known ones."""
    names = [b.strip().lower() for b in (text or "").split(",") if b.strip()]
    if names == ["all"]:
        return list(BLOCKS)
    unknown = [b for b in names if b not in BLOCKS]
    if unknown:
        raise InputError(f"--require-coverage: unknown block(s) {', '.join(unknown)}; choose from "
                         f"{', '.join(BLOCKS)} or all (comma-separated).")
    return names


def check_coverage(check: PackCheck, files: dict[str, bytes], required: list[str]) -> None:
    """Print the technical file's counts per block; fail on a missing clause of a ``required`` block."""
    try:
        rows = json.loads(files[TECHNICAL_JSON])["clauses"]
    except (KeyError, ValueError, TypeError):
        if required:
            check.fail(COVERAGE_MISSING, f"{TECHNICAL_JSON} is not in the pack (made by an older tunegate): its "
                                         "coverage cannot be shown; build the pack again")
        return
    for block, c in counts(rows).items():
        check.coverage.append(f"coverage {block}: {c[EVIDENCE]} evidence, {c[DECLARED]} declared, {c[MISSING]} missing")
    for r in rows:
        if r["block"] in required and r["status"] == MISSING:
            check.fail(COVERAGE_MISSING, f"{r['id']} ({r['title']}) is missing: needs " + "; ".join(r["missing"]))


def _hex_key(value: str, where: str) -> str:
    text = value.strip().lower()
    try:
        if len(bytes.fromhex(text)) == 32:
            return text
    except ValueError:
        pass
    raise ConfigError(f"{where}: a trusted evidence key is an Ed25519 public key, 64 hex characters (printed by "
                      "`tunegate evidence keygen`).")


def trusted_keys(public_keys: list[str], trust_file: str | None, registry: RegistryConfig | None) -> set[str]:
    """The public keys (hex, lower case) a pack may be signed with."""
    out = {_hex_key(k, f"--public-key #{i + 1}") for i, k in enumerate(public_keys)}
    if trust_file:
        try:
            text = Path(trust_file).read_text()
        except OSError:
            raise ConfigError(f"--trust-file {trust_file}: cannot be read; give a file of hex public keys.") from None
        for n, line in enumerate(text.splitlines(), start=1):
            if line.split("#")[0].strip():
                out.add(_hex_key(line.split("#")[0], f"--trust-file {trust_file} line {n}"))
    for i, k in enumerate(registry.evidence_public_keys if registry else []):
        out.add(_hex_key(k, f"registry.evidence_public_keys[{i}]"))
    return out


@dataclass
class PackCheck:
    files: int = 0
    problems: list[str] = field(default_factory=list)
    codes: set[int] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)
    public_key: str | None = None
    coverage: list[str] = field(default_factory=list)  # the technical file's counts per block

    def fail(self, code: int, text: str) -> None:
        self.problems.append(text)
        self.codes.add(code)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def exit_code(self) -> int:
        return next((c for c in PRECEDENCE if c in self.codes), 0)

    def lines(self, pack: Path) -> list[str]:
        notes = [f"note: {n}" for n in self.notes] + self.coverage
        if not self.ok:
            return [f"DIFFERS: {p}" for p in self.problems] + notes + [
                f"pack NOT verified: {len(self.problems)} problem(s) (exit {self.exit_code}) ({pack})"]
        return notes + [f"pack verified: {self.files} files match the manifest, signed by trusted key "
                        f"{(self.public_key or '')[:16]}… ({pack})"]


def _signed(key_hex: str, signature: str, body: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(key_hex)).verify(bytes.fromhex(signature.strip()), body)
        return True
    except (InvalidSignature, ValueError, TypeError, AttributeError):
        return False


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def verify_pack(pack: Path, trusted: set[str], allow_dev_key: bool = False, dev_keys: frozenset[str] = frozenset(),
                registry_sha: str | None = None, require_coverage: list[str] = ()) -> PackCheck:
    """Every hash and signature of ``pack`` against ``trusted`` keys (see the module docstring);
    ``registry_sha``: the version's registration digest in the registry now, where it was read;
    ``require_coverage``: blocks of the technical file that may have no missing clause."""
    files = read_pack(Path(pack))
    check = PackCheck()
    if not trusted and not (allow_dev_key and dev_keys):
        raise TrustedKeyMissing("evidence verify needs a public key to trust: --public-key HEX, --trust-file PATH "
                                "or registry.evidence_public_keys (with --config); the pack's own key proves nothing.")
    accepted = set(trusted) | (set(dev_keys) if allow_dev_key else set())
    if MANIFEST not in files:
        check.fail(TAMPERED, f"{MANIFEST} is missing: this is not a tunegate evidence pack")
        return check
    body = files.pop(MANIFEST)
    try:
        manifest = json.loads(body)
        listed, sig = dict(manifest["files"]), dict(manifest["signature"])
        pack_key = str(sig["public_key"]).lower()
    except (ValueError, KeyError, TypeError):
        check.fail(TAMPERED, f"{MANIFEST} is not a readable manifest: it was edited")
        return check
    check.public_key = pack_key
    if files.pop(PUBLIC_KEY, b"").decode(errors="replace").strip().lower() != pack_key:
        check.fail(TAMPERED, f"{PUBLIC_KEY} differs from the key the manifest names")
    if pack_key not in accepted:
        check.fail(UNTRUSTED, f"the pack was signed by key {pack_key[:16]}…, which is not a trusted key "
                              "(--public-key, --trust-file, registry.evidence_public_keys)")
    if not _signed(pack_key, files.pop(SIGNATURE, b"").decode(errors="replace"), body):
        check.fail(TAMPERED, f"the signature does not match {MANIFEST}: the manifest or {SIGNATURE} was changed")
    for rel, digest in sorted(listed.items()):
        if rel not in files:
            check.fail(TAMPERED, f"{rel} is missing")
        elif _sha(files[rel]) != digest:
            check.fail(TAMPERED, f"{rel} differs from the manifest (sha256 {_sha(files[rel])[:16]}…, "
                                 f"signed {digest[:16]}…)")
    for rel in sorted(set(files) - set(listed)):
        check.fail(TAMPERED, f"{rel} is not in the manifest: it was added")
    check.files = len(listed)
    dev = sig.get("dev_key") is True or pack_key in dev_keys
    dev |= _registration(check, manifest.get("registration"), files, accepted, dev_keys, registry_sha)
    if dev and not allow_dev_key:
        check.fail(DEV_KEY, "signed with a development key: not evidence for production (sign with the "
                            "configured key; pass --allow-dev-key to accept it in development)")
    elif dev:
        check.notes.append("signed with a development key (accepted: --allow-dev-key)")
    check_coverage(check, files, list(require_coverage))
    return check


def _registration(check: PackCheck, reg: dict | None, files: dict[str, bytes], accepted: set[str],
                  dev_keys: frozenset[str], registry_sha: str | None) -> bool:
    """Check the pack against the manifest signed at registration; returns whether a development key signed it."""
    if not reg:
        if registry_sha:
            check.fail(NOT_AS_REGISTERED, "the registry holds a registration manifest for this version, the pack none")
        else:
            check.notes.append("the version was registered without a signed registration manifest (older tunegate): "
                               "its files are covered by the pack's signature only")
        return False
    body, key = str(reg.get("manifest") or "").encode(), str(reg.get("public_key") or "").lower()
    if _sha(body) != reg.get("sha256"):
        check.fail(NOT_AS_REGISTERED, "the registration manifest differs from its recorded digest")
    if key not in accepted:
        check.fail(UNTRUSTED, f"the registration manifest was signed by key {key[:16]}…, which is not trusted")
    if not _signed(key, str(reg.get("signature") or ""), body):
        check.fail(NOT_AS_REGISTERED, "the registration manifest's signature does not match it")
    try:
        signed = json.loads(body)
        registry = json.loads(files.get("registry.json", b"{}"))
        for rel, digest in sorted(signed["files"].items()):
            if rel not in files:
                check.fail(NOT_AS_REGISTERED, f"{rel} was signed at registration and is missing from the pack")
            elif _sha(files[rel]) != digest:
                check.fail(NOT_AS_REGISTERED, f"{rel} differs from what was signed at registration "
                                              f"(sha256 {_sha(files[rel])[:16]}…, registered {digest[:16]}…)")
        if signed.get("mlflow_run_id") != registry.get("mlflow_run_id"):
            check.fail(NOT_AS_REGISTERED, "the registration manifest names another MLflow run than registry.json")
    except (ValueError, KeyError, TypeError, AttributeError):
        check.fail(NOT_AS_REGISTERED, "the registration manifest is not readable")
        return False
    if registry_sha is not None and registry_sha != reg.get("sha256"):
        check.fail(NOT_AS_REGISTERED, "the registry records another registration digest for this version than the "
                                      "pack: the pack's version was re-registered or its tags replaced")
    return signed.get("dev_key") is True or key in dev_keys


def verify_command(pack: Path, reg: RegistryScope | None, public_keys: list[str], trust_file: str | None,
                   allow_dev_key: bool, require_coverage: str | None = None) -> tuple[list[str], int]:
    """(lines to print, exit code) of ``tunegate evidence verify``."""
    required = coverage_blocks(require_coverage)
    trusted = trusted_keys(public_keys, trust_file, reg.registry if reg else None)
    registry_sha = None
    if reg is not None:
        registry_sha = _registry_sha(reg, pack)
    check = verify_pack(pack, trusted, allow_dev_key, frozenset(dev_evidence_public_keys(reg)), registry_sha,
                        required)
    return check.lines(pack), check.exit_code


def _registry_sha(reg: RegistryScope, pack: Path) -> str | None:
    """The registration digest the registry holds now for the pack's version (None where none is recorded)."""
    from tasks.registry.lock import registry_client

    try:
        version = json.loads(read_pack(pack)[MANIFEST])["version"]
        tags = registry_client(reg).get_model_version(reg.model_name, str(int(version))).tags or {}
    except Exception:  # noqa: BLE001 - no such version or no manifest: the pack checks report it
        return None
    return tags.get(TAG_SHA)
