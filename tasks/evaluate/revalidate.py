"""Independent re-validation: recompute a registered version's numbers from its folder and check them.

``recorded_numbers`` reads what the version was registered with (``eval/eval.json``, ``eval/robustness.json``,
``eval/calibration.json``) as flat names; ``recompute`` scores the version's own weights on its recorded test
(and validation) split through the same code and returns the same names; ``compare`` checks each recorded
number against its recomputed value. **Tolerance**: 0.005 absolute for every metric and share (autocast in
bf16 on another CPU or GPU, or another thread count, moves a score by a few 1e-4), 2 % relative for the
temperature (a fit by a bounded 1-D search). A number the version recorded and the re-validation cannot
recompute (or the other way round) fails. ``weights_match`` checks each file of the model folder against the
training manifest (``model/manifest.json``, itself signed at registration: ``tasks/registry/signing.py``).
The registry side (which version, which split files, who validates, the audit entry) is
``tasks/governance/revalidation.py``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

ABS_TOLERANCE = 0.005
REL_TOLERANCE = {"calibration.temperature": 0.02}


def _read(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def flat_numbers(report: dict, robustness: dict, calibration: dict) -> dict[str, float]:
    """The checked numbers of an evaluation, its robustness suite and its calibration, by flat name."""
    out = {k: float(report[k]) for k in ("accuracy", "macro_f1", "ece", "rouge_l", "perplexity")
           if report.get(k) is not None}
    out |= {f"f1.{label}": float(s["f1"]) for label, s in (report.get("per_class") or {}).items()
            if s.get("support", 0) > 0}
    if robustness.get("measured"):
        out["robustness.clean"] = float(robustness["clean"])
        out |= {f"robustness.{k}": float(p["value"]) for k, p in robustness["perturbations"].items()}
    if calibration.get("measured"):
        out |= {f"calibration.{k}": float(calibration[k]) for k in ("temperature", "ece_before", "ece_after")}
        review = calibration.get("review") or {}
        if review.get("threshold") is not None:
            out["calibration.review_threshold"] = float(review["threshold"])
        if review:
            out["calibration.automation_rate"] = float(review["automation_rate"])
    return out


def recorded_numbers(version_dir: Path) -> dict[str, float]:
    """What the version was registered with."""
    d = Path(version_dir) / "eval"
    return flat_numbers(_read(d / "eval.json"), _read(d / "robustness.json"), _read(d / "calibration.json"))


def compare(recorded: dict[str, float], recomputed: dict[str, float]) -> list[dict]:
    """Each number, recorded against recomputed, within its tolerance; sorted by name."""
    out = []
    for name in sorted(set(recorded) | set(recomputed)):
        a, b = recorded.get(name), recomputed.get(name)
        rel = REL_TOLERANCE.get(name)
        tol = ABS_TOLERANCE if rel is None or a is None else rel * abs(a)
        ok = a is not None and b is not None and abs(a - b) <= tol + 1e-12
        out.append({"name": name, "recorded": a, "recomputed": b, "tolerance": round(tol, 6), "ok": ok})
    return out


def weights_match(model_dir: Path) -> list[str]:
    """The model folder's files that differ from (or are missing against) its training manifest."""
    listed = _read(Path(model_dir) / "manifest.json").get("files", {})
    if not listed:
        return ["model/manifest.json: missing or empty"]
    bad = []
    for rel, sha in sorted(listed.items()):
        p = Path(model_dir) / rel
        if not p.is_file() or hashlib.sha256(p.read_bytes()).hexdigest() != sha:
            bad.append(f"model/{rel}")
    return bad


def recompute(version_dir: Path, test_uri: str, val_uri: str | None) -> dict[str, float]:
    """The version's numbers recomputed by scoring its own weights on its recorded split, with the recorded
    seed (the temperature refitted on the validation split when the version's was fitted; nothing is written)."""
    from tasks.evaluate.calibration import calibrate
    from tasks.evaluate.metrics import evaluate_dir
    from tasks.evaluate.robustness import robustness_test

    model, ev = Path(version_dir) / "model", Path(version_dir) / "eval"
    recorded, rob, cal = _read(ev / "eval.json"), _read(ev / "robustness.json"), _read(ev / "calibration.json")
    # a causal LM trained on free text recorded no class metrics (evaluate_dir's label_is_text)
    report = evaluate_dir(model, test_uri, label_is_text=recorded.get("macro_f1") is None).model_dump(mode="json")
    if rob.get("measured"):
        rob = robustness_test(model, test_uri, seed=int(rob["seed"]))
    if cal.get("measured"):
        cal = calibrate(model, val_uri, test_uri, fit=cal["how"].startswith("fitted"),
                        target_accuracy=cal.get("target_accuracy"), write=False)
    return flat_numbers(report, rob, cal)
