"""CPU training throughput: tunegate's recipe vs HF Trainer + PEFT + DataCollatorWithPadding, side by side.

Same model (packaged all-MiniLM-L6-v2), same LoRA settings (r, alpha, dropout, target modules, head in
modules_to_save), same data (../shared/data/cfpb/complaints.csv, max length 256), same optimizer
(AdamW, linear warmup/decay, clip 1.0), same number of optimizer steps and batch size. Each side runs in
its own process (so peak RSS is its own). Tokens/s counts real tokens (attention mask), not padding.
Each side runs with its defaults for precision: tunegate's ``precision: auto`` (bf16 autocast on a CPU with
native bf16, AVX512-BF16/AMX; fp32 elsewhere), Trainer's fp32. ``--bf16-reference`` adds a third run,
Trainer with ``bf16=True``, to show how much of the gap is precision and how much is batching.

    .venv/bin/python benchmarks/train_bench.py [--steps 30 --batch-size 8 --val-rows 300 --threads 2]
    .venv/bin/python benchmarks/train_bench.py --steps 120 --bf16-reference
    .venv/bin/python benchmarks/train_bench.py --steps 374 --val-rows 748 --lr 5e-4 --seed 1   # one epoch
    .venv/bin/python benchmarks/train_bench.py --steps 374 --val-rows 748 --lr 5e-4 --only tunegate --group 1
      (ablation: tunegate alone with random batches; --group sets train.length_group, default 8)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tasks.runtime import offline_environment  # noqa: E402

CFPB = ROOT.parent / "shared" / "data" / "cfpb" / "complaints.csv"
TARGETS = ["query", "key", "value", "dense"]


def prepare(folder: Path, val_rows: int, train_rows: int, seed: int = 13) -> dict:
    """Canonical train/val parquet files from the CFPB CSV (stratified split, val subsampled)."""
    import pandas as pd

    from tasks.train.split import split_frame

    df = pd.read_csv(CFPB, dtype={"id": str})[["id", "text", "label"]].dropna()
    df = df.drop_duplicates("id")
    parts = split_frame(df, test_fraction=0.2, val_fraction=0.0, seed=seed)
    val = parts["test"].sample(n=min(val_rows, len(parts["test"])), random_state=seed)
    if train_rows < len(parts["train"]):  # a random subset keeps the real length distribution
        parts["train"] = parts["train"].sample(n=train_rows, random_state=seed)
    parts["train"].to_parquet(folder / "train.parquet")
    val.to_parquet(folder / "val.parquet")
    return {"train": str(folder / "train.parquet"), "val": str(folder / "val.parquet"),
            "train_rows": len(parts["train"]), "val_rows": len(val)}


def run_reference(args, data: dict) -> dict:
    """HF Trainer + PEFT + DataCollatorWithPadding: the well-tuned plain setup."""
    import numpy as np
    import pandas as pd
    import torch
    from datasets import Dataset
    from peft import LoraConfig, TaskType, get_peft_model
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
        set_seed,
    )

    from tasks.train.base_model import default_base_model

    torch.set_num_threads(args.threads)
    base = default_base_model()
    train, val = pd.read_parquet(data["train"]), pd.read_parquet(data["val"])
    labels = sorted(set(train["label"]))
    lid = {n: i for i, n in enumerate(labels)}
    tok = AutoTokenizer.from_pretrained(base, local_files_only=True)

    def encode(df):
        ds = Dataset.from_dict({"text": df["text"].tolist(), "label": [lid.get(x, -100) for x in df["label"]]})
        return ds.map(lambda b: tok(b["text"], truncation=True, max_length=args.max_length), batched=True,
                      remove_columns=["text"])

    set_seed(args.seed)  # the head and LoRA are initialised here, before Trainer seeds anything
    model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=len(labels), local_files_only=True)
    model = get_peft_model(model, LoraConfig(task_type=TaskType.SEQ_CLS, r=16, lora_alpha=32, lora_dropout=0.05,
                                             target_modules=TARGETS))
    inner = DataCollatorWithPadding(tok)
    seen = {"tokens": 0}

    def collate(features):
        batch = inner(features)
        seen["tokens"] += int(batch["attention_mask"].sum())
        return batch

    targs = TrainingArguments(output_dir=tempfile.mkdtemp(), per_device_train_batch_size=args.batch_size,
                              per_device_eval_batch_size=args.batch_size * 2, max_steps=args.steps,
                              learning_rate=args.lr, weight_decay=0.01, warmup_steps=max(1, int(args.steps * 0.06)),
                              lr_scheduler_type="linear", max_grad_norm=1.0, logging_steps=10, save_strategy="no",
                              report_to=[], seed=args.seed, use_cpu=True, dataloader_num_workers=0,
                              bf16=args.side == "reference_bf16")
    trainer = Trainer(model=model, args=targs, train_dataset=encode(train), data_collator=collate)
    t0 = time.perf_counter()
    trainer.train()
    elapsed = time.perf_counter() - t0
    tokens = seen["tokens"]
    out = trainer.predict(encode(val))
    acc = float(np.mean(out.predictions.argmax(-1) == out.label_ids))
    return {"tokens_per_s": tokens / elapsed, "train_seconds": elapsed, "train_tokens": tokens,
            "val_accuracy": acc, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def run_tunegate(args, data: dict) -> dict:
    """tunegate's recipe, single process (RANK unset), same settings."""
    from tasks.config import LoraConfig, TrainConfig
    from tasks.train.base_model import default_base_model

    train = TrainConfig(max_length=args.max_length, batch_size=args.batch_size, learning_rate=args.lr,
                        max_steps=args.steps, checkpoint_every=10**6, warmup_ratio=0.06, weight_decay=0.01,
                        seed=args.seed, precision=args.precision, length_group=args.group,
                        pooling="cls",  # the Trainer arm's AutoModelForSequenceClassification head: like for like
                        lora=LoraConfig(r=16, alpha=32, dropout=0.05, target_modules=TARGETS))
    work = Path(tempfile.mkdtemp())
    cfg = {"train": train.model_dump(mode="json"), "base_model": default_base_model(), "train_file": data["train"],
           "val_file": data["val"], "ckpt_dir": str(work / "ckpt"), "stage_dir": str(work / "stage")}
    (work / "run.json").write_text(json.dumps(cfg))
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env.update(TUNEGATE_THREADS=str(args.threads), PYTHONPATH=str(ROOT))
    subprocess.run([sys.executable, "-m", "tasks.train.recipe", "--config", str(work / "run.json")], cwd=ROOT, env=env,
                   check=True, stdout=subprocess.DEVNULL)
    m = json.loads((work / "stage" / "metrics.json").read_text())
    return {"tokens_per_s": m["tokens_per_s"], "train_seconds": m["train_seconds"], "train_tokens": m["train_tokens"],
            "val_accuracy": m["val_accuracy"], "peak_rss_mb": m["peak_memory_mb"]}


def main() -> int:
    from tasks.config import TrainConfig

    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--val-rows", type=int, default=300)
    ap.add_argument("--train-rows", type=int, default=10**9, help="subsample the training split (tokenizing cost)")
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto", help="tunegate's train.precision")
    ap.add_argument("--group", type=int, default=TrainConfig.model_fields["length_group"].default,
                    help="tunegate's train.length_group (1 = random batches)")
    ap.add_argument("--only", choices=["tunegate"], help="ablations: run tunegate's side alone (no ratio)")
    ap.add_argument("--seed", type=int, default=42,
                    help="training seed of both sides (init of LoRA and head, batch order)")
    ap.add_argument("--bf16-reference", action="store_true",
                    help="also run the reference with TrainingArguments(bf16=True): how much of the gap is precision")
    ap.add_argument("--side", choices=["reference", "reference_bf16", "tunegate"], help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.side:  # child process: one side only
        fn = run_tunegate if args.side == "tunegate" else run_reference
        print("RESULT " + json.dumps(fn(args, json.loads(args.data))), flush=True)
        return 0
    if not CFPB.is_file():
        print(f"SKIP: {CFPB} is absent (the benchmark needs the shared CFPB complaints).")
        return 0
    folder = Path(tempfile.mkdtemp(prefix="train-bench-"))
    data = prepare(folder, args.val_rows, args.train_rows)
    results = {}
    sides = (("tunegate",) if args.only
             else ("reference", *(["reference_bf16"] if args.bf16_reference else []), "tunegate"))
    for side in sides:
        cmd = [sys.executable, __file__, "--side", side, "--data", json.dumps(data)] + sys.argv[1:]
        env = offline_environment(dict(os.environ))
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        print(f"{side}: {time.perf_counter() - t0:.0f}s wall including start-up", flush=True)
        line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
        if line is None:
            print(proc.stdout[-2000:], proc.stderr[-4000:])
            return 1
        results[side] = json.loads(line[7:])
    ours = results["tunegate"]
    if args.only:
        print(f"tunegate alone: tokens/s {ours['tokens_per_s']:.1f}  val acc {ours['val_accuracy']:.4f}  "
              f"(group {args.group}, seed {args.seed})")
        print(json.dumps(results))
        return 0
    ref = results["reference"]
    if "reference_bf16" in results:
        print(f"ratio tokens/s tunegate/reference_bf16 = "
              f"{ours['tokens_per_s'] / results['reference_bf16']['tokens_per_s']:.2f}x")
    print(f"steps={args.steps} batch={args.batch_size} max_length={args.max_length} threads={args.threads} "
          f"train_rows={data['train_rows']} val_rows={data['val_rows']} (MiniLM, LoRA r16, CPU)")
    for name, r in results.items():
        print(f"{name:10s} tokens/s {r['tokens_per_s']:8.1f}  train {r['train_seconds']:6.1f}s  "
              f"real tokens {r['train_tokens']:7d}  peak RSS {r['peak_rss_mb']:7.1f} MB  "
              f"val acc {r['val_accuracy']:.4f}")
    ratio = ours["tokens_per_s"] / ref["tokens_per_s"]
    gap = (ours["val_accuracy"] - ref["val_accuracy"]) * 100
    print(f"ratio tokens/s tunegate/reference = {ratio:.2f}x (target >= 1.3x); "
          f"val accuracy difference = {gap:+.1f} points (target within 1)")
    print(json.dumps({"ratio": round(ratio, 3), "accuracy_points": round(gap, 2), **results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
