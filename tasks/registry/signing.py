"""What a version's registration signs: the digests of its evidence files, kept in the registry as version tags.

At registration (``register_version``) the SHA-256 of each evidence file in the version's layout is signed with
the evidence key (``tasks/keys.py``) and stored as version tags (``evidence_manifest``, its
``evidence_manifest_sha256``, the signature and the public key), so that an evidence pack made later
(``tasks/governance/evidence.py``) is checked against what was signed then. The model card is not among them:
it is rewritten after the decision and by rollbacks.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

from tasks.keys import public_hex

# Registry artifacts a pack carries (never model/ weights or reference/ rows).
VERSION_FILES = ["model_card.md", "config.json", "lineage.json", "quality.json", "pii_evidence.json",
                 "memorisation.json", "trained_ids.json", "eval/eval.json", "eval/champion_eval.json",
                 "eval/baseline_eval.json", "eval/validation.json", "eval/confusion_matrix.png", "eval/reliability.png",
                 "eval/slices.png", "eval/robustness.png", "eval/coverage_accuracy.png", "eval/robustness.json",
                 "eval/calibration.json", "model/calibration.json",
                 "envelope.json", "compute.json", "sbom.json",
                 "model/metrics.json", "model/train_config.json", "model/label_map.json", "model/manifest.json"]
# Signed at registration: all but the model card (rewritten after the decision and by rollbacks).
REGISTERED_FILES = [f for f in VERSION_FILES if f != "model_card.md"]
TAG_MANIFEST, TAG_SHA, TAG_SIG, TAG_KEY, TAG_DEV = ("evidence_manifest", "evidence_manifest_sha256",
                                                    "evidence_signature", "evidence_public_key", "evidence_dev_key")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def registration_tags(signer, artifacts: Path, model: str, run_id: str) -> dict[str, str]:
    """The version tags that sign, at registration, the digests of the evidence files in ``artifacts``
    (the version's layout); ``signer`` is ``signing_key(cfg)``."""
    key, _, dev = signer
    files = {f"version/{rel}": sha256_hex((artifacts / rel).read_bytes()) for rel in REGISTERED_FILES
             if (artifacts / rel).is_file()}
    body = json.dumps({"format": 1, "model": model, "mlflow_run_id": run_id, "files": files,
                       "signed": datetime.now(UTC).isoformat(timespec="seconds"), "dev_key": dev},
                      sort_keys=True, separators=(",", ":")).encode()
    return {TAG_MANIFEST: body.decode(), TAG_SHA: sha256_hex(body), TAG_SIG: key.sign(body).hex(),
            TAG_KEY: public_hex(key), TAG_DEV: str(dev).lower()}


def registration(tags: dict[str, str]) -> dict | None:
    """The version's registration manifest and signature, from its tags (None: registered by older tunegate)."""
    if TAG_SHA not in tags:
        return None
    return {"manifest": tags.get(TAG_MANIFEST), "sha256": tags.get(TAG_SHA), "signature": tags.get(TAG_SIG),
            "public_key": tags.get(TAG_KEY), "dev_key": tags.get(TAG_DEV) == "true"}
