"""The model card's robustness and calibration section, from ``validate_model``'s records (numbers only)."""

from __future__ import annotations

WHAT = {"char_noise_2": "character noise 2 %", "char_noise_5": "character noise 5 %",
        "ocr": "OCR confusions (rn/m, 0/O, 1/l)", "upper": "upper case", "first_half": "first half of each document",
        "pseudonym_swap": "pseudonym swap (another person of the same type)"}


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def robustness_lines(rob: dict | None) -> list[str]:
    if not rob:
        return []
    if not rob.get("measured"):
        return [f"Robustness: not measured ({rob['why']}).", ""]
    rows = [f"| {WHAT.get(k, k)} | {p['value']:.4f} | {p['drop']:+.4f} | {p['docs_changed']} |"
            for k, p in rob["perturbations"].items()]
    return [f"Robustness (seeded, seed {rob['seed']}, on the {rob['n']} test documents; drop = clean − perturbed, "
            f"clean {rob['metric']} {rob['clean']:.4f}). A large drop on the pseudonym swap would mean the model "
            "learned identities.", "", f"| perturbation | {rob['metric']} | drop | documents changed |",
            "| --- | --- | --- | --- |", *rows, ""]


def calibration_lines(cal: dict | None) -> list[str]:
    if not cal:
        return []
    if not cal.get("measured"):
        return [f"Calibration: not measured ({cal['why']}).", ""]
    out = [f"Calibration: temperature {cal['temperature']:.3f} ({cal['how']}, {cal['val_rows']} rows); ECE on the "
           f"test split {cal['ece_before']:.4f} before scaling, {cal['ece_after']:.4f} after. Predict serves the "
           "scaled model.", ""]
    review = cal.get("review")
    if review is None:
        return out + ["Review threshold: none (evaluate.target_accuracy is null): every prediction is automated.", ""]
    low, high = review["automation_rate_95"]
    if review["threshold"] is None:
        return out + [f"Review threshold: no confidence reaches accuracy {review['target_accuracy']:.3f} on the test "
                      "split: every document goes to review (`needs_review: true`).", ""]
    return out + [f"Review threshold: confidence {review['threshold']:.4f} for a target accuracy of "
                  f"{review['target_accuracy']:.3f}. **Automation rate {_pct(review['automation_rate'])}** (95 % "
                  f"Wilson {_pct(low)}–{_pct(high)}, {review['automated']} of {review['n']} test documents) at "
                  f"accuracy {review['accuracy_automated']:.4f}; the rest get `needs_review: true` in predict's "
                  "output.", ""]


def checks_section(checks: dict | None) -> list[str]:
    """The card's lines for ``checks`` (``{"calibration": …, "robustness": …}``); none without them."""
    if not checks:
        return []
    return ["## Robustness and calibration", "", *robustness_lines(checks.get("robustness")),
            *calibration_lines(checks.get("calibration"))]
