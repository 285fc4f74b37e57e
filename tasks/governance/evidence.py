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
- ``technical_file.json`` and ``.md``: each clause of Annex IV, Art. 10/12/15, PRA SS1/23 and EDPB Opinion
  28/2024 answered by a file of this pack (with its digest), by the declared ``governance:``, or missing
  (``tasks/governance/coverage.py``); the version's ``envelope.json`` and ``compute.json`` are among its files;
- ``manifest.json``: the SHA-256 of every file, what is absent and why, the audit log's head when the pack
  was made, and the version's registration manifest; signed with Ed25519 (``manifest.sig``; the public key in
  ``public_key.txt``, for reading only: ``evidence verify`` trusts only keys it is given).

No weights, datasets or document text go in: the pack is evidence, and it must hold no personal data.

At registration (``register_version``, ``tasks/registry/signing.py``) the digests of the version's evidence
files are signed too and kept in the registry as version tags (``evidence_manifest``, its
``evidence_manifest_sha256``, the signature and key), so a pack made later is checked against what was signed
then. The model card is not among them: it is rewritten after the decision and by rollbacks.

The signing key comes from ``tasks/keys.py`` ($TUNEGATE_EVIDENCE_KEY or
``registry.evidence_key_block``; required in a deployment's run; a development key elsewhere, outside the work
folder, and then the signed manifest says ``dev_key: true``). ``tunegate evidence keygen PATH`` writes a new
key. Verification: ``tasks/governance/evidence_verify.py``.
"""

from __future__ import annotations

import io
import json
import secrets
import zipfile
from datetime import UTC, datetime
from pathlib import Path

from tasks.audit import AUDIT_LOG, MONITORED, verify_audit
from tasks.config import RegistryScope
from tasks.errors import InputError
from tasks.governance.coverage import technical_file_of
from tasks.keys import EVIDENCE_ENV as KEY_ENV
from tasks.keys import audit_key, public_hex, public_hex_of_seed, signing_key, write_secret
from tasks.locks import shared_path
from tasks.registry.signing import VERSION_FILES, registration, sha256_hex

MANIFEST, SIGNATURE, PUBLIC_KEY = "manifest.json", "manifest.sig", "public_key.txt"
def write_key(path: Path) -> str:
    """A new signing key at ``path`` (mode 0600, never overwritten); returns the public key, hex."""
    seed = secrets.token_bytes(32).hex()
    write_secret(path, seed)
    return public_hex_of_seed(seed, str(path))


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


def collect(reg: RegistryScope, version: int) -> tuple[dict[str, bytes], dict[str, str]]:
    """(pack path -> bytes, absent path -> why) for ``version``."""
    from tasks.registry.versions import _version_by_alias, client_for, get_version

    ref = get_version(reg, version)
    client = client_for(reg)
    files: dict[str, bytes] = {}
    absent: dict[str, str] = {}
    for rel in VERSION_FILES:
        p = ref.local_dir / rel
        if p.is_file():
            files[f"version/{rel}"] = p.read_bytes()
        else:
            absent[f"version/{rel}"] = "not recorded with this version (older tunegate, or no champion/baseline)"
    run = client.get_run(ref.run_id)
    aliases = {a: getattr(_version_by_alias(client, reg.model_name, a), "version", None)
               for a in ("champion", "challenger")}
    registry = {"model": reg.model_name, "version": ref.version, "mlflow_run_id": ref.run_id,
                "version_tags": ref.tags, "run_params": run.data.params, "run_metrics": run.data.metrics,
                "aliases_now": aliases}
    files["registry.json"] = _json(registry)
    for p in sorted(reg.work_path("revalidations").glob(f"v{ref.version}-*.json")):  # tunegate revalidate
        files[f"revalidations/{p.name}"] = p.read_bytes()
    run_dir = reg.work_path("runs", ref.tags.get("tunegate_run_id", "-"))
    for rel in ["quality.json"] + sorted(str(p.relative_to(run_dir)) for p in (run_dir / "data_docs").rglob("*")
                                         if p.is_file()):
        if (run_dir / rel).is_file():
            files[f"run/{rel}"] = (run_dir / rel).read_bytes()
    if not (run_dir / "data_docs").is_dir():
        absent["run/data_docs/"] = "the run folder no longer holds its Data Docs (purged or another machine)"
    entries = audit_entries(shared_path(reg, AUDIT_LOG), reg.model_name)
    check = verify_audit(shared_path(reg, AUDIT_LOG), audit_key(reg))
    files["audit.json"] = _json({
        "entries": [e for e in entries if _about(e, ref.version) and e.get("action") != MONITORED],
        "chain": {"entries": check.entries, "intact": check.ok, "problems": check.problems, "head": check.head,
                  "unchained": check.unchained, "dev_key_entries": check.dev_key}})
    files["monitoring.json"] = _json({"runs": [e for e in entries if e.get("action") == MONITORED
                                               and e.get("version") == ref.version]})
    return files, absent


def _json(obj) -> bytes:
    return json.dumps(obj, indent=2, sort_keys=True, default=str).encode()


def build_pack(reg: RegistryScope, version: int, out: Path) -> dict:
    """Write the signed pack of ``version`` to ``out`` (a new folder, or a ``.zip``); returns the manifest."""
    from tasks.refs import atomic_dir, atomic_file
    from tasks.registry.lock import publish_head
    from tasks.registry.versions import code_version

    out = Path(out)
    if out.exists() and (out.is_file() or any(out.iterdir())):
        raise InputError(f"{out} exists and is not empty; a pack goes to a new folder or .zip: choose another path.")
    key, source, dev = signing_key(reg)
    files, absent = collect(reg, version)
    publish_head(reg)
    registry, created = json.loads(files["registry.json"]), datetime.now(UTC).isoformat(timespec="seconds")
    files |= technical_file_of(files, reg.model_name, version, created)  # signed with the rest
    manifest = {"format": 1, "model": reg.model_name, "version": version,
                "created": created, "tunegate_code_version": code_version(),
                "files": {rel: sha256_hex(data) for rel, data in sorted(files.items())}, "absent": absent,
                "audit_head": json.loads(files["audit.json"])["chain"]["head"],
                "registration": registration(registry["version_tags"]),
                "signature": {"algorithm": "Ed25519", "public_key": public_hex(key), "key_source": source,
                              "dev_key": dev}}
    body = _json(manifest)
    files |= {MANIFEST: body, SIGNATURE: key.sign(body).hex().encode(), PUBLIC_KEY: public_hex(key).encode()}
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


def read_pack(pack: Path) -> dict[str, bytes]:
    """Every file of a pack (a folder or a .zip), by path."""
    pack = Path(pack)
    if pack.is_dir():
        return {str(p.relative_to(pack)): p.read_bytes() for p in sorted(pack.rglob("*")) if p.is_file()}
    if pack.is_file():
        try:
            with zipfile.ZipFile(io.BytesIO(pack.read_bytes())) as z:
                return {n: z.read(n) for n in z.namelist() if not n.endswith("/")}
        except zipfile.BadZipFile:
            raise InputError(f"{pack}: not a zip file or a pack folder.") from None
    raise InputError(f"{pack}: no such pack (a folder or .zip written by `tunegate evidence`).")


def command(args) -> tuple[list[str], int]:
    """``tunegate evidence``: (lines to print, exit code)."""
    action, path, config = args.action, args.path, args.config
    if action in ("verify", "keygen") and not path:
        raise InputError(f"tunegate evidence {action} needs a PATH.")
    if action == "keygen":
        return [f"wrote {path}; public key {write_key(Path(path))}; use it with: export {KEY_ENV}=$(cat {path}); "
                "trust it with: registry.evidence_public_keys or `evidence verify --public-key`"], 0
    from tasks.config import load_config

    if action == "verify":
        from tasks.governance.evidence_verify import verify_command

        return verify_command(Path(path), load_config(config).registry_scope if config else None, args.public_key or [],
                              args.trust_file, args.allow_dev_key, getattr(args, "require_coverage", None))
    if not (config and args.version and args.out):
        raise InputError("tunegate evidence needs --config, --version and --out (or: verify PACK, keygen PATH).")
    m = build_pack(load_config(config).registry_scope, args.version, Path(args.out))
    sig = m["signature"]
    return [f"wrote the evidence pack of {m['model']} v{m['version']} to {args.out}: {len(m['files'])} files, "
            f"signed by {sig['public_key'][:16]}… ({sig['key_source']})"], 0
