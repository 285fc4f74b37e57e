"""The validation's added cost: calibration, the robustness suite, bootstrap intervals, McNemar, slices and
pictures, against the fine-tune's wall time.

    .venv/bin/python benchmarks/validation_bench.py [--run-dir .tunegate/runs/RUN] [--rows 240 748 5000]
                                                    [--resamples 1000] [--finetune-seconds 1185.7]
                                                    [--cfpb PATH] [--cfpb-max-length 256] [--skip-model]

Two parts of the evaluation are new with the validation (P15):

- **with the model** (``calibrate_model`` and ``validate_model`` → ``tasks/evaluate/checks.py``): the validation
  split scored and T fitted before the candidate's evaluation; after it, the coverage-accuracy curve and the
  review threshold from the evaluation's stored outputs (the clean test split is not scored again), and
  ``robustness_test`` scoring each perturbation (six) once, only the documents whose token ids it changed, in
  the predict path's length-sorted batches;
- **on stored outputs** (``validate_predictions`` → ``validate_stored``): reads the per-row outputs of the
  candidate, the champion and the TF-IDF baseline, draws the paired bootstrap once, computes every interval,
  McNemar's test, the slices (each with its own intervals) and draws the pictures. No model is run.

- ``--run-dir``: a finished ``tunegate run``'s folder. Both parts are re-timed on its model (``model/``), its
  ``split/`` and its ``eval/`` files, against its fine-tune's time (``train_seconds`` + ``lr_search_seconds``
  of ``model/metrics.json``, the same run); the seconds the run itself recorded in ``eval/calibration.json``
  and ``eval/robustness.json`` are printed beside them. The share is what the issue bounds at 15 %.
  Calibration is re-done without writing (``write=False``); stored outputs in a scratch copy.
- ``--cfpb``: the CFPB complaints (``../shared/data/cfpb/complaints.csv``; skipped when absent) at CFPB's split
  sizes (seeded: 748 test and 374 validation rows of the 3,742), scored by ``--run-dir``'s model at
  ``--cfpb-max-length`` tokens (CFPB's models use 256): the model-part cost at CFPB size without a CFPB
  fine-tune (~20 min on 2 cores). Labels are renamed one-to-one onto the model's classes so that every row is
  scored as in a real run; the metric values are then meaningless and not printed, only the seconds.
  Added to the stored-output part at 748 rows (``--rows``) and compared with ``--finetune-seconds``.
  ``--cfpb-rows N`` scores N test and N/2 validation rows and scales the seconds to the full split (on a loaded
  machine the full split takes most of an hour); ``--skip-run-dir`` skips re-timing the run folder itself.
- ``--rows``: synthetic stored outputs of that many test rows (8 classes, three models, a product slice of 8
  values and a channel slice of 4, plus the length bucket): the scaling, and CFPB's 748-row test split.
  ``--finetune-seconds`` gives a fine-tune time to compare them with (e.g. CFPB's, benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CFPB = ROOT.parent / "shared" / "data" / "cfpb" / "complaints.csv"


def _synthetic(folder: Path, rows: int, seed: int = 0) -> Path:
    import numpy as np
    import pandas as pd

    from tasks.evaluate.metrics import compute_metrics
    from tasks.evaluate.stats import RowScores, rows_path, write_rows

    rng = np.random.default_rng(seed)
    labels = [f"class_{i}" for i in range(8)]
    gold = [labels[i] for i in rng.integers(0, 8, rows)]
    (folder / "eval").mkdir(parents=True)
    for name, skill in (("eval.json", 0.9), ("champion_eval.json", 0.85), ("baseline_eval.json", 0.8)):
        pred = [g if rng.random() < skill else labels[rng.integers(0, 8)] for g in gold]
        conf = rng.uniform(0.4, 1.0, rows)
        report = compute_metrics(gold, pred, conf, labels)
        (folder / "eval" / name).write_text(report.model_dump_json())
        write_rows(rows_path(folder / "eval" / name), RowScores.of_classes(report.labels, gold, pred, conf))
    words = rng.integers(5, 400, rows)
    pd.DataFrame({"id": [str(i) for i in range(rows)], "text": ["w " * int(n) for n in words], "label": gold,
                  "product": [f"P{i}" for i in rng.integers(0, 8, rows)],
                  "channel": [f"C{i}" for i in rng.integers(0, 4, rows)]}).to_parquet(folder / "test.parquet")
    return folder / "test.parquet"


def _time(test_uri: str, cfg, eval_dir: Path, repeats: int) -> tuple[float, int]:
    from tasks.evaluate.validate import validate_stored

    best, slices = float("inf"), 0
    for _ in range(repeats):
        t = time.perf_counter()
        report = validate_stored(test_uri, cfg, eval_dir)
        best, slices = min(best, time.perf_counter() - t), len(report.slices)
    return best, slices


def model_part(model_dir: Path, val: Path | None, test: Path, seed: int = 0) -> dict[str, float]:
    """Seconds of what the pipeline adds with the model, in its order: ``fit_calibration`` (the validation
    split scored, T fitted), then, after the candidate's evaluation (not timed: it scored the test split before
    the validation existed, and its outputs are what the checks reuse), ``model_checks`` on those outputs (the
    curve and review threshold, the robustness suite scoring each perturbation's changed documents). The model
    folder is a scratch copy: the real one's ``calibration.json`` is not touched. After one warm-up load of the
    model: the pipeline's evaluation pays those imports whether or not the checks run."""
    from tasks.evaluate.checks import fit_calibration, model_checks
    from tasks.evaluate.metrics import scored_dir
    from tasks.predict.classify import load_model

    load_model(model_dir)  # the imports, paid by the evaluation in the pipeline's process either way
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp) / "model"
        shutil.copytree(model_dir, scratch)
        t = time.perf_counter()
        fitted = fit_calibration(scratch, str(val) if val else None)
        fit_s = time.perf_counter() - t
        _, rows = scored_dir(scratch, str(test))  # the evaluation (also pays the imports the pipeline has paid)
        t = time.perf_counter()
        checks = model_checks(scratch, str(val) if val else None, str(test), True, 0.98, seed, write=False,
                              fitted=fitted, evaluated=rows)
        seconds = fit_s + time.perf_counter() - t
    rob = checks["robustness"]
    return {"seconds": seconds, "rows": rob.get("n", 0),
            "scored": sum(p["docs_scored"] for p in rob.get("perturbations", {}).values())}


def _share(seconds: float, train: float) -> str:
    return f"{100 * seconds / train:.1f} % of the fine-tune's {train:.1f} s" if train else "fine-tune time unknown"


def run_dir_part(run_dir: Path, slices: list[str], resamples: int, repeats: int, skip_model: bool) -> float:
    """Both parts on a finished run's folder; returns its fine-tune seconds."""
    from tasks.validation import EvaluateConfig

    metrics = json.loads((run_dir / "model" / "metrics.json").read_text())
    test, val = run_dir / "split" / "test.parquet", run_dir / "split" / "val.parquet"
    if not test.is_file():
        sys.exit(f"{test}: no test split in this run folder (a cached split lives in an earlier run's folder)")
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp) / "eval"
        # calibration.json and robustness.json stay: the robustness and coverage pictures are drawn from them
        shutil.copytree(run_dir / "eval", scratch, ignore=shutil.ignore_patterns("*.png", "validation.json"))
        seconds, n = _time(str(test), EvaluateConfig(slices=slices, resamples=resamples), scratch, repeats)
    train = float(metrics.get("train_seconds", 0)) + float(metrics.get("lr_search_seconds", 0))
    print(f"run {run_dir.name}: stored outputs {seconds:.2f} s ({n} slices, {resamples} resamples)")
    recorded = {name: json.loads(p.read_text()).get("seconds") for name in ("calibration", "robustness")
                if (p := run_dir / "eval" / f"{name}.json").is_file()}
    if recorded:
        print("  recorded by the run itself: " + ", ".join(f"{k} {v:.1f} s" for k, v in recorded.items() if v))
    if skip_model:
        print(f"  total (stored outputs only): {_share(seconds, train)}")
        return train
    m = model_part(run_dir / "model", val if val.is_file() else None, test)
    total = seconds + m["seconds"]
    print(f"  calibration + robustness {m['seconds']:.1f} s ({m['rows']} clean test rows from the evaluation's "
          f"outputs, {m['scored']} perturbed documents scored of {6 * m['rows']})\n"
          f"  added evaluation {total:.1f} s: {_share(total, train)}")
    if recorded.get("calibration") and recorded.get("robustness"):
        ran = seconds + recorded["calibration"] + recorded["robustness"]
        print(f"  with the run's own recorded seconds: {ran:.1f} s: {_share(ran, train)}")
    return train


def cfpb_part(csv: Path, model_dir: Path, max_length: int, stored_seconds: float, finetune: float | None,
              rows: int | None = None, seed: int = 0) -> None:
    """The model part at CFPB's split sizes on real complaints, scored by ``model_dir`` at ``max_length``;
    ``rows``: only that many test rows (and half as many validation rows), the seconds scaled to the full sizes
    (scoring is linear in the documents)."""
    import pandas as pd

    from tasks.predict.folder import read_train_config

    df = pd.read_csv(csv, usecols=["text", "label", "product"]).dropna(subset=["text", "label"])
    df = df.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    n_test, n_val = round(0.2 * len(df)), round(0.1 * len(df))
    names = sorted(json.loads((model_dir / "label_map.json").read_text())["labels"])
    theirs = sorted(df["label"].unique())
    df["label"] = df["label"].map({c: names[i % len(names)] for i, c in enumerate(theirs)})
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "model"
        shutil.copytree(model_dir, model)
        config = read_train_config(model) | {"max_length": max_length}
        (model / "train_config.json").write_text(json.dumps(config))
        take_test, take_val = (min(rows, n_test), min(rows // 2, n_val)) if rows else (n_test, n_val)
        df.iloc[:take_test].to_parquet(Path(tmp) / "test.parquet")
        df.iloc[n_test:n_test + take_val].to_parquet(Path(tmp) / "val.parquet")
        m = model_part(model, Path(tmp) / "val.parquet", Path(tmp) / "test.parquet", seed)
    if take_test < n_test:
        scale = n_test / take_test
        print(f"CFPB sample of {take_test} test / {take_val} validation rows: {m['seconds']:.1f} s ({m['scored']} of "
              f"{6 * m['rows']} perturbed scored); scaled x{scale:.2f} to the full split")
        m = {**m, "seconds": m["seconds"] * scale, "scored": round(m["scored"] * scale), "rows": n_test}
    total = stored_seconds + m["seconds"]
    print(f"CFPB, {n_test} test / {n_val} validation complaints at {max_length} tokens: calibration + robustness "
          f"{m['seconds']:.1f} s ({m['scored']} of {6 * m['rows']} perturbed scored); with the stored-output part at "
          f"{n_test} rows ({stored_seconds:.2f} s): {total:.1f} s"
          + (f", {100 * total / finetune:.1f} % of {finetune:g} s" if finetune else ""))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run-dir", type=Path, help="a finished run's folder (.tunegate/runs/RUN)")
    ap.add_argument("--rows", type=int, nargs="*", default=[240, 748, 5000], help="synthetic test-split sizes")
    ap.add_argument("--slices", nargs="*", default=["product", "channel"], help="--run-dir: columns to slice by")
    ap.add_argument("--resamples", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3, help="best of this many timings")
    ap.add_argument("--finetune-seconds", type=float, help="a fine-tune's wall time to compare with")
    ap.add_argument("--cfpb", type=Path, nargs="?", const=CFPB, help=f"CFPB's complaints (default {CFPB})")
    ap.add_argument("--cfpb-max-length", type=int, default=256, help="--cfpb: tokens per complaint")
    ap.add_argument("--skip-model", action="store_true", help="--run-dir: the stored-output part only")
    ap.add_argument("--cfpb-rows", type=int, help="--cfpb: score only this many test rows, scaled to the full split")
    ap.add_argument("--skip-run-dir", action="store_true", help="--run-dir: its model for --cfpb only, no timing")
    args = ap.parse_args()

    from tasks.validation import EvaluateConfig

    print(f"validation cost: calibration + robustness (the model), bootstrap ({args.resamples} resamples) + "
          f"McNemar + slices + PNGs (stored outputs, best of {args.repeats}); {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f}")
    if args.run_dir and not args.skip_run_dir:
        run_dir_part(args.run_dir, args.slices, args.resamples, args.repeats, args.skip_model)
    cfg = EvaluateConfig(slices=["product", "channel"], resamples=args.resamples)
    stored: dict[int, float] = {}
    for rows in sorted(set(args.rows + ([748] if args.cfpb else []))):
        with tempfile.TemporaryDirectory() as tmp:
            test = _synthetic(Path(tmp), rows)
            stored[rows], slices = _time(str(test), cfg, Path(tmp) / "eval", args.repeats)
        share = f", {100 * stored[rows] / args.finetune_seconds:.2f} % of {args.finetune_seconds:g} s" \
            if args.finetune_seconds else ""
        print(f"synthetic {rows} rows, 3 models, {slices} slices: {stored[rows]:.2f} s{share}")
    if args.cfpb:
        if not args.cfpb.is_file():
            print(f"CFPB: skipped, {args.cfpb} is absent")
        elif not args.run_dir:
            print("CFPB: skipped, it needs --run-dir's model to score with")
        else:
            cfpb_part(args.cfpb, args.run_dir / "model", args.cfpb_max_length, stored[748], args.finetune_seconds,
                      args.cfpb_rows)


if __name__ == "__main__":
    main()
