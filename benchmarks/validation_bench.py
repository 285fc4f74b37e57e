"""The validation's added cost: bootstrap intervals, McNemar, slices and pictures against the fine-tune's time.

    .venv/bin/python benchmarks/validation_bench.py [--run-dir .tunegate/runs/RUN] [--rows 240 748 5000]
                                                    [--resamples 1000] [--finetune-seconds 1185.7]

``validate_stored`` (tasks/evaluate/validate.py) is what the pipeline's ``validate_predictions`` task runs:
it reads the stored per-row outputs of the candidate, the champion and the TF-IDF baseline, draws the paired
bootstrap once, computes every interval, McNemar's test, the slices (each with its own intervals) and draws
three PNG pictures. No model is run, so its cost does not grow with the model.

- ``--run-dir``: a finished ``tunegate run``'s folder: validation timed on its own ``eval/`` files and
  ``split/test.parquet`` (``--slices``), against its fine-tune's time (``train_seconds`` + ``lr_search_seconds``
  of ``model/metrics.json``); the share is what the issue bounds at 15 %. It is re-done in a scratch copy.
- ``--rows``: synthetic stored outputs of that many test rows (8 classes, three models, a product slice of 8
  values and a channel slice of 4, plus the length bucket): the scaling, and CFPB's 748-row test split.
  ``--finetune-seconds`` gives a fine-tune time to compare them with (e.g. CFPB's, benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


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


def run_dir_part(run_dir: Path, slices: list[str], resamples: int, repeats: int) -> None:
    from tasks.validation import EvaluateConfig

    metrics = json.loads((run_dir / "model" / "metrics.json").read_text())
    test = run_dir / "split" / "test.parquet"
    if not test.is_file():
        sys.exit(f"{test}: no test split in this run folder (a cached split lives in an earlier run's folder)")
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp) / "eval"
        shutil.copytree(run_dir / "eval", scratch, ignore=shutil.ignore_patterns("*.png", "validation.json"))
        seconds, n = _time(str(test), EvaluateConfig(slices=slices, resamples=resamples), scratch, repeats)
    train = float(metrics.get("train_seconds", 0)) + float(metrics.get("lr_search_seconds", 0))
    share = f"{100 * seconds / train:.2f} % of the fine-tune's {train:.1f} s" if train else "fine-tune time unknown"
    print(f"run {run_dir.name}: validation {seconds:.2f} s ({n} slices, {resamples} resamples): {share}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run-dir", type=Path, help="a finished run's folder (.tunegate/runs/RUN)")
    ap.add_argument("--rows", type=int, nargs="*", default=[240, 748, 5000], help="synthetic test-split sizes")
    ap.add_argument("--slices", nargs="*", default=["product", "channel"], help="--run-dir: columns to slice by")
    ap.add_argument("--resamples", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3, help="best of this many timings")
    ap.add_argument("--finetune-seconds", type=float, help="a fine-tune's wall time to compare with")
    args = ap.parse_args()

    from tasks.validation import EvaluateConfig

    print(f"validation cost: bootstrap ({args.resamples} resamples) + McNemar + slices + 3 PNGs, best of "
          f"{args.repeats}")
    if args.run_dir:
        run_dir_part(args.run_dir, args.slices, args.resamples, args.repeats)
    cfg = EvaluateConfig(slices=["product", "channel"], resamples=args.resamples)
    for rows in args.rows:
        with tempfile.TemporaryDirectory() as tmp:
            test = _synthetic(Path(tmp), rows)
            seconds, slices = _time(str(test), cfg, Path(tmp) / "eval", args.repeats)
        share = f", {100 * seconds / args.finetune_seconds:.2f} % of {args.finetune_seconds:g} s" \
            if args.finetune_seconds else ""
        print(f"synthetic {rows} rows, 3 models, {slices} slices: {seconds:.2f} s{share}")


if __name__ == "__main__":
    main()
