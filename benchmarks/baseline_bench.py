"""The baseline challenger alone: how strong is the bar a fine-tuned model must clear, and how fast is it?

    .venv/bin/python benchmarks/baseline_bench.py [--seeds 0 1 2] [--rows 1200]

On the sample corpus (``--rows`` notes, the example's seed) and on the CFPB complaints (skipped when
``../shared/data/cfpb/`` is absent), for each seed: tunegate's own stratified split (``split_frame`` with the
example's fractions, raw text: the baseline does not depend on the scrub), then ``baseline_report``
(TF-IDF word 1–2-grams + logistic regression, balanced class weights) fitted on the training part and
scored on the test part. Prints macro-F1, accuracy and fit-and-score seconds per seed. The fine-tuned
model's figures on the same split come from ``pipeline_bench.py`` (which fits the same baseline in the same
run); this script shows how much the bar moves from split to split.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CFPB = ROOT.parent / "shared" / "data" / "cfpb" / "complaints.csv"


def measure(df, seeds: list[int]) -> list[dict]:
    from tasks.config import load_config
    from tasks.evaluate.baseline import baseline_report
    from tasks.train.split import split_frame

    split = load_config(ROOT / "examples" / "claims.yaml").split
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            parts = split_frame(df, split.test_fraction, split.val_fraction, seed)
            parts["train"].to_parquet(Path(tmp) / "train.parquet")
            parts["test"].to_parquet(Path(tmp) / "test.parquet")
            t = time.perf_counter()
            r = baseline_report(str(Path(tmp) / "train.parquet"), str(Path(tmp) / "test.parquet"), seed=seed)
            out.append({"seed": seed, "train": len(parts["train"]), "test": r.n, "macro_f1": round(r.macro_f1, 4),
                        "accuracy": round(r.accuracy, 4), "seconds": round(time.perf_counter() - t, 2)})
    return out


def main() -> int:
    import pandas as pd

    from tasks.ingest.sample_data import write_sample

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--rows", type=int, default=1200)
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    figures = {}
    with tempfile.TemporaryDirectory() as tmp:
        sample = pd.read_json(write_sample(Path(tmp) / "claims.jsonl", rows=args.rows, seed=7), lines=True)
    figures["sample"] = measure(sample[["id", "text", "label"]], args.seeds)
    if CFPB.is_file():
        figures["cfpb"] = measure(pd.read_csv(CFPB, usecols=["id", "text", "label"]), args.seeds)
    else:
        print(f"cfpb: skipped ({CFPB} absent)")
    for name, rows in figures.items():
        for r in rows:
            print(f"{name:6} seed {r['seed']}: TF-IDF baseline macro-F1 {r['macro_f1']:.3f}, accuracy "
                  f"{r['accuracy']:.3f} ({r['train']} train / {r['test']} test rows, {r['seconds']} s)")
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
