"""Evidence pack per model version: everything a supervisor asks about, in one signed, verifiable bundle.

``build_pack`` collects, for one registered version:

- ``version/``: the model card, the exact training config (``config.json``), lineage (raw and scrubbed
  dataset digests, split digests and seed, base model, code version, decision), the quality summary, the PII
  evidence (counts, residual rate, the per-run recall estimate), the memorisation result (membership
  inference, or a causal LM's canary exposure), the hashes of the row ids it learned from, the candidate's,
  champion's and TF-IDF baseline's evaluations, the training metrics and what ``auto`` chose; read from the
  MLflow registry;
- ``run/``: the run's Great Expectations Data Docs and ``quality.json``, where the run folder still holds them;
- ``registry.json``: the version's tags, its MLflow run's parameters and metrics, and the aliases now;
- ``audit.json``: every audit entry about the version (promotion, approval, rollback, erasure), with the
  audit chain's state and head when the pack was made; ``monitoring.json``: each monitor run that watched
  it (checks and drift decision);
- ``manifest.json``: the SHA-256 of every file, what is absent and why, signed with Ed25519
  (``manifest.sig``; the public key in ``public_key.txt``).

No weights, datasets or document text go in: the pack is evidence, and it must hold no personal data.
``verify_pack`` recomputes every hash and the signature and names each file that differs.

The signing key (a 32-byte Ed25519 seed, hex) comes from ``$TUNEGATE_EVIDENCE_KEY`` or the Prefect Secret
block ``registry.evidence_key_block``; without either, a development key is made under
``<work_dir>/secrets/`` and the manifest says so. ``tunegate evidence keygen PATH`` writes a new key.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import secrets
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from tasks.config import PipelineConfig
from tasks.errors import ConfigError, InputError

KEY_ENV = "TUNEGATE_EVIDENCE_KEY"
MANIFEST, SIGNATURE, PUBLIC_KEY = "manifest.json", "manifest.sig", "public_key.txt"
# Registry artifacts a pack carries (never model/ weights or reference/ rows).
VERSION_FILES = ["model_card.md", "config.json", "lineage.json", "quality.json", "pii_evidence.json",
                 "memorisation.json", "trained_ids.json", "eval/eval.json", "eval/champion_eval.json",
                 "eval/baseline_eval.json",
                 "model/metrics.json", "model/train_config.json", "model/label_map.json", "model/manifest.json"]


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


def signing_key(cfg: PipelineConfig):
    """(Ed25519 private key, where it came from): the environment, a Prefect Secret block, else a dev key."""
    from tasks.runtime import configured_secret

    block = cfg.registry.evidence_key_block
    if value := configured_secret(KEY_ENV, block, "registry.evidence_key_block"):
        where = ("environment", f"${KEY_ENV}") if os.environ.get(KEY_ENV) else \
            (f"prefect-secret:{block}", f"Prefect Secret block '{block}'")
        return _key_from_text(value, where[1]), where[0]
    path = cfg.work_path("secrets", "evidence.key")
    if not path.exists():
        write_key(path)
    return _key_from_text(path.read_text(), str(path)), "development key (set $TUNEGATE_EVIDENCE_KEY for production)"


def write_key(path: Path) -> str:
    """A new signing key at ``path`` (mode 0600, never overwritten); returns the public key, hex."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    path.parent.mkdir(parents=True, exist_ok=True)
    seed = secrets.token_bytes(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise InputError(f"{path} exists; a key is never overwritten: choose another path.") from None
    with os.fdopen(fd, "w") as f:
        f.write(seed.hex() + "\n")
    return _public_hex(Ed25519PrivateKey.from_private_bytes(seed))


def _public_hex(key) -> str:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


def _about(entry: dict, version: int) -> bool:
    return version in (entry.get("version"), entry.get("champion"), entry.get("previous_champion"),
                       entry.get("to_version"))


def audit_entries(path: Path, model: str) -> list[dict]:
    """The audit log's entries about ``model``; a line that is not JSON (an edited log) is skipped here and
    reported by the chain check the pack also carries."""
    out = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if path.exists() else []:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("model") == model:
            out.append(entry)
    return out


def collect(cfg: PipelineConfig, version: int) -> tuple[dict[str, bytes], dict[str, str]]:
    """(pack path -> bytes, absent path -> why) for ``version``."""
    from tasks.monitor.cooldown import MONITORED
    from tasks.registry.audit import verify_audit
    from tasks.registry.versions import _version_by_alias, client_for, get_version

    ref = get_version(cfg, version)
    client = client_for(cfg)
    files: dict[str, bytes] = {}
    absent: dict[str, str] = {}
    for rel in VERSION_FILES:
        p = ref.local_dir / rel
        if p.is_file():
            files[f"version/{rel}"] = p.read_bytes()
        else:
            absent[f"version/{rel}"] = "not recorded with this version (older tunegate, or no champion/baseline)"
    run = client.get_run(ref.run_id)
    aliases = {a: getattr(_version_by_alias(client, cfg.model_name, a), "version", None)
               for a in ("champion", "challenger")}
    registry = {"model": cfg.model_name, "version": ref.version, "mlflow_run_id": ref.run_id,
                "version_tags": ref.tags, "run_params": run.data.params, "run_metrics": run.data.metrics,
                "aliases_now": aliases}
    files["registry.json"] = _json(registry)
    run_dir = cfg.work_path("runs", ref.tags.get("tunegate_run_id", "-"))
    for rel in ["quality.json"] + sorted(str(p.relative_to(run_dir)) for p in (run_dir / "data_docs").rglob("*")
                                         if p.is_file()):
        if (run_dir / rel).is_file():
            files[f"run/{rel}"] = (run_dir / rel).read_bytes()
    if not (run_dir / "data_docs").is_dir():
        absent["run/data_docs/"] = "the run folder no longer holds its Data Docs (purged or another machine)"
    entries = audit_entries(cfg.work_path("audit.jsonl"), cfg.model_name)
    check = verify_audit(cfg.work_path("audit.jsonl"))
    files["audit.json"] = _json({
        "entries": [e for e in entries if _about(e, ref.version) and e.get("action") != MONITORED],
        "chain": {"entries": check.entries, "intact": check.ok, "problems": check.problems, "head": check.head,
                  "unchained": check.unchained}})
    files["monitoring.json"] = _json({"runs": [e for e in entries if e.get("action") == MONITORED
                                               and e.get("version") == ref.version]})
    return files, absent


def _json(obj) -> bytes:
    return json.dumps(obj, indent=2, sort_keys=True, default=str).encode()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def build_pack(cfg: PipelineConfig, version: int, out: Path) -> dict:
    """Write the signed pack of ``version`` to ``out`` (a new folder, or a ``.zip``); returns the manifest."""
    from tasks.refs import atomic_dir, atomic_file
    from tasks.registry.versions import code_version

    out = Path(out)
    if out.exists() and (out.is_file() or any(out.iterdir())):
        raise InputError(f"{out} exists and is not empty; a pack goes to a new folder or .zip: choose another path.")
    key, source = signing_key(cfg)
    files, absent = collect(cfg, version)
    manifest = {"format": 1, "model": cfg.model_name, "version": version,
                "created": datetime.now(UTC).isoformat(timespec="seconds"), "tunegate_code_version": code_version(),
                "files": {rel: _sha(data) for rel, data in sorted(files.items())}, "absent": absent,
                "signature": {"algorithm": "Ed25519", "public_key": _public_hex(key), "key_source": source}}
    body = _json(manifest)
    files |= {MANIFEST: body, SIGNATURE: key.sign(body).hex().encode(), PUBLIC_KEY: _public_hex(key).encode()}
    if out.suffix == ".zip":
        with atomic_file(out) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
            for rel, data in sorted(files.items()):
                z.writestr(rel, data)
    else:
        with atomic_dir(out) as tmp:
            for rel, data in files.items():
                (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
                (tmp / rel).write_bytes(data)
    return manifest


@dataclass
class PackCheck:
    files: int = 0
    problems: list[str] = field(default_factory=list)
    public_key: str | None = None
    trusted_key: bool = False  # checked against a key given by the caller, not only the pack's own

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self, pack: Path) -> list[str]:
        if not self.ok:
            return [f"DIFFERS: {p}" for p in self.problems] + [f"pack NOT verified: {len(self.problems)} problem(s) "
                                                               f"({pack})"]
        who = "the given public key" if self.trusted_key else \
            f"the pack's own key {self.public_key[:16]}… (pass --public-key to check who signed)"
        return [f"pack verified: {self.files} files match the manifest, signature valid for {who} ({pack})"]


def _read(pack: Path) -> dict[str, bytes]:
    if pack.is_dir():
        return {str(p.relative_to(pack)): p.read_bytes() for p in sorted(pack.rglob("*")) if p.is_file()}
    if pack.is_file():
        try:
            with zipfile.ZipFile(io.BytesIO(pack.read_bytes())) as z:
                return {n: z.read(n) for n in z.namelist() if not n.endswith("/")}
        except zipfile.BadZipFile:
            raise InputError(f"{pack}: not a zip file or a pack folder.") from None
    raise InputError(f"{pack}: no such pack (a folder or .zip written by `tunegate evidence`).")


def verify_pack(pack: Path, public_key: str | None = None) -> PackCheck:
    """Every hash and the signature of ``pack``; ``public_key`` (hex) pins who must have signed it."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    files = _read(Path(pack))
    check = PackCheck(trusted_key=public_key is not None)
    if MANIFEST not in files:
        check.problems.append(f"{MANIFEST} is missing: this is not a tunegate evidence pack")
        return check
    body = files.pop(MANIFEST)
    try:
        manifest = json.loads(body)
        listed, pack_key = dict(manifest["files"]), manifest["signature"]["public_key"]
    except (ValueError, KeyError, TypeError):
        check.problems.append(f"{MANIFEST} is not a readable manifest: it was edited")
        return check
    check.public_key = pack_key
    if files.pop(PUBLIC_KEY, b"").decode(errors="replace").strip() != pack_key:
        check.problems.append(f"{PUBLIC_KEY} differs from the key the manifest names")
    key_hex = public_key or pack_key
    if public_key is not None and public_key.lower() != pack_key.lower():
        check.problems.append("the pack was signed by another key than the one given")
    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(key_hex)).verify(
            bytes.fromhex(files.pop(SIGNATURE, b"").decode(errors="replace").strip()), body)
    except (InvalidSignature, ValueError):
        check.problems.append(f"the signature does not match {MANIFEST}: the manifest or {SIGNATURE} was changed")
    for rel, digest in sorted(listed.items()):
        if rel not in files:
            check.problems.append(f"{rel} is missing")
        elif _sha(files[rel]) != digest:
            check.problems.append(f"{rel} differs from the manifest (sha256 {_sha(files[rel])[:16]}…, "
                                  f"signed {digest[:16]}…)")
    check.problems += [f"{rel} is not in the manifest: it was added" for rel in sorted(set(files) - set(listed))]
    check.files = len(listed)
    return check


def command(action: str, path: str | None, config: str | None, version: int | None, out: str | None,
            public_key: str | None) -> tuple[list[str], int]:
    """``tunegate evidence``: (lines to print, exit code)."""
    if action in ("verify", "keygen") and not path:
        raise InputError(f"tunegate evidence {action} needs a PATH.")
    if action == "keygen":
        return [f"wrote {path}; public key {write_key(Path(path))}; use it with: export {KEY_ENV}=$(cat {path})"], 0
    if action == "verify":
        check = verify_pack(Path(path), public_key)
        return check.lines(Path(path)), 0 if check.ok else 1
    if not (config and version and out):
        raise InputError("tunegate evidence needs --config, --version and --out (or: verify PACK, keygen PATH).")
    from tasks.config import load_config

    m = build_pack(load_config(config), version, Path(out))
    sig = m["signature"]
    return [f"wrote the evidence pack of {m['model']} v{m['version']} to {out}: {len(m['files'])} files, "
            f"signed by {sig['public_key'][:16]}… ({sig['key_source']})"], 0
