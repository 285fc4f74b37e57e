"""``tunegate revalidate --config C --version N``: someone who did not train a version reproduces its numbers.

In its own process, from the registry alone: the version's artifacts are downloaded afresh into a temporary
folder (never the run folder, nor the registry cache a run or predict filled), every file the registration
signed (``tasks/registry/signing.py``: evaluation, robustness and calibration records, the training manifest
that lists the weights' digests) is checked against the signed digests, the weights against the training
manifest, and the recorded test and validation splits are found in the work folder by their recorded digests.
The numbers are then recomputed through the same code and compared with the recorded ones within the tolerance
stated in ``tasks/evaluate/revalidate.py``.

Who validates: ``--validator`` or, without it, the OS account running the command. Who started the version's run:
the starter the approval recorded (a deployment's retrain), else the account that registered it (the decision's
audit entry). With ``promotion.four_eyes`` the two must be different people (``policy.same_person``), or the
re-validation is refused (``ValidatorNotIndependent``) and the refusal audited. As with approvals on a server
without identities, a typed name catches a mistake, not a determined person; the audit entry says which source.
The result is audited (``revalidate``, with the version: it joins the version's evidence pack's ``audit.json``)
and written to ``<work_dir>/revalidations/vN-<time>.json``, which the evidence pack carries too.
"""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from tasks.audit import APPROVAL, audit, read_audit
from tasks.config import RegistryScope
from tasks.errors import IdentityRequired, ValidatorNotIndependent
from tasks.governance import policy

REVALIDATE, REFUSED = "revalidate", "revalidate.refused"
DECISIONS = {"promote", "reject", "pending_approval", "lost_race"}  # the registration's audit entry


def decide_validator(validator: str | None, starter: str | None, four_eyes: bool) -> str | None:
    """None when ``validator`` may re-validate a run ``starter`` started, else why not."""
    if not policy.identity(validator):
        return "the validator's name is empty once case, spaces and zero-width characters are folded"
    if four_eyes and policy.same_person(validator, starter):
        return (f"promotion.four_eyes: '{policy.clean_name(validator)}' started the version's run; another person "
                "re-validates it")
    return None


def run_starter(entries: list[dict], model: str, version: int) -> str | None:
    """Who started the run that registered ``version``: its approval's ``started_by``, else the account that
    wrote its decision entry (``user@host``: the host folds away in ``policy.identity``)."""
    mine = [e for e in entries if e.get("model") == model and e.get("version") == version]
    started = [e["started_by"] for e in mine if e.get("action") == APPROVAL and e.get("started_by")]
    decided = [e.get("actor") for e in mine if e.get("action") in DECISIONS]
    return (started or decided or [None])[0]


def find_part(work: Path, part: dict | None) -> Path | None:
    """The split file with the recorded digest: the recorded path first, else any run's split of that digest."""
    from tasks.datasets import parquet_sha256

    if not part:
        return None
    hint = [Path(part["uri"])] if part.get("uri") else []
    for p in hint + sorted(work.glob("runs/*/split/*.parquet")):
        if p.is_file() and parquet_sha256(p) == part["sha256"]:
            return p
    return None


def signed_mismatches(folder: Path, manifest: str | None) -> list[str]:
    """The files the registration signed whose bytes now differ (or are gone)."""
    from tasks.registry.signing import sha256_hex

    if not manifest:
        return ["no signed registration manifest (registered by an older tunegate)"]
    files = json.loads(manifest)["files"]
    return [rel for rel, sha in sorted(files.items()) if not (folder / rel.removeprefix("version/")).is_file()
            or sha256_hex((folder / rel.removeprefix("version/")).read_bytes()) != sha]


def revalidate(reg: RegistryScope, four_eyes: bool, version: int, validator: str | None) -> dict:
    """Re-validate ``version``; the audited result (``passed``, each number, each problem)."""
    from tasks.evaluate.revalidate import compare, recompute, recorded_numbers, weights_match
    from tasks.governance.rollback import os_identity
    from tasks.registry.signing import TAG_MANIFEST
    from tasks.registry.versions import _resolve, client_for, code_version

    source = "--validator" if validator else "os account"
    validator = validator if validator else os_identity()
    starter = run_starter(read_audit(reg, skip_damaged=True), reg.model_name, version)
    why = decide_validator(validator, starter, four_eyes)
    if why:
        audit(reg, REFUSED, version=version, validator=validator, validator_source=source, started_by=starter, why=why)
        raise (ValidatorNotIndependent if policy.identity(validator) else IdentityRequired)(f"v{version}: {why}.")
    client = client_for(reg)
    mv = _resolve(reg, client, version)
    with tempfile.TemporaryDirectory(prefix="tunegate-revalidate-") as tmp:
        folder = Path(client.download_artifacts(mv.run_id, "", tmp))
        lineage = json.loads((folder / "lineage.json").read_text())
        problems = [f"{rel}: differs from the signed registration" for rel in
                    signed_mismatches(folder, (mv.tags or {}).get(TAG_MANIFEST))]
        problems += [f"{rel}: differs from the training manifest" for rel in weights_match(folder / "model")]
        split = lineage.get("split", {})
        test, val = find_part(reg.work_path(), split.get("test")), find_part(reg.work_path(), split.get("val"))
        if test is None:
            problems.append("the recorded test split (by its digest) is in no run folder of the work folder")
            checks = []
        else:
            checks = compare(recorded_numbers(folder), recompute(folder, str(test), str(val) if val else None))
    failed = [c["name"] for c in checks if not c["ok"]]
    result = {"model": reg.model_name, "version": version, "passed": not problems and not failed and bool(checks),
              "validator": validator, "validator_source": source, "started_by": starter, "four_eyes": four_eyes,
              "checked": len(checks), "failed": failed, "problems": problems, "numbers": checks,
              "test_sha256": (split.get("test") or {}).get("sha256"), "code_version_registered":
              lineage.get("code_version"), "code_version_now": code_version(),
              "at": datetime.now(UTC).isoformat(timespec="seconds")}
    out = reg.work_path("revalidations", f"v{version}-{result['at'].replace(':', '')}.json")
    from tasks.refs import atomic_file

    with atomic_file(out) as t:
        t.write_text(json.dumps(result, indent=2))
    audit(reg, REVALIDATE, version=version, passed=result["passed"], validator=validator, validator_source=source,
          started_by=starter, checked=len(checks), failed=failed, problems=problems, record=out.name)
    return result


def lines(result: dict) -> list[str]:
    """``tunegate revalidate``'s report: the verdict, then each number that failed and each problem."""
    head = (f"v{result['version']} of {result['model']}: re-validation {'PASSED' if result['passed'] else 'FAILED'}"
            f" — {result['checked'] - len(result['failed'])} of {result['checked']} numbers reproduced within "
            f"tolerance; validator {result['validator']} ({result['validator_source']}); code "
            f"{result['code_version_now']} (registered with {result['code_version_registered']})")
    bad = [f"  - {c['name']}: recorded {c['recorded']}, recomputed {c['recomputed']} (tolerance {c['tolerance']})"
           for c in result["numbers"] if not c["ok"]]
    return [head, *bad, *(f"  - {p}" for p in result["problems"])]


def command(args) -> tuple[list[str], int]:
    """``tunegate revalidate``: (report lines, exit code: 0 passed, ``RevalidationFailed.exit_code`` otherwise)."""
    from tasks.config import load_config
    from tasks.errors import RevalidationFailed

    cfg = load_config(args.config)
    result = revalidate(cfg.registry_scope, cfg.promotion.four_eyes, int(args.version), args.validator)
    return lines(result), 0 if result["passed"] else RevalidationFailed.exit_code
