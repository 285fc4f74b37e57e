"""Pictures of a validation, as PNG files: confusion matrix, reliability diagram (before and after temperature
scaling), per-slice bars with intervals, robustness drops and the coverage-accuracy curve.

Drawn with matplotlib's object API on the Agg canvas (no display, no pyplot global state: safe in Prefect's
worker threads). Every picture is made from stored numbers (``stats.RowScores``, ``ValidationReport``);
nothing here runs a model. Class names and slice values are the only words drawn (slices.py caps them).

Hooks for more pictures: ``reliability_png`` takes a dict of named (confidence, correct) curves (e.g. before
and after temperature scaling) and ``curves_png`` a dict of named (x, y) lines (robustness drops, a
coverage-accuracy curve); ``draw_validation(extra=...)`` draws such dicts beside the standard pictures.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tasks.evaluate.stats import ECE_BINS, RowScores, ValidationReport


def _figure(width: float = 6.0, height: float = 4.5):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110, layout="constrained")
    return fig, fig.add_subplot()


def _save(fig, out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png")
    return out


def confusion_png(confusion: list[list[int]], labels: list[str], out: Path, title: str = "Confusion matrix") -> Path:
    """Counts, rows the true class and columns the predicted one; each cell's count written in it."""
    m = np.asarray(confusion, dtype=float)
    fig, ax = _figure(1.8 + 0.55 * len(labels), 1.4 + 0.5 * len(labels))
    ax.imshow(m / np.maximum(m.sum(axis=1, keepdims=True), 1), cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    for (i, j), v in np.ndenumerate(m):
        if v:
            ax.text(j, i, f"{int(v)}", ha="center", va="center", fontsize=8,
                    color="white" if v > 0.6 * m[i].sum() else "black")
    return _save(fig, out)


def reliability_png(curves: dict[str, tuple[np.ndarray, np.ndarray]], out: Path, bins: int = ECE_BINS) -> Path:
    """Accuracy against mean confidence per confidence bin, one line per named (confidence, correct) curve."""
    fig, ax = _figure()
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfectly calibrated")
    edges = np.linspace(0.0, 1.0, bins + 1)
    for name, (confidence, correct) in curves.items():
        conf, ok = np.asarray(confidence, dtype=float), np.asarray(correct, dtype=float)
        idx = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, bins - 1)
        count = np.bincount(idx, minlength=bins)
        has = count > 0
        mean_conf = np.bincount(idx, conf, bins)[has] / count[has]
        acc = np.bincount(idx, ok, bins)[has] / count[has]
        (line,) = ax.plot(mean_conf, acc, alpha=0.6, label=f"{name} (n={len(conf)})")
        ax.scatter(mean_conf, acc, s=8 + 150 * count[has] / count.max(), color=line.get_color())
    ax.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="confidence (marker area: rows in the bin)", ylabel="accuracy",
           title="Reliability diagram")
    ax.legend(loc="upper left", fontsize=8)
    return _save(fig, out)


def slices_png(report: ValidationReport, metric: str, out: Path) -> Path:
    """Each slice's ``metric`` with its 95% interval, one bar per model; ungated (small) slices hatched."""
    models = [m for m in ("candidate", "champion", "baseline") if any(m in s.metrics for s in report.slices)]
    names = [f"{s.name} (n={s.rows})" for s in report.slices]
    fig, ax = _figure(7.0, 1.5 + 0.35 * len(names) * max(len(models), 1))
    height = 0.8 / max(len(models), 1)
    for k, model in enumerate(models):
        y = np.arange(len(names)) + k * height
        got = [s.metrics.get(model, {}).get(metric) for s in report.slices]
        val = np.array([g.value if g else np.nan for g in got])
        err = np.array([[g.value - g.low, g.high - g.value] if g else [0, 0] for g in got]).T
        bars = ax.barh(y, val, height=height, xerr=err, capsize=2, label=model)
        for bar, s in zip(bars, report.slices):
            if not s.gated:
                bar.set_hatch("//")
    ax.set_yticks(np.arange(len(names)) + 0.4 - height / 2, names, fontsize=8)
    ax.invert_yaxis()
    ax.set(xlabel=f"{metric} (95% interval; hatched: too few rows to gate)", title=f"{metric} by slice")
    ax.legend(fontsize=8)
    return _save(fig, out)


def curves_png(curves: dict[str, tuple[np.ndarray, np.ndarray]], out: Path, xlabel: str, ylabel: str,
               title: str) -> Path:
    """Named (x, y) lines on one chart: the hook for robustness drops or a coverage-accuracy curve."""
    fig, ax = _figure()
    for name, (x, y) in curves.items():
        ax.plot(np.asarray(x), np.asarray(y), marker=".", label=name)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    if any(isinstance(v, str) for x, _ in curves.values() for v in x):  # named points: perturbations
        ax.tick_params(axis="x", labelrotation=30)
    ax.legend(fontsize=8)
    return _save(fig, out)


def checks_plots(checks: dict) -> dict[str, dict]:
    """``curves_png`` charts of ``validate_model``'s records (``{"calibration": …, "robustness": …}``): each
    perturbation's drop from the clean score, and the test split's coverage-accuracy curve."""
    out: dict[str, dict] = {}
    rob, cal = checks.get("robustness") or {}, checks.get("calibration") or {}
    if rob.get("measured") and rob.get("perturbations"):
        names = list(rob["perturbations"])
        out["robustness"] = {"curves": {f"{rob['metric']} drop": (names, [rob["perturbations"][n]["drop"]
                                                                         for n in names])},
                             "xlabel": "perturbation (seeded, test split)", "ylabel": "clean − perturbed",
                             "title": f"Robustness: drop from the clean {rob['metric']} {rob['clean']:.4f}"}
    if cal.get("measured") and cal.get("curve"):
        curve = {"scaled confidence": ([c["coverage"] for c in cal["curve"]], [c["accuracy"] for c in cal["curve"]])}
        if cal.get("target_accuracy") is not None:
            curve[f"target {cal['target_accuracy']:g}"] = ([0.0, 1.0], [cal["target_accuracy"]] * 2)
        out["coverage_accuracy"] = {"curves": curve, "xlabel": "coverage (share automated, most confident first)",
                                    "ylabel": "accuracy of the automated share", "title": "Coverage and accuracy"}
    return out


def _unscaled(r: RowScores, temperature: float) -> np.ndarray:
    """The confidence before temperature scaling, from the stored scaled probabilities: softmax(T · log p)."""
    z = temperature * np.log(np.clip(np.asarray(r.probs, dtype=np.float64), 1e-12, 1.0))
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True)).max(axis=1)


def draw_validation(report: ValidationReport, models: dict[str, RowScores], confusion: list[list[int]],
                    labels: list[str], metric: str, out_dir: Path,
                    extra: dict[str, dict] | None = None, temperature: float | None = None) -> list[str]:
    """The standard pictures (those the data allows) and each ``extra`` chart (file stem -> ``curves_png``
    keyword arguments), into ``out_dir``; their file names. With a fitted ``temperature`` (not 1) the reliability
    diagram also shows the candidate before scaling."""
    out_dir = Path(out_dir)
    made = []
    if confusion and labels:
        made.append(confusion_png(confusion, labels, out_dir / "confusion_matrix.png", "Confusion matrix (candidate)"))
    curves = {name: (r.confidence, r.true == r.pred) for name, r in models.items()
              if r.true is not None and r.confidence is not None}
    cand = models.get("candidate")
    if cand is not None and "candidate" in curves and temperature and abs(temperature - 1.0) > 1e-6 and \
            cand.probs is not None and cand.probs.shape[1] == len(cand.labels):
        curves = {f"candidate before scaling (T={temperature:.2f})": (_unscaled(cand, temperature),
                                                                       curves["candidate"][1]), **curves}
    if curves:
        made.append(reliability_png(curves, out_dir / "reliability.png"))
    if report.slices and any(metric in m for s in report.slices for m in s.metrics.values()):
        made.append(slices_png(report, metric, out_dir / "slices.png"))
    for stem, kwargs in (extra or {}).items():
        made.append(curves_png(out=out_dir / f"{stem}.png", **kwargs))
    return [p.name for p in made]
