"""Does fine-tuning earn its place? tunegate's model vs the TF-IDF baseline, default settings vs fixed ones.

    .venv/bin/python benchmarks/quality_bench.py                       # the sample corpus (1,200 documents)
    .venv/bin/python benchmarks/quality_bench.py --cfpb --seeds 0 1 2  # also ../shared/data/cfpb/ (skipped if absent)

Each corpus runs the whole training pipeline (ingest, gate, scrub, split, fine-tune, evaluate, register) in
one work folder per arm, so every arm tests on the same split of the same scrubbed rows, and each run also
fits the TF-IDF + logistic-regression baseline on that split (tasks/evaluate/baseline.py). Arms:

- ``default``: the config with no learning rate, epochs or max length (``auto``: tasks/train/autotune.py);
- ``fixed``: the settings used before ``auto`` existed (the sample corpus: the example's lr 2e-3, 2 epochs,
  128 tokens; CFPB: lr 5e-4, 3 epochs, 256 tokens, the settings its README row was measured with);
- ``full`` (``--full``): ``default`` with ``method: full`` (every weight trained), to compare with LoRA.

Per run: macro-F1 and accuracy of the model and of the baseline, the fine-tune task's wall time, what auto
chose and what the learning-rate search cost, and whether the model collapsed (predicts one class only).
Targets (issue 15): CFPB macro-F1 ≥ baseline + 0.05 with default settings and no collapse on 3 seeds; the
sample corpus ≥ 0.95; fine-tune wall time with the search ≤ 1.5× the fixed-setting run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pipeline_bench import CFPB, cfpb_config, run_once, sample_config  # noqa: E402 - sets the benchmark env first

FIXED = {"sample": {"learning_rate": 2e-3, "epochs": 2, "max_length": 128},
         "cfpb": {"learning_rate": 5e-4, "epochs": 3, "max_length": 256}}
AUTO = {"learning_rate": "auto", "epochs": "auto", "max_length": "auto"}


def arm_config(corpus: str, arm: str, seed: int, work: Path, rows: int, truncation: str | None = None):
    cfg = (sample_config(work, rows, None) if corpus == "sample" else cfpb_config(work, None))
    update = {**(FIXED[corpus] if arm == "fixed" else AUTO), "seed": seed}
    if truncation and arm != "fixed":  # fixed: the settings before auto, head truncation
        update["truncation"] = truncation
    if arm == "full":
        update["method"] = "full"
    return cfg.model_copy(update={"name": f"quality-{corpus}-{arm}-{uuid.uuid4().hex[:6]}",
                                  "train": cfg.train.model_copy(update=update)})


def model_facts(cfg, mlflow_run_id: str) -> dict:
    """What the registered version's training chose and cost (its MLflow run's train_* metrics)."""
    from tasks.registry.versions import client_for

    m = client_for(cfg.registry_scope).get_run(mlflow_run_id).data.metrics
    return {k: m.get(f"train_{k}") for k in ("learning_rate", "epochs", "max_length", "lr_search_seconds",
                                             "train_seconds", "steps")}


def run_arm(corpus: str, arm: str, seed: int, work: Path, rows: int, truncation: str | None = None) -> dict:
    cfg = arm_config(corpus, arm, seed, work, rows, truncation)
    fig = run_once(cfg)
    facts = model_facts(cfg, fig["mlflow_run_id"])
    per_class = fig["per_class_f1"]
    return {"corpus": corpus, "arm": arm, "seed": seed, "truncation": cfg.train.truncation,
            "macro_f1": fig["macro_f1"], "accuracy": fig["accuracy"],
            "baseline_macro_f1": fig["baseline_macro_f1"], "baseline_accuracy": fig["baseline_accuracy"],
            "finetune_s": round(fig["task_body_s"].get("launch_finetune", 0.0), 1), "wall_s": fig["wall_s"],
            "classes_with_f1_0": sum(1 for v in per_class.values() if v == 0), "classes": len(per_class), **facts}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=1200, help="sample corpus size (the shipped example's)")
    p.add_argument("--cfpb", action="store_true", help="also the CFPB complaints (skipped when absent)")
    p.add_argument("--skip-sample", action="store_true")
    p.add_argument("--seeds", type=int, nargs="+", default=[42], help="train.seed of each run (the split stays)")
    p.add_argument("--arms", nargs="+", default=["default", "fixed"], choices=["default", "fixed", "full"])
    p.add_argument("--truncation", choices=["head", "head_tail"], default=None,
                   help="train.truncation of the default and full arms (default: the config's)")
    p.add_argument("--out", type=Path, default=None, help="also write the rows as JSON here")
    args = p.parse_args()
    import torch

    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    corpora = ([] if args.skip_sample else ["sample"]) + (["cfpb"] if args.cfpb else [])
    if "cfpb" in corpora and not CFPB.is_file():
        print(f"cfpb: skipped, {CFPB} is absent")
        corpora.remove("cfpb")
    rows = []
    for corpus in corpora:
        work = Path(tempfile.mkdtemp(prefix=f"quality-{corpus}-"))
        for seed in args.seeds:
            for arm in args.arms:
                # one scrub, one split for all arms
                rows.append(run_arm(corpus, arm, seed, work, args.rows, args.truncation))
                print(json.dumps(rows[-1]), flush=True)
    print("\n| corpus | arm | seed | macro-F1 | accuracy | baseline macro-F1 | baseline acc. | gain | lr | epochs "
          "| max_length | fine-tune s | search s | F1=0 classes |")
    print("|---" * 14 + "|")
    for r in rows:
        print(f"| {r['corpus']} | {r['arm']} | {r['seed']} | {r['macro_f1']:.3f} | {r['accuracy']:.3f} "
              f"| {r['baseline_macro_f1']:.3f} | {r['baseline_accuracy']:.3f} "
              f"| {r['macro_f1'] - r['baseline_macro_f1']:+.3f} | {r['learning_rate']:g} | {r['epochs']:g} "
              f"| {r['max_length']:g} | {r['finetune_s']} | {r['lr_search_seconds'] or 0:.0f} "
              f"| {r['classes_with_f1_0']}/{r['classes']} |")
    for corpus in corpora:
        for seed in args.seeds:
            by = {r["arm"]: r for r in rows if r["corpus"] == corpus and r["seed"] == seed}
            if "default" in by and "fixed" in by:
                print(f"{corpus} seed {seed}: fine-tune wall time default / fixed = "
                      f"{by['default']['finetune_s'] / max(by['fixed']['finetune_s'], 1e-9):.2f}x")
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
