"""The evaluate stage's Prefect boundary: its tasks, thin wrappers over the plain modules beside it."""

from __future__ import annotations

from pathlib import Path

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from tasks.evaluate.baseline import baseline_scored
from tasks.evaluate.metrics import EvalReport, scored_dir, summary_line
from tasks.evaluate.stats import ValidationReport, rows_path, write_rows
from tasks.refs import DatasetRef, SplitRef, atomic_file
from tasks.runtime import in_prefect_run
from tasks.validation import EvaluateConfig


@task(name="evaluate_model", task_run_name="evaluate-{role}")
def evaluate_model(model_dir: Path, test: DatasetRef, out: Path, role: str = "candidate") -> EvalReport:
    """Score ``model_dir`` on the scrubbed test split and write ``out`` (eval.json) and its per-row outputs
    beside it (``<stem>_rows.parquet``: label indices, confidence, probabilities; no text)."""
    log = get_run_logger()
    log.info("evaluating %s on %d test documents", role, test.rows)
    report, rows = scored_dir(Path(model_dir), test.uri, test.label_is_text)
    with atomic_file(rows_path(out)) as tmp:
        write_rows(tmp, rows)
    with atomic_file(out) as tmp:
        tmp.write_text(report.model_dump_json(indent=2), encoding="utf-8")
    log.info("%s: %s (n=%d)", role, summary_line(report), report.n)
    return report


@task(name="evaluate_baseline")
def evaluate_baseline(split: SplitRef, out: Path) -> EvalReport | None:
    """Fit the TF-IDF baseline on the training split, score it on the test split, write ``out``; None when
    the split has no class labels to learn."""
    log = get_run_logger()
    # a causal LM's free-text targets are no classes (and per-class metrics would be named by them)
    scored = None if split.train.label_is_text else baseline_scored(split.train.uri, split.test.uri, seed=split.seed)
    if scored is None:
        log.info("baseline: none (no class labels in the split)")
        return None
    report, rows = scored
    with atomic_file(rows_path(out)) as tmp:
        write_rows(tmp, rows)
    with atomic_file(out) as tmp:
        tmp.write_text(report.model_dump_json(indent=2), encoding="utf-8")
    log.info("TF-IDF baseline: %s (n=%d)", summary_line(report), report.n)
    return report


@task(name="membership_test")
def membership_test(model_dir: Path, split: SplitRef, out: Path) -> dict:
    """The memorisation test to ``out`` (membership.json): for a classifier the loss-threshold membership-inference
    test (training vs test rows), for a causal LM the exposure and extraction of its training canaries."""
    import json

    from tasks.evaluate import membership
    from tasks.predict.folder import read_train_config

    trained = read_train_config(Path(model_dir))
    if trained.get("task", "classification") != "classification":
        from tasks.evaluate import canaries
        from tasks.train.canaries import make_canaries

        planted = make_canaries(int(trained.get("canaries", 0)), int(trained.get("seed", 42)))
        result = canaries.canary_test(Path(model_dir), planted, seed=split.seed)
        if result["measured"]:
            get_run_logger().info("canaries: mean exposure %.2f bits (max %.2f of %.1f), %d of %d extracted, %.1f s",
                                  result["mean_exposure_bits"], result["max_exposure_bits"], result["space_bits"],
                                  result["extracted"], result["canaries"], result["seconds"])
    else:
        result = membership.membership_test(Path(model_dir), split.train.uri, split.test.uri, seed=split.seed)
        get_run_logger().info("membership inference: AUC %.3f (95%% %s) on %d training vs %d test rows, %.1f s",
                              result["auc"], result["auc_95"], result["train_rows"], result["test_rows"],
                              result["seconds"])
    with atomic_file(out) as tmp:
        tmp.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return result


@task(name="validate_predictions")
def validate_predictions(test: DatasetRef, cfg: EvaluateConfig, eval_dir: Path, metric: str = "macro_f1",
                         extra_plots: dict[str, dict] | None = None) -> ValidationReport:
    """Bootstrap intervals, McNemar and slices from the per-row outputs in ``eval_dir`` (never re-running a
    model); write validation.json and the PNG pictures there, and link them from a Prefect markdown artifact."""
    from tasks.evaluate.validate import validate_stored, validation_markdown

    log = get_run_logger()
    report = validate_stored(test.uri, cfg, Path(eval_dir), metric, extra_plots)
    with atomic_file(Path(eval_dir) / "validation.json") as tmp:
        tmp.write_text(report.model_dump_json(indent=2), encoding="utf-8")
    log.info("validation: %d bootstrap resamples, %d slices, pictures %s", report.resamples, len(report.slices),
             ", ".join(report.plots) or "none")
    for note in report.slice_notes:
        log.warning(note)
    if in_prefect_run():
        create_markdown_artifact(markdown=validation_markdown(report, Path(eval_dir), metric), key="validation",
                                 description="intervals, slices and pictures of this run's evaluation")
    return report


@task(name="calibrate_model")
def calibrate_model(model_dir: Path, split: SplitRef, evaluate: EvaluateConfig) -> dict | None:
    """Fit the temperature on the validation split and write it to ``model_dir``'s ``calibration.json``. Before
    ``evaluate_model``, so that the reported ECE is that of the scaled model; ``validate_model`` completes the
    record (curve, review threshold) after it. None for a causal LM."""
    from tasks.evaluate.checks import fit_calibration

    fitted = fit_calibration(Path(model_dir), split.val.uri if split.val else None, evaluate.calibrate)
    if fitted:
        get_run_logger().info("calibration: temperature %.3f (%s, %d rows, %.1f s)", fitted["temperature"],
                              fitted["how"], fitted["val_rows"], fitted["seconds"])
    return fitted


@task(name="validate_model")
def validate_model(model_dir: Path, split: SplitRef, evaluate: EvaluateConfig, out_dir: Path,
                   fitted: dict | None = None) -> dict:
    """Complete the calibration of ``model_dir`` (its ``calibration.json``: the temperature and review threshold
    predict serves) and run the robustness suite on the test split; ``calibration.json`` and ``robustness.json``
    to ``out_dir``. After ``calibrate_model`` (``fitted``) and ``evaluate_model``: the clean test split is the
    evaluation's stored per-row outputs in ``out_dir`` (``eval.json``'s), not scored again."""
    import json

    from tasks.evaluate.checks import model_checks
    from tasks.evaluate.stats import read_rows

    log = get_run_logger()
    rows = rows_path(Path(out_dir) / "eval.json")
    checks = model_checks(Path(model_dir), split.val.uri if split.val else None, split.test.uri, evaluate.calibrate,
                          evaluate.target_accuracy, split.seed, fitted=fitted,
                          evaluated=read_rows(rows) if fitted and rows.is_file() else None)
    cal, rob = checks["calibration"], checks["robustness"]
    if cal["measured"]:
        log.info("calibration: temperature %.3f (%s), ECE %.4f -> %.4f; review threshold %s", cal["temperature"],
                 cal["how"], cal["ece_before"], cal["ece_after"], cal["review_threshold"])
    if rob["measured"]:
        log.info("robustness: clean %s %.4f; drops %s (%.1f s)", rob["metric"], rob["clean"],
                 ", ".join(f"{k} {v['drop']:+.4f}" for k, v in rob["perturbations"].items()), rob["seconds"])
    for name, record in (("calibration.json", cal), ("robustness.json", rob)):
        with atomic_file(Path(out_dir) / name) as tmp:
            tmp.write_text(json.dumps(record, indent=2), encoding="utf-8")
    return {"calibration": cal, "robustness": rob}
