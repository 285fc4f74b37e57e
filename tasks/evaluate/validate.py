"""Validation of one evaluation from its stored per-row outputs: intervals, McNemar, slices and pictures (with
``validate_model``'s calibration and robustness records where they lie beside them).

``validate_stored`` reads what the evaluate tasks wrote into the run's ``eval/`` folder (the candidate's,
champion's and baseline's ``*_rows.parquet``, all on the same test rows) and the test split's slice columns,
and returns a ``ValidationReport``; ``validation_lines`` says it in Markdown, for the Prefect artifact and the
model card. No model is run here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tasks.evaluate.plots import checks_plots, draw_validation
from tasks.evaluate.slices import slice_columns, slice_report
from tasks.evaluate.stats import RowScores, ValidationReport, align, read_rows, rows_path, validation_report
from tasks.validation import EvaluateConfig

EVAL_FILES = {"candidate": "eval.json", "champion": "champion_eval.json", "baseline": "baseline_eval.json"}
METRIC_NAMES = {"accuracy": "accuracy", "macro_f1": "macro-F1", "ece": "ECE", "rouge_l": "ROUGE-L",
                "perplexity": "perplexity"}


def stored_rows(eval_dir: Path) -> tuple[dict[str, RowScores], list[str]]:
    """(model -> its per-row outputs, notes): the candidate's, and the champion's and baseline's where stored on
    the same number of rows."""
    found = {m: read_rows(p) for m, f in EVAL_FILES.items() if (p := rows_path(Path(eval_dir) / f)).is_file()}
    n, notes = found["candidate"].n, []
    for m in [m for m, r in found.items() if r.n != n]:
        notes.append(f"{m}: scored on {found.pop(m).n} rows, not the candidate's {n}; not compared")
    return align(found), notes


def _test_frame(test_uri: str, names: list[str]):
    import pandas as pd
    import pyarrow.parquet as pq

    have = pq.read_schema(test_uri).names
    frame = pd.read_parquet(test_uri, columns=[c for c in dict.fromkeys(names + ["text"]) if c in have])
    # the text is read for its word count only; slices.NOT_SLICEABLE keeps it out of the slices
    words = (frame["text"].fillna("").astype(str).str.split().str.len().to_numpy() if "text" in frame
             else np.zeros(len(frame), dtype=int))
    return (frame.drop(columns=["text"]) if "text" in frame and "text" not in names else frame), words


def validate_stored(test_uri: str, cfg: EvaluateConfig, eval_dir: Path, metric: str = "macro_f1",
                    extra_plots: dict[str, dict] | None = None) -> ValidationReport:
    """The ValidationReport of the rows stored in ``eval_dir``, its pictures drawn there."""
    import json

    models, notes = stored_rows(eval_dir)
    report = validation_report(models, cfg.resamples, cfg.seed)
    frame, words = _test_frame(test_uri, cfg.slices)
    columns, slice_notes = slice_columns(frame, cfg.slices, words)
    slices = slice_report(models, columns, cfg.min_slice_rows, cfg.resamples, cfg.seed) if len(frame) else []
    report = report.model_copy(update={"slices": slices, "slice_notes": notes + slice_notes})
    cand = json.loads((Path(eval_dir) / EVAL_FILES["candidate"]).read_text())
    # validate_model's records beside the stored outputs: robustness drops, coverage curve, T for the reliability
    checks = {n: json.loads(p.read_text()) for n in ("calibration", "robustness")
              if (p := Path(eval_dir) / f"{n}.json").is_file()}
    plots = draw_validation(report, models, cand.get("confusion") or [], cand.get("labels") or [], metric,
                            Path(eval_dir), checks_plots(checks) | (extra_plots or {}),
                            (checks.get("calibration") or {}).get("temperature"))
    return report.model_copy(update={"plots": plots})


def _cell(report: ValidationReport, model: str, metric: str) -> str:
    i = report.intervals.get(model, {}).get(metric)
    return "–" if i is None else i.text()


def validation_lines(report: ValidationReport, metric: str | None = None, champion: str = "champion") -> list[str]:
    """Intervals, differences, McNemar, slices (by ``metric``; None: the first headline metric the candidate
    has) and the pictures' names, in Markdown (no text, no row ids)."""
    models = [m for m in ("candidate", "champion", "baseline") if m in report.intervals]
    names = {"candidate": "this version", "champion": champion, "baseline": "TF-IDF baseline"}
    metrics = [m for m in METRIC_NAMES if m in report.intervals.get("candidate", {})]
    metric = metric or next((m for m in ("macro_f1", "rouge_l", "perplexity") if m in metrics), "macro_f1")
    out = [f"95% intervals: paired bootstrap over the {report.n} test rows ({report.resamples} resamples, seed "
           f"{report.seed}); every model resampled on the same draws.", "",
           "| metric | " + " | ".join(names[m] for m in models) + " |", "|---" * (len(models) + 1) + "|"]
    out += [f"| {METRIC_NAMES[m]} | " + " | ".join(_cell(report, x, m) for x in models) + " |" for m in metrics]
    for other, diffs in report.differences.items():
        out += ["", f"Difference this version − {names[other]} (same rows): " + "; ".join(
            f"{METRIC_NAMES[m]} {d.text(signed=True)}" for m, d in diffs.items() if m in METRIC_NAMES) + "."]
    if report.mcnemar is not None:
        out += ["", report.mcnemar.text() + "."]
    if report.slices:
        out += ["", f"Slices ({METRIC_NAMES.get(metric, metric)}; gated: enough rows for promotion's slice check):",
                "", "| slice | rows | gated | " + " | ".join(names[m] for m in models) + " |",
                "|---" * (len(models) + 3) + "|"]
        out += [f"| {s.name} | {s.rows} | {'yes' if s.gated else 'no'} | " + " | ".join(
            "–" if (i := s.metrics.get(m, {}).get(metric)) is None else i.text() for m in models) + " |"
            for s in report.slices]
    out += ["", *[f"- {n}" for n in report.slice_notes]] if report.slice_notes else []
    if report.plots:
        out += ["", "Pictures (`eval/` of the run folder, the registered version and its evidence pack): "
                + ", ".join(f"`{p}`" for p in report.plots) + "."]
    return out


def validation_markdown(report: ValidationReport, eval_dir: Path, metric: str) -> str:
    """The Prefect artifact: the numbers, and links to the pictures in the run folder."""
    links = [f"- [{name}]({(Path(eval_dir) / name).resolve().as_uri()})" for name in report.plots]
    return "\n".join(["# Validation", "", *validation_lines(report, metric), "", "## Pictures", "",
                      *(links or ["none"])])
